#!/usr/bin/env bash
# Resolves a release tag to its digest and proves, with cosign, that this repository's release workflow signed
# exactly that digest. Runs where the roll-out starts (the GitHub runner, or your machine), never on a host:
#   deploy/verify-image.sh ghcr.io/<owner>/switchyard-node-agent sha-<git sha> node-agent
# Exit 0 only after printing exactly one line, IMAGE@sha256:<64 hex digits>, the only reference the roll-outs
# hand to the hosts (they rely on that format and check nothing else). Otherwise exits non-zero, the reason on
# stderr in a line starting "[verify-image] REFUSED" (and in the GitHub step summary, GITHUB_STEP_SUMMARY, when
# there is one), and prints nothing on stdout.
#
#   1. `docker buildx imagetools inspect IMAGE:TAG`: the digest the tag points to now (the `Digest:` line of
#      its default output: the manifest list's, the digest the release workflow signed)
#   2. `cosign verify IMAGE@DIGEST` with the exact signer: the certificate's identity must be
#        https://github.com/OWNER/REPO/.github/workflows/release-COMPONENT.yml@refs/heads/main, or
#        …@refs/tags/COMPONENT-vX.Y.Z (a release tag), for OWNER/REPO = SIGNER_REPOSITORY,
#      its issuer GitHub Actions' OIDC issuer, and its GitHub workflow repository SIGNER_REPOSITORY. For a
#      TAG sha-<40 hex> also its GitHub workflow sha that commit (--certificate-github-workflow-sha): the run
#      that signed the digest built that commit, so a sha- tag moved to another digest our workflow signed
#      (another commit's build) is refused here, before anything is touched. A release from any other branch,
#      another workflow (the other component's), another repository, or no signature at all: refused.
#   3. every payload cosign verified must be an image signature, not an attestation (cosign 3 can accept an
#      attestation by the same signer too): critical.type "https://sigstore.dev/cosign/sign/v1" (cosign 3's
#      signature, in the new bundle format) or "cosign container image signature" (cosign 2's); and each must
#      name that same digest.
#
# Arguments: IMAGE (the repository, no tag: ghcr.io/<owner, lower case>/switchyard-<component>), TAG, COMPONENT
# (gateway | node-agent: whose release workflow must have signed it).
# Environment:
#   SIGNER_REPOSITORY   OWNER/REPO of this repository as GitHub spells it (the workflows pass github.repository;
#                       required: there is no default that would accept another repository's signature)
# Needs docker (with buildx), cosign and jq; a private image needs `docker login` to its registry first (cosign
# reads the same credentials).
set -euo pipefail

issuer=https://token.actions.githubusercontent.com

log() { printf '[verify-image] %s\n' "$*" >&2; }
summary() { if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then printf '%s\n' "$*" >>"$GITHUB_STEP_SUMMARY"; fi; }
refuse() {
  log "REFUSED ${image:-?}:${tag:-?}: $*"
  summary "**Not verified**: \`${image:-?}:${tag:-?}\`: $*"
  exit 1
}
usage() {
  echo "usage: verify-image.sh IMAGE TAG gateway|node-agent   (with SIGNER_REPOSITORY=owner/repo)" >&2
  exit 2
}

[ "$#" -eq 3 ] || usage
image=$1
tag=$2
component=$3

case $component in
  gateway | node-agent) ;;
  *) log "'$component' is no component: gateway or node-agent"; usage ;;
esac
[[ $image =~ ^[a-z0-9][a-z0-9._-]*(:[0-9]+)?(/[a-z0-9][a-z0-9._-]*)+$ ]] ||
  refuse "'$image' is not an image repository (registry/owner/name, lower case, without a tag or digest)"
[[ $tag =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || refuse "'$tag' is not an image tag"
if [ -z "${SIGNER_REPOSITORY:-}" ]; then
  refuse "set SIGNER_REPOSITORY to this repository as owner/repo (the workflows pass github.repository): only its release workflow's signature is accepted"
fi
[[ $SIGNER_REPOSITORY =~ ^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$ ]] || refuse "SIGNER_REPOSITORY '$SIGNER_REPOSITORY' is not owner/repo"
for tool in docker cosign jq; do
  command -v "$tool" >/dev/null 2>&1 || refuse "$tool is not installed here, so the image cannot be verified"
done

# The exact signer. GitHub names can hold '.', the only regular expression metacharacter they may contain; the
# expression is the same in Go's RE2 (cosign) and in POSIX ERE.
repo_re=${SIGNER_REPOSITORY//./\\.}
version_re='[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?([+][0-9A-Za-z.-]+)?'
identity_re="^https://github\\.com/${repo_re}/\\.github/workflows/release-${component}\\.yml@refs/(heads/main|tags/${component}-v${version_re})\$"
signer="release-${component}.yml of ${SIGNER_REPOSITORY} on refs/heads/main or a ${component}-vX.Y.Z tag"
# A sha-<commit> tag names the commit it was built from: the signing run must have run on it.
workflow_sha=''
if [[ $tag =~ ^sha-([0-9a-f]{40})$ ]]; then
  workflow_sha=${BASH_REMATCH[1]}
  signer+=", run on commit $workflow_sha"
fi
cosign_checks=(
  --certificate-identity-regexp "$identity_re"
  --certificate-oidc-issuer "$issuer"
  --certificate-github-workflow-repository "$SIGNER_REPOSITORY"
)
[ -z "$workflow_sha" ] || cosign_checks+=(--certificate-github-workflow-sha "$workflow_sha")

# 1. The digest the tag points to now.
if ! inspected=$(docker buildx imagetools inspect "$image:$tag" 2>&1); then
  printf '%s\n' "$inspected" | sed 's/^/  docker: /' >&2
  refuse "the tag was not found in the registry, or the registry refused to show it (a private image needs docker login): $(printf '%s\n' "$inspected" | grep -v '^[[:space:]]*$' | tail -n 1)"
fi
digest=$(printf '%s\n' "$inspected" | sed -n 's/^Digest:[[:space:]]*\(sha256:[0-9a-f]\{64\}\)[[:space:]]*$/\1/p' | head -n 1)
[ -n "$digest" ] || refuse "docker buildx imagetools inspect named no sha256 digest for it"
log "$image:$tag is $digest"

# 2. Its signature, by the exact signer.
errors=$(mktemp)
trap 'rm -f "$errors"' EXIT
if ! payloads=$(cosign verify "$image@$digest" "${cosign_checks[@]}" 2>"$errors"); then
  sed 's/^/  cosign: /' "$errors" >&2
  said=$(sed -n 's/^Error: //p' "$errors" | head -n 1)
  [ -n "$said" ] || said=$(grep -v '^[[:space:]]*$' "$errors" | tail -n 1 || true)
  why="unsigned, or signed by another identity"
  [ -z "$workflow_sha" ] || why+=", or built from another commit (a sha- tag moved to another build)"
  refuse "not signed by $signer ($why); cosign: ${said:-verify failed}"
fi

# 3. What cosign verified: image signatures only, each naming this digest. One value a line, per payload.
payload_field() {
  jq -r "if type == \"array\" and length > 0 then .[] | ((try ($1) catch null) // \"none\" | tostring) else error(\"no payload\") end" <<<"$payloads" 2>/dev/null | sort -u
}
# An image signature's critical.type: cosign 3's (a bundle whose statement has this predicate type), cosign 2's.
signature_types=('https://sigstore.dev/cosign/sign/v1' 'cosign container image signature')
types=$(payload_field '.critical.type') || refuse "cosign verify printed no signed payload to compare with $digest"
others=$(grep -vxF -e "${signature_types[0]}" -e "${signature_types[1]}" <<<"$types" | sed "s/.*/'&'/" | paste -sd ',' - || true)
[ -z "$others" ] || refuse "not an image signature: cosign verified a payload of type ${others//,/, } (an attestation, say," \
  "by the same signer: no release signature); only ${signature_types[0]} (cosign 3) or '${signature_types[1]}' (cosign 2)"
named=$(payload_field '.critical.image["docker-manifest-digest"]' | paste -sd ' ' -) ||
  refuse "cosign verify printed no signed payload to compare with $digest"
[ "$named" = "$digest" ] || refuse "digest mismatch: the tag resolves to $digest, but the signed payloads name ${named:-nothing}"

log "$image@$digest: signed by $signer (issuer $issuer)"
summary "Verified: \`$image@$digest\`, signed by $signer"
printf '%s@%s\n' "$image" "$digest"
