#!/usr/bin/env bash
# One-time, idempotent setup of what the build needs beyond crates.io: the XGBoost shared
# library (from its PyPI wheel) in third_party/lib. Safe to run before every command.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/fetch-libxgboost.sh
