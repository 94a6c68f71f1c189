#!/usr/bin/env bash
# Puts a `deno` on PATH (/usr/local/bin/deno, or DENO_BIN_DIR) for Jupyter's
# Deno kernel: the binary scripts/runtimes.sh installs from the npm registry
# (one pinned version for the smoke tests and the kernel). Idempotent.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
source="$(bash "$root/scripts/runtimes.sh" path deno)"
target="${DENO_BIN_DIR:-/usr/local/bin}/deno"
if [ -x "$target" ] && [ "$("$target" --version | head -n 1)" = "$("$source" --version | head -n 1)" ]; then
  exit 0
fi
install -m 0755 "$source" "$target"
"$target" --version | head -n 1
