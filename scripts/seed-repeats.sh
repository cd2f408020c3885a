#!/usr/bin/env bash
# Seed repeats of a shipped study on a fixed cohort, plain export against heterogeneous export
# (docs/cohorts.md, "Seed repeats"). The cohort is exported once at the config's own seed; each
# run copies the config with another experiment seed (validation split, training, folds).
#
#   scripts/seed-repeats.sh TOMOFUSE_BIN CONFIG OUT_DIR SEED [SEED ...]
#
# Writes OUT_DIR/{plain,het}/ (the exports), OUT_DIR/run-{plain,het}-SEED/ (the runs) and
# OUT_DIR/summary.tsv (external/test Dice and every AUC of each run). SIDES="het" (or "plain")
# runs one side only, e.g. after a change to the heterogeneous export alone.
set -euo pipefail
sides=${SIDES:-plain het}
if [ $# -lt 4 ]; then
  sed -n '2,8p' "$0"; exit 2
fi
bin=$1; config=$2; out=$3; shift 3
mkdir -p "$out"
for side in $sides; do
  case $side in
    plain) [ -f "$out/plain/manifest.csv" ] || "$bin" cohort export --config "$config" --out "$out/plain" ;;
    het) [ -f "$out/het/manifest.csv" ] || "$bin" cohort export --config "$config" --out "$out/het" --heterogeneous ;;
    *) echo "SIDES: unknown side $side (plain, het)"; exit 2 ;;
  esac
done
for seed in "$@"; do
  copy="$out/config-$seed.toml"
  sed "s/^seed = .*/seed = $seed/" "$config" > "$copy"
  for side in $sides; do
    run="$out/run-$side-$seed"
    [ -f "$run/metrics.json" ] || "$bin" run "$copy" --manifest "$out/$side/manifest.csv" --out "$run" > "$run.log" 2>&1
  done
done
python3 - "$out" "$sides" "$@" <<'PY'
import json, sys
out, sides, seeds = sys.argv[1], sys.argv[2].split(), sys.argv[3:]
rows = []
for seed in seeds:
    for side in sides:
        r = json.load(open(f"{out}/run-{side}-{seed}/metrics.json"))["results"]
        ext = [s for s in r["sets"] if s["set"] == "external"][0]
        vals = {"dice": ext["dice_mean"]}
        if ext.get("classification"):
            vals["class_auc"] = ext["classification"]["auc"]
        for m in r.get("models", []):
            if m.get("test_auc") is not None:
                vals[m["name"]] = m["test_auc"]
        rows.append((seed, side, vals))
keys = sorted({k for _, _, v in rows for k in v})
with open(f"{out}/summary.tsv", "w") as f:
    f.write("seed\tside\t" + "\t".join(keys) + "\n")
    for seed, side, v in rows:
        f.write(f"{seed}\t{side}\t" + "\t".join(f"{v[k]:.4f}" if k in v else "" for k in keys) + "\n")
print(open(f"{out}/summary.tsv").read())
PY
