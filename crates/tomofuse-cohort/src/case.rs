//! The cohort the orchestrator iterates: cases with an image (in memory, on disk, or rendered
//! on demand from a synthetic spec), an optional label mask, outcome, split, centre, date and
//! clinical variables.

use crate::date::Date;
use crate::error::{CohortError, Result};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tomofuse_core::{AxisMap, CoreError, GeometryTolerance, Mask, Space, Volume};

pub use tomofuse_core::ClinicalValue;

/// Which set a case belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Split {
    Train,
    Validation,
    Test,
    /// An external test set (another time window or another centre).
    External,
}

impl Split {
    /// Parses `train`, `val`/`validation`, `test`, `external` (case-insensitive).
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "train" | "training" => Some(Self::Train),
            "val" | "valid" | "validation" => Some(Self::Validation),
            "test" => Some(Self::Test),
            "external" | "ext" => Some(Self::External),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Train => "train",
            Self::Validation => "validation",
            Self::Test => "test",
            Self::External => "external",
        }
    }
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Image IO used to load and write cases. The `io` feature provides [`crate::NiftiIo`] on top of
/// tomofuse-io; tests and callers may supply their own (e.g. an in-memory store).
pub trait ImageIo: Sync {
    fn read_image(&self, path: &Path) -> Result<Volume<f32>>;
    fn read_mask(&self, path: &Path) -> Result<Mask>;
    fn write_image(&self, path: &Path, image: &Volume<f32>) -> Result<()>;
    fn write_mask(&self, path: &Path, mask: &Mask) -> Result<()>;
    /// Writes the image as a DICOM series folder (`uid_seed` makes its UIDs reproducible).
    fn write_image_dicom(
        &self,
        dir: &Path,
        _image: &Volume<f32>,
        _case_id: &str,
        _uid_seed: u64,
    ) -> Result<()> {
        Err(crate::error::CohortError::Config {
            field: "format",
            reason: format!("{}: this image IO cannot write DICOM series", dir.display()),
        })
    }
}

/// A case's image and mask, loaded.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub image: Volume<f32>,
    pub mask: Option<Mask>,
}

/// Where a case's pixels come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// Already in memory (shared, so cloning a cohort is cheap).
    Memory(Arc<Loaded>),
    /// Files: image (NIfTI/NRRD file or DICOM folder) and optional mask.
    Files {
        image: PathBuf,
        mask: Option<PathBuf>,
    },
    /// Rendered on demand from the synthetic generator (deterministic).
    Synthetic(Arc<crate::synth::Spec>),
}

/// One patient.
#[derive(Debug, Clone)]
pub struct Case {
    pub id: String,
    pub source: Source,
    /// Outcome (eosinophilic / severe), when known.
    pub label: Option<bool>,
    pub split: Option<Split>,
    pub centre: Option<String>,
    /// Acquisition date (temporal splits).
    pub date: Option<Date>,
    pub clinical: BTreeMap<String, ClinicalValue>,
    /// For synthetic cases: the generating variables (latent severity, opacification, ...),
    /// kept after materialisation for oracle baselines and generator checks.
    pub truth: Option<Arc<crate::synth::Spec>>,
}

/// How a loaded mask relates to its image's grid.
#[derive(Debug, Clone, PartialEq)]
pub enum MaskGrid {
    /// No mask, or a mask stored on the image's grid (within the default tolerance).
    Same,
    /// The mask file stores the image's voxel centres in another axis order or sense (e.g. a
    /// LAS label map exported by Slicer or TotalSegmentator for an LPS DICOM series); it was
    /// remapped exactly (no interpolation) onto the image grid.
    Reoriented {
        /// The remapping applied to the stored mask.
        map: AxisMap,
        /// Orientation of the stored mask and of the image (nibabel axis codes).
        stored: String,
        image: String,
    },
    /// A genuinely different grid: the mask is left as stored; the error names the field.
    Mismatch(CoreError),
}

impl fmt::Display for MaskGrid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Same => f.write_str("mask on the image grid"),
            Self::Reoriented { map, stored, image } => write!(
                f,
                "mask stored {stored}, image {image}: same voxel centres, reoriented exactly ({map})"
            ),
            Self::Mismatch(e) => write!(f, "mask does not match the image grid: {e}"),
        }
    }
}

/// Brings a mask stored in another axis order onto the image grid when the voxel centres
/// coincide; otherwise says why not.
pub fn fit_mask_to_image(image: &Volume<f32>, mask: Mask) -> (Mask, MaskGrid) {
    let tol = GeometryTolerance::default();
    if image.check_same_grid(&mask, &tol).is_ok() {
        return (mask, MaskGrid::Same);
    }
    match mask.onto_grid(&image.geometry, image.shape(), &tol) {
        Ok((m, map)) => {
            let codes = |g: &tomofuse_core::Geometry| -> String {
                g.axis_codes(Space::Ras).iter().collect()
            };
            let grid = MaskGrid::Reoriented {
                map,
                stored: codes(&mask.geometry),
                image: codes(&image.geometry),
            };
            (m, grid)
        }
        Err(e) => (mask, MaskGrid::Mismatch(e)),
    }
}

impl Case {
    /// The case's clinical row, for a [`tomofuse_core::ClinicalTable`] (split `train` when
    /// the case has none yet).
    pub fn clinical_record(&self) -> tomofuse_core::ClinicalRecord<'_> {
        tomofuse_core::ClinicalRecord {
            id: &self.id,
            label: self.label,
            split: Some(self.split.unwrap_or(Split::Train).as_str()),
            centre: self.centre.as_deref(),
            values: &self.clinical,
        }
    }

    /// Loads (or renders) the image and mask. File sources need `io`. A mask stored in another
    /// axis order on the same voxel centres is reoriented onto the image grid (see
    /// [`Case::load_with_grid`]).
    pub fn load(&self, io: Option<&dyn ImageIo>) -> Result<Loaded> {
        self.load_with_grid(io).map(|(l, _)| l)
    }

    /// [`Case::load`], also saying whether the mask had to be reoriented or does not fit the
    /// image grid (validation reports either; loading itself does not fail on a mismatch).
    pub fn load_with_grid(&self, io: Option<&dyn ImageIo>) -> Result<(Loaded, MaskGrid)> {
        let loaded = match &self.source {
            Source::Memory(l) => (**l).clone(),
            Source::Synthetic(spec) => spec.render()?,
            Source::Files { image, mask } => {
                let io = io.ok_or_else(|| CohortError::NoIo {
                    path: image.clone(),
                })?;
                let img = io.read_image(image)?;
                let mask = mask.as_deref().map(|m| io.read_mask(m)).transpose()?;
                Loaded { image: img, mask }
            }
        };
        let Loaded { image, mask } = loaded;
        let Some(mask) = mask else {
            return Ok((Loaded { image, mask: None }, MaskGrid::Same));
        };
        let (mask, grid) = fit_mask_to_image(&image, mask);
        Ok((
            Loaded {
                image,
                mask: Some(mask),
            },
            grid,
        ))
    }

    /// A numeric clinical variable.
    pub fn num(&self, key: &str) -> Option<f64> {
        self.clinical.get(key).and_then(ClinicalValue::as_f64)
    }
}

/// What the cohort is about, so the orchestrator can pick the right pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Study {
    /// Sinus CT, outcome = eosinophilic CRSwNP.
    Sinus,
    /// Abdominal CT, outcome = severe acute pancreatitis.
    Abdomen,
    /// A manifest cohort: meaning given by its config.
    Manifest,
}

/// An ordered set of cases plus what the mask labels mean.
#[derive(Debug, Clone)]
pub struct Cohort {
    pub name: String,
    pub study: Study,
    pub cases: Vec<Case>,
    /// Mask labels that make up the segmentation target (their union); empty = any non-zero.
    pub target_labels: Vec<u8>,
    /// Name of each mask label (label value -> name), when known.
    pub label_names: BTreeMap<u8, String>,
}

impl Cohort {
    pub fn len(&self) -> usize {
        self.cases.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cases.is_empty()
    }

    /// Binary segmentation target (1 where the mask holds a target label) on the mask's grid.
    pub fn target(&self, mask: &Mask) -> Mask {
        let labels = &self.target_labels;
        mask.map(|&v| {
            u8::from(if labels.is_empty() {
                v != 0
            } else {
                labels.contains(&v)
            })
        })
    }

    /// Renders every synthetic case (in parallel across cases) and keeps it in memory; other
    /// sources are left as they are. Memory: about 5 bytes per voxel per case.
    pub fn materialize(&mut self) -> Result<()> {
        let loaded: Vec<Option<Loaded>> = self
            .cases
            .par_iter()
            .map(|c| match &c.source {
                Source::Synthetic(s) => s.render().map(Some),
                _ => Ok(None),
            })
            .collect::<Result<_>>()?;
        for (c, l) in self.cases.iter_mut().zip(loaded) {
            if let Some(l) = l {
                c.source = Source::Memory(Arc::new(l));
            }
        }
        Ok(())
    }

    /// Counts of (negative, positive, unlabelled) cases.
    pub fn outcome_counts(&self) -> (usize, usize, usize) {
        let mut n = (0, 0, 0);
        for c in &self.cases {
            match c.label {
                Some(false) => n.0 += 1,
                Some(true) => n.1 += 1,
                None => n.2 += 1,
            }
        }
        n
    }

    /// Sorted union of the clinical column names.
    pub fn clinical_columns(&self) -> Vec<String> {
        let mut cols: Vec<String> = self
            .cases
            .iter()
            .flat_map(|c| c.clinical.keys().cloned())
            .collect();
        cols.sort();
        cols.dedup();
        cols
    }

    /// Assigns splits: cases dated on/after `external_from` (or whose centre is in
    /// `external_centres`) become `External`; the rest are split at random, stratified by label,
    /// into `Validation` (fraction `val_fraction`, rounded per class) and `Train`. Cases whose
    /// split is already set are left alone unless `overwrite`. Deterministic in `seed`.
    pub fn assign_splits(
        &mut self,
        val_fraction: f64,
        external_from: Option<Date>,
        external_centres: &[&str],
        seed: u64,
        overwrite: bool,
    ) -> Result<()> {
        if !(0.0..1.0).contains(&val_fraction) {
            return Err(CohortError::Config {
                field: "val_fraction",
                reason: format!("{val_fraction} is not in [0, 1)"),
            });
        }
        let mut pools: BTreeMap<Option<bool>, Vec<usize>> = BTreeMap::new();
        for (i, c) in self.cases.iter_mut().enumerate() {
            if c.split.is_some() && !overwrite {
                continue;
            }
            let ext_date = matches!((external_from, c.date), (Some(f), Some(d)) if d >= f);
            let ext_centre = c
                .centre
                .as_deref()
                .is_some_and(|cc| external_centres.contains(&cc));
            if ext_date || ext_centre {
                c.split = Some(Split::External);
            } else {
                pools.entry(c.label).or_default().push(i);
            }
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        for (_, mut idx) in pools {
            idx.shuffle(&mut rng);
            let n_val = (idx.len() as f64 * val_fraction).round() as usize;
            for (r, i) in idx.into_iter().enumerate() {
                self.cases[i].split = Some(if r < n_val {
                    Split::Validation
                } else {
                    Split::Train
                });
            }
        }
        Ok(())
    }
}
