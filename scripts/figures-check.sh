#!/usr/bin/env bash
# Runs both shipped experiments at their default profile and checks every figure the docs
# state for them (tests/figures/default.toml, docs/studies.md) at the printed precision.
#   scripts/figures-check.sh TOMOFUSE_BIN OUT_DIR
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:?tomofuse binary}
OUT=${2:?output directory}
# A rerun into a kept directory would reuse its stage caches; start clean.
rm -rf "$OUT"
mkdir -p "$OUT"
status=0
for exp in sap-multimodal crswnp-mtlnet; do
  t0=$(date +%s)
  "$BIN" run "experiments/$exp.toml" --out "$OUT/$exp" >"$OUT/$exp.log" 2>&1 || {
    echo "$exp: the run failed (log: $OUT/$exp.log)"; tail -20 "$OUT/$exp.log"; status=1; continue; }
  echo "$exp: $(($(date +%s) - t0)) s"
  python3 scripts/figures_check.py tests/figures/default.toml "$exp" "$OUT/$exp" || status=1
done
exit $status
