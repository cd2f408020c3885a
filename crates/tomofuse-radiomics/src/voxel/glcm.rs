//! GLCM maps: the 13 symmetric co-occurrence count matrices of the kernel are kept while the
//! kernel slides along `k`; a step removes the pairs touching the leaving plane and adds the
//! pairs touching the entering plane (`13 (2R+1)^2` updates instead of `13 (2R+1)^3`). The
//! features then read the matrices on the grey levels present in the kernel only.

use super::firstorder::span;
use super::{Grid, LineKernel, plogp};

pub const NAMES: [&str; 24] = [
    "Autocorrelation",
    "JointAverage",
    "ClusterProminence",
    "ClusterShade",
    "ClusterTendency",
    "Contrast",
    "Correlation",
    "DifferenceAverage",
    "DifferenceEntropy",
    "DifferenceVariance",
    "JointEnergy",
    "JointEntropy",
    "Imc1",
    "Imc2",
    "Idm",
    "MCC",
    "Idmn",
    "Id",
    "Idn",
    "InverseVariance",
    "MaximumProbability",
    "SumAverage",
    "SumEntropy",
    "SumSquares",
];

const EPS: f64 = f64::EPSILON;

/// Index of `MCC` in [`NAMES`].
pub const MCC: usize = 15;

/// The 13 offsets `(da, db, dc)` of one half of the 26-neighbourhood.
pub(crate) fn half_dirs() -> Vec<[i64; 3]> {
    let mut v = Vec::with_capacity(13);
    for da in -1i64..=1 {
        for db in -1i64..=1 {
            for dc in -1i64..=1 {
                if [da, db, dc] > [0, 0, 0] {
                    v.push([da, db, dc]);
                }
            }
        }
    }
    v
}

pub struct Glcm {
    dirs: Vec<[i64; 3]>,
    nl: usize,
    counts: Vec<u32>,
    lvl: Vec<u32>,
    ra: (usize, usize),
    rb: (usize, usize),
    /// Current window along `c` (empty when `lo > hi`).
    win: (usize, usize),
    /// Whether a direction has a pair in at least one kernel (PyRadiomics drops directions
    /// that are empty everywhere before averaging; JointAverage depends on it).
    used: Vec<bool>,
    diff: Vec<f64>,
    sum: Vec<f64>,
    want_mcc: bool,
}

impl Glcm {
    pub fn new(grid: &Grid, want_mcc: bool) -> Self {
        let dirs = half_dirs();
        let nl = grid.levels.len();
        let ng = grid.ng_max as usize;
        let used = dirs
            .iter()
            .map(|o| direction_used(grid, *o))
            .collect::<Vec<_>>();
        Self {
            counts: vec![0; dirs.len() * nl * nl],
            dirs,
            nl,
            lvl: vec![0; nl],
            ra: (0, 0),
            rb: (0, 0),
            win: (1, 0),
            used,
            diff: vec![0.0; ng + 1],
            sum: vec![0.0; 2 * ng + 1],
            want_mcc,
        }
    }

    #[inline]
    fn pair(&mut self, d: usize, gi: u32, gj: u32, add: bool) {
        let nl = self.nl;
        let (i, j) = (gi as usize - 1, gj as usize - 1);
        let base = d * nl * nl;
        if add {
            self.counts[base + i * nl + j] += 1;
            self.counts[base + j * nl + i] += 1;
        } else {
            self.counts[base + i * nl + j] -= 1;
            self.counts[base + j * nl + i] -= 1;
        }
    }

    /// Adds (or removes) plane `c` and every pair between it and the plane `other` (the
    /// adjacent plane that stays in the window), and the pairs inside plane `c`.
    fn plane(&mut self, grid: &Grid, c: usize, other: Option<usize>, add: bool) {
        for a in self.ra.0..=self.ra.1 {
            for b in self.rb.0..=self.rb.1 {
                let gp = grid.g[grid.idx(a, b, c)];
                if gp == 0 {
                    continue;
                }
                if add {
                    self.lvl[gp as usize - 1] += 1;
                } else {
                    self.lvl[gp as usize - 1] -= 1;
                }
                for d in 0..self.dirs.len() {
                    let o = self.dirs[d];
                    // The partner: in the same plane (dc = 0, +o only so each pair counts
                    // once), or in the adjacent plane kept in the window.
                    let (qa, qb, qc) = if o[2] == 0 {
                        (a as i64 + o[0], b as i64 + o[1], c)
                    } else {
                        let Some(oc) = other else { continue };
                        let s = if (oc as i64 - c as i64) == o[2] {
                            1
                        } else {
                            -1
                        };
                        (a as i64 + s * o[0], b as i64 + s * o[1], oc)
                    };
                    if qa < self.ra.0 as i64
                        || qa > self.ra.1 as i64
                        || qb < self.rb.0 as i64
                        || qb > self.rb.1 as i64
                    {
                        continue;
                    }
                    let gq = grid.g[grid.idx(qa as usize, qb as usize, qc)];
                    if gq != 0 {
                        self.pair(d, gp, gq, add);
                    }
                }
            }
        }
    }
}

/// Whether direction `o` has a pair of kernel voxels in some kernel of an ROI voxel.
fn direction_used(grid: &Grid, o: [i64; 3]) -> bool {
    let [n0, n1, n2] = grid.dims;
    let r = grid.radius as i64;
    for a in 0..n0 {
        for b in 0..n1 {
            for c in 0..n2 {
                if !grid.roi[grid.idx(a, b, c)] {
                    continue;
                }
                // Pairs (p, p + o) inside the box of (a, b, c), both taking part.
                let lo = |x: usize| (x as i64 - r).max(0);
                let hi = |x: usize, n: usize| (x as i64 + r).min(n as i64 - 1);
                let (la, ha) = (lo(a), hi(a, n0));
                let (lb, hb) = (lo(b), hi(b, n1));
                let (lc, hc) = (lo(c), hi(c, n2));
                for pa in la..=ha {
                    for pb in lb..=hb {
                        for pc in lc..=hc {
                            let (qa, qb, qc) = (pa + o[0], pb + o[1], pc + o[2]);
                            if qa < la || qa > ha || qb < lb || qb > hb || qc < lc || qc > hc {
                                continue;
                            }
                            if grid.g[grid.idx(pa as usize, pb as usize, pc as usize)] != 0
                                && grid.g[grid.idx(qa as usize, qb as usize, qc as usize)] != 0
                            {
                                return true;
                            }
                        }
                    }
                }
            }
        }
    }
    false
}

impl LineKernel for Glcm {
    fn start(&mut self, grid: &Grid, a: usize, b: usize, c0: usize) {
        let r = grid.radius;
        self.counts.iter_mut().for_each(|x| *x = 0);
        self.lvl.iter_mut().for_each(|x| *x = 0);
        self.ra = span(a, r, grid.dims[0]);
        self.rb = span(b, r, grid.dims[1]);
        let (lo, hi) = span(c0, r, grid.dims[2]);
        for c in lo..=hi {
            let other = (c > lo).then(|| c - 1);
            self.plane(grid, c, other, true);
        }
        self.win = (lo, hi);
    }

    fn advance(&mut self, grid: &Grid, _a: usize, _b: usize, c: usize) {
        let r = grid.radius;
        let (mut lo, mut hi) = self.win;
        if c > r && lo == c - 1 - r {
            let other = (lo < hi).then_some(lo + 1);
            self.plane(grid, lo, other, false);
            lo += 1;
        }
        if c + r < grid.dims[2] {
            let other = (lo <= hi).then_some(hi);
            self.plane(grid, c + r, other, true);
            hi = c + r;
        }
        self.win = (lo, hi);
    }

    fn features(&mut self, grid: &Grid, _a: usize, _b: usize, _c: usize, out: &mut [f64]) {
        let nl = self.nl;
        let present: Vec<usize> = (0..nl).filter(|&l| self.lvl[l] > 0).collect();
        let m = present.len();
        let ng = grid.ng_max;
        let lv: Vec<f64> = present.iter().map(|&l| grid.levels[l]).collect();
        let nf = NAMES.len();
        let mut acc = vec![0.0; nf];
        let mut cnt = vec![0usize; nf];
        let mut joint_nan = false;
        let mut ux_sum = 0.0;
        let mut n_dirs = 0usize;
        let mut p = vec![0.0; m * m];
        let mut px = vec![0.0; m];
        for d in 0..self.dirs.len() {
            if !self.used[d] {
                continue;
            }
            n_dirs += 1;
            let base = d * nl * nl;
            let mut total = 0u64;
            for (x, &i) in present.iter().enumerate() {
                for (y, &j) in present.iter().enumerate() {
                    let v = self.counts[base + i * nl + j];
                    p[x * m + y] = v as f64;
                    total += v as u64;
                }
            }
            if total == 0 {
                joint_nan = true;
                continue;
            }
            let t = total as f64;
            p.iter_mut().for_each(|v| *v /= t);
            for x in 0..m {
                px[x] = p[x * m..(x + 1) * m].iter().sum();
            }
            let ux: f64 = (0..m).map(|x| lv[x] * px[x]).sum();
            ux_sum += ux;
            let mut touched_d = Vec::new();
            let mut touched_s = Vec::new();
            let (mut ac, mut cp, mut cs, mut ct, mut con) = (0.0, 0.0, 0.0, 0.0, 0.0);
            let (mut sx, mut cor, mut ene, mut hxy, mut hxy1, mut maxp) =
                (0.0, 0.0, 0.0, 0.0, 0.0, 0.0f64);
            for x in 0..m {
                for y in 0..m {
                    let v = p[x * m + y];
                    if v == 0.0 {
                        continue;
                    }
                    let (i, j) = (lv[x], lv[y]);
                    let s = i + j - 2.0 * ux;
                    ac += v * i * j;
                    let s2 = s * s;
                    ct += v * s2;
                    cs += v * s2 * s;
                    cp += v * s2 * s2;
                    con += v * (i - j) * (i - j);
                    sx += v * (i - ux) * (i - ux);
                    cor += v * (i - ux) * (j - ux);
                    ene += v * v;
                    hxy -= plogp(v);
                    hxy1 -= v * (px[x] * px[y] + EPS).log2();
                    maxp = maxp.max(v);
                    let kd = (i - j).abs() as usize;
                    if self.diff[kd] == 0.0 {
                        touched_d.push(kd);
                    }
                    self.diff[kd] += v;
                    let ks = (i + j) as usize;
                    if self.sum[ks] == 0.0 {
                        touched_s.push(ks);
                    }
                    self.sum[ks] += v;
                }
            }
            let mut hxy2 = 0.0;
            let mut hx = 0.0;
            for x in 0..m {
                hx -= plogp(px[x]);
                for y in 0..m {
                    hxy2 -= plogp(px[x] * px[y]);
                }
            }
            let sig2 = sx; // symmetric: sigma_x = sigma_y
            let corr = if sig2 == 0.0 {
                1.0
            } else {
                cor / (sig2.sqrt() * sig2.sqrt() + EPS)
            };
            let imc1 = if hx != 0.0 { (hxy - hxy1) / hx } else { 0.0 };
            let imc2 = if hxy2 == hxy {
                0.0
            } else {
                let q = 1.0 - (-2.0 * (hxy2 - hxy)).exp();
                if q < 0.0 { f64::NAN } else { q.sqrt() }
            };
            let (mut da, mut de, mut idm, mut idmn, mut id, mut idn, mut iv) =
                (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
            for &k in &touched_d {
                let v = self.diff[k];
                let kf = k as f64;
                da += kf * v;
                de -= plogp(v);
                idm += v / (1.0 + kf * kf);
                idmn += v / (1.0 + kf * kf / (ng * ng));
                id += v / (1.0 + kf);
                idn += v / (1.0 + kf / ng);
                if k > 0 {
                    iv += v / (kf * kf);
                }
            }
            let dv: f64 = touched_d
                .iter()
                .map(|&k| self.diff[k] * (k as f64 - da).powi(2))
                .sum();
            let (mut sa, mut se) = (0.0, 0.0);
            for &k in &touched_s {
                let v = self.sum[k];
                sa += k as f64 * v;
                se -= plogp(v);
            }
            for &k in &touched_d {
                self.diff[k] = 0.0;
            }
            for &k in &touched_s {
                self.sum[k] = 0.0;
            }
            let mcc = if self.want_mcc {
                mcc(&p, &px, m, nl)
            } else {
                f64::NAN
            };
            let vals = [
                ac,
                f64::NAN, // JointAverage: below
                cp,
                cs,
                ct,
                con,
                corr,
                da,
                de,
                dv,
                ene,
                hxy,
                imc1,
                imc2,
                idm,
                mcc,
                idmn,
                id,
                idn,
                iv,
                maxp,
                sa,
                se,
                sx,
            ];
            for (f, v) in vals.iter().enumerate() {
                if !v.is_nan() {
                    acc[f] += v;
                    cnt[f] += 1;
                }
            }
        }
        for f in 0..nf {
            out[f] = if cnt[f] > 0 {
                acc[f] / cnt[f] as f64
            } else {
                f64::NAN
            };
        }
        // PyRadiomics averages ux with a plain mean: NaN when a used direction is empty here.
        out[1] = if joint_nan || n_dirs == 0 {
            f64::NAN
        } else {
            ux_sum / n_dirs as f64
        };
    }
}

/// Maximal correlation coefficient of one normalised symmetric GLCM restricted to the grey
/// levels present in the kernel: the square root of the second-largest eigenvalue of
/// `Q = D^-1 P D^-1 P^T` (`D = diag(px)`), through its symmetric similar form. Levels of the
/// region absent from the kernel add zero eigenvalues (PyRadiomics keeps them in `Q`).
fn mcc(p: &[f64], px: &[f64], m: usize, nl: usize) -> f64 {
    if nl < 2 {
        return 1.0;
    }
    let idx: Vec<usize> = (0..m).filter(|&x| px[x] > 0.0).collect();
    let k = idx.len();
    if k < 2 {
        return 0.0;
    }
    let mut s = vec![vec![0.0; k]; k];
    for (a, &i) in idx.iter().enumerate() {
        for (b, &j) in idx.iter().enumerate().skip(a) {
            let mut acc = 0.0;
            for &z in &idx {
                acc += p[i * m + z] * p[j * m + z] / px[z];
            }
            let v = acc / (px[i] * px[j]).sqrt();
            s[a][b] = v;
            s[b][a] = v;
        }
    }
    second_eigenvalue(s, &idx.iter().map(|&x| px[x].sqrt()).collect::<Vec<_>>())
        .max(0.0)
        .sqrt()
}

/// Second-largest eigenvalue of the symmetric form `S` of `Q`, whose largest eigenvalue is 1
/// with unit eigenvector `v = sqrt(px)`: power iteration on `S - v v^T` until the residual
/// `|S'x - rho x|` is below 1e-10 (then `rho` is within 1e-10 of an eigenvalue), falling back
/// to the full Jacobi solver when it does not converge (near-equal eigenvalues). Much cheaper
/// than a full eigen-decomposition per direction and voxel.
fn second_eigenvalue(s: Vec<Vec<f64>>, v: &[f64]) -> f64 {
    let k = v.len();
    let mut d = s.clone();
    for a in 0..k {
        for b in 0..k {
            d[a][b] -= v[a] * v[b];
        }
    }
    // A start vector without symmetry, orthogonal to v.
    let mut x: Vec<f64> = (0..k).map(|i| 1.0 + 0.37 * i as f64).collect();
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(p, q)| p * q).sum::<f64>();
    let c = dot(&x, v);
    x.iter_mut().zip(v).for_each(|(xi, vi)| *xi -= c * vi);
    let mut y = vec![0.0; k];
    for _ in 0..500 {
        let nx = dot(&x, &x).sqrt();
        if nx == 0.0 {
            return 0.0;
        }
        x.iter_mut().for_each(|xi| *xi /= nx);
        for a in 0..k {
            y[a] = dot(&d[a], &x);
        }
        let rho = dot(&x, &y);
        let r2: f64 = y
            .iter()
            .zip(&x)
            .map(|(yi, xi)| (yi - rho * xi).powi(2))
            .sum();
        if r2.sqrt() <= 1e-10 {
            return rho;
        }
        std::mem::swap(&mut x, &mut y);
    }
    let e = crate::util::sym_eigen(s);
    e[k - 2]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::voxel::{VoxelParams, build_grid};
    use tomofuse_core::{Geometry, Volume};

    /// Counts of every direction of the box around (a, b, c), pair by pair: the reference
    /// for the plane updates.
    fn naive(grid: &Grid, nl: usize, a: usize, b: usize, c: usize) -> Vec<u32> {
        let r = grid.radius;
        let (ra, rb, rc) = (
            span(a, r, grid.dims[0]),
            span(b, r, grid.dims[1]),
            span(c, r, grid.dims[2]),
        );
        let inside = |x: i64, lo: usize, hi: usize| x >= lo as i64 && x <= hi as i64;
        let mut m = vec![0u32; 13 * nl * nl];
        for (d, o) in half_dirs().iter().enumerate() {
            for x in ra.0..=ra.1 {
                for y in rb.0..=rb.1 {
                    for z in rc.0..=rc.1 {
                        let (qx, qy, qz) = (x as i64 + o[0], y as i64 + o[1], z as i64 + o[2]);
                        if !(inside(qx, ra.0, ra.1)
                            && inside(qy, rb.0, rb.1)
                            && inside(qz, rc.0, rc.1))
                        {
                            continue;
                        }
                        let gp = grid.g[grid.idx(x, y, z)];
                        let gq = grid.g[grid.idx(qx as usize, qy as usize, qz as usize)];
                        if gp > 0 && gq > 0 {
                            let (i, j) = (gp as usize - 1, gq as usize - 1);
                            m[d * nl * nl + i * nl + j] += 1;
                            m[d * nl * nl + j * nl + i] += 1;
                        }
                    }
                }
            }
        }
        m
    }

    #[test]
    fn sliding_counts_equal_counts_of_each_box() {
        // Seeded LCG image (few grey levels) and a ragged mask, both kernel modes, R 1..3.
        let shape = [7, 6, 11];
        let mut s = 12345u64;
        let mut next = || {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (s >> 33) as u32
        };
        let img: Vec<f32> = (0..shape.iter().product::<usize>())
            .map(|_| (next() % 6) as f32 * 25.0)
            .collect();
        let msk: Vec<u8> = (0..img.len()).map(|_| u8::from(next() % 3 != 0)).collect();
        let g = Geometry::with_spacing([1.0, 1.0, 2.0]).unwrap();
        let image = Volume::from_vec_c(shape, img, g).unwrap();
        let mask = Volume::from_vec_c(shape, msk, g).unwrap();
        for masked in [true, false] {
            for radius in 1..=3 {
                let p = VoxelParams {
                    kernel_radius: radius,
                    masked_kernel: masked,
                    ..VoxelParams::default()
                };
                let (grid, _) = build_grid(&image, &mask, &p).unwrap();
                let mut k = Glcm::new(&grid, true);
                let nl = grid.levels.len();
                for a in 0..grid.dims[0] {
                    for b in 0..grid.dims[1] {
                        for c in 0..grid.dims[2] {
                            if c == 0 {
                                k.start(&grid, a, b, c);
                            } else {
                                k.advance(&grid, a, b, c);
                            }
                            assert_eq!(
                                k.counts,
                                naive(&grid, nl, a, b, c),
                                "R {radius} masked {masked} at ({a}, {b}, {c})"
                            );
                        }
                    }
                }
            }
        }
    }
}
