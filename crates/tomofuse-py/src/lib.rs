//! `tomofuse._native`: the thin PyO3 layer under the `tomofuse` Python package.
//!
//! No algorithm lives here: every function forwards to tomofuse-io, -preprocess, -radiomics or
//! -metrics, exactly as the CLI does, so Python and the CLI give the same numbers.
//!
//! Voxels cross the boundary as raw native-endian bytes in C order over `[i, j, k]` (the
//! `Volume` layout), wrapped by numpy on the Python side. That keeps the stable ABI
//! (`abi3-py39`: the buffer protocol is not part of it before 3.11) and ties the wheel to no
//! numpy version; the cost is one copy each way. Geometry is always LPS, as in tomofuse-core.
//!
//! Every computation runs with the GIL released (`Python::detach`). Errors from the crates
//! arrive as `tomofuse.Error` (a `ValueError`) carrying the crate's message, which names the
//! file and the field; malformed buffers are plain `ValueError`s raised before any work.

use pyo3::create_exception;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyDict};
use std::path::PathBuf;
use tomofuse_core::{Geometry, Space, Volume};
use tomofuse_metrics::{BinStrategy, BootstrapConfig, CiMethod};
use tomofuse_preprocess::resample::{GridMode, Interp, ResampleOptions, output_grid, resample_on};
use tomofuse_radiomics::{Extraction, Settings};

create_exception!(
    tomofuse,
    Error,
    PyValueError,
    "An error reported by the tomofuse Rust crates; the message names the file and field."
);

/// Any crate error as `tomofuse.Error`, with its full message.
fn err<E: std::fmt::Display>(e: E) -> PyErr {
    Error::new_err(e.to_string())
}

/// The error as its message, so closures run without the GIL return small `Result`s.
fn msg<T, E: std::fmt::Display>(r: Result<T, E>) -> Result<T, String> {
    r.map_err(|e| e.to_string())
}

/// Geometry fields as Python passes them (LPS).
type GeomArgs = ([f64; 3], [f64; 3], [[f64; 3]; 3]);

fn geometry(g: GeomArgs) -> PyResult<Geometry> {
    Geometry::new(g.0, g.1, g.2, Space::Lps).map_err(err)
}

/// Rebuilds a `Volume` from C-order bytes, checking the length against the shape first so a
/// wrong buffer is a `ValueError`, never a crash.
fn volume<T: bytemuck::Pod>(data: &[u8], shape: [usize; 3], g: &Geometry) -> PyResult<Volume<T>> {
    let size = std::mem::size_of::<T>();
    let n: usize = shape.iter().product();
    if shape.contains(&0) || data.len() != n * size {
        return Err(PyValueError::new_err(format!(
            "buffer of {} bytes does not hold shape {shape:?} of {size}-byte elements",
            data.len()
        )));
    }
    let vals: Vec<T> = bytemuck::pod_collect_to_vec(data);
    Volume::from_vec_c(shape, vals, *g).map_err(err)
}

/// A volume as the dict `tomofuse.Image` is built from.
fn volume_dict<'py, T: bytemuck::Pod>(
    py: Python<'py>,
    v: &Volume<T>,
    affine_ras: [[f64; 4]; 4],
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    let bytes: &[u8] = match v.data.as_slice() {
        Some(s) => bytemuck::cast_slice(s),
        None => return Err(Error::new_err("internal: volume is not in C order")),
    };
    d.set_item("data", PyByteArray::new(py, bytes))?;
    d.set_item("shape", v.shape())?;
    d.set_item("spacing", v.geometry.spacing)?;
    d.set_item("origin", v.geometry.origin)?;
    d.set_item("direction", v.geometry.direction)?;
    d.set_item("affine_ras", affine_ras)?;
    Ok(d)
}

/// Reads NIfTI, NRRD or a DICOM series folder as float32 (scaling applied), plus the file's
/// own RAS affine (nibabel's `img.affine` for NIfTI) and header facts.
#[pyfunction]
#[pyo3(signature = (path, series_uid=None))]
fn read_image<'py>(
    py: Python<'py>,
    path: PathBuf,
    series_uid: Option<String>,
) -> PyResult<Bound<'py, PyDict>> {
    let (vol, info) = py
        .detach(|| msg(tomofuse_io::read_image_series(&path, series_uid.as_deref())))
        .map_err(Error::new_err)?;
    let d = volume_dict(py, &vol, info.affine_ras)?;
    d.set_item("format", info.format.name())?;
    d.set_item("stored_dtype", info.dtype.name())?;
    d.set_item("details", info.details)?;
    Ok(d)
}

/// Writes NIfTI-1 (`.nii`/`.nii.gz`) from C-order bytes of `dtype` (numpy names).
#[pyfunction]
fn write_nifti(
    py: Python<'_>,
    path: PathBuf,
    data: &[u8],
    dtype: &str,
    shape: [usize; 3],
    geom: GeomArgs,
) -> PyResult<()> {
    let g = geometry(geom)?;
    macro_rules! write_as {
        ($t:ty) => {{
            let v = volume::<$t>(data, shape, &g)?;
            py.detach(|| msg(tomofuse_io::write_nifti(&path, &v)))
                .map_err(Error::new_err)
        }};
    }
    match dtype {
        "uint8" => write_as!(u8),
        "int8" => write_as!(i8),
        "int16" => write_as!(i16),
        "uint16" => write_as!(u16),
        "int32" => write_as!(i32),
        "uint32" => write_as!(u32),
        "float32" => write_as!(f32),
        "float64" => write_as!(f64),
        other => Err(PyValueError::new_err(format!(
            "dtype {other} cannot be written as NIfTI: use uint8, int8, int16, uint16, int32, \
             uint32, float32 or float64"
        ))),
    }
}

/// RAS affine (nibabel convention) of an LPS geometry.
#[pyfunction]
fn affine_ras(geom: GeomArgs) -> PyResult<[[f64; 4]; 4]> {
    Ok(geometry(geom)?.affine(Space::Ras))
}

/// Resamples float32 voxels to `new_spacing` (index axes i, j, k) on the CPU, as
/// `tomofuse resample --spacing` does.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn resample<'py>(
    py: Python<'py>,
    data: &[u8],
    shape: [usize; 3],
    geom: GeomArgs,
    new_spacing: [f64; 3],
    interp: &str,
    grid: &str,
    default_value: f32,
    round: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let interp: Interp = interp.parse().map_err(err)?;
    let grid: GridMode = grid.parse().map_err(err)?;
    let g = geometry(geom)?;
    let vol = volume::<f32>(data, shape, &g)?;
    let out = py
        .detach(|| {
            let (og, oshape) = output_grid(&g, shape, new_spacing, grid)?;
            let opts = ResampleOptions {
                interp,
                default_value,
                round,
            };
            resample_on(&vol, &og, oshape, &opts, Default::default())
        })
        .map_err(err)?;
    let aff = out.geometry.affine(Space::Ras);
    volume_dict(py, &out, aff)
}

/// Validated settings as TOML, from a preset, a tomofuse settings TOML or a PyRadiomics
/// parameter file (`.yaml`/`.yml`, read by `settings::pyradiomics_params` exactly as
/// `tomofuse radiomics --params` reads it), with the PyRadiomics-style overrides the extractor
/// accepts; plus the parameter file's `setting.label` when it gives one. The TOML round-trips
/// exactly (`Settings::to_toml`).
#[pyfunction]
#[pyo3(signature = (preset=None, path=None, bin_width=None, bin_count=None, voxel_array_shift=None))]
fn radiomics_settings(
    preset: Option<&str>,
    path: Option<PathBuf>,
    bin_width: Option<f64>,
    bin_count: Option<u32>,
    voxel_array_shift: Option<f64>,
) -> PyResult<(String, Option<u8>)> {
    use tomofuse_radiomics::Discretisation;
    let is_yaml = path.as_ref().is_some_and(|p| {
        p.extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"))
    });
    let mut file_label = None;
    let mut s = match (preset, &path) {
        (Some(p), None) => Settings::preset(p).map_err(err)?,
        (None, Some(f)) if is_yaml => {
            let p = tomofuse_radiomics::settings::pyradiomics_params::from_file(f).map_err(err)?;
            file_label = p.label_given.then_some(p.label);
            p.settings
        }
        (None, Some(f)) => Settings::from_file(f).map_err(err)?,
        (None, None) => Settings::preset("pyradiomics-default").map_err(err)?,
        (Some(_), Some(_)) => {
            return Err(PyValueError::new_err(
                "give either a preset or a settings file, not both",
            ));
        }
    };
    match (bin_width, bin_count) {
        (Some(_), Some(_)) => {
            return Err(PyValueError::new_err(
                "binWidth and binCount exclude each other",
            ));
        }
        (Some(w), None) => s.discretisation = Discretisation::FixedBinSize { bin_width: w },
        (None, Some(n)) => s.discretisation = Discretisation::FixedBinNumber { n_bins: n },
        (None, None) => {}
    }
    if let Some(v) = voxel_array_shift {
        s.pyradiomics.voxel_array_shift = v;
    }
    s.validate().map_err(err)?;
    Ok((s.to_toml(), file_label))
}

/// The names of the shipped presets.
#[pyfunction]
fn radiomics_presets() -> Vec<&'static str> {
    Settings::preset_names()
}

/// One feature row: (column, value, family, name, ibsi_code, reason).
type FeatureRow = (String, f64, String, String, String, Option<String>);

/// Validated settings TOML from PyRadiomics parameters given as text (YAML or JSON, the
/// extractor's state serialised by Python), read by `settings::pyradiomics_params::from_yaml`
/// exactly as `tomofuse radiomics --params` reads a file; `source` names it in errors. Also
/// the `setting.label` the text gives, if any.
#[pyfunction]
fn pyradiomics_params(text: &str, source: &str) -> PyResult<(String, Option<u8>)> {
    let p =
        tomofuse_radiomics::settings::pyradiomics_params::from_yaml(text, source).map_err(err)?;
    Ok((p.settings.to_toml(), p.label_given.then_some(p.label)))
}

/// A YAML (or JSON) parameter file as JSON text, so Python holds PyRadiomics' parameter
/// dict without a YAML library. Errors name the file.
#[pyfunction]
fn yaml_file_to_json(path: PathBuf) -> PyResult<String> {
    let text = std::fs::read_to_string(&path)
        .map_err(|e| Error::new_err(format!("cannot read {}: {e}", path.display())))?;
    let v: serde_yaml::Value = serde_yaml::from_str(&text)
        .map_err(|e| Error::new_err(format!("{}: {e}", path.display())))?;
    serde_json::to_string(&v).map_err(|e| Error::new_err(format!("{}: {e}", path.display())))
}

/// Image and mask as the extractor receives them: files (read with the CLI's readers) or
/// in-memory voxels (the mask as float32 whose values must be integer labels 0..=255).
enum Inputs {
    Files(PathBuf, PathBuf),
    Arrays(Box<(Volume<f32>, Volume<f32>)>),
}

/// Loaded inputs: image, mask, a description for error messages and, when asked, the
/// (image, mask) sha256 (of the files, as the CLI; of voxels and geometry otherwise).
struct Loaded {
    image: Volume<f32>,
    mask: tomofuse_core::Mask,
    what: String,
    hashes: Option<(String, String)>,
}

fn load(inputs: Inputs, want_hashes: bool) -> Result<Loaded, String> {
    match inputs {
        Inputs::Files(image, mask) => {
            let img = tomofuse_io::read_image(&image).map_err(|e| e.to_string())?;
            let msk = tomofuse_io::read_mask(&mask).map_err(|e| e.to_string())?;
            let hashes = if want_hashes {
                // A DICOM folder has no single file hash: the voxels and geometry are hashed.
                let hash = |p: &std::path::Path| -> Result<Option<String>, String> {
                    if p.is_file() {
                        tomofuse_radiomics::sha256_file(p)
                            .map(Some)
                            .map_err(|e| format!("cannot hash {}: {e}", p.display()))
                    } else {
                        Ok(None)
                    }
                };
                Some((
                    hash(&image)?.unwrap_or_else(|| tomofuse_radiomics::sha256_volume(&img)),
                    hash(&mask)?.unwrap_or_else(|| tomofuse_radiomics::sha256_volume(&msk)),
                ))
            } else {
                None
            };
            Ok(Loaded {
                image: img,
                mask: msk,
                what: format!("image {} mask {}", image.display(), mask.display()),
                hashes,
            })
        }
        Inputs::Arrays(b) => {
            let (img, m) = *b;
            let msk = tomofuse_io::to_mask(std::path::Path::new("<mask array>"), &m)
                .map_err(|e| e.to_string())?;
            let hashes = want_hashes.then(|| {
                (
                    tomofuse_radiomics::sha256_volume(&img),
                    tomofuse_radiomics::sha256_volume(&msk),
                )
            });
            Ok(Loaded {
                image: img,
                mask: msk,
                what: "image array mask array".into(),
                hashes,
            })
        }
    }
}

fn array_inputs(
    image: &[u8],
    image_shape: [usize; 3],
    image_geom: GeomArgs,
    mask: &[u8],
    mask_shape: [usize; 3],
    mask_geom: GeomArgs,
) -> PyResult<Inputs> {
    Ok(Inputs::Arrays(Box::new((
        volume::<f32>(image, image_shape, &geometry(image_geom)?)?,
        volume::<f32>(mask, mask_shape, &geometry(mask_geom)?)?,
    ))))
}

/// PyRadiomics' cheap `diagnostics_*` facts of image and ROI (`generalinfo.py`), computed
/// from the loaded voxels: image spacing, size, mean, minimum, maximum; mask spacing, size,
/// bounding box (lower corner i, j, k then size), voxel count, number of 26-connected
/// components, centre of mass (continuous index and LPS mm).
#[derive(Default)]
struct Diagnostics {
    image_spacing: [f64; 3],
    image_size: [usize; 3],
    image_mean: f64,
    image_min: f64,
    image_max: f64,
    mask_spacing: [f64; 3],
    mask_size: [usize; 3],
    bbox: [usize; 6],
    voxel_num: usize,
    volume_num: usize,
    com_index: [f64; 3],
    com: [f64; 3],
}

fn diagnostics(l: &Loaded, label: u8) -> Result<Diagnostics, String> {
    let mut d = Diagnostics {
        image_spacing: l.image.geometry.spacing,
        image_size: l.image.shape(),
        mask_spacing: l.mask.geometry.spacing,
        mask_size: l.mask.shape(),
        ..Default::default()
    };
    // Flat passes over the contiguous buffers, eight lanes each, so they vectorise: this
    // pass is the Python call's only cost beyond the CLI's work (issue 18: <= 5%).
    let img_std = l.image.data.as_standard_layout();
    let img = img_std.as_slice().unwrap_or_default();
    let (mut sum, mut lo, mut hi) = ([0.0f64; 8], [f32::INFINITY; 8], [f32::NEG_INFINITY; 8]);
    let chunks = img.chunks_exact(8);
    let tail = chunks.remainder();
    for c in chunks {
        for q in 0..8 {
            let v = c[q];
            sum[q] += v as f64;
            lo[q] = if v < lo[q] { v } else { lo[q] };
            hi[q] = if v > hi[q] { v } else { hi[q] };
        }
    }
    for (q, &v) in tail.iter().enumerate() {
        sum[q] += v as f64;
        lo[q] = lo[q].min(v);
        hi[q] = hi[q].max(v);
    }
    d.image_mean = sum.iter().sum::<f64>() / img.len() as f64;
    d.image_min = lo.iter().fold(f32::INFINITY, |a, &b| a.min(b)) as f64;
    d.image_max = hi.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b)) as f64;
    // The mask row by row (k fastest): a row's count and k sum are branch-free reductions;
    // only rows holding the label touch the bounding box.
    let [_, n1, n2] = l.mask.shape();
    let msk_std = l.mask.data.as_standard_layout();
    let msk = msk_std.as_slice().unwrap_or_default();
    let mut lo = [usize::MAX; 3];
    let mut hi = [0usize; 3];
    let mut c = [0.0f64; 3];
    for (row_index, row) in msk.chunks_exact(n2.max(1)).enumerate() {
        let (n, ksum) = row
            .iter()
            .enumerate()
            .fold((0u32, 0u64), |(n, s), (k, &m)| {
                let hit = u32::from(m == label);
                (n + hit, s + hit as u64 * k as u64)
            });
        if n == 0 {
            continue;
        }
        let (i, j) = (row_index / n1, row_index % n1);
        let first = row.iter().position(|&m| m == label).unwrap_or(0);
        let last = row.iter().rposition(|&m| m == label).unwrap_or(0);
        d.voxel_num += n as usize;
        c[0] += i as f64 * n as f64;
        c[1] += j as f64 * n as f64;
        c[2] += ksum as f64;
        for (a, (x0, x1)) in [(i, i), (j, j), (first, last)].into_iter().enumerate() {
            lo[a] = lo[a].min(x0);
            hi[a] = hi[a].max(x1);
        }
    }
    if d.voxel_num == 0 {
        return Err(format!(
            "{}: label {label} is not present in the mask",
            l.what
        ));
    }
    d.bbox = [
        lo[0],
        lo[1],
        lo[2],
        hi[0] - lo[0] + 1,
        hi[1] - lo[1] + 1,
        hi[2] - lo[2] + 1,
    ];
    d.com_index = c.map(|x| x / d.voxel_num as f64);
    d.com = l.mask.geometry.index_to_world(d.com_index);
    // Components on the ROI's bounding box only (the full grid would cost a u32 per voxel).
    let sub = l
        .mask
        .data
        .slice(ndarray::s![lo[0]..=hi[0], lo[1]..=hi[1], lo[2]..=hi[2]])
        .mapv(|m| u8::from(m == label));
    let roi = Volume::new(sub, l.mask.geometry).map_err(|e| e.to_string())?;
    let (_, sizes) = tomofuse_preprocess::spatial::connected_components(
        &roi,
        tomofuse_preprocess::spatial::Connectivity::TwentySix,
    );
    d.volume_num = sizes.len();
    Ok(d)
}

fn diagnostics_dict<'py>(
    py: Python<'py>,
    d: &Diagnostics,
    hashes: &(String, String),
) -> PyResult<Bound<'py, PyDict>> {
    let o = PyDict::new(py);
    o.set_item("image_hash", &hashes.0)?;
    o.set_item("image_spacing", d.image_spacing)?;
    o.set_item("image_size", d.image_size)?;
    o.set_item("image_mean", d.image_mean)?;
    o.set_item("image_minimum", d.image_min)?;
    o.set_item("image_maximum", d.image_max)?;
    o.set_item("mask_hash", &hashes.1)?;
    o.set_item("mask_spacing", d.mask_spacing)?;
    o.set_item("mask_size", d.mask_size)?;
    o.set_item("mask_bounding_box", d.bbox)?;
    o.set_item("mask_voxel_num", d.voxel_num)?;
    o.set_item("mask_volume_num", d.volume_num)?;
    o.set_item("mask_center_of_mass_index", d.com_index)?;
    o.set_item("mask_center_of_mass", d.com)?;
    Ok(o)
}

/// Feature rows, provenance JSON and (when asked) the diagnostics dict.
type RadiomicsOut<'py> = (Vec<FeatureRow>, String, Option<Bound<'py, PyDict>>);

fn radiomics_run<'py>(
    py: Python<'py>,
    inputs: Inputs,
    label: u8,
    settings_toml: &str,
    want_diagnostics: bool,
) -> PyResult<RadiomicsOut<'py>> {
    let settings = Settings::from_toml(settings_toml, "extractor settings").map_err(err)?;
    let (ex, diag) = py
        .detach(|| -> Result<(Extraction, Option<Diagnostics>), String> {
            // Arrays: the crate hashes voxels and geometry beside the extraction.
            let files = matches!(inputs, Inputs::Files(..));
            let l = load(inputs, files)?;
            let hashes = l.hashes.clone();
            let ex = tomofuse_radiomics::extract_with_hashes(
                &l.image, &l.mask, label, &settings, hashes,
            )
            .map_err(|e| format!("{} label {label}: {e}", l.what))?;
            let diag = if want_diagnostics {
                Some(diagnostics(&l, label)?)
            } else {
                None
            };
            Ok((ex, diag))
        })
        .map_err(Error::new_err)?;
    let prov = serde_json::to_string(&ex.provenance).map_err(err)?;
    let diag = match diag {
        Some(d) => Some(diagnostics_dict(
            py,
            &d,
            &(
                ex.provenance.image_sha256.clone(),
                ex.provenance.mask_sha256.clone(),
            ),
        )?),
        None => None,
    };
    let rows = ex
        .features
        .into_iter()
        // The output column, as the CLI writes it: PyRadiomics' key under PyRadiomics naming,
        // else the IBSI tag (prefixed by a filtered image type).
        .map(|f| (f.column(), f.value, f.family, f.name, f.ibsi_code, f.reason))
        .collect();
    Ok((rows, prov, diag))
}

/// Radiomics of image and mask files, with exactly the CLI's steps (`tomofuse radiomics`):
/// read image, read mask (labels 0..=255), sha256 of the files for the provenance, extract.
/// With `diagnostics`, also PyRadiomics' image and ROI facts (see `Diagnostics`).
#[pyfunction]
#[pyo3(signature = (image, mask, label, settings_toml, diagnostics=false))]
fn radiomics_files<'py>(
    py: Python<'py>,
    image: PathBuf,
    mask: PathBuf,
    label: u8,
    settings_toml: &str,
    diagnostics: bool,
) -> PyResult<RadiomicsOut<'py>> {
    radiomics_run(
        py,
        Inputs::Files(image, mask),
        label,
        settings_toml,
        diagnostics,
    )
}

/// Radiomics of in-memory voxels: image float32 bytes, mask float32 bytes whose values must
/// be integer labels in 0..=255 (checked, first bad voxel named).
#[pyfunction]
#[pyo3(signature = (image, image_shape, image_geom, mask, mask_shape, mask_geom, label, settings_toml, diagnostics=false))]
#[allow(clippy::too_many_arguments)]
fn radiomics_arrays<'py>(
    py: Python<'py>,
    image: &[u8],
    image_shape: [usize; 3],
    image_geom: GeomArgs,
    mask: &[u8],
    mask_shape: [usize; 3],
    mask_geom: GeomArgs,
    label: u8,
    settings_toml: &str,
    diagnostics: bool,
) -> PyResult<RadiomicsOut<'py>> {
    let inputs = array_inputs(image, image_shape, image_geom, mask, mask_shape, mask_geom)?;
    radiomics_run(py, inputs, label, settings_toml, diagnostics)
}

/// Voxel maps (name, float32 C-order bytes) on the crop grid, that grid as (shape, geometry)
/// plus the crop's lower corner in the input grid, the ROI on the crop (uint8 bytes, 1 inside)
/// and the diagnostics dict when asked.
type VoxelOut<'py> = (
    Vec<(String, Bound<'py, PyByteArray>)>,
    [usize; 3],
    Bound<'py, PyDict>,
    [usize; 3],
    Bound<'py, PyByteArray>,
    Option<Bound<'py, PyDict>>,
);

#[allow(clippy::too_many_arguments)]
fn voxel_run<'py>(
    py: Python<'py>,
    inputs: Inputs,
    label: u8,
    settings_toml: &str,
    kernel_radius: usize,
    masked_kernel: bool,
    features: Vec<String>,
    want_diagnostics: bool,
) -> PyResult<VoxelOut<'py>> {
    let mut settings = Settings::from_toml(settings_toml, "extractor settings").map_err(err)?;
    // PyRadiomics parameters name the unfiltered image explicitly (`imageType: Original`);
    // voxel maps take the settings' empty list for it.
    if settings.image_types.iter().all(|t| {
        t.filter.is_none() && t.name.as_deref() == Some(tomofuse_radiomics::image_types::ORIGINAL)
    }) {
        settings.image_types.clear();
    }
    let params = tomofuse_radiomics::VoxelParams::from_settings(
        &settings,
        kernel_radius,
        masked_kernel,
        label,
    )
    .map_err(err)?;
    type DiagHashes = (Diagnostics, (String, String));
    type Crop = (
        Vec<(String, Vec<f32>)>,
        [usize; 3],
        Geometry,
        [usize; 3],
        Vec<u8>,
    );
    let ((maps, shape, g, lo, roi), diag) = py
        .detach(|| -> Result<(Crop, Option<DiagHashes>), String> {
            let l = load(inputs, want_diagnostics)?;
            let maps = tomofuse_radiomics::voxel_maps(&l.image, &l.mask, &params, &features)
                .map_err(|e| format!("voxel maps of {} label {label}: {e}", l.what))?;
            // PyRadiomics' grid: the ROI bounding box padded by the kernel radius, clipped
            // to the image (`cropToTumorMask(..., padDistance=kernelRadius)`).
            let [n0, n1, n2] = l.mask.shape();
            let (mut lo, mut hi) = ([usize::MAX; 3], [0usize; 3]);
            for ((i, j, k), &m) in l.mask.data.indexed_iter() {
                if m == label {
                    for (a, x) in [i, j, k].into_iter().enumerate() {
                        lo[a] = lo[a].min(x);
                        hi[a] = hi[a].max(x);
                    }
                }
            }
            let n = [n0, n1, n2];
            let lo: [usize; 3] = std::array::from_fn(|a| lo[a].saturating_sub(kernel_radius));
            let hi: [usize; 3] = std::array::from_fn(|a| (hi[a] + kernel_radius).min(n[a] - 1));
            let shape: [usize; 3] = std::array::from_fn(|a| hi[a] - lo[a] + 1);
            let g = l.image.geometry;
            let origin = g.index_to_world(lo.map(|x| x as f64));
            let cg = Geometry { origin, ..g };
            let crop = ndarray::s![lo[0]..=hi[0], lo[1]..=hi[1], lo[2]..=hi[2]];
            let roi: Vec<u8> = l
                .mask
                .data
                .slice(crop)
                .iter()
                .map(|&m| u8::from(m == label))
                .collect();
            let cropped = maps
                .into_iter()
                .map(|(name, m)| {
                    let sub = m.data.slice(crop).iter().copied().collect::<Vec<f32>>();
                    (name, sub)
                })
                .collect();
            let diag = if want_diagnostics {
                let d = diagnostics(&l, label)?;
                Some((d, l.hashes.clone().unwrap_or_default()))
            } else {
                None
            };
            Ok(((cropped, shape, cg, lo, roi), diag))
        })
        .map_err(Error::new_err)?;
    let out = maps
        .into_iter()
        .map(|(name, v)| (name, PyByteArray::new(py, bytemuck::cast_slice(&v))))
        .collect();
    let gd = PyDict::new(py);
    gd.set_item("spacing", g.spacing)?;
    gd.set_item("origin", g.origin)?;
    gd.set_item("direction", g.direction)?;
    let diag = match diag {
        Some((d, h)) => Some(diagnostics_dict(py, &d, &h)?),
        None => None,
    };
    Ok((out, shape, gd, lo, PyByteArray::new(py, &roi), diag))
}

/// Voxel-wise feature maps (PyRadiomics `voxelBased=True`) of image and mask files, computed
/// by `tomofuse_radiomics::voxel_maps` as `tomofuse radiomics --voxel-map` does, returned on
/// PyRadiomics' grid (ROI bounding box padded by the kernel radius); NaN outside the ROI.
#[pyfunction]
#[pyo3(signature = (image, mask, label, settings_toml, kernel_radius, masked_kernel, features, diagnostics=false))]
#[allow(clippy::too_many_arguments)]
fn voxel_files<'py>(
    py: Python<'py>,
    image: PathBuf,
    mask: PathBuf,
    label: u8,
    settings_toml: &str,
    kernel_radius: usize,
    masked_kernel: bool,
    features: Vec<String>,
    diagnostics: bool,
) -> PyResult<VoxelOut<'py>> {
    voxel_run(
        py,
        Inputs::Files(image, mask),
        label,
        settings_toml,
        kernel_radius,
        masked_kernel,
        features,
        diagnostics,
    )
}

/// `voxel_files` on in-memory voxels.
#[pyfunction]
#[pyo3(signature = (image, image_shape, image_geom, mask, mask_shape, mask_geom, label, settings_toml, kernel_radius, masked_kernel, features, diagnostics=false))]
#[allow(clippy::too_many_arguments)]
fn voxel_arrays<'py>(
    py: Python<'py>,
    image: &[u8],
    image_shape: [usize; 3],
    image_geom: GeomArgs,
    mask: &[u8],
    mask_shape: [usize; 3],
    mask_geom: GeomArgs,
    label: u8,
    settings_toml: &str,
    kernel_radius: usize,
    masked_kernel: bool,
    features: Vec<String>,
    diagnostics: bool,
) -> PyResult<VoxelOut<'py>> {
    let inputs = array_inputs(image, image_shape, image_geom, mask, mask_shape, mask_geom)?;
    voxel_run(
        py,
        inputs,
        label,
        settings_toml,
        kernel_radius,
        masked_kernel,
        features,
        diagnostics,
    )
}

/// AUC with a DeLong (`delong`, `delong-logit`) or stratified bootstrap (`bootstrap` =
/// percentile, `bootstrap-bca`) CI: (auc, lower, upper, std_error).
#[pyfunction]
fn roc_auc(
    py: Python<'_>,
    y: Vec<bool>,
    score: Vec<f64>,
    ci: &str,
    n_boot: usize,
    seed: u64,
    level: f64,
) -> PyResult<(f64, f64, f64, f64)> {
    let ci = ci.to_string();
    py.detach(move || match ci.as_str() {
        "delong" | "delong-logit" => {
            let m = if ci == "delong" {
                CiMethod::Plain
            } else {
                CiMethod::Logit
            };
            let d = tomofuse_metrics::delong(&y, &score, level, m).map_err(err)?;
            Ok((d.auc, d.ci.lower, d.ci.upper, d.std_error))
        }
        "bootstrap" | "bootstrap-bca" => {
            let cfg = BootstrapConfig {
                n_resamples: n_boot,
                seed,
                level,
            };
            let b = tomofuse_metrics::bootstrap_auc(&y, &score, &cfg).map_err(err)?;
            let i = if ci == "bootstrap" {
                b.percentile
            } else {
                b.bca
            };
            Ok((b.estimate, i.lower, i.upper, b.std_error))
        }
        other => Err(PyValueError::new_err(format!(
            "ci `{other}` is not one of delong, delong-logit, bootstrap, bootstrap-bca"
        ))),
    })
}

/// (auc1, auc2, difference, std_error, z, p_value, ci_lower, ci_upper).
type DelongRow = (f64, f64, f64, f64, f64, f64, f64, f64);

/// Paired DeLong test of two scores on the same cases.
#[pyfunction]
fn delong_test(
    py: Python<'_>,
    y: Vec<bool>,
    s1: Vec<f64>,
    s2: Vec<f64>,
    level: f64,
) -> PyResult<DelongRow> {
    let d = py
        .detach(|| tomofuse_metrics::delong_paired(&y, &s1, &s2, level))
        .map_err(err)?;
    Ok((
        d.auc1,
        d.auc2,
        d.difference,
        d.std_error,
        d.z,
        d.p_value,
        d.ci.lower,
        d.ci.upper,
    ))
}

/// Binned calibration curve (scikit-learn's rules): (mean_predicted, observed_fraction, count).
#[pyfunction]
fn calibration(
    py: Python<'_>,
    y: Vec<bool>,
    p: Vec<f64>,
    n_bins: usize,
    strategy: &str,
) -> PyResult<Vec<(f64, f64, usize)>> {
    let strategy = match strategy {
        "uniform" => BinStrategy::Uniform,
        "quantile" => BinStrategy::Quantile,
        other => {
            return Err(PyValueError::new_err(format!(
                "strategy `{other}` is not one of uniform, quantile"
            )));
        }
    };
    let bins = py
        .detach(|| tomofuse_metrics::calibration_curve(&y, &p, n_bins, strategy))
        .map_err(err)?;
    Ok(bins
        .into_iter()
        .map(|b| (b.mean_predicted, b.observed_fraction, b.count))
        .collect())
}

/// Decision curve: (threshold, model, treat_all, treat_none) net benefits.
#[pyfunction]
fn decision_curve(
    py: Python<'_>,
    y: Vec<bool>,
    p: Vec<f64>,
    thresholds: Vec<f64>,
) -> PyResult<Vec<(f64, f64, f64, f64)>> {
    let pts = py
        .detach(|| tomofuse_metrics::decision_curve(&y, &p, &thresholds))
        .map_err(err)?;
    Ok(pts
        .into_iter()
        .map(|d| (d.threshold, d.model, d.treat_all, d.treat_none))
        .collect())
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("Error", m.py().get_type::<Error>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(read_image, m)?)?;
    m.add_function(wrap_pyfunction!(write_nifti, m)?)?;
    m.add_function(wrap_pyfunction!(affine_ras, m)?)?;
    m.add_function(wrap_pyfunction!(resample, m)?)?;
    m.add_function(wrap_pyfunction!(radiomics_settings, m)?)?;
    m.add_function(wrap_pyfunction!(radiomics_presets, m)?)?;
    m.add_function(wrap_pyfunction!(radiomics_files, m)?)?;
    m.add_function(wrap_pyfunction!(radiomics_arrays, m)?)?;
    m.add_function(wrap_pyfunction!(pyradiomics_params, m)?)?;
    m.add_function(wrap_pyfunction!(yaml_file_to_json, m)?)?;
    m.add_function(wrap_pyfunction!(voxel_files, m)?)?;
    m.add_function(wrap_pyfunction!(voxel_arrays, m)?)?;
    m.add_function(wrap_pyfunction!(roc_auc, m)?)?;
    m.add_function(wrap_pyfunction!(delong_test, m)?)?;
    m.add_function(wrap_pyfunction!(calibration, m)?)?;
    m.add_function(wrap_pyfunction!(decision_curve, m)?)?;
    Ok(())
}
