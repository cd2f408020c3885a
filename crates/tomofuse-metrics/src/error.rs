use thiserror::Error;

/// Errors of the statistics and segmentation metrics. Each names what was wrong and where, so
/// the CLI can report the CSV column or mask at fault.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum MetricsError {
    #[error("empty input: `{what}` has no elements")]
    Empty { what: &'static str },
    #[error("length mismatch: `{left}` has {left_len} elements but `{right}` has {right_len}")]
    LengthMismatch {
        left: &'static str,
        left_len: usize,
        right: &'static str,
        right_len: usize,
    },
    #[error("non-finite value {value} in `{what}` at index {index}")]
    NonFinite {
        what: &'static str,
        index: usize,
        value: f64,
    },
    #[error(
        "single-class outcome: {positives} positive and {negatives} negative cases; ROC/AUC statistics need both classes"
    )]
    SingleClass { positives: usize, negatives: usize },
    #[error("value {value} in `{what}` at index {index} is outside {range}")]
    OutOfRange {
        what: &'static str,
        index: usize,
        value: f64,
        range: &'static str,
    },
    #[error("invalid argument `{name}`: {reason}")]
    InvalidArgument { name: &'static str, reason: String },
    #[error("mask shape mismatch: {left:?} vs {right:?}")]
    ShapeMismatch { left: [usize; 3], right: [usize; 3] },
    #[error("mask `{which}` is empty (no foreground voxel): surface distances are undefined")]
    EmptyMask { which: &'static str },
    #[error("{what} did not converge after {iterations} iterations")]
    NoConvergence {
        what: &'static str,
        iterations: usize,
    },
    #[error(transparent)]
    Core(#[from] tomofuse_core::CoreError),
    #[error("plot `{path}`: {reason}")]
    Plot { path: String, reason: String },
}

pub type Result<T> = std::result::Result<T, MetricsError>;

/// Labels and scores must be non-empty, equally long and finite.
pub(crate) fn check_scores(labels: &[bool], scores: &[f64], what: &'static str) -> Result<()> {
    if labels.is_empty() {
        return Err(MetricsError::Empty { what: "labels" });
    }
    if labels.len() != scores.len() {
        return Err(MetricsError::LengthMismatch {
            left: "labels",
            left_len: labels.len(),
            right: what,
            right_len: scores.len(),
        });
    }
    check_finite(scores, what)
}

pub(crate) fn check_finite(values: &[f64], what: &'static str) -> Result<()> {
    if let Some((index, &value)) = values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(MetricsError::NonFinite { what, index, value });
    }
    Ok(())
}

/// Both classes present; returns (positives, negatives).
pub(crate) fn check_two_classes(labels: &[bool]) -> Result<(usize, usize)> {
    let positives = labels.iter().filter(|&&l| l).count();
    let negatives = labels.len() - positives;
    if positives == 0 || negatives == 0 {
        return Err(MetricsError::SingleClass {
            positives,
            negatives,
        });
    }
    Ok((positives, negatives))
}

/// Probabilities in [0, 1].
pub(crate) fn check_probabilities(p: &[f64], what: &'static str) -> Result<()> {
    check_finite(p, what)?;
    if let Some((index, &value)) = p
        .iter()
        .enumerate()
        .find(|(_, v)| !(0.0..=1.0).contains(*v))
    {
        return Err(MetricsError::OutOfRange {
            what,
            index,
            value,
            range: "[0, 1]",
        });
    }
    Ok(())
}
