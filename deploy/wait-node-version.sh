#!/usr/bin/env bash
# Waits until a node, as the gateway shows it in GET /admin/nodes, reports a git sha from a process started
# after the roll-out began. A node is listed there while it has a tunnel to the gateway replica that answers,
# with the state it reports over that tunnel (gitSha and startedAt included):
#   deploy/wait-node-version.sh NODE_ID GIT_SHA [STARTED_AT_BEFORE]
# STARTED_AT_BEFORE is the node's startedAt before its restart (from --show): an entry still carrying it is
# the old process's (listed while its tunnels drain, or until the gateway finds a dead one gone, within
# 15 s), so it does not count even when the sha matches (a roll-out of the version already running). On
# success prints the new startedAt.
#
#   deploy/wait-node-version.sh --show NODE_ID     prints "<gitSha> <startedAt>", or nothing if the node is not connected
#
# Environment: GATEWAY_URL and ADMIN_TOKEN (required), NODE_WAIT_TIMEOUT (seconds, default 300),
# NODE_POLL_INTERVAL (seconds, default 5). Needs curl and jq.
set -euo pipefail

: "${GATEWAY_URL:?set GATEWAY_URL to the public URL of the gateway}"
: "${ADMIN_TOKEN:?set ADMIN_TOKEN to read GET /admin/nodes}"
timeout=${NODE_WAIT_TIMEOUT:-300}
interval=${NODE_POLL_INTERVAL:-5}

# Prints the node's "<gitSha> <startedAt>" (nothing if absent). Exit 1: the admin API did not answer with
# the fleet (it may be restarting); exit 3: it refused the token (waiting will not help).
node_entry() {
  local node=$1 body status
  body=$(mktemp)
  # The token goes to curl on stdin, never on its command line.
  status=$(printf 'Authorization: Bearer %s\n' "$ADMIN_TOKEN" |
    curl -sS --max-time 10 -H @- -o "$body" -w '%{http_code}' "${GATEWAY_URL%/}/admin/nodes") || status=000
  case $status in
    200) ;;
    401 | 403)
      rm -f "$body"
      return 3
      ;;
    *)
      rm -f "$body"
      return 1
      ;;
  esac
  jq -r --arg id "$node" '.nodes[] | select(.nodeId == $id) | "\(.gitSha) \(.startedAt)"' "$body" || status=bad
  rm -f "$body"
  [ "$status" = 200 ]
}

if [ "${1:-}" = "--show" ]; then
  node=${2:?usage: wait-node-version.sh --show NODE_ID}
  rc=0
  node_entry "$node" || rc=$?
  if [ "$rc" -eq 3 ]; then
    echo "wait-node-version: the gateway refused ADMIN_TOKEN" >&2
  elif [ "$rc" -ne 0 ]; then
    echo "wait-node-version: GET ${GATEWAY_URL%/}/admin/nodes did not answer with the fleet" >&2
  fi
  exit "$rc"
fi

node=${1:?usage: wait-node-version.sh NODE_ID GIT_SHA [STARTED_AT_BEFORE]}
want=${2:?usage: wait-node-version.sh NODE_ID GIT_SHA [STARTED_AT_BEFORE]}
before=${3:-}

deadline=$((SECONDS + timeout))
seen="nothing yet"
while :; do
  rc=0
  entry=$(node_entry "$node") || rc=$?
  if [ "$rc" -eq 3 ]; then
    echo "wait-node-version: the gateway refused ADMIN_TOKEN" >&2
    exit 1
  elif [ "$rc" -eq 0 ]; then
    read -r sha started <<<"${entry:-- -}"
    if [ "$sha" = "$want" ] && [ "$started" != "-" ] && [ "$started" != "$before" ]; then
      echo "node $node reports git sha $want (started at $started)" >&2
      printf '%s\n' "$started"
      exit 0
    fi
    if [ -z "$entry" ]; then seen="not connected"; else seen="git sha $sha, started at $started"; fi
  else
    seen="the admin API did not answer"
  fi
  if ((SECONDS >= deadline)); then
    echo "wait-node-version: node $node did not report git sha $want from a new process within ${timeout}s (last seen: $seen)" >&2
    exit 1
  fi
  sleep "$interval"
done
