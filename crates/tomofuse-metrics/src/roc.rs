//! ROC curve and AUC. Ties get half credit (the Mann-Whitney U statistic), which equals the
//! trapezoidal area under scikit-learn's `roc_curve`.

use crate::error::{Result, check_scores, check_two_classes};
use serde::Serialize;

/// Observations grouped by distinct score, ascending; the basis of the AUC, the ROC curve and
/// the fast bootstrap (a resample only changes the per-group counts).
#[derive(Debug, Clone)]
pub(crate) struct TieGroups {
    /// Distinct scores, ascending.
    pub values: Vec<f64>,
    pub pos: Vec<u32>,
    pub neg: Vec<u32>,
    /// Group id of every observation, in input order.
    pub group_of: Vec<u32>,
}

impl TieGroups {
    pub fn new(labels: &[bool], scores: &[f64]) -> Self {
        let mut order: Vec<u32> = (0..scores.len() as u32).collect();
        order.sort_unstable_by(|&a, &b| scores[a as usize].total_cmp(&scores[b as usize]));
        let mut values = Vec::new();
        let mut pos = Vec::new();
        let mut neg = Vec::new();
        let mut group_of = vec![0u32; scores.len()];
        for &i in &order {
            let s = scores[i as usize];
            if values.last() != Some(&s) {
                values.push(s);
                pos.push(0);
                neg.push(0);
            }
            let g = values.len() - 1;
            group_of[i as usize] = g as u32;
            if labels[i as usize] {
                pos[g] += 1;
            } else {
                neg[g] += 1;
            }
        }
        TieGroups {
            values,
            pos,
            neg,
            group_of,
        }
    }
}

/// AUC from per-group positive/negative counts (ascending score order): each positive scores 1
/// for every negative below it and 1/2 for every tied negative. Exact integer arithmetic.
#[inline]
pub(crate) fn auc_from_counts(pos: &[u32], neg: &[u32]) -> f64 {
    let mut twice_u: u64 = 0;
    let mut neg_below: u64 = 0;
    let mut n_pos: u64 = 0;
    for (&p, &n) in pos.iter().zip(neg) {
        let (p, n) = (p as u64, n as u64);
        twice_u += p * (2 * neg_below + n);
        neg_below += n;
        n_pos += p;
    }
    twice_u as f64 / (2.0 * n_pos as f64 * neg_below as f64)
}

/// Area under the ROC curve (probability that a random positive scores above a random
/// negative, ties counting 1/2). Errors on empty input, NaN scores, mismatched lengths or a
/// single-class outcome.
pub fn auc(labels: &[bool], scores: &[f64]) -> Result<f64> {
    check_scores(labels, scores, "scores")?;
    check_two_classes(labels)?;
    let g = TieGroups::new(labels, scores);
    Ok(auc_from_counts(&g.pos, &g.neg))
}

/// An empirical ROC curve, from the highest threshold down. Point k classifies
/// `score >= thresholds[k]` as positive; the first point is (0, 0) at threshold +inf, as in
/// scikit-learn >= 1.3 (serialised as `null` in JSON).
#[derive(Debug, Clone, Serialize)]
pub struct Roc {
    pub fpr: Vec<f64>,
    pub tpr: Vec<f64>,
    pub thresholds: Vec<f64>,
}

/// ROC curve with one point per distinct score. `drop_intermediate` removes collinear points
/// exactly as scikit-learn's `roc_curve(drop_intermediate=True)` does (the AUC is unchanged).
pub fn roc_curve(labels: &[bool], scores: &[f64], drop_intermediate: bool) -> Result<Roc> {
    check_scores(labels, scores, "scores")?;
    let (n_pos, n_neg) = check_two_classes(labels)?;
    let g = TieGroups::new(labels, scores);
    let mut tps = Vec::with_capacity(g.values.len());
    let mut fps = Vec::with_capacity(g.values.len());
    let mut thr = Vec::with_capacity(g.values.len());
    let (mut tp, mut fp) = (0u64, 0u64);
    for k in (0..g.values.len()).rev() {
        tp += g.pos[k] as u64;
        fp += g.neg[k] as u64;
        tps.push(tp);
        fps.push(fp);
        thr.push(g.values[k]);
    }
    let keep: Vec<usize> = if drop_intermediate && tps.len() > 2 {
        // Keep a point unless both second differences vanish (it lies on the segment between
        // its neighbours), mirroring sklearn's np.diff(fps, 2) / np.diff(tps, 2) rule.
        let mut keep = vec![0];
        for k in 1..tps.len() - 1 {
            let d2f = fps[k + 1] as i64 - 2 * fps[k] as i64 + fps[k - 1] as i64;
            let d2t = tps[k + 1] as i64 - 2 * tps[k] as i64 + tps[k - 1] as i64;
            if d2f != 0 || d2t != 0 {
                keep.push(k);
            }
        }
        keep.push(tps.len() - 1);
        keep
    } else {
        (0..tps.len()).collect()
    };
    let mut roc = Roc {
        fpr: vec![0.0],
        tpr: vec![0.0],
        thresholds: vec![f64::INFINITY],
    };
    for k in keep {
        roc.fpr.push(fps[k] as f64 / n_neg as f64);
        roc.tpr.push(tps[k] as f64 / n_pos as f64);
        roc.thresholds.push(thr[k]);
    }
    Ok(roc)
}

/// Youden's J = sensitivity + specificity - 1 maximised over the ROC thresholds (first maximum
/// from the highest threshold, i.e. the most specific one on ties). Returns (threshold, J);
/// classify `score >= threshold` as positive.
pub fn youden_threshold(labels: &[bool], scores: &[f64]) -> Result<(f64, f64)> {
    let roc = roc_curve(labels, scores, false)?;
    let mut best = (roc.thresholds[1], f64::NEG_INFINITY);
    for k in 1..roc.fpr.len() {
        let j = roc.tpr[k] - roc.fpr[k];
        if j > best.1 {
            best = (roc.thresholds[k], j);
        }
    }
    Ok(best)
}

/// Trapezoidal area under a piecewise-linear curve (e.g. a ROC curve's points).
pub fn trapezoid(x: &[f64], y: &[f64]) -> f64 {
    x.windows(2)
        .zip(y.windows(2))
        .map(|(xw, yw)| (xw[1] - xw[0]) * (yw[0] + yw[1]) * 0.5)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hand-computed: positives {0.8, 0.5}, negatives {0.5, 0.2}. Pairs: (0.8>0.5)=1,
    /// (0.8>0.2)=1, (0.5=0.5)=1/2, (0.5>0.2)=1 -> U = 3.5, AUC = 3.5/4.
    #[test]
    fn hand_computed_auc_with_tie() {
        let labels = [true, true, false, false];
        let scores = [0.8, 0.5, 0.5, 0.2];
        assert_eq!(auc(&labels, &scores).unwrap(), 0.875);
        let roc = roc_curve(&labels, &scores, false).unwrap();
        assert_eq!(roc.fpr, vec![0.0, 0.0, 0.5, 1.0]);
        assert_eq!(roc.tpr, vec![0.0, 0.5, 1.0, 1.0]);
        assert!((trapezoid(&roc.fpr, &roc.tpr) - 0.875).abs() < 1e-15);
        assert_eq!(youden_threshold(&labels, &scores).unwrap(), (0.8, 0.5));
    }

    #[test]
    fn bad_input_is_an_error() {
        use crate::MetricsError as E;
        assert!(matches!(auc(&[], &[]), Err(E::Empty { .. })));
        assert!(matches!(
            auc(&[true, false], &[0.1]),
            Err(E::LengthMismatch { .. })
        ));
        assert!(matches!(
            auc(&[true, false], &[0.1, f64::NAN]),
            Err(E::NonFinite { index: 1, .. })
        ));
        assert!(matches!(
            auc(&[true, true], &[0.1, 0.2]),
            Err(E::SingleClass {
                positives: 2,
                negatives: 0
            })
        ));
    }
}
