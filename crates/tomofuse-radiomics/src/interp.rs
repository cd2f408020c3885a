//! Resampling before feature extraction (IBSI 2.4), delegated to tomofuse-preprocess: IBSI
//! grid (centres aligned, size rounded up), image interpolated (and rounded for CT), mask
//! interpolated linearly as a binary image and thresholded.

use crate::error::{RadiomicsError, Result};
use crate::settings::{InterpKind, Interpolation};
use tomofuse_core::{Mask, Volume};
use tomofuse_preprocess::resample::{
    GridMode, Interp, MaskInterp, ResampleOptions, output_grid, resample_mask, resample_with,
};

/// Resamples `image` and the ROI `label` of `mask` to the configured spacing; the returned
/// mask is binary.
pub fn resample(
    image: &Volume<f32>,
    mask: &Mask,
    label: u8,
    interp: &Interpolation,
) -> Result<(Volume<f32>, Mask)> {
    let err =
        |e: tomofuse_preprocess::PreprocessError| RadiomicsError::Interpolation(e.to_string());
    let mut spacing = interp.spacing;
    if interp.in_plane_only {
        spacing[2] = image.geometry.spacing[2];
    }
    let (geom, shape) =
        output_grid(&image.geometry, image.shape(), spacing, GridMode::Ibsi).map_err(err)?;
    let kind = match interp.kind {
        InterpKind::Linear => Interp::Linear,
        InterpKind::Bspline => Interp::BSpline,
    };
    let mut opts = ResampleOptions::new(kind);
    opts.round = interp.round_intensities;
    let img = resample_with(image, &geom, shape, &opts).map_err(err)?;
    let roi = mask.select_label(label);
    let m = resample_mask(
        &roi,
        &geom,
        shape,
        MaskInterp::LinearThreshold(interp.mask_threshold as f32),
    )
    .map_err(err)?;
    Ok((img, m))
}
