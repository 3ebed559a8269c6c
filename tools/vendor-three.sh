#!/usr/bin/env bash
# Vendors three.js from the npm registry into the portal's embedded assets (run by hand when the
# pinned version changes; its output is committed, so building needs no network).
# The modules keep their code; only the bare specifier 'three' is rewritten to the vendored
# file's path, so the page needs no import map.
set -euo pipefail
VERSION=0.187.0
cd "$(dirname "$0")/.."
OUT=crates/ctplan-portal/assets/vendor/three
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
(cd "$TMP" && npm pack --silent "three@$VERSION" >/dev/null && tar xzf "three-$VERSION.tgz")
P="$TMP/package"
rm -rf "$OUT" && mkdir -p "$OUT"
cp "$P/LICENSE" "$OUT/LICENSE"
cp "$P/build/three.core.js" "$P/build/three.module.js" "$OUT/"
for f in controls/OrbitControls.js loaders/GLTFLoader.js utils/BufferGeometryUtils.js \
         utils/SkeletonUtils.js libs/meshopt_decoder.module.js; do
  mkdir -p "$OUT/$(dirname "$f")"
  sed "s#from 'three';#from '/assets/vendor/three/three.module.js';#" "$P/examples/jsm/$f" > "$OUT/$f"
done
{
  echo "three.js $VERSION from the npm registry (npm pack three@$VERSION), MIT licence (LICENSE)."
  echo "Vendored by tools/vendor-three.sh; sha256 of each file:"
  (cd "$OUT" && find . -name '*.js' | sort | xargs sha256sum)
} > "$OUT/VERSION.txt"
