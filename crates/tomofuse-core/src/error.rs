use thiserror::Error;

/// Errors of the core types. Geometry mismatches say which field differs and by how much.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum CoreError {
    #[error(
        "geometry mismatch in `{field}`: {detail} (max abs difference {max_diff:.6}, tolerance {tolerance})"
    )]
    GeometryMismatch {
        field: &'static str,
        detail: String,
        max_diff: f64,
        tolerance: f64,
    },
    #[error("shape mismatch: {left:?} vs {right:?}")]
    ShapeMismatch { left: [usize; 3], right: [usize; 3] },
    #[error("invalid spacing {spacing:?}: every component must be finite and > 0")]
    InvalidSpacing { spacing: [f64; 3] },
    #[error("invalid origin {origin:?}: every component must be finite")]
    InvalidOrigin { origin: [f64; 3] },
    #[error("invalid direction matrix {direction:?}: {reason}")]
    InvalidDirection {
        direction: [[f64; 3]; 3],
        reason: String,
    },
    #[error(
        "allocation of {requested} {unit} refused: limit is {limit} (set {env_var} to raise it)"
    )]
    AllocationLimit {
        requested: u128,
        limit: u128,
        unit: &'static str,
        env_var: &'static str,
    },
    #[error("data length {len} does not match shape {shape:?}")]
    DataLength { len: usize, shape: [usize; 3] },
    #[error("empty volume: shape {shape:?}")]
    Empty { shape: [usize; 3] },
    #[error("invalid orientation code `{code}`: {reason}")]
    InvalidOrientation { code: String, reason: String },
    /// `detail` names the case and the column (two fields keep every `Result` small).
    #[error("{source_name}: {detail}")]
    Clinical { source_name: String, detail: String },
}

pub type Result<T> = std::result::Result<T, CoreError>;
