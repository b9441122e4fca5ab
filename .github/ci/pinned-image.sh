#!/usr/bin/env bash
# Prints the image a service of .github/ci/compose.yml pins (name:tag@sha256:…), for a workflow step that hands
# it to an action: `image=$(bash .github/ci/pinned-image.sh buildkit)`. Exits 1, saying so, when the service is
# missing or its image carries no digest.
set -euo pipefail
[ "$#" -eq 1 ] || { echo "usage: pinned-image.sh SERVICE" >&2; exit 2; }
file="$(dirname "${BASH_SOURCE[0]}")/compose.yml"
image=$(awk -v want="$1" '
  /^  [A-Za-z0-9_-]+:/ { name = $1; sub(/:$/, "", name); next }
  name == want && $1 == "image:" { print $2; exit }
' "$file")
if ! [[ $image =~ ^[a-z0-9./_-]+:[A-Za-z0-9._-]+@sha256:[0-9a-f]{64}$ ]]; then
  echo "pinned-image.sh: no image pinned by digest for '$1' in $file" >&2
  exit 1
fi
printf '%s\n' "$image"
