"""Cross-check of tomofuse's XGBoost binding against Python xgboost on the same data and
parameters. Used by crates/tomofuse-fusion/tests/xgb_python.rs, which writes the inputs.

Input folder (written by the Rust test):
  meta.json  {"p": int, "n_train": int, "n_valid": int, "n_test": int,
              "params": [[key, value], ...], "n_rounds": int, "early_stopping_rounds": int|null}
  train_x.f32, valid_x.f32, test_x.f32   row-major float32, NaN = missing
  train_y.u8, valid_y.u8                 0/1 labels
Output: out.json with Python's probabilities, margins, SHAP contributions (bias last) and
best iteration for the test rows.

Usage: python xgb_compare.py DIR
"""

import json
import os
import sys

import numpy as np
import xgboost as xgb


def load(d, name, n, p):
    x = np.fromfile(os.path.join(d, name + "_x.f32"), dtype="<f4")
    return x.reshape(n, p)


def main():
    d = sys.argv[1]
    with open(os.path.join(d, "meta.json")) as f:
        meta = json.load(f)
    p = meta["p"]
    xt = load(d, "train", meta["n_train"], p)
    yt = np.fromfile(os.path.join(d, "train_y.u8"), dtype=np.uint8).astype(np.float32)
    xs = load(d, "test", meta["n_test"], p)
    dtrain = xgb.DMatrix(xt, label=yt, missing=np.nan)
    params = {k: v for k, v in meta["params"]}
    evals = []
    if meta["n_valid"] > 0:
        xv = load(d, "valid", meta["n_valid"], p)
        yv = np.fromfile(os.path.join(d, "valid_y.u8"), dtype=np.uint8).astype(np.float32)
        evals = [(xgb.DMatrix(xv, label=yv, missing=np.nan), "valid")]
    bst = xgb.train(
        params,
        dtrain,
        num_boost_round=meta["n_rounds"],
        evals=evals,
        early_stopping_rounds=meta["early_stopping_rounds"],
        verbose_eval=False,
    )
    dtest = xgb.DMatrix(xs, missing=np.nan)
    best = None
    rng = (0, 0)
    if meta["early_stopping_rounds"] is not None:
        best = int(bst.best_iteration)
        rng = (0, best + 1)
    out = {
        "xgboost_version": xgb.__version__,
        "best_iteration": best,
        "prob": bst.predict(dtest, iteration_range=rng).astype(float).tolist(),
        "margin": bst.predict(dtest, output_margin=True, iteration_range=rng).astype(float).tolist(),
        "contrib": bst.predict(dtest, pred_contribs=True, iteration_range=rng).astype(float).ravel().tolist(),
    }
    if len(sys.argv) > 2:
        # A model saved by tomofuse (XGBoost JSON) must load here and predict the same.
        loaded = xgb.Booster(model_file=sys.argv[2])
        out["loaded_prob"] = loaded.predict(dtest).astype(float).tolist()
    with open(os.path.join(d, "out.json"), "w") as f:
        json.dump(out, f)
    print(f"python xgboost {xgb.__version__}: best_iteration={best}")


if __name__ == "__main__":
    main()
