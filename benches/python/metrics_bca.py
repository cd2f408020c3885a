"""Reference BCa interval for the stratified bootstrap of the AUC: scipy.stats.bootstrap's own
BCa code (scipy.stats._resampling._bca_interval, private API of scipy >= 1.15) applied to the
replicates that tomofuse-metrics produced, with the AUC as a two-sample statistic
(positives, negatives) so the jackknife acceleration is scipy's multi-sample one.

Usage: python metrics_bca.py INPUT.json -> JSON on stdout.
INPUT: {"labels": [...], "scores": [...], "replicates": [...], "level": 0.95}
"""
import json
import sys

import numpy as np
import scipy.stats
from scipy.stats._resampling import _bca_interval


def auc2(pos, neg, axis=-1):
    """AUC of two samples along the last axis (ties 1/2), broadcasting leading axes."""
    pos = np.moveaxis(np.asarray(pos, float), axis, -1)
    neg = np.moveaxis(np.asarray(neg, float), axis, -1)
    d = pos[..., :, None] - neg[..., None, :]
    return ((d > 0) + 0.5 * (d == 0)).mean(axis=(-2, -1))


def main():
    with open(sys.argv[1]) as f:
        inp = json.load(f)
    y = np.asarray(inp["labels"], dtype=bool)
    s = np.asarray(inp["scores"], dtype=float)
    reps = np.asarray(inp["replicates"], dtype=float)
    alpha = (1 - inp["level"]) / 2
    try:
        from scipy._lib._array_api import array_namespace
        xp = array_namespace(reps)
    except ImportError:  # pragma: no cover
        xp = np
    a1, a2, a_hat = _bca_interval((s[y], s[~y]), auc2, axis=-1, alpha=alpha,
                                  theta_hat_b=reps, batch=None, xp=xp)
    ci = scipy.stats.quantile(reps, np.asarray([float(a1), float(a2)]))
    json.dump({"alpha_1": float(a1), "alpha_2": float(a2), "a_hat": float(a_hat),
               "lower": float(ci[0]), "upper": float(ci[1]),
               "percentile": [float(x) for x in scipy.stats.quantile(reps, np.asarray([alpha, 1 - alpha]))]},
              sys.stdout)


if __name__ == "__main__":
    main()
