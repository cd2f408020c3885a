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
}

impl From<Nn3dError> for candle_core::Error {
    fn from(e: Nn3dError) -> Self {
        candle_core::Error::wrap(e)
    }
}
