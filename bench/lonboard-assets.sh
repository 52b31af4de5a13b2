#!/usr/bin/env bash
# The files lonboard 0.16.0's HTML page loads from CDNs, from their npm packages, for
# bench/map.py --lonboard-assets (default /tmp/lonboard-assets). The versions are the ones the
# page names: parquet-wasm 0.7.1, @geoarrow/geoarrow-js 0.3.0, @jupyter-widgets/html-manager
# ^1.0.1, require.js 2.3 (npm's requirejs package: the unminified file, not the CDN's).
# Usage: bash bench/lonboard-assets.sh [FOLDER]
set -euo pipefail
out="${1:-/tmp/lonboard-assets}"
mkdir -p "$out"
cd "$out"
fetch() {  # fetch NAME SPEC: npm pack SPEC, unpacked in NAME/package
    rm -rf "$1"
    mkdir -p "$1"
    tarball=$(npm pack --silent "$2" --pack-destination "$1" | tail -1)
    tar -xzf "$1/$tarball" -C "$1"
    rm "$1/$tarball"
}
fetch requirejs "requirejs@2.3"
fetch html-manager "@jupyter-widgets/html-manager@^1.0.1"
fetch parquet-wasm "parquet-wasm@0.7.1"
fetch geoarrow-js "@geoarrow/geoarrow-js@0.3.0"
echo "lonboard's assets in $out"
