//! Calibration of predicted probabilities: Brier score, logistic recalibration (intercept and
//! slope), binned calibration curve, Hosmer-Lemeshow test, and decision-curve net benefit.

use crate::error::{MetricsError, Result, check_probabilities, check_scores};
use crate::special::chi2_sf;
use serde::Serialize;

fn check_probs(labels: &[bool], p: &[f64]) -> Result<()> {
    check_scores(labels, p, "probabilities")?;
    check_probabilities(p, "probabilities")
}

/// Brier score: mean squared difference between probability and outcome (0/1).
pub fn brier(labels: &[bool], p: &[f64]) -> Result<f64> {
    check_probs(labels, p)?;
    Ok(labels
        .iter()
        .zip(p)
        .map(|(&y, &q)| (q - y as u8 as f64).powi(2))
        .sum::<f64>()
        / p.len() as f64)
}

/// Probabilities are clipped to [CLIP, 1 − CLIP] before logit() so 0 and 1 stay finite.
pub const LOGIT_CLIP: f64 = 1e-12;

/// Logistic recalibration on x = logit(p).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct CalibrationFit {
    /// Calibration-in-the-large: α in logit P(y) = α + logit(p) (slope fixed to 1, logit(p) as
    /// offset). 0 when the mean risk is right.
    pub intercept: f64,
    /// Calibration slope: β in logit P(y) = a + β·logit(p). 1 is ideal; < 1 means predictions
    /// are too extreme (overfitting).
    pub slope: f64,
    /// The a of that joint (a, β) fit.
    pub slope_fit_intercept: f64,
}

fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

fn log_lik(y: &[f64], eta: impl Iterator<Item = f64>) -> f64 {
    // log(1 + e^η) computed stably.
    y.iter()
        .zip(eta)
        .map(|(&y, e)| y * e - (e.max(0.0) + (-e.abs()).exp().ln_1p()))
        .sum()
}

/// Newton-Raphson for the logistic model η = a + b·x (b fixed at 1 and x used as an offset when
/// `fit_slope` is false), with step halving. Returns (a, b).
fn logistic_newton(y: &[f64], x: &[f64], fit_slope: bool) -> Result<(f64, f64)> {
    let (mut a, mut b) = (0.0, 1.0);
    let mut ll = log_lik(y, x.iter().map(|&xi| a + b * xi));
    for _ in 0..200 {
        let (mut g0, mut g1, mut h00, mut h01, mut h11) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for (&yi, &xi) in y.iter().zip(x) {
            let mu = sigmoid(a + b * xi);
            let w = mu * (1.0 - mu);
            g0 += yi - mu;
            g1 += (yi - mu) * xi;
            h00 += w;
            h01 += w * xi;
            h11 += w * xi * xi;
        }
        let (da, db) = if fit_slope {
            let det = h00 * h11 - h01 * h01;
            if det.abs() <= 1e-300 || det.is_nan() {
                return Err(MetricsError::NoConvergence {
                    what: "calibration slope (singular Hessian: constant predictions or separation)",
                    iterations: 0,
                });
            }
            ((h11 * g0 - h01 * g1) / det, (h00 * g1 - h01 * g0) / det)
        } else {
            if h00 <= 1e-300 || h00.is_nan() {
                return Err(MetricsError::NoConvergence {
                    what: "calibration intercept",
                    iterations: 0,
                });
            }
            (g0 / h00, 0.0)
        };
        let mut step = 1.0;
        let mut accepted = false;
        for _ in 0..40 {
            let (na, nb) = (a + step * da, b + step * db);
            let nll = log_lik(y, x.iter().map(|&xi| na + nb * xi));
            if nll >= ll - 1e-12 * ll.abs() {
                a = na;
                b = nb;
                ll = nll;
                accepted = true;
                break;
            }
            step *= 0.5;
        }
        let small = (step * da).abs() < 1e-11 * (1.0 + a.abs())
            && (step * db).abs() < 1e-11 * (1.0 + b.abs());
        if small || !accepted {
            return Ok((a, b));
        }
    }
    Err(MetricsError::NoConvergence {
        what: "logistic recalibration (perfect separation?)",
        iterations: 200,
    })
}

/// Calibration intercept (in the large) and slope by logistic recalibration on logit(p).
pub fn calibration_fit(labels: &[bool], p: &[f64]) -> Result<CalibrationFit> {
    check_probs(labels, p)?;
    crate::error::check_two_classes(labels)?;
    let y: Vec<f64> = labels.iter().map(|&l| l as u8 as f64).collect();
    let x: Vec<f64> = p
        .iter()
        .map(|&q| {
            let q = q.clamp(LOGIT_CLIP, 1.0 - LOGIT_CLIP);
            (q / (1.0 - q)).ln()
        })
        .collect();
    let (intercept, _) = logistic_newton(&y, &x, false)?;
    let (a, slope) = logistic_newton(&y, &x, true)?;
    Ok(CalibrationFit {
        intercept,
        slope,
        slope_fit_intercept: a,
    })
}

/// How calibration bins are formed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BinStrategy {
    /// Equal-width bins on [0, 1].
    Uniform,
    /// Bin edges at quantiles of the predictions.
    Quantile,
}

/// One non-empty calibration bin.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct CalibrationBin {
    pub mean_predicted: f64,
    pub observed_fraction: f64,
    pub count: usize,
}

/// Binned calibration curve, as scikit-learn's `calibration_curve`: inner edges assign a
/// prediction equal to an edge to the lower bin (`searchsorted(side="left")`), empty bins are
/// dropped.
pub fn calibration_curve(
    labels: &[bool],
    p: &[f64],
    n_bins: usize,
    strategy: BinStrategy,
) -> Result<Vec<CalibrationBin>> {
    check_probs(labels, p)?;
    if n_bins == 0 {
        return Err(MetricsError::InvalidArgument {
            name: "n_bins",
            reason: "must be >= 1".into(),
        });
    }
    let edges: Vec<f64> = match strategy {
        BinStrategy::Uniform => (0..=n_bins).map(|i| i as f64 / n_bins as f64).collect(),
        BinStrategy::Quantile => {
            let mut s = p.to_vec();
            s.sort_unstable_by(f64::total_cmp);
            (0..=n_bins)
                .map(|i| crate::bootstrap::quantile_sorted(&s, i as f64 / n_bins as f64))
                .collect()
        }
    };
    let inner = &edges[1..n_bins];
    let mut sum_p = vec![0.0; n_bins];
    let mut sum_y = vec![0.0; n_bins];
    let mut cnt = vec![0usize; n_bins];
    for (&y, &q) in labels.iter().zip(p) {
        let b = inner.partition_point(|&e| e < q);
        sum_p[b] += q;
        sum_y[b] += y as u8 as f64;
        cnt[b] += 1;
    }
    Ok((0..n_bins)
        .filter(|&b| cnt[b] > 0)
        .map(|b| CalibrationBin {
            mean_predicted: sum_p[b] / cnt[b] as f64,
            observed_fraction: sum_y[b] / cnt[b] as f64,
            count: cnt[b],
        })
        .collect())
}

/// One Hosmer-Lemeshow risk group.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct HlGroup {
    pub n: usize,
    pub observed: f64,
    pub expected: f64,
}

/// Hosmer-Lemeshow goodness-of-fit result.
#[derive(Debug, Clone, Serialize)]
pub struct HosmerLemeshow {
    pub statistic: f64,
    pub df: usize,
    pub p_value: f64,
    pub groups: Vec<HlGroup>,
}

/// Hosmer-Lemeshow test with `g` groups of (near) equal size after sorting by predicted risk
/// (numpy `array_split` sizes: the first n mod g groups get one extra case; ties are split by
/// input order). H = Σ (O − E)² / (E (1 − E/n_g)), df = g − 2, p from the χ² survival function.
pub fn hosmer_lemeshow(labels: &[bool], p: &[f64], g: usize) -> Result<HosmerLemeshow> {
    check_probs(labels, p)?;
    if g < 3 || g > p.len() {
        return Err(MetricsError::InvalidArgument {
            name: "groups",
            reason: format!("{g} (need 3 <= groups <= number of cases {})", p.len()),
        });
    }
    let mut order: Vec<usize> = (0..p.len()).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let (base, extra) = (p.len() / g, p.len() % g);
    let mut groups = Vec::with_capacity(g);
    let mut start = 0;
    let mut stat = 0.0;
    for k in 0..g {
        let len = base + usize::from(k < extra);
        let idx = &order[start..start + len];
        start += len;
        let observed: f64 = idx.iter().map(|&i| labels[i] as u8 as f64).sum();
        let expected: f64 = idx.iter().map(|&i| p[i]).sum();
        let var = expected * (1.0 - expected / len as f64);
        if var <= 0.0 || var.is_nan() {
            return Err(MetricsError::InvalidArgument {
                name: "probabilities",
                reason: format!(
                    "Hosmer-Lemeshow group {k} has all predictions 0 or 1 (zero variance)"
                ),
            });
        }
        stat += (observed - expected).powi(2) / var;
        groups.push(HlGroup {
            n: len,
            observed,
            expected,
        });
    }
    let df = g - 2;
    Ok(HosmerLemeshow {
        statistic: stat,
        df,
        p_value: chi2_sf(stat, df as f64),
        groups,
    })
}

/// Net benefit at one threshold probability.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct DecisionPoint {
    pub threshold: f64,
    pub model: f64,
    pub treat_all: f64,
    pub treat_none: f64,
}

/// Decision curve (Vickers & Elkin 2006): net benefit = TP/n − FP/n · pₜ/(1 − pₜ), treating
/// cases with p ≥ pₜ; treat-all uses prevalence; treat-none is 0. Thresholds in (0, 1).
pub fn decision_curve(
    labels: &[bool],
    p: &[f64],
    thresholds: &[f64],
) -> Result<Vec<DecisionPoint>> {
    check_probs(labels, p)?;
    let n = p.len() as f64;
    let prev = labels.iter().filter(|&&l| l).count() as f64 / n;
    thresholds
        .iter()
        .enumerate()
        .map(|(i, &t)| {
            if !(t > 0.0 && t < 1.0) {
                return Err(MetricsError::OutOfRange {
                    what: "decision thresholds",
                    index: i,
                    value: t,
                    range: "(0, 1)",
                });
            }
            let w = t / (1.0 - t);
            let (mut tp, mut fp) = (0.0, 0.0);
            for (&y, &q) in labels.iter().zip(p) {
                if q >= t {
                    if y {
                        tp += 1.0;
                    } else {
                        fp += 1.0;
                    }
                }
            }
            Ok(DecisionPoint {
                threshold: t,
                model: tp / n - fp / n * w,
                treat_all: prev - (1.0 - prev) * w,
                treat_none: 0.0,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Perfectly calibrated by construction: outcome frequencies equal the predictions in each
    /// stratum, so the ML recalibration is exactly intercept 0, slope 1 (score equations hold).
    #[test]
    fn perfect_calibration_is_identity() {
        let mut labels = Vec::new();
        let mut p = Vec::new();
        for (q, pos, tot) in [(0.2, 1, 5), (0.5, 2, 4), (0.75, 3, 4), (0.1, 1, 10)] {
            for k in 0..tot {
                labels.push(k < pos);
                p.push(q);
            }
        }
        let fit = calibration_fit(&labels, &p).unwrap();
        assert!(fit.intercept.abs() < 1e-9, "{fit:?}");
        assert!((fit.slope - 1.0).abs() < 1e-9, "{fit:?}");
        assert!(fit.slope_fit_intercept.abs() < 1e-9, "{fit:?}");
    }

    /// Hand computation: n = 4, prevalence 1/2, threshold 1/3 (odds 1/2); predictions
    /// [0.9 (y=1), 0.4 (y=0), 0.2 (y=1), 0.1 (y=0)] -> TP = 1, FP = 1: NB = 1/4 − 1/4·1/2 = 1/8;
    /// treat-all = 1/2 − 1/2·1/2 = 1/4.
    #[test]
    fn net_benefit_by_hand() {
        let d = decision_curve(
            &[true, false, true, false],
            &[0.9, 0.4, 0.2, 0.1],
            &[1.0 / 3.0],
        )
        .unwrap();
        assert!((d[0].model - 0.125).abs() < 1e-15);
        assert!((d[0].treat_all - 0.25).abs() < 1e-15);
    }
}
