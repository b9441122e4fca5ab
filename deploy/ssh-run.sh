#!/usr/bin/env bash
# Runs one of this repository's scripts on a remote host over SSH, with a pinned host key:
#   deploy/ssh-run.sh user@host[:port] deploy/roll-node.sh /opt/switchyard-node sha-<git sha> <git sha>
# The script travels on stdin (`bash -s`), so the host needs only bash and docker compose, never a copy of
# this repository. The host's key must already be in SSH_KNOWN_HOSTS_FILE: StrictHostKeyChecking=yes, and
# nothing here ever asks the network which key a host has (no ssh-keyscan at deploy time).
#
# Environment:
#   SSH_KEY_FILE           the private key to log in with (required)
#   SSH_KNOWN_HOSTS_FILE   the pinned host keys, as `ssh-keyscan -H host` printed them once (required)
#   REMOTE_ENV             optional "NAME=value NAME=value" set for the remote script (e.g. ROLL_HEALTH_TIMEOUT=180)
set -euo pipefail

usage() {
  echo "usage: ssh-run.sh user@host[:port] SCRIPT [ARG...]" >&2
  exit 2
}

[ "$#" -ge 2 ] || usage
target=$1
script=$2
shift 2

: "${SSH_KEY_FILE:?set SSH_KEY_FILE to the private key that logs in to the hosts}"
: "${SSH_KNOWN_HOSTS_FILE:?set SSH_KNOWN_HOSTS_FILE to the pinned host keys (never scanned at deploy time)}"
[ -s "$SSH_KNOWN_HOSTS_FILE" ] || { echo "ssh-run: $SSH_KNOWN_HOSTS_FILE is empty: pin the hosts' keys first" >&2; exit 2; }
[ -r "$script" ] || { echo "ssh-run: cannot read $script" >&2; exit 2; }

# user@host:port -> user@host and -p port (ssh itself takes no port in the destination).
host=$target
port=22
if [[ $target =~ ^(.+):([0-9]+)$ ]]; then
  host=${BASH_REMATCH[1]}
  port=${BASH_REMATCH[2]}
fi
[[ $host =~ ^([A-Za-z0-9._-]+@)?[A-Za-z0-9._-]+$ ]] || { echo "ssh-run: '$target' is not user@host[:port]" >&2; exit 2; }

# The remote login shell parses this line: every argument is quoted for it.
remote="bash -s --"
for arg in "$@"; do
  remote+=" $(printf '%q' "$arg")"
done
if [ -n "${REMOTE_ENV:-}" ]; then
  for assignment in $REMOTE_ENV; do
    [[ $assignment =~ ^[A-Z_][A-Z0-9_]*=[A-Za-z0-9._:/-]*$ ]] || { echo "ssh-run: REMOTE_ENV entry '$assignment' is not NAME=value" >&2; exit 2; }
  done
  remote="env $REMOTE_ENV $remote"
fi

exec ssh \
  -i "$SSH_KEY_FILE" \
  -o IdentitiesOnly=yes \
  -o BatchMode=yes \
  -o StrictHostKeyChecking=yes \
  -o UserKnownHostsFile="$SSH_KNOWN_HOSTS_FILE" \
  -o GlobalKnownHostsFile=/dev/null \
  -o ConnectTimeout=20 \
  -o ServerAliveInterval=15 \
  -o ServerAliveCountMax=4 \
  -p "$port" \
  "$host" \
  "$remote" <"$script"
