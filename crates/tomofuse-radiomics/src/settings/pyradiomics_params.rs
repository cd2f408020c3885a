//! PyRadiomics parameter files (YAML, PyRadiomics 3.0.1's `paramSchema.yaml`) read as they
//! are into checked [`Settings`] under the PyRadiomics convention: `imageType`,
//! `featureClass` and `setting`; `voxelSetting` (kernel radius, masked kernel, value outside
//! the ROI, batch size) is read into [`VoxelSetting`] for voxel maps
//! (`tomofuse radiomics --voxel-map`; like PyRadiomics, segment-based extraction does not
//! use it). Every key of the schema is known: keys PyRadiomics does not have are errors
//! naming the key, and options PyRadiomics has but tomofuse does not implement are errors too
//! (never silently ignored). The few settings that change nothing in segment-based
//! extraction without resampling (`interpolator`, `padDistance`, `correctMask`,
//! `additionalInfo`, the LBP options) are checked and accepted; `docs/radiomics-pyradiomics.md`
//! lists every key and what tomofuse does with it.

use crate::error::{RadiomicsError, Result};
use crate::families::{glcm, glrlm, ngldm, ngtdm, zones};
use crate::image_types::{ImageTypeSpec, OneOrMany};
use crate::settings::{Discretisation, Families, Settings};
use serde_yaml::Value;
use std::collections::BTreeMap;

/// A parameter file read into settings, with the ROI label it names (`setting: label`).
#[derive(Debug, Clone)]
pub struct ParamsFile {
    pub settings: Settings,
    /// `label` (default 1).
    pub label: u8,
    /// Whether the file set `label` itself.
    pub label_given: bool,
    /// `voxelSetting`: only the keys the file sets (None: not given).
    pub voxel: VoxelSetting,
}

/// PyRadiomics' `voxelSetting` as the file gives it (None where a key is absent; the caller
/// applies defaults and command-line values).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VoxelSetting {
    /// `kernelRadius` (>= 1; PyRadiomics' default 1).
    pub kernel_radius: Option<usize>,
    /// `maskedKernel` (PyRadiomics' default true).
    pub masked_kernel: Option<bool>,
    /// `initValue`: the maps' value outside the ROI (a number or `.nan`). PyRadiomics'
    /// default is 0; tomofuse's default is NaN (see `docs/radiomics-pyradiomics.md`).
    pub init_value: Option<f64>,
    /// `voxelBatch` (-1 or any negative: all voxels at once; >= 1: voxels per batch). Only
    /// PyRadiomics' memory depends on it; tomofuse's maps and memory do not (it computes
    /// line by line), so it is checked and has no effect.
    pub voxel_batch: Option<i64>,
}

/// The keys of PyRadiomics' `voxelSetting`.
const VOXEL_SETTINGS: [&str; 4] = ["kernelRadius", "maskedKernel", "initValue", "voxelBatch"];

fn read_voxel_setting(cx: &Ctx, v: &Value) -> Result<VoxelSetting> {
    let mut out = VoxelSetting::default();
    let map = match v {
        Value::Null => return Ok(out),
        Value::Mapping(m) => m,
        other => {
            return Err(cx.err(
                "voxelSetting",
                format!("must be a map, found {}", show(other)),
            ));
        }
    };
    for (k, v) in map {
        let key = k.as_str().ok_or_else(|| {
            cx.err(
                "voxelSetting",
                format!("keys must be names, found {}", show(k)),
            )
        })?;
        let field = format!("voxelSetting.{key}");
        let f = field.as_str();
        match key {
            "kernelRadius" => out.kernel_radius = Some(cx.int(f, v, 1, 10_000)? as usize),
            "maskedKernel" => out.masked_kernel = Some(cx.boolean(f, v)?),
            "initValue" => {
                out.init_value = Some(match v.as_f64() {
                    Some(x) if x.is_finite() || x.is_nan() => x,
                    _ => {
                        return Err(
                            cx.err(f, format!("must be a number or .nan, found {}", show(v)))
                        );
                    }
                })
            }
            "voxelBatch" => {
                let b = cx.int(f, v, i64::MIN, i64::MAX)?;
                if b == 0 {
                    return Err(cx.err(f, "must be -1 (all voxels at once) or >= 1, found 0"));
                }
                out.voxel_batch = Some(b);
            }
            other => {
                return Err(cx.err(f, unknown("voxelSetting key", other, &VOXEL_SETTINGS)));
            }
        }
    }
    Ok(out)
}

/// The image types PyRadiomics 3.0.1 has (`get<Name>Image` in `imageoperations.py`).
const IMAGE_TYPES: [&str; 10] = [
    "Original",
    "LoG",
    "Wavelet",
    "Square",
    "SquareRoot",
    "Logarithm",
    "Exponential",
    "Gradient",
    "LBP2D",
    "LBP3D",
];

/// Every `setting` key of PyRadiomics' schema.
const SETTINGS: &[&str] = &[
    "minimumROIDimensions",
    "minimumROISize",
    "geometryTolerance",
    "correctMask",
    "additionalInfo",
    "label",
    "label_channel",
    "binWidth",
    "binCount",
    "normalize",
    "normalizeScale",
    "removeOutliers",
    "resampledPixelSpacing",
    "interpolator",
    "padDistance",
    "distances",
    "force2D",
    "force2Ddimension",
    "resegmentRange",
    "resegmentMode",
    "resegmentShape",
    "preCrop",
    "sigma",
    "start_level",
    "level",
    "wavelet",
    "gradientUseSpacing",
    "lbp2DRadius",
    "lbp2DSamples",
    "lbp2DMethod",
    "lbp3DLevels",
    "lbp3DIcosphereRadius",
    "lbp3DIcosphereSubdivision",
    "voxelArrayShift",
    "symmetricalGLCM",
    "weightingNorm",
    "gldm_a",
];

/// SimpleITK interpolator names (and their enum values 1..=10) PyRadiomics accepts.
const INTERPOLATORS: [&str; 10] = [
    "sitkNearestNeighbor",
    "sitkLinear",
    "sitkBSpline",
    "sitkGaussian",
    "sitkLabelGaussian",
    "sitkHammingWindowedSinc",
    "sitkCosineWindowedSinc",
    "sitkWelchWindowedSinc",
    "sitkLanczosWindowedSinc",
    "sitkBlackmanWindowedSinc",
];

/// PyRadiomics' feature names of a class (None for a class it does not have).
pub fn class_features(class: &str) -> Option<Vec<&'static str>> {
    let names = |t: &[(&'static str, &'static str, usize)]| t.iter().map(|x| x.0).collect();
    Some(match class {
        "shape" => crate::families::morphology::PYRADIOMICS_SHAPE.to_vec(),
        "firstorder" => crate::families::statistics::PYRADIOMICS_FIRSTORDER.to_vec(),
        "glcm" => names(&glcm::PYRADIOMICS),
        "glrlm" => names(&glrlm::PYRADIOMICS),
        "glszm" => names(&zones::PYRADIOMICS),
        "gldm" => names(&ngldm::PYRADIOMICS),
        "ngtdm" => names(&ngtdm::PYRADIOMICS),
        _ => return None,
    })
}

struct Ctx<'a> {
    source: &'a str,
}

impl Ctx<'_> {
    fn err(&self, field: &str, reason: impl Into<String>) -> RadiomicsError {
        RadiomicsError::Settings {
            field: field.to_string(),
            reason: format!("{} (in {})", reason.into(), self.source),
        }
    }

    fn not_implemented(&self, field: &str, what: &str) -> RadiomicsError {
        self.err(
            field,
            format!("{what}: PyRadiomics accepts this, tomofuse does not implement it"),
        )
    }

    fn number(&self, field: &str, v: &Value) -> Result<f64> {
        v.as_f64()
            .filter(|x| x.is_finite())
            .ok_or_else(|| self.err(field, format!("must be a number, found {}", show(v))))
    }

    fn positive(&self, field: &str, v: &Value) -> Result<f64> {
        let x = self.number(field, v)?;
        if x > 0.0 {
            Ok(x)
        } else {
            Err(self.err(field, format!("must be > 0, found {x}")))
        }
    }

    fn int(&self, field: &str, v: &Value, lo: i64, hi: i64) -> Result<i64> {
        match v.as_i64() {
            Some(x) if (lo..=hi).contains(&x) => Ok(x),
            Some(x) => Err(self.err(field, format!("must be in {lo}..={hi}, found {x}"))),
            None => Err(self.err(field, format!("must be an integer, found {}", show(v)))),
        }
    }

    fn boolean(&self, field: &str, v: &Value) -> Result<bool> {
        v.as_bool()
            .ok_or_else(|| self.err(field, format!("must be true or false, found {}", show(v))))
    }

    fn seq<'v>(&self, field: &str, v: &'v Value) -> Result<&'v Vec<Value>> {
        v.as_sequence()
            .ok_or_else(|| self.err(field, format!("must be a list, found {}", show(v))))
    }
}

/// A YAML value as the user wrote it, for error messages.
fn show(v: &Value) -> String {
    serde_yaml::to_string(v)
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| format!("{v:?}"))
}

/// The known name closest to `s` (edit distance <= 3), for "did you mean" hints.
fn closest<'a>(s: &str, known: &[&'a str]) -> Option<&'a str> {
    let dist = |a: &str, b: &str| -> usize {
        let (a, b): (Vec<char>, Vec<char>) = (
            a.to_lowercase().chars().collect(),
            b.to_lowercase().chars().collect(),
        );
        let mut prev: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.iter().enumerate() {
            let mut cur = vec![i + 1];
            for (j, cb) in b.iter().enumerate() {
                let sub = prev[j] + usize::from(ca != cb);
                cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
            }
            prev = cur;
        }
        prev[b.len()]
    };
    known
        .iter()
        .map(|k| (dist(s, k), *k))
        .filter(|(d, _)| *d <= 3)
        .min()
        .map(|x| x.1)
}

fn unknown(kind: &str, key: &str, known: &[&str]) -> String {
    match closest(key, known) {
        Some(k) => format!("unknown {kind} `{key}` (did you mean `{k}`?)"),
        None => format!("unknown {kind} `{key}` (known: {})", known.join(", ")),
    }
}

/// Options of the image-type and setting level that shape one image type.
#[derive(Debug, Clone, Default)]
struct TypeOptions {
    sigma: Option<Vec<crate::image_types::Number>>,
    wavelet: Option<String>,
    start_level: Option<usize>,
    level: Option<usize>,
    gradient_use_spacing: Option<bool>,
    discretisation: Option<Discretisation>,
}

/// Reads one `setting`-schema map (`setting:` or an image type's custom settings) into
/// `s` (global keys; None for an image type) and `t` (image-type options).
fn read_settings(
    cx: &Ctx,
    prefix: &str,
    map: &serde_yaml::Mapping,
    mut s: Option<&mut Settings>,
    t: &mut TypeOptions,
    label: &mut Option<u8>,
) -> Result<()> {
    let (mut bin_width, mut bin_count) = (None, None);
    for (k, v) in map {
        let key = k
            .as_str()
            .ok_or_else(|| cx.err(prefix, format!("keys must be names, found {}", show(k))))?;
        let field = format!("{prefix}.{key}");
        let f = field.as_str();
        if !SETTINGS.contains(&key) {
            return Err(cx.err(f, unknown("setting", key, SETTINGS)));
        }
        match key {
            "binWidth" => bin_width = Some(cx.positive(f, v)?),
            "binCount" => bin_count = Some(cx.int(f, v, 1, 65_535)? as u32),
            "sigma" => {
                let mut out = Vec::new();
                for (n, x) in cx.seq(f, v)?.iter().enumerate() {
                    let value = cx.positive(&format!("{f}[{n}]"), x)?;
                    out.push(match x.as_i64() {
                        Some(i) => crate::image_types::Number::Int(i),
                        None => crate::image_types::Number::Float(value),
                    });
                }
                if out.is_empty() {
                    return Err(cx.err(f, "needs at least one sigma (mm)"));
                }
                t.sigma = Some(out);
            }
            "wavelet" => {
                let w = v
                    .as_str()
                    .ok_or_else(|| cx.err(f, format!("must be a name, found {}", show(v))))?;
                if crate::pyradiomics_image::wavelet_filters(w).is_none() {
                    let names = crate::pyradiomics_image::wavelet_names();
                    return Err(cx.err(f, unknown("wavelet", w, &names)));
                }
                t.wavelet = Some(w.to_string());
            }
            "start_level" => t.start_level = Some(cx.int(f, v, 0, 8)? as usize),
            "level" => t.level = Some(cx.int(f, v, 1, 8)? as usize),
            "gradientUseSpacing" => t.gradient_use_spacing = Some(cx.boolean(f, v)?),
            "lbp2DRadius" | "lbp3DIcosphereRadius" => {
                cx.positive(f, v)?;
            }
            "lbp2DSamples" | "lbp3DLevels" => {
                cx.int(f, v, 1, i64::MAX)?;
            }
            "lbp3DIcosphereSubdivision" => {
                cx.int(f, v, 0, i64::MAX)?;
            }
            "lbp2DMethod" => match v.as_str() {
                Some("default" | "ror" | "uniform" | "var") => {}
                _ => return Err(cx.err(f, "must be default, ror, uniform or var")),
            },
            _ => {
                let Some(s) = s.as_deref_mut() else {
                    return Err(cx.err(
                        f,
                        "only binWidth, binCount and the image type's own options (sigma; \
                         wavelet, start_level, level; gradientUseSpacing) can be set per image \
                         type in tomofuse",
                    ));
                };
                read_global(cx, f, key, v, s, label)?;
            }
        }
    }
    // PyRadiomics uses binCount when both are given.
    t.discretisation = match (bin_count, bin_width) {
        (Some(n_bins), _) => Some(Discretisation::FixedBinNumber { n_bins }),
        (None, Some(bin_width)) => Some(Discretisation::FixedBinSize { bin_width }),
        (None, None) => None,
    };
    Ok(())
}

/// One global `setting` key.
fn read_global(
    cx: &Ctx,
    f: &str,
    key: &str,
    v: &Value,
    s: &mut Settings,
    label: &mut Option<u8>,
) -> Result<()> {
    let ni = |what: &str| Err(cx.not_implemented(f, what));
    match key {
        "minimumROIDimensions" => {
            s.pyradiomics.minimum_roi_dimensions = Some(cx.int(f, v, 1, 3)? as u8)
        }
        "minimumROISize" => {
            s.pyradiomics.minimum_roi_size = Some(cx.int(f, v, 1, i64::MAX)? as u64)
        }
        "geometryTolerance" => s.pyradiomics.geometry_tolerance = Some(cx.positive(f, v)?),
        // correctMask only acts on a mask whose geometry differs from the image's; tomofuse
        // then stops with a grid-mismatch error instead of resampling the mask.
        "correctMask" | "additionalInfo" => {
            cx.boolean(f, v)?;
        }
        "label" => *label = Some(cx.int(f, v, 1, 255)? as u8),
        "label_channel" => {
            if cx.int(f, v, 0, i64::MAX)? != 0 {
                return ni("a label channel other than 0 (vector masks)");
            }
        }
        "normalize" => {
            if cx.boolean(f, v)? {
                return ni("normalize: true (image normalisation)");
            }
        }
        "normalizeScale" | "removeOutliers" => {
            cx.positive(f, v)?;
        }
        "resampledPixelSpacing" => {
            if !v.is_null() {
                for (n, x) in cx.seq(f, v)?.iter().enumerate() {
                    cx.number(&format!("{f}[{n}]"), x)?;
                }
                return ni("resampling (resample the inputs first, e.g. `tomofuse resample`)");
            }
        }
        "interpolator" => {
            let ok = match v {
                Value::String(n) => INTERPOLATORS.contains(&n.as_str()),
                Value::Number(n) => n.as_i64().is_some_and(|i| (1..=10).contains(&i)),
                _ => false,
            };
            if !ok {
                return Err(cx.err(
                    f,
                    format!(
                        "{}: not a SimpleITK interpolator (known: {})",
                        show(v),
                        INTERPOLATORS.join(", ")
                    ),
                ));
            }
        }
        "padDistance" => {
            cx.int(f, v, 0, i64::MAX)?;
        }
        "distances" => {
            let d = cx.seq(f, v)?;
            let ints: Vec<i64> = d
                .iter()
                .enumerate()
                .map(|(n, x)| cx.int(&format!("{f}[{n}]"), x, 1, i64::MAX))
                .collect::<Result<_>>()?;
            if ints != [1] {
                return ni(&format!("distances {ints:?} (only [1])"));
            }
        }
        "force2D" => s.pyradiomics.force_2d = cx.boolean(f, v)?,
        "force2Ddimension" => {
            if cx.int(f, v, 0, 2)? != 0 {
                return ni("force2Ddimension 1 or 2 (only 0, the axial plane)");
            }
        }
        "resegmentRange" => {
            let r = cx.seq(f, v)?;
            let x: Vec<f64> = r
                .iter()
                .enumerate()
                .map(|(n, x)| cx.number(&format!("{f}[{n}]"), x))
                .collect::<Result<_>>()?;
            s.resegmentation.range = match x[..] {
                [lo] => Some([lo, f64::INFINITY]),
                [lo, hi] if lo <= hi => Some([lo, hi]),
                [lo, hi] => return Err(cx.err(f, format!("needs lo <= hi, found [{lo}, {hi}]"))),
                _ => return Err(cx.err(f, "one (lower) or two (lower, upper) values")),
            };
        }
        "resegmentMode" => match v.as_str() {
            Some("absolute") => {}
            Some(m @ ("relative" | "sigma")) => return ni(&format!("resegmentMode `{m}`")),
            _ => return Err(cx.err(f, "must be absolute, relative or sigma")),
        },
        "resegmentShape" => {
            if cx.boolean(f, v)? {
                return ni("resegmentShape: true (shape on the resegmented mask)");
            }
        }
        "preCrop" => s.pyradiomics.pre_crop = cx.boolean(f, v)?,
        "voxelArrayShift" => s.pyradiomics.voxel_array_shift = cx.number(f, v)?,
        "symmetricalGLCM" => {
            if !cx.boolean(f, v)? {
                return ni("symmetricalGLCM: false");
            }
        }
        "weightingNorm" => {
            if !v.is_null() {
                return ni("weightingNorm (distance-weighted GLCM/GLRLM)");
            }
        }
        "gldm_a" => s.texture.ngldm_alpha = cx.int(f, v, 0, 1000)? as u32,
        other => unreachable!("setting `{other}` is in SETTINGS"),
    }
    Ok(())
}

/// Reads a PyRadiomics parameter file's text; `source_name` names it in errors.
pub fn from_yaml(text: &str, source_name: &str) -> Result<ParamsFile> {
    let cx = Ctx {
        source: source_name,
    };
    let doc: Value = serde_yaml::from_str(text).map_err(|e| RadiomicsError::SettingsParse {
        source_name: source_name.to_string(),
        message: e.to_string(),
    })?;
    let empty = serde_yaml::Mapping::new();
    let top = match &doc {
        Value::Null => &empty,
        Value::Mapping(m) => m,
        other => {
            return Err(cx.err(
                "(top level)",
                format!("must be a map, found {}", show(other)),
            ));
        }
    };
    const TOP: [&str; 4] = ["imageType", "featureClass", "setting", "voxelSetting"];
    let mut get: BTreeMap<&str, &Value> = BTreeMap::new();
    for (k, v) in top {
        let key = k.as_str().unwrap_or("");
        if !TOP.contains(&key) {
            return Err(cx.err(key, unknown("top-level key", key, &TOP)));
        }
        get.insert(key, v);
    }
    let voxel = match get.get("voxelSetting").copied() {
        None => VoxelSetting::default(),
        Some(v) => read_voxel_setting(&cx, v)?,
    };
    let mut s = Settings::preset("pyradiomics-default")?;
    s.name = format!("PyRadiomics parameter file {source_name}");
    s.pyradiomics.minimum_roi_dimensions = Some(2);
    let mut label = None;
    let mut global = TypeOptions::default();
    match get.get("setting").copied() {
        None | Some(Value::Null) => {}
        Some(Value::Mapping(m)) => {
            read_settings(&cx, "setting", m, Some(&mut s), &mut global, &mut label)?
        }
        Some(other) => {
            return Err(cx.err("setting", format!("must be a map, found {}", show(other))));
        }
    }
    if let Some(d) = &global.discretisation {
        s.discretisation = d.clone();
    }

    // featureClass -> families and the kept features.
    let mut features: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut class_order = Vec::new();
    match get.get("featureClass").copied() {
        None | Some(Value::Null) => {}
        Some(Value::Mapping(m)) => {
            const CLASSES: [&str; 8] = [
                "shape",
                "firstorder",
                "glcm",
                "glrlm",
                "glszm",
                "gldm",
                "ngtdm",
                "shape2D",
            ];
            for (k, v) in m {
                let class = k.as_str().unwrap_or("");
                let f = format!("featureClass.{class}");
                if class == "shape2D" {
                    return Err(cx.not_implemented(&f, "the shape2D class"));
                }
                let Some(known) = class_features(class) else {
                    return Err(cx.err(&f, unknown("feature class", class, &CLASSES)));
                };
                let mut names = Vec::new();
                match v {
                    Value::Null => {}
                    Value::Sequence(list) => {
                        for (n, x) in list.iter().enumerate() {
                            let name = x.as_str().ok_or_else(|| {
                                cx.err(&format!("{f}[{n}]"), "must be a feature name")
                            })?;
                            if !known.contains(&name) {
                                return Err(cx.err(
                                    &format!("{f}[{n}]"),
                                    unknown(&format!("{class} feature"), name, &known),
                                ));
                            }
                            names.push(name.to_string());
                        }
                    }
                    other => {
                        return Err(cx.err(
                            &f,
                            format!("must be empty or a list of features, found {}", show(other)),
                        ));
                    }
                }
                features.insert(class.to_string(), names);
                class_order.push(class.to_string());
            }
            if features.is_empty() {
                return Err(cx.err("featureClass", "enables no feature class"));
            }
        }
        Some(other) => {
            return Err(cx.err(
                "featureClass",
                format!("must be a map, found {}", show(other)),
            ));
        }
    }
    let on = |c: &str| features.is_empty() || features.contains_key(c);
    s.families = Families {
        morphology: on("shape"),
        local_intensity: false,
        statistics: on("firstorder"),
        histogram: false,
        ivh: false,
        glcm: on("glcm"),
        glrlm: on("glrlm"),
        glszm: on("glszm"),
        gldzm: false,
        ngtdm: on("ngtdm"),
        ngldm: on("gldm"),
        moran_geary: false,
    };
    s.pyradiomics.features = features;
    s.pyradiomics.class_order = class_order;

    // imageType -> image types, in the file's order.
    let mut specs = Vec::new();
    let types_map = match get.get("imageType").copied() {
        None | Some(Value::Null) => None,
        Some(Value::Mapping(m)) => Some(m),
        Some(other) => {
            return Err(cx.err("imageType", format!("must be a map, found {}", show(other))));
        }
    };
    let original_only: serde_yaml::Mapping =
        [(Value::from("Original"), Value::Mapping(Default::default()))]
            .into_iter()
            .collect();
    let types_map = types_map.unwrap_or(&original_only);
    if types_map.is_empty() {
        return Err(cx.err("imageType", "enables no image type"));
    }
    let mut has_original = false;
    for (k, v) in types_map {
        let name = k.as_str().unwrap_or("");
        let f = format!("imageType.{name}");
        if !IMAGE_TYPES.contains(&name) {
            return Err(cx.err(&f, unknown("image type", name, &IMAGE_TYPES)));
        }
        if name.starts_with("LBP") {
            return Err(cx.not_implemented(&f, "local binary pattern image types"));
        }
        let mut t = global.clone();
        t.discretisation = None;
        match v {
            Value::Null => {}
            Value::Mapping(m) => read_settings(&cx, &f, m, None, &mut t, &mut label)?,
            other => {
                return Err(cx.err(
                    &f,
                    format!("must be a map of settings, found {}", show(other)),
                ));
            }
        }
        if name == "Original" {
            if t.discretisation.is_some() {
                return Err(cx.not_implemented(
                    &f,
                    "a custom binWidth/binCount for Original (set it under `setting`)",
                ));
            }
            has_original = true;
            specs.push(ImageTypeSpec {
                name: Some(crate::image_types::ORIGINAL.into()),
                ..Default::default()
            });
            continue;
        }
        if s.pyradiomics.pre_crop {
            return Err(cx.not_implemented(
                "setting.preCrop",
                "preCrop: true with filtered image types (filters on the cropped image)",
            ));
        }
        if s.pyradiomics.force_2d && name == "Wavelet" {
            return Err(cx.not_implemented(&f, "2D wavelets (force2D: true)"));
        }
        let mut spec = ImageTypeSpec {
            filter: Some(name.to_string()),
            discretisation: t.discretisation.clone(),
            ..Default::default()
        };
        match name {
            "LoG" => {
                let sigma = t
                    .sigma
                    .clone()
                    .ok_or_else(|| cx.err(&f, "LoG needs `sigma` (here or under `setting`)"))?;
                spec.sigma_mm = Some(OneOrMany::Many(sigma));
            }
            "Wavelet" => {
                spec.wavelet = t.wavelet.clone();
                spec.start_level = t.start_level;
                spec.level = t.level.map(OneOrMany::One);
            }
            "Gradient" => spec.gradient_use_spacing = t.gradient_use_spacing,
            _ => {}
        }
        specs.push(spec);
    }
    if !has_original && s.families.morphology {
        return Err(cx.not_implemented(
            "imageType",
            "shape features without the Original image type (enable Original or drop shape)",
        ));
    }
    s.image_types = specs;
    s.validate().map_err(|e| match e {
        RadiomicsError::Settings { field, reason } if !reason.contains(source_name) => {
            cx.err(&field, reason)
        }
        other => other,
    })?;
    Ok(ParamsFile {
        settings: s,
        label: label.unwrap_or(1),
        label_given: label.is_some(),
        voxel,
    })
}

/// Reads a PyRadiomics parameter file.
pub fn from_file(path: &std::path::Path) -> Result<ParamsFile> {
    let text = std::fs::read_to_string(path).map_err(|e| RadiomicsError::SettingsParse {
        source_name: path.display().to_string(),
        message: e.to_string(),
    })?;
    from_yaml(&text, &path.display().to_string())
}
