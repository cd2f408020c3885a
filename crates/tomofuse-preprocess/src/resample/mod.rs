//! Resampling of a volume onto a new grid.
//!
//! # Semantics (chosen to match SimpleITK's `ResampleImageFilter` with an identity transform)
//! Each output voxel centre is mapped to world (LPS) and then to a continuous index `c` of the
//! input grid. A voxel whose `c` lies outside `[-0.5, n - 0.5)` on any axis gets the default
//! value (0 unless set), as ITK's `IsInsideBuffer`. Inside:
//! - [`Interp::Nearest`]: index `floor(c + 0.5)` (ITK rounds half up).
//! - [`Interp::Linear`]: `c` clamped to `[0, n - 1]`, then (tri)linear weights (ITK's
//!   `LinearInterpolateImageFunction` never extrapolates).
//! - [`Interp::BSpline`]: cubic B-spline on coefficients from ITK's
//!   `BSplineDecompositionImageFilter` (pole `sqrt(3) - 2`, mirror boundaries, causal
//!   initialisation truncated at tolerance 1e-10), evaluated with ITK's mirror rule
//!   `i -> 2(n-1) - i` / `i -> -i`.
//!
//! # Grid conventions ([`GridMode`])
//! - [`GridMode::Itk`]: the usual SimpleITK recipe. Origin and direction kept,
//!   `size = max(1, floor(n * s_old / s_new + 0.5))`.
//! - [`GridMode::Ibsi`]: IBSI reference manual, section 2.4 "Interpolation" (grid alignment:
//!   "align grid centres"): `size = ceil(n * s_old / s_new)` and the origin is moved so that the
//!   centre of the new grid coincides with the centre of the old one:
//!   `origin_new = origin_old + D * (s_old * (n - 1) - s_new * (size - 1)) / 2`.
//!
//! # Speed
//! When the output direction equals the input direction (any spacing, origin and shape), the
//! input->output index map is diagonal and the interpolators factorise: the CPU path runs three
//! 1D passes on f32 data, fused per output plane (rayon task per plane, scratch planes in cache,
//! only the output allocated at full size). A signed axis permutation (e.g. a reference grid in
//! another orientation) is first undone exactly by reorienting; any other map (rotations)
//! evaluates the 3D interpolator per voxel. Nearest neighbour is a pure index gather.

mod bspline;
mod cpu;

use crate::error::{PreprocessError, Result};
use ndarray::{Array3, Zip};
use rayon::prelude::*;
use tomofuse_core::{Geometry, Mask, Space, Volume};

pub use bspline::bspline_coefficients;

/// Interpolator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Interp {
    /// Nearest neighbour (labels, masks): exact input values.
    Nearest,
    /// (Tri)linear.
    Linear,
    /// Cubic B-spline with prefilter (SimpleITK `sitkBSpline`, spline order 3).
    BSpline,
}

impl std::str::FromStr for Interp {
    type Err = PreprocessError;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "nearest" | "nn" => Ok(Self::Nearest),
            "linear" | "trilinear" => Ok(Self::Linear),
            "bspline" | "cubic" | "tricubic" => Ok(Self::BSpline),
            other => Err(PreprocessError::InvalidArgument {
                name: "interp",
                reason: format!("`{other}` is not one of nearest, linear, bspline"),
            }),
        }
    }
}

/// How the output grid of [`resample_to_spacing`] is laid out (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum GridMode {
    /// Origin kept, size rounded (SimpleITK recipe).
    #[default]
    Itk,
    /// Centres aligned, size rounded up (IBSI).
    Ibsi,
}

impl std::str::FromStr for GridMode {
    type Err = PreprocessError;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "itk" | "sitk" | "simpleitk" => Ok(Self::Itk),
            "ibsi" => Ok(Self::Ibsi),
            other => Err(PreprocessError::InvalidArgument {
                name: "grid",
                reason: format!("`{other}` is not one of itk, ibsi"),
            }),
        }
    }
}

/// Everything that controls one resample beyond the target grid.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ResampleOptions {
    pub interp: Interp,
    /// Value of output voxels that fall outside the input grid (ITK default 0).
    pub default_value: f32,
    /// Round results to integers (IBSI: CT intensities after interpolation), half away from 0.
    pub round: bool,
}

impl ResampleOptions {
    pub fn new(interp: Interp) -> Self {
        Self {
            interp,
            default_value: 0.0,
            round: false,
        }
    }
}

/// How a mask is resampled.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MaskInterp {
    /// Labels kept as they are.
    Nearest,
    /// Binary mask (non-zero = 1) interpolated linearly, then `>= threshold` (IBSI uses 0.5).
    LinearThreshold(f32),
    /// Label map: each label's indicator interpolated linearly, then the arg-max over the
    /// background and every label, ties to the lower label (ITK's
    /// `LabelImageGenericInterpolateImageFunction`, SimpleITK's `sitkLabelLinear`). Labels
    /// survive, and boundaries fall where a 50% partial volume puts them rather than on
    /// nearest neighbour's staircase; a binary mask comes out as linear + `> 0.5`.
    LabelLinear,
}

fn check_spacing(spacing: [f64; 3]) -> Result<()> {
    if spacing.iter().any(|s| !s.is_finite() || *s <= 0.0) {
        return Err(PreprocessError::InvalidSpacing { spacing });
    }
    Ok(())
}

/// Output grid (geometry, shape) for resampling `geom`/`shape` to `spacing` under `grid`.
pub fn output_grid(
    geom: &Geometry,
    shape: [usize; 3],
    spacing: [f64; 3],
    grid: GridMode,
) -> Result<(Geometry, [usize; 3])> {
    check_spacing(spacing)?;
    geom.validate()?;
    let mut out_shape = [1usize; 3];
    let mut shift_idx = [0.0f64; 3]; // output origin, in input continuous index units
    for a in 0..3 {
        let extent = shape[a] as f64 * geom.spacing[a] / spacing[a];
        let n = match grid {
            GridMode::Itk => (extent + 0.5).floor(),
            // A relative tolerance keeps an exact 90.000000001 from becoming 91.
            GridMode::Ibsi => (extent - 1e-9 * extent.max(1.0)).ceil(),
        };
        if !(1.0..1e9).contains(&n) {
            return Err(PreprocessError::InvalidArgument {
                name: "spacing",
                reason: format!("axis {a}: {extent} output voxels is not a usable size"),
            });
        }
        out_shape[a] = n as usize;
        if grid == GridMode::Ibsi {
            shift_idx[a] = ((shape[a] as f64 - 1.0) * geom.spacing[a] - (n - 1.0) * spacing[a])
                / (2.0 * geom.spacing[a]);
        }
    }
    let origin = geom.index_to_world(shift_idx);
    let g = Geometry::new(spacing, origin, geom.direction, Space::Lps)?;
    Ok((g, out_shape))
}

/// Resamples to `spacing` with the given grid convention (default value 0, no rounding).
pub fn resample_to_spacing(
    vol: &Volume<f32>,
    spacing: [f64; 3],
    interp: Interp,
    grid: GridMode,
) -> Result<Volume<f32>> {
    let (g, shape) = output_grid(&vol.geometry, vol.shape(), spacing, grid)?;
    resample_with(vol, &g, shape, &ResampleOptions::new(interp))
}

/// Resamples onto an arbitrary grid (any direction, origin, spacing, shape), e.g. another
/// volume's geometry.
pub fn resample_to_geometry(
    vol: &Volume<f32>,
    geometry: &Geometry,
    shape: [usize; 3],
    interp: Interp,
) -> Result<Volume<f32>> {
    resample_with(vol, geometry, shape, &ResampleOptions::new(interp))
}

/// Affine map from output index to input continuous index: `c = m * idx + t`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IndexMap {
    pub m: [[f64; 3]; 3],
    pub t: [f64; 3],
}

impl IndexMap {
    pub fn new(input: &Geometry, output: &Geometry) -> Self {
        let t = input.world_to_index(output.origin);
        let mut m = [[0.0; 3]; 3];
        for c in 0..3 {
            let mut e = [0.0; 3];
            e[c] = 1.0;
            let w = output.index_to_world(e);
            let ci = input.world_to_index(w);
            for r in 0..3 {
                // Difference of two mapped points: the linear part only.
                m[r][c] = ci[r] - t[r];
            }
        }
        Self { m, t }
    }

    #[inline]
    pub fn apply(&self, idx: [f64; 3]) -> [f64; 3] {
        let mut c = self.t;
        for (r, cr) in c.iter_mut().enumerate() {
            for (col, &ic) in idx.iter().enumerate() {
                *cr += self.m[r][col] * ic;
            }
        }
        c
    }

    /// True when every off-diagonal entry is negligible: the interpolators then factorise.
    pub fn is_diagonal(&self) -> bool {
        let mut scale: f64 = 0.0;
        for r in 0..3 {
            scale = scale.max(self.m[r][r].abs());
        }
        (0..3).all(|r| (0..3).all(|c| r == c || self.m[r][c].abs() <= 1e-9 * scale.max(1.0)))
    }
}

/// Validates the inputs shared by every resample and returns the index map.
fn prepare<T>(vol: &Volume<T>, geometry: &Geometry, shape: [usize; 3]) -> Result<IndexMap> {
    check_spacing(geometry.spacing)?;
    geometry.validate()?;
    if shape.contains(&0) {
        return Err(PreprocessError::InvalidShape { shape });
    }
    tomofuse_core::check_alloc(shape, 4)?;
    let map = IndexMap::new(&vol.geometry, geometry);
    let in_shape = dims(&vol.data);
    // Bounding box of the output corners in input index space.
    let mut lo = [f64::INFINITY; 3];
    let mut hi = [f64::NEG_INFINITY; 3];
    for corner in 0..8 {
        let idx = [
            if corner & 1 != 0 {
                shape[0] as f64 - 1.0
            } else {
                0.0
            },
            if corner & 2 != 0 {
                shape[1] as f64 - 1.0
            } else {
                0.0
            },
            if corner & 4 != 0 {
                shape[2] as f64 - 1.0
            } else {
                0.0
            },
        ];
        let c = map.apply(idx);
        for a in 0..3 {
            lo[a] = lo[a].min(c[a]);
            hi[a] = hi[a].max(c[a]);
        }
    }
    let overlaps =
        (0..3).all(|a| hi[a] >= -0.5 && lo[a] < in_shape[a] as f64 - 0.5 && lo[a].is_finite());
    if !overlaps {
        return Err(PreprocessError::NoOverlap {
            shape,
            lo,
            hi,
            input_shape: in_shape,
        });
    }
    Ok(map)
}

/// Errors on NaN or infinite input values (they would smear across the B-spline support).
pub fn check_finite(vol: &Volume<f32>) -> Result<()> {
    let Some(slice) = vol.data.as_slice() else {
        return check_finite_slow(vol);
    };
    let count = slice.par_iter().filter(|v| !v.is_finite()).count();
    if count == 0 {
        return Ok(());
    }
    check_finite_slow(vol)
}

fn check_finite_slow(vol: &Volume<f32>) -> Result<()> {
    let mut count = 0;
    let mut first = None;
    for ((i, j, k), v) in vol.data.indexed_iter() {
        if !v.is_finite() {
            count += 1;
            first.get_or_insert([i, j, k]);
        }
    }
    match first {
        None => Ok(()),
        Some(first) => Err(PreprocessError::NonFinite { count, first }),
    }
}

/// Checks a resample request (target spacing, shape, overlap, finite input) without running it.
pub fn validate(vol: &Volume<f32>, geometry: &Geometry, shape: [usize; 3]) -> Result<()> {
    prepare(vol, geometry, shape)?;
    check_finite(vol)
}

/// Resamples `vol` onto (`geometry`, `shape`) with full options, on the CPU.
pub fn resample_with(
    vol: &Volume<f32>,
    geometry: &Geometry,
    shape: [usize; 3],
    opts: &ResampleOptions,
) -> Result<Volume<f32>> {
    let map = prepare(vol, geometry, shape)?;
    check_finite(vol)?;
    if opts.interp == Interp::Nearest {
        // A pure gather: exact input values, any map.
        let mut v = resample_nearest_generic(vol, geometry, shape, opts.default_value)?;
        if opts.round {
            v.data.par_mapv_inplace(f32::round);
        }
        return Ok(v);
    }
    let mut data = if map.is_diagonal() {
        cpu::separable(&vol.data, &map, shape, opts)
    } else if let Some(re) = reorient_to_match(vol, geometry)? {
        // Signed axis permutation: reorient exactly first, then the map is diagonal.
        let map2 = IndexMap::new(&re.geometry, geometry);
        cpu::separable(&re.data, &map2, shape, opts)
    } else {
        cpu::general(&vol.data, &map, shape, opts)
    };
    if opts.round {
        data.par_mapv_inplace(f32::round);
    }
    Ok(Volume::new(data, *geometry)?)
}

/// Where a resample runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Device {
    #[default]
    Cpu,
    /// CUDA device ordinal (needs the `cuda` feature, libcuda and libnvrtc at run time).
    Cuda(usize),
}

/// [`resample_with`] on the chosen device. Without the `cuda` feature, or without a usable
/// GPU, `Device::Cuda` is a [`PreprocessError::NoCuda`] error.
pub fn resample_on(
    vol: &Volume<f32>,
    geometry: &Geometry,
    shape: [usize; 3],
    opts: &ResampleOptions,
    device: Device,
) -> Result<Volume<f32>> {
    match device {
        Device::Cpu => resample_with(vol, geometry, shape, opts),
        #[cfg(feature = "cuda")]
        Device::Cuda(ordinal) => {
            crate::cuda::resample_with_cuda(vol, geometry, shape, opts, ordinal)
        }
        #[cfg(not(feature = "cuda"))]
        Device::Cuda(_) => Err(PreprocessError::NoCuda(
            "tomofuse-preprocess was built without the `cuda` feature".into(),
        )),
    }
}

/// If `geometry`'s axes are a signed permutation of `vol`'s, the input reoriented (without
/// interpolation) to the same axis order; `None` otherwise.
fn reorient_to_match<T: Clone>(vol: &Volume<T>, geometry: &Geometry) -> Result<Option<Volume<T>>> {
    let codes: String = geometry.axis_codes(Space::Lps).iter().collect();
    let re = vol.reorient(&codes, Space::Lps)?;
    let map = IndexMap::new(&re.geometry, geometry);
    Ok(map.is_diagonal().then_some(re))
}

/// Resamples a mask onto (`geometry`, `shape`): nearest and label-linear keep labels; linear +
/// threshold treats the mask as binary (IBSI).
pub fn resample_mask(
    mask: &Mask,
    geometry: &Geometry,
    shape: [usize; 3],
    how: MaskInterp,
) -> Result<Mask> {
    match how {
        MaskInterp::Nearest => resample_nearest_generic(mask, geometry, shape, 0u8),
        MaskInterp::LinearThreshold(thr) => {
            if !thr.is_finite() {
                return Err(PreprocessError::InvalidArgument {
                    name: "threshold",
                    reason: format!("{thr} is not finite"),
                });
            }
            let f = mask.map(|&v| f32::from(u8::from(v != 0)));
            let r = resample_with(&f, geometry, shape, &ResampleOptions::new(Interp::Linear))?;
            Ok(r.map(|&v| u8::from(v >= thr)))
        }
        MaskInterp::LabelLinear => resample_label_linear(mask, geometry, shape),
    }
}

/// [`MaskInterp::LabelLinear`]: one linear resampling per label present. The background's
/// share is `1 - sum` of the labels' (its own indicator, interpolated, up to rounding).
fn resample_label_linear(mask: &Mask, geometry: &Geometry, shape: [usize; 3]) -> Result<Mask> {
    let mut present = [false; 256];
    for &v in mask.data.iter() {
        present[usize::from(v)] = true;
    }
    let mut best = Array3::<f32>::zeros(shape);
    let mut label = Array3::<u8>::zeros(shape);
    let mut sum = Array3::<f32>::zeros(shape);
    let opts = ResampleOptions::new(Interp::Linear);
    for l in (1..=255u8).filter(|&l| present[usize::from(l)]) {
        let f = mask.map(|&v| f32::from(u8::from(v == l)));
        let r = resample_with(&f, geometry, shape, &opts)?;
        Zip::from(&mut best)
            .and(&mut label)
            .and(&mut sum)
            .and(&r.data)
            .par_for_each(|b, lab, s, &v| {
                // Strictly greater: among tied labels the lower (visited first) stays.
                if v > *b {
                    *b = v;
                    *lab = l;
                }
                *s += v;
            });
    }
    // A label wins only over a strictly smaller background share.
    Zip::from(&mut label)
        .and(&best)
        .and(&sum)
        .par_for_each(|lab, &b, &s| {
            if b <= 1.0 - s {
                *lab = 0;
            }
        });
    Ok(Volume::new(label, *geometry)?)
}

/// Nearest-neighbour resampling of any element type (labels, u8 masks, i16).
pub fn resample_nearest_generic<T: Copy + Send + Sync>(
    vol: &Volume<T>,
    geometry: &Geometry,
    shape: [usize; 3],
    default: T,
) -> Result<Volume<T>> {
    let map = prepare(vol, geometry, shape)?;
    let data = if map.is_diagonal() {
        cpu::nearest_separable(&vol.data, &map, shape, default)
    } else if let Some(re) = reorient_to_match(vol, geometry)? {
        let map2 = IndexMap::new(&re.geometry, geometry);
        cpu::nearest_separable(&re.data, &map2, shape, default)
    } else {
        cpu::nearest_general(&vol.data, &map, shape, default)
    };
    Ok(Volume::new(data, *geometry)?)
}

pub(crate) fn dims<T>(a: &Array3<T>) -> [usize; 3] {
    let s = a.shape();
    [s[0], s[1], s[2]]
}

/// 1D taps of an interpolator at continuous index `c` on an axis of length `n`, ITK
/// semantics. Returns `None` outside `[-0.5, n - 0.5)`. Unused taps have weight 0.
#[inline]
pub fn taps(interp: Interp, c: f64, n: usize) -> Option<([usize; 4], [f64; 4])> {
    // `!(a && b)` also rejects NaN.
    if !(c >= -0.5 && c < n as f64 - 0.5) {
        return None;
    }
    let last = n - 1;
    match interp {
        Interp::Nearest => {
            let i = ((c + 0.5).floor().max(0.0) as usize).min(last);
            Some(([i, 0, 0, 0], [1.0, 0.0, 0.0, 0.0]))
        }
        Interp::Linear => {
            let cc = c.clamp(0.0, last as f64);
            let b = (cc.floor() as usize).min(last);
            let d = cc - b as f64;
            if b >= last || d <= 0.0 {
                Some(([b, 0, 0, 0], [1.0, 0.0, 0.0, 0.0]))
            } else {
                Some(([b, b + 1, 0, 0], [1.0 - d, d, 0.0, 0.0]))
            }
        }
        Interp::BSpline => Some(bspline::cubic_taps(c, n)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grids() {
        let g = Geometry::new(
            [0.977, 0.977, 3.0],
            [1.0, 2.0, 3.0],
            tomofuse_core_identity(),
            Space::Lps,
        )
        .unwrap();
        let (o, s) = output_grid(&g, [204, 201, 60], [2.0, 2.0, 2.0], GridMode::Ibsi).unwrap();
        assert_eq!(s, [100, 99, 90]);
        // Centre preserved.
        let c_in = g.index_to_world([101.5, 100.0, 29.5]);
        let c_out = o.index_to_world([49.5, 49.0, 44.5]);
        for a in 0..3 {
            assert!((c_in[a] - c_out[a]).abs() < 1e-9);
        }
        let (o, s) = output_grid(&g, [204, 201, 60], [2.0, 2.0, 2.0], GridMode::Itk).unwrap();
        assert_eq!(s, [100, 98, 90]);
        assert_eq!(o.origin, g.origin);
        assert!(output_grid(&g, [2, 2, 2], [0.0, 1.0, 1.0], GridMode::Itk).is_err());
        assert!(output_grid(&g, [2, 2, 2], [f64::NAN, 1.0, 1.0], GridMode::Itk).is_err());
    }

    /// Label-linear by hand: a 2x2x1 plane of labels sampled at its centre, where each corner
    /// weighs 1/4.
    #[test]
    fn label_linear_is_the_arg_max_of_interpolated_indicators() {
        let g = Geometry::with_spacing([1.0, 1.0, 1.0]).unwrap();
        // The one output voxel sits at index (0.5, 0.5, 0) of the input.
        let mut out = g;
        out.origin = g.index_to_world([0.5, 0.5, 0.0]);
        let at = |labels: [u8; 4]| {
            // Memory order x fastest: (0,0), (1,0), (0,1), (1,1).
            let m = Volume::from_vec_f([2, 2, 1], labels.to_vec(), g).unwrap();
            let r = resample_mask(&m, &out, [1, 1, 1], MaskInterp::LabelLinear).unwrap();
            r.data[[0, 0, 0]]
        };
        // Two corners of 1 (1/2) beat one of 2 (1/4) and the background (1/4).
        assert_eq!(at([1, 2, 1, 0]), 1);
        assert_eq!(at([2, 1, 0, 2]), 2);
        // Three labels and the background at 1/4 each: the background, the lowest, wins.
        assert_eq!(at([1, 2, 3, 0]), 0);
        // Labels 3 and 5 tied at 1/2: the lower label.
        assert_eq!(at([5, 3, 3, 5]), 3);
        // A binary mask: 1/2 against 1/2 stays background (linear `> 0.5`), while nearest
        // neighbour and linear `>= 0.5` both say foreground.
        assert_eq!(at([1, 1, 0, 0]), 0);
        assert_eq!(at([1, 1, 1, 0]), 1);
        let m = Volume::from_vec_f([2, 2, 1], vec![1, 1, 0, 0], g).unwrap();
        let thr = resample_mask(&m, &out, [1, 1, 1], MaskInterp::LinearThreshold(0.5)).unwrap();
        assert_eq!(thr.data[[0, 0, 0]], 1);
        // Labels keep their values (no binarisation), and an empty mask stays empty.
        assert_eq!(at([7, 7, 7, 9]), 7);
        assert_eq!(at([0, 0, 0, 0]), 0);
    }

    fn tomofuse_core_identity() -> [[f64; 3]; 3] {
        [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    }
}
