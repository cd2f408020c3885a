use thiserror::Error;

/// Errors of radiomics extraction. Feature-level failures are not errors: they become NaN
/// features with a reason; these variants stop the extraction of a whole case.
#[derive(Debug, Error)]
pub enum RadiomicsError {
    #[error("image/mask grid mismatch: {0}")]
    Grid(#[from] tomofuse_core::CoreError),
    #[error("mask has no voxel with label {label} (image `{what}`)")]
    EmptyMask { label: u8, what: String },
    #[error(
        "no voxel of the ROI is left after resegmentation (range {range:?}, outlier filter {sigma:?})"
    )]
    EmptyAfterResegmentation {
        range: Option<[f64; 2]>,
        sigma: Option<f64>,
    },
    #[error("invalid settings: field `{field}`: {reason}")]
    Settings { field: String, reason: String },
    #[error("cannot parse settings {source_name}: {message}")]
    SettingsParse {
        source_name: String,
        message: String,
    },
    #[error(
        "unknown preset `{0}` (known: ibsi-a, ibsi-b, ibsi-c, ibsi-d, ibsi-e, ibsi-digital-phantom, pyradiomics-default, ibsi-c-filtered)"
    )]
    UnknownPreset(String),
    #[error("{count} intensities in the ROI are NaN or infinite (first at index {first:?})")]
    NonFinite { count: usize, first: [usize; 3] },
    #[error("invalid filter parameter `{param}`: {reason}")]
    FilterParam { param: String, reason: String },
    #[error("interpolation failed: {0}")]
    Interpolation(String),
    #[error("ROI too small for the settings: {0}")]
    RoiTooSmall(String),
    #[error("discretisation `none` needs integer intensities >= 1 in the ROI; found {value}")]
    NotGreyLevels { value: f64 },
}

pub type Result<T> = std::result::Result<T, RadiomicsError>;
