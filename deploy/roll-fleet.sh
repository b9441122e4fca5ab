#!/usr/bin/env bash
# Rolls a node-agent image to every node of the fleet, one node at a time, the first one as the canary:
#   1. read and check the whole node list first: a typo touches no node
#   2. verify the image here (deploy/verify-image.sh): resolve IMAGE:IMAGE_TAG to its digest and check with
#      cosign that this repository's release-node-agent.yml signed that digest (on main or a release tag). An
#      unsigned or differently signed image, or a tag that does not exist, stops the roll-out here: no SSH
#      connection is made, no node is touched. Every node is then given IMAGE_TAG@sha256:<that digest>, so
#      each pulls exactly what was verified, whatever the tag points to by then
#   3. open an SSH tunnel to the gateway host's admin listeners (loopback only there; the edge does not serve
#      /admin), unless ADMIN_ENDPOINTS names them already
#   4. for each node, in the list's order:
#        note its startedAt as the gateway shows it (GET /admin/nodes: what the node reports over its tunnel),
#        so the old process's entry is not taken for the new
#        over SSH (pinned host key), run deploy/roll-node.sh there with the digest-pinned tag: pull, drain
#        (stop), up, wait for /health
#        wait until the new process has dialled in and reports the expected git sha (wait-node-version.sh)
#        after the canary, optionally watch it for CANARY_SOAK_SECONDS: it must not restart meanwhile
#   5. the first failure stops the roll-out: the nodes after it are not touched, and are named
#
# Environment:
#   FLEET_NODES           one node per line: `user@host[:port] /path/to/compose/dir node-id` (# comments allowed)
#   IMAGE                 the node-agent image repository, without a tag: ghcr.io/<owner, lower case>/switchyard-node-agent
#   IMAGE_TAG             the image tag to roll out, e.g. sha-<40-char git sha>
#   SIGNER_REPOSITORY     owner/repo whose release-node-agent.yml must have signed it (github.repository)
#   EXPECTED_GIT_SHA      the sha every node must report; default: from a sha-<sha> tag, else what the canary runs
#   ADMIN_READ_TOKEN      the gateways' read-only admin token, to read GET /admin/nodes (never ADMIN_TOKEN)
#   GATEWAY_SSH_HOST      user@host[:port] of the gateway host: the admin listeners are read through an SSH
#                         tunnel to its loopback (`ssh -N -L <socket>:127.0.0.1:<port>`, one Unix socket here
#                         per port, in a directory only this user can open)
#   GATEWAY_ADMIN_PORTS   the admin listeners' ports on that loopback, tried in order (default "9090 9091":
#                         gateway-1's and gateway-2's, ADMIN_HOST_PORT and ADMIN_HOST_PORT_2 in the stack)
#   ADMIN_ENDPOINTS       instead of the two above: admin listeners you reach already (see wait-node-version.sh)
#   SSH_KEY_FILE, SSH_KNOWN_HOSTS_FILE       see ssh-common.sh (the gateway host's key pinned too)
#   NODE_WAIT_TIMEOUT (300), NODE_POLL_INTERVAL (5)   for each node to dial in and report, seconds
#   ROLL_HEALTH_TIMEOUT (180), ROLL_POLL_INTERVAL (2) for each node's /health on its host, seconds
#   CANARY_SOAK_SECONDS (0)                           how long the canary must stay up before the next node
# Needs here: bash, ssh, curl, jq, and for the verification docker (with buildx) and cosign.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=deploy/ssh-common.sh
source "$here/ssh-common.sh"
: "${FLEET_NODES:?set FLEET_NODES: one node per line, user@host[:port] /path/to/dir node-id}"
: "${IMAGE:?set IMAGE to the node-agent image repository, e.g. ghcr.io/<owner>/switchyard-node-agent (no tag)}"
: "${IMAGE_TAG:?set IMAGE_TAG to the node-agent image tag to roll out}"
: "${SIGNER_REPOSITORY:?set SIGNER_REPOSITORY to owner/repo of this repository: only the signature of its release workflow is accepted}"
: "${ADMIN_READ_TOKEN:?set ADMIN_READ_TOKEN: the read-only admin token of the gateways, to read GET /admin/nodes}"
if [ -z "${ADMIN_ENDPOINTS:-}" ]; then
  : "${GATEWAY_SSH_HOST:?set GATEWAY_SSH_HOST (user@host[:port] of the gateway host, whose loopback has the admin listeners), or ADMIN_ENDPOINTS}"
fi
: "${SSH_KEY_FILE:?set SSH_KEY_FILE}"
: "${SSH_KNOWN_HOSTS_FILE:?set SSH_KNOWN_HOSTS_FILE}"
admin_ports=${GATEWAY_ADMIN_PORTS:-9090 9091}
expected=${EXPECTED_GIT_SHA:-}
soak=${CANARY_SOAK_SECONDS:-0}
health_timeout=${ROLL_HEALTH_TIMEOUT:-180}
health_interval=${ROLL_POLL_INTERVAL:-2}

log() { printf '[roll-fleet] %s\n' "$*" >&2; }
summary() { if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then printf '%s\n' "$*" >>"$GITHUB_STEP_SUMMARY"; fi; }

if [ -z "$expected" ] && [[ $IMAGE_TAG =~ ^sha-([0-9a-f]{40})$ ]]; then
  expected=${BASH_REMATCH[1]}
fi

# 1. The node list, checked whole before anything is touched.
targets=()
dirs=()
ids=()
lineno=0
bad=0
while IFS= read -r line || [ -n "$line" ]; do
  lineno=$((lineno + 1))
  line=${line%%#*}
  read -r -a fields <<<"$line" || true
  [ "${#fields[@]}" -eq 0 ] && continue
  if [ "${#fields[@]}" -ne 3 ] ||
    ! [[ ${fields[0]} =~ ^([A-Za-z0-9._-]+@)?[A-Za-z0-9._-]+(:[0-9]+)?$ ]] ||
    ! [[ ${fields[1]} =~ ^/[A-Za-z0-9._/-]*$ ]] ||
    ! [[ ${fields[2]} =~ ^[A-Za-z0-9_.-]{1,64}$ ]]; then
    log "FLEET_NODES line $lineno is not 'user@host[:port] /path/to/dir node-id': '$line'"
    bad=1
    continue
  fi
  for known in "${ids[@]}"; do
    [ "$known" = "${fields[2]}" ] && { log "FLEET_NODES line $lineno: node id ${fields[2]} is listed twice"; bad=1; }
  done
  targets+=("${fields[0]}")
  dirs+=("${fields[1]}")
  ids+=("${fields[2]}")
done <<<"$FLEET_NODES"
[ "$bad" -eq 0 ] || { log "no node was touched"; exit 2; }
[ "${#ids[@]}" -gt 0 ] || { log "FLEET_NODES lists no node"; exit 2; }

# 2. The image, verified before anything is touched: the digest the tag points to, signed by our release workflow.
# verify-image.sh exits 0 only after printing IMAGE@sha256:<digest>, and says why when it refuses.
summary "### node-agent $IMAGE_TAG" ""
verified=$(bash "$here/verify-image.sh" "$IMAGE" "$IMAGE_TAG" node-agent) || {
  log "$IMAGE:$IMAGE_TAG is not verified (the reason is above): the roll-out stopped before the first node, no node was touched"
  summary "" "The roll-out stopped before the first node: no node was touched."
  exit 1
}
pinned="$IMAGE_TAG@${verified##*@}"
log "every node gets $pinned"

# 3. The admin listeners, through an SSH tunnel to the gateway host's loopback: a Unix socket per port, in a
# directory of our own, so nothing else on this machine can use the tunnel. It lives as long as this script.
tunnel_pid=''
tunnel_dir=''
close_tunnel() {
  if [ -n "$tunnel_pid" ]; then
    kill "$tunnel_pid" 2>/dev/null || true
    wait "$tunnel_pid" 2>/dev/null || true
  fi
  if [ -n "$tunnel_dir" ]; then rm -rf "$tunnel_dir"; fi
}
open_tunnel() {
  local forwards=() endpoints=() port deadline=$((SECONDS + 30)) missing
  ssh_prepare roll-fleet "$GATEWAY_SSH_HOST" || { log "no node was touched"; exit 2; }
  tunnel_dir=$(mktemp -d)
  for port in $admin_ports; do
    [[ $port =~ ^[0-9]{1,5}$ ]] || { log "GATEWAY_ADMIN_PORTS: '$port' is not a port; no node was touched"; exit 2; }
    forwards+=(-L "$tunnel_dir/$port.sock:127.0.0.1:$port")
    endpoints+=("unix:$tunnel_dir/$port.sock")
  done
  [ "${#endpoints[@]}" -gt 0 ] || { log "GATEWAY_ADMIN_PORTS names no port; no node was touched"; exit 2; }
  ssh "${ssh_options[@]}" -N -o ExitOnForwardFailure=yes "${forwards[@]}" "$ssh_host" </dev/null &
  tunnel_pid=$!
  while :; do
    missing=0
    for port in $admin_ports; do [ -S "$tunnel_dir/$port.sock" ] || missing=1; done
    [ "$missing" -eq 0 ] && break
    if ! kill -0 "$tunnel_pid" 2>/dev/null || ((SECONDS >= deadline)); then
      log "could not open the SSH tunnel to the admin listeners on $GATEWAY_SSH_HOST (ports $admin_ports); no node was touched"
      exit 1
    fi
    sleep 0.1
  done
  ADMIN_ENDPOINTS=${endpoints[*]}
  log "reading GET /admin/nodes through an SSH tunnel to $GATEWAY_SSH_HOST, ports $admin_ports"
}
trap close_tunnel EXIT
if [ -z "${ADMIN_ENDPOINTS:-}" ]; then open_tunnel; fi
export ADMIN_ENDPOINTS

log "rolling $pinned to ${#ids[@]} node(s), one at a time; canary: ${ids[0]}"
summary "| node | result |" "| --- | --- |"

stop_here() {
  local i=$1 why=$2 rest
  log "FAILED on ${ids[$i]}: $why"
  summary "| ${ids[$i]} | failed: $why |"
  rest=("${ids[@]:$((i + 1))}")
  if [ "${#rest[@]}" -gt 0 ]; then
    log "roll-out stopped; not touched: ${rest[*]}"
    summary "" "Roll-out stopped; not touched: ${rest[*]}"
  fi
  exit 1
}

# 4. One node at a time.
for i in "${!ids[@]}"; do
  id=${ids[$i]}
  role=node
  [ "$i" -eq 0 ] && role=canary
  before=$(bash "$here/wait-node-version.sh" --show "$id") || stop_here "$i" "cannot read GET /admin/nodes"
  read -r _ started_before <<<"${before:-- }"
  log "$role $id (${targets[$i]}:${dirs[$i]}): rolling; reported before: ${before:-not connected}"

  out=$(REMOTE_ENV="ROLL_HEALTH_TIMEOUT=$health_timeout ROLL_POLL_INTERVAL=$health_interval" \
    bash "$here/ssh-run.sh" "${targets[$i]}" "$here/roll-node.sh" "${dirs[$i]}" "$pinned" "$expected") ||
    stop_here "$i" "roll-node.sh on ${targets[$i]} failed (see its log above)"
  running=$(sed -n 's/^gitSha=//p' <<<"$out" | tail -n 1)
  if [ -z "$expected" ]; then
    [[ $running =~ ^[0-9a-f]{7,40}$ ]] || stop_here "$i" "the canary reports no git sha ('$running'), so there is nothing to wait for"
    expected=$running
    log "the canary runs git sha $expected: every node must report it"
  fi

  started=$(bash "$here/wait-node-version.sh" "$id" "$expected" "$started_before") ||
    stop_here "$i" "it did not dial in reporting git sha $expected"

  if [ "$role" = canary ] && [ "$soak" -gt 0 ]; then
    log "watching the canary for ${soak}s"
    sleep "$soak"
    now=$(bash "$here/wait-node-version.sh" --show "$id") || stop_here "$i" "cannot read GET /admin/nodes after the soak"
    [ "$now" = "$expected $started" ] || stop_here "$i" "the canary did not stay up through the soak (now: ${now:-not connected})"
  fi
  log "$role $id done"
  summary "| $id | git sha ${expected:0:12} |"
done

log "all ${#ids[@]} node(s) run git sha $expected"
