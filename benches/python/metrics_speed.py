"""Speed of the 2000-resample stratified bootstrap CI of the AUC (n = 609): tomofuse-metrics
against a vectorised numpy version (and, with --sklearn-loop, a roc_auc_score loop).

Usage: python benches/python/metrics_speed.py [--sklearn-loop]
Builds and runs `cargo run --release -p tomofuse-metrics --example bootstrap_speed` on the same
data (set CARGO_TARGET_DIR as usual) and prints both timings and the ratio.
"""
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

N, B, SEED = 609, 2000, 7
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def make_data():
    rng = np.random.default_rng(SEED)
    y = (rng.random(N) < 0.3).astype(int)
    y[0], y[1] = 1, 0
    s = np.round(rng.normal(size=N) + 0.8 * y, 3)
    return y, s


def numpy_bootstrap(y, s, b=B, seed=SEED, return_samples=False):
    """Vectorised stratified bootstrap: dense integer ranks, per-row sort + one searchsorted."""
    _, codes = np.unique(s, return_inverse=True)
    pos, neg = codes[y == 1], codes[y == 0]
    n1, n0 = len(pos), len(neg)
    rng = np.random.default_rng(seed)
    p = pos[rng.integers(0, n1, size=(b, n1))]
    q = np.sort(neg[rng.integers(0, n0, size=(b, n0))], axis=1)
    if return_samples:
        return p, q
    off = (np.arange(b) * (codes.max() + 2))[:, None]
    flat = (q + off).ravel()
    pv = (p + off).ravel()
    lo = np.searchsorted(flat, pv, side="left").reshape(b, n1) - np.arange(b)[:, None] * n0
    hi = np.searchsorted(flat, pv, side="right").reshape(b, n1) - np.arange(b)[:, None] * n0
    auc = (lo + hi).sum(axis=1) / (2.0 * n1 * n0)
    return np.percentile(auc, [2.5, 97.5]), auc


def timeit(f, repeats):
    """Median wall time (ms); also the process CPU time per call, robust to a loaded machine."""
    f()
    t = []
    c0 = time.process_time()
    for _ in range(repeats):
        t0 = time.perf_counter()
        f()
        t.append((time.perf_counter() - t0) * 1e3)
    timeit.cpu_ms = (time.process_time() - c0) / repeats * 1e3
    return float(np.median(t))


def main():
    y, s = make_data()
    # Correctness of the numpy version on one resample set: against a naive pairwise AUC.
    _, reps = numpy_bootstrap(y, s, b=3)
    p, q = numpy_bootstrap(y, s, b=3, return_samples=True)
    for r in range(3):
        d = p[r][:, None] - q[r][None, :]
        naive = ((d > 0).sum() + 0.5 * (d == 0).sum()) / d.size
        assert abs(naive - reps[r]) < 1e-12, (naive, reps[r])
    np_ms = timeit(lambda: numpy_bootstrap(y, s), 30)
    np_cpu = timeit.cpu_ms
    with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as f:
        for a, b in zip(y, s):
            f.write(f"{a},{float(b)!r}\n")
        path = f.name
    cmd = ["cargo", "run", "-q", "--release", "-p", "tomofuse-metrics", "--example", "bootstrap_speed", "--", path, "200"]
    out = subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True).stdout
    rust = json.loads(out.strip().splitlines()[-1])
    print(f"n = {N}, resamples = {B}, prevalence = {y.mean():.3f}")
    print(f"numpy vectorised : {np_ms:8.2f} ms  (median of 30, CPU {np_cpu:.2f} ms/run)")
    print(f"tomofuse-metrics : {rust['median_ms']:8.3f} ms  (median of 200, min {rust['min_ms']:.3f}, "
          f"CPU {rust['cpu_ms_per_run']:.2f} ms/run over all threads, {rust['threads']} threads)"
          f"  AUC {rust['auc']:.4f} percentile {rust['percentile']} BCa {rust['bca']}")
    print(f"ratio numpy / tomofuse = {np_ms / rust['median_ms']:.1f}x wall (median), "
          f"{np_cpu / rust['cpu_ms_per_run']:.1f}x CPU time")
    if "--sklearn-loop" in sys.argv:
        from sklearn.metrics import roc_auc_score
        rng = np.random.default_rng(SEED)
        pi, ni = np.flatnonzero(y == 1), np.flatnonzero(y == 0)

        def loop():
            for _ in range(B):
                idx = np.concatenate([rng.choice(pi, len(pi)), rng.choice(ni, len(ni))])
                roc_auc_score(y[idx], s[idx])

        sk_ms = timeit(loop, 1)
        print(f"sklearn loop     : {sk_ms:8.1f} ms  ratio sklearn / tomofuse = {sk_ms / rust['median_ms']:.0f}x")
    os.unlink(path)


if __name__ == "__main__":
    main()
