"""tomofuse.stats against scikit-learn and a plain numpy DeLong written here from
DeLong et al. (1988): structural components by pairwise comparison, no shared code."""

import dataclasses
import math

import numpy as np
import pytest

import tomofuse
from tomofuse import stats

skm = pytest.importorskip("sklearn.metrics")
skc = pytest.importorskip("sklearn.calibration")


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(20261206)
    n = 240
    y = rng.random(n) < 0.35
    # Two correlated scores with ties (rounded), the second weaker.
    latent = y * 1.1 + rng.normal(size=n)
    s1 = np.round(latent, 1)
    s2 = np.round(latent * 0.5 + rng.normal(size=n), 1)
    p = 1 / (1 + np.exp(-(latent - 0.4)))
    return y, s1, s2, p


def delong_numpy(y, scores):
    """AUCs and their covariance matrix, O(n1 n0) pairwise (DeLong 1988)."""
    y = np.asarray(y, bool)
    aucs, v10, v01 = [], [], []
    for s in scores:
        x, z = s[y], s[~y]
        psi = (x[:, None] > z[None, :]) + 0.5 * (x[:, None] == z[None, :])
        aucs.append(psi.mean())
        v10.append(psi.mean(axis=1))
        v01.append(psi.mean(axis=0))
    s10, s01 = np.atleast_2d(np.cov(v10)), np.atleast_2d(np.cov(v01))
    return np.array(aucs), s10 / y.sum() + s01 / (~y).sum()


def test_auc_matches_sklearn(data):
    y, s1, s2, _ = data
    for s in (s1, s2):
        r = stats.roc_auc(y, s)
        assert r.auc == pytest.approx(skm.roc_auc_score(y, s), abs=1e-12)
    # 0/1 integers and bools are the same outcome
    assert stats.roc_auc(y.astype(int), s1).auc == stats.roc_auc(y, s1).auc


def test_delong_ci_matches_numpy_delong(data):
    y, s1, _, _ = data
    aucs, cov = delong_numpy(y, [s1])
    se = math.sqrt(cov[0, 0])
    r = stats.roc_auc(y, s1, ci="delong")
    assert r.method == "delong" and r.level == 0.95
    assert r.std_error == pytest.approx(se, rel=1e-9)
    assert r.ci_lower == pytest.approx(aucs[0] - 1.959963984540054 * se, abs=1e-9)
    assert r.ci_upper == pytest.approx(aucs[0] + 1.959963984540054 * se, abs=1e-9)
    logit = stats.roc_auc(y, s1, ci="delong-logit")
    assert logit.ci_lower < logit.auc < logit.ci_upper and logit.ci_upper < 1


def test_delong_test_matches_numpy_delong(data):
    y, s1, s2, _ = data
    aucs, cov = delong_numpy(y, [s1, s2])
    se = math.sqrt(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    z = (aucs[0] - aucs[1]) / se
    p = math.erfc(abs(z) / math.sqrt(2))
    t = stats.delong_test(y, s1, s2)
    assert (t.auc1, t.auc2) == pytest.approx(tuple(aucs), abs=1e-12)
    assert t.z == pytest.approx(z, rel=1e-9)
    assert t.p_value == pytest.approx(p, rel=1e-7)
    assert t.ci_lower < t.difference < t.ci_upper


def test_bootstrap_ci(data):
    y, s1, _, _ = data
    a = stats.roc_auc(y, s1, ci="bootstrap", n_boot=500, seed=7)
    b = stats.roc_auc(y, s1, ci="bootstrap", n_boot=500, seed=7)
    c = stats.roc_auc(y, s1, ci="bootstrap", n_boot=500, seed=8)
    assert a == b and a != c
    assert a.auc == pytest.approx(skm.roc_auc_score(y, s1), abs=1e-12)
    assert a.ci_lower < a.auc < a.ci_upper
    # Percentile interval by hand from an independent stratified bootstrap: same ballpark.
    rng = np.random.default_rng(1)
    pos, neg = np.flatnonzero(y), np.flatnonzero(~y)
    reps = []
    for _ in range(500):
        idx = np.r_[rng.choice(pos, pos.size), rng.choice(neg, neg.size)]
        reps.append(skm.roc_auc_score(y[idx], s1[idx]))
    lo, hi = np.percentile(reps, [2.5, 97.5])
    assert a.ci_lower == pytest.approx(lo, abs=0.02) and a.ci_upper == pytest.approx(hi, abs=0.02)
    bca = stats.roc_auc(y, s1, ci="bootstrap-bca", n_boot=500, seed=7)
    assert bca.auc == a.auc and bca.ci_lower < bca.auc < bca.ci_upper


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
def test_calibration_matches_sklearn(data, strategy):
    y, _, _, p = data
    bins = stats.calibration(y, p, n_bins=8, strategy=strategy)
    true, pred = skc.calibration_curve(y, p, n_bins=8, strategy=strategy)
    np.testing.assert_allclose([b.observed_fraction for b in bins], true, atol=1e-12)
    np.testing.assert_allclose([b.mean_predicted for b in bins], pred, atol=1e-12)
    assert sum(b.count for b in bins) == len(y)
    assert dataclasses.asdict(bins[0]).keys() == {"mean_predicted", "observed_fraction", "count"}


def test_decision_curve_matches_formula(data):
    y, _, _, p = data
    pts = stats.decision_curve(y, p)
    assert [d.threshold for d in pts] == pytest.approx([i / 100 for i in range(1, 100)])
    n, prev = len(y), y.mean()
    for d in pts:
        t = d.threshold
        treat = p >= t
        nb = (treat & y).sum() / n - (treat & ~y).sum() / n * t / (1 - t)
        assert d.model == pytest.approx(nb, abs=1e-12)
        assert d.treat_all == pytest.approx(prev - (1 - prev) * t / (1 - t), abs=1e-12)
        assert d.treat_none == 0
    few = stats.decision_curve(y, p, thresholds=[0.2, 0.5])
    assert [d.threshold for d in few] == [0.2, 0.5]


# ---- bad input -------------------------------------------------------------------------


def test_bad_inputs():
    y, s = [0, 1, 0, 1], [0.1, 0.9, 0.3, 0.2]
    with pytest.raises(ValueError, match=r"y\[2\] = 2"):
        stats.roc_auc([0, 1, 2, 1], s)
    with pytest.raises(ValueError, match="1D"):
        stats.roc_auc(np.zeros((2, 2)), s)
    with pytest.raises(ValueError, match="ci must be"):
        stats.roc_auc(y, s, ci="wald")
    with pytest.raises(ValueError, match="n_boot"):
        stats.roc_auc(y, s, ci="bootstrap", n_boot=1)
    with pytest.raises(ValueError, match="numeric"):
        stats.roc_auc(y, ["a", "b", "c", "d"])
    with pytest.raises(tomofuse.Error, match="length mismatch"):
        stats.roc_auc(y, s[:3])
    with pytest.raises(tomofuse.Error):
        stats.roc_auc([1, 1, 1, 1], s)  # one class: AUC undefined
    with pytest.raises(tomofuse.Error, match="index 1"):
        stats.roc_auc(y, [0.1, float("nan"), 0.3, 0.2])
    with pytest.raises(tomofuse.Error, match="level"):
        stats.roc_auc(y, s, level=1.5)
    with pytest.raises(tomofuse.Error):
        stats.calibration(y, [0.1, 1.9, 0.3, 0.2])  # not a probability
    with pytest.raises(ValueError, match="strategy"):
        stats.calibration(y, s, strategy="kmeans")
    with pytest.raises(tomofuse.Error, match="threshold"):
        stats.decision_curve(y, s, thresholds=[0.5, 1.0])
    with pytest.raises(tomofuse.Error, match="length mismatch"):
        stats.delong_test(y, s, s[:3])
