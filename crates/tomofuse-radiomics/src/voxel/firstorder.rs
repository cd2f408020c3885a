//! First-order maps. [`FirstOrderTree`] (used when the intensities are exact fixed-point
//! numbers, e.g. CT in HU) costs `O(R^2 log V)` per voxel: no work proportional to the kernel
//! volume. [`FirstOrder`] (the fallback, and the reference of the tree's unit test) keeps a
//! sorted window and a grey-level histogram updated by the entering and leaving planes, with
//! one `O(R^3)` pass over the window for the moments and deviations.

use super::{Grid, LOG_SCALE, LineKernel, plogp};

/// PyRadiomics' firstorder features, in its output order (the ROI-level list).
pub const NAMES: [&str; 18] = crate::families::statistics::PYRADIOMICS_FIRSTORDER;

pub struct FirstOrder {
    sorted: Vec<f64>,
    hist: Vec<u32>,
    shift: f64,
    ra: (usize, usize),
    rb: (usize, usize),
}

/// numpy's linear percentile of sorted values.
fn percentile(s: &[f64], q: f64) -> f64 {
    let pos = q / 100.0 * (s.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = (lo + 1).min(s.len() - 1);
    s[lo] + (pos - lo as f64) * (s[hi] - s[lo])
}

pub(crate) fn span(center: usize, r: usize, n: usize) -> (usize, usize) {
    (center.saturating_sub(r), (center + r).min(n - 1))
}

impl FirstOrder {
    pub fn new(grid: &Grid, shift: f64) -> Self {
        Self {
            sorted: Vec::new(),
            hist: vec![0; grid.levels.len()],
            shift,
            ra: (0, 0),
            rb: (0, 0),
        }
    }

    fn plane(&mut self, grid: &Grid, c: usize, add: bool) {
        for a in self.ra.0..=self.ra.1 {
            for b in self.rb.0..=self.rb.1 {
                let id = grid.idx(a, b, c);
                let g = grid.g[id];
                if g == 0 {
                    continue;
                }
                let v = grid.img[id];
                let at = self.sorted.partition_point(|&x| x < v);
                if add {
                    self.sorted.insert(at, v);
                    self.hist[g as usize - 1] += 1;
                } else {
                    self.sorted.remove(at);
                    self.hist[g as usize - 1] -= 1;
                }
            }
        }
    }
}

impl LineKernel for FirstOrder {
    fn start(&mut self, grid: &Grid, a: usize, b: usize, c0: usize) {
        let r = grid.radius;
        self.sorted.clear();
        self.hist.iter_mut().for_each(|h| *h = 0);
        self.ra = span(a, r, grid.dims[0]);
        self.rb = span(b, r, grid.dims[1]);
        let (lo, hi) = span(c0, r, grid.dims[2]);
        for c in lo..=hi {
            self.plane(grid, c, true);
        }
    }

    fn advance(&mut self, grid: &Grid, _a: usize, _b: usize, c: usize) {
        let r = grid.radius;
        if c > r {
            self.plane(grid, c - 1 - r, false);
        }
        if c + r < grid.dims[2] {
            self.plane(grid, c + r, true);
        }
    }

    fn features(&mut self, grid: &Grid, _a: usize, _b: usize, _c: usize, out: &mut [f64]) {
        let s = &self.sorted;
        if s.is_empty() {
            return;
        }
        let n = s.len() as f64;
        let mean = s.iter().sum::<f64>() / n;
        let (mut m2, mut m3, mut m4, mut mad) = (0.0, 0.0, 0.0, 0.0);
        for &x in s {
            let d = x - mean;
            let d2 = d * d;
            m2 += d2;
            m3 += d2 * d;
            m4 += d2 * d2;
            mad += d.abs();
        }
        let (m2, m3, m4, mad) = (m2 / n, m3 / n, m4 / n, mad / n);
        let energy: f64 = s.iter().map(|x| (x + self.shift) * (x + self.shift)).sum();
        let (p10, p90) = (percentile(s, 10.0), percentile(s, 90.0));
        let lo = s.partition_point(|&x| x < p10);
        let hi = s.partition_point(|&x| x <= p90);
        let robust = &s[lo..hi];
        let rmean = robust.iter().sum::<f64>() / robust.len() as f64;
        let rmad = robust.iter().map(|x| (x - rmean).abs()).sum::<f64>() / robust.len() as f64;
        let (mut ent, mut uni) = (0.0, 0.0);
        for &h in &self.hist {
            if h > 0 {
                let p = h as f64 / n;
                ent -= plogp(p);
                uni += p * p;
            }
        }
        // PyRadiomics: a flat kernel (m2 = 0) divides by 1 instead.
        let den = if m2 == 0.0 { 1.0 } else { m2 };
        let (min, max) = (s[0], s[s.len() - 1]);
        let v = [
            energy,
            energy * grid.voxel_volume,
            ent,
            min,
            p10,
            p90,
            max,
            mean,
            percentile(s, 50.0),
            percentile(s, 75.0) - percentile(s, 25.0),
            max - min,
            mad,
            rmad,
            (energy / n).sqrt(),
            m3 / den.powf(1.5),
            m4 / (den * den),
            m2,
            uni,
        ];
        out.copy_from_slice(&v);
    }
}

/// What the O(face) first-order kernel shares: the distinct participating intensities in
/// ascending order, each as an exact integer `x 2^s`, and each crop voxel's rank.
pub(crate) struct Ranks {
    vals: Vec<f64>,
    ints: Vec<i64>,
    rank: Vec<u32>,
    scale: f64,
}

impl Ranks {
    /// None when the intensities are not all `m 2^-s` with `|m|` small enough for exact
    /// 128-bit power sums of a kernel (`(n |m|)^4 16 < 2^126`, `n` the kernel volume); then
    /// the sorted-window kernel is used. CT in HU (integers up to a few thousand) passes for
    /// any radius up to 20.
    pub fn new(grid: &Grid) -> Option<Self> {
        let mut vals: Vec<f64> = grid
            .img
            .iter()
            .zip(&grid.g)
            .filter(|&(_, &g)| g != 0)
            .map(|(&v, _)| v)
            .collect();
        vals.sort_by(f64::total_cmp);
        vals.dedup();
        let mut s = 0i32;
        while s <= 24 && !vals.iter().all(|&v| (v * (s as f64).exp2()).fract() == 0.0) {
            s += 1;
        }
        if s > 24 {
            return None;
        }
        let scale = (s as f64).exp2();
        let big = vals.iter().fold(0.0f64, |m, v| m.max((v * scale).abs()));
        let w = (2 * grid.radius + 1) as f64;
        if (w * w * w * big).powi(4) * 16.0 >= 2f64.powi(126) {
            return None;
        }
        let ints = vals.iter().map(|&v| (v * scale) as i64).collect();
        let rank = grid
            .img
            .iter()
            .zip(&grid.g)
            .map(|(&v, &g)| {
                if g == 0 {
                    0
                } else {
                    vals.partition_point(|&x| x < v) as u32
                }
            })
            .collect();
        Some(Self {
            vals,
            ints,
            rank,
            scale,
        })
    }
}

/// Fenwick tree of counts and integer sums over the intensity ranks.
struct Fenwick {
    cnt: Vec<u32>,
    sum: Vec<i64>,
    top: usize,
}

impl Fenwick {
    fn new(n: usize) -> Self {
        Self {
            cnt: vec![0; n + 1],
            sum: vec![0; n + 1],
            top: if n == 0 {
                0
            } else {
                1 << (usize::BITS - 1 - n.leading_zeros())
            },
        }
    }

    fn clear(&mut self) {
        self.cnt.iter_mut().for_each(|c| *c = 0);
        self.sum.iter_mut().for_each(|c| *c = 0);
    }

    fn add(&mut self, r: usize, x: i64, sgn: i32) {
        let mut i = r + 1;
        while i < self.cnt.len() {
            self.cnt[i] = (self.cnt[i] as i64 + sgn as i64) as u32;
            self.sum[i] += sgn as i64 * x;
            i += i & i.wrapping_neg();
        }
    }

    /// Count and sum of ranks `< r`.
    fn prefix(&self, r: usize) -> (i64, i64) {
        let (mut c, mut s) = (0i64, 0i64);
        let mut i = r;
        while i > 0 {
            c += self.cnt[i] as i64;
            s += self.sum[i];
            i &= i - 1;
        }
        (c, s)
    }

    /// Rank of the `k`-th smallest value (0-based `k` < count).
    fn kth(&self, mut k: u32) -> usize {
        let mut pos = 0;
        let mut step = self.top;
        while step > 0 {
            let nx = pos + step;
            if nx < self.cnt.len() && self.cnt[nx] <= k {
                k -= self.cnt[nx];
                pos = nx;
            }
            step >>= 1;
        }
        pos
    }
}

/// First-order maps in `O(face log V)` per voxel (`V` distinct intensities): the entering
/// and leaving planes update a Fenwick tree of counts and integer sums over the intensity
/// ranks, the exact power sums `S1..S4` (128-bit integers of the fixed-point intensities)
/// and the grey-level histogram with its fixed-point `sum h log2 h`. Order statistics are
/// `k`-th queries, the mean absolute deviations two prefix queries split at the (exact,
/// rational) mean, the moments exact integer combinations of the power sums; nothing is
/// proportional to the kernel volume.
pub struct FirstOrderTree {
    ranks: std::sync::Arc<Ranks>,
    tree: Fenwick,
    n: i64,
    s: [i128; 4],
    hist: Vec<u32>,
    h_log: i64,
    h_sq: i64,
    clog: Vec<i64>,
    shift: f64,
    ra: (usize, usize),
    rb: (usize, usize),
}

impl FirstOrderTree {
    pub fn new(grid: &Grid, ranks: std::sync::Arc<Ranks>, shift: f64) -> Self {
        let w = 2 * grid.radius + 1;
        let nmax = w * w * w;
        Self {
            tree: Fenwick::new(ranks.vals.len()),
            ranks,
            n: 0,
            s: [0; 4],
            hist: vec![0; grid.levels.len()],
            h_log: 0,
            h_sq: 0,
            clog: super::clog_table(nmax + 1),
            shift,
            ra: (0, 0),
            rb: (0, 0),
        }
    }

    fn plane(&mut self, grid: &Grid, c: usize, sgn: i32) {
        for a in self.ra.0..=self.ra.1 {
            for b in self.rb.0..=self.rb.1 {
                let id = grid.idx(a, b, c);
                let g = grid.g[id];
                if g == 0 {
                    continue;
                }
                let r = self.ranks.rank[id] as usize;
                let x = self.ranks.ints[r];
                self.tree.add(r, x, sgn);
                let xi = x as i128;
                let sg = sgn as i128;
                self.s[0] += sg * xi;
                self.s[1] += sg * xi * xi;
                self.s[2] += sg * xi * xi * xi;
                self.s[3] += sg * xi * xi * xi * xi;
                self.n += sgn as i64;
                let h = &mut self.hist[g as usize - 1];
                let old = *h;
                *h = (old as i64 + sgn as i64) as u32;
                self.h_log += self.clog[*h as usize] - self.clog[old as usize];
                self.h_sq += (*h as i64).pow(2) - (old as i64).pow(2);
            }
        }
    }

    /// Value of the `k`-th smallest kernel intensity.
    fn kth(&self, k: i64) -> f64 {
        self.ranks.vals[self.tree.kth(k as u32)]
    }

    /// numpy's linear percentile.
    fn percentile(&self, q: f64) -> f64 {
        let pos = q / 100.0 * (self.n - 1) as f64;
        let lo = pos.floor() as i64;
        let hi = (lo + 1).min(self.n - 1);
        let (a, b) = (self.kth(lo), self.kth(hi));
        a + (pos - lo as f64) * (b - a)
    }

    /// `sum |x - mean|` over the ranks `[r0, r1)` (count `m`, integer sum `sx`), as the
    /// exact integer `sum |m x - sx|` (scale `m 2^s`).
    fn abs_dev(&self, r0: usize, r1: usize) -> (i128, i64) {
        let (c0, s0) = self.tree.prefix(r0);
        let (c1, s1) = self.tree.prefix(r1);
        let (m, sx) = (c1 - c0, s1 - s0);
        if m == 0 {
            return (0, 0);
        }
        // First rank in [r0, r1) whose value has m x > sx.
        let ints = &self.ranks.ints[r0..r1];
        let split = r0 + ints.partition_point(|&x| (m as i128) * (x as i128) <= sx as i128);
        let (cs, ss) = self.tree.prefix(split);
        let (lo_n, lo_s) = (cs - c0, ss - s0);
        let (hi_n, hi_s) = (m - lo_n, sx - lo_s);
        let (m, sx) = (m as i128, sx as i128);
        let dev = (m * hi_s as i128 - hi_n as i128 * sx) + (lo_n as i128 * sx - m * lo_s as i128);
        (dev, m as i64)
    }
}

impl LineKernel for FirstOrderTree {
    fn start(&mut self, grid: &Grid, a: usize, b: usize, c0: usize) {
        let r = grid.radius;
        self.tree.clear();
        self.n = 0;
        self.s = [0; 4];
        self.hist.iter_mut().for_each(|h| *h = 0);
        self.h_log = 0;
        self.h_sq = 0;
        self.ra = span(a, r, grid.dims[0]);
        self.rb = span(b, r, grid.dims[1]);
        let (lo, hi) = span(c0, r, grid.dims[2]);
        for c in lo..=hi {
            self.plane(grid, c, 1);
        }
    }

    fn advance(&mut self, grid: &Grid, _a: usize, _b: usize, c: usize) {
        let r = grid.radius;
        if c > r {
            self.plane(grid, c - 1 - r, -1);
        }
        if c + r < grid.dims[2] {
            self.plane(grid, c + r, 1);
        }
    }

    fn features(&mut self, grid: &Grid, _a: usize, _b: usize, _c: usize, out: &mut [f64]) {
        let n = self.n;
        if n == 0 {
            return;
        }
        let nf = n as f64;
        let ni = n as i128;
        let sc = self.ranks.scale;
        let [s1, s2, s3, s4] = self.s;
        // n^k-scaled central moments, exact.
        let m2 = ni * s2 - s1 * s1;
        let m3 = ni * ni * s3 - 3 * ni * s2 * s1 + 2 * s1 * s1 * s1;
        let m4 = ni * ni * ni * s4 - 4 * ni * ni * s3 * s1 + 6 * ni * s2 * s1 * s1
            - 3 * s1 * s1 * s1 * s1;
        let var = m2 as f64 / (nf * nf) / (sc * sc);
        let mean = s1 as f64 / nf / sc;
        let (sum, sum2) = (s1 as f64 / sc, s2 as f64 / (sc * sc));
        let energy = sum2 + 2.0 * self.shift * sum + nf * self.shift * self.shift;
        // Skewness and kurtosis are scale-free: the integer moments' ratios. PyRadiomics: a
        // flat kernel (m2 = 0) divides by 1 (and m3 = m4 = 0 there).
        let (skew, kurt) = if m2 == 0 {
            (0.0, 0.0)
        } else {
            let m2f = m2 as f64 / (nf * nf);
            (
                (m3 as f64 / (nf * nf * nf)) / m2f.powf(1.5),
                (m4 as f64 / (nf * nf * nf * nf)) / (m2f * m2f),
            )
        };
        let nv = self.ranks.vals.len();
        let (dev, _) = self.abs_dev(0, nv);
        let mad = dev as f64 / (nf * nf) / sc;
        let (p10, p90) = (self.percentile(10.0), self.percentile(90.0));
        let vals = &self.ranks.vals;
        let r0 = vals.partition_point(|&x| x < p10);
        let r1 = vals.partition_point(|&x| x <= p90);
        let (rdev, rm) = self.abs_dev(r0, r1);
        let rmad = if rm == 0 {
            f64::NAN
        } else {
            rdev as f64 / ((rm * rm) as f64) / sc
        };
        let ent = (self.clog[n as usize] - self.h_log) as f64 / (LOG_SCALE * nf);
        let uni = self.h_sq as f64 / (nf * nf);
        let (min, max) = (self.kth(0), self.kth(n - 1));
        let v = [
            energy,
            energy * grid.voxel_volume,
            ent,
            min,
            p10,
            p90,
            max,
            mean,
            self.percentile(50.0),
            self.percentile(75.0) - self.percentile(25.0),
            max - min,
            mad,
            rmad,
            (energy / nf).sqrt(),
            skew,
            kurt,
            var,
            uni,
        ];
        out.copy_from_slice(&v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::voxel::{VoxelParams, build_grid};
    use tomofuse_core::{Geometry, Volume};

    #[test]
    fn sliding_window_holds_the_sorted_values_of_each_box() {
        let shape = [5, 6, 13];
        let mut s = 99u64;
        let mut next = || {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (s >> 33) as u32
        };
        let img: Vec<f32> = (0..shape.iter().product::<usize>())
            .map(|_| (next() % 1000) as f32 - 500.0)
            .collect();
        let msk: Vec<u8> = (0..img.len()).map(|_| u8::from(next() % 4 != 0)).collect();
        let g = Geometry::with_spacing([1.0, 1.0, 1.0]).unwrap();
        let image = Volume::from_vec_c(shape, img, g).unwrap();
        let mask = Volume::from_vec_c(shape, msk, g).unwrap();
        for masked in [true, false] {
            for radius in 1..=2 {
                let p = VoxelParams {
                    kernel_radius: radius,
                    masked_kernel: masked,
                    ..VoxelParams::default()
                };
                let (grid, _) = build_grid(&image, &mask, &p).unwrap();
                let mut k = FirstOrder::new(&grid, 0.0);
                for a in 0..grid.dims[0] {
                    for b in 0..grid.dims[1] {
                        for c in 0..grid.dims[2] {
                            if c == 0 {
                                k.start(&grid, a, b, c);
                            } else {
                                k.advance(&grid, a, b, c);
                            }
                            let (ra, rb, rc) = (
                                span(a, radius, grid.dims[0]),
                                span(b, radius, grid.dims[1]),
                                span(c, radius, grid.dims[2]),
                            );
                            let mut want = Vec::new();
                            for x in ra.0..=ra.1 {
                                for y in rb.0..=rb.1 {
                                    for z in rc.0..=rc.1 {
                                        let id = grid.idx(x, y, z);
                                        if grid.g[id] > 0 {
                                            want.push(grid.img[id]);
                                        }
                                    }
                                }
                            }
                            want.sort_by(f64::total_cmp);
                            assert_eq!(
                                k.sorted, want,
                                "R {radius} masked {masked} ({a}, {b}, {c})"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn rank_tree_features_equal_the_sorted_window() {
        // Integer and quarter-integer intensities (fixed point with s = 2), both kernel modes.
        let shape = [6, 7, 12];
        let mut st = 7u64;
        let mut next = || {
            st = st
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (st >> 33) as u32
        };
        for quarter in [false, true] {
            let img: Vec<f32> = (0..shape.iter().product::<usize>())
                .map(|_| {
                    let v = (next() % 400) as f32 - 200.0;
                    // A few repeated values and flat patches.
                    let v = if next() % 5 == 0 { 40.0 } else { v };
                    if quarter {
                        v + 0.25 * (next() % 4) as f32
                    } else {
                        v
                    }
                })
                .collect();
            let msk: Vec<u8> = (0..img.len()).map(|_| u8::from(next() % 4 != 0)).collect();
            let g = Geometry::with_spacing([1.0, 1.0, 1.0]).unwrap();
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
                    let ranks = std::sync::Arc::new(Ranks::new(&grid).expect("exact path"));
                    let mut naive = FirstOrder::new(&grid, 300.0);
                    let mut tree = FirstOrderTree::new(&grid, ranks, 300.0);
                    let (mut x, mut y) = ([f64::NAN; 18], [f64::NAN; 18]);
                    for a in 0..grid.dims[0] {
                        for b in 0..grid.dims[1] {
                            for c in 0..grid.dims[2] {
                                if c == 0 {
                                    naive.start(&grid, a, b, c);
                                    tree.start(&grid, a, b, c);
                                } else {
                                    naive.advance(&grid, a, b, c);
                                    tree.advance(&grid, a, b, c);
                                }
                                naive.features(&grid, a, b, c, &mut x);
                                tree.features(&grid, a, b, c, &mut y);
                                for f in 0..18 {
                                    let ok = (x[f].is_nan() && y[f].is_nan())
                                        || (x[f] - y[f]).abs() <= 1e-9 * x[f].abs().max(1.0);
                                    assert!(
                                        ok,
                                        "{} R {radius} masked {masked} quarter {quarter} at ({a}, {b}, {c}): sorted {} tree {}",
                                        NAMES[f], x[f], y[f]
                                    );
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
