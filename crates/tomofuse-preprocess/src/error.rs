use thiserror::Error;
use tomofuse_core::CoreError;

/// Errors of the preprocessing crate. Each names the offending argument and its value.
#[derive(Debug, Error)]
pub enum PreprocessError {
    #[error(transparent)]
    Core(#[from] CoreError),
    #[error("invalid target spacing {spacing:?}: every component must be finite and > 0")]
    InvalidSpacing { spacing: [f64; 3] },
    #[error(
        "input volume contains {count} non-finite value(s) (first at index {first:?}); resampling would spread them"
    )]
    NonFinite { count: usize, first: [usize; 3] },
    #[error(
        "output grid of shape {shape:?} does not overlap the input grid (input index range of the output corners: {lo:?} .. {hi:?}, input shape {input_shape:?})"
    )]
    NoOverlap {
        shape: [usize; 3],
        lo: [f64; 3],
        hi: [f64; 3],
        input_shape: [usize; 3],
    },
    #[error("invalid output shape {shape:?}: every dimension must be >= 1")]
    InvalidShape { shape: [usize; 3] },
    #[error("invalid argument `{name}`: {reason}")]
    InvalidArgument { name: &'static str, reason: String },
    #[error("mask is empty: {what} needs at least one non-zero voxel")]
    EmptyMask { what: &'static str },
    #[error("CUDA unavailable: {0}")]
    NoCuda(String),
    #[error("CUDA error: {0}")]
    Cuda(String),
}

pub type Result<T> = std::result::Result<T, PreprocessError>;
