"""Training speed of Python xgboost on the data tomofuse trained on, side by side with the
Rust time, printing the ratio. Run by the ignored test
`cargo test -p tomofuse-fusion --test xgb_python -- --ignored xgb_speed --nocapture`, which
times the Rust binding, writes the data (same format as xgb_compare.py, train part only) and
calls: python xgb_speed.py DIR --rust-seconds S [--repeats R]

Both sides time DMatrix construction plus `n_rounds` boosting rounds, median of R runs, with
the identical parameter list (including nthread).
"""

import argparse
import json
import os
import statistics
import time

import numpy as np
import xgboost as xgb


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--rust-seconds", type=float, default=None)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    with open(os.path.join(a.dir, "meta.json")) as f:
        meta = json.load(f)
    p = meta["p"]
    x = np.fromfile(os.path.join(a.dir, "train_x.f32"), dtype="<f4").reshape(meta["n_train"], p)
    y = np.fromfile(os.path.join(a.dir, "train_y.u8"), dtype=np.uint8).astype(np.float32)
    params = {k: v for k, v in meta["params"]}
    times = []
    for _ in range(a.repeats):
        t0 = time.perf_counter()
        d = xgb.DMatrix(x, label=y, missing=np.nan)
        xgb.train(params, d, num_boost_round=meta["n_rounds"], verbose_eval=False)
        times.append(time.perf_counter() - t0)
    py = statistics.median(times)
    print(f"python xgboost {xgb.__version__}: n={meta['n_train']} p={p} rounds={meta['n_rounds']} "
          f"median {py:.3f} s over {a.repeats} runs ({', '.join(f'{t:.3f}' for t in times)})")
    if a.rust_seconds is not None:
        print(f"rust tomofuse-fusion: median {a.rust_seconds:.3f} s")
        print(f"ratio rust/python = {a.rust_seconds / py:.3f}")


if __name__ == "__main__":
    main()
