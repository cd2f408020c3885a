//! Naive reference statistics for the generator checks: AUC by counting pairs (the
//! Mann-Whitney definition, O(n^2)) and a plain gradient-descent logistic regression.
#![allow(dead_code)]

/// AUC = P(score of a random positive > score of a random negative) + 0.5 P(tie).
pub fn auc(scores: &[f64], labels: &[bool]) -> f64 {
    let mut num = 0.0;
    let mut den = 0.0;
    for (i, &si) in scores.iter().enumerate() {
        if !labels[i] {
            continue;
        }
        for (j, &sj) in scores.iter().enumerate() {
            if labels[j] {
                continue;
            }
            den += 1.0;
            if si > sj {
                num += 1.0;
            } else if si == sj {
                num += 0.5;
            }
        }
    }
    num / den
}

/// Standardises columns with the training rows' mean/SD, fits an L2-regularised logistic
/// regression by full-batch gradient descent on `train`, returns scores for all rows.
pub fn logistic_scores(x: &[Vec<f64>], y: &[bool], train: &[bool]) -> Vec<f64> {
    let p = x[0].len();
    let mut mean = vec![0.0; p];
    let mut sd = vec![0.0; p];
    let nt = train.iter().filter(|&&t| t).count() as f64;
    for (r, &t) in x.iter().zip(train) {
        if t {
            for k in 0..p {
                mean[k] += r[k] / nt;
            }
        }
    }
    for (r, &t) in x.iter().zip(train) {
        if t {
            for k in 0..p {
                sd[k] += (r[k] - mean[k]).powi(2) / nt;
            }
        }
    }
    let sd: Vec<f64> = sd.iter().map(|v| v.sqrt().max(1e-9)).collect();
    let z: Vec<Vec<f64>> = x
        .iter()
        .map(|r| (0..p).map(|k| (r[k] - mean[k]) / sd[k]).collect())
        .collect();
    let mut w = vec![0.0; p + 1];
    for _ in 0..600 {
        let mut g = vec![0.0; p + 1];
        for ((r, &yi), &t) in z.iter().zip(y).zip(train) {
            if !t {
                continue;
            }
            let m = w[p] + (0..p).map(|k| w[k] * r[k]).sum::<f64>();
            let e = 1.0 / (1.0 + (-m).exp()) - f64::from(u8::from(yi));
            for k in 0..p {
                g[k] += e * r[k] / nt;
            }
            g[p] += e / nt;
        }
        for k in 0..p {
            g[k] += 1e-3 * w[k];
        }
        for k in 0..=p {
            w[k] -= 0.5 * g[k];
        }
    }
    z.iter()
        .map(|r| w[p] + (0..p).map(|k| w[k] * r[k]).sum::<f64>())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_small_cases() {
        assert_eq!(auc(&[0.9, 0.1, 0.8, 0.2], &[true, false, true, false]), 1.0);
        assert_eq!(auc(&[0.1, 0.9], &[true, false]), 0.0);
        assert_eq!(auc(&[0.5, 0.5], &[true, false]), 0.5);
    }
}
