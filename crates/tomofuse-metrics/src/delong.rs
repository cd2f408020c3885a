//! DeLong's variance of the AUC and the paired test between correlated AUCs, computed with the
//! fast algorithm of Sun & Xu (2014, IEEE SPL 21:1389): midranks within positives, within
//! negatives and over both give the placement values in O(n log n).
//!
//! CIs: `Plain` is AUC ± z·SE clipped to [0, 1] (pROC's `ci.auc(method = "delong")`); `Logit`
//! is computed on logit(AUC) with SE/(AUC(1 − AUC)) (delta method) and mapped back, which
//! stays inside (0, 1) and is better near 1 (Pepe 2003).

use crate::bootstrap::{Interval, check_level};
use crate::error::{MetricsError, Result, check_scores, check_two_classes};
use crate::special::{norm_ppf, norm_sf};
use serde::Serialize;

/// Midranks (1-based, ties get the average rank).
pub fn midranks(x: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..x.len()).collect();
    order.sort_unstable_by(|&a, &b| x[a].total_cmp(&x[b]));
    let mut r = vec![0.0; x.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j < order.len() && x[order[j]] == x[order[i]] {
            j += 1;
        }
        let mid = (i + j + 1) as f64 / 2.0;
        for &o in &order[i..j] {
            r[o] = mid;
        }
        i = j;
    }
    r
}

/// (AUC, placement of each positive V10, placement of each negative V01), positives and
/// negatives in input order. V10ᵢ = fraction of negatives below positive i (ties ½);
/// V01ⱼ = fraction of positives above negative j (ties ½). Caller validates the input.
pub(crate) fn placements(labels: &[bool], scores: &[f64]) -> (f64, Vec<f64>, Vec<f64>) {
    let pos: Vec<f64> = labels
        .iter()
        .zip(scores)
        .filter(|(l, _)| **l)
        .map(|(_, &s)| s)
        .collect();
    let neg: Vec<f64> = labels
        .iter()
        .zip(scores)
        .filter(|(l, _)| !**l)
        .map(|(_, &s)| s)
        .collect();
    let (m, n) = (pos.len(), neg.len());
    let tx = midranks(&pos);
    let ty = midranks(&neg);
    let mut all = pos.clone();
    all.extend_from_slice(&neg);
    let tz = midranks(&all);
    let v_pos: Vec<f64> = (0..m).map(|i| (tz[i] - tx[i]) / n as f64).collect();
    let v_neg: Vec<f64> = (0..n)
        .map(|j| 1.0 - (tz[m + j] - ty[j]) / m as f64)
        .collect();
    let auc =
        tz[..m].iter().sum::<f64>() / (m as f64 * n as f64) - (m as f64 + 1.0) / (2.0 * n as f64);
    (auc, v_pos, v_neg)
}

/// AUCs of several models on the same cases and their DeLong covariance matrix
/// S = S₁₀/m + S₀₁/n (sample covariances with ddof = 1 of the placement values).
pub fn delong_covariance(labels: &[bool], models: &[&[f64]]) -> Result<(Vec<f64>, Vec<Vec<f64>>)> {
    if models.is_empty() {
        return Err(MetricsError::Empty { what: "models" });
    }
    for s in models {
        check_scores(labels, s, "scores")?;
    }
    let (m, n) = check_two_classes(labels)?;
    if m < 2 || n < 2 {
        return Err(MetricsError::InvalidArgument {
            name: "labels",
            reason: format!(
                "DeLong variance needs at least 2 positives and 2 negatives (have {m} and {n})"
            ),
        });
    }
    let pl: Vec<(f64, Vec<f64>, Vec<f64>)> = models.iter().map(|s| placements(labels, s)).collect();
    let k = models.len();
    let cov = |a: &[f64], b: &[f64]| {
        let len = a.len() as f64;
        let ma = a.iter().sum::<f64>() / len;
        let mb = b.iter().sum::<f64>() / len;
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - ma) * (y - mb))
            .sum::<f64>()
            / (len - 1.0)
    };
    let mut s = vec![vec![0.0; k]; k];
    for r in 0..k {
        for c in 0..k {
            s[r][c] = cov(&pl[r].1, &pl[c].1) / m as f64 + cov(&pl[r].2, &pl[c].2) / n as f64;
        }
    }
    Ok((pl.iter().map(|p| p.0).collect(), s))
}

/// How a DeLong CI is formed (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum CiMethod {
    #[default]
    Plain,
    Logit,
}

/// One AUC with its DeLong variance and CI.
#[derive(Debug, Clone, Serialize)]
pub struct DelongAuc {
    pub auc: f64,
    pub variance: f64,
    pub std_error: f64,
    pub ci: Interval,
    pub ci_method: CiMethod,
    pub level: f64,
}

/// DeLong variance and CI of one AUC.
pub fn delong(labels: &[bool], scores: &[f64], level: f64, method: CiMethod) -> Result<DelongAuc> {
    check_level(level)?;
    let (aucs, s) = delong_covariance(labels, &[scores])?;
    let (auc, variance) = (aucs[0], s[0][0]);
    let se = variance.max(0.0).sqrt();
    let z = norm_ppf(0.5 + level / 2.0);
    let ci = match method {
        CiMethod::Plain => Interval {
            lower: (auc - z * se).max(0.0),
            upper: (auc + z * se).min(1.0),
        },
        CiMethod::Logit => {
            if auc <= 0.0 || auc >= 1.0 {
                // logit undefined; the AUC is at the boundary with zero DeLong variance.
                Interval {
                    lower: auc,
                    upper: auc,
                }
            } else {
                let l = (auc / (1.0 - auc)).ln();
                let sl = se / (auc * (1.0 - auc));
                let inv = |x: f64| 1.0 / (1.0 + (-x).exp());
                Interval {
                    lower: inv(l - z * sl),
                    upper: inv(l + z * sl),
                }
            }
        }
    };
    Ok(DelongAuc {
        auc,
        variance,
        std_error: se,
        ci,
        ci_method: method,
        level,
    })
}

/// Paired DeLong test of H₀: AUC₁ = AUC₂ on the same cases.
#[derive(Debug, Clone, Serialize)]
pub struct DelongPaired {
    pub auc1: f64,
    pub auc2: f64,
    pub var1: f64,
    pub var2: f64,
    pub covariance: f64,
    pub difference: f64,
    pub std_error: f64,
    pub z: f64,
    /// Two-sided p-value 2·(1 − Φ(|z|)).
    pub p_value: f64,
    /// Wald CI of AUC₁ − AUC₂.
    pub ci: Interval,
    pub level: f64,
}

/// Paired DeLong test between two models scored on the same cases.
pub fn delong_paired(
    labels: &[bool],
    scores1: &[f64],
    scores2: &[f64],
    level: f64,
) -> Result<DelongPaired> {
    check_level(level)?;
    let (aucs, s) = delong_covariance(labels, &[scores1, scores2])?;
    let var_diff = s[0][0] + s[1][1] - 2.0 * s[0][1];
    let se = var_diff.max(0.0).sqrt();
    let difference = aucs[0] - aucs[1];
    let (z, p_value) = if se > 0.0 {
        let z = difference / se;
        (z, (2.0 * norm_sf(z.abs())).min(1.0))
    } else if difference == 0.0 {
        (0.0, 1.0)
    } else {
        (difference.signum() * f64::INFINITY, 0.0)
    };
    let zc = norm_ppf(0.5 + level / 2.0);
    Ok(DelongPaired {
        auc1: aucs[0],
        auc2: aucs[1],
        var1: s[0][0],
        var2: s[1][1],
        covariance: s[0][1],
        difference,
        std_error: se,
        z,
        p_value,
        ci: Interval {
            lower: difference - zc * se,
            upper: difference + zc * se,
        },
        level,
    })
}
