//! Voxel-wise feature maps: every PyRadiomics feature computed in the `(2R+1)^3` neighbourhood
//! (kernel) of each ROI voxel, as PyRadiomics 3.0.1 does with `voxelBased=True`.
//!
//! Conventions (PyRadiomics compatibility mode, checked against its maps in
//! `tests/voxel_pyradiomics.rs`):
//! - grey levels are discretised **once**, on the ROI (`masked_kernel = true`) or on the
//!   whole crop `ROI bounding box +- R` (`masked_kernel = false`), never per kernel; the
//!   grey-level vector and `Ng` (Idmn, Idn) are those of that whole region;
//! - the kernel of voxel `v` is the box `v +- R` clipped to the image; with `masked_kernel`
//!   only ROI voxels of the box take part, otherwise every voxel of the box;
//! - texture matrices are built inside the box only (a neighbour outside the box does not
//!   count, for GLCM pairs, runs, zones, dependences and NGTDM neighbourhoods);
//! - PyRadiomics' per-direction quirks are kept: GLCM/GLRLM directions without a pair in a
//!   kernel are skipped by the average, except GLCM `JointAverage` (a plain mean: NaN).
//!   One deliberate difference: PyRadiomics' GLCM `MCC` map is NaN everywhere as soon as one
//!   kernel has an empty direction (its eigen-solver raises for the whole batch); here MCC is
//!   computed per voxel over the non-empty directions.
//!
//! The IBSI reading would discretise per ROI as well (IBSI 3.4: the ROI-level discretisation
//! is applied before the local computation) but aggregates directions differently; only the
//! PyRadiomics convention is implemented here.
//!
//! Algorithms: kernels slide along the fastest index axis (`k`); every step removes the leaving
//! plane and adds the entering one (`(2R+1)^2` voxels). First order keeps a Fenwick tree of
//! counts and integer sums over the intensity ranks, exact 128-bit power sums and the
//! grey-level histogram, so a voxel costs `O(R^2 log V)`, not `O(R^3)` (images whose
//! intensities are not small multiples of a power of two fall back to a sorted window with
//! an `O(R^3)` moment pass). GLCM keeps the 13 symmetric co-occurrence matrices and, per
//! direction, running sums from which every feature but MCC is `O(1)` (exact integer
//! moments, fixed-point `c log2 c` sums); MCC is an eigenvalue problem on the grey levels
//! present in the kernel. GLRLM, GLSZM, GLDM and NGTDM are not decomposable over planes (a
//! run or zone can cross the whole kernel) and are rebuilt per kernel from precomputed
//! same-level/neighbour bitmasks masked by the box. Lines (`i`, `j`) run in parallel (rayon)
//! in chunks; each worker holds one line's state, so memory is the output plus a few
//! matrices per thread.

mod firstorder;
mod glcm;
mod matrices;

use crate::error::{RadiomicsError, Result};
use crate::settings::{Compat, Discretisation, Settings};
use rayon::prelude::*;
use tomofuse_core::{GeometryTolerance, Mask, Volume};

/// Parameters of a voxel-map computation (PyRadiomics `voxelSetting` plus its binning).
#[derive(Debug, Clone, PartialEq)]
pub struct VoxelParams {
    /// `kernelRadius`: the kernel is `(2R+1)^3` voxels. Must be >= 1.
    pub kernel_radius: usize,
    /// `maskedKernel`: only ROI voxels of the kernel take part (PyRadiomics' default).
    pub masked_kernel: bool,
    /// `binWidth` (PyRadiomics' default 25), or None with `bin_count`.
    pub bin_width: Option<f64>,
    /// `binCount`.
    pub bin_count: Option<u32>,
    /// `voxelArrayShift` for Energy, TotalEnergy and RootMeanSquared.
    pub voxel_array_shift: f64,
    /// ROI label in the mask.
    pub label: u8,
    /// `initValue`: the maps' value outside the ROI. Default NaN (PyRadiomics' default is 0;
    /// a parameter file's `voxelSetting.initValue: 0` reproduces its files).
    pub init_value: f64,
}

impl Default for VoxelParams {
    fn default() -> Self {
        Self {
            kernel_radius: 1,
            masked_kernel: true,
            bin_width: Some(25.0),
            bin_count: None,
            voxel_array_shift: 0.0,
            label: 1,
            init_value: f64::NAN,
        }
    }
}

impl VoxelParams {
    /// Binning and `voxelArrayShift` from extraction settings. Settings that voxel maps do not
    /// implement (interpolation, resegmentation, filtered image types) are errors, not ignored.
    pub fn from_settings(
        s: &Settings,
        kernel_radius: usize,
        masked_kernel: bool,
        label: u8,
    ) -> Result<Self> {
        let unsupported = |field: &str, what: &str| RadiomicsError::Settings {
            field: field.to_string(),
            reason: format!("{what} is not implemented for voxel maps"),
        };
        if s.interpolation.is_some() {
            return Err(unsupported("interpolation", "interpolation"));
        }
        if s.resegmentation.range.is_some() || s.resegmentation.outlier_sigma.is_some() {
            return Err(unsupported("resegmentation", "resegmentation"));
        }
        // The original image only (a PyRadiomics parameter file lists it as `Original`).
        if s.image_types.iter().any(|t| t.filter.is_some()) {
            return Err(unsupported("image_types", "filtered image types"));
        }
        if s.pyradiomics.force_2d {
            return Err(unsupported("force2D", "force2D (per-slice texture)"));
        }
        if s.texture.ngldm_alpha != 0 {
            return Err(unsupported(
                "gldm_a",
                "a GLDM coarseness gldm_a other than 0",
            ));
        }
        if s.compat != Compat::Pyradiomics {
            log::info!("voxel maps follow PyRadiomics conventions (compat = \"pyradiomics\")");
        }
        let (bin_width, bin_count) = match s.discretisation {
            Discretisation::FixedBinSize { bin_width } => (Some(bin_width), None),
            Discretisation::FixedBinNumber { n_bins } => (None, Some(n_bins)),
            Discretisation::None => {
                return Err(unsupported("discretisation", "discretisation `none`"));
            }
        };
        Ok(Self {
            kernel_radius,
            masked_kernel,
            bin_width,
            bin_count,
            voxel_array_shift: s.pyradiomics.voxel_array_shift,
            label,
            init_value: f64::NAN,
        })
    }
}

/// Feature classes with voxel maps, in output order.
pub const CLASSES: [&str; 6] = ["firstorder", "glcm", "glrlm", "glszm", "gldm", "ngtdm"];

/// Names of every map (`<class>_<Feature>`, PyRadiomics' names without `original_`).
pub fn feature_names() -> Vec<String> {
    CLASSES
        .iter()
        .flat_map(|c| class_features(c).iter().map(move |f| format!("{c}_{f}")))
        .collect()
}

fn class_features(class: &str) -> &'static [&'static str] {
    match class {
        "firstorder" => &firstorder::NAMES,
        "glcm" => &glcm::NAMES,
        "glrlm" => &matrices::GLRLM_NAMES,
        "glszm" => &matrices::GLSZM_NAMES,
        "gldm" => &matrices::GLDM_NAMES,
        "ngtdm" => &matrices::NGTDM_NAMES,
        _ => &[],
    }
}

/// Resolves a selection: `all`, a class name (`glcm`) or a map name (`glcm_Contrast`), case
/// insensitive. Returns per class the selected feature indices (class order kept).
fn select(features: &[String]) -> Result<Vec<(&'static str, Vec<usize>)>> {
    let mut sel: Vec<Vec<bool>> = CLASSES
        .iter()
        .map(|c| vec![false; class_features(c).len()])
        .collect();
    if features.is_empty() {
        return Err(RadiomicsError::Settings {
            field: "features".into(),
            reason: "no feature selected".into(),
        });
    }
    for want in features {
        let w = want.trim();
        let mut hit = false;
        for (ci, c) in CLASSES.iter().enumerate() {
            for (fi, f) in class_features(c).iter().enumerate() {
                let name = format!("{c}_{f}");
                if w.eq_ignore_ascii_case("all")
                    || w.eq_ignore_ascii_case(c)
                    || w.eq_ignore_ascii_case(&name)
                    || w.eq_ignore_ascii_case(&format!("original_{name}"))
                {
                    sel[ci][fi] = true;
                    hit = true;
                }
            }
        }
        if !hit {
            return Err(RadiomicsError::Settings {
                field: "features".into(),
                reason: format!(
                    "unknown feature `{w}`: use `all`, a class ({}) or `<class>_<Feature>` such as `glcm_Contrast`",
                    CLASSES.join(", ")
                ),
            });
        }
    }
    Ok(CLASSES
        .iter()
        .zip(sel)
        .filter_map(|(c, s)| {
            let idx: Vec<usize> = (0..s.len()).filter(|&i| s[i]).collect();
            (!idx.is_empty()).then_some((*c, idx))
        })
        .collect())
}

/// The discretised crop every kernel reads.
pub(crate) struct Grid {
    /// `[n0, n1, n2]` of the crop (index axes i, j, k; k fastest).
    pub dims: [usize; 3],
    /// Intensities of the crop.
    pub img: Vec<f64>,
    /// Compact grey-level index + 1 of voxels that can take part in a kernel (0: cannot).
    pub g: Vec<u32>,
    /// Grey-level value of compact index c (the discretised level, 1-based as PyRadiomics).
    pub levels: Vec<f64>,
    /// PyRadiomics `Ng`: the highest grey level of the discretised region.
    pub ng_max: f64,
    /// ROI membership of crop voxels.
    pub roi: Vec<bool>,
    /// Voxel volume in mm^3 (TotalEnergy).
    pub voxel_volume: f64,
    pub radius: usize,
    /// Same-level and taking-part neighbour masks (`matrices::neighbour_masks`), filled
    /// before the first per-kernel class (empty otherwise).
    pub nb: Vec<[u32; 2]>,
}

impl Grid {
    #[inline]
    pub fn idx(&self, a: usize, b: usize, c: usize) -> usize {
        (a * self.dims[1] + b) * self.dims[2] + c
    }
}

/// PyRadiomics' bin index (1-based) of `x` for a region with minimum `lo` and maximum `hi`.
fn bin_of(x: f64, lo: f64, hi: f64, p: &VoxelParams) -> i64 {
    match (p.bin_width, p.bin_count) {
        (Some(w), _) => (x / w).floor() as i64 - (lo / w).floor() as i64 + 1,
        (None, Some(n)) => {
            if x >= hi || hi == lo {
                n as i64
            } else {
                (n as f64 * (x - lo) / (hi - lo)).floor() as i64 + 1
            }
        }
        (None, None) => 1,
    }
}

fn check_params(image: &Volume<f32>, p: &VoxelParams) -> Result<()> {
    let bad = |field: &str, reason: String| {
        Err(RadiomicsError::Settings {
            field: field.into(),
            reason,
        })
    };
    let shape = image.shape();
    if p.kernel_radius == 0 {
        return bad(
            "kernel_radius",
            "must be >= 1 (a kernel of one voxel has no texture)".into(),
        );
    }
    if shape.iter().all(|&n| p.kernel_radius >= n) {
        return bad(
            "kernel_radius",
            format!(
                "{} is not smaller than the image ({shape:?} voxels): every kernel would be the whole image",
                p.kernel_radius
            ),
        );
    }
    match (p.bin_width, p.bin_count) {
        (Some(w), _) if !(w.is_finite() && w > 0.0) => {
            bad("bin_width", format!("must be a positive number, got {w}"))
        }
        (None, Some(0)) => bad("bin_count", "must be >= 1".into()),
        (None, None) => bad("bin_width", "give a bin width or a bin count".into()),
        _ => Ok(()),
    }
}

/// Builds the crop `ROI bounding box +- R` (clipped to the image) and discretises it.
fn build_grid(image: &Volume<f32>, mask: &Mask, p: &VoxelParams) -> Result<(Grid, [usize; 3])> {
    image.check_same_grid(mask, &GeometryTolerance::default())?;
    check_params(image, p)?;
    let shape = image.shape();
    let bb =
        mask.select_label(p.label)
            .bounding_box()
            .ok_or_else(|| RadiomicsError::EmptyMask {
                label: p.label,
                what: "voxel maps".into(),
            })?;
    let r = p.kernel_radius;
    let lo: [usize; 3] = std::array::from_fn(|a| bb.0[a].saturating_sub(r));
    let hi: [usize; 3] = std::array::from_fn(|a| (bb.1[a] + r).min(shape[a] - 1));
    let dims: [usize; 3] = std::array::from_fn(|a| hi[a] - lo[a] + 1);
    let n = dims[0] * dims[1] * dims[2];
    let mut img = Vec::with_capacity(n);
    let mut roi = Vec::with_capacity(n);
    for a in 0..dims[0] {
        for b in 0..dims[1] {
            for c in 0..dims[2] {
                let ix = [a + lo[0], b + lo[1], c + lo[2]];
                img.push(image.data[ix] as f64);
                roi.push(mask.data[ix] == p.label);
            }
        }
    }
    let part = |id: usize| roi[id] || !p.masked_kernel;
    let (mut mn, mut mx) = (f64::INFINITY, f64::NEG_INFINITY);
    for (id, &v) in img.iter().enumerate() {
        if part(id) {
            if !v.is_finite() {
                let (a, b, c) = (
                    id / (dims[1] * dims[2]),
                    (id / dims[2]) % dims[1],
                    id % dims[2],
                );
                return Err(RadiomicsError::NonFinite {
                    count: img.iter().filter(|v| !v.is_finite()).count(),
                    first: [a + lo[0], b + lo[1], c + lo[2]],
                });
            }
            mn = mn.min(v);
            mx = mx.max(v);
        }
    }
    let raw: Vec<i64> = img
        .iter()
        .enumerate()
        .map(|(id, &v)| if part(id) { bin_of(v, mn, mx, p) } else { 0 })
        .collect();
    let top = raw.iter().copied().max().unwrap_or(0).max(1);
    if top as usize > crate::roi::MAX_GREY_LEVELS {
        return Err(RadiomicsError::Settings {
            field: "bin_width".into(),
            reason: format!(
                "{top} grey levels (more than {}); use a larger bin width",
                crate::roi::MAX_GREY_LEVELS
            ),
        });
    }
    let mut present = vec![false; top as usize + 1];
    for &b in &raw {
        if b > 0 {
            present[b as usize] = true;
        }
    }
    let mut compact = vec![0u32; top as usize + 1];
    let mut levels = Vec::new();
    for (b, &on) in present.iter().enumerate() {
        if on {
            levels.push(b as f64);
            compact[b] = levels.len() as u32;
        }
    }
    let g = raw
        .iter()
        .map(|&b| if b > 0 { compact[b as usize] } else { 0 })
        .collect();
    let sp = image.geometry.spacing;
    Ok((
        Grid {
            dims,
            img,
            g,
            ng_max: top as f64,
            levels,
            roi,
            voxel_volume: sp[0] * sp[1] * sp[2],
            radius: r,
            nb: Vec::new(),
        },
        lo,
    ))
}

/// One class's per-line state: it slides a kernel along `k` and fills feature values.
pub(crate) trait LineKernel {
    /// Starts a line (`a`, `b`) with the kernel centred at `c0`.
    fn start(&mut self, grid: &Grid, a: usize, b: usize, c0: usize);
    /// Moves the kernel centre from `c - 1` to `c`.
    fn advance(&mut self, grid: &Grid, a: usize, b: usize, c: usize);
    /// Features of the kernel centred at (`a`, `b`, `c`), in the class's name order.
    fn features(&mut self, grid: &Grid, a: usize, b: usize, c: usize, out: &mut [f64]);
}

/// What the workers of one class share (computed once per class, not per worker).
#[derive(Default)]
struct Shared {
    /// GLCM: whether each direction has a pair in some kernel.
    glcm_used: Vec<bool>,
    /// First order: intensity ranks for the O(face) kernel (None: sorted window).
    ranks: Option<std::sync::Arc<firstorder::Ranks>>,
}

impl Shared {
    fn new(class: &str, grid: &Grid) -> Self {
        match class {
            "glcm" => Self {
                glcm_used: glcm::directions_used(grid),
                ..Self::default()
            },
            "firstorder" => Self {
                ranks: firstorder::Ranks::new(grid).map(std::sync::Arc::new),
                ..Self::default()
            },
            _ => Self::default(),
        }
    }
}

fn new_kernel(
    class: &str,
    grid: &Grid,
    p: &VoxelParams,
    idx: &[usize],
    shared: &Shared,
) -> Box<dyn LineKernel> {
    match class {
        "firstorder" => match &shared.ranks {
            Some(r) => Box::new(firstorder::FirstOrderTree::new(
                grid,
                r.clone(),
                p.voxel_array_shift,
            )),
            None => Box::new(firstorder::FirstOrder::new(grid, p.voxel_array_shift)),
        },
        // MCC (an eigenvalue problem per direction) dominates GLCM: only when selected.
        "glcm" => Box::new(glcm::Glcm::new(
            grid,
            idx.contains(&glcm::MCC),
            shared.glcm_used.clone(),
        )),
        other => Box::new(matrices::PerKernel::new(grid, other)),
    }
}

/// Voxel maps of the ROI `mask == params.label`: one `(name, map)` per selected feature, on
/// the image grid, `params.init_value` (NaN by default) outside the ROI, NaN where a feature
/// is undefined. `features` takes
/// `all`, class names (`glcm`) or map names (`glcm_Contrast`, see [`feature_names`]).
///
/// Errors: grid mismatch, empty ROI, radius 0 or not smaller than the image, non-finite
/// intensities in the discretised region, unknown feature names.
pub fn voxel_maps(
    image: &Volume<f32>,
    mask: &Mask,
    params: &VoxelParams,
    features: &[String],
) -> Result<Vec<(String, Volume<f32>)>> {
    let selection = select(features)?;
    let (mut grid, lo) = build_grid(image, mask, params)?;
    let mut out = Vec::new();
    // One class at a time: its maps are the only large allocation alive besides the output.
    for (class, idx) in selection {
        if matches!(class, "glrlm" | "glszm" | "gldm" | "ngtdm") && grid.nb.is_empty() {
            grid.nb = matrices::neighbour_masks(&grid);
        }
        let nf = class_features(class).len();
        let [n0, n1, n2] = grid.dims;
        let lines: Vec<(usize, usize)> = (0..n0)
            .flat_map(|a| (0..n1).map(move |b| (a, b)))
            .filter(|&(a, b)| (0..n2).any(|c| grid.roi[grid.idx(a, b, c)]))
            .collect();
        let shared = Shared::new(class, &grid);
        // Per line: the selected values of its ROI voxels (f32, as the maps store them), so
        // the transient memory is the ROI part of the output, not the kernels. Lines go to
        // the workers in chunks (one kernel state per chunk, not per line).
        let chunk = lines
            .len()
            .div_ceil(8 * rayon::current_num_threads())
            .max(1);
        let per_line: Vec<Vec<f32>> = lines
            .par_iter()
            .with_min_len(chunk)
            .map_init(
                || {
                    (
                        new_kernel(class, &grid, params, &idx, &shared),
                        vec![f64::NAN; nf],
                    )
                },
                |(k, v), &(a, b)| {
                    let row = (0..n2).filter(|&c| grid.roi[grid.idx(a, b, c)]);
                    let (first, last) = (row.clone().min().unwrap(), row.max().unwrap());
                    let mut res = Vec::new();
                    for c in first..=last {
                        if c == first {
                            k.start(&grid, a, b, c);
                        } else {
                            k.advance(&grid, a, b, c);
                        }
                        if grid.roi[grid.idx(a, b, c)] {
                            v.iter_mut().for_each(|x| *x = f64::NAN);
                            k.features(&grid, a, b, c, v);
                            res.extend(idx.iter().map(|&fi| v[fi] as f32));
                        }
                    }
                    res
                },
            )
            .collect();
        let mut maps: Vec<Volume<f32>> = idx
            .iter()
            .map(|_| Volume::filled(image.shape(), params.init_value as f32, image.geometry))
            .collect::<std::result::Result<_, _>>()?;
        for (&(a, b), res) in lines.iter().zip(&per_line) {
            let cs = (0..n2).filter(|&c| grid.roi[grid.idx(a, b, c)]);
            for (c, vals) in cs.zip(res.chunks_exact(idx.len())) {
                let at = [a + lo[0], b + lo[1], c + lo[2]];
                for (m, &x) in maps.iter_mut().zip(vals) {
                    m.data[at] = x;
                }
            }
        }
        for (m, &fi) in maps.into_iter().zip(&idx) {
            out.push((format!("{class}_{}", class_features(class)[fi]), m));
        }
    }
    Ok(out)
}

/// Fixed-point scale of the `c log2 c` table: sums of table entries are exact integers, so a
/// sliding sum equals the sum of its current state whatever the path (no drift), and an
/// entropy of one non-zero entry is exactly 0 (PyRadiomics' flat-kernel cases).
pub(crate) const LOG_SCALE: f64 = 4_294_967_296.0; // 2^32

/// `round(c log2 c * LOG_SCALE)` for the counts `0..n` (0 at 0): the entropy tables of the
/// first-order and GLCM kernels.
pub(crate) fn clog_table(n: usize) -> Vec<i64> {
    (0..n)
        .map(|c| {
            let c = c as f64;
            if c > 0.0 {
                (c * c.log2() * LOG_SCALE).round() as i64
            } else {
                0
            }
        })
        .collect()
}

/// `-sum p log2(p + eps)` term with PyRadiomics' `eps = 2^-52`.
#[inline]
pub(crate) fn plogp(p: f64) -> f64 {
    p * (p + f64::EPSILON).log2()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection_accepts_classes_and_names_and_rejects_unknown() {
        let s = select(&["glcm".into(), "firstorder_Mean".into()]).unwrap();
        assert_eq!(s[0].0, "firstorder");
        assert_eq!(s[0].1.len(), 1);
        assert_eq!(s[1].1.len(), glcm::NAMES.len());
        let e = select(&["glcm_Nonsense".into()]).unwrap_err().to_string();
        assert!(e.contains("glcm_Nonsense"), "{e}");
        assert_eq!(
            select(&["all".into()])
                .unwrap()
                .iter()
                .map(|s| s.1.len())
                .sum::<usize>(),
            feature_names().len()
        );
    }
}
