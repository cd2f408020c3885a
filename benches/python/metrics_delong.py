"""Reference fast DeLong (Sun & Xu 2014, IEEE Signal Processing Letters 21(11):1389-1393),
written from the published algorithm in the widely used numpy form.

Usage: python metrics_delong.py INPUT.json -> JSON on stdout.
INPUT: {"cases": [{"labels": [0/1...], "scores1": [...], "scores2": [...]}]}
OUTPUT per case: aucs, the 2x2 DeLong covariance, z and two-sided p of the paired test.
"""
import json
import sys

import numpy as np
import scipy.stats


def compute_midrank(x):
    """Midranks (1-based) of x; ties share the average rank (Sun & Xu, Algorithm 1)."""
    order = np.argsort(x)
    z = x[order]
    n = len(x)
    t = np.zeros(n, dtype=float)
    i = 0
    while i < n:
        j = i
        while j < n and z[j] == z[i]:
            j += 1
        t[i:j] = 0.5 * (i + j - 1)
        i = j
    out = np.empty(n, dtype=float)
    out[order] = t + 1
    return out


def fast_delong(predictions_sorted_transposed, label_1_count):
    """predictions_sorted_transposed: (k models, n cases) with the positives first."""
    m = label_1_count
    n = predictions_sorted_transposed.shape[1] - m
    pos = predictions_sorted_transposed[:, :m]
    neg = predictions_sorted_transposed[:, m:]
    k = predictions_sorted_transposed.shape[0]
    tx = np.empty([k, m])
    ty = np.empty([k, n])
    tz = np.empty([k, m + n])
    for r in range(k):
        tx[r, :] = compute_midrank(pos[r, :])
        ty[r, :] = compute_midrank(neg[r, :])
        tz[r, :] = compute_midrank(predictions_sorted_transposed[r, :])
    aucs = tz[:, :m].sum(axis=1) / m / n - float(m + 1.0) / 2.0 / n
    v01 = (tz[:, :m] - tx[:, :]) / n
    v10 = 1.0 - (tz[:, m:] - ty[:, :]) / m
    sx = np.atleast_2d(np.cov(v01))
    sy = np.atleast_2d(np.cov(v10))
    return aucs, sx / m + sy / n


def delong_roc_test(labels, s1, s2):
    order = (-labels).argsort(kind="stable")
    m = int(labels.sum())
    preds = np.vstack((s1, s2))[:, order]
    aucs, cov = fast_delong(preds, m)
    l = np.array([[1, -1]])
    z = float(np.abs(np.diff(aucs))[0] / np.sqrt((l @ cov @ l.T)[0, 0]))
    p = float(2 * scipy.stats.norm.sf(z))
    return aucs, cov, z, p


def main():
    with open(sys.argv[1]) as f:
        inp = json.load(f)
    out = []
    for c in inp["cases"]:
        y = np.asarray(c["labels"], dtype=int)
        aucs, cov, z, p = delong_roc_test(y, np.asarray(c["scores1"], float), np.asarray(c["scores2"], float))
        out.append({"aucs": aucs.tolist(), "cov": cov.tolist(), "z": z, "p": p})
    json.dump({"cases": out}, sys.stdout)


if __name__ == "__main__":
    main()
