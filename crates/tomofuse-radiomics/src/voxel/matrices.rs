//! GLRLM, GLSZM, GLDM and NGTDM maps. These matrices are not decomposable over planes (a run
//! or a zone can span the whole kernel, and PyRadiomics cuts runs, zones and neighbourhoods
//! at the kernel box), so each kernel is rebuilt from its box: `O((2R+1)^3)` per voxel for
//! GLSZM/GLDM/NGTDM and `O(13 (2R+1)^3)` for GLRLM, with the buffers reused across kernels.

use super::firstorder::span;
use super::glcm::half_dirs;
use super::{Grid, LineKernel, plogp};

pub const GLRLM_NAMES: [&str; 16] = [
    "ShortRunEmphasis",
    "LongRunEmphasis",
    "GrayLevelNonUniformity",
    "GrayLevelNonUniformityNormalized",
    "RunLengthNonUniformity",
    "RunLengthNonUniformityNormalized",
    "RunPercentage",
    "GrayLevelVariance",
    "RunVariance",
    "RunEntropy",
    "LowGrayLevelRunEmphasis",
    "HighGrayLevelRunEmphasis",
    "ShortRunLowGrayLevelEmphasis",
    "ShortRunHighGrayLevelEmphasis",
    "LongRunLowGrayLevelEmphasis",
    "LongRunHighGrayLevelEmphasis",
];

pub const GLSZM_NAMES: [&str; 16] = [
    "SmallAreaEmphasis",
    "LargeAreaEmphasis",
    "GrayLevelNonUniformity",
    "GrayLevelNonUniformityNormalized",
    "SizeZoneNonUniformity",
    "SizeZoneNonUniformityNormalized",
    "ZonePercentage",
    "GrayLevelVariance",
    "ZoneVariance",
    "ZoneEntropy",
    "LowGrayLevelZoneEmphasis",
    "HighGrayLevelZoneEmphasis",
    "SmallAreaLowGrayLevelEmphasis",
    "SmallAreaHighGrayLevelEmphasis",
    "LargeAreaLowGrayLevelEmphasis",
    "LargeAreaHighGrayLevelEmphasis",
];

pub const GLDM_NAMES: [&str; 14] = [
    "SmallDependenceEmphasis",
    "LargeDependenceEmphasis",
    "GrayLevelNonUniformity",
    "DependenceNonUniformity",
    "DependenceNonUniformityNormalized",
    "GrayLevelVariance",
    "DependenceVariance",
    "DependenceEntropy",
    "LowGrayLevelEmphasis",
    "HighGrayLevelEmphasis",
    "SmallDependenceLowGrayLevelEmphasis",
    "SmallDependenceHighGrayLevelEmphasis",
    "LargeDependenceLowGrayLevelEmphasis",
    "LargeDependenceHighGrayLevelEmphasis",
];

/// Which of the 16 size-matrix statistics GLDM reports (no normalised GLN, no percentage).
const GLDM_STATS: [usize; 14] = [0, 1, 2, 4, 5, 7, 8, 9, 10, 11, 12, 13, 14, 15];

pub const NGTDM_NAMES: [&str; 5] = [
    "Coarseness",
    "Contrast",
    "Busyness",
    "Complexity",
    "Strength",
];

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Glrlm,
    Glszm,
    Gldm,
    Ngtdm,
}

/// Bit of the neighbour offset `(da, db, dc)` (each in -1..=1) in a 27-bit mask (bit 13,
/// the voxel itself, is never set).
#[inline]
pub(crate) fn bit(o: [i64; 3]) -> u32 {
    ((o[0] + 1) * 9 + (o[1] + 1) * 3 + (o[2] + 1)) as u32
}

/// The offset of bit `b`.
fn offset(b: u32) -> [i64; 3] {
    let b = b as i64;
    [b / 9 - 1, (b / 3) % 3 - 1, b % 3 - 1]
}

/// Per crop voxel taking part: `[same, part]` masks of its 26 neighbours (bits of
/// [`bit`]) that are in the crop and take part (`part`) and have the same grey level
/// (`same`). Computed once per class; a kernel masks them with its box.
pub(crate) fn neighbour_masks(grid: &Grid) -> Vec<[u32; 2]> {
    let [n0, n1, n2] = grid.dims;
    let mut out = vec![[0u32; 2]; grid.g.len()];
    for a in 0..n0 {
        for b in 0..n1 {
            for c in 0..n2 {
                let id = grid.idx(a, b, c);
                let g = grid.g[id];
                if g == 0 {
                    continue;
                }
                let (mut same, mut part) = (0u32, 0u32);
                for bt in 0..27u32 {
                    if bt == 13 {
                        continue;
                    }
                    let o = offset(bt);
                    let (x, y, z) = (a as i64 + o[0], b as i64 + o[1], c as i64 + o[2]);
                    if x < 0 || y < 0 || z < 0 || x >= n0 as i64 || y >= n1 as i64 || z >= n2 as i64
                    {
                        continue;
                    }
                    let q = grid.g[grid.idx(x as usize, y as usize, z as usize)];
                    if q != 0 {
                        part |= 1 << bt;
                        if q == g {
                            same |= 1 << bt;
                        }
                    }
                }
                out[id] = [same, part];
            }
        }
    }
    out
}

/// Bits allowed along one axis for a voxel that can (`bit 0`) go one step down and (`bit
/// 1`) one step up inside the box, `[axis][state]`.
fn axis_masks() -> [[u32; 4]; 3] {
    let mut m = [[0u32; 4]; 3];
    for (axis, row) in m.iter_mut().enumerate() {
        for (state, mask) in row.iter_mut().enumerate() {
            for bt in 0..27u32 {
                let d = offset(bt)[axis];
                let ok = d == 0 || (d < 0 && state & 1 != 0) || (d > 0 && state & 2 != 0);
                if ok && bt != 13 {
                    *mask |= 1 << bt;
                }
            }
        }
    }
    m
}

pub struct PerKernel {
    kind: Kind,
    /// Compact levels (+1, 0 = not taking part) of the current box, and per box voxel its
    /// same-level and taking-part neighbours inside the box.
    loc: Vec<u32>,
    same: Vec<u32>,
    part: Vec<u32>,
    ld: [usize; 3],
    /// Offset in the box of each neighbour bit.
    loff: [isize; 27],
    axis: [[u32; 4]; 3],
    /// Size-matrix counts `[level][size - 1]`, `nl x max_size`.
    p: Vec<f64>,
    max_size: usize,
    /// Levels present in the box (compact, 0-based) and a stamp per level.
    present: Vec<usize>,
    stamp: Vec<u32>,
    level_gen: u32,
    seen: Vec<u32>,
    seen_gen: u32,
    stack: Vec<usize>,
    dirs: Vec<[i64; 3]>,
    pg: Vec<f64>,
    ps: Vec<f64>,
}

impl PerKernel {
    pub fn new(grid: &Grid, class: &str) -> Self {
        let kind = match class {
            "glrlm" => Kind::Glrlm,
            "glszm" => Kind::Glszm,
            "gldm" => Kind::Gldm,
            _ => Kind::Ngtdm,
        };
        let w = 2 * grid.radius + 1;
        let kvol = w * w * w;
        let max_size = match kind {
            Kind::Glrlm => w,
            Kind::Glszm => kvol,
            Kind::Gldm => 27,
            Kind::Ngtdm => 2,
        };
        let nl = grid.levels.len();
        Self {
            kind,
            loc: vec![0; kvol],
            same: vec![0; kvol],
            part: vec![0; kvol],
            ld: [0; 3],
            loff: [0; 27],
            axis: axis_masks(),
            p: vec![0.0; nl * max_size],
            max_size,
            present: Vec::new(),
            stamp: vec![0; nl],
            level_gen: 0,
            seen: vec![0; kvol],
            seen_gen: 0,
            stack: Vec::new(),
            dirs: half_dirs(),
            pg: vec![0.0; nl],
            ps: vec![0.0; max_size],
        }
    }

    fn load_box(&mut self, grid: &Grid, a: usize, b: usize, c: usize) {
        let r = grid.radius;
        let (ra, rb, rc) = (
            span(a, r, grid.dims[0]),
            span(b, r, grid.dims[1]),
            span(c, r, grid.dims[2]),
        );
        self.ld = [ra.1 - ra.0 + 1, rb.1 - rb.0 + 1, rc.1 - rc.0 + 1];
        let [_, d1, d2] = self.ld;
        for bt in 0..27u32 {
            let o = offset(bt);
            self.loff[bt as usize] = ((o[0] * d1 as i64 + o[1]) * d2 as i64 + o[2]) as isize;
        }
        self.level_gen = self.level_gen.wrapping_add(1);
        if self.level_gen == 0 {
            self.stamp.iter_mut().for_each(|s| *s = 0);
            self.level_gen = 1;
        }
        self.present.clear();
        let state =
            |x: usize, lo: usize, hi: usize| usize::from(x > lo) | (usize::from(x < hi) << 1);
        let mut n = 0;
        for x in ra.0..=ra.1 {
            let mx = self.axis[0][state(x, ra.0, ra.1)];
            for y in rb.0..=rb.1 {
                let mxy = mx & self.axis[1][state(y, rb.0, rb.1)];
                let row = grid.idx(x, y, 0);
                for z in rc.0..=rc.1 {
                    let g = grid.g[row + z];
                    self.loc[n] = g;
                    if g != 0 {
                        let m = mxy & self.axis[2][state(z, rc.0, rc.1)];
                        let [same, part] = grid.nb[row + z];
                        self.same[n] = same & m;
                        self.part[n] = part & m;
                        let l = g as usize - 1;
                        if self.stamp[l] != self.level_gen {
                            self.stamp[l] = self.level_gen;
                            self.present.push(l);
                        }
                    }
                    n += 1;
                }
            }
        }
        self.present.sort_unstable();
    }

    /// Local neighbour of voxel `id` at offset `o`, if inside the box.
    #[inline]
    fn step(&self, id: usize, o: [i64; 3]) -> Option<usize> {
        let [d0, d1, d2] = self.ld;
        let (x, y, z) = (id / (d1 * d2), (id / d2) % d1, id % d2);
        let (x2, y2, z2) = (x as i64 + o[0], y as i64 + o[1], z as i64 + o[2]);
        if x2 < 0 || y2 < 0 || z2 < 0 || x2 >= d0 as i64 || y2 >= d1 as i64 || z2 >= d2 as i64 {
            return None;
        }
        Some((x2 as usize * d1 + y2 as usize) * d2 + z2 as usize)
    }

    #[inline]
    fn count(&mut self, g: u32, size: usize) {
        self.p[(g as usize - 1) * self.max_size + size - 1] += 1.0;
    }

    /// Statistics of the size matrix over the present levels and sizes `1..=ns`, then
    /// clears those entries.
    fn stats(&mut self, grid: &Grid, ns: usize) -> Option<[f64; 16]> {
        let s = size_stats(
            &self.p,
            self.max_size,
            &self.present,
            ns,
            &grid.levels,
            &mut self.pg,
            &mut self.ps,
        );
        for &l in &self.present {
            let row = l * self.max_size;
            self.p[row..row + ns].iter_mut().for_each(|v| *v = 0.0);
        }
        s
    }

    fn glrlm(&mut self, grid: &Grid, out: &mut [f64]) {
        let n = self.ld.iter().product::<usize>();
        let mut acc = [0.0; 16];
        let mut cnt = [0usize; 16];
        for d in 0..self.dirs.len() {
            let o = self.dirs[d];
            let (bf, bb) = (bit(o), bit([-o[0], -o[1], -o[2]]));
            let step = self.loff[bf as usize];
            let mut longest = 0;
            let mut adjacent = false;
            for id in 0..n {
                let g = self.loc[id];
                if g == 0 {
                    continue;
                }
                adjacent |= self.part[id] >> bf & 1 != 0;
                if self.same[id] >> bb & 1 != 0 {
                    continue;
                }
                let (mut len, mut cur) = (1usize, id);
                while self.same[cur] >> bf & 1 != 0 {
                    len += 1;
                    cur = (cur as isize + step) as usize;
                }
                longest = longest.max(len);
                self.count(g, len);
            }
            // PyRadiomics drops a direction in which no line of the box holds two voxels of
            // the kernel (it treats the kernel as 2D for that direction).
            let keep = adjacent || self.multi_element(o);
            let s = self.stats(grid, longest);
            if !keep {
                continue;
            }
            if let Some(s) = s {
                for k in 0..16 {
                    if !s[k].is_nan() {
                        acc[k] += s[k];
                        cnt[k] += 1;
                    }
                }
            }
        }
        for k in 0..16 {
            out[k] = if cnt[k] > 0 {
                acc[k] / cnt[k] as f64
            } else {
                f64::NAN
            };
        }
    }

    /// Whether some line of the box along `o` holds two or more voxels of the kernel.
    fn multi_element(&self, o: [i64; 3]) -> bool {
        let n = self.ld.iter().product::<usize>();
        (0..n).any(|id| {
            if self.loc[id] == 0 {
                return false;
            }
            let mut cur = id;
            while let Some(nx) = self.step(cur, o) {
                if self.loc[nx] != 0 {
                    return true;
                }
                cur = nx;
            }
            false
        })
    }

    fn glszm(&mut self, grid: &Grid, out: &mut [f64]) {
        let n = self.ld.iter().product::<usize>();
        self.seen_gen = self.seen_gen.wrapping_add(1);
        if self.seen_gen == 0 {
            self.seen.iter_mut().for_each(|s| *s = 0);
            self.seen_gen = 1;
        }
        let sg = self.seen_gen;
        let mut largest = 0;
        for start in 0..n {
            let g = self.loc[start];
            if g == 0 || self.seen[start] == sg {
                continue;
            }
            self.seen[start] = sg;
            self.stack.push(start);
            let mut size = 0;
            while let Some(id) = self.stack.pop() {
                size += 1;
                let mut m = self.same[id];
                while m != 0 {
                    let b = m.trailing_zeros() as usize;
                    m &= m - 1;
                    let q = (id as isize + self.loff[b]) as usize;
                    if self.seen[q] != sg {
                        self.seen[q] = sg;
                        self.stack.push(q);
                    }
                }
            }
            largest = usize::max(largest, size);
            self.count(g, size);
        }
        if let Some(s) = self.stats(grid, largest) {
            out.copy_from_slice(&s);
        }
    }

    fn gldm(&mut self, grid: &Grid, out: &mut [f64]) {
        let n = self.ld.iter().product::<usize>();
        let mut largest = 0;
        for id in 0..n {
            let g = self.loc[id];
            if g == 0 {
                continue;
            }
            let dep = 1 + self.same[id].count_ones() as usize;
            largest = largest.max(dep);
            self.count(g, dep);
        }
        if let Some(s) = self.stats(grid, largest) {
            for (o, &k) in out.iter_mut().zip(&GLDM_STATS) {
                *o = s[k];
            }
        }
    }

    fn ngtdm(&mut self, grid: &Grid, out: &mut [f64]) {
        let n = self.ld.iter().product::<usize>();
        // p[level][0] = voxel count, p[level][1] = sum of |level - neighbourhood mean|.
        for id in 0..n {
            let g = self.loc[id];
            if g == 0 {
                continue;
            }
            let mut m = self.part[id];
            let cnt = m.count_ones();
            let mut sum = 0.0;
            while m != 0 {
                let b = m.trailing_zeros() as usize;
                m &= m - 1;
                let q = (id as isize + self.loff[b]) as usize;
                sum += grid.levels[self.loc[q] as usize - 1];
            }
            let lv = grid.levels[g as usize - 1];
            let diff = if cnt == 0 {
                0.0
            } else {
                (lv - sum / cnt as f64).abs()
            };
            let row = (g as usize - 1) * 2;
            self.p[row] += 1.0;
            self.p[row + 1] += diff;
        }
        let lv = &self.present;
        let nvp: f64 = lv.iter().map(|&k| self.p[2 * k]).sum();
        let p: Vec<f64> = lv.iter().map(|&k| self.p[2 * k] / nvp).collect();
        let s: Vec<f64> = lv.iter().map(|&k| self.p[2 * k + 1]).collect();
        let iv: Vec<f64> = lv.iter().map(|&k| grid.levels[k]).collect();
        for &k in lv {
            self.p[2 * k] = 0.0;
            self.p[2 * k + 1] = 0.0;
        }
        if nvp == 0.0 {
            return;
        }
        let m = lv.len();
        let ngp = m as f64;
        let sum_s: f64 = s.iter().sum();
        let ps: f64 = (0..m).map(|x| p[x] * s[x]).sum();
        let (mut con, mut absd, mut cplx, mut strn) = (0.0, 0.0, 0.0, 0.0);
        for x in 0..m {
            for y in 0..m {
                let d = iv[x] - iv[y];
                con += p[x] * p[y] * d * d;
                absd += (iv[x] * p[x] - iv[y] * p[y]).abs();
                cplx += d.abs() * (p[x] * s[x] + p[y] * s[y]) / (p[x] + p[y]);
                strn += (p[x] + p[y]) * d * d;
            }
        }
        let div = ngp * (ngp - 1.0);
        out[0] = if ps != 0.0 { 1.0 / ps } else { 1e6 };
        out[1] = if div != 0.0 {
            con * sum_s / nvp / div
        } else {
            0.0
        };
        out[2] = if absd != 0.0 { ps / absd } else { 0.0 };
        out[3] = cplx / nvp;
        out[4] = if sum_s != 0.0 { strn / sum_s } else { 0.0 };
    }
}

/// The 16 statistics of a size-type matrix `p[level][size - 1]` (runs, zones, dependences;
/// row stride `stride`) over the levels `rows` and sizes `1..=ns`, PyRadiomics' formulas
/// with grey levels `levels[level]`; None for an empty matrix. `pg`, `ps`: scratch.
fn size_stats(
    p: &[f64],
    stride: usize,
    rows: &[usize],
    ns: usize,
    levels: &[f64],
    pg: &mut [f64],
    ps: &mut [f64],
) -> Option<[f64; 16]> {
    let ps = &mut ps[..ns];
    ps.iter_mut().for_each(|v| *v = 0.0);
    let mut n = 0.0;
    for &g in rows {
        let row = &p[g * stride..g * stride + ns];
        let mut sum = 0.0;
        for (s, &v) in row.iter().enumerate() {
            sum += v;
            ps[s] += v;
        }
        pg[g] = sum;
        n += sum;
    }
    if n == 0.0 {
        return None;
    }
    let j = |s: usize| (s + 1) as f64;
    let (mut sre, mut lre, mut np, mut rln) = (0.0, 0.0, 0.0, 0.0);
    let uj: f64 = (0..ns).map(|s| ps[s] / n * j(s)).sum();
    let mut rv = 0.0;
    for (s, &v) in ps.iter().enumerate() {
        if v == 0.0 {
            continue;
        }
        sre += v / (j(s) * j(s));
        lre += v * j(s) * j(s);
        np += v * j(s);
        rln += v * v;
        rv += v / n * (j(s) - uj).powi(2);
    }
    let ui: f64 = rows.iter().map(|&g| pg[g] / n * levels[g]).sum();
    let (mut gln, mut glv, mut lgle, mut hgle) = (0.0, 0.0, 0.0, 0.0);
    let (mut ent, mut srlge, mut srhge, mut lrlge, mut lrhge) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for &g in rows {
        let v = pg[g];
        if v == 0.0 {
            continue;
        }
        let i2 = levels[g] * levels[g];
        gln += v * v;
        glv += v / n * (levels[g] - ui).powi(2);
        lgle += v / i2;
        hgle += v * i2;
        for s in 0..ns {
            let c = p[g * stride + s];
            if c == 0.0 {
                continue;
            }
            let j2 = j(s) * j(s);
            ent -= plogp(c / n);
            srlge += c / (i2 * j2);
            srhge += c * i2 / j2;
            lrlge += c * j2 / i2;
            lrhge += c * i2 * j2;
        }
    }
    Some([
        sre / n,
        lre / n,
        gln / n,
        gln / (n * n),
        rln / n,
        rln / (n * n),
        n / np,
        glv,
        rv,
        ent,
        lgle / n,
        hgle / n,
        srlge / n,
        srhge / n,
        lrlge / n,
        lrhge / n,
    ])
}

impl LineKernel for PerKernel {
    fn start(&mut self, _grid: &Grid, _a: usize, _b: usize, _c0: usize) {}

    fn advance(&mut self, _grid: &Grid, _a: usize, _b: usize, _c: usize) {}

    fn features(&mut self, grid: &Grid, a: usize, b: usize, c: usize, out: &mut [f64]) {
        self.load_box(grid, a, b, c);
        match self.kind {
            Kind::Glrlm => self.glrlm(grid, out),
            Kind::Glszm => self.glszm(grid, out),
            Kind::Gldm => self.gldm(grid, out),
            Kind::Ngtdm => self.ngtdm(grid, out),
        }
    }
}
