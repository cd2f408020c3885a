//! CT preprocessing for tomofuse.
//!
//! - [`resample`]: resampling to a spacing (ITK or IBSI grid) or onto any reference geometry,
//!   with nearest, linear and cubic B-spline interpolation (SimpleITK `sitkBSpline`
//!   semantics). Axis-aligned cases run as separable 1D passes on f32 buffers with rayon; the
//!   general case evaluates the 3D interpolator per voxel. A CUDA path (feature `cuda`) runs
//!   the same interpolators in NVRTC-compiled kernels.
//! - [`intensity`]: windowing, percentile clipping, z-score and min-max normalisation.
//! - [`spatial`]: crop to a mask's bounding box, pad, largest connected component, and a
//!   [`spatial::GridPlan`] that composes crop/pad/reorient/respacing into one resample.
//! - [`plan`]: a cohort's fingerprint -> plan (target spacing, canonical orientation,
//!   intensity normalisation), applied per case and undone for network outputs.

pub mod error;
pub mod intensity;
pub mod plan;
pub mod resample;
pub mod spatial;

#[cfg(feature = "cuda")]
pub mod cuda;

pub use error::{PreprocessError, Result};
pub use resample::{GridMode, Interp, resample_to_geometry, resample_to_spacing};
