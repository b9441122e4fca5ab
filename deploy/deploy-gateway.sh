#!/usr/bin/env bash
# Rolls a gateway release to the gateway host, by verified digest only. Runs where the roll-out starts (the
# GitHub runner, or your machine):
#   1. check the settings (nothing is contacted yet)
#   2. verify the image here (deploy/verify-image.sh): resolve IMAGE:IMAGE_TAG to its digest and check with
#      cosign that this repository's release-gateway.yml signed that digest (on main or a release tag). An
#      unsigned or differently signed image, or a tag that does not exist, stops here: no SSH connection is
#      made, the gateway host is not touched
#   3. over SSH (pinned host key, deploy/ssh-run.sh), run deploy/roll-gateway.sh on the host with
#      IMAGE_TAG@sha256:<that digest>: it pins GATEWAY_TAG to it and replaces gateway-1, gateway-2 and the
#      worker one at a time, so the host pulls exactly what was verified, whatever the tag points to by then
#
# Environment:
#   GATEWAY_SSH_HOST      user@host[:port] of the gateway host
#   GATEWAY_DIR           the directory of its docker-compose.yml and .env (default /opt/switchyard)
#   IMAGE                 the gateway image repository, without a tag: ghcr.io/<owner, lower case>/switchyard-gateway
#   IMAGE_TAG             the image tag to roll out, e.g. sha-<40-char git sha>
#   SIGNER_REPOSITORY     owner/repo whose release-gateway.yml must have signed it (github.repository)
#   EXPECTED_GIT_SHA      the sha the new containers must report; default: from a sha-<sha> tag, else not checked
#   SSH_KEY_FILE, SSH_KNOWN_HOSTS_FILE   see ssh-common.sh
#   ROLL_HEALTH_TIMEOUT, ROLL_NODES_TIMEOUT, ROLL_POLL_INTERVAL, ROLL_SETTLE_SECONDS   passed on to
#                         roll-gateway.sh on the host when set (see there)
# Needs here: bash, ssh, jq, docker (with buildx) and cosign.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=deploy/ssh-common.sh
source "$here/ssh-common.sh"

log() { printf '[deploy-gateway] %s\n' "$*" >&2; }
summary() { if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then printf '%s\n' "$*" >>"$GITHUB_STEP_SUMMARY"; fi; }

# 1. The settings, before anything is contacted.
: "${GATEWAY_SSH_HOST:?set GATEWAY_SSH_HOST to user@host[:port] of the gateway host}"
: "${IMAGE:?set IMAGE to the gateway image repository, e.g. ghcr.io/<owner>/switchyard-gateway (no tag)}"
: "${IMAGE_TAG:?set IMAGE_TAG to the gateway image tag to roll out}"
: "${SIGNER_REPOSITORY:?set SIGNER_REPOSITORY to owner/repo of this repository: only the signature of its release workflow is accepted}"
dir=${GATEWAY_DIR:-/opt/switchyard}
expected=${EXPECTED_GIT_SHA:-}
[[ $dir =~ ^/[A-Za-z0-9._/-]*$ ]] || { log "GATEWAY_DIR '$dir' is not an absolute path; nothing was touched"; exit 2; }
if [ -z "$expected" ] && [[ $IMAGE_TAG =~ ^sha-([0-9a-f]{40})$ ]]; then
  expected=${BASH_REMATCH[1]}
fi
[[ -z $expected || $expected =~ ^[0-9a-f]{40}$ ]] || { log "EXPECTED_GIT_SHA '$expected' is not a full git sha; nothing was touched"; exit 2; }
ssh_prepare deploy-gateway "$GATEWAY_SSH_HOST" || { log "nothing was touched"; exit 2; }
remote_env=()
for name in ROLL_HEALTH_TIMEOUT ROLL_NODES_TIMEOUT ROLL_POLL_INTERVAL ROLL_SETTLE_SECONDS; do
  value=${!name:-}
  [ -z "$value" ] && continue
  [[ $value =~ ^[0-9]+(\.[0-9]+)?$ ]] || { log "$name '$value' is not a number of seconds; nothing was touched"; exit 2; }
  remote_env+=("$name=$value")
done

# 2. The image, verified before the gateway host is contacted. verify-image.sh exits 0 only after printing
# IMAGE@sha256:<digest>, and says why when it refuses.
summary "### gateway $IMAGE_TAG" ""
verified=$(bash "$here/verify-image.sh" "$IMAGE" "$IMAGE_TAG" gateway) || {
  log "$IMAGE:$IMAGE_TAG is not verified (the reason is above): the gateway host was not contacted, nothing was touched"
  summary "" "Stopped before the gateway host: nothing was touched."
  exit 1
}
pinned="$IMAGE_TAG@${verified##*@}"

# 3. The gateway host, pulling that digest.
log "rolling $pinned to $GATEWAY_SSH_HOST:$dir${expected:+ (every container must report git sha $expected)}"
if ! REMOTE_ENV="${remote_env[*]}" bash "$here/ssh-run.sh" "$GATEWAY_SSH_HOST" "$here/roll-gateway.sh" "$dir" "$pinned" "$expected"; then
  log "roll-gateway.sh on $GATEWAY_SSH_HOST failed (see its log above)"
  summary "" "roll-gateway.sh on the gateway host failed: see the log."
  exit 1
fi
summary "" "gateway-1, gateway-2 and the worker run \`$verified\`${expected:+ (git sha ${expected:0:12})}."
log "done: the gateway host runs $verified"
