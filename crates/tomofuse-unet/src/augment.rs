//! Seeded patch sampling and data augmentation on the CPU (ndarray + rayon).
//!
//! A patch is resampled straight from the full volume through a small random rotation and
//! scaling about its centre (trilinear for the image, nearest for the mask), so augmentation
//! never invents borders inside the volume. Then random flips and an intensity scale/shift.

use crate::error::{Result, config_err};
use ndarray::{Array3, Axis, Zip};
use rand::Rng;
use serde::{Deserialize, Serialize};

/// Augmentation probabilities and ranges.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AugmentConfig {
    /// Probability of flipping each axis.
    pub flip_prob: f64,
    /// Probability of a rotation + scaling.
    pub spatial_prob: f64,
    /// Maximum rotation about each axis, degrees.
    pub max_rotation_deg: f64,
    /// Scaling factor drawn from [1 - s, 1 + s].
    pub max_scale: f64,
    /// Probability of an intensity change.
    pub intensity_prob: f64,
    /// Multiplicative factor drawn from [1 - s, 1 + s].
    pub intensity_scale: f64,
    /// Additive shift drawn from [-s, s] (in normalised units).
    pub intensity_shift: f64,
}

impl Default for AugmentConfig {
    fn default() -> Self {
        Self {
            flip_prob: 0.5,
            spatial_prob: 0.2,
            max_rotation_deg: 15.0,
            max_scale: 0.1,
            intensity_prob: 0.5,
            intensity_scale: 0.1,
            intensity_shift: 0.1,
        }
    }
}

impl AugmentConfig {
    /// No augmentation at all.
    pub fn none() -> Self {
        Self {
            flip_prob: 0.0,
            spatial_prob: 0.0,
            max_rotation_deg: 0.0,
            max_scale: 0.0,
            intensity_prob: 0.0,
            intensity_scale: 0.0,
            intensity_shift: 0.0,
        }
    }

    /// Checks the fields.
    pub fn validate(&self) -> Result<()> {
        for (name, p) in [
            ("augment.flip_prob", self.flip_prob),
            ("augment.spatial_prob", self.spatial_prob),
            ("augment.intensity_prob", self.intensity_prob),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return Err(config_err(name, format!("{p} is not a probability")));
            }
        }
        if !(0.0..=45.0).contains(&self.max_rotation_deg) {
            return Err(config_err("augment.max_rotation_deg", "must be in [0, 45]"));
        }
        for (name, v) in [
            ("augment.max_scale", self.max_scale),
            ("augment.intensity_scale", self.intensity_scale),
        ] {
            if !(0.0..0.9).contains(&v) {
                return Err(config_err(name, "must be in [0, 0.9)"));
            }
        }
        if !(self.intensity_shift >= 0.0 && self.intensity_shift.is_finite()) {
            return Err(config_err(
                "augment.intensity_shift",
                "must be finite and >= 0",
            ));
        }
        Ok(())
    }
}

type Mat3 = [[f64; 3]; 3];

fn matmul3(a: &Mat3, b: &Mat3) -> Mat3 {
    let mut r = [[0.0; 3]; 3];
    for i in 0..3 {
        for j in 0..3 {
            r[i][j] = (0..3).map(|k| a[i][k] * b[k][j]).sum();
        }
    }
    r
}

/// Random rotation (about each axis, up to `max_deg`) times an isotropic scaling, mapping
/// patch offsets to source offsets.
fn random_transform<R: Rng>(rng: &mut R, max_deg: f64, max_scale: f64) -> Mat3 {
    let mut m: Mat3 = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
    for axis in 0..3 {
        let t = if max_deg > 0.0 {
            rng.random_range(-max_deg..=max_deg).to_radians()
        } else {
            0.0
        };
        let (s, c) = t.sin_cos();
        let (a, b) = ((axis + 1) % 3, (axis + 2) % 3);
        let mut r: Mat3 = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
        r[a][a] = c;
        r[a][b] = -s;
        r[b][a] = s;
        r[b][b] = c;
        m = matmul3(&r, &m);
    }
    let sc = if max_scale > 0.0 {
        rng.random_range(1.0 - max_scale..=1.0 + max_scale)
    } else {
        1.0
    };
    for row in m.iter_mut() {
        for v in row.iter_mut() {
            *v /= sc;
        }
    }
    m
}

/// Extracts a patch of `size` centred on `center` (voxel coordinates of the source) through
/// the linear map `m` (patch offset -> source offset). Outside the volume: image 0, mask 0.
pub fn extract_patch(
    image: &Array3<f32>,
    mask: &Array3<u8>,
    center: [f64; 3],
    size: [usize; 3],
    m: Option<&Mat3>,
) -> (Array3<f32>, Array3<u8>) {
    let sh = image.shape();
    let sh = [sh[0], sh[1], sh[2]];
    let half: [f64; 3] = std::array::from_fn(|a| (size[a] as f64 - 1.0) / 2.0);
    let mut img = Array3::<f32>::zeros(size);
    let mut msk = Array3::<u8>::zeros(size);
    match m {
        None => {
            // Integer shift: a plain copy.
            let start: [isize; 3] = std::array::from_fn(|a| (center[a] - half[a]).round() as isize);
            Zip::indexed(&mut img)
                .and(&mut msk)
                .par_for_each(|(i, j, k), iv, mv| {
                    let p = [
                        start[0] + i as isize,
                        start[1] + j as isize,
                        start[2] + k as isize,
                    ];
                    if (0..3).all(|a| p[a] >= 0 && (p[a] as usize) < sh[a]) {
                        let q = [p[0] as usize, p[1] as usize, p[2] as usize];
                        *iv = image[q];
                        *mv = mask[q];
                    }
                });
        }
        Some(m) => {
            Zip::indexed(&mut img)
                .and(&mut msk)
                .par_for_each(|(i, j, k), iv, mv| {
                    let o = [i as f64 - half[0], j as f64 - half[1], k as f64 - half[2]];
                    let src: [f64; 3] = std::array::from_fn(|r| {
                        center[r] + m[r][0] * o[0] + m[r][1] * o[1] + m[r][2] * o[2]
                    });
                    *iv = trilinear(image, sh, src);
                    let n: [isize; 3] = std::array::from_fn(|a| src[a].round() as isize);
                    if (0..3).all(|a| n[a] >= 0 && (n[a] as usize) < sh[a]) {
                        *mv = mask[[n[0] as usize, n[1] as usize, n[2] as usize]];
                    }
                });
        }
    }
    (img, msk)
}

/// Trilinear sample with zero outside the grid.
fn trilinear(a: &Array3<f32>, sh: [usize; 3], p: [f64; 3]) -> f32 {
    let f: [f64; 3] = std::array::from_fn(|i| p[i].floor());
    let t: [f64; 3] = std::array::from_fn(|i| p[i] - f[i]);
    let mut acc = 0.0f64;
    for corner in 0..8 {
        let mut w = 1.0;
        let mut idx = [0usize; 3];
        let mut inside = true;
        for ax in 0..3 {
            let bit = (corner >> ax) & 1;
            let c = f[ax] as isize + bit as isize;
            w *= if bit == 1 { t[ax] } else { 1.0 - t[ax] };
            if c < 0 || c as usize >= sh[ax] {
                inside = false;
            } else {
                idx[ax] = c as usize;
            }
        }
        if inside && w > 0.0 {
            acc += w * a[idx] as f64;
        }
    }
    acc as f32
}

/// Picks a patch centre: with probability `fg_prob` a random foreground voxel (nnU-Net's
/// foreground oversampling), otherwise a uniform position such that the patch stays inside
/// the volume where it fits.
pub fn sample_center<R: Rng>(
    rng: &mut R,
    shape: [usize; 3],
    patch: [usize; 3],
    fg: &[[usize; 3]],
    fg_prob: f64,
) -> [f64; 3] {
    if !fg.is_empty() && rng.random::<f64>() < fg_prob {
        let v = fg[rng.random_range(0..fg.len())];
        // Keep the patch inside the volume where possible.
        return std::array::from_fn(|a| {
            let half = (patch[a] as f64 - 1.0) / 2.0;
            let lo = half;
            let hi = shape[a] as f64 - 1.0 - half;
            if hi >= lo {
                (v[a] as f64).clamp(lo, hi)
            } else {
                (shape[a] as f64 - 1.0) / 2.0
            }
        });
    }
    std::array::from_fn(|a| {
        let half = (patch[a] as f64 - 1.0) / 2.0;
        if shape[a] > patch[a] {
            rng.random_range(0..=shape[a] - patch[a]) as f64 + half
        } else {
            (shape[a] as f64 - 1.0) / 2.0
        }
    })
}

/// Draws one augmented patch (image, mask) from a case.
pub fn augmented_patch<R: Rng>(
    rng: &mut R,
    image: &Array3<f32>,
    mask: &Array3<u8>,
    fg: &[[usize; 3]],
    patch: [usize; 3],
    fg_prob: f64,
    aug: &AugmentConfig,
) -> (Array3<f32>, Array3<u8>) {
    let sh = image.shape();
    let center = sample_center(rng, [sh[0], sh[1], sh[2]], patch, fg, fg_prob);
    let m = if aug.spatial_prob > 0.0 && rng.random::<f64>() < aug.spatial_prob {
        Some(random_transform(rng, aug.max_rotation_deg, aug.max_scale))
    } else {
        None
    };
    let (mut img, mut msk) = extract_patch(image, mask, center, patch, m.as_ref());
    for ax in 0..3 {
        if aug.flip_prob > 0.0 && rng.random::<f64>() < aug.flip_prob {
            img.invert_axis(Axis(ax));
            msk.invert_axis(Axis(ax));
        }
    }
    let img = img.as_standard_layout().into_owned();
    let msk = msk.as_standard_layout().into_owned();
    let mut img = img;
    if aug.intensity_prob > 0.0 && rng.random::<f64>() < aug.intensity_prob {
        let a = 1.0 + rng.random_range(-aug.intensity_scale..=aug.intensity_scale) as f32;
        let b = rng.random_range(-aug.intensity_shift..=aug.intensity_shift) as f32;
        img.mapv_inplace(|v| v * a + b);
    }
    (img, msk)
}
