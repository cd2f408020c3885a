//! The one error type of tomofuse-io. Every variant names the file (or folder) and, where it
//! applies, the header field or DICOM tag at fault. DICOM values of identifying tags never
//! appear here: only tag names and numeric geometry.

use std::path::PathBuf;
use thiserror::Error;
use tomofuse_core::CoreError;

/// Errors reading or writing images.
#[derive(Debug, Error)]
pub enum IoError {
    /// The I/O error is part of the message and deliberately not the `source()`: error
    /// chains printed with `{:#}` (anyhow) would otherwise show it twice.
    #[error("{path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{path}: invalid header field `{field}`: {reason}")]
    InvalidField {
        path: PathBuf,
        field: String,
        reason: String,
    },
    #[error("{path}: file is truncated: {what} needs {expected} bytes, only {found} available")]
    Truncated {
        path: PathBuf,
        what: String,
        expected: u64,
        found: u64,
    },
    #[error("{path}: not a readable image: {reason}")]
    UnknownFormat { path: PathBuf, reason: String },
    #[error("{path}: unsupported {what}: {reason}")]
    Unsupported {
        path: PathBuf,
        what: String,
        reason: String,
    },
    #[error("{path}: gzip stream is corrupt: {reason}")]
    Gzip { path: PathBuf, reason: String },
    #[error("{path}: DICOM tag {tag}: {reason}")]
    DicomTag {
        path: PathBuf,
        tag: String,
        reason: String,
    },
    #[error("{path}: DICOM: {reason}")]
    Dicom { path: PathBuf, reason: String },
    #[error("{dir}: no DICOM image series found ({reason})")]
    NoSeries { dir: PathBuf, reason: String },
    #[error(
        "{dir}: {} DICOM series found, choose one with a SeriesInstanceUID: {}",
        series.len(),
        series.join("; ")
    )]
    MultipleSeries { dir: PathBuf, series: Vec<String> },
    #[error("{dir}: series `{uid}` not found; available: {}", available.join(", "))]
    SeriesNotFound {
        dir: PathBuf,
        uid: String,
        available: Vec<String>,
    },
    #[error("{dir}: slices are not a regular grid along the slice normal: {detail}")]
    SliceSpacing { dir: PathBuf, detail: String },
    #[error("{path}: ROI `{roi}` not found; available ROI names: {}", available.join(", "))]
    RoiNotFound {
        path: PathBuf,
        roi: String,
        available: Vec<String>,
    },
    #[error("{path}: not a label mask: {reason}")]
    MaskValues { path: PathBuf, reason: String },
    #[error("{path}: {source}")]
    Core {
        path: PathBuf,
        #[source]
        source: CoreError,
    },
    #[error("{path}: cannot write NIfTI: {reason}")]
    Write { path: PathBuf, reason: String },
}

impl IoError {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        IoError::Io {
            path: path.to_path_buf(),
            error: source,
        }
    }

    pub(crate) fn field(path: &std::path::Path, field: &str, reason: impl Into<String>) -> Self {
        IoError::InvalidField {
            path: path.to_path_buf(),
            field: field.to_string(),
            reason: reason.into(),
        }
    }

    pub(crate) fn core(path: &std::path::Path, source: CoreError) -> Self {
        IoError::Core {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, IoError>;
