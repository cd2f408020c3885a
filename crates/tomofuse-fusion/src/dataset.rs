//! The joined design matrix every model and selector works on: one row per case, one column per
//! feature, row-major `f32` with `NaN` for missing values (what XGBoost takes natively).

use crate::error::{FusionError, Result};
use serde::{Deserialize, Serialize};

/// Where a feature came from; single-modality models keep one of these.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Modality {
    Clinical,
    Radiomics,
    Deep,
}

impl Modality {
    pub const ALL: [Modality; 3] = [Modality::Clinical, Modality::Radiomics, Modality::Deep];

    pub fn name(self) -> &'static str {
        match self {
            Modality::Clinical => "clinical",
            Modality::Radiomics => "radiomics",
            Modality::Deep => "deep",
        }
    }
}

/// Cases x features with a binary outcome.
#[derive(Clone, Debug)]
pub struct Dataset {
    pub ids: Vec<String>,
    /// Outcome, 0 or 1.
    pub y: Vec<u8>,
    pub names: Vec<String>,
    pub modality: Vec<Modality>,
    /// Row-major, `ids.len() * names.len()`, `NaN` = missing.
    pub x: Vec<f32>,
    /// Optional split label per case (e.g. "train"/"test"), from the clinical table.
    pub split: Option<Vec<Option<String>>>,
    /// Optional centre per case.
    pub centre: Option<Vec<Option<String>>>,
}

impl Dataset {
    /// Checks that the parts agree in length.
    pub fn new(
        ids: Vec<String>,
        y: Vec<u8>,
        names: Vec<String>,
        modality: Vec<Modality>,
        x: Vec<f32>,
    ) -> Result<Self> {
        let ds = Dataset {
            ids,
            y,
            names,
            modality,
            x,
            split: None,
            centre: None,
        };
        ds.validate()?;
        Ok(ds)
    }

    fn validate(&self) -> Result<()> {
        let n = self.ids.len();
        let p = self.names.len();
        let check = |what: &str, got: usize, expected: usize| {
            if got == expected {
                Ok(())
            } else {
                Err(FusionError::LengthMismatch {
                    what: what.to_string(),
                    got,
                    expected,
                })
            }
        };
        check("outcome", self.y.len(), n)?;
        check("modality", self.modality.len(), p)?;
        check("feature matrix", self.x.len(), n * p)?;
        if let Some(i) = self.y.iter().position(|&v| v > 1) {
            return Err(FusionError::InvalidArgument {
                name: "y",
                reason: format!(
                    "outcome of case `{}` is {}, expected 0 or 1",
                    self.ids[i], self.y[i]
                ),
            });
        }
        Ok(())
    }

    pub fn n_rows(&self) -> usize {
        self.ids.len()
    }

    pub fn n_cols(&self) -> usize {
        self.names.len()
    }

    pub fn row(&self, i: usize) -> &[f32] {
        let p = self.n_cols();
        &self.x[i * p..(i + 1) * p]
    }

    pub fn get(&self, i: usize, j: usize) -> f32 {
        self.x[i * self.n_cols() + j]
    }

    /// Column `j` restricted to `rows`.
    pub fn column(&self, j: usize, rows: &[usize]) -> Vec<f32> {
        rows.iter().map(|&i| self.get(i, j)).collect()
    }

    pub fn labels(&self, rows: &[usize]) -> Vec<u8> {
        rows.iter().map(|&i| self.y[i]).collect()
    }

    pub fn labels_bool(&self, rows: &[usize]) -> Vec<bool> {
        rows.iter().map(|&i| self.y[i] == 1).collect()
    }

    /// Row-major copy of `rows` x `cols`.
    pub fn matrix(&self, rows: &[usize], cols: &[usize]) -> Vec<f32> {
        let mut out = Vec::with_capacity(rows.len() * cols.len());
        for &i in rows {
            let r = self.row(i);
            out.extend(cols.iter().map(|&j| r[j]));
        }
        out
    }

    /// Column indices of one modality.
    pub fn columns_of(&self, m: Modality) -> Vec<usize> {
        (0..self.n_cols())
            .filter(|&j| self.modality[j] == m)
            .collect()
    }

    pub fn all_rows(&self) -> Vec<usize> {
        (0..self.n_rows()).collect()
    }

    pub fn all_cols(&self) -> Vec<usize> {
        (0..self.n_cols()).collect()
    }

    /// Index of a feature by name.
    pub fn feature_index(&self, name: &str) -> Result<usize> {
        self.names
            .iter()
            .position(|n| n == name)
            .ok_or_else(|| FusionError::UnknownFeature {
                name: name.to_string(),
            })
    }

    /// Rows whose split label equals `label` (case-insensitive).
    pub fn rows_with_split(&self, label: &str) -> Vec<usize> {
        match &self.split {
            Some(s) => s
                .iter()
                .enumerate()
                .filter(|(_, v)| v.as_deref().is_some_and(|v| v.eq_ignore_ascii_case(label)))
                .map(|(i, _)| i)
                .collect(),
            None => Vec::new(),
        }
    }
}

/// Errors unless `y` holds both classes; `context` names the data (file or split).
pub fn check_two_classes(y: &[u8], context: &str) -> Result<()> {
    let positives = y.iter().filter(|&&v| v == 1).count();
    let negatives = y.len() - positives;
    if positives == 0 || negatives == 0 {
        return Err(FusionError::SingleClass {
            context: context.to_string(),
            positives,
            negatives,
        });
    }
    Ok(())
}
