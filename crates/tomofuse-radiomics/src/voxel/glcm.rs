//! GLCM maps: the 13 symmetric co-occurrence count matrices of the kernel are kept while the
//! kernel slides along `k`; a step removes the pairs touching the leaving plane and adds the
//! pairs touching the entering plane (`13 (2R+1)^2` updates instead of `13 (2R+1)^3`). The
//! features then read the matrices on the grey levels present in the kernel only.

use super::firstorder::span;
use super::{Grid, LOG_SCALE, LineKernel};

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

/// Running sums of one direction's symmetric co-occurrence counts `c(i, j)`, updated pair by
/// pair. Every GLCM feature except MCC is a function of these sums (moments about the mean
/// are taken from exact integer power sums, entropies from the fixed-point `c log2 c` sums).
#[derive(Clone, Default)]
struct DirSums {
    /// Total count `t = sum c(i, j)` (2 per pair).
    t: i64,
    /// Largest entry of the matrix.
    max_c: u32,
    /// `sum c^2`.
    c2: i64,
    /// `sum c i`, `sum c i^2`, `sum c i j` (grey-level values i, j).
    s_i: i64,
    s_ii: i64,
    s_ij: i64,
    /// `sum c (i + j)^3`, `sum c (i + j)^4`.
    s3: i128,
    s4: i128,
    /// `sum c |i - j|`.
    s_k: i64,
    /// Fixed-point `sum x log2 x` over the entries, the row sums, the `|i - j|` histogram
    /// and the `i + j` histogram.
    h_c: i64,
    h_r: i64,
    h_d: i64,
    h_s: i64,
    /// `sum_k p_{x-y}(k) w(k)` numerators for Idm, Idmn, Id, Idn and InverseVariance.
    w: [f64; 5],
}

pub struct Glcm {
    dirs: Vec<[i64; 3]>,
    nl: usize,
    /// Grey-level value of each compact level.
    lv: Vec<i64>,
    counts: Vec<u32>,
    /// Row sums `[d][level]`.
    rows: Vec<u32>,
    /// `|i - j|` histogram `[d][k]` and `i + j` histogram `[d][s]`.
    dh: Vec<u32>,
    sh: Vec<u32>,
    nd: usize,
    ns: usize,
    /// How many entries hold each count value, `[d][count]` (for the maximum).
    chist: Vec<u32>,
    nc: usize,
    sums: Vec<DirSums>,
    /// `c log2 c` in fixed point, `c` up to the largest possible total.
    clog: Vec<i64>,
    /// Weights `w(k)` of Idm, Idmn, Id, Idn, InverseVariance.
    wk: Vec<[f64; 5]>,
    lvl: Vec<u32>,
    ra: (usize, usize),
    rb: (usize, usize),
    /// Current window along `c` (empty when `lo > hi`).
    win: (usize, usize),
    /// Whether a direction has a pair in at least one kernel (PyRadiomics drops directions
    /// that are empty everywhere before averaging; JointAverage depends on it).
    used: Vec<bool>,
    want_mcc: bool,
    /// Per direction: whether the counts changed since MCC was last computed, and that MCC.
    dirty: Vec<bool>,
    mcc_cache: Vec<f64>,
    eig: crate::util::MccSolver,
}

impl Glcm {
    pub fn new(grid: &Grid, want_mcc: bool, used: Vec<bool>) -> Self {
        let dirs = half_dirs();
        let nl = grid.levels.len();
        let ng = grid.ng_max as usize;
        let w = 2 * grid.radius + 1;
        // At most one pair per voxel and direction: t <= 2 w^3.
        let nc = 2 * w * w * w + 3;
        let clog = super::clog_table(nc);
        let ngf = grid.ng_max;
        let wk = (0..=ng)
            .map(|k| {
                let k = k as f64;
                [
                    1.0 / (1.0 + k * k),
                    1.0 / (1.0 + k * k / (ngf * ngf)),
                    1.0 / (1.0 + k),
                    1.0 / (1.0 + k / ngf),
                    if k > 0.0 { 1.0 / (k * k) } else { 0.0 },
                ]
            })
            .collect();
        let nd = dirs.len();
        Self {
            counts: vec![0; nd * nl * nl],
            rows: vec![0; nd * nl],
            dh: vec![0; nd * (ng + 1)],
            sh: vec![0; nd * (2 * ng + 1)],
            nd: ng + 1,
            ns: 2 * ng + 1,
            chist: vec![0; nd * nc],
            nc,
            sums: vec![DirSums::default(); nd],
            clog,
            wk,
            lv: grid.levels.iter().map(|&x| x as i64).collect(),
            dirs,
            nl,
            lvl: vec![0; nl],
            ra: (0, 0),
            rb: (0, 0),
            win: (1, 0),
            used,
            want_mcc,
            dirty: vec![true; nd],
            mcc_cache: vec![f64::NAN; nd],
            eig: crate::util::MccSolver::default(),
        }
    }

    /// Moves one entry of direction `d` from count `c` to `c + delta`.
    #[inline]
    fn entry(&mut self, d: usize, at: usize, delta: i32) {
        let c = self.counts[at];
        let n = (c as i64 + delta as i64) as u32;
        self.counts[at] = n;
        let s = &mut self.sums[d];
        s.h_c += self.clog[n as usize] - self.clog[c as usize];
        s.c2 += n as i64 * n as i64 - c as i64 * c as i64;
        let ch = &mut self.chist[d * self.nc..(d + 1) * self.nc];
        ch[c as usize] -= 1;
        ch[n as usize] += 1;
        if n > s.max_c {
            s.max_c = n;
        }
        while s.max_c > 0 && ch[s.max_c as usize] == 0 {
            s.max_c -= 1;
        }
    }

    /// Adds (`sgn = 1`) or removes (`-1`) the symmetric pair of compact levels `gi`, `gj`
    /// (1-based) in direction `d`.
    #[inline]
    fn pair(&mut self, d: usize, gi: u32, gj: u32, sgn: i32) {
        let nl = self.nl;
        let (x, y) = (gi as usize - 1, gj as usize - 1);
        let base = d * nl * nl;
        self.dirty[d] = true;
        if x == y {
            self.entry(d, base + x * nl + x, 2 * sgn);
        } else {
            self.entry(d, base + x * nl + y, sgn);
            self.entry(d, base + y * nl + x, sgn);
        }
        let (i, j) = (self.lv[x], self.lv[y]);
        let sg = sgn as i64;
        // Row sums: level x gains one (two on the diagonal), level y one.
        for z in [x, y] {
            let r = &mut self.rows[d * nl + z];
            let old = *r;
            *r = (old as i64 + sg) as u32;
            self.sums[d].h_r += self.clog[*r as usize] - self.clog[old as usize];
        }
        let k = (i - j).unsigned_abs() as usize;
        let sidx = (i + j) as usize;
        let dd = &mut self.dh[d * self.nd + k];
        let old = *dd;
        *dd = (old as i64 + 2 * sg) as u32;
        let hd = self.clog[*dd as usize] - self.clog[old as usize];
        let ss = &mut self.sh[d * self.ns + sidx];
        let old = *ss;
        *ss = (old as i64 + 2 * sg) as u32;
        let hs = self.clog[*ss as usize] - self.clog[old as usize];
        let wk = self.wk[k];
        let s = &mut self.sums[d];
        s.h_d += hd;
        s.h_s += hs;
        s.t += 2 * sg;
        s.s_i += sg * (i + j);
        s.s_ii += sg * (i * i + j * j);
        s.s_ij += 2 * sg * i * j;
        let sum = (i + j) as i128;
        let s3 = sum * sum * sum;
        s.s3 += 2 * sg as i128 * s3;
        s.s4 += 2 * sg as i128 * s3 * sum;
        s.s_k += 2 * sg * k as i64;
        let f = 2.0 * sgn as f64;
        for (a, b) in s.w.iter_mut().zip(wk) {
            *a += f * b;
        }
    }

    fn reset(&mut self) {
        self.counts.iter_mut().for_each(|x| *x = 0);
        self.rows.iter_mut().for_each(|x| *x = 0);
        self.dh.iter_mut().for_each(|x| *x = 0);
        self.sh.iter_mut().for_each(|x| *x = 0);
        self.lvl.iter_mut().for_each(|x| *x = 0);
        self.sums.iter_mut().for_each(|s| *s = DirSums::default());
        self.chist.iter_mut().for_each(|x| *x = 0);
        self.dirty.iter_mut().for_each(|x| *x = true);
        let (nl, nc) = (self.nl, self.nc);
        for d in 0..self.dirs.len() {
            // Every entry starts at count 0.
            self.chist[d * nc] = (nl * nl) as u32;
        }
    }

    /// Adds (or removes) plane `c` and every pair between it and the plane `other` (the
    /// adjacent plane that stays in the window), and the pairs inside plane `c`.
    fn plane(&mut self, grid: &Grid, c: usize, other: Option<usize>, add: bool) {
        let sgn = if add { 1 } else { -1 };
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
                        self.pair(d, gp, gq, sgn);
                    }
                }
            }
        }
    }
}

/// Whether each of the 13 directions has a pair of kernel voxels in some kernel of an ROI
/// voxel (computed once per map, shared by the workers).
pub(crate) fn directions_used(grid: &Grid) -> Vec<bool> {
    half_dirs()
        .iter()
        .map(|o| direction_used(grid, *o))
        .collect()
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
        self.reset();
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

    fn features(&mut self, _grid: &Grid, _a: usize, _b: usize, _c: usize, out: &mut [f64]) {
        let nl = self.nl;
        let nf = NAMES.len();
        let mut acc = [0.0; NAMES.len()];
        let mut cnt = [0usize; NAMES.len()];
        let mut joint_nan = false;
        let mut ux_sum = 0.0;
        let mut n_dirs = 0usize;
        let mut present = std::mem::take(&mut self.eig.present);
        present.clear();
        if self.want_mcc {
            present.extend((0..nl).filter(|&l| self.lvl[l] > 0));
        }
        for d in 0..self.dirs.len() {
            if !self.used[d] {
                continue;
            }
            n_dirs += 1;
            let s = self.sums[d].clone();
            if s.t == 0 {
                joint_nan = true;
                continue;
            }
            let t = s.t as f64;
            let ti = s.t as i128;
            let ux = s.s_i as f64 / t;
            ux_sum += ux;
            // Power sums of i + j (S1 = 2 sum c i, S2 = sum c (i + j)^2) and the exact
            // t^k-scaled central moments.
            let s1 = 2 * s.s_i as i128;
            let s2 = 2 * (s.s_ii as i128 + s.s_ij as i128);
            let m2 = ti * s2 - s1 * s1;
            let m3 = ti * ti * s.s3 - 3 * ti * s2 * s1 + 2 * s1 * s1 * s1;
            let m4 = ti * ti * ti * s.s4 - 4 * ti * ti * s.s3 * s1 + 6 * ti * s2 * s1 * s1
                - 3 * s1 * s1 * s1 * s1;
            let ct = m2 as f64 / (t * t);
            let cs = m3 as f64 / (t * t * t);
            let cp = m4 as f64 / (t * t * t * t);
            let sig2 = (ti * s.s_ii as i128 - (s.s_i as i128).pow(2)) as f64 / (t * t);
            let cov = (ti * s.s_ij as i128 - (s.s_i as i128).pow(2)) as f64 / (t * t);
            let corr = if sig2 == 0.0 { 1.0 } else { cov / (sig2 + EPS) };
            let con_n = 2 * (s.s_ii - s.s_ij);
            let con = con_n as f64 / t;
            let da = s.s_k as f64 / t;
            let dv = (ti * con_n as i128 - (s.s_k as i128).pow(2)) as f64 / (t * t);
            let ent = |h: i64| (self.clog[s.t as usize] - h) as f64 / (LOG_SCALE * t);
            let hxy = ent(s.h_c);
            let hx = ent(s.h_r);
            let de = ent(s.h_d);
            let se = ent(s.h_s);
            // HXY1 = HXY2 = 2 HX (the marginals of a symmetric matrix), up to PyRadiomics'
            // eps inside the logarithm (a relative 1e-13 here).
            let imc1 = if hx != 0.0 {
                (hxy - 2.0 * hx) / hx
            } else {
                0.0
            };
            let mi = self.clog[s.t as usize] - 2 * s.h_r + s.h_c;
            // The mutual information is >= 0; within the table's rounding of 0 it is 0.
            let imc2 = if mi.unsigned_abs() <= 64 {
                0.0
            } else {
                let q = 1.0 - (-2.0 * mi as f64 / (LOG_SCALE * t)).exp();
                if q < 0.0 { f64::NAN } else { q.sqrt() }
            };
            // The same counts as at the previous voxel give the same MCC.
            let mcc = if !self.want_mcc {
                f64::NAN
            } else if self.dirty[d] {
                let m = self.mcc(d, &present);
                self.mcc_cache[d] = m;
                self.dirty[d] = false;
                m
            } else {
                self.mcc_cache[d]
            };
            let vals = [
                s.s_ij as f64 / t,
                f64::NAN, // JointAverage: below
                cp,
                cs,
                ct,
                con,
                corr,
                da,
                de,
                dv,
                s.c2 as f64 / (t * t),
                hxy,
                imc1,
                imc2,
                s.w[0] / t,
                mcc,
                s.w[1] / t,
                s.w[2] / t,
                s.w[3] / t,
                s.w[4] / t,
                s.max_c as f64 / t,
                2.0 * ux,
                se,
                sig2,
            ];
            for (f, v) in vals.iter().enumerate() {
                if !v.is_nan() {
                    acc[f] += v;
                    cnt[f] += 1;
                }
            }
        }
        self.eig.present = present;
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

impl Glcm {
    /// Maximal correlation coefficient of direction `d`. With `P` the normalised symmetric
    /// GLCM and `D = diag(px)`, `Q = D^-1 P D^-1 P` is similar to `A^2`, `A = D^-1/2 P D^-1/2`
    /// (symmetric, largest eigenvalue 1 with unit eigenvector `v = sqrt(px)`). So the
    /// second-largest eigenvalue of `Q` is the largest `lambda^2` over the other eigenvalues
    /// of `A`, and MCC is the largest `|lambda|` of `A - v v^T`. Only levels with `px > 0`
    /// enter (the others give zero rows of `Q`: zero eigenvalues). On the counts, `A` is
    /// `c(i, j) / sqrt(r_i r_j)` and `v_i = sqrt(r_i / t)`.
    fn mcc(&mut self, d: usize, present: &[usize]) -> f64 {
        let nl = self.nl;
        if nl < 2 {
            return 1.0;
        }
        let mut idx = std::mem::take(&mut self.eig.idx);
        idx.clear();
        idx.extend(
            present
                .iter()
                .copied()
                .filter(|&l| self.rows[d * nl + l] > 0),
        );
        let k = idx.len();
        let out = if k < 2 {
            0.0
        } else {
            let t = self.sums[d].t as f64;
            let mut r = std::mem::take(&mut self.eig.r);
            r.clear();
            r.extend(idx.iter().map(|&l| self.rows[d * nl + l] as f64));
            let base = d * nl * nl;
            let counts = &self.counts;
            let m = self
                .eig
                .mcc(k, t, &r, |x, y| counts[base + idx[x] * nl + idx[y]] as f64);
            self.eig.r = r;
            m
        };
        self.eig.idx = idx;
        out
    }
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
                let mut k = Glcm::new(&grid, true, directions_used(&grid));
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
