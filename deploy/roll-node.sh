#!/usr/bin/env bash
# Rolls the node-agent on this host to a new image, without cutting a stream:
#   1. pin the tag in .env (NODE_AGENT_TAG, e.g. sha-<sha>@sha256:<digest>: the compose file's
#      `…/switchyard-node-agent:${NODE_AGENT_TAG}` is then name:tag@digest, pulled by digest), so a later
#      `docker compose up` by hand keeps this version
#   2. pull it: if the image cannot be had, the running node is left alone
#   3. `docker compose stop`: SIGTERM, the node stops taking requests and finishes its streams
#      (compose waits up to the service's stop_grace_period, which is longer than DRAIN_TIMEOUT_MS)
#   4. `docker compose up -d`: the new container
#   5. wait until its /health answers 200 (the image's own health check script, run in the container)
#   6. print the git sha the new process runs (`gitSha=<sha>`), and fail if it is not the expected one
#
# Run on the node host, in the directory of its compose file. roll-fleet.sh pipes it over SSH with the tag
# pinned to the digest it verified (deploy/verify-image.sh), so compose pulls that digest and nothing else:
#   deploy/ssh-run.sh user@host deploy/roll-node.sh /opt/switchyard-node sha-<git sha>@sha256:<digest> <git sha>
# or by hand on the host:  bash roll-node.sh /opt/switchyard-node [TAG[@sha256:<digest>]] [GIT_SHA]
# (a bare tag pulls whatever the tag points to: nothing here checks a signature; roll-fleet.sh does).
#
# Environment: ROLL_HEALTH_TIMEOUT (seconds, default 180), ROLL_POLL_INTERVAL (seconds, default 2).
set -euo pipefail

service=node-agent
tag_var=NODE_AGENT_TAG
dir=${1:?usage: roll-node.sh DIR [TAG] [GIT_SHA]}
tag=${2:-}
want_sha=${3:-}
timeout=${ROLL_HEALTH_TIMEOUT:-180}
interval=${ROLL_POLL_INTERVAL:-2}

log() { printf '[roll-node %s] %s\n' "${HOSTNAME:-host}" "$*" >&2; }
fail() {
  log "FAILED: $*"
  exit 1
}

# Replaces (or appends) KEY=VALUE in .env, keeping the file's owner and mode.
set_env() {
  local key=$1 value=$2 tmp
  touch .env
  tmp=$(mktemp)
  grep -v "^${key}=" .env >"$tmp" || true
  printf '%s=%s\n' "$key" "$value" >>"$tmp"
  cat "$tmp" >.env
  rm -f "$tmp"
}

[[ -z $tag || $tag =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}(@sha256:[0-9a-f]{64})?$ ]] || fail "'$tag' is not an image tag, nor tag@sha256:<digest>"
[[ -z $want_sha || $want_sha =~ ^[0-9a-f]{40}$ ]] || fail "'$want_sha' is not a full git sha"
cd "$dir" || fail "no directory $dir on this host"

if [ -n "$tag" ]; then
  set_env "$tag_var" "$tag"
  log "$tag_var=$tag"
fi

log "pulling the image"
docker compose pull "$service" || fail "could not pull the image; the running node was not touched"

log "stopping the node: it drains its streams first (up to its stop_grace_period)"
docker compose stop "$service"

log "starting the new node"
docker compose up -d --no-deps "$service"

deadline=$((SECONDS + timeout))
until docker compose exec -T "$service" node node-agent/dist/healthcheck.js >/dev/null 2>&1; do
  if ((SECONDS >= deadline)); then
    docker compose logs --tail 50 "$service" >&2 || true
    fail "the new node did not answer /health with 200 within ${timeout}s"
  fi
  sleep "$interval"
done

sha=$(docker compose exec -T "$service" printenv GIT_SHA | tr -d '\r') || fail "could not read GIT_SHA in the new container"
if [ -n "$want_sha" ] && [ "$sha" != "$want_sha" ]; then
  fail "the new node runs git sha '$sha', expected '$want_sha' (is $tag_var the right tag?)"
fi
log "healthy, running git sha $sha"
printf 'gitSha=%s\n' "$sha"
