//! Implementations of [`ImageIo`]: files through tomofuse-io (feature `io`), and an in-memory
//! store for tests and dry runs.

use crate::case::ImageIo;
use crate::error::{CohortError, Result};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use tomofuse_core::{Mask, Volume};

/// Images in a map keyed by path: what was written can be read back. Lets the manifest
/// machinery be exercised without any file format.
#[derive(Debug, Default)]
pub struct MemoryIo {
    images: Mutex<HashMap<PathBuf, Volume<f32>>>,
    masks: Mutex<HashMap<PathBuf, Mask>>,
}

impl MemoryIo {
    pub fn new() -> Self {
        Self::default()
    }

    fn missing(path: &Path) -> CohortError {
        CohortError::Image {
            path: path.to_path_buf(),
            source: "no such image in the memory store".into(),
        }
    }
}

impl ImageIo for MemoryIo {
    fn read_image(&self, path: &Path) -> Result<Volume<f32>> {
        let m = self.images.lock().map_err(|_| Self::missing(path))?;
        m.get(path).cloned().ok_or_else(|| Self::missing(path))
    }

    fn read_mask(&self, path: &Path) -> Result<Mask> {
        let m = self.masks.lock().map_err(|_| Self::missing(path))?;
        m.get(path).cloned().ok_or_else(|| Self::missing(path))
    }

    fn write_image(&self, path: &Path, image: &Volume<f32>) -> Result<()> {
        let mut m = self.images.lock().map_err(|_| Self::missing(path))?;
        m.insert(path.to_path_buf(), image.clone());
        Ok(())
    }

    fn write_mask(&self, path: &Path, mask: &Mask) -> Result<()> {
        let mut m = self.masks.lock().map_err(|_| Self::missing(path))?;
        m.insert(path.to_path_buf(), mask.clone());
        Ok(())
    }
}

/// Files through tomofuse-io: NIfTI, NRRD or a DICOM folder in; NIfTI out (f32 images, u8 masks).
#[cfg(feature = "io")]
#[derive(Debug, Default, Clone, Copy)]
pub struct NiftiIo;

#[cfg(feature = "io")]
impl ImageIo for NiftiIo {
    fn read_image(&self, path: &Path) -> Result<Volume<f32>> {
        tomofuse_io::read_image(path).map_err(|e| CohortError::Image {
            path: path.to_path_buf(),
            source: Box::new(e),
        })
    }

    fn read_mask(&self, path: &Path) -> Result<Mask> {
        tomofuse_io::read_mask(path).map_err(|e| CohortError::Image {
            path: path.to_path_buf(),
            source: Box::new(e),
        })
    }

    fn write_image(&self, path: &Path, image: &Volume<f32>) -> Result<()> {
        tomofuse_io::write_nifti(path, image).map_err(|e| CohortError::Image {
            path: path.to_path_buf(),
            source: Box::new(e),
        })
    }

    fn write_image_dicom(
        &self,
        dir: &Path,
        image: &Volume<f32>,
        case_id: &str,
        uid_seed: u64,
    ) -> Result<()> {
        let opts = tomofuse_io::dicom_write::DicomSeriesOptions {
            case_id: case_id.into(),
            uid_seed,
            series_description: "tomofuse cohort export".into(),
        };
        tomofuse_io::dicom_write::write_dicom_series(dir, image, &opts)
            .map(|_| ())
            .map_err(|e| CohortError::Image {
                path: dir.to_path_buf(),
                source: Box::new(e),
            })
    }

    fn write_mask(&self, path: &Path, mask: &Mask) -> Result<()> {
        tomofuse_io::write_nifti(path, mask).map_err(|e| CohortError::Image {
            path: path.to_path_buf(),
            source: Box::new(e),
        })
    }
}
