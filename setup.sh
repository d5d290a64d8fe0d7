#!/usr/bin/env bash
# One command to set everything up on a fresh machine: a virtual environment in .venv with the
# project, its test tools and a CPU build of PyTorch. GPU users: see README ("CUDA").
set -euo pipefail
cd "$(dirname "$0")"
PY="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  # TORCH_SPEC lets a GPU user choose, e.g. TORCH_SPEC="torch --index-url https://download.pytorch.org/whl/cu124"
  .venv/bin/python -m pip install -q ${TORCH_SPEC:-torch==2.13.0}
fi
# cluster: Ray (mam-batch --ray, mam-server --ray); the tests run a real local Ray, so it is part of the setup.
.venv/bin/python -m pip install -q -e ".[test,cluster]"
echo "ready: .venv/bin/python -m pytest (tests) · .venv/bin/mam-install (plugins for Krita and GIMP) · .venv/bin/mam-server (the daemon)"
