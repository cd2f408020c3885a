//! IBSI chapter 2 convolutional filters (arXiv:2006.05470): mean, Laplacian of Gaussian,
//! Laws kernels, Gabor, separable wavelets and the non-separable Simoncelli wavelet, with
//! the Riesz transform of LoG and Simoncelli responses. Validated voxel by voxel against the
//! IBSI-2 phase-1 reference response maps (`tests/ibsi2_phase1.rs`).
//!
//! Use: build a [`FilterParams`], [`FilterParams::check`] it once (every image-independent
//! mistake is a [`RadiomicsError::FilterParam`] naming the parameter), then
//! [`Filter::apply`] it to any number of images.
//!
//! Conventions (`docs/conventions.md`): arrays are indexed `[i, j, k]` = (x, y, z). 2D means
//! per slice of constant `k` (the axial plane for axial CT). Physical parameters (sigma,
//! lambda) are in mm and divided by the voxel spacing; supports and distances are in voxels.
//! Kernel letter strings (`E5L5S5`, `LHL`) give the x, y, z kernels in that order.
//! Computation is in f64; the returned volume is f32 on the input grid.

pub mod boundary;
mod conv;
mod fourier;
pub mod gabor;
pub mod laws;
pub mod log;
pub mod mean;
pub mod riesz;
pub mod rotation;
pub mod simoncelli;
pub mod wavelet;

pub use boundary::Boundary;

use crate::error::{RadiomicsError, Result};
use ndarray::Array3;
use tomofuse_core::Volume;

/// 2D filters work per slice of constant `k` on the `i`, `j` axes; 3D filters on all axes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dims {
    D2,
    D3,
}

impl Dims {
    /// Which of the axes `i`, `j`, `k` are filtered.
    pub fn filtered(self) -> [bool; 3] {
        match self {
            Self::D2 => [true, true, false],
            Self::D3 => [true, true, true],
        }
    }
}

/// How the responses of rotated kernels (or of several orientations) become one map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pooling {
    Max,
    Mean,
}

/// Orthogonal planes in which a 2D kernel (Gabor) is applied slice by slice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plane {
    /// Slices of constant `k`; the kernel's x is `i`, its y is `j`.
    Axial,
    /// Slices of constant `j`; x is `i`, y is `k`.
    Coronal,
    /// Slices of constant `i`; x is `j`, y is `k`.
    Sagittal,
}

/// Riesz transform orders along x, y, z, applied to a LoG or Simoncelli response.
pub type RieszOrder = [u32; 3];

/// Mean filter over a cube (3D) or square (2D) of `support` voxels per side.
#[derive(Debug, Clone, PartialEq)]
pub struct MeanParams {
    pub support: usize,
    pub dims: Dims,
    pub boundary: Boundary,
}

/// Laplacian of Gaussian with scale `sigma_mm`, kernel truncated at `truncate` sigmas.
#[derive(Debug, Clone, PartialEq)]
pub struct LogParams {
    pub sigma_mm: f64,
    pub truncate: f64,
    pub dims: Dims,
    pub boundary: Boundary,
    pub riesz: Option<RieszOrder>,
}

/// Laws kernel product, e.g. `E5L5S5` (3D) or `L5S5` (2D), optional rotation invariance and
/// texture energy with distance `energy_delta` (voxels).
#[derive(Debug, Clone, PartialEq)]
pub struct LawsParams {
    pub kernel: String,
    pub rotation_invariant: bool,
    pub pooling: Pooling,
    pub energy_delta: Option<usize>,
    pub dims: Dims,
    pub boundary: Boundary,
}

/// 2D Gabor filter; the modulus of the complex response, averaged over `thetas` (radians,
/// wave vector from +x towards +y) and over `planes`.
#[derive(Debug, Clone, PartialEq)]
pub struct GaborParams {
    pub sigma_mm: f64,
    pub lambda_mm: f64,
    pub gamma: f64,
    pub thetas: Vec<f64>,
    pub planes: Vec<Plane>,
    pub boundary: Boundary,
}

/// Undecimated separable wavelet sub-band, e.g. `db2` / `LHL` / level 1.
#[derive(Debug, Clone, PartialEq)]
pub struct WaveletParams {
    pub wavelet: String,
    pub bands: String,
    pub level: usize,
    pub rotation_invariant: bool,
    pub pooling: Pooling,
    pub dims: Dims,
    pub boundary: Boundary,
}

/// Simoncelli band-pass wavelet at `level` (real part of the response). It is applied in
/// the Fourier domain on the image grid, so the image is periodic by construction.
#[derive(Debug, Clone, PartialEq)]
pub struct SimoncelliParams {
    pub level: usize,
    pub dims: Dims,
    pub riesz: Option<RieszOrder>,
}

/// Unchecked filter parameters.
#[derive(Debug, Clone, PartialEq)]
pub enum FilterParams {
    Mean(MeanParams),
    Log(LogParams),
    Laws(LawsParams),
    Gabor(GaborParams),
    Wavelet(WaveletParams),
    Simoncelli(SimoncelliParams),
}

/// A checked filter, ready to apply.
#[derive(Debug, Clone)]
pub enum Filter {
    Mean(MeanParams),
    Log(LogParams),
    Laws(laws::Laws),
    Gabor(GaborParams),
    Wavelet(wavelet::Wavelet),
    Simoncelli(SimoncelliParams),
}

pub(crate) fn bad(param: &str, reason: impl Into<String>) -> RadiomicsError {
    RadiomicsError::FilterParam {
        param: param.to_string(),
        reason: reason.into(),
    }
}

fn positive(param: &str, v: f64) -> Result<()> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(bad(param, format!("must be finite and > 0, found {v}")))
    }
}

fn check_riesz(r: &Option<RieszOrder>) -> Result<()> {
    match r {
        Some(o) if o.iter().sum::<u32>() == 0 => Err(bad(
            "riesz_order",
            "at least one order must be > 0 (omit the Riesz transform instead)",
        )),
        Some(o) if o.iter().any(|&l| l > 8) => Err(bad(
            "riesz_order",
            format!("orders above 8 are not supported, found {o:?}"),
        )),
        _ => Ok(()),
    }
}

impl FilterParams {
    /// Validates every image-independent parameter.
    pub fn check(self) -> Result<Filter> {
        match self {
            Self::Mean(p) => {
                if p.support == 0 || p.support % 2 == 0 {
                    return Err(bad(
                        "support",
                        format!("must be an odd number of voxels >= 1, found {}", p.support),
                    ));
                }
                Ok(Filter::Mean(p))
            }
            Self::Log(p) => {
                positive("sigma_mm", p.sigma_mm)?;
                positive("truncate", p.truncate)?;
                check_riesz(&p.riesz)?;
                if p.dims == Dims::D2 && p.riesz.is_some_and(|o| o[2] > 0) {
                    return Err(bad("riesz_order", "a 2D filter has no z order"));
                }
                Ok(Filter::Log(p))
            }
            Self::Laws(p) => Ok(Filter::Laws(laws::Laws::new(p)?)),
            Self::Gabor(p) => {
                positive("sigma_mm", p.sigma_mm)?;
                positive("lambda_mm", p.lambda_mm)?;
                positive("gamma", p.gamma)?;
                if p.thetas.is_empty() || p.thetas.iter().any(|t| !t.is_finite()) {
                    return Err(bad("theta", "needs at least one finite angle"));
                }
                if p.planes.is_empty() {
                    return Err(bad("planes", "needs at least one plane"));
                }
                Ok(Filter::Gabor(p))
            }
            Self::Wavelet(p) => Ok(Filter::Wavelet(wavelet::Wavelet::new(p)?)),
            Self::Simoncelli(p) => {
                if !(1..=8).contains(&p.level) {
                    return Err(bad("level", format!("must be in 1..=8, found {}", p.level)));
                }
                check_riesz(&p.riesz)?;
                if p.dims == Dims::D2 && p.riesz.is_some_and(|o| o[2] > 0) {
                    return Err(bad("riesz_order", "a 2D filter has no z order"));
                }
                Ok(Filter::Simoncelli(p))
            }
        }
    }
}

impl Filter {
    /// Filters `image`; the response map has the input's grid and geometry.
    pub fn apply(&self, image: &Volume<f32>) -> Result<Volume<f32>> {
        let a = image.data.mapv(|v| v as f64);
        let out = self.apply_array(&a, image.geometry.spacing)?;
        Ok(Volume::new(out.mapv(|v| v as f32), image.geometry)?)
    }

    /// Filters an `[i, j, k]` array with voxel spacing `spacing` (mm).
    pub fn apply_array(&self, a: &Array3<f64>, spacing: [f64; 3]) -> Result<Array3<f64>> {
        if a.is_empty() {
            return Err(bad("image", "is empty"));
        }
        if spacing.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
            return Err(bad(
                "spacing",
                format!("must be finite and > 0, found {spacing:?}"),
            ));
        }
        match self {
            Self::Mean(p) => mean::apply(p, a),
            Self::Log(p) => log::apply(p, a, spacing),
            Self::Laws(l) => l.apply(a),
            Self::Gabor(p) => gabor::apply(p, a, spacing),
            Self::Wavelet(w) => w.apply(a),
            Self::Simoncelli(p) => simoncelli::apply(p, a),
        }
    }
}

/// The work buffers of a filter go through the crate-wide allocation limit
/// (`TOMOFUSE_MAX_VOXELS` / `TOMOFUSE_MAX_BYTES`), like every volume.
pub(crate) fn check_buffer(shape: [usize; 3], elem_size: usize) -> Result<()> {
    tomofuse_core::check_alloc(shape, elem_size)
        .map(|_| ())
        .map_err(|e| bad("image", format!("filter work buffer: {e}")))
}

/// Errors when a kernel of `len` voxels does not fit an image axis of `n` voxels.
pub(crate) fn check_fits(
    param: &str,
    len: usize,
    shape: &[usize],
    filtered: [bool; 3],
) -> Result<()> {
    for (ax, (&n, f)) in shape.iter().zip(filtered).enumerate() {
        if f && len > n {
            return Err(bad(
                param,
                format!(
                    "the kernel ({len} voxels) is larger than the image along axis {} ({n} voxels)",
                    ["i", "j", "k"][ax]
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(r: Result<Filter>) -> String {
        match r {
            Err(e) => e.to_string(),
            Ok(_) => panic!("expected an error"),
        }
    }

    #[test]
    fn bad_parameters_are_errors_that_name_the_parameter() {
        let log = |sigma_mm| {
            FilterParams::Log(LogParams {
                sigma_mm,
                truncate: 4.0,
                dims: Dims::D3,
                boundary: Boundary::Zero,
                riesz: None,
            })
            .check()
        };
        assert!(msg(log(0.0)).contains("`sigma_mm`"));
        assert!(msg(log(f64::NAN)).contains("`sigma_mm`"));
        let wav = FilterParams::Wavelet(WaveletParams {
            wavelet: "db99".into(),
            bands: "LHL".into(),
            level: 1,
            rotation_invariant: false,
            pooling: Pooling::Mean,
            dims: Dims::D3,
            boundary: Boundary::Zero,
        });
        assert!(msg(wav.check()).contains("unknown wavelet `db99`"));
        let laws = FilterParams::Laws(LawsParams {
            kernel: "E5L5".into(),
            rotation_invariant: false,
            pooling: Pooling::Max,
            energy_delta: None,
            dims: Dims::D3,
            boundary: Boundary::Zero,
        });
        assert!(msg(laws.check()).contains("`kernel`"));
        // A kernel wider than the image is an error at apply time, not a panic.
        let mean = FilterParams::Mean(MeanParams {
            support: 15,
            dims: Dims::D3,
            boundary: Boundary::Mirror,
        })
        .check()
        .unwrap();
        let img = Array3::<f64>::zeros((20, 20, 8));
        let e = mean.apply_array(&img, [1.0; 3]).unwrap_err().to_string();
        assert!(e.contains("larger than the image along axis k"), "{e}");
    }

    #[test]
    fn mean_filter_preserves_a_constant_image_under_every_boundary_but_zero() {
        let img = Array3::<f64>::from_elem((9, 8, 7), 3.0);
        for b in [Boundary::Nearest, Boundary::Periodic, Boundary::Mirror] {
            let f = FilterParams::Mean(MeanParams {
                support: 5,
                dims: Dims::D3,
                boundary: b,
            })
            .check()
            .unwrap();
            let out = f.apply_array(&img, [1.0; 3]).unwrap();
            assert!(out.iter().all(|v| (v - 3.0).abs() < 1e-12), "{b}");
        }
    }
}
