//! Core types of tomofuse: [`Volume`] and [`Mask`] on an explicit [`Geometry`], the crate
//! error, and the allocation [`limits`] every reader and filter goes through.
//!
//! Conventions (docs/conventions.md): arrays are indexed `[i, j, k]` in NIfTI/ITK index order
//! with `k` fastest in memory; world coordinates are LPS millimetres internally, RAS only at
//! boundaries that ask for it by name.

pub mod clinical;
pub mod error;
pub mod geometry;
pub mod limits;
pub mod orient;
pub mod shared;
pub mod volume;

pub use clinical::{ClinicalRecord, ClinicalTable, ClinicalValue};
pub use error::{CoreError, Result};
pub use geometry::{Geometry, GeometryTolerance, Space};
pub use limits::{Limits, check_alloc};
pub use orient::{AxisMap, find_axis_map};
pub use shared::{
    PYTHON_ENV, SHARED_ENV, SKIP_LOG_ENV, python_with, report_skip, require_shared, shared_dir,
    shared_path,
};
pub use volume::{Mask, Volume, check_axis_codes};
