#!/usr/bin/env bash
# Installs the Python peers the cross-check tests compare against (SimpleITK, scikit-learn,
# statsmodels, xgboost, nibabel, pydicom + OpenJPEG, jsonschema), NVRTC so CUDA kernels
# really compile to PTX on a machine with no GPU, and Node.js (Debian `nodejs`), which runs the
# report's interactive 3D view script in a test. Test tooling only, never part of the product.
# The PyRadiomics and PyTorch speed comparisons are not installed here (see benches/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${TOMOFUSE_PYTHON:-python3}
"$PY" -m pip install --quiet --disable-pip-version-check --only-binary=:all: \
  -r .ci/requirements-io.txt -r .ci/requirements-metrics.txt -r .ci/requirements-prep.txt \
  -r .ci/requirements-cohort.txt
# xgboost-cpu 3.4.1 declares Python >= 3.12 but is pure Python plus the shared library and
# works on 3.11 (verified); its only dependencies (numpy, scipy) are installed above.
"$PY" -m pip install --quiet --disable-pip-version-check --ignore-requires-python --no-deps \
  "xgboost-cpu==3.4.1"
# Node.js runs the report's 3D-view script in tomofuse-metrics' viewer test.
if ! command -v node >/dev/null; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs >/dev/null
  else
    echo "install-peers: node not found and cannot apt-get install nodejs (not root): the 3D-view script test will skip" >&2
  fi
fi
