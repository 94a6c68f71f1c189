#!/usr/bin/env bash
# Installs what test/notebook.test.ts needs to run examples/notebook.ipynb
# headlessly in both TypeScript kernels: Jupyter from Debian
# (/usr/bin/jupyter, nbconvert + nbclient), tslab from npm and Deno's kernel.
# Idempotent: each step is skipped when its result is already there.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

if [ ! -x /usr/bin/jupyter ] || ! /usr/bin/python3 -c 'import nbclient, ipykernel' 2>/dev/null; then
  if [ "$(id -u)" != 0 ]; then echo "install-jupyter: need root for apt-get (Jupyter from Debian)" >&2; exit 1; fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq jupyter-nbconvert python3-nbclient jupyter-client python3-ipykernel >/dev/null
fi

# tslab: a global npm install, then its kernel spec for the system Jupyter.
if ! command -v tslab >/dev/null; then
  # zeromq (the kernel transport) has an install script: allowed explicitly, as npm 12 requires.
  npm install -g --no-audit --no-fund --allow-scripts=zeromq tslab@1.0.22 >/dev/null
fi
if ! /usr/bin/jupyter kernelspec list 2>/dev/null | grep -qw tslab; then
  tslab install --python=/usr/bin/python3
fi

# Deno's kernel: `deno jupyter --install` writes the kernel spec.
bash "$root/scripts/install-deno.sh"
if ! /usr/bin/jupyter kernelspec list 2>/dev/null | grep -qw deno; then
  deno jupyter --install
fi
/usr/bin/jupyter kernelspec list
