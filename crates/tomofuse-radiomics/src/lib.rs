//! IBSI chapter 1 radiomics: every feature family, every texture aggregation, IBSI
//! preprocessing (resegmentation, discretisation) and shipped presets for the IBSI CT-phantom
//! configurations A-E. The [`filters`] module adds the IBSI chapter 2 convolutional filters
//! (response maps to compute features from), validated on the IBSI-2 phantoms.
//!
//! Design: [`extract`] validates the inputs, builds an [`roi::Roi`] (cropped image, separate
//! morphological and intensity masks, grey levels), then runs every enabled
//! [`FeatureFamily`] in parallel. A feature that cannot be computed is `NaN` with a reason
//! (logged), and extraction goes on. Every [`Extraction`] carries its [`Provenance`].
//!
//! Geometry: the ROI grid is taken as `x = i`, `y = j`, `z = k` (index axes), so "2D" means
//! per slice of constant `k` (axial for axial CT). Distances use the voxel spacing; the
//! direction matrix does not change any feature (it is orthonormal).

pub mod codes;
pub mod error;
pub mod families;
mod fft3;
pub mod filters;
pub mod image_types;
pub mod interp;
pub mod mesh;
pub mod mesh_pyradiomics;
pub mod output;
pub mod pyradiomics_image;
mod pywt_filters;
pub mod roi;
pub mod settings;
mod util;
pub mod voxel;

pub use error::{RadiomicsError, Result};
pub use settings::{
    BinAnchor, Compat, Convention, Discretisation, Families, InterpKind, Interpolation, Naming,
    NgDefinition, PyradiomicsOptions, Resegmentation, Settings,
};
pub use voxel::{VoxelParams, voxel_maps};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tomofuse_core::{Mask, Volume};

/// One feature value with its IBSI identity. `value` is NaN when `reason` says why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Feature {
    /// Family name, e.g. `glcm`.
    pub family: String,
    /// Human-readable name, with the aggregation when there is one.
    pub name: String,
    /// IBSI feature code (e.g. `TU9B`), with the aggregation code after a `/` for texture.
    pub ibsi_code: String,
    /// Tag used in the IBSI reference tables, e.g. `cm_joint_entr_2_5D_avg`.
    pub ibsi_tag: String,
    pub value: f64,
    /// Why the value is NaN (None for a finite value).
    pub reason: Option<String>,
    /// The image the feature was computed from: `original` or a filter response map
    /// ([`image_types`] documents the names).
    #[serde(default = "original_image_type")]
    pub image_type: String,
    /// The PyRadiomics key without the image type (`glcm_Contrast`) when the feature was
    /// computed under PyRadiomics naming ([`Naming::Pyradiomics`]); its column is then
    /// `<image_type>_<key>` (`original_glcm_Contrast`), PyRadiomics' own name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pyradiomics_key: Option<String>,
}

fn original_image_type() -> String {
    image_types::ORIGINAL.to_string()
}

impl Feature {
    /// A feature from its base tag (looked up in [`codes`]) and optional aggregation suffix.
    pub fn new(family: &str, base: &str, suffix: Option<&str>, value: f64) -> Self {
        let (code, name) = codes::lookup(base);
        let (tag, name, code) = match suffix {
            Some(s) => (
                format!("{base}_{s}"),
                format!("{name} ({s})"),
                format!("{code}/{}", codes::aggregation_code(s)),
            ),
            None => (base.to_string(), name.to_string(), code.to_string()),
        };
        let reason = (!value.is_finite()).then(|| "value is not finite".to_string());
        Self {
            family: family.to_string(),
            name,
            ibsi_code: code,
            ibsi_tag: tag,
            value,
            reason,
            image_type: original_image_type(),
            pyradiomics_key: None,
        }
    }

    /// A feature under PyRadiomics naming: class (`glcm`), PyRadiomics feature name
    /// (`Contrast`), and the IBSI feature it equals (base tag and aggregation; an empty base
    /// for PyRadiomics-only features such as `MCC`), so the IBSI code is kept.
    pub fn pyradiomics(
        class: &str,
        name: &str,
        ibsi_base: &str,
        suffix: Option<&str>,
        value: f64,
    ) -> Self {
        let mut f = if ibsi_base.is_empty() {
            Self {
                family: String::new(),
                name: String::new(),
                ibsi_code: String::new(),
                ibsi_tag: String::new(),
                value,
                reason: (!value.is_finite()).then(|| "value is not finite".to_string()),
                image_type: original_image_type(),
                pyradiomics_key: None,
            }
        } else {
            Self::new(class, ibsi_base, suffix, value)
        };
        f.family = class.to_string();
        f.name = name.to_string();
        f.pyradiomics_key = Some(format!("{class}_{name}"));
        f
    }

    /// The column name of the feature in wide tables: the IBSI tag, prefixed by the image
    /// type for filtered images (`log-sigma-1-0-mm-3D_stat_mean`).
    pub fn column(&self) -> String {
        if let Some(k) = &self.pyradiomics_key {
            format!("{}_{k}", self.image_type)
        } else if self.image_type == image_types::ORIGINAL {
            self.ibsi_tag.clone()
        } else {
            format!("{}_{}", self.image_type, self.ibsi_tag)
        }
    }

    /// A feature that could not be computed: NaN plus the reason. Logged as a warning the
    /// first time a (feature, reason) pair occurs in the process and at debug level after
    /// that, so a cohort run does not repeat the same line for every case.
    pub fn failed(family: &str, base: &str, suffix: Option<&str>, reason: &str) -> Self {
        static SEEN: std::sync::Mutex<Option<std::collections::HashSet<String>>> =
            std::sync::Mutex::new(None);
        let mut f = Self::new(family, base, suffix, f64::NAN);
        let first = SEEN.lock().map_or(true, |mut s| {
            s.get_or_insert_with(Default::default)
                .insert(format!("{}\u{0}{reason}", f.ibsi_tag))
        });
        if first {
            log::warn!(
                "feature {} is NaN: {reason} (reported once per run)",
                f.ibsi_tag
            );
        } else {
            log::debug!("feature {} is NaN: {reason}", f.ibsi_tag);
        }
        f.reason = Some(reason.to_string());
        f
    }
}

/// One feature family: a module that turns an [`roi::Roi`] into features.
pub trait FeatureFamily: Sync {
    /// Short family name (`morphology`, `glcm`, ...).
    fn name(&self) -> &'static str;
    /// Whether the settings ask for it.
    fn enabled(&self, settings: &Settings) -> bool;
    /// All features of the family; failures are NaN features with reasons.
    fn compute(&self, roi: &roi::Roi, settings: &Settings) -> Vec<Feature>;
}

/// Where the numbers came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    pub crate_name: String,
    pub crate_version: String,
    /// The settings actually used, as TOML.
    pub settings_toml: String,
    /// sha256 of the image (of the file when known, else of its voxels and geometry).
    pub image_sha256: String,
    pub mask_sha256: String,
    pub label: u8,
}

/// The features of one case plus provenance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Extraction {
    pub features: Vec<Feature>,
    pub provenance: Provenance,
}

impl Extraction {
    /// Value of a feature of the original image by IBSI tag, or by PyRadiomics key
    /// (`original_glcm_Contrast`) for features computed under PyRadiomics naming.
    pub fn get(&self, tag: &str) -> Option<f64> {
        self.get_in(image_types::ORIGINAL, tag)
    }

    /// Value of a feature of image type `image_type` by IBSI tag (IBSI naming) or by its
    /// wide column name (PyRadiomics naming: `<image_type>_<class>_<Feature>`).
    pub fn get_in(&self, image_type: &str, tag: &str) -> Option<f64> {
        self.features
            .iter()
            .filter(|f| f.image_type == image_type)
            .find(|f| match &f.pyradiomics_key {
                Some(_) => f.column() == tag,
                None => f.ibsi_tag == tag,
            })
            .map(|f| f.value)
    }
}

/// Every family, in output order.
pub fn all_families() -> Vec<Box<dyn FeatureFamily>> {
    families::all()
}

/// sha256 of a volume's voxels (little-endian) and geometry: a stable identity for inputs
/// that did not come from a file.
pub fn sha256_volume<T: ToLeBytes + Clone>(v: &Volume<T>) -> String {
    let mut h = Sha256::new();
    for s in v.shape() {
        h.update((s as u64).to_le_bytes());
    }
    for x in v.geometry.spacing.iter().chain(v.geometry.origin.iter()) {
        h.update(x.to_le_bytes());
    }
    for row in v.geometry.direction {
        for x in row {
            h.update(x.to_le_bytes());
        }
    }
    // Batched: one hasher update per 64 KiB instead of per voxel (same byte stream).
    let mut buf = Vec::with_capacity(1 << 16);
    match v.data.as_slice() {
        Some(data) => {
            for chunk in data.chunks((1 << 16) / std::mem::size_of::<T>().max(1)) {
                buf.clear();
                T::extend_le(chunk, &mut buf);
                h.update(&buf);
            }
        }
        None => {
            for x in v.data.iter() {
                x.push_le(&mut buf);
                if buf.len() >= 1 << 16 {
                    h.update(&buf);
                    buf.clear();
                }
            }
            h.update(&buf);
        }
    }
    hex::encode(h.finalize())
}

/// sha256 of a file's bytes.
pub fn sha256_file(path: &std::path::Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// Element types that can be hashed (little-endian bytes appended to a buffer).
pub trait ToLeBytes: Sized {
    fn push_le(&self, out: &mut Vec<u8>);
    /// Appends the bytes of every element (same bytes as `push_le` one by one).
    fn extend_le(xs: &[Self], out: &mut Vec<u8>) {
        for x in xs {
            x.push_le(out);
        }
    }
}
impl ToLeBytes for f32 {
    fn push_le(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
    fn extend_le(xs: &[Self], out: &mut Vec<u8>) {
        let start = out.len();
        out.resize(start + 4 * xs.len(), 0);
        for (o, x) in out[start..].chunks_exact_mut(4).zip(xs) {
            o.copy_from_slice(&x.to_le_bytes());
        }
    }
}
impl ToLeBytes for u8 {
    fn push_le(&self, out: &mut Vec<u8>) {
        out.push(*self);
    }
    fn extend_le(xs: &[Self], out: &mut Vec<u8>) {
        out.extend_from_slice(xs);
    }
}

/// Extracts every enabled feature of the ROI `mask == label` from `image`.
///
/// Errors (not NaN features) for inputs that make the whole case meaningless: grid mismatch,
/// empty ROI, non-finite intensities inside the ROI, invalid settings.
pub fn extract(
    image: &Volume<f32>,
    mask: &Mask,
    label: u8,
    settings: &Settings,
) -> Result<Extraction> {
    extract_with_hashes(image, mask, label, settings, None)
}

/// As [`extract`], recording the given (image, mask) hashes, e.g. of the input files.
pub fn extract_with_hashes(
    image: &Volume<f32>,
    mask: &Mask,
    label: u8,
    settings: &Settings,
    hashes: Option<(String, String)>,
) -> Result<Extraction> {
    settings.validate()?;
    let types = settings.image_types()?;
    let turned;
    let (image, mask) = match &settings.orientation {
        Some(codes) => {
            turned = (
                image.reorient(codes, tomofuse_core::Space::Lps)?,
                mask.reorient(codes, tomofuse_core::Space::Lps)?,
            );
            (&turned.0, &turned.1)
        }
        None => (image, mask),
    };
    // Input hashes run beside the extraction (they cost as much as several families).
    let (hashes, features) = rayon::join(
        || hashes.unwrap_or_else(|| (sha256_volume(image), sha256_volume(mask))),
        || -> Result<Vec<Feature>> {
            if types.is_empty() {
                let roi = roi::Roi::build(image, mask, label, settings)?;
                check_pyradiomics_roi(&roi, settings)?;
                return Ok(compute_original(&roi, settings));
            }
            let (roi, grid) = roi::Roi::build_on_grid(image, mask, label, settings)?;
            check_pyradiomics_roi(&roi, settings)?;
            compute_image_types(&roi, &grid, &types, settings)
        },
    );
    let features = features?;
    let (image_sha256, mask_sha256) = hashes;
    Ok(Extraction {
        features,
        provenance: Provenance {
            crate_name: env!("CARGO_PKG_NAME").to_string(),
            crate_version: env!("CARGO_PKG_VERSION").to_string(),
            settings_toml: settings.to_toml(),
            image_sha256,
            mask_sha256,
            label,
        },
    })
}

/// The features of the original image under the settings' conventions (IBSI or
/// PyRadiomics: the same families, [`Settings::convention`] selects the conventions).
fn compute_original(roi: &roi::Roi, settings: &Settings) -> Vec<Feature> {
    compute_families(roi, settings)
}

/// The features of every image type, in the configured order, following the IBSI-2 order:
/// the whole (interpolated) image is filtered, the ROI (resegmented on the original
/// intensities) is cut from the response, then the type's families run on it.
///
/// PyRadiomics' image operations are computed only on the ROI crop (the values of the whole
/// image's response there, see [`pyradiomics_image::PyradImage::apply_box`]), and the
/// sub-bands of one wavelet decomposition together; IBSI-2 filters respond on the whole
/// image, cropped at once, one at a time. The other responses, then the features of the image
/// types, run in parallel (rayon); errors are reported for the first failing image type in
/// order.
pub fn compute_image_types(
    roi: &roi::Roi,
    grid: &Volume<f32>,
    types: &[image_types::ImageType],
    settings: &Settings,
) -> Result<Vec<Feature>> {
    use pyradiomics_image::PyradImage;
    let bx = roi.grid_box();
    let spacing = grid.geometry.spacing;
    let image64 = types
        .iter()
        .any(|t| t.filter.is_some() || t.pyradiomics.is_some())
        .then(|| grid.data.mapv(|v| v as f64));
    // Errors name the image type: a kernel too large for the image, or too many grey
    // levels for the type's discretisation.
    let in_type = |t: &image_types::ImageType, e: RadiomicsError| match e {
        RadiomicsError::FilterParam { param, reason } => RadiomicsError::FilterParam {
            param,
            reason: format!("{reason} (image type `{}`)", t.name),
        },
        RadiomicsError::Settings { field, reason } => RadiomicsError::Settings {
            field,
            reason: format!("{reason} (image type `{}`)", t.name),
        },
        other => other,
    };
    // Jobs: one per image type, except the bands of one wavelet decomposition (same wavelet
    // and approximation levels), which share one job.
    let mut jobs: Vec<Vec<usize>> = Vec::new();
    for (i, t) in types.iter().enumerate() {
        if let Some(PyradImage::Wavelet {
            wavelet,
            approximations,
            ..
        }) = &t.pyradiomics
        {
            let same = |j: &usize| {
                matches!(&types[*j].pyradiomics, Some(PyradImage::Wavelet { wavelet: w, approximations: a, .. })
                    if w == wavelet && a == approximations)
            };
            if let Some(job) = jobs.iter_mut().find(|job| same(&job[0])) {
                job.push(i);
                continue;
            }
        }
        jobs.push(vec![i]);
    }
    // The response of each image type on the ROI crop (None for the original image).
    type Crop = Result<Option<Vec<f64>>>;
    let run = |job: &Vec<usize>| -> Vec<(usize, Crop)> {
        let t = &types[job[0]];
        let Some(a) = image64
            .as_ref()
            .filter(|_| t.filter.is_some() || t.pyradiomics.is_some())
        else {
            return vec![(job[0], Ok(None))];
        };
        match (&t.filter, &t.pyradiomics) {
            (
                None,
                Some(PyradImage::Wavelet {
                    wavelet,
                    approximations,
                    ..
                }),
            ) => {
                let bands: Vec<Option<[bool; 3]>> = job
                    .iter()
                    .map(|&i| match &types[i].pyradiomics {
                        Some(PyradImage::Wavelet { band, .. }) => *band,
                        _ => unreachable!("a wavelet job holds wavelet bands"),
                    })
                    .collect();
                match pyradiomics_image::wavelet_bands(a, wavelet, *approximations, &bands, bx) {
                    Ok(maps) => job
                        .iter()
                        .zip(maps)
                        .map(|(&i, m)| (i, Ok(Some(roi.crop_from(&m, bx.lo)))))
                        .collect(),
                    Err(e) => vec![(job[0], Err(in_type(t, e)))],
                }
            }
            (None, Some(op)) => vec![(
                job[0],
                op.apply_box(a, spacing, bx)
                    .map(|m| Some(roi.crop_from(&m, bx.lo)))
                    .map_err(|e| in_type(t, e)),
            )],
            (Some(filter), _) => vec![(
                job[0],
                filter
                    .apply_array(a, spacing)
                    .map(|m| Some(roi.crop_from(&m, [0; 3])))
                    .map_err(|e| in_type(t, e)),
            )],
            (None, None) => unreachable!("the original image has no job response"),
        }
    };
    // The features of one image type from its response on the ROI crop.
    let features_of = |i: usize, r: Crop| -> Result<Vec<Feature>> {
        let t = &types[i];
        let Some(crop) = r? else {
            return Ok(compute_original(roi, settings));
        };
        let filtered = roi
            .with_image(crop, &t.settings)
            .map_err(|e| in_type(t, e))?;
        let mut fs = compute_families(&filtered, &t.settings);
        for f in &mut fs {
            f.image_type.clone_from(&t.name);
        }
        Ok(fs)
    };
    // IBSI-2 filters respond on the whole image: one at a time (their own passes are
    // parallel), so one whole-image response is alive at a time. Every other job filters and
    // goes straight on to its features in the same parallel task: with no barrier between
    // filtering and features, a thread that finishes a filter early takes feature work (the
    // original image's shape and texture) instead of waiting for the slowest filter.
    let whole = |job: &&Vec<usize>| types[job[0]].filter.is_some();
    let ready: Vec<(usize, Crop)> = jobs.iter().filter(whole).flat_map(run).collect();
    let rest: Vec<&Vec<usize>> = jobs.iter().filter(|j| !whole(j)).collect();
    let mut done: Vec<(usize, Result<Vec<Feature>>)> = ready
        .into_par_iter()
        .map(|(i, r)| (i, features_of(i, r)))
        .collect();
    done.extend(
        rest.par_iter()
            .flat_map(|job| {
                run(job)
                    .into_par_iter()
                    .map(|(i, r)| (i, features_of(i, r)))
                    .collect::<Vec<_>>()
            })
            .collect::<Vec<_>>(),
    );
    drop(image64);
    // Output in the order of the image types, whatever order the tasks finished in.
    done.sort_by_key(|(i, _)| *i);
    let per_type = done.into_iter().map(|(_, r)| r);
    let mut out = Vec::new();
    for fs in per_type {
        out.extend(fs?);
    }
    // PyRadiomics computes shape before every image type.
    if settings.convention().naming == Naming::Pyradiomics {
        out.sort_by_key(|f| f.family != "shape");
    }
    Ok(out)
}

/// Runs the enabled families on a prepared ROI, in parallel, keeping the family order.
/// Under PyRadiomics naming with a `featureClass` list, only the listed features are kept.
pub fn compute_families(roi: &roi::Roi, settings: &Settings) -> Vec<Feature> {
    let fams = families::all();
    let out: Vec<Vec<Feature>> = fams
        .par_iter()
        .filter(|f| f.enabled(settings))
        .map(|f| f.compute(roi, settings))
        .collect();
    let wanted = &settings.pyradiomics.features;
    let mut fs: Vec<Feature> = out
        .into_iter()
        .flatten()
        .filter(|f| {
            settings.convention().naming == Naming::Ibsi
                || wanted.is_empty()
                || wanted
                    .get(&f.family)
                    .is_some_and(|names| names.is_empty() || names.contains(&f.name))
        })
        .collect();
    if settings.convention().naming == Naming::Pyradiomics {
        pyradiomics_order(&mut fs, settings);
    }
    fs
}

/// PyRadiomics 3.0.1's order of one image type's features: shape first, then the classes
/// as `featureClass` lists them (else its default order, `getFeatureClasses()`: the modules alphabetically),
/// and within a class the listed features or, for a whole class, the order of `dir()` on
/// its `get<Name>FeatureValue` methods (so `MeanAbsoluteDeviation` before `Mean`).
fn pyradiomics_order(fs: &mut [Feature], s: &Settings) {
    const DEFAULT: [&str; 7] = [
        "firstorder",
        "glcm",
        "gldm",
        "glrlm",
        "glszm",
        "ngtdm",
        "shape",
    ];
    let p = &s.pyradiomics;
    // Shape first: PyRadiomics computes it before every image type's classes.
    let rank = |c: &str| {
        if c == "shape" {
            return 0;
        }
        if p.class_order.is_empty() {
            DEFAULT.iter().position(|x| *x == c)
        } else {
            p.class_order.iter().position(|x| x == c)
        }
        .map_or(usize::MAX, |r| r + 1)
    };
    fs.sort_by_cached_key(|f| {
        let listed = p
            .features
            .get(&f.family)
            .and_then(|names| names.iter().position(|x| x == &f.name));
        (
            rank(&f.family),
            listed.unwrap_or(usize::MAX),
            format!("get{}FeatureValue", f.name),
        )
    });
}

/// PyRadiomics' `minimumROIDimensions` and `minimumROISize` checks on the intensity mask.
fn check_pyradiomics_roi(roi: &roi::Roi, s: &Settings) -> Result<()> {
    let n = roi.n_int() as u64;
    if let Some(min) = s.pyradiomics.minimum_roi_size
        && n < min
    {
        return Err(RadiomicsError::RoiTooSmall(format!(
            "{n} voxels, minimumROISize is {min}"
        )));
    }
    if let Some(min) = s.pyradiomics.minimum_roi_dimensions {
        let spanned = roi
            .int_mask_bounds()
            .map_or(0, |(lo, hi)| (0..3).filter(|&a| hi[a] > lo[a]).count());
        if spanned < min as usize {
            return Err(RadiomicsError::RoiTooSmall(format!(
                "the ROI spans more than one voxel along {spanned} axes, minimumROIDimensions \
                 is {min}"
            )));
        }
    }
    Ok(())
}

/// Maps `f` over cases in parallel (rayon), keeping their order: batch extraction without
/// the caller depending on rayon.
pub fn par_map_cases<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync + Send) -> Vec<R> {
    items.par_iter().map(f).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batched_volume_hash_equals_the_per_voxel_byte_stream() {
        let g = tomofuse_core::Geometry::with_spacing([0.5, 0.7, 2.0]).unwrap();
        let data: Vec<f32> = (0..7 * 5 * 40_000)
            .map(|i| (i % 977) as f32 - 3.5)
            .collect();
        let v = Volume::from_vec_c([7, 5, 40_000], data, g).unwrap();
        let mut h = Sha256::new();
        for s in v.shape() {
            h.update((s as u64).to_le_bytes());
        }
        for x in v.geometry.spacing.iter().chain(v.geometry.origin.iter()) {
            h.update(x.to_le_bytes());
        }
        for row in v.geometry.direction {
            for x in row {
                h.update(x.to_le_bytes());
            }
        }
        for x in v.data.iter() {
            h.update(x.to_le_bytes());
        }
        assert_eq!(sha256_volume(&v), hex::encode(h.finalize()));
        let m = v.map(|x| (x.abs() as u32 % 251) as u8);
        let mut h = Sha256::new();
        for s in m.shape() {
            h.update((s as u64).to_le_bytes());
        }
        for x in m.geometry.spacing.iter().chain(m.geometry.origin.iter()) {
            h.update(x.to_le_bytes());
        }
        for row in m.geometry.direction {
            for x in row {
                h.update(x.to_le_bytes());
            }
        }
        h.update(m.data.as_slice().unwrap());
        assert_eq!(sha256_volume(&m), hex::encode(h.finalize()));
    }
}
