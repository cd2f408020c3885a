//! Analytic phantom rendering: shapes with approximate signed distances painted in order onto a
//! voxel grid with partial-volume edges, then a Gaussian point-spread blur and CT noise.
//!
//! Anatomy is defined in an anatomical frame (LPS millimetres: x to the patient's left, y
//! posterior, z superior, origin at the structure of interest). A per-case pose (rotation,
//! scale, shift) maps that frame into the scanner frame; the grid is axis-aligned LPS with its
//! centre at scanner (0, 0, 0).

use crate::case::Loaded;
use crate::error::Result;
use rand::Rng;
use rand_distr::StandardNormal;
use tomofuse_core::{Geometry, Space, Volume, check_alloc};

/// A rigid pose plus isotropic scale: scanner = shift + scale * rot * anatomy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pose {
    /// Rotation angles about x, y, z (radians), applied in z * y * x order.
    pub angles: [f64; 3],
    pub scale: f64,
    pub shift: [f64; 3],
}

impl Pose {
    fn rotation(&self) -> [[f64; 3]; 3] {
        let [a, b, c] = self.angles;
        let (sa, ca) = a.sin_cos();
        let (sb, cb) = b.sin_cos();
        let (sc, cc) = c.sin_cos();
        let rx = [[1.0, 0.0, 0.0], [0.0, ca, -sa], [0.0, sa, ca]];
        let ry = [[cb, 0.0, sb], [0.0, 1.0, 0.0], [-sb, 0.0, cb]];
        let rz = [[cc, -sc, 0.0], [sc, cc, 0.0], [0.0, 0.0, 1.0]];
        mul(&rz, &mul(&ry, &rx))
    }
}

fn mul(a: &[[f64; 3]; 3], b: &[[f64; 3]; 3]) -> [[f64; 3]; 3] {
    let mut m = [[0.0; 3]; 3];
    for (r, row) in m.iter_mut().enumerate() {
        for (c, v) in row.iter_mut().enumerate() {
            *v = (0..3).map(|k| a[r][k] * b[k][c]).sum();
        }
    }
    m
}

/// Shapes with an approximate signed distance in mm (negative inside). Only the sign and the
/// value within about one voxel of the surface matter (for partial-volume edges).
#[derive(Debug, Clone)]
pub enum Shape {
    Ellipsoid {
        c: [f32; 3],
        r: [f32; 3],
    },
    /// Elliptic cylinder along z.
    Cylinder {
        c: [f32; 2],
        r: [f32; 2],
        z: [f32; 2],
    },
    /// Union of spheres along a polyline (a tube of varying radius).
    Tube {
        pts: Vec<[f32; 3]>,
        r: Vec<f32>,
    },
    /// Half-space `n . q >= d` (n unit).
    Half {
        n: [f32; 3],
        d: f32,
    },
    Intersect(Box<Shape>, Box<Shape>),
    Subtract(Box<Shape>, Box<Shape>),
}

impl Shape {
    pub fn ell(c: [f32; 3], r: [f32; 3]) -> Self {
        Self::Ellipsoid { c, r }
    }

    /// The same ellipsoid with radii scaled by `f` (inner shells).
    pub fn scaled(c: [f32; 3], r: [f32; 3], f: f32) -> Self {
        Self::Ellipsoid {
            c,
            r: [r[0] * f, r[1] * f, r[2] * f],
        }
    }

    pub fn and(self, o: Shape) -> Self {
        Self::Intersect(Box::new(self), Box::new(o))
    }

    pub fn minus(self, o: Shape) -> Self {
        Self::Subtract(Box::new(self), Box::new(o))
    }

    pub fn sdist(&self, q: [f32; 3]) -> f32 {
        match self {
            Self::Ellipsoid { c, r } => ellipsoid_sd([q[0] - c[0], q[1] - c[1], q[2] - c[2]], *r),
            Self::Cylinder { c, r, z } => {
                let d2 = ellipse_sd([q[0] - c[0], q[1] - c[1]], *r);
                let dz = (z[0] - q[2]).max(q[2] - z[1]);
                d2.max(dz)
            }
            Self::Tube { pts, r } => {
                // min_i(|q - p_i| - r_i), taking a square root only when sphere i can still
                // beat the best distance so far.
                let mut best = f32::INFINITY;
                for (p, &ri) in pts.iter().zip(r) {
                    let d = [q[0] - p[0], q[1] - p[1], q[2] - p[2]];
                    let d2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
                    let lim = best + ri;
                    if lim > 0.0 && d2 >= lim * lim {
                        continue;
                    }
                    best = best.min(d2.sqrt() - ri);
                }
                best
            }
            Self::Half { n, d } => d - (n[0] * q[0] + n[1] * q[1] + n[2] * q[2]),
            Self::Intersect(a, b) => a.sdist(q).max(b.sdist(q)),
            Self::Subtract(a, b) => a.sdist(q).max(-b.sdist(q)),
        }
    }

    /// Axis-aligned bounding box in the anatomical frame (`None` = unbounded).
    fn bbox(&self) -> Option<([f32; 3], [f32; 3])> {
        match self {
            Self::Ellipsoid { c, r } => Some((
                [c[0] - r[0], c[1] - r[1], c[2] - r[2]],
                [c[0] + r[0], c[1] + r[1], c[2] + r[2]],
            )),
            Self::Cylinder { c, r, z } => Some((
                [c[0] - r[0], c[1] - r[1], z[0]],
                [c[0] + r[0], c[1] + r[1], z[1]],
            )),
            Self::Tube { pts, r } => {
                let mut lo = [f32::INFINITY; 3];
                let mut hi = [f32::NEG_INFINITY; 3];
                for (p, &ri) in pts.iter().zip(r) {
                    for a in 0..3 {
                        lo[a] = lo[a].min(p[a] - ri);
                        hi[a] = hi[a].max(p[a] + ri);
                    }
                }
                Some((lo, hi))
            }
            Self::Half { .. } => None,
            Self::Intersect(a, b) => match (a.bbox(), b.bbox()) {
                (Some((l1, h1)), Some((l2, h2))) => Some((
                    [l1[0].max(l2[0]), l1[1].max(l2[1]), l1[2].max(l2[2])],
                    [h1[0].min(h2[0]), h1[1].min(h2[1]), h1[2].min(h2[2])],
                )),
                (Some(x), None) | (None, Some(x)) => Some(x),
                (None, None) => None,
            },
            Self::Subtract(a, _) => a.bbox(),
        }
    }
}

/// Approximate ellipsoid signed distance (k0 (k0 - 1) / k1, exact on spheres).
fn ellipsoid_sd(p: [f32; 3], r: [f32; 3]) -> f32 {
    let k0 = ((p[0] / r[0]).powi(2) + (p[1] / r[1]).powi(2) + (p[2] / r[2]).powi(2)).sqrt();
    let k1 = ((p[0] / (r[0] * r[0])).powi(2)
        + (p[1] / (r[1] * r[1])).powi(2)
        + (p[2] / (r[2] * r[2])).powi(2))
    .sqrt();
    if k1 <= 1e-12 {
        return -r[0].min(r[1]).min(r[2]);
    }
    k0 * (k0 - 1.0) / k1
}

fn ellipse_sd(p: [f32; 2], r: [f32; 2]) -> f32 {
    let k0 = ((p[0] / r[0]).powi(2) + (p[1] / r[1]).powi(2)).sqrt();
    let k1 = ((p[0] / (r[0] * r[0])).powi(2) + (p[1] / (r[1] * r[1])).powi(2)).sqrt();
    if k1 <= 1e-12 {
        return -r[0].min(r[1]);
    }
    k0 * (k0 - 1.0) / k1
}

/// A grid being painted: anatomical coordinates of every voxel centre, the image and the labels.
pub struct Canvas {
    pub shape: [usize; 3],
    pub geometry: Geometry,
    /// Anatomical-frame coordinates of each voxel centre, C order (k fastest).
    pub q: Vec<[f32; 3]>,
    pub img: Vec<f32>,
    pub lab: Vec<u8>,
    /// Partial-volume edge width in anatomical mm (one voxel).
    h: f32,
}

impl Canvas {
    /// A grid of `shape` voxels covering `fov_mm`, centred on the scanner origin, filled with
    /// `background`.
    pub fn new(shape: [usize; 3], fov_mm: [f64; 3], pose: &Pose, background: f32) -> Result<Self> {
        let n = check_alloc(shape, 4 + 1 + 12)?;
        let spacing = [
            fov_mm[0] / shape[0] as f64,
            fov_mm[1] / shape[1] as f64,
            fov_mm[2] / shape[2] as f64,
        ];
        let origin = [
            -0.5 * (shape[0] as f64 - 1.0) * spacing[0],
            -0.5 * (shape[1] as f64 - 1.0) * spacing[1],
            -0.5 * (shape[2] as f64 - 1.0) * spacing[2],
        ];
        let ident = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
        let geometry = Geometry::new(spacing, origin, ident, Space::Lps)?;
        let rot = pose.rotation();
        let mut q = Vec::with_capacity(n);
        for i in 0..shape[0] {
            for j in 0..shape[1] {
                for k in 0..shape[2] {
                    let p = [
                        origin[0] + i as f64 * spacing[0] - pose.shift[0],
                        origin[1] + j as f64 * spacing[1] - pose.shift[1],
                        origin[2] + k as f64 * spacing[2] - pose.shift[2],
                    ];
                    // anatomy = rot^T (p - shift) / scale
                    let mut a = [0f32; 3];
                    for (c, v) in a.iter_mut().enumerate() {
                        *v = ((rot[0][c] * p[0] + rot[1][c] * p[1] + rot[2][c] * p[2]) / pose.scale)
                            as f32;
                    }
                    q.push(a);
                }
            }
        }
        let h = (spacing.iter().sum::<f64>() / 3.0 / pose.scale) as f32;
        Ok(Self {
            shape,
            geometry,
            q,
            img: vec![background; n],
            lab: vec![0; n],
            h,
        })
    }

    /// Paints `shape` with `value`, blending the edge voxels by their approximate covered
    /// fraction; voxels whose centre is inside get `label` (when given; 0 erases).
    pub fn paint(&mut self, shape: &Shape, value: f32, label: Option<u8>) {
        self.paint_with(shape, label, |_, _| value);
    }

    /// Like [`paint`](Self::paint) with a value per voxel (`f(flat_index, q)`), for textures.
    pub fn paint_with(
        &mut self,
        shape: &Shape,
        label: Option<u8>,
        f: impl Fn(usize, [f32; 3]) -> f32,
    ) {
        let h = self.h;
        let bb = shape.bbox();
        for (idx, q) in self.q.iter().enumerate() {
            if let Some((lo, hi)) = bb
                && (0..3).any(|a| q[a] < lo[a] - h || q[a] > hi[a] + h)
            {
                continue;
            }
            let d = shape.sdist(*q);
            let frac = (0.5 - d / h).clamp(0.0, 1.0);
            if frac > 0.0 {
                let v = f(idx, *q);
                self.img[idx] += frac * (v - self.img[idx]);
            }
            if d < 0.0
                && let Some(l) = label
            {
                self.lab[idx] = l;
            }
        }
    }

    /// Replaces the value of voxels whose centre is inside `shape` by `f(old value)` (no edge
    /// blending: used for changes of an existing tissue such as fat stranding).
    pub fn modify(&mut self, shape: &Shape, f: impl Fn(f32) -> f32) {
        let bb = shape.bbox();
        for (idx, q) in self.q.iter().enumerate() {
            if let Some((lo, hi)) = bb
                && (0..3).any(|a| q[a] < lo[a] || q[a] > hi[a])
            {
                continue;
            }
            if shape.sdist(*q) < 0.0 {
                self.img[idx] = f(self.img[idx]);
            }
        }
    }

    /// Fraction of voxels whose centre lies inside `shape` (diagnostics and tests).
    pub fn inside_count(&self, shape: &Shape) -> usize {
        self.q.iter().filter(|q| shape.sdist(**q) < 0.0).count()
    }

    /// Separable Gaussian blur of the image (sigma in voxels), edges clamped.
    pub fn blur(&mut self, sigma: f32) {
        blur3(&mut self.img, self.shape, sigma);
    }

    /// Adds `offset` and white Gaussian noise of SD `sd` to every voxel.
    pub fn noise<R: Rng>(&mut self, rng: &mut R, sd: f32, offset: f32) {
        for v in &mut self.img {
            let z: f32 = rng.sample(StandardNormal);
            *v += offset + sd * z;
        }
    }

    pub fn finish(self) -> Result<Loaded> {
        Ok(Loaded {
            image: Volume::from_vec_c(self.shape, self.img, self.geometry)?,
            mask: Some(Volume::from_vec_c(self.shape, self.lab, self.geometry)?),
        })
    }
}

/// In-place separable Gaussian blur of a C-order volume, edges clamped. The strided axes are
/// done as weighted sums of whole rows/planes so the inner loops run over contiguous memory.
pub fn blur3(data: &mut [f32], shape: [usize; 3], sigma: f32) {
    if sigma <= 0.0 || data.is_empty() {
        return;
    }
    let rad = (3.0 * sigma).ceil() as isize;
    let mut w: Vec<f32> = (-rad..=rad)
        .map(|x| (-(x * x) as f32 / (2.0 * sigma * sigma)).exp())
        .collect();
    let s: f32 = w.iter().sum();
    w.iter_mut().for_each(|x| *x /= s);
    let [n0, n1, n2] = shape;
    let clamp = |t: isize, n: usize| t.clamp(0, n as isize - 1) as usize;
    // Axis 2 (contiguous): pad each line with its edge values.
    let r = rad as usize;
    let mut pad = vec![0f32; n2 + 2 * r];
    for line in data.chunks_mut(n2) {
        for (t, p) in pad.iter_mut().enumerate() {
            *p = line[clamp(t as isize - rad, n2)];
        }
        for (t, out) in line.iter_mut().enumerate() {
            *out = w.iter().zip(&pad[t..t + w.len()]).map(|(a, b)| a * b).sum();
        }
    }
    // Axis 1: rows of length n2 within each i-slab.
    let mut tmp = vec![0f32; n1 * n2];
    for slab in data.chunks_mut(n1 * n2) {
        tmp.fill(0.0);
        for j in 0..n1 {
            let out = &mut tmp[j * n2..(j + 1) * n2];
            for (o, &wt) in (-rad..=rad).zip(&w) {
                let src = clamp(j as isize + o, n1);
                for (t, v) in out.iter_mut().zip(&slab[src * n2..(src + 1) * n2]) {
                    *t += wt * v;
                }
            }
        }
        slab.copy_from_slice(&tmp);
    }
    // Axis 0: planes of n1 * n2.
    let plane = n1 * n2;
    let src = data.to_vec();
    for i in 0..n0 {
        let out = &mut data[i * plane..(i + 1) * plane];
        out.fill(0.0);
        for (o, &wt) in (-rad..=rad).zip(&w) {
            let s = clamp(i as isize + o, n0);
            for (t, v) in out.iter_mut().zip(&src[s * plane..(s + 1) * plane]) {
                *t += wt * v;
            }
        }
    }
}

/// A zero-mean, unit-SD smooth random field (white noise blurred by `sigma` voxels).
pub fn smooth_field<R: Rng>(rng: &mut R, shape: [usize; 3], sigma: f32) -> Vec<f32> {
    let n = shape.iter().product();
    let mut f: Vec<f32> = (0..n).map(|_| rng.sample(StandardNormal)).collect();
    blur3(&mut f, shape, sigma);
    let mean = f.iter().sum::<f32>() / n as f32;
    let sd = (f.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n as f32).sqrt();
    let sd = if sd > 0.0 { sd } else { 1.0 };
    f.iter_mut().for_each(|v| *v = (*v - mean) / sd);
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ellipsoid_volume_matches_analytic() {
        // Voxel count of an ellipsoid on a 1 mm grid ~ 4/3 pi abc (analytic), within 2%.
        let pose = Pose {
            angles: [0.0; 3],
            scale: 1.0,
            shift: [0.0; 3],
        };
        let c = Canvas::new([64, 64, 64], [64.0; 3], &pose, 0.0).unwrap();
        let s = Shape::ell([1.0, -2.0, 3.0], [20.0, 12.0, 15.0]);
        let v = c.inside_count(&s) as f64;
        let exact = 4.0 / 3.0 * std::f64::consts::PI * 20.0 * 12.0 * 15.0;
        assert!((v / exact - 1.0).abs() < 0.02, "{v} vs {exact}");
        // Painting with partial-volume edges keeps the integral close to the exact volume.
        let mut c = c;
        c.paint(&s, 1.0, Some(1));
        let integral: f64 = c.img.iter().map(|&x| x as f64).sum();
        assert!(
            (integral / exact - 1.0).abs() < 0.02,
            "{integral} vs {exact}"
        );
    }

    #[test]
    fn blur_preserves_mass_and_matches_naive() {
        let shape = [7, 9, 11];
        let n = 7 * 9 * 11;
        let mut d = vec![0f32; n];
        d[3 * 99 + 4 * 11 + 5] = 1.0; // interior impulse
        blur3(&mut d, shape, 0.8);
        let s: f32 = d.iter().sum();
        assert!((s - 1.0).abs() < 1e-4);
        // Separable Gaussian of an impulse = product of 1D normalised Gaussians (naive formula).
        let g = |x: isize| {
            let w: Vec<f64> = (-3..=3)
                .map(|t: isize| (-((t * t) as f64) / (2.0 * 0.64)).exp())
                .collect();
            let s: f64 = w.iter().sum();
            if x.abs() > 3 {
                0.0
            } else {
                w[(x + 3) as usize] / s
            }
        };
        for (i, j, k) in [(3usize, 4usize, 5usize), (4, 4, 5), (2, 5, 7), (3, 3, 3)] {
            let expect = g(i as isize - 3) * g(j as isize - 4) * g(k as isize - 5);
            let got = d[i * 99 + j * 11 + k] as f64;
            assert!((got - expect).abs() < 1e-6, "{got} vs {expect}");
        }
    }

    #[test]
    fn pose_maps_anatomy_into_scanner() {
        // A 90-degree rotation about z maps anatomical +x to scanner +y.
        let pose = Pose {
            angles: [0.0, 0.0, std::f64::consts::FRAC_PI_2],
            scale: 2.0,
            shift: [0.0, 0.0, 0.0],
        };
        let c = Canvas::new([21, 21, 3], [21.0, 21.0, 3.0], &pose, 0.0).unwrap();
        // Scanner voxel centre (0, +8, 0) mm -> anatomy (4, 0, 0).
        let idx = 10 * 21 * 3 + 18 * 3 + 1;
        let q = c.q[idx];
        assert!(
            (q[0] - 4.0).abs() < 1e-5 && q[1].abs() < 1e-5 && q[2].abs() < 1e-5,
            "{q:?}"
        );
    }
}
