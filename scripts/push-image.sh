#!/usr/bin/env bash
# Tag the smoke-tested image with every tag the metadata action produced (newline-separated in
# TAGS) and push each: what is pushed is exactly what passed the smoke test.
set -euo pipefail
source_tag="$1"
engine="${ENGINE:-docker}"
pushed=0
while IFS= read -r tag; do
  [ -n "$tag" ] || continue
  "$engine" tag "$source_tag" "$tag"
  "$engine" push "$tag"
  pushed=$((pushed + 1))
done <<< "${TAGS:?TAGS must list the tags to push}"
[ "$pushed" -gt 0 ] || { echo "no tags to push" >&2; exit 1; }
echo "pushed $pushed tags"
