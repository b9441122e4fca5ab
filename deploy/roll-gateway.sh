#!/usr/bin/env bash
# Rolls the gateway host's stack to a new gateway image without dropping traffic. The edge (Caddy) sends
# requests to gateway-1 and gateway-2, and every node keeps a tunnel to each; they are replaced one at a
# time, so one always serves and every node stays reachable through it:
#   1. pin the tag in .env (GATEWAY_TAG, e.g. sha-<sha>@sha256:<digest>, so the image is name:tag@digest;
#      the worker runs the same image) and pull it: if the image cannot be had, nothing was touched
#   2. for gateway-1, then gateway-2:
#        list the nodes connected to the other replica (before anything is touched: a replica whose nodes
#        cannot be listed stops the roll-out here); recreate this one: compose stops the old container first
#        (SIGTERM: it answers /health with 503 at once, so the edge stops sending it requests, and finishes
#        its streams within stop_grace_period; its nodes keep serving through the other replica), then
#        starts the new one; wait until the new one passes /ready (Redis reachable, a node dialled in);
#        check it runs the expected git sha; wait until every node listed has dialled in to the new one too
#        (their tunnels are what the other replica's clients will need once it goes); give the edge's active
#        health check time to take it back (ROLL_SETTLE_SECONDS) before the other replica goes
#      a replica that does not become ready, or that a node does not reach, stops the roll-out there: the
#      other one was not touched
#   3. the usage worker (its jobs wait in Redis while it restarts)
#
# Run on the gateway host. deploy/deploy-gateway.sh pipes it over SSH with the tag pinned to the digest it
# verified (deploy/verify-image.sh), so compose pulls that digest and nothing else:
#   deploy/ssh-run.sh user@host deploy/roll-gateway.sh /opt/switchyard sha-<git sha>@sha256:<digest> <git sha>
# or by hand on the host:  bash roll-gateway.sh /opt/switchyard [TAG[@sha256:<digest>]] [GIT_SHA]
# (a bare tag pulls whatever the tag points to: nothing here checks a signature; deploy-gateway.sh does).
#
# The node lists come from each replica's own GET /admin/nodes, asked inside its container on its admin
# listener (ADMIN_PORT; PORT where it has none) with the read-only token it runs with (ADMIN_READ_TOKEN): the
# token never leaves the container, and this script never uses ADMIN_TOKEN. A replica without ADMIN_READ_TOKEN
# stops the roll-out, saying so.
#
# Environment: ROLL_HEALTH_TIMEOUT (seconds, default 180: for /ready), ROLL_NODES_TIMEOUT (seconds, default
# ROLL_HEALTH_TIMEOUT: for the nodes to dial in; a node redials within 30 s), ROLL_POLL_INTERVAL (seconds,
# default 2), ROLL_SETTLE_SECONDS (default 10: longer than the Caddyfile's health_interval).
set -euo pipefail

tag_var=GATEWAY_TAG
replicas=(gateway-1 gateway-2)
dir=${1:?usage: roll-gateway.sh DIR [TAG] [GIT_SHA]}
tag=${2:-}
want_sha=${3:-}
timeout=${ROLL_HEALTH_TIMEOUT:-180}
nodes_timeout=${ROLL_NODES_TIMEOUT:-$timeout}
interval=${ROLL_POLL_INTERVAL:-2}
settle=${ROLL_SETTLE_SECONDS:-10}

log() { printf '[roll-gateway %s] %s\n' "${HOSTNAME:-host}" "$*" >&2; }
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

# Runs a health check script in the service's container until it exits 0, or fails after the timeout.
wait_for() {
  local service=$1 what=$2 deadline=$((SECONDS + timeout))
  shift 2
  until docker compose exec -T "$service" "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      docker compose logs --tail 50 "$service" >&2 || true
      fail "$service did not pass $what within ${timeout}s"
    fi
    sleep "$interval"
  done
}

# The ids of the nodes with a tunnel to a replica, one per line, sorted: its own GET /admin/nodes (`nodes`
# lists the nodes connected to the gateway that answers), asked inside its container on its admin listener
# with the read-only token it runs with. Exit 3: the container has no ADMIN_READ_TOKEN; 4: the gateway refused
# it; 1: no answer.
list_nodes='const token = process.env.ADMIN_READ_TOKEN;
if (!token) { console.error("ADMIN_READ_TOKEN is not set in this container"); process.exit(3); }
const own = process.env.ADMIN_PORT;
const bound = (own ? process.env.ADMIN_HOST || "127.0.0.1" : process.env.HOST) || "0.0.0.0";
const host = bound === "0.0.0.0" || bound === "::" ? "127.0.0.1" : bound.includes(":") ? "[" + bound + "]" : bound;
fetch("http://" + host + ":" + (own || process.env.PORT || "8080") + "/admin/nodes", { headers: { authorization: "Bearer " + token } })
  .then(async (r) => {
    if (r.status === 401 || r.status === 403) process.exit(4);
    if (r.status !== 200) process.exit(1);
    for (const n of (await r.json()).nodes) console.log(n.nodeId);
  })
  .catch(() => process.exit(1))'
nodes_of() {
  docker compose exec -T "$1" node -e "$list_nodes" | tr -d '\r' | sort -u
}

# Stops the roll-out, saying why a replica's nodes could not be listed (nodes_of's exit code).
cannot_list() {
  local service=$1 rc=$2
  case $rc in
    3) fail "ADMIN_READ_TOKEN is not set in $service's container, so its nodes cannot be listed (this script never uses ADMIN_TOKEN): set ADMIN_READ_TOKEN in .env; a stack from before the read-only role is brought onto it once by hand (README, \"Update the fleet\")" ;;
    4) fail "$service refused its own ADMIN_READ_TOKEN: it runs a release without the read-only role, or another token than .env's; bring it onto the read-only role once by hand (README, \"Update the fleet\")" ;;
    *) fail "could not list the nodes connected to $service (GET /admin/nodes inside its container)" ;;
  esac
}

# Waits until every node in $3 (the other replica's, listed before this one was replaced) has dialled in to
# this one too, or fails.
wait_for_nodes() {
  local service=$1 other=$2 want=$3 deadline=$((SECONDS + nodes_timeout)) have missing rc
  if [ -z "$want" ]; then
    log "no node is connected to $other: none to wait for"
    return
  fi
  while :; do
    rc=0
    have=$(nodes_of "$service") || rc=$?
    # The new container without the read-only token: waiting will not mend it.
    if [ "$rc" -eq 3 ] || [ "$rc" -eq 4 ]; then cannot_list "$service" "$rc"; fi
    [ "$rc" -eq 0 ] || have=''
    missing=$(comm -23 <(printf '%s\n' "$want") <(printf '%s\n' "$have") | paste -sd ' ' -)
    if [ -z "$missing" ]; then
      log "$service has every node $other has: $(paste -sd ' ' - <<<"$want")"
      return
    fi
    if ((SECONDS >= deadline)); then
      fail "these nodes did not dial in to the new $service within ${nodes_timeout}s: $missing ($other still serves them; it was not touched)"
    fi
    sleep "$interval"
  done
}

check_sha() {
  local service=$1 sha
  sha=$(docker compose exec -T "$service" printenv GIT_SHA | tr -d '\r') || fail "could not read GIT_SHA in $service"
  if [ -n "$want_sha" ] && [ "$sha" != "$want_sha" ]; then
    fail "$service runs git sha '$sha', expected '$want_sha' (is $tag_var the right tag?)"
  fi
  log "$service runs git sha $sha"
}

[[ -z $tag || $tag =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}(@sha256:[0-9a-f]{64})?$ ]] || fail "'$tag' is not an image tag, nor tag@sha256:<digest>"
[[ -z $want_sha || $want_sha =~ ^[0-9a-f]{40}$ ]] || fail "'$want_sha' is not a full git sha"
cd "$dir" || fail "no directory $dir on this host"

if [ -n "$tag" ]; then
  set_env "$tag_var" "$tag"
  log "$tag_var=$tag"
fi

log "pulling the image"
docker compose pull "${replicas[@]}" worker || fail "could not pull the image; nothing was touched"

for service in "${replicas[@]}"; do
  other=${replicas[0]}
  [ "$other" = "$service" ] && other=${replicas[1]}
  # Before this replica is touched: the nodes it must have once it is back.
  rc=0
  want=$(nodes_of "$other") || rc=$?
  [ "$rc" -eq 0 ] || cannot_list "$other" "$rc"
  log "replacing $service (the other replica serves meanwhile; the old container drains first)"
  docker compose up -d --no-deps --force-recreate "$service"
  wait_for "$service" /ready node gateway/dist/healthcheck.js /ready
  check_sha "$service"
  wait_for_nodes "$service" "$other" "$want"
  log "$service is ready"
  sleep "$settle"
done

log "replacing the usage worker"
docker compose up -d --no-deps --force-recreate worker
wait_for worker "its health check" node gateway/dist/usage-worker/healthcheck.js
check_sha worker
log "done: ${replicas[*]} and worker run the new image"
