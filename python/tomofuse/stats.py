"""Statistics for clinical prediction models, on tomofuse-metrics (the numbers of
``tomofuse stats``). Results are dataclasses; lists of them go straight into
``pandas.DataFrame(...)``.

``y`` is a binary outcome (bool, or 0/1 numbers); scores are finite numbers (any monotone
risk score for AUC/DeLong, probabilities in [0, 1] for calibration and decision curves).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, List, Optional, Sequence, cast

import numpy as np

from . import _native


@dataclass(frozen=True)
class AucResult:
    auc: float
    ci_lower: float
    ci_upper: float
    method: str
    level: float
    std_error: float


@dataclass(frozen=True)
class DelongTest:
    auc1: float
    auc2: float
    difference: float
    std_error: float
    z: float
    p_value: float
    ci_lower: float
    ci_upper: float
    level: float


@dataclass(frozen=True)
class CalibrationBin:
    mean_predicted: float
    observed_fraction: float
    count: int


@dataclass(frozen=True)
class DecisionPoint:
    threshold: float
    model: float
    treat_all: float
    treat_none: float


def _labels(y: Any) -> List[bool]:
    a = np.asarray(y)
    if a.ndim != 1:
        raise ValueError(f"y must be 1D, got shape {a.shape}")
    if a.dtype == np.bool_:
        return cast(List[bool], a.tolist())
    if not np.issubdtype(a.dtype, np.number):
        raise ValueError(f"y must be bool or 0/1 numbers, got dtype {a.dtype}")
    bad = ~np.isin(a, (0, 1))
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"y must hold only 0 and 1: y[{i}] = {a[i].item()!r}")
    return cast(List[bool], (a == 1).tolist())


def _scores(s: Any, name: str) -> List[float]:
    a = np.asarray(s)
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1D, got shape {a.shape}")
    if not (np.issubdtype(a.dtype, np.number) or a.dtype == np.bool_):
        raise ValueError(f"{name} must be numeric, got dtype {a.dtype}")
    return cast(List[float], a.astype(np.float64).tolist())


_CI = ("delong", "delong-logit", "bootstrap", "bootstrap-bca")


def roc_auc(
    y: Sequence[Any],
    score: Sequence[float],
    ci: str = "delong",
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> AucResult:
    """AUC with a confidence interval.

    ``ci``: ``"delong"`` (Wald on the DeLong variance), ``"delong-logit"``, ``"bootstrap"``
    (stratified bootstrap, percentile interval, as ``tomofuse stats`` reports) or
    ``"bootstrap-bca"``. ``n_boot`` and ``seed`` apply to the bootstrap (reproducible).
    """
    if ci not in _CI:
        raise ValueError(f"ci must be one of {', '.join(_CI)}, got {ci!r}")
    if int(n_boot) != n_boot or n_boot < 2:
        raise ValueError(f"n_boot must be an integer >= 2, got {n_boot!r}")
    if int(seed) != seed or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    auc, lo, hi, se = _native.roc_auc(_labels(y), _scores(score, "score"), ci, int(n_boot), int(seed), float(level))
    return AucResult(auc, lo, hi, ci, float(level), se)


def delong_test(y: Sequence[Any], s1: Sequence[float], s2: Sequence[float], level: float = 0.95) -> DelongTest:
    """Paired DeLong test of AUC(s1) = AUC(s2) on the same cases (two-sided p-value) with the
    Wald CI of the difference auc1 - auc2."""
    r = _native.delong_test(_labels(y), _scores(s1, "s1"), _scores(s2, "s2"), float(level))
    return DelongTest(*r, level=float(level))


def calibration(
    y: Sequence[Any], p: Sequence[float], n_bins: int = 10, strategy: str = "uniform"
) -> List[CalibrationBin]:
    """Binned calibration curve with scikit-learn's ``calibration_curve`` rules (empty bins
    dropped); ``strategy`` is ``"uniform"`` or ``"quantile"``."""
    if int(n_bins) != n_bins or n_bins < 1:
        raise ValueError(f"n_bins must be an integer >= 1, got {n_bins!r}")
    return [CalibrationBin(*b) for b in _native.calibration(_labels(y), _scores(p, "p"), int(n_bins), strategy)]


def decision_curve(
    y: Sequence[Any], p: Sequence[float], thresholds: Optional[Sequence[float]] = None
) -> List[DecisionPoint]:
    """Net benefit of the model, treat-all and treat-none (Vickers & Elkin 2006) at each
    threshold probability in (0, 1); default 0.01, 0.02, ..., 0.99 as ``tomofuse stats``."""
    t = [i / 100 for i in range(1, 100)] if thresholds is None else _scores(thresholds, "thresholds")
    return [DecisionPoint(*d) for d in _native.decision_curve(_labels(y), _scores(p, "p"), t)]


__all__ = [
    "AucResult",
    "DelongTest",
    "CalibrationBin",
    "DecisionPoint",
    "roc_auc",
    "delong_test",
    "calibration",
    "decision_curve",
]
