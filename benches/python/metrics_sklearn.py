"""Independent references for tomofuse-metrics tests (scikit-learn, scipy, statsmodels, numpy).

Usage: python metrics_sklearn.py INPUT.json  -> JSON on stdout.
INPUT: {"cases": [{"labels": [0/1...], "scores": [...], "probs": [...], "threshold": t}],
        "wilson": [[successes, trials, level], ...], "chi2": [[x, df], ...], "ppf": [p, ...]}
Each reference is computed here from the published definition or the peer library, never
from tomofuse output.
"""
import json
import sys

import numpy as np
import scipy.stats
import statsmodels.api as sm
from sklearn.calibration import calibration_curve
from sklearn.metrics import brier_score_loss, confusion_matrix, roc_auc_score, roc_curve
from statsmodels.stats.proportion import proportion_confint


def hosmer_lemeshow(y, p, g):
    order = np.argsort(p, kind="stable")
    stat = 0.0
    for idx in np.array_split(order, g):
        o = y[idx].sum()
        e = p[idx].sum()
        n = len(idx)
        stat += (o - e) ** 2 / (e * (1 - e / n))
    df = g - 2
    return stat, df, float(scipy.stats.chi2.sf(stat, df))


def case(c):
    y = np.asarray(c["labels"], dtype=int)
    s = np.asarray(c["scores"], dtype=float)
    p = np.asarray(c["probs"], dtype=float)
    t = float(c["threshold"])
    out = {"auc": float(roc_auc_score(y, s))}
    for drop in (False, True):
        fpr, tpr, thr = roc_curve(y, s, drop_intermediate=drop)
        key = "roc_drop" if drop else "roc_full"
        # thresholds[0] is +inf (sklearn >= 1.3); JSON cannot carry it, report it separately.
        out[key] = {"fpr": fpr.tolist(), "tpr": tpr.tolist(), "thresholds": thr[1:].tolist(),
                    "first_is_inf": bool(np.isinf(thr[0]))}
    out["brier"] = float(brier_score_loss(y, p))
    out["confusion"] = confusion_matrix(y, (s >= t).astype(int), labels=[0, 1]).tolist()
    for strategy in ("uniform", "quantile"):
        pt, pp = calibration_curve(y, p, n_bins=10, strategy=strategy)
        out["calib_" + strategy] = {"prob_true": pt.tolist(), "prob_pred": pp.tolist()}
    lp = np.log(p / (1 - p))
    fit = sm.Logit(y, sm.add_constant(lp)).fit(disp=0, tol=1e-14, maxiter=200)
    citl = sm.GLM(y, np.ones((len(y), 1)), family=sm.families.Binomial(), offset=lp).fit(tol=1e-14)
    out["calibration"] = {"intercept": float(citl.params[0]), "slope": float(fit.params[1]),
                          "slope_fit_intercept": float(fit.params[0])}
    stat, df, pv = hosmer_lemeshow(y, p, 10)
    out["hl"] = {"statistic": float(stat), "df": df, "p_value": pv}
    return out


def main():
    with open(sys.argv[1]) as f:
        inp = json.load(f)
    out = {"cases": [case(c) for c in inp.get("cases", [])]}
    out["wilson"] = [list(proportion_confint(k, n, alpha=1 - lvl, method="wilson"))
                     for k, n, lvl in inp.get("wilson", [])]
    out["chi2"] = [float(scipy.stats.chi2.sf(x, df)) for x, df in inp.get("chi2", [])]
    out["ppf"] = [float(scipy.stats.norm.ppf(q)) for q in inp.get("ppf", [])]
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
