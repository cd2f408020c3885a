#!/usr/bin/env bash
# One-time, idempotent setup of the native pieces the build needs beyond crates.io, all into
# third_party/ (gitignored) and all from PyPI wheels, so a fresh machine with Rust and Python
# needs nothing else: the XGBoost shared library (third_party/lib) and libclang for bindgen
# (third_party/libclang; a system libclang is linked instead when one is installed).
# Safe to run before every command.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/fetch-libxgboost.sh
scripts/fetch-libclang.sh
