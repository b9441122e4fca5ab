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
# GET /admin/nodes is served by the gateways' admin listeners only (ADMIN_PORT; the edge and a gateway's main
# port answer 404), read with the read-only token: this script never holds ADMIN_TOKEN.
#
# Environment:
#   ADMIN_READ_TOKEN    the gateways' read-only admin token (required)
#   ADMIN_ENDPOINTS     where admin listeners answer, tried in order until one does (required), separated by
#                       spaces: http(s)://host:port, or unix:/path/to.sock for a socket SSH forwards to one
#                       (roll-fleet.sh opens those), e.g. "http://127.0.0.1:9090 http://127.0.0.1:9091"
#   NODE_WAIT_TIMEOUT (seconds, default 300), NODE_POLL_INTERVAL (seconds, default 5). Needs curl and jq.
set -euo pipefail

: "${ADMIN_READ_TOKEN:?set ADMIN_READ_TOKEN to the read-only admin token of the gateways (GET /admin/nodes)}"
: "${ADMIN_ENDPOINTS:?set ADMIN_ENDPOINTS to the admin listeners of the gateways, e.g. http://127.0.0.1:9090 through an SSH tunnel}"
timeout=${NODE_WAIT_TIMEOUT:-300}
interval=${NODE_POLL_INTERVAL:-5}

for endpoint in $ADMIN_ENDPOINTS; do
  [[ $endpoint =~ ^(https?://[^[:space:]]+|unix:/[^[:space:]]+)$ ]] || {
    echo "wait-node-version: '$endpoint' in ADMIN_ENDPOINTS is neither http(s)://host:port nor unix:/path" >&2
    exit 2
  }
done

# Writes GET /admin/nodes from the first admin listener that answers into the file $1. Exit 0: the fleet;
# 1: none answered (a gateway may be restarting); 3: the token was refused, or 4: an endpoint answered 404, so
# it is no admin listener (waiting mends neither: each is said on stderr).
fetch_nodes() {
  local out=$1 endpoint status url not_admin=''
  local socket=()
  for endpoint in $ADMIN_ENDPOINTS; do
    case $endpoint in
      unix:*)
        socket=(--unix-socket "${endpoint#unix:}")
        url=http://localhost/admin/nodes
        ;;
      *)
        socket=()
        url="${endpoint%/}/admin/nodes"
        ;;
    esac
    # The token goes to curl on stdin, never on its command line.
    status=$(printf 'Authorization: Bearer %s\n' "$ADMIN_READ_TOKEN" |
      curl -s --max-time 10 "${socket[@]}" -H @- -o "$out" -w '%{http_code}' "$url") || status=000
    case $status in
      200) return 0 ;;
      401 | 403)
        echo "wait-node-version: the gateway at $endpoint refused ADMIN_READ_TOKEN (is it the gateways' read-only token?)" >&2
        return 3
        ;;
      404) not_admin=$endpoint ;;
    esac
  done
  if [ -n "$not_admin" ]; then
    echo "wait-node-version: GET /admin/nodes answered 404 at $not_admin: that is no admin listener (the edge and a gateway's main port do not serve /admin; ADMIN_ENDPOINTS must reach ADMIN_PORT)" >&2
    return 4
  fi
  return 1
}

# Prints the node's "<gitSha> <startedAt>" (nothing if absent); exits as fetch_nodes does.
node_entry() {
  local node=$1 body rc=0
  body=$(mktemp)
  fetch_nodes "$body" || rc=$?
  if [ "$rc" -eq 0 ]; then
    jq -r --arg id "$node" '.nodes[] | select(.nodeId == $id) | "\(.gitSha) \(.startedAt)"' "$body" || rc=1
  fi
  rm -f "$body"
  return "$rc"
}

if [ "${1:-}" = "--show" ]; then
  node=${2:?usage: wait-node-version.sh --show NODE_ID}
  rc=0
  node_entry "$node" || rc=$?
  if [ "$rc" -eq 1 ]; then
    echo "wait-node-version: no admin listener in ADMIN_ENDPOINTS ($ADMIN_ENDPOINTS) answered GET /admin/nodes with the fleet" >&2
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
  if [ "$rc" -ge 3 ]; then
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
    seen="no admin listener answered"
  fi
  if ((SECONDS >= deadline)); then
    echo "wait-node-version: node $node did not report git sha $want from a new process within ${timeout}s (last seen: $seen)" >&2
    exit 1
  fi
  sleep "$interval"
done
