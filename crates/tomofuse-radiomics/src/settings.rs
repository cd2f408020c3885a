//! Extraction settings: a validated TOML file, with the IBSI CT-phantom configurations A-E
//! shipped as presets. Unknown keys are errors, so a typo never silently changes a study.

use crate::error::{RadiomicsError, Result};
use crate::image_types::ImageTypeSpec;
use serde::{Deserialize, Serialize};

pub mod pyradiomics_params;

/// How intensities become grey levels (texture, intensity histogram) or IVH levels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case", deny_unknown_fields)]
pub enum Discretisation {
    /// Use intensities as they are. For texture this needs integer grey levels >= 1 (the IBSI
    /// digital phantom); for the IVH it means the "calibrated, discrete" case (CT HU).
    None,
    /// Bins of `bin_width`, anchored at the lower resegmentation bound when one is set, else at
    /// the ROI minimum (IBSI 2.7.1).
    FixedBinSize { bin_width: f64 },
    /// `n_bins` bins spanning the ROI minimum to maximum.
    FixedBinNumber { n_bins: u32 },
}

/// Interpolation kernel for image resampling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InterpKind {
    Linear,
    Bspline,
}

/// Resampling to a new voxel spacing before anything else.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Interpolation {
    /// Target spacing (mm) along x, y, z (index axes i, j, k). In 2D configurations set z to
    /// the original slice spacing or use `in_plane_only`.
    pub spacing: [f64; 3],
    pub kind: InterpKind,
    /// Keep the slice spacing (2D configurations interpolate within slices only).
    #[serde(default)]
    pub in_plane_only: bool,
    /// Round interpolated intensities to integers (IBSI CT configurations).
    #[serde(default = "yes")]
    pub round_intensities: bool,
    /// Partial-volume threshold applied to the linearly interpolated mask.
    #[serde(default = "half")]
    pub mask_threshold: f64,
}

fn yes() -> bool {
    true
}
fn half() -> f64 {
    0.5
}

/// Resegmentation of the intensity mask (the morphological mask is never resegmented).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resegmentation {
    /// Keep voxels with `lo <= x <= hi`. Use a very large bound for a half-open range.
    pub range: Option<[f64; 2]>,
    /// Keep voxels within mean +- sigma * sd of the ROI intensities (IBSI uses 3).
    pub outlier_sigma: Option<f64>,
}

/// Which texture aggregations to compute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Texture {
    /// Per-slice (2D) features: `_2D_avg`, `_2D_comb`, `_2D`.
    #[serde(default = "yes")]
    pub d2: bool,
    /// Slice-merged (2.5D) features: `_2_5D_avg`, `_2_5D_comb`, `_2_5D`.
    #[serde(default = "yes")]
    pub d25: bool,
    /// Volumetric (3D) features: `_3D_avg`, `_3D_comb`, `_3D`.
    #[serde(default = "yes")]
    pub d3: bool,
    /// NGLDM coarseness parameter alpha.
    #[serde(default)]
    pub ngldm_alpha: u32,
}

impl Default for Texture {
    fn default() -> Self {
        Self {
            d2: true,
            d25: true,
            d3: true,
            ngldm_alpha: 0,
        }
    }
}

/// Feature families to compute (all on by default).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Families {
    #[serde(default = "yes")]
    pub morphology: bool,
    #[serde(default = "yes")]
    pub local_intensity: bool,
    #[serde(default = "yes")]
    pub statistics: bool,
    #[serde(default = "yes")]
    pub histogram: bool,
    #[serde(default = "yes")]
    pub ivh: bool,
    #[serde(default = "yes")]
    pub glcm: bool,
    #[serde(default = "yes")]
    pub glrlm: bool,
    #[serde(default = "yes")]
    pub glszm: bool,
    #[serde(default = "yes")]
    pub gldzm: bool,
    #[serde(default = "yes")]
    pub ngtdm: bool,
    #[serde(default = "yes")]
    pub ngldm: bool,
    /// Moran's I and Geary's C are O(N^2) in the ROI voxel count; they can be switched off.
    #[serde(default = "yes")]
    pub moran_geary: bool,
}

impl Default for Families {
    fn default() -> Self {
        Self {
            morphology: true,
            local_intensity: true,
            statistics: true,
            histogram: true,
            ivh: true,
            glcm: true,
            glrlm: true,
            glszm: true,
            gldzm: true,
            ngtdm: true,
            ngldm: true,
            moran_geary: true,
        }
    }
}

/// Everything that determines the feature values of a case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Free-text name recorded in the provenance.
    #[serde(default)]
    pub name: String,
    /// Axis codes in LPS space (e.g. `"LPS"`, ITK's identity) the image and mask are turned
    /// to before anything else: axes permuted and flipped, no interpolation. Direction-bound
    /// features (wavelet sub-bands, 2D slices, per-direction matrices) then mean the same
    /// anatomical direction in every case of a cohort stored in mixed orientations. None: the
    /// stored grid, as PyRadiomics computes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orientation: Option<String>,
    #[serde(default)]
    pub interpolation: Option<Interpolation>,
    #[serde(default)]
    pub resegmentation: Resegmentation,
    /// Discretisation for texture matrices and the intensity histogram.
    pub discretisation: Discretisation,
    /// Discretisation for the intensity-volume histogram.
    #[serde(default = "ivh_default")]
    pub ivh: Discretisation,
    #[serde(default)]
    pub texture: Texture,
    #[serde(default)]
    pub families: Families,
    /// Which conventions name and compute the features.
    #[serde(default)]
    pub compat: Compat,
    /// Options used only by `compat = "pyradiomics"`.
    #[serde(default)]
    pub pyradiomics: PyradiomicsOptions,
    /// Images to compute features from: `original` and filter response maps
    /// ([`crate::image_types`]). Empty (the default): the original image only, exactly as
    /// before image types existed (same features, same provenance TOML).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub image_types: Vec<ImageTypeSpec>,
}

/// Feature conventions: IBSI (default) or PyRadiomics 3.0.1 (its default feature classes,
/// names `original_<class>_<Feature>`, binning anchored at zero, per-direction averaging).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Compat {
    #[default]
    Ibsi,
    Pyradiomics,
}

/// PyRadiomics settings without an IBSI counterpart.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PyradiomicsOptions {
    /// `voxelArrayShift`: added to intensities for Energy, TotalEnergy and RootMeanSquared
    /// (PyRadiomics' default is 0; its CT examples use 1000-2000).
    #[serde(default)]
    pub voxel_array_shift: f64,
    /// `force2D` (with `force2Ddimension` 0): texture matrices from the in-slice neighbours
    /// only, pooled over the slices (IBSI's 2.5D aggregation).
    #[serde(default, skip_serializing_if = "is_false")]
    pub force_2d: bool,
    /// `featureClass`: PyRadiomics class -> features (an empty list: every feature of the
    /// class). Empty map: every feature of the default classes.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub features: std::collections::BTreeMap<String, Vec<String>>,
    /// `featureClass`'s classes in the file's order: PyRadiomics reports them in this order
    /// (empty: its default order).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub class_order: Vec<String>,
    /// `minimumROIDimensions`: the ROI must span more than one voxel along at least this many
    /// axes (PyRadiomics' default 2 when read from a parameter file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum_roi_dimensions: Option<u8>,
    /// `minimumROISize`: the ROI must have at least this many voxels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum_roi_size: Option<u64>,
    /// `preCrop`: crop to the ROI before filtering (accepted without filtered image types,
    /// where it changes nothing).
    #[serde(default, skip_serializing_if = "is_false")]
    pub pre_crop: bool,
    /// `geometryTolerance`: image/mask geometry tolerance, relative to the spacing (origin,
    /// spacing) and absolute on direction cosines, as ITK's coordinate tolerance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geometry_tolerance: Option<f64>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Where fixed bin sizes start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinAnchor {
    /// At the lower resegmentation bound when there is one, else at the ROI minimum (IBSI).
    RangeOrMinimum,
    /// At the multiple of the bin width at or below the ROI minimum (PyRadiomics:
    /// `floor(x / w) - floor(min / w) + 1`).
    Zero,
}

/// What `Ng` (the grey-level count in Idn, Idmn, the GLCM size) means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NgDefinition {
    /// The number of bins of the discretisation (IBSI: `n_bins` for a fixed bin number).
    Bins,
    /// The highest grey level present in the ROI (PyRadiomics).
    HighestPresent,
}

/// How features are named and which of them are reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Naming {
    /// IBSI tags (`cm_contrast_3D_avg`), every configured aggregation.
    Ibsi,
    /// PyRadiomics keys (`<image type>_glcm_Contrast`): its seven default classes, one
    /// aggregation (per-direction mean for GLCM and GLRLM, 3D or, with `force2D`, 2.5D).
    Pyradiomics,
}

/// The conventions in which IBSI and PyRadiomics 3.0.1 differ, passed to the one
/// implementation of each family (PyRadiomics itself computes the same matrices; it differs in
/// these choices). [`Settings::convention`] derives it from `compat`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Convention {
    /// Added inside the logarithm of entropies, `-sum p log2(p + eps)`: 0 for IBSI (terms
    /// with p = 0 skipped), 2^-52 for PyRadiomics (changes values at the 1e-15 level only,
    /// but PyRadiomics' flat-region values depend on it).
    pub log_eps: f64,
    pub bin_anchor: BinAnchor,
    pub ng: NgDefinition,
    /// Degenerate cases (one grey level, flat ROI): NaN with a reason (IBSI) or the constants
    /// PyRadiomics documents (Correlation 1, Imc1 0, Coarseness 1e6, skewness 0, ...).
    pub pyradiomics_degenerate: bool,
    /// Per-direction features averaged ignoring NaN (PyRadiomics' `nanmean`) instead of a
    /// plain mean.
    pub nan_mean: bool,
    /// Kurtosis minus 3 (IBSI) or `m4 / m2^2` (PyRadiomics).
    pub excess_kurtosis: bool,
    /// PCA covariance divided by N (PyRadiomics) instead of N - 1 (IBSI).
    pub pca_population: bool,
    /// Mesh: tomofuse's closed marching cubes (IBSI) or PyRadiomics' own 128-case table.
    pub pyradiomics_mesh: bool,
    pub naming: Naming,
    /// PyRadiomics `voxelArrayShift` (Energy, TotalEnergy, RootMeanSquared).
    pub voxel_array_shift: f64,
}

impl Convention {
    /// IBSI chapter 1.
    pub const IBSI: Convention = Convention {
        log_eps: 0.0,
        bin_anchor: BinAnchor::RangeOrMinimum,
        ng: NgDefinition::Bins,
        pyradiomics_degenerate: false,
        nan_mean: false,
        excess_kurtosis: true,
        pca_population: false,
        pyradiomics_mesh: false,
        naming: Naming::Ibsi,
        voxel_array_shift: 0.0,
    };

    /// PyRadiomics 3.0.1 (its C extensions' and feature classes' choices).
    pub const PYRADIOMICS: Convention = Convention {
        log_eps: f64::EPSILON,
        bin_anchor: BinAnchor::Zero,
        ng: NgDefinition::HighestPresent,
        pyradiomics_degenerate: true,
        nan_mean: true,
        excess_kurtosis: false,
        pca_population: true,
        pyradiomics_mesh: true,
        naming: Naming::Pyradiomics,
        voxel_array_shift: 0.0,
    };

    /// `-p log2(p + eps)` for p > 0, else 0: the entropy term under this convention.
    #[inline]
    pub fn xlog2(&self, p: f64) -> f64 {
        if p > 0.0 {
            -p * (p + self.log_eps).log2()
        } else {
            0.0
        }
    }

    /// Entropy of a probability vector under this convention.
    pub fn entropy<I: IntoIterator<Item = f64>>(&self, ps: I) -> f64 {
        ps.into_iter().map(|p| self.xlog2(p)).sum()
    }

    /// Mean of per-direction feature vectors: plain (NaN propagates) or ignoring NaN.
    pub fn mean_vec<const N: usize>(&self, vs: &[[f64; N]]) -> [f64; N] {
        if !self.nan_mean {
            return crate::families::texture::mean_vec(vs);
        }
        std::array::from_fn(|k| {
            let (s, n) = vs
                .iter()
                .map(|v| v[k])
                .filter(|x| !x.is_nan())
                .fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
            if n == 0 { f64::NAN } else { s / n as f64 }
        })
    }
}

fn ivh_default() -> Discretisation {
    Discretisation::None
}

const PRESETS: &[(&str, &str)] = &[
    ("ibsi-a", include_str!("presets/ibsi-a.toml")),
    ("ibsi-b", include_str!("presets/ibsi-b.toml")),
    ("ibsi-c", include_str!("presets/ibsi-c.toml")),
    ("ibsi-d", include_str!("presets/ibsi-d.toml")),
    ("ibsi-e", include_str!("presets/ibsi-e.toml")),
    (
        "ibsi-digital-phantom",
        include_str!("presets/ibsi-digital-phantom.toml"),
    ),
    (
        "pyradiomics-default",
        include_str!("presets/pyradiomics-default.toml"),
    ),
    (
        "ibsi-c-filtered",
        include_str!("presets/ibsi-c-filtered.toml"),
    ),
];

impl Settings {
    /// Names of the shipped presets.
    pub fn preset_names() -> Vec<&'static str> {
        PRESETS.iter().map(|(n, _)| *n).collect()
    }

    /// A shipped preset by name (`ibsi-a` ... `ibsi-e`, `ibsi-digital-phantom`,
    /// `pyradiomics-default`, `ibsi-c-filtered`).
    pub fn preset(name: &str) -> Result<Self> {
        let text = PRESETS
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, t)| *t)
            .ok_or_else(|| RadiomicsError::UnknownPreset(name.to_string()))?;
        Self::from_toml(text, &format!("preset {name}"))
    }

    /// Parses and validates TOML; `source_name` names the file in errors.
    pub fn from_toml(text: &str, source_name: &str) -> Result<Self> {
        let s: Settings = toml::from_str(text).map_err(|e| RadiomicsError::SettingsParse {
            source_name: source_name.to_string(),
            message: e.to_string(),
        })?;
        // Name the file in validation errors too: a batch run may use several settings files.
        s.validate().map_err(|e| match e {
            RadiomicsError::Settings { field, reason } => RadiomicsError::Settings {
                field,
                reason: format!("{reason} (in {source_name})"),
            },
            other => other,
        })?;
        Ok(s)
    }

    /// Reads and validates a TOML file.
    pub fn from_file(path: &std::path::Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| RadiomicsError::SettingsParse {
            source_name: path.display().to_string(),
            message: e.to_string(),
        })?;
        Self::from_toml(&text, &path.display().to_string())
    }

    /// Serialises back to TOML (recorded in the provenance).
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }

    /// Checks every numeric field for a meaningful value.
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &str, reason: String| {
            Err(RadiomicsError::Settings {
                field: field.to_string(),
                reason,
            })
        };
        for (field, d) in [("discretisation", &self.discretisation), ("ivh", &self.ivh)] {
            check_discretisation(field, d)?;
        }
        if let Some(codes) = &self.orientation
            && let Err(e) = tomofuse_core::check_axis_codes(codes)
        {
            return bad("orientation", format!("`{codes}`: {e}"));
        }
        if self.compat == Compat::Pyradiomics {
            if self.interpolation.is_some() {
                return bad(
                    "interpolation",
                    "not supported with compat = \"pyradiomics\" (PyRadiomics resamples with \
                     SimpleITK; resample the inputs first)"
                        .into(),
                );
            }
            if self.discretisation == Discretisation::None {
                return bad(
                    "discretisation",
                    "compat = \"pyradiomics\" needs fixed_bin_size (binWidth) or \
                     fixed_bin_number (binCount)"
                        .into(),
                );
            }
            if self.resegmentation.outlier_sigma.is_some() {
                return bad(
                    "resegmentation.outlier_sigma",
                    "not supported with compat = \"pyradiomics\"".into(),
                );
            }
            if !self.pyradiomics.voxel_array_shift.is_finite() {
                return bad(
                    "pyradiomics.voxel_array_shift",
                    format!("must be finite, got {}", self.pyradiomics.voxel_array_shift),
                );
            }
        }
        if let Some([lo, hi]) = self.resegmentation.range
            && (lo.is_nan() || hi.is_nan() || lo > hi)
        {
            return bad(
                "resegmentation.range",
                format!("need lo <= hi, got [{lo}, {hi}]"),
            );
        }
        if let Some(s) = self.resegmentation.outlier_sigma
            && !(s.is_finite() && s > 0.0)
        {
            return bad(
                "resegmentation.outlier_sigma",
                format!("must be > 0, got {s}"),
            );
        }
        if let Some(i) = &self.interpolation {
            if i.spacing.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
                return bad(
                    "interpolation.spacing",
                    format!("every component must be > 0, got {:?}", i.spacing),
                );
            }
            if !(i.mask_threshold > 0.0 && i.mask_threshold <= 1.0) {
                return bad(
                    "interpolation.mask_threshold",
                    format!("must be in (0, 1], got {}", i.mask_threshold),
                );
            }
        }
        if self.texture.ngldm_alpha > 1000 {
            return bad("texture.ngldm_alpha", "must be <= 1000".into());
        }
        crate::image_types::expand(self)?;
        Ok(())
    }

    /// The conventions of `compat` ([`Convention::IBSI`] or [`Convention::PYRADIOMICS`]
    /// with this file's `voxel_array_shift`).
    pub fn convention(&self) -> Convention {
        match self.compat {
            Compat::Ibsi => Convention::IBSI,
            Compat::Pyradiomics => Convention {
                voxel_array_shift: self.pyradiomics.voxel_array_shift,
                ..Convention::PYRADIOMICS
            },
        }
    }

    /// The checked image types ([`crate::image_types::expand`]); empty when none are set.
    pub fn image_types(&self) -> Result<Vec<crate::image_types::ImageType>> {
        crate::image_types::expand(self)
    }
}

/// A discretisation's numbers are meaningful; `field` names it in the error.
pub(crate) fn check_discretisation(field: &str, d: &Discretisation) -> Result<()> {
    let bad = |reason: String| {
        Err(RadiomicsError::Settings {
            field: field.to_string(),
            reason,
        })
    };
    match d {
        Discretisation::FixedBinSize { bin_width }
            if !(bin_width.is_finite() && *bin_width > 0.0) =>
        {
            bad(format!("bin_width must be finite and > 0, got {bin_width}"))
        }
        Discretisation::FixedBinNumber { n_bins } if *n_bins == 0 || *n_bins > 65_535 => {
            bad(format!("n_bins must be in 1..=65535, got {n_bins}"))
        }
        _ => Ok(()),
    }
}
