use candle_core::DType;

/// Errors of the 3D layers. They reach callers wrapped in `candle_core::Error::Wrapped`
/// (layers return candle `Result`s so that they compose with candle-nn).
#[derive(Debug, thiserror::Error)]
pub enum Nn3dError {
    #[error("{what}: expected a rank-{expected} tensor (N, C, D, H, W), got shape {got:?}")]
    Rank {
        what: &'static str,
        expected: usize,
        got: Vec<usize>,
    },
    #[error("{what}: expected {expected} channels, got {got}")]
    Channels {
        what: &'static str,
        expected: usize,
        got: usize,
    },
    #[error("{what}: only f32 is supported, got {got:?}")]
    DType { what: &'static str, got: DType },
    #[error(
        "{what}: spatial size {size:?} is too small for a kernel extent of {extent:?} with padding {padding}"
    )]
    TooSmall {
        what: &'static str,
        size: [usize; 3],
        extent: [usize; 3],
        padding: usize,
    },
    #[error("{what}: invalid configuration: {msg}")]
    Config { what: &'static str, msg: String },
    #[error("{what}: {count} non-finite values (NaN or infinity)")]
    NonFinite { what: &'static str, count: usize },
    /// A training step's loss was NaN or infinite; training stopped before applying it.
    #[error("training diverged at epoch {epoch}, step {step}: loss is {loss}")]
    Diverged {
        epoch: usize,
        step: usize,
        loss: f32,
    },
    /// Writing or reading the trainer's checkpoint failed.
    #[error("training checkpoint {path}: {reason}")]
    Checkpoint { path: String, reason: String },
    /// A tensor operation of the trainer failed.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

impl From<Nn3dError> for candle_core::Error {
    fn from(e: Nn3dError) -> Self {
        match e {
            Nn3dError::Candle(c) => c,
            e => candle_core::Error::wrap(e),
        }
    }
}
