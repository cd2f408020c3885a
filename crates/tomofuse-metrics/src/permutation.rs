//! Permutation importance (Breiman 2001): the AUC lost when one feature column is shuffled,
//! for any model given as a prediction closure.

use crate::error::{MetricsError, Result};
use ndarray::{Array2, ArrayView2};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

/// Importance of one feature.
#[derive(Debug, Clone, Serialize)]
pub struct Importance {
    pub feature: usize,
    /// Mean AUC drop (baseline − permuted) over repeats.
    pub mean_drop: f64,
    /// Standard deviation of the drop (ddof = 1; 0 with one repeat).
    pub std_drop: f64,
    pub drops: Vec<f64>,
}

/// Permutation importance of every column of `x` (rows = cases). `predict` maps a feature
/// matrix to one score per row. Repeat `r` of feature `f` shuffles with
/// `ChaCha8Rng::seed_from_u64(seed)` on stream `f * n_repeats + r`: reproducible and
/// independent of evaluation order. The closure may parallelise internally.
pub fn permutation_importance<F>(
    x: ArrayView2<f64>,
    labels: &[bool],
    n_repeats: usize,
    seed: u64,
    predict: F,
) -> Result<Vec<Importance>>
where
    F: Fn(ArrayView2<f64>) -> Vec<f64>,
{
    if x.nrows() != labels.len() {
        return Err(MetricsError::LengthMismatch {
            left: "labels",
            left_len: labels.len(),
            right: "feature rows",
            right_len: x.nrows(),
        });
    }
    if n_repeats == 0 {
        return Err(MetricsError::InvalidArgument {
            name: "n_repeats",
            reason: "must be >= 1".into(),
        });
    }
    let score = |m: ArrayView2<f64>| -> Result<f64> {
        let s = predict(m);
        crate::roc::auc(labels, &s)
    };
    let base = score(x)?;
    let mut work: Array2<f64> = x.to_owned();
    let mut out = Vec::with_capacity(x.ncols());
    for f in 0..x.ncols() {
        let original = x.column(f).to_owned();
        let mut drops = Vec::with_capacity(n_repeats);
        for r in 0..n_repeats {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            rng.set_stream((f * n_repeats + r) as u64);
            let mut col = original.to_vec();
            col.shuffle(&mut rng);
            work.column_mut(f).assign(&ndarray::ArrayView1::from(&col));
            drops.push(base - score(work.view())?);
        }
        work.column_mut(f).assign(&original);
        let mean = drops.iter().sum::<f64>() / n_repeats as f64;
        let std_drop = if n_repeats > 1 {
            (drops.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / (n_repeats - 1) as f64).sqrt()
        } else {
            0.0
        };
        out.push(Importance {
            feature: f,
            mean_drop: mean,
            std_drop,
            drops,
        });
    }
    Ok(out)
}
