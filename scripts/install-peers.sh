#!/usr/bin/env bash
# Installs the Python peers used by the cross-check tests and comparison scripts
# (SimpleITK, scikit-learn, xgboost, nibabel, ...) from .ci/requirements-*.txt, and NVRTC so
# CUDA kernels really compile to PTX on a machine with no GPU. Never part of the product.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${TOMOFUSE_PYTHON:-python3}
reqs=()
for f in .ci/requirements-*.txt; do [ -f "$f" ] && reqs+=(-r "$f"); done
if [ ${#reqs[@]} -gt 0 ]; then
  "$PY" -m pip install --quiet --disable-pip-version-check "${reqs[@]}"
fi
