#!/usr/bin/env bash
# Runs one of this repository's scripts on a remote host over SSH, with a pinned host key (ssh-common.sh):
#   deploy/ssh-run.sh user@host[:port] deploy/roll-node.sh /opt/switchyard-node sha-<git sha> <git sha>
# The script travels on stdin (`bash -s`), so the host needs only bash and docker compose, never a copy of
# this repository.
#
# Environment:
#   SSH_KEY_FILE, SSH_KNOWN_HOSTS_FILE   see ssh-common.sh (both required)
#   REMOTE_ENV             optional "NAME=value NAME=value" set for the remote script (e.g. ROLL_HEALTH_TIMEOUT=180)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=deploy/ssh-common.sh
source "$here/ssh-common.sh"

usage() {
  echo "usage: ssh-run.sh user@host[:port] SCRIPT [ARG...]" >&2
  exit 2
}

[ "$#" -ge 2 ] || usage
target=$1
script=$2
shift 2

ssh_prepare ssh-run "$target" || exit 2
[ -r "$script" ] || { echo "ssh-run: cannot read $script" >&2; exit 2; }

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

exec ssh "${ssh_options[@]}" "$ssh_host" "$remote" <"$script"
