//! Image types: the images features are computed from, the original (interpolated) image and
//! IBSI-2 filter response maps, as radiomics studies use them (PyRadiomics' LoG and wavelet
//! image types give most of a typical feature set).
//!
//! A settings file lists them as `[[image_types]]` tables ([`ImageTypeSpec`], kept as
//! written so the provenance TOML shows them); [`expand`] checks them and expands lists
//! (several sigmas, levels, sub-bands) into one checked [`ImageType`] each, with a stable
//! name used in the output:
//!
//! | filter | name | example |
//! |---|---|---|
//! | none | `original` | `original` |
//! | `mean` | `mean-<support>-<dims>` | `mean-5-3D` |
//! | `log` | `log-sigma-<sigma>-mm-<dims>` | `log-sigma-2-0-mm-3D` |
//! | `laws` | `laws-<kernel>[-ri-<pooling>][-energy-<delta>]` | `laws-l5e5e5-ri-max-energy-7` |
//! | `gabor` | `gabor-sigma-<s>-mm-lambda-<l>-mm-gamma-<g>-theta[-step]-<t>-deg-<dims>` | `gabor-sigma-5-0-mm-lambda-2-0-mm-gamma-1-5-theta-step-22-5-deg-2D` |
//! | `wavelet` | `wavelet-<wavelet>-<bands>[-level-<n>][-ri-<pooling>]` | `wavelet-coif1-LLH`, `wavelet-db3-HHH-level-2-ri-mean` |
//! | `simoncelli` | `simoncelli-level-<n>-<dims>` | `simoncelli-level-1-3D` |
//!
//! Numbers are written with at least one decimal for mm values and `.` replaced by `-`
//! (PyRadiomics' style: `log-sigma-1-5-mm-3D`). The boundary condition and the LoG truncation
//! are not part of the name; two image types with the same name are an error.

use crate::error::{RadiomicsError, Result};
use crate::filters::{
    Boundary, Dims, Filter, FilterParams, GaborParams, LawsParams, LogParams, MeanParams, Plane,
    Pooling, SimoncelliParams, WaveletParams,
};
use crate::pyradiomics_image::PyradImage;
use crate::settings::{Compat, Discretisation, Families, Settings};
use serde::{Deserialize, Serialize};

/// Name of the unfiltered image type (and the default of [`crate::Feature::image_type`]).
pub const ORIGINAL: &str = "original";

/// One value or a list of values (one image type per value).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

impl<T: Clone> OneOrMany<T> {
    fn to_vec(&self) -> Vec<T> {
        match self {
            Self::One(v) => vec![v.clone()],
            Self::Many(v) => v.clone(),
        }
    }
}

/// A number as written: integer or not (PyRadiomics names `sigma: 1` `log-sigma-1-mm-3D` but
/// `sigma: 1.0` `log-sigma-1-0-mm-3D`, Python's `str` of the value).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Number {
    Int(i64),
    Float(f64),
}

impl Number {
    pub fn value(self) -> f64 {
        match self {
            Self::Int(i) => i as f64,
            Self::Float(f) => f,
        }
    }

    /// Python's `str()` of the value (`1`, `1.0`, `2.5`).
    pub fn python_str(self) -> String {
        match self {
            Self::Int(i) => i.to_string(),
            Self::Float(f) if f.fract() == 0.0 && f.abs() < 1e16 => format!("{f:.1}"),
            Self::Float(f) => format!("{f}"),
        }
    }
}

/// One `[[image_types]]` table as written. Keys a filter does not use are errors.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageTypeSpec {
    /// Only `original` (the unfiltered image; filtered names are generated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `mean`, `log`, `laws`, `gabor`, `wavelet` or `simoncelli`; absent for `original`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    /// `2D` (per slice of constant k) or `3D` (default; Laws: from the kernel).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dims: Option<String>,
    /// `zero`, `nearest`, `periodic` or `mirror` (default, as IBSI-2 phase 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boundary: Option<String>,
    /// LoG and Gabor scale (mm); LoG accepts a list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sigma_mm: Option<OneOrMany<Number>>,
    /// LoG kernel radius in sigmas (default 4, as IBSI-2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncate: Option<f64>,
    /// Mean filter support (odd number of voxels); a list is allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub support: Option<OneOrMany<usize>>,
    /// Laws kernel(s), e.g. `L5E5E5` (3D) or `L5S5` (2D).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<OneOrMany<String>>,
    /// Pool over the right-angle rotations (Laws, wavelet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation_invariant: Option<bool>,
    /// `max` or `mean` pooling of a rotation-invariant filter (Laws default max, wavelet mean).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pooling: Option<String>,
    /// Laws texture energy window half-width (voxels).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub energy_delta: Option<usize>,
    /// Gabor wavelength (mm).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lambda_mm: Option<f64>,
    /// Gabor spatial aspect ratio (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gamma: Option<f64>,
    /// Gabor: one orientation (degrees) ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub theta_deg: Option<f64>,
    /// ... or the mean over `k * step` for k = 0 .. 360 / step (rotation invariance).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub theta_step_deg: Option<f64>,
    /// Separable wavelet name (`haar`, `db1`, `db2`, `db3`, `coif1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wavelet: Option<String>,
    /// Wavelet or Simoncelli level(s), default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<OneOrMany<usize>>,
    /// Wavelet sub-band(s): `all` (2^dims bands), one band (`LLH`) or a list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subbands: Option<OneOrMany<String>>,
    /// PyRadiomics wavelet: levels decomposed before the first reported one (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_level: Option<usize>,
    /// PyRadiomics gradient: divide the differences by the spacing (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gradient_use_spacing: Option<bool>,
    /// Discretisation of this image type (default: the top-level one). Response maps are
    /// not resegmented, so fixed bin sizes are anchored at the ROI minimum of the response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discretisation: Option<Discretisation>,
    /// Families of this image type (default: the top-level ones without IVH). Morphology is
    /// never computed on a response map: it depends on the mask only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub families: Option<Families>,
}

/// A checked image type.
#[derive(Debug, Clone)]
pub struct ImageType {
    /// Stable name used in the output (see the module doc).
    pub name: String,
    /// None for `original` (and for PyRadiomics' image operations).
    pub filter: Option<Filter>,
    /// A PyRadiomics image operation (`compat = "pyradiomics"` only).
    pub pyradiomics: Option<PyradImage>,
    /// Settings of this image type: the top-level ones with this type's discretisation and
    /// families (for `original`, the top-level settings as they are).
    pub settings: Settings,
}

fn err(i: usize, key: &str, reason: impl Into<String>) -> RadiomicsError {
    RadiomicsError::Settings {
        field: format!("image_types[{i}].{key}"),
        reason: reason.into(),
    }
}

/// `2.0` -> `2-0`, `1.25` -> `1-25`: mm values in names (PyRadiomics' style).
fn mm(v: f64) -> String {
    let s = if v.fract() == 0.0 {
        format!("{v:.1}")
    } else {
        format!("{v}")
    };
    s.replace('.', "-")
}

fn dims_name(d: Dims) -> &'static str {
    match d {
        Dims::D2 => "2D",
        Dims::D3 => "3D",
    }
}

fn pooling_name(p: Pooling) -> &'static str {
    match p {
        Pooling::Max => "max",
        Pooling::Mean => "mean",
    }
}

impl ImageTypeSpec {
    /// Keys set in this table, for the "not used by this filter" check.
    fn set_keys(&self) -> Vec<&'static str> {
        let mut k = Vec::new();
        let mut add = |set: bool, name: &'static str| {
            if set {
                k.push(name)
            }
        };
        add(self.name.is_some(), "name");
        add(self.dims.is_some(), "dims");
        add(self.boundary.is_some(), "boundary");
        add(self.sigma_mm.is_some(), "sigma_mm");
        add(self.truncate.is_some(), "truncate");
        add(self.support.is_some(), "support");
        add(self.kernel.is_some(), "kernel");
        add(self.rotation_invariant.is_some(), "rotation_invariant");
        add(self.pooling.is_some(), "pooling");
        add(self.energy_delta.is_some(), "energy_delta");
        add(self.lambda_mm.is_some(), "lambda_mm");
        add(self.gamma.is_some(), "gamma");
        add(self.theta_deg.is_some(), "theta_deg");
        add(self.theta_step_deg.is_some(), "theta_step_deg");
        add(self.wavelet.is_some(), "wavelet");
        add(self.level.is_some(), "level");
        add(self.subbands.is_some(), "subbands");
        add(self.start_level.is_some(), "start_level");
        add(self.gradient_use_spacing.is_some(), "gradient_use_spacing");
        add(self.discretisation.is_some(), "discretisation");
        add(self.families.is_some(), "families");
        k
    }
}

/// Checks the `image_types` of `settings` and expands lists into one [`ImageType`] each, in
/// the order written. Empty when none are configured.
pub fn expand(settings: &Settings) -> Result<Vec<ImageType>> {
    let mut out: Vec<ImageType> = Vec::new();
    for (i, spec) in settings.image_types.iter().enumerate() {
        for t in expand_one(i, spec, settings)? {
            if out.iter().any(|o| o.name == t.name) {
                return Err(err(
                    i,
                    "filter",
                    format!(
                        "image type `{}` is configured twice (names ignore the boundary and the \
                         LoG truncation)",
                        t.name
                    ),
                ));
            }
            out.push(t);
        }
    }
    Ok(out)
}

/// PyRadiomics' image types (`compat = "pyradiomics"`): `filter` is one of its image type
/// names (case-insensitive), computed as [`crate::pyradiomics_image`] documents.
fn expand_pyradiomics(
    i: usize,
    filter: &str,
    spec: &ImageTypeSpec,
    settings: &Settings,
) -> Result<Vec<ImageType>> {
    let lower = filter.to_ascii_lowercase();
    let allowed: &[&str] = match lower.as_str() {
        "square" | "squareroot" | "logarithm" | "exponential" => &[],
        "gradient" => &["gradient_use_spacing"],
        "wavelet" => &["wavelet", "level", "start_level"],
        "log" => &["sigma_mm"],
        "lbp2d" | "lbp3d" => {
            return Err(err(
                i,
                "filter",
                format!("PyRadiomics' {filter} image type is not implemented in tomofuse"),
            ));
        }
        _ => {
            return Err(err(
                i,
                "filter",
                format!(
                    "unknown PyRadiomics image type `{filter}` (known: Original, LoG, Wavelet, \
                     Square, SquareRoot, Logarithm, Exponential, Gradient, LBP2D, LBP3D)"
                ),
            ));
        }
    };
    for k in spec.set_keys() {
        if !allowed.contains(&k) && k != "discretisation" {
            return Err(err(
                i,
                k,
                format!("not an option of PyRadiomics' {filter} image type"),
            ));
        }
    }
    let one = |op: PyradImage, name: &str| vec![(name.to_string(), op)];
    let made: Vec<(String, PyradImage)> = match lower.as_str() {
        "log" => {
            let sigmas = spec
                .sigma_mm
                .as_ref()
                .map(|s| s.to_vec())
                .ok_or_else(|| err(i, "sigma_mm", "required by PyRadiomics' LoG"))?;
            let mut v = Vec::new();
            for s in sigmas {
                if !(s.value().is_finite() && s.value() > 0.0) {
                    return Err(err(
                        i,
                        "sigma_mm",
                        format!("must be > 0, found {}", s.value()),
                    ));
                }
                let name = format!("log-sigma-{}-mm-3D", s.python_str().replace('.', "-"));
                v.push((name, PyradImage::Log { sigma: s.value() }));
            }
            v
        }
        "square" => one(PyradImage::Square, "square"),
        "squareroot" => one(PyradImage::SquareRoot, "squareroot"),
        "logarithm" => one(PyradImage::Logarithm, "logarithm"),
        "exponential" => one(PyradImage::Exponential, "exponential"),
        "gradient" => one(
            PyradImage::Gradient {
                use_spacing: spec.gradient_use_spacing.unwrap_or(true),
            },
            "gradient",
        ),
        _ => {
            let wavelet = spec.wavelet.clone().unwrap_or_else(|| "coif1".to_string());
            if crate::pyradiomics_image::wavelet_filters(&wavelet).is_none() {
                return Err(err(
                    i,
                    "wavelet",
                    format!(
                        "`{wavelet}` is not a wavelet PyRadiomics documents (known: {})",
                        crate::pyradiomics_image::wavelet_names().join(", ")
                    ),
                ));
            }
            let level = match &spec.level {
                None => 1,
                Some(OneOrMany::One(l)) if *l >= 1 && *l <= 8 => *l,
                Some(OneOrMany::One(l)) => {
                    return Err(err(i, "level", format!("must be in 1..=8, found {l}")));
                }
                Some(OneOrMany::Many(_)) => {
                    return Err(err(i, "level", "one number of levels"));
                }
            };
            let start = spec.start_level.unwrap_or(0);
            if start > 8 {
                return Err(err(
                    i,
                    "start_level",
                    format!("must be <= 8, found {start}"),
                ));
            }
            let mut v = Vec::new();
            for idx in 0..level {
                let prefix = if idx == 0 {
                    "wavelet".to_string()
                } else {
                    format!("wavelet{}", idx + 1)
                };
                // The 7 detail bands in pywt.swtn's dict order (aad, ada, ..., ddd), as
                // PyRadiomics yields them; letters for x, y, z.
                for code in 1u8..8 {
                    let band = [code & 4 != 0, code & 2 != 0, code & 1 != 0];
                    let letters: String = band.iter().map(|h| if *h { 'H' } else { 'L' }).collect();
                    v.push((
                        format!("{prefix}-{letters}"),
                        PyradImage::Wavelet {
                            wavelet: wavelet.clone(),
                            approximations: start + idx,
                            band: Some(band),
                        },
                    ));
                }
            }
            let prefix = if level == 1 {
                "wavelet".to_string()
            } else {
                format!("wavelet{level}")
            };
            v.push((
                format!("{prefix}-LLL"),
                PyradImage::Wavelet {
                    wavelet,
                    approximations: start + level - 1,
                    band: None,
                },
            ));
            v
        }
    };
    let mut type_settings = settings.clone();
    type_settings.image_types.clear();
    if let Some(d) = &spec.discretisation {
        crate::settings::check_discretisation(&format!("image_types[{i}].discretisation"), d)?;
        type_settings.discretisation = d.clone();
    }
    // Shape is computed for the original image only (PyRadiomics too).
    type_settings.families.morphology = false;
    Ok(made
        .into_iter()
        .map(|(name, op)| ImageType {
            name,
            filter: None,
            pyradiomics: Some(op),
            settings: type_settings.clone(),
        })
        .collect())
}

fn expand_one(i: usize, spec: &ImageTypeSpec, settings: &Settings) -> Result<Vec<ImageType>> {
    let Some(filter) = spec.filter.as_deref() else {
        if let Some(k) = spec.set_keys().into_iter().find(|k| *k != "name") {
            return Err(err(
                i,
                k,
                "not used by the original image type (no `filter`)",
            ));
        }
        return match spec.name.as_deref() {
            Some(ORIGINAL) => Ok(vec![ImageType {
                name: ORIGINAL.into(),
                filter: None,
                pyradiomics: None,
                settings: settings.clone(),
            }]),
            other => Err(err(
                i,
                "name",
                format!(
                    "`{}`: only `original` has a name; a filtered image type needs `filter` \
                     (log, mean, laws, gabor, wavelet, simoncelli)",
                    other.unwrap_or("")
                ),
            )),
        };
    };
    if settings.compat == Compat::Pyradiomics {
        return expand_pyradiomics(i, filter, spec, settings);
    }
    let allowed: &[&str] = match filter {
        "mean" => &["support", "dims", "boundary"],
        "log" => &["sigma_mm", "truncate", "dims", "boundary"],
        "laws" => &[
            "kernel",
            "rotation_invariant",
            "pooling",
            "energy_delta",
            "dims",
            "boundary",
        ],
        "gabor" => &[
            "sigma_mm",
            "lambda_mm",
            "gamma",
            "theta_deg",
            "theta_step_deg",
            "dims",
            "boundary",
        ],
        "wavelet" => &[
            "wavelet",
            "level",
            "subbands",
            "rotation_invariant",
            "pooling",
            "dims",
            "boundary",
        ],
        "simoncelli" => &["level", "dims"],
        other => {
            return Err(err(
                i,
                "filter",
                format!(
                    "unknown filter `{other}` (known: log, mean, laws, gabor, wavelet, simoncelli)"
                ),
            ));
        }
    };
    if let Some(k) = spec
        .set_keys()
        .into_iter()
        .find(|k| matches!(*k, "start_level" | "gradient_use_spacing"))
    {
        return Err(err(
            i,
            k,
            "a PyRadiomics image type option (compat = \"pyradiomics\")",
        ));
    }
    for k in spec.set_keys() {
        if k == "name" {
            return Err(err(
                i,
                "name",
                "filtered image types are named from their parameters (see docs/architecture.md)",
            ));
        }
        if !allowed.contains(&k) && k != "discretisation" && k != "families" {
            return Err(err(i, k, format!("not used by filter `{filter}`")));
        }
    }
    let dims = match spec.dims.as_deref() {
        None => None,
        Some(d) if d.eq_ignore_ascii_case("3D") => Some(Dims::D3),
        Some(d) if d.eq_ignore_ascii_case("2D") => Some(Dims::D2),
        Some(d) => return Err(err(i, "dims", format!("`{d}`: must be \"2D\" or \"3D\""))),
    };
    let boundary = match spec.boundary.as_deref() {
        None => Boundary::Mirror,
        Some(b) => Boundary::parse(b).map_err(|e| err(i, "boundary", inner(e)))?,
    };
    let pooling = |default: Pooling| -> Result<Pooling> {
        match (spec.pooling.as_deref(), spec.rotation_invariant) {
            (None, _) => Ok(default),
            (Some(_), None | Some(false)) => Err(err(
                i,
                "pooling",
                "only used with rotation_invariant = true",
            )),
            (Some("max"), _) => Ok(Pooling::Max),
            (Some("mean"), _) => Ok(Pooling::Mean),
            (Some(o), _) => Err(err(i, "pooling", format!("`{o}`: must be max or mean"))),
        }
    };
    let required = |key: &str, v: bool| -> Result<()> {
        if v {
            Ok(())
        } else {
            Err(err(i, key, format!("required by filter `{filter}`")))
        }
    };
    let ri = spec.rotation_invariant.unwrap_or(false);
    // (name, params) of every image type of this table.
    let mut made: Vec<(String, FilterParams)> = Vec::new();
    match filter {
        "mean" => {
            required("support", spec.support.is_some())?;
            let d = dims.unwrap_or(Dims::D3);
            for support in spec
                .support
                .as_ref()
                .map(|s| s.to_vec())
                .unwrap_or_default()
            {
                made.push((
                    format!("mean-{support}-{}", dims_name(d)),
                    FilterParams::Mean(MeanParams {
                        support,
                        dims: d,
                        boundary,
                    }),
                ));
            }
        }
        "log" => {
            required("sigma_mm", spec.sigma_mm.is_some())?;
            let d = dims.unwrap_or(Dims::D3);
            for sigma in spec
                .sigma_mm
                .as_ref()
                .map(|s| s.to_vec())
                .unwrap_or_default()
                .into_iter()
                .map(Number::value)
            {
                made.push((
                    format!("log-sigma-{}-mm-{}", mm(sigma), dims_name(d)),
                    FilterParams::Log(LogParams {
                        sigma_mm: sigma,
                        truncate: spec.truncate.unwrap_or(4.0),
                        dims: d,
                        boundary,
                        riesz: None,
                    }),
                ));
            }
        }
        "laws" => {
            required("kernel", spec.kernel.is_some())?;
            let pool = pooling(Pooling::Max)?;
            for kernel in spec.kernel.as_ref().map(|s| s.to_vec()).unwrap_or_default() {
                let d = dims.unwrap_or(if kernel.trim().len() == 4 {
                    Dims::D2
                } else {
                    Dims::D3
                });
                let mut name = format!("laws-{}", kernel.trim().to_ascii_lowercase());
                if ri {
                    name.push_str(&format!("-ri-{}", pooling_name(pool)));
                }
                if let Some(e) = spec.energy_delta {
                    name.push_str(&format!("-energy-{e}"));
                }
                made.push((
                    name,
                    FilterParams::Laws(LawsParams {
                        kernel,
                        rotation_invariant: ri,
                        pooling: pool,
                        energy_delta: spec.energy_delta,
                        dims: d,
                        boundary,
                    }),
                ));
            }
        }
        "gabor" => {
            let sigma = match &spec.sigma_mm {
                Some(OneOrMany::One(s)) => s.value(),
                Some(OneOrMany::Many(_)) => {
                    return Err(err(i, "sigma_mm", "one value for a Gabor filter"));
                }
                None => return Err(err(i, "sigma_mm", "required by filter `gabor`")),
            };
            let lambda = spec
                .lambda_mm
                .ok_or_else(|| err(i, "lambda_mm", "required by filter `gabor`"))?;
            let gamma = spec.gamma.unwrap_or(1.0);
            let (thetas, theta_name) = match (spec.theta_deg, spec.theta_step_deg) {
                (Some(t), None) => (vec![t.to_radians()], format!("theta-{}-deg", mm(t))),
                (None, Some(step)) => {
                    if !(step.is_finite() && step > 0.0 && step <= 360.0) {
                        return Err(err(
                            i,
                            "theta_step_deg",
                            format!("must be in (0, 360], found {step}"),
                        ));
                    }
                    let n = (360.0 / step).round().max(1.0) as usize;
                    (
                        (0..n).map(|k| (k as f64 * step).to_radians()).collect(),
                        format!("theta-step-{}-deg", mm(step)),
                    )
                }
                _ => {
                    return Err(err(
                        i,
                        "theta_deg",
                        "a Gabor filter needs exactly one of theta_deg and theta_step_deg",
                    ));
                }
            };
            // 3D: the 2D kernel in the three orthogonal planes, averaged (IBSI-2 5.B).
            let d = dims.unwrap_or(Dims::D3);
            let planes = match d {
                Dims::D2 => vec![Plane::Axial],
                Dims::D3 => vec![Plane::Axial, Plane::Coronal, Plane::Sagittal],
            };
            made.push((
                format!(
                    "gabor-sigma-{}-mm-lambda-{}-mm-gamma-{}-{theta_name}-{}",
                    mm(sigma),
                    mm(lambda),
                    mm(gamma),
                    dims_name(d)
                ),
                FilterParams::Gabor(GaborParams {
                    sigma_mm: sigma,
                    lambda_mm: lambda,
                    gamma,
                    thetas,
                    planes,
                    boundary,
                }),
            ));
        }
        "wavelet" => {
            let wavelet = spec
                .wavelet
                .clone()
                .ok_or_else(|| err(i, "wavelet", "required by filter `wavelet`"))?;
            let d = dims.unwrap_or(Dims::D3);
            let nd = if d == Dims::D3 { 3 } else { 2 };
            let bands: Vec<String> = match &spec.subbands {
                None => return Err(err(i, "subbands", "required by filter `wavelet`")),
                Some(OneOrMany::One(s)) if s.eq_ignore_ascii_case("all") => (0..1usize << nd)
                    .map(|b| {
                        (0..nd)
                            .map(|ax| {
                                if b >> (nd - 1 - ax) & 1 == 0 {
                                    'L'
                                } else {
                                    'H'
                                }
                            })
                            .collect()
                    })
                    .collect(),
                Some(s) => s.to_vec().iter().map(|b| b.to_ascii_uppercase()).collect(),
            };
            let pool = pooling(Pooling::Mean)?;
            let levels = spec.level.as_ref().map_or(vec![1], |l| l.to_vec());
            for level in levels {
                for b in &bands {
                    let mut name = format!("wavelet-{}-{b}", wavelet.trim().to_ascii_lowercase());
                    if level != 1 {
                        name.push_str(&format!("-level-{level}"));
                    }
                    if ri {
                        name.push_str(&format!("-ri-{}", pooling_name(pool)));
                    }
                    made.push((
                        name,
                        FilterParams::Wavelet(WaveletParams {
                            wavelet: wavelet.clone(),
                            bands: b.clone(),
                            level,
                            rotation_invariant: ri,
                            pooling: pool,
                            dims: d,
                            boundary,
                        }),
                    ));
                }
            }
        }
        "simoncelli" => {
            let d = dims.unwrap_or(Dims::D3);
            for level in spec.level.as_ref().map_or(vec![1], |l| l.to_vec()) {
                made.push((
                    format!("simoncelli-level-{level}-{}", dims_name(d)),
                    FilterParams::Simoncelli(SimoncelliParams {
                        level,
                        dims: d,
                        riesz: None,
                    }),
                ));
            }
        }
        _ => unreachable!("filter names are checked above"),
    }
    if made.is_empty() {
        return Err(err(i, allowed[0], "an empty list gives no image type"));
    }
    let mut type_settings = settings.clone();
    type_settings.image_types.clear();
    if let Some(d) = &spec.discretisation {
        crate::settings::check_discretisation(&format!("image_types[{i}].discretisation"), d)?;
        type_settings.discretisation = d.clone();
    }
    type_settings.families = spec.families.clone().unwrap_or_else(|| Families {
        ivh: false,
        ..settings.families.clone()
    });
    type_settings.families.morphology = false;
    // The response map is not resegmented: the range (in the original's units) is used for
    // the ROI only, not as the anchor of the response's bins.
    type_settings.resegmentation = Default::default();
    made.into_iter()
        .map(|(name, params)| {
            let filter = params.check().map_err(|e| match e {
                RadiomicsError::FilterParam { param, reason } => {
                    let key = match param.as_str() {
                        "bands" => "subbands",
                        "theta" => "theta_deg",
                        p => p,
                    };
                    err(i, key, reason)
                }
                other => other,
            })?;
            Ok(ImageType {
                name,
                filter: Some(filter),
                pyradiomics: None,
                settings: type_settings.clone(),
            })
        })
        .collect()
}

/// The reason of a filter-parameter error (its parameter is named by the caller).
fn inner(e: RadiomicsError) -> String {
    match e {
        RadiomicsError::FilterParam { reason, .. } => reason,
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(extra: &str) -> Result<Vec<ImageType>> {
        let text = format!(
            "discretisation = {{ method = \"fixed_bin_size\", bin_width = 25.0 }}\n{extra}"
        );
        let s = Settings::from_toml(&text, "test")?;
        expand(&s)
    }

    fn names(extra: &str) -> Vec<String> {
        parse(extra).unwrap().into_iter().map(|t| t.name).collect()
    }

    fn msg(extra: &str) -> String {
        match parse(extra) {
            Err(e) => e.to_string(),
            Ok(t) => panic!("expected an error, got {} image types", t.len()),
        }
    }

    #[test]
    fn names_follow_the_documented_scheme() {
        assert_eq!(
            names(
                "[[image_types]]\nname = \"original\"\n\
                 [[image_types]]\nfilter = \"log\"\nsigma_mm = [1.0, 1.5, 3]\n\
                 [[image_types]]\nfilter = \"mean\"\nsupport = 5\ndims = \"2D\"\n\
                 [[image_types]]\nfilter = \"laws\"\nkernel = \"L5E5E5\"\nrotation_invariant = true\nenergy_delta = 7\n\
                 [[image_types]]\nfilter = \"laws\"\nkernel = \"L5S5\"\n\
                 [[image_types]]\nfilter = \"simoncelli\"\nlevel = [1, 2]\n\
                 [[image_types]]\nfilter = \"gabor\"\nsigma_mm = 5\nlambda_mm = 2\ngamma = 1.5\ntheta_step_deg = 22.5\ndims = \"2D\"\n\
                 [[image_types]]\nfilter = \"wavelet\"\nwavelet = \"db3\"\nsubbands = \"HHH\"\nlevel = 2\nrotation_invariant = true\n"
            ),
            [
                "original",
                "log-sigma-1-0-mm-3D",
                "log-sigma-1-5-mm-3D",
                "log-sigma-3-0-mm-3D",
                "mean-5-2D",
                "laws-l5e5e5-ri-max-energy-7",
                "laws-l5s5",
                "simoncelli-level-1-3D",
                "simoncelli-level-2-3D",
                "gabor-sigma-5-0-mm-lambda-2-0-mm-gamma-1-5-theta-step-22-5-deg-2D",
                "wavelet-db3-HHH-level-2-ri-mean",
            ]
        );
        assert_eq!(
            names(
                "[[image_types]]\nfilter = \"wavelet\"\nwavelet = \"coif1\"\nsubbands = \"all\"\n"
            ),
            [
                "wavelet-coif1-LLL",
                "wavelet-coif1-LLH",
                "wavelet-coif1-LHL",
                "wavelet-coif1-LHH",
                "wavelet-coif1-HLL",
                "wavelet-coif1-HLH",
                "wavelet-coif1-HHL",
                "wavelet-coif1-HHH",
            ]
        );
        assert_eq!(
            names(
                "[[image_types]]\nfilter = \"wavelet\"\nwavelet = \"haar\"\nsubbands = [\"lh\", \"HL\"]\ndims = \"2D\"\n"
            ),
            ["wavelet-haar-LH", "wavelet-haar-HL"]
        );
    }

    #[test]
    fn bad_image_types_are_errors_naming_the_key() {
        let cases = [
            (
                "filter = \"log\"\nsigma_mm = [1.0, 0.0]",
                "image_types[0].sigma_mm",
            ),
            ("filter = \"log\"\nsigma_mm = -1", "image_types[0].sigma_mm"),
            ("filter = \"log\"", "image_types[0].sigma_mm"),
            (
                "filter = \"log\"\nsigma_mm = 1\ndims = \"4D\"",
                "image_types[0].dims",
            ),
            (
                "filter = \"log\"\nsigma_mm = 1\nboundary = \"wrap-around\"",
                "image_types[0].boundary",
            ),
            (
                "filter = \"log\"\nsigma_mm = 1\nwavelet = \"db2\"",
                "image_types[0].wavelet",
            ),
            ("filter = \"sobel\"", "image_types[0].filter"),
            (
                "filter = \"wavelet\"\nwavelet = \"db9\"\nsubbands = \"all\"",
                "image_types[0].wavelet",
            ),
            (
                "filter = \"wavelet\"\nwavelet = \"db2\"\nsubbands = [\"LLX\"]",
                "image_types[0].subbands",
            ),
            (
                "filter = \"wavelet\"\nwavelet = \"db2\"\nsubbands = \"LH\"",
                "image_types[0].subbands",
            ),
            (
                "filter = \"wavelet\"\nwavelet = \"db2\"\nsubbands = \"all\"\npooling = \"max\"",
                "image_types[0].pooling",
            ),
            ("filter = \"mean\"\nsupport = 4", "image_types[0].support"),
            (
                "filter = \"laws\"\nkernel = \"L5Q5E5\"",
                "image_types[0].kernel",
            ),
            (
                "filter = \"gabor\"\nsigma_mm = 5\nlambda_mm = 2",
                "image_types[0].theta_deg",
            ),
            ("name = \"mine\"", "image_types[0].name"),
            (
                "name = \"original\"\nsigma_mm = 1",
                "image_types[0].sigma_mm",
            ),
            (
                "filter = \"log\"\nsigma_mm = 1\nname = \"x\"",
                "image_types[0].name",
            ),
            (
                "filter = \"log\"\nsigma_mm = 1\ndiscretisation = { method = \"fixed_bin_size\", bin_width = 0.0 }",
                "image_types[0].discretisation",
            ),
        ];
        for (table, key) in cases {
            let m = msg(&format!("[[image_types]]\n{table}\n"));
            assert!(m.contains(&format!("`{key}`")), "{table}: {m}");
        }
        // Same name twice (boundary is not part of the name).
        let m = msg("[[image_types]]\nfilter = \"log\"\nsigma_mm = 1\n\
             [[image_types]]\nfilter = \"log\"\nsigma_mm = 1\nboundary = \"zero\"\n");
        assert!(m.contains("configured twice"), "{m}");
        // Unknown keys are parse errors naming the key.
        let m = msg("[[image_types]]\nfilter = \"log\"\nsigma = 1\n");
        assert!(m.contains("sigma"), "{m}");
    }

    #[test]
    fn filtered_types_drop_morphology_ivh_and_the_resegmentation_anchor() {
        let s = Settings::from_toml(
            "discretisation = { method = \"fixed_bin_size\", bin_width = 25.0 }\n\
             [resegmentation]\nrange = [-1000.0, 400.0]\n\
             [[image_types]]\nname = \"original\"\n\
             [[image_types]]\nfilter = \"log\"\nsigma_mm = 1\n\
             discretisation = { method = \"fixed_bin_number\", n_bins = 32 }\n",
            "test",
        )
        .unwrap();
        let t = expand(&s).unwrap();
        assert!(t[0].settings.families.morphology && t[0].settings.families.ivh);
        assert_eq!(t[0].settings.resegmentation.range, Some([-1000.0, 400.0]));
        let f = &t[1].settings;
        assert!(!f.families.morphology && !f.families.ivh && f.families.glcm);
        assert_eq!(f.resegmentation.range, None);
        assert_eq!(
            f.discretisation,
            Discretisation::FixedBinNumber { n_bins: 32 }
        );
    }
}
