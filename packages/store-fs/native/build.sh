#!/usr/bin/env bash
# Builds the prebuilt addon shipped in prebuilds/<platform>-<arch>/ with the C
# compiler alone (no node-gyp, no Python). Node-API is ABI-stable, so the
# headers of any Node >= 20 give a binary that loads in Node 20, 22 and 24,
# Bun and Deno. Usage: bash native/build.sh [path/to/node/include/node]
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
INCLUDE="${1:-$(dirname "$(dirname "$(node -p process.execPath)")")/include/node}"
PLATFORM="$(node -p 'process.platform + "-" + process.arch')"
OUT="$HERE/../prebuilds/$PLATFORM"
mkdir -p "$OUT"
# -O3 for the xxh64 loop; -fvisibility=hidden leaves only napi_register_module_v1 exported.
"${CC:-gcc}" -std=c11 -D_GNU_SOURCE -O3 -fPIC -shared -fvisibility=hidden -Wall -Wextra -Werror \
  -I"$INCLUDE" -o "$OUT/larder_mmap.node" "$HERE/larder_mmap.c"
strip --strip-unneeded "$OUT/larder_mmap.node"
echo "built $OUT/larder_mmap.node against $INCLUDE"
