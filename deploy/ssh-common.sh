# shellcheck shell=bash
# How the deploy scripts reach a host over SSH, sourced by ssh-run.sh and roll-fleet.sh: the deploy key, and
# the host's key pinned. The host's key must already be in SSH_KNOWN_HOSTS_FILE: StrictHostKeyChecking=yes, and
# nothing here ever asks the network which key a host has (no ssh-keyscan at deploy time).
#
# Environment:
#   SSH_KEY_FILE           the private key to log in with (required)
#   SSH_KNOWN_HOSTS_FILE   the pinned host keys, as `ssh-keyscan -H host` printed them once (required)

# ssh_prepare PREFIX TARGET: checks the environment and TARGET (user@host[:port]), then sets ssh_host (user@host)
# and ssh_options (every option a connection to it takes, its port included). Returns 2, saying why on stderr
# after PREFIX, when something is missing or malformed.
ssh_prepare() {
  local prefix=$1 target=$2 port=22
  if [ -z "${SSH_KEY_FILE:-}" ]; then
    echo "$prefix: set SSH_KEY_FILE to the private key that logs in to the hosts" >&2
    return 2
  fi
  if [ -z "${SSH_KNOWN_HOSTS_FILE:-}" ]; then
    echo "$prefix: set SSH_KNOWN_HOSTS_FILE to the pinned host keys (never scanned at deploy time)" >&2
    return 2
  fi
  if [ ! -s "$SSH_KNOWN_HOSTS_FILE" ]; then
    echo "$prefix: $SSH_KNOWN_HOSTS_FILE is empty: pin the hosts' keys first" >&2
    return 2
  fi
  # user@host:port -> user@host and -p port (ssh itself takes no port in the destination).
  ssh_host=$target
  if [[ $target =~ ^(.+):([0-9]+)$ ]]; then
    ssh_host=${BASH_REMATCH[1]}
    port=${BASH_REMATCH[2]}
  fi
  if ! [[ $ssh_host =~ ^([A-Za-z0-9._-]+@)?[A-Za-z0-9._-]+$ ]]; then
    echo "$prefix: '$target' is not user@host[:port]" >&2
    return 2
  fi
  # shellcheck disable=SC2034 # read by the scripts that source this file
  ssh_options=(
    -i "$SSH_KEY_FILE"
    -o IdentitiesOnly=yes
    -o BatchMode=yes
    -o StrictHostKeyChecking=yes
    -o UserKnownHostsFile="$SSH_KNOWN_HOSTS_FILE"
    -o GlobalKnownHostsFile=/dev/null
    -o ConnectTimeout=20
    -o ServerAliveInterval=15
    -o ServerAliveCountMax=4
    -p "$port"
  )
}
