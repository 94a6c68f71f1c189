#!/usr/bin/env bash
# Puts a `deno` on PATH (/usr/local/bin/deno) from the npm registry's
# @deno/linux-x64-glibc package (the binary the `deno` npm package installs),
# since npm is the only registry CI reaches. Idempotent: does nothing when the
# wanted version is already installed. Override with DENO_VERSION.
set -euo pipefail
version="${DENO_VERSION:-2.9.6}"
target="${DENO_BIN_DIR:-/usr/local/bin}/deno"
if [ -x "$target" ] && "$target" --version 2>/dev/null | grep -q "^deno $version "; then
  exit 0
fi
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
(cd "$scratch" && npm pack --silent "@deno/linux-x64-glibc@$version" >/dev/null && tar -xzf ./*.tgz)
binary="$(find "$scratch/package" -type f -name deno | head -n 1)"
if [ -z "$binary" ]; then echo "install-deno: no deno binary in @deno/linux-x64-glibc@$version" >&2; exit 1; fi
install -m 0755 "$binary" "$target"
"$target" --version | head -n 1
