#!/usr/bin/env bash
# The images and the compose stack under a real Docker engine, end to end, against the fake Anthropic upstream.
# CI runs it (.github/workflows/ci.yml, job `images`); an operator can run it on any Docker host:
#
#   bash deploy/smoke.sh [--keep] [--project-prefix NAME] [--timeout SECONDS]
#
#   1. builds both images from this checkout with `docker buildx build --load` (gateway/Dockerfile,
#      node-agent/Dockerfile), and the test-only image of the fake upstream and the official SDK
#      (deploy/smoke/Dockerfile), tagged for this run only
#   2. starts the gateway host's stack as README's "Run the stack" does (docker-compose.yml, plus the test-only
#      deploy/smoke/stack.override.yml: the fake upstream, and a network for this run), its edge and admin
#      listeners on loopback ports Docker picks; checks the images' OS layer in the running containers (tini
#      as PID 1, the unprivileged user, writable data directories), which no test without Docker can run
#   3. enrols the stack's own node and a node on "another host" (a second compose project:
#      node-agent/docker-compose.yml plus deploy/smoke/node.override.yml) on gateway-1's admin listener,
#      starts both with their tokens, and waits until both gateway replicas list both nodes connected
#   4. creates a gateway key, sends a request through the edge with curl and one with the official SDK,
#      checks both answers, and waits until GET /admin/usage counts them
#   5. streams a slow answer through the edge on gateway-2 and `docker compose stop`s gateway-2 in the middle
#      of it: the stream must still end with message_stop and the whole text, requests sent meanwhile must be
#      answered (by gateway-1), gateway-2 must drain and exit 0, and every request must be counted
#   6. on exit, also after a failure (then first printing the services' last logs), removes both projects with
#      their volumes, the network, the containers, the images it tagged and its temp dir; --keep leaves them
#      for inspection and prints how to remove them
#
# Two runs on one host do not collide: projects, network, images and temp dir carry a random run id, and
# every port is one Docker picks on 127.0.0.1. The compose files see only the run's env files (variables of
# the same names in the caller's environment are unset for compose). Generated secrets (ADMIN_TOKEN,
# ADMIN_READ_TOKEN, the node tokens, the gateway key) live only in the temp dir (mode 700, files 600), go to
# curl as header files and to containers through env files, and are never printed.
#
# Needs docker (a running engine, local: the compose files bind-mount this checkout's files; the compose v2
# plugin; buildx), curl and jq. Pulls the base images (node, redis, caddy, and BuildKit's Dockerfile frontend)
# and, while building, npm packages; nothing else leaves the host. Exit 0: every check passed; 1: a check or
# a step failed (the "[smoke] FAILED:" line says which, the services' logs follow it), or a tool is missing;
# 2: bad arguments. SMOKE_POLL_INTERVAL (seconds, default 1): how often the waits poll.
#
# A test sources this file (test/deploy/smoke*.test.ts) to run its parts without Docker: only main() starts
# anything, and only when the file is executed.
set -euo pipefail

readonly SMOKE_USAGE='usage: deploy/smoke.sh [--keep] [--project-prefix NAME] [--timeout SECONDS] [--help]'

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Options (parse_args).
keep=false
prefix=switchyard-smoke
timeout=300
poll_interval=${SMOKE_POLL_INTERVAL:-1}

# What the fake upstream answers (deploy/smoke/stack.override.yml gives it as --response-text: keep the two
# equal), one character per text delta, and the model every request asks for.
readonly reply_text='Switchyard smoke test, every character its own delta, through the edge, a gateway, a tunnel and a node.'
readonly model=claude-sonnet-4-6

# Set by main as the run goes; cleanup reads them (empty: that part was never made).
run_id=''
tmp=''
gw_project=''
node_project=''
network=''
sdk_container=''
gateway_image=''
node_image=''
fake_image=''
git_sha=''
stack_started=false
node_started=false
images_built=()
stream_pid=''
stop_pid=''
edge=''
admin1=''
admin2=''
key_id=''
# What a failed wait last saw, for its message.
last_seen=''
# The variables the compose files interpolate, unset for every compose command (compose_env).
compose_vars=()

log() { printf '[smoke] %s\n' "$*" >&2; }

die() {
  log "FAILED: $*"
  exit 1
}

usage() {
  printf '%s\n' "$SMOKE_USAGE" \
    '  --keep                  leave both compose projects, the images and the temp dir for inspection (the' \
    '                          commands that remove them are printed at the end)' \
    '  --project-prefix NAME   prefix of the compose projects, network and images (default switchyard-smoke;' \
    '                          lower-case letters, digits, - and _); each run adds a random id' \
    '  --timeout SECONDS       how long each wait may take (default 300)'
}

usage_error() {
  printf 'smoke.sh: %s\n%s\n' "$1" "$SMOKE_USAGE" >&2
  exit 2
}

# A prerequisite is missing: what, and the usage line.
missing() {
  printf 'smoke.sh: %s\n%s\n' "$1" "$SMOKE_USAGE" >&2
  exit 1
}

parse_args() {
  while (($# > 0)); do
    case $1 in
      --keep) keep=true ;;
      --project-prefix | --timeout)
        (($# >= 2)) || usage_error "$1 needs a value"
        if [[ $1 == --timeout ]]; then timeout=$2; else prefix=$2; fi
        shift
        ;;
      --project-prefix=*) prefix=${1#*=} ;;
      --timeout=*) timeout=${1#*=} ;;
      -h | --help)
        usage
        exit 0
        ;;
      *) usage_error "unknown argument: $1" ;;
    esac
    shift
  done
  # A compose project name (the run id and a suffix are added), and a Docker repository name for the images.
  # It becomes an image repository's first component (SWITCHYARD_REGISTRY), which may not end in a separator.
  [[ ${#prefix} -le 40 && $prefix =~ ^[a-z0-9]+([_-][a-z0-9]+)*$ ]] ||
    usage_error "--project-prefix: 1 to 40 lower-case letters and digits, single - or _ between them: '$prefix'"
  [[ $timeout =~ ^[1-9][0-9]{0,4}$ ]] || usage_error "--timeout: a whole number of seconds: '$timeout'"
  [[ $poll_interval =~ ^[0-9]+(\.[0-9]+)?$ ]] || usage_error "SMOKE_POLL_INTERVAL: a number of seconds: '$poll_interval'"
}

# Every tool the run needs, before anything is built: each one missing is named.
require_tools() {
  local tool absent=() version
  for tool in docker curl jq; do
    command -v "$tool" >/dev/null 2>&1 || absent+=("$tool")
  done
  ((${#absent[@]} == 0)) || missing "needs ${absent[*]} on PATH (docker with the compose v2 plugin and buildx, curl, jq)"
  version=$(docker compose version --short 2>/dev/null) || missing "needs the Docker Compose v2 plugin ('docker compose'; docker-compose v1 will not do): https://docs.docker.com/compose/install/"
  [[ ${version#v} =~ ^[2-9] ]] || missing "needs Docker Compose v2 or later ('docker compose version' says $version)"
  docker buildx version >/dev/null 2>&1 || missing "needs docker buildx ('docker buildx build --load'): https://docs.docker.com/build/install-buildx/"
  docker info >/dev/null 2>&1 || missing "cannot reach the Docker engine ('docker info' failed): is it running, and may this user use it?"
}

# Runs "$@" every poll_interval seconds until it succeeds, for at most $2 seconds, or fails naming $1, what it
# waited for, with what the check last saw (the check may set last_seen).
wait_until() {
  local what=$1 limit=$2 deadline
  shift 2
  deadline=$((SECONDS + limit))
  last_seen=''
  until "$@"; do
    if ((SECONDS >= deadline)); then
      die "timed out after ${limit}s waiting for $what${last_seen:+ (last seen: $last_seen)}"
    fi
    sleep "$poll_interval"
  done
}

# True when GET $1 answers HTTP $2; further arguments go to curl (e.g. -H @header-file).
http_status_is() {
  local url=$1 want=$2 status
  shift 2
  status=$(curl -s -o /dev/null -w '%{http_code}' --connect-timeout 2 --max-time 5 "$@" "$url") || true
  if [[ ${status:-000} == 000 ]]; then last_seen='no answer'; else last_seen="HTTP $status"; fi
  [[ $status == "$want" ]]
}

# Waits until GET $1 answers HTTP $2, for at most $3 seconds; further arguments go to curl.
wait_for_http() {
  local url=$1 want=$2 limit=$3
  shift 3
  wait_until "$url to answer HTTP $want" "$limit" http_status_is "$url" "$want" "$@"
}

# 32 random bytes as 64 hex digits (the length `openssl rand -hex 32` gives, without needing openssl).
random_hex() {
  od -An -N32 -tx1 /dev/urandom | tr -d ' \n'
}

# The admin tokens, into the stack's env file and the header files curl reads (-H @file): never on a command
# line, never printed. Needs tmp.
make_admin_secrets() {
  local admin read
  admin=$(random_hex)
  read=$(random_hex)
  [[ ${#admin} == 64 && ${#read} == 64 && $admin != "$read" ]] || die "could not generate the admin tokens from /dev/urandom"
  (
    umask 077
    printf 'ADMIN_TOKEN=%s\nADMIN_READ_TOKEN=%s\n' "$admin" "$read" >"$tmp/secrets.env"
    printf 'authorization: Bearer %s\n' "$admin" >"$tmp/admin.header"
    printf 'authorization: Bearer %s\n' "$read" >"$tmp/read.header"
  )
}

# The run's env file for the gateway host's stack (its .env): the admin tokens, this run's images and network,
# and every published port on 127.0.0.1, picked by Docker (0: any free port; HTTPS stays unused on loopback).
# The stack's own node gets its token and account later (add_env). Needs tmp and the run's names.
write_stack_env() {
  (
    umask 077
    {
      cat "$tmp/secrets.env"
      cat <<EOF
SWITCHYARD_REGISTRY=$prefix
GATEWAY_TAG=$run_id
NODE_AGENT_TAG=$run_id
GIT_SHA=$git_sha
GATEWAY_PORT=127.0.0.1:0
HTTPS_PORT=127.0.0.1:0
ADMIN_HOST_PORT=0
ADMIN_HOST_PORT_2=0
REDIS_HOST_PORT=0
CREDENTIALS_IMPORT_DIR=$tmp/credentials-import
SMOKE_FAKE_IMAGE=$fake_image
SMOKE_NETWORK=$network
EOF
    } >"$tmp/stack.env"
  )
  mkdir -p "$tmp/credentials-import"
}

# The remote node's env file (its .env, as `switchyard nodes add` and README's "Add a node" fill it in): the
# edge on the run's network, plain HTTP allowed explicitly, its id; token and account come with add_env.
write_node_env() {
  (
    umask 077
    cat >"$tmp/node.env" <<EOF
SWITCHYARD_REGISTRY=$prefix
NODE_AGENT_TAG=$run_id
GATEWAY_URL=http://edge:8080
GATEWAY_ALLOW_HTTP=true
NODE_ID=node-remote
CREDENTIALS_IMPORT_DIR=$tmp/credentials-import
SMOKE_NETWORK=$network
EOF
  )
}

# Appends KEY=<the first line of file $3> to env file $1 (a secret goes from file to file, never printed).
add_env() {
  local file=$1 key=$2 value
  value=$(head -n 1 "$3")
  [[ -n $value && $value != null ]] || die "no value for $key in $3"
  (
    umask 077
    printf '%s=%s\n' "$key" "$value" >>"$file"
  )
}

# Runs a command with the variables the compose files interpolate unset, so they come from the run's env
# file alone, and compose's own switches (COMPOSE_*) unset too.
compose_env() {
  (
    unset COMPOSE_FILE COMPOSE_PROJECT_NAME COMPOSE_PROFILES COMPOSE_ENV_FILES
    if ((${#compose_vars[@]} > 0)); then unset "${compose_vars[@]}"; fi
    exec "$@"
  )
}

# The names of every variable the given compose files interpolate.
interpolated_vars() {
  grep -ohE '\$\{[A-Za-z_][A-Za-z0-9_]*' "$@" | cut -c3- | sort -u
}

# docker compose on the gateway host's project, and on the remote node's.
compose_gw() {
  compose_env docker compose --project-name "$gw_project" --project-directory "$repo" --env-file "$tmp/stack.env" \
    -f "$repo/docker-compose.yml" -f "$repo/deploy/smoke/stack.override.yml" "$@"
}
compose_node() {
  compose_env docker compose --project-name "$node_project" --project-directory "$repo/node-agent" --env-file "$tmp/node.env" \
    -f "$repo/node-agent/docker-compose.yml" -f "$repo/deploy/smoke/node.override.yml" "$@"
}

# True when every named service of a project ($1: compose_gw or compose_node) runs and is healthy.
services_healthy() {
  local compose=$1 service id state
  shift
  for service in "$@"; do
    id=$("$compose" ps -q "$service" 2>/dev/null) || id=''
    if [[ -z $id ]]; then
      last_seen="$service has no container"
      return 1
    fi
    state=$(docker inspect -f '{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}no-healthcheck{{end}}' "$id" 2>/dev/null) || state=unknown
    if [[ $state != 'running healthy' ]]; then
      last_seen="$service: $state"
      return 1
    fi
  done
}

# The host port Docker published a service's container port on ($1 compose_gw|compose_node, $2 service,
# $3 port), read from the container itself (`docker compose port` has been seen to print :0); fails while
# there is none yet.
published_port() {
  local id port
  id=$("$1" ps -q "$2" 2>/dev/null) || return 1
  [[ -n $id ]] || return 1
  port=$(docker inspect -f "{{with index .NetworkSettings.Ports \"$3/tcp\"}}{{(index . 0).HostPort}}{{end}}" "$id" 2>/dev/null) || return 1
  [[ $port =~ ^[1-9][0-9]*$ ]] || return 1
  printf '%s\n' "$port"
}

has_published_port() {
  published_port "$@" >/dev/null
}

# An admin call on a gateway's admin listener with ADMIN_TOKEN: METHOD URL BODY OUT-FILE. The answer goes
# to the file (it may hold a token), and only an error's body is shown.
admin_call() {
  local method=$1 url=$2 body=$3 out=$4 status
  status=$(curl -sS --max-time 15 -X "$method" -H @"$tmp/admin.header" -H 'content-type: application/json' \
    --data "$body" -o "$out" -w '%{http_code}' "$url") || status=000
  [[ $status == 2?? ]] || die "$method $url answered HTTP $status: $(head -c 300 "$out" 2>/dev/null)"
}

# A Messages request through the edge with the gateway key: OUT-FILE [more curl arguments]; prints the HTTP status.
message_request() {
  local out=$1
  shift
  local status
  status=$(curl -sS --max-time 60 -o "$out" -w '%{http_code}' -H @"$tmp/client.header" -H 'anthropic-version: 2023-06-01' \
    -H 'content-type: application/json' "$@" "$edge/v1/messages") || true
  printf '%s\n' "${status:-000}"
}

message_body() {
  jq -cn --arg model "$model" --argjson stream "$1" \
    '{model: $model, max_tokens: 256, stream: $stream, messages: [{role: "user", content: "Say hello through Switchyard."}]}'
}

# Fails unless file $1 holds the fake's whole answer as a JSON message; $2 names the request.
check_message() {
  jq -e --arg text "$reply_text" \
    '.type == "message" and .stop_reason == "end_turn" and ([.content[] | select(.type == "text") | .text] | join("")) == $text' \
    "$1" >/dev/null 2>&1 || die "$2: not the fake's whole answer: $(head -c 400 "$1" 2>/dev/null)"
}

# The number of text deltas in an SSE body so far (0 before its first byte).
count_deltas() {
  if [[ -f $1 ]]; then grep -c '^event: content_block_delta' "$1" || true; else echo 0; fi
}

# True once the SSE body in $2 has at least $1 text deltas.
deltas_at_least() {
  local have
  have=$(count_deltas "$2")
  last_seen="$have deltas"
  ((have >= $1))
}

# Fails unless the SSE body in $1 is a whole stream: message_start first, message_stop last, one
# message_delta ending the turn, and the deltas' text the fake's whole answer.
check_stream() {
  local events
  events=$(sed -n 's/^data: //p' "$1" | jq -cs '.' 2>/dev/null) || die "the stream's body is not SSE with JSON data: $(tail -c 300 "$1")"
  jq -e --arg text "$reply_text" '
    (.[0].type == "message_start") and (.[-1].type == "message_stop")
    and ([.[] | select(.type == "message_delta") | .delta.stop_reason] == ["end_turn"])
    and ([.[] | select(.type == "content_block_delta") | .delta.text] | join("")) == $text' <<<"$events" >/dev/null ||
    die "the stream did not end whole (message_start … message_stop, end_turn, the whole text): $(jq -c '[.[].type] | group_by(.) | map({(.[0]): length}) | add' <<<"$events") ending $(tail -c 200 "$1")"
}

# True when every admin listener in $admin1 and $admin2 lists both nodes connected, running this run's build.
nodes_connected() {
  local url body=$tmp/nodes.json have seen=()
  for url in "$admin1" "$admin2"; do
    if ! curl -sf --max-time 5 -H @"$tmp/read.header" -o "$body" "$url/admin/nodes"; then
      last_seen="$url/admin/nodes did not answer 200"
      return 1
    fi
    have=$(jq -r '[.nodes[] | "\(.nodeId) (\(.gitSha[0:7]))"] | sort | join(", ")' "$body" 2>/dev/null) || have='?'
    seen+=("$url: ${have:-no node}")
    last_seen="${seen[*]}"
    jq -e --arg sha "$git_sha" '[.nodes[] | select(.gitSha == $sha) | .nodeId] | (index("node-local") != null and index("node-remote") != null)' \
      "$body" >/dev/null 2>&1 || return 1
  done
}

# True when GET /admin/usage (gateway-1's admin listener, the read-only token) counts exactly $1 requests of
# this run's key, none of them an error.
usage_counted() {
  local want=$1 body=$tmp/usage.json counts
  if ! curl -sf --max-time 5 -H @"$tmp/read.header" -o "$body" "$admin1/admin/usage?by=key"; then
    last_seen="$admin1/admin/usage did not answer 200"
    return 1
  fi
  counts=$(jq -r --arg id "$key_id" '[.rows[] | select(.id == $id)] | "\(map(.requests) | add // 0) \(map(.errors) | add // 0)"' "$body" 2>/dev/null) || counts='? ?'
  last_seen="${counts% *} requests counted, ${counts#* } errors"
  [[ $counts == "$want 0" ]]
}

# 1: the images, from this checkout.
build_images() {
  local spec dockerfile image workspace seen args
  for spec in "gateway/Dockerfile $gateway_image gateway" "node-agent/Dockerfile $node_image node-agent" "deploy/smoke/Dockerfile $fake_image -"; do
    read -r dockerfile image workspace <<<"$spec"
    # The production images get VERSION and GIT_SHA as a release does (README, "The images").
    args=()
    [[ $workspace == - ]] || args=(--build-arg "VERSION=$(jq -r .version "$repo/$workspace/package.json")" --build-arg "GIT_SHA=$git_sha")
    log "building $image from $dockerfile ${args[*]}"
    docker buildx build --load --file "$repo/$dockerfile" "${args[@]}" --tag "$image" "$repo"
    images_built+=("$image")
  done
  for image in "$gateway_image" "$node_image"; do
    seen=$(docker image inspect -f '{{.Config.User}} {{index .Config.Labels "org.opencontainers.image.revision"}}' "$image")
    [[ $seen == "node $git_sha" ]] || die "$image: expected user node and revision label $git_sha, got '$seen'"
  done
}

# In a running container: PID 1 is tini (so `docker stop` reaches node), the process runs as `node`, and
# its data directory, if it has one, is writable ($1 compose_gw|compose_node, $2 service, [$3 directory]).
check_os_layer() {
  local compose=$1 service=$2 dir=${3:-} pid1 user
  pid1=$("$compose" exec -T "$service" cat /proc/1/comm) || die "$service: cannot read PID 1's name"
  [[ $pid1 == tini ]] || die "$service: PID 1 is '$pid1', not tini"
  user=$("$compose" exec -T "$service" id -un) || die "$service: cannot run id"
  [[ $user == node ]] || die "$service: runs as '$user', not node"
  if [[ -n $dir ]]; then
    "$compose" exec -T "$service" test -w "$dir" || die "$service: $dir is not writable by node"
  fi
  log "$service: tini is PID 1, the process runs as node${dir:+, $dir is writable}"
}

# 2: the stack, as README's "Run the stack" starts it: everything up; the node stops at start until .env has
# its NODE_TOKEN.
start_stack() {
  local spec service container_port var port status
  log "starting the stack ($gw_project): docker compose up -d"
  stack_started=true
  compose_gw up -d --no-build
  wait_until "the stack's services to be healthy" "$timeout" services_healthy compose_gw redis gateway-1 gateway-2 worker edge fake-anthropic
  for spec in "edge 8080 edge" "gateway-1 9090 admin1" "gateway-2 9090 admin2"; do
    read -r service container_port var <<<"$spec"
    wait_until "the host port of $service:$container_port" 30 has_published_port compose_gw "$service" "$container_port"
    port=$(published_port compose_gw "$service" "$container_port")
    printf -v "$var" 'http://127.0.0.1:%s' "$port"
  done
  log "edge: $edge, admin listeners: $admin1 (gateway-1), $admin2 (gateway-2)"
  wait_for_http "$edge/health" 200 "$timeout"
  curl -sf --max-time 5 "$edge/health" | jq -e --arg sha "$git_sha" '.status == "ok" and .gitSha == $sha' >/dev/null ||
    die "the edge's /health does not report this build ($git_sha): $(curl -s --max-time 5 "$edge/health")"
  # The edge publishes no admin route.
  status=$(curl -s --max-time 5 -o "$tmp/edge-admin.json" -w '%{http_code}' -H @"$tmp/admin.header" "$edge/admin/nodes") || true
  if [[ $status != 404 ]] || ! jq -e '.error.type == "not_found_error"' "$tmp/edge-admin.json" >/dev/null 2>&1; then
    die "GET /admin/nodes through the edge answered HTTP ${status:-000}, not the edge's own 404"
  fi
  wait_until "the unenrolled node to stop at start naming NODE_TOKEN" "$timeout" node_names_its_token
  check_os_layer compose_gw gateway-1 /data/usage-spool
  check_os_layer compose_gw worker
  log "the stack is up: every service healthy, /health reports git sha $git_sha, /admin is not published"
}

# (grep reads it all: with -q it could stop early and fail the pipeline.)
node_names_its_token() {
  compose_gw logs --no-log-prefix node-agent 2>/dev/null | grep NODE_TOKEN >/dev/null
}

# The fake upstream's API key of an account (its start lines: `api_key <id> <key>`) into file $2.
fake_key() {
  compose_gw logs --no-log-prefix fake-anthropic 2>/dev/null | awk -v id="$1" '$1 == "api_key" && $2 == id { key = $3 } END { print key }' >"$2"
  [[ -s $2 && $(head -c 7 "$2") == sk-ant- ]] || die "the fake upstream printed no API key for $1"
}

# 3: both nodes enrolled, started with their tokens and accounts, and connected to both replicas.
enrol_and_start_nodes() {
  local node
  for node in node-local node-remote; do
    admin_call POST "$admin1/admin/nodes" "{\"id\":\"$node\"}" "$tmp/enrol-$node.json"
    jq -r '.token // empty' "$tmp/enrol-$node.json" >"$tmp/$node.token"
    [[ $(head -c 4 "$tmp/$node.token") == syn- ]] || die "POST /admin/nodes answered no node token for $node"
  done
  log "enrolled node-local and node-remote on gateway-1's admin listener"
  fake_key key-1 "$tmp/key-1.fake"
  fake_key key-2 "$tmp/key-2.fake"
  add_env "$tmp/stack.env" NODE_TOKEN "$tmp/node-local.token"
  add_env "$tmp/stack.env" ANTHROPIC_API_KEY "$tmp/key-1.fake"
  add_env "$tmp/node.env" NODE_TOKEN "$tmp/node-remote.token"
  add_env "$tmp/node.env" ANTHROPIC_API_KEY "$tmp/key-2.fake"
  compose_gw up -d --no-build --no-deps node-agent
  log "starting the remote node's project ($node_project)"
  node_started=true
  compose_node up -d --no-build
  wait_until "both nodes to be healthy" "$timeout" both_nodes_healthy
  wait_until "gateway-1 and gateway-2 to list node-local and node-remote connected" "$timeout" nodes_connected
  check_os_layer compose_gw node-agent /data/credentials
  check_os_layer compose_node node-agent /data/credentials
  log "both nodes dialled in to both replicas through the edge"
}

both_nodes_healthy() {
  services_healthy compose_gw node-agent && services_healthy compose_node node-agent
}

# 4: a gateway key; one request with curl, one with the SDK, both answered and counted.
requests_are_answered_and_counted() {
  local status
  admin_call POST "$admin1/admin/keys" "{\"name\":\"smoke $run_id\"}" "$tmp/key.json"
  key_id=$(jq -r '.record.id // empty' "$tmp/key.json")
  [[ -n $key_id ]] || die "POST /admin/keys answered no key id"
  jq -r '.key // empty' "$tmp/key.json" >"$tmp/client.key"
  [[ -s $tmp/client.key ]] || die "POST /admin/keys answered no key"
  (
    umask 077
    printf 'x-api-key: %s\n' "$(head -n 1 "$tmp/client.key")" >"$tmp/client.header"
  )
  add_env "$tmp/sdk.env" ANTHROPIC_API_KEY "$tmp/client.key"
  log "created gateway key $key_id"

  status=$(message_request "$tmp/curl-answer.json" --data "$(message_body false)")
  [[ $status == 200 ]] || die "curl through the edge: HTTP $status: $(head -c 300 "$tmp/curl-answer.json" 2>/dev/null)"
  check_message "$tmp/curl-answer.json" "curl through the edge"
  log "curl through the edge: answered ($(jq -c '.usage | {input_tokens, output_tokens}' "$tmp/curl-answer.json"))"

  # The SDK runs in the test image, on the run's network, where the edge's public site is http://edge:8080.
  docker run --rm --name "$sdk_container" --network "$network" --env-file "$tmp/sdk.env" \
    -e ANTHROPIC_BASE_URL=http://edge:8080 -e SMOKE_REPLY_TEXT="$reply_text" -e SMOKE_MODEL="$model" \
    "$fake_image" node deploy/smoke/sdk-request.mjs >"$tmp/sdk-answer.json" || die "the SDK's request through the edge failed (its reason is above)"
  jq -e --arg text "$reply_text" '.text == $text and .stop_reason == "end_turn"' "$tmp/sdk-answer.json" >/dev/null ||
    die "the SDK's answer is not the fake's: $(head -c 300 "$tmp/sdk-answer.json")"
  log "the official SDK through the edge: answered ($(jq -c '.usage | {input_tokens, output_tokens}' "$tmp/sdk-answer.json"))"

  wait_until "GET /admin/usage to count the 2 requests" "$timeout" usage_counted 2
  log "GET /admin/usage counts both"
}

# 5: a replica stopped while it carries a stream.
stream_survives_a_stopping_replica() {
  local out=$tmp/stream.sse before rc=0 status sent=0 deadline state drained
  # Which replica carries the stream is decided, not discovered: the request names gateway-2 in
  # x-switchyard-replica, and deploy/Caddyfile sends any request naming a replica to that replica and no other
  # (the route the nodes' tunnels take; the gateway drops every x-switchyard-* header before the node).
  # Through the load-balanced route, least_conn picks between two idle replicas at random, so the stopped one
  # might not be the one streaming. gateway-2, so that gateway-1's admin listener (README's) keeps answering.
  # Its own log confirms it below: it counted the stream in flight when it began to drain.
  curl -sS -N --max-time "$timeout" -o "$out" -w '%{http_code}' -H @"$tmp/client.header" \
    -H 'anthropic-version: 2023-06-01' -H 'content-type: application/json' -H 'x-switchyard-replica: gateway-2' \
    --data "$(message_body true)" "$edge/v1/messages" >"$tmp/stream.status" 2>"$tmp/stream.err" &
  stream_pid=$!
  wait_until "the stream's first deltas" 60 deltas_at_least 4 "$out"
  if grep -q '^event: message_stop' "$out"; then die "the stream ended before gateway-2 could be stopped (the fake paces deltas 250 ms apart: deploy/smoke/stack.override.yml)"; fi
  before=$(count_deltas "$out")
  log "gateway-2 streams (${before} of ${#reply_text} deltas so far): docker compose stop gateway-2"
  compose_gw stop gateway-2 >"$tmp/stop.log" 2>&1 &
  stop_pid=$!

  # Meanwhile the edge takes gateway-2 out of rotation (its /health answers 503 at once): new requests are
  # answered, by gateway-1.
  deadline=$((SECONDS + timeout))
  while kill -0 "$stream_pid" 2>/dev/null; do
    ((SECONDS < deadline)) || die "the stream did not end within ${timeout}s of gateway-2's stop"
    status=$(message_request "$tmp/drain-$sent.json" --data "$(message_body false)")
    [[ $status == 200 ]] || die "a request sent while gateway-2 drained: HTTP $status: $(head -c 300 "$tmp/drain-$sent.json" 2>/dev/null)"
    check_message "$tmp/drain-$sent.json" "a request sent while gateway-2 drained"
    sent=$((sent + 1))
    sleep "$poll_interval"
  done
  wait "$stream_pid" || rc=$?
  stream_pid=''
  ((rc == 0)) || die "the stream broke off (curl exit $rc: $(cat "$tmp/stream.err")) after $(count_deltas "$out") deltas"
  [[ $(cat "$tmp/stream.status") == 200 ]] || die "the stream answered HTTP $(cat "$tmp/stream.status")"
  check_stream "$out"
  (($(count_deltas "$out") > before)) || die "no delta arrived after gateway-2 was stopped"
  log "the stream ended whole: ${before} deltas before the stop, $(count_deltas "$out") in all, message_stop last; $sent requests sent meanwhile were answered"

  # docker compose stop returns once the container exited: after the drain, within stop_grace_period.
  rc=0
  wait "$stop_pid" || rc=$?
  stop_pid=''
  ((rc == 0)) || die "docker compose stop gateway-2 failed: $(cat "$tmp/stop.log")"
  state=$(docker inspect -f '{{.State.Status}} {{.State.ExitCode}}' "$(compose_gw ps -aq gateway-2)")
  [[ $state == 'exited 0' ]] || die "gateway-2 did not drain and exit 0 (state: $state)"
  drained=$(compose_gw logs --no-log-prefix gateway-2 | jq -Rr 'fromjson? | select(.message == "draining" or .message == "stopped") | "\(.message) \(.inFlight // .timedOut)"' | paste -sd ' ' -)
  [[ $drained =~ draining\ [1-9][0-9]*\ stopped\ false$ ]] ||
    die "gateway-2's log does not show it draining with the stream in flight and stopping in time: '$drained'"
  log "gateway-2 drained (its log: $drained) and exited 0"

  wait_until "GET /admin/usage to count all $((3 + sent)) requests" "$timeout" usage_counted $((3 + sent))
  log "GET /admin/usage counts all $((3 + sent)) requests, the stream and those sent during the drain included, none an error"
}

# The services' state and last logs, the fake's account credentials left out.
show_logs() {
  log "a step failed: the services' state and last logs follow"
  compose_gw ps -a || true
  compose_gw logs --no-color --tail 80 2>&1 | sed -E 's/(api_key|refresh_token|access_token) ([^ ]+) .*/\1 \2 (not shown)/' || true
  if $node_started; then
    compose_node ps -a || true
    compose_node logs --no-color --tail 80 2>&1 || true
  fi
}

# Prints a command quoted for a shell.
quoted() {
  printf ' %q' "$@"
  printf '\n'
}

# On exit, whatever happened: logs after a failure, then everything this run made goes (unless --keep).
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  set +e
  [[ -z $stream_pid ]] || kill "$stream_pid" 2>/dev/null
  [[ -z $stop_pid ]] || kill "$stop_pid" 2>/dev/null
  if ((rc != 0)) && $stack_started; then show_logs; fi
  if $keep; then
    log "--keep: left as they are. Edge: $edge; admin listeners: $admin1, $admin2 (the admin token's header: $tmp/admin.header). Remove with:"
    if $node_started; then quoted docker compose --project-name "$node_project" --project-directory "$repo/node-agent" --env-file "$tmp/node.env" -f "$repo/node-agent/docker-compose.yml" -f "$repo/deploy/smoke/node.override.yml" down --volumes --remove-orphans >&2; fi
    if $stack_started; then quoted docker compose --project-name "$gw_project" --project-directory "$repo" --env-file "$tmp/stack.env" -f "$repo/docker-compose.yml" -f "$repo/deploy/smoke/stack.override.yml" down --volumes --remove-orphans >&2; fi
    if ((${#images_built[@]} > 0)); then quoted docker image rm "${images_built[@]}" >&2; fi
    [[ -z $tmp ]] || quoted rm -rf "$tmp" >&2
    exit "$rc"
  fi
  [[ -z $sdk_container ]] || docker rm -f "$sdk_container" >/dev/null 2>&1
  if $node_started; then compose_node down --volumes --remove-orphans --timeout 30 || log "could not remove the project $node_project"; fi
  if $stack_started; then compose_gw down --volumes --remove-orphans --timeout 30 || log "could not remove the project $gw_project"; fi
  if [[ -n $network ]] && docker network inspect "$network" >/dev/null 2>&1; then docker network rm "$network" >/dev/null; fi
  if ((${#images_built[@]} > 0)); then docker image rm "${images_built[@]}" >/dev/null || log "could not remove the images ${images_built[*]}"; fi
  [[ -z $tmp ]] || rm -rf "$tmp"
  if ((rc == 0)); then log "PASSED: removed everything this run made"; else log "removed everything this run made"; fi
  exit "$rc"
}

main() {
  parse_args "$@"
  require_tools
  umask 077
  run_id=$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
  [[ $run_id =~ ^[0-9a-f]{8}$ ]] || die "could not make a run id from /dev/urandom"
  gw_project=$prefix-$run_id
  node_project=$prefix-$run_id-node
  network=$prefix-$run_id-net
  sdk_container=$prefix-$run_id-sdk
  gateway_image=$prefix/switchyard-gateway:$run_id
  node_image=$prefix/switchyard-node-agent:$run_id
  fake_image=$prefix/fake-anthropic:$run_id
  git_sha=$(git -C "$repo" rev-parse HEAD 2>/dev/null) || git_sha=unknown
  mapfile -t compose_vars < <(interpolated_vars "$repo/docker-compose.yml" "$repo/node-agent/docker-compose.yml" "$repo/deploy/smoke/stack.override.yml" "$repo/deploy/smoke/node.override.yml")
  trap cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/$prefix-$run_id.XXXXXX")
  chmod 700 "$tmp"
  log "run $run_id: projects $gw_project and $node_project, network $network, temp dir $tmp"

  make_admin_secrets
  write_stack_env
  write_node_env
  build_images
  start_stack
  enrol_and_start_nodes
  requests_are_answered_and_counted
  stream_survives_a_stopping_replica
  log "every check passed"
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  main "$@"
fi
