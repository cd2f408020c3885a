//! Logistic-regression baseline (linfa-logistic, L2-penalised) on training-standardised
//! features with missing values at the training mean.

use crate::dataset::{Dataset, check_two_classes};
use crate::error::{FusionError, Result};
use crate::select::Standardizer;
use linfa::prelude::*;
use linfa_logistic::{FittedLogisticRegression, LogisticRegression};
use ndarray016::{Array1, Array2};

pub struct LogisticModel {
    pub cols: Vec<usize>,
    std: Standardizer,
    fitted: FittedLogisticRegression<f64, bool>,
}

impl LogisticModel {
    /// Fits on `rows` x `cols` with L2 penalty `alpha`.
    pub fn fit(ds: &Dataset, rows: &[usize], cols: &[usize], alpha: f64) -> Result<Self> {
        let y = ds.labels(rows);
        check_two_classes(&y, "logistic regression training rows")?;
        let std = Standardizer::fit(ds, rows, cols);
        let x = Array2::from_shape_vec((rows.len(), cols.len()), std.transform(ds, rows, cols))
            .map_err(|e| FusionError::Logistic(e.to_string()))?;
        let t: Array1<bool> = y.iter().map(|&v| v == 1).collect();
        let data = linfa::Dataset::new(x, t);
        let fitted = LogisticRegression::default()
            .alpha(alpha)
            .max_iterations(300)
            .fit(&data)
            .map_err(|e| FusionError::Logistic(e.to_string()))?;
        Ok(LogisticModel {
            cols: cols.to_vec(),
            std,
            fitted,
        })
    }

    /// P(y = 1). linfa returns the probability of its `pos` class, which is the more frequent
    /// class of the training targets, not necessarily `true`: flipped here when needed.
    pub fn predict(&self, ds: &Dataset, rows: &[usize]) -> Result<Vec<f64>> {
        let x = Array2::from_shape_vec(
            (rows.len(), self.cols.len()),
            self.std.transform(ds, rows, &self.cols),
        )
        .map_err(|e| FusionError::Logistic(e.to_string()))?;
        let p = self.fitted.predict_probabilities(&x);
        let pos_is_true = self.fitted.labels().pos.class;
        Ok(p.iter()
            .map(|&v| if pos_is_true { v } else { 1.0 - v })
            .collect())
    }
}
