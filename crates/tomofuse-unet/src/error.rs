//! The crate's one error type. Variants name the offending field or input so a pipeline can
//! report a failing case and go on.

use thiserror::Error;

/// Errors of model construction, training and inference.
#[derive(Debug, Error)]
pub enum UnetError {
    /// A configuration field is out of range or inconsistent with another one.
    #[error("invalid configuration `{field}`: {reason}")]
    InvalidConfig { field: &'static str, reason: String },
    /// The input tensor does not have the shape the network expects.
    #[error("bad input shape {shape:?}: {reason}")]
    InputShape { shape: Vec<usize>, reason: String },
    /// The input is smaller than the network's total stride (or patch) allows.
    #[error(
        "input spatial size {shape:?} too small: every axis must be >= {min} and divisible by the network's total stride {stride}"
    )]
    TooSmall {
        shape: Vec<usize>,
        min: usize,
        stride: usize,
    },
    /// The input holds NaN or infinite values.
    #[error("{what} holds a non-finite value ({count} voxels, first at flat index {first})")]
    NonFinite {
        what: String,
        count: usize,
        first: usize,
    },
    /// A training case is inconsistent (image and mask grids differ, ...).
    #[error("case {case}: {reason}")]
    BadCase { case: usize, reason: String },
    /// No usable training or validation data.
    #[error("empty data set: {0}")]
    EmptyData(String),
    /// Grad-CAM target layer unknown or not connected to the class logit.
    #[error("Grad-CAM target layer `{layer}`: {reason}")]
    GradCam { layer: String, reason: String },
    /// Reading or writing a checkpoint failed.
    #[error("checkpoint {path}: {reason}")]
    Checkpoint { path: String, reason: String },
    /// Training diverged (non-finite loss).
    #[error("training diverged at epoch {epoch}, step {step}: loss is {loss}")]
    Diverged {
        epoch: usize,
        step: usize,
        loss: f32,
    },
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    #[error(transparent)]
    Core(#[from] tomofuse_core::CoreError),
}

pub type Result<T> = std::result::Result<T, UnetError>;

pub(crate) fn config_err(field: &'static str, reason: impl Into<String>) -> UnetError {
    UnetError::InvalidConfig {
        field,
        reason: reason.into(),
    }
}

/// The shared trainer's errors as the U-Net's own (divergence and checkpoint keep their
/// variants).
impl From<tomofuse_nn3d::Nn3dError> for UnetError {
    fn from(e: tomofuse_nn3d::Nn3dError) -> Self {
        use tomofuse_nn3d::Nn3dError as E;
        match e {
            E::Diverged { epoch, step, loss } => Self::Diverged { epoch, step, loss },
            E::Checkpoint { path, reason } => Self::Checkpoint { path, reason },
            E::Candle(c) => Self::Candle(c),
            e => Self::Candle(e.into()),
        }
    }
}
