//! Medical image IO for tomofuse: NIfTI-1 (`nifti` crate, nibabel's affine rules), NRRD (own
//! reader), DICOM CT series incl. JPEG 2000 (dicom-rs) and RTSTRUCT ROIs rasterised to masks.
//!
//! Every reader returns a [`Volume`] whose geometry is in LPS (see tomofuse-core); values are
//! scaled (NIfTI `scl_slope`/`scl_inter`, DICOM rescale to HU). Headers are validated before any
//! allocation, so a hostile file is an [`IoError`] naming the file and the field, never a panic.

pub mod dicom;
pub mod dicom_write;
pub mod dtype;
pub mod error;
mod layout;
pub mod mesh;
pub mod nii;
pub mod nrrd;

pub use dicom::{
    DicomMeta, SeriesSummary, list_dicom_series, list_rtstruct_rois, read_dicom_series,
    read_rtstruct_mask,
};
pub use dtype::DType;
pub use error::{IoError, Result};
pub use mesh::{write_ply, write_stl};
pub use nii::{NiftiElement, write_nifti, write_nifti_as};

use std::path::Path;
use tomofuse_core::{Geometry, Mask, Space, Volume};

/// File format of an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    Nifti1,
    Nrrd,
    DicomSeries,
}

impl ImageFormat {
    pub fn name(self) -> &'static str {
        match self {
            ImageFormat::Nifti1 => "nifti1",
            ImageFormat::Nrrd => "nrrd",
            ImageFormat::DicomSeries => "dicom",
        }
    }
}

/// What an image file says about itself, besides the voxels.
#[derive(Debug, Clone)]
pub struct ImageInfo {
    pub format: ImageFormat,
    /// Stored element type (before scaling).
    pub dtype: DType,
    pub shape: [usize; 3],
    /// LPS geometry, as in the returned volume.
    pub geometry: Geometry,
    /// Voxel index -> RAS mm. For NIfTI exactly nibabel's `img.affine` (sform/qform as stored);
    /// otherwise `geometry.affine(Space::Ras)`.
    pub affine_ras: [[f64; 4]; 4],
    /// `(slope, intercept)` applied to stored values, when any.
    pub scale: Option<(f64, f64)>,
    /// Format-specific facts worth showing (`affine_source`, `sform_code`, `series_uid`, ...).
    pub details: Vec<(String, String)>,
}

impl ImageInfo {
    /// The stored type a command that keeps its input's type writes `vol` (this image's values,
    /// possibly resampled) in: the stored type when values were not scaled; scaled values
    /// (DICOM HU) as int16 when they fit (exactly, or after rounding with `round`), float32
    /// otherwise, so a rescaled unsigned series never loses its negative HU.
    pub fn kept_dtype(&self, vol: &Volume<f32>, round: bool) -> DType {
        if self.scale.is_none() {
            return self.dtype;
        }
        let (lo, hi) = (i16::MIN as f32, i16::MAX as f32);
        let fits = vol.data.iter().all(|&x| {
            let y = if round { x.round() } else { x };
            y.fract() == 0.0 && y >= lo && y <= hi
        });
        if fits { DType::I16 } else { DType::F32 }
    }
}

fn detect(path: &Path) -> Result<ImageFormat> {
    if path.is_dir() {
        return Ok(ImageFormat::DicomSeries);
    }
    if !path.exists() {
        return Err(IoError::io(
            path,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or folder"),
        ));
    }
    let name = path.to_string_lossy().to_ascii_lowercase();
    if name.ends_with(".nrrd") || name.ends_with(".nhdr") || nrrd::looks_like_nrrd(path) {
        return Ok(ImageFormat::Nrrd);
    }
    // A lone DICOM file: the reader wants the series folder.
    if let Ok(mut f) = std::fs::File::open(path) {
        let mut b = [0u8; 132];
        if matches!(nii::read_up_to(&mut f, &mut b), Ok(132)) && &b[128..132] == b"DICM" {
            return Err(IoError::UnknownFormat {
                path: path.to_path_buf(),
                reason: "a single DICOM file: pass the folder holding the series".into(),
            });
        }
    }
    Ok(ImageFormat::Nifti1)
}

fn nifti_info(m: &nii::NiftiMeta) -> ImageInfo {
    ImageInfo {
        format: ImageFormat::Nifti1,
        dtype: m.dtype,
        shape: m.shape,
        geometry: m.geometry,
        affine_ras: m.affine_ras,
        scale: m.scale,
        details: vec![
            ("affine_source".into(), m.affine_source.name().into()),
            ("sform_code".into(), m.header.sform_code.to_string()),
            ("qform_code".into(), m.header.qform_code.to_string()),
            (
                "endian".into(),
                if m.big_endian { "big" } else { "little" }.into(),
            ),
        ],
    }
}

fn nrrd_info(m: &nrrd::NrrdMeta) -> ImageInfo {
    ImageInfo {
        format: ImageFormat::Nrrd,
        dtype: m.dtype,
        shape: m.shape,
        geometry: m.geometry,
        affine_ras: m.geometry.affine(Space::Ras),
        scale: None,
        details: vec![
            ("space".into(), m.space.clone()),
            (
                "encoding".into(),
                format!("{:?}", m.encoding).to_ascii_lowercase(),
            ),
            ("data_files".into(), m.data_files.len().to_string()),
        ],
    }
}

fn dicom_info(m: &DicomMeta) -> ImageInfo {
    ImageInfo {
        format: ImageFormat::DicomSeries,
        dtype: m.dtype,
        shape: m.shape,
        geometry: m.geometry,
        affine_ras: m.geometry.affine(Space::Ras),
        scale: Some(m.rescale),
        details: vec![
            // Some exporters leave SeriesInstanceUID empty: say so rather than print nothing.
            (
                "series_uid".into(),
                if m.series_uid.trim().is_empty() {
                    "(empty in the files: SeriesInstanceUID has no value)".into()
                } else {
                    m.series_uid.clone()
                },
            ),
            ("slices".into(), m.n_slices.to_string()),
            ("transfer_syntax".into(), m.transfer_syntax.clone()),
        ],
    }
}

/// Reads an image (NIfTI `.nii`/`.nii.gz`, NRRD `.nrrd`/`.nhdr`, or a DICOM series folder) as
/// f32 with scaling applied, plus what the file says about itself.
pub fn read_image_with_info(path: &Path) -> Result<(Volume<f32>, ImageInfo)> {
    read_image_series(path, None)
}

/// As [`read_image_with_info`], choosing the DICOM series by SeriesInstanceUID when `path` is
/// a folder holding several.
pub fn read_image_series(
    path: &Path,
    series_uid: Option<&str>,
) -> Result<(Volume<f32>, ImageInfo)> {
    match detect(path)? {
        ImageFormat::Nifti1 => {
            let (v, m) = nii::read_nifti(path)?;
            Ok((v, nifti_info(&m)))
        }
        ImageFormat::Nrrd => {
            let (v, m) = nrrd::read_nrrd(path)?;
            Ok((v, nrrd_info(&m)))
        }
        ImageFormat::DicomSeries => {
            let (v, m) = dicom::read_dicom_series(path, series_uid)?;
            Ok((v, dicom_info(&m)))
        }
    }
}

/// Reads an image as f32 with scaling applied (HU for CT). See [`read_image_with_info`].
pub fn read_image(path: &Path) -> Result<Volume<f32>> {
    read_image_with_info(path).map(|(v, _)| v)
}

/// Header facts without reading voxels (NIfTI, NRRD). DICOM folders are read in full, since
/// their geometry needs every slice position.
pub fn read_image_info(path: &Path) -> Result<ImageInfo> {
    match detect(path)? {
        ImageFormat::Nifti1 => nii::read_header(path).map(|m| nifti_info(&m)),
        ImageFormat::Nrrd => nrrd::read_header(path).map(|m| nrrd_info(&m)),
        ImageFormat::DicomSeries => read_image_with_info(path).map(|(_, i)| i),
    }
}

/// Reads a label mask: every scaled value must be an integer in 0..=255.
pub fn read_mask(path: &Path) -> Result<Mask> {
    let v = read_image(path)?;
    to_mask(path, &v)
}

/// Converts f32 values to labels, naming the first voxel that is not an integer in 0..=255.
pub fn to_mask(path: &Path, v: &Volume<f32>) -> Result<Mask> {
    if let Some(((i, j, k), x)) = v
        .data
        .indexed_iter()
        .find(|(_, x)| !(x.fract() == 0.0 && **x >= 0.0 && **x <= 255.0))
    {
        return Err(IoError::MaskValues {
            path: path.to_path_buf(),
            reason: format!("voxel [{i}, {j}, {k}] = {x}: labels must be integers in 0..=255"),
        });
    }
    Ok(v.map(|&x| x as u8))
}
