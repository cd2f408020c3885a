//! Exporting a cohort (typically a built-in synthetic one) as real-cohort files: images, masks
//! and a `manifest.csv` that [`crate::read_manifest`] reads back.
//!
//! With [`ExportOptions::heterogeneous`], each case is moved onto a scanner-like grid drawn
//! from the export seed and the case id, so the exported folder looks like a multi-scanner
//! real cohort and exercises the paths a uniform synthetic grid never does: (a) resampling
//! to another spacing (square in-plane pixels at 0.6-1.2x the native in-plane size, slices
//! 1-2.5x thicker; image linear, mask label-linear, physical field of view centred as before), then
//! (b) a signed axis permutation of the stored array with the geometry updated to match
//! (LPS / RAS / LAS in-plane storage, feet-first slice order, occasionally transposed rows and
//! columns), which changes how the voxels are stored but not where they are.

use crate::case::{Cohort, ImageIo, Loaded};
use crate::error::{CohortError, Result};
use crate::manifest::write_cohort_mapped;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use tomofuse_core::{AxisMap, Geometry, Space};
use tomofuse_preprocess::resample::{
    GridMode, Interp, MaskInterp, ResampleOptions, output_grid, resample_mask, resample_with,
};

/// File format of exported images and masks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExportFormat {
    /// `.nii.gz` (f32 images, u8 masks).
    #[default]
    Nifti,
    /// Images as DICOM CT series folders (`images/<id>/slice-NNNN.dcm`, 16-bit HU), masks as
    /// `.nii.gz`: the everyday hospital layout of a DICOM series with a NIfTI label map.
    Dicom,
}

impl FromStr for ExportFormat {
    type Err = CohortError;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "nifti" | "nii" | "nii.gz" => Ok(Self::Nifti),
            "dicom" | "dcm" => Ok(Self::Dicom),
            other => Err(CohortError::Config {
                field: "format",
                reason: format!("unknown export format `{other}` (expected nifti or dicom)"),
            }),
        }
    }
}

/// What [`export_cohort`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExportOptions {
    /// Give each case its own scanner-like grid (spacing and storage orientation).
    pub heterogeneous: bool,
    pub format: ExportFormat,
    /// Seed of the per-case grids (mixed with the case id, so a case's grid does not depend
    /// on the order or number of cases).
    pub seed: u64,
}

/// A case's scanner-like grid: the spacing it is resampled to (in the native axis order) and
/// the storage permutation applied afterwards.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScannerGrid {
    pub spacing: [f64; 3],
    pub storage: AxisMap,
}

/// One exported case as written.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportedCase {
    pub id: String,
    pub shape: [usize; 3],
    pub geometry: Geometry,
    /// Stored orientation (nibabel axis codes, e.g. `LPS`, `RAS`, `LAI`).
    pub axis_codes: String,
    /// The grid drawn for the case (`None` for a plain export).
    pub grid: Option<ScannerGrid>,
}

/// Result of [`export_cohort`].
#[derive(Debug, Clone, PartialEq)]
pub struct ExportSummary {
    pub manifest: PathBuf,
    pub cases: Vec<ExportedCase>,
}

/// FNV-1a of the case id: a stable RNG stream per case.
fn id_stream(id: &str) -> u64 {
    id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Draws the scanner-like grid of case `case_id` under `seed` for an image on `native`.
/// The slice axis is the index axis closest to world z; the other two are in-plane.
pub fn scanner_grid(native: &Geometry, seed: u64, case_id: &str) -> ScannerGrid {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(id_stream(case_id));
    let slice = (0..3)
        .max_by(|&a, &b| {
            native.direction[2][a]
                .abs()
                .total_cmp(&native.direction[2][b].abs())
        })
        .unwrap_or(2);
    let inplane: Vec<usize> = (0..3).filter(|&a| a != slice).collect();
    let (a, b) = (inplane[0], inplane[1]);
    // Square in-plane pixels, as every CT scanner reconstructs.
    let pixel = (native.spacing[a] * native.spacing[b]).sqrt() * rng.random_range(0.6..1.2);
    let mut spacing = [0.0; 3];
    spacing[a] = pixel;
    spacing[b] = pixel;
    spacing[slice] = native.spacing[slice] * rng.random_range(1.0..2.5);
    // In-plane storage relative to the native axes: as read (LPS, DICOM), both flipped
    // (RAS, a NIfTI converter), or rows flipped only (LAS, Slicer / TotalSegmentator);
    // feet-first slice order; rows and columns swapped now and then.
    let u: f64 = rng.random();
    let (flip_a, flip_b) = if u < 0.4 {
        (false, false)
    } else if u < 0.75 {
        (true, true)
    } else {
        (false, true)
    };
    let flip_slice = rng.random_bool(0.3);
    let transpose = rng.random_bool(0.15);
    let mut native_flip = [false; 3];
    native_flip[a] = flip_a;
    native_flip[b] = flip_b;
    native_flip[slice] = flip_slice;
    let mut src = [0, 1, 2];
    if transpose {
        src.swap(a, b);
    }
    let flip = [
        native_flip[src[0]],
        native_flip[src[1]],
        native_flip[src[2]],
    ];
    ScannerGrid {
        spacing,
        storage: AxisMap { src, flip },
    }
}

/// Moves a case onto `grid`: (a) resampling to `grid.spacing` with the field of view centred
/// as before (IBSI grid; image linear with the image minimum outside; mask label-linear: the
/// boundary a 50% partial volume draws on that grid, as an annotator on it would), then
/// (b) the storage permutation, which changes the stored order but no world position.
pub fn to_scanner_grid(loaded: &Loaded, grid: &ScannerGrid) -> Result<Loaded> {
    let img = &loaded.image;
    let pre = |e: tomofuse_preprocess::PreprocessError| CohortError::Config {
        field: "spacing",
        reason: format!("resampling to {:?} mm failed: {e}", grid.spacing),
    };
    let (g, shape) =
        output_grid(&img.geometry, img.shape(), grid.spacing, GridMode::Ibsi).map_err(pre)?;
    let mut opts = ResampleOptions::new(Interp::Linear);
    opts.default_value = img.data.iter().copied().fold(f32::INFINITY, f32::min);
    let image = resample_with(img, &g, shape, &opts).map_err(pre)?;
    let mask = loaded
        .mask
        .as_ref()
        .map(|m| resample_mask(m, &g, shape, MaskInterp::LabelLinear))
        .transpose()
        .map_err(pre)?;
    Ok(Loaded {
        image: image.permute_axes(&grid.storage)?,
        mask: mask.map(|m| m.permute_axes(&grid.storage)).transpose()?,
    })
}

/// Writes `cohort` to `dir` as `images/<id>.nii.gz`, `masks/<id>.nii.gz` and `manifest.csv`
/// (every clinical column, outcome, split, centre, date), through tomofuse-io. With
/// `opts.heterogeneous` each case is first moved onto its [`scanner_grid`].
pub fn export_cohort(cohort: &Cohort, dir: &Path, opts: &ExportOptions) -> Result<ExportSummary> {
    export_cohort_with(cohort, dir, opts, &crate::io::NiftiIo)
}

/// [`export_cohort`] through any [`ImageIo`].
pub fn export_cohort_with(
    cohort: &Cohort,
    dir: &Path,
    opts: &ExportOptions,
    io: &dyn ImageIo,
) -> Result<ExportSummary> {
    let dicom = match opts.format {
        ExportFormat::Nifti => None,
        ExportFormat::Dicom => Some(opts.seed),
    };
    let (manifest, written) = write_cohort_mapped(cohort, dir, io, dicom, |case, loaded| {
        if !opts.heterogeneous {
            return Ok((loaded, None));
        }
        let grid = scanner_grid(&loaded.image.geometry, opts.seed, &case.id);
        let moved = to_scanner_grid(&loaded, &grid).map_err(|e| CohortError::Case {
            id: case.id.clone(),
            reason: format!("heterogeneous export: {e}"),
        })?;
        Ok((moved, Some(grid)))
    })?;
    let cases = cohort
        .cases
        .iter()
        .zip(written)
        .map(|(c, (geometry, shape, grid))| ExportedCase {
            id: c.id.clone(),
            shape,
            geometry,
            axis_codes: geometry.axis_codes(Space::Ras).iter().collect(),
            grid,
        })
        .collect();
    Ok(ExportSummary { manifest, cases })
}
