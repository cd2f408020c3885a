#!/usr/bin/env bash
# Builds and tests the Python package: a fresh venv (.venv-check, gitignored), `pip install
# ./python` exactly as a user would (maturin builds crates/tomofuse-py in release mode), the
# test peers (pytest, SimpleITK, nibabel, scikit-learn), then pytest on python/tests.
# Reference data comes from TOMOFUSE_SHARED or ../shared; under CI=true a missing folder
# fails the tests instead of skipping them. TOMOFUSE_CLI (default: a tomofuse binary in the
# cargo target folder) enables the value-for-value comparison with `tomofuse radiomics`.
# TOMOFUSE_PYRADIOMICS_PYTHON (an interpreter with PyRadiomics 3.0.1, e.g. /work/venv-rad/bin/python)
# runs python/tests/pyradiomics_example.py on PyRadiomics itself; without it the example is
# compared with PyRadiomics' stored output.
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
PY="${PYTHON:-python3}"
VENV="${TOMOFUSE_PY_VENV:-.venv-check}"
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet "./python[test]"
# The CLI-equality tests need a `tomofuse` binary: use one the workspace build left, if any.
if [ -z "${TOMOFUSE_CLI:-}" ]; then
  for b in "${CARGO_TARGET_DIR:-target}"/{debug,release}/tomofuse; do
    if [ -x "$b" ]; then export TOMOFUSE_CLI="$(cd "$(dirname "$b")" && pwd)/tomofuse"; break; fi
  done
fi
# The installed package is tested, not python/tomofuse: run from the root with the pytest
# entry point (`python -m pytest` inside python/ would import the uncompiled source tree).
exec "$VENV/bin/pytest" -ra python/tests "$@"
