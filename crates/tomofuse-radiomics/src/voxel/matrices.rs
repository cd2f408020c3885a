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

pub struct PerKernel {
    kind: Kind,
    /// Compact levels (+1, 0 = not taking part) of the current box.
    loc: Vec<u32>,
    ld: [usize; 3],
    /// Size-matrix counts `[level][size - 1]`, `nl x max_size`.
    p: Vec<f64>,
    max_size: usize,
    nl: usize,
    seen: Vec<bool>,
    stack: Vec<usize>,
    dirs: Vec<[i64; 3]>,
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
        let mut dirs = half_dirs();
        if kind != Kind::Glrlm {
            let neg: Vec<[i64; 3]> = dirs.iter().map(|o| [-o[0], -o[1], -o[2]]).collect();
            dirs.extend(neg);
        }
        Self {
            kind,
            loc: vec![0; kvol],
            ld: [0; 3],
            p: vec![0.0; nl * max_size],
            max_size,
            nl,
            seen: vec![false; kvol],
            stack: Vec::new(),
            dirs,
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
        let mut n = 0;
        for x in ra.0..=ra.1 {
            for y in rb.0..=rb.1 {
                let row = grid.idx(x, y, 0);
                for z in rc.0..=rc.1 {
                    self.loc[n] = grid.g[row + z];
                    n += 1;
                }
            }
        }
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

    fn clear(&mut self) {
        self.p.iter_mut().for_each(|v| *v = 0.0);
    }

    #[inline]
    fn count(&mut self, g: u32, size: usize) {
        self.p[(g as usize - 1) * self.max_size + size - 1] += 1.0;
    }

    fn glrlm(&mut self, grid: &Grid, out: &mut [f64]) {
        let n = self.ld.iter().product::<usize>();
        let mut acc = [0.0; 16];
        let mut cnt = [0usize; 16];
        for d in 0..self.dirs.len() {
            let o = self.dirs[d];
            let back = [-o[0], -o[1], -o[2]];
            self.clear();
            for id in 0..n {
                let g = self.loc[id];
                if g == 0 {
                    continue;
                }
                if let Some(b) = self.step(id, back)
                    && self.loc[b] == g
                {
                    continue;
                }
                let (mut len, mut cur) = (1usize, id);
                while let Some(nx) = self.step(cur, o) {
                    if self.loc[nx] != g {
                        break;
                    }
                    len += 1;
                    cur = nx;
                }
                self.count(g, len);
            }
            // PyRadiomics drops a direction in which no line of the box holds two voxels of
            // the kernel (it treats the kernel as 2D for that direction).
            if !self.multi_element(o) {
                continue;
            }
            if let Some(s) = size_stats(&self.p, self.nl, self.max_size, &grid.levels) {
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
        self.clear();
        self.seen[..n].iter_mut().for_each(|s| *s = false);
        for start in 0..n {
            let g = self.loc[start];
            if g == 0 || self.seen[start] {
                continue;
            }
            self.seen[start] = true;
            self.stack.push(start);
            let mut size = 0;
            while let Some(id) = self.stack.pop() {
                size += 1;
                for d in 0..self.dirs.len() {
                    if let Some(q) = self.step(id, self.dirs[d])
                        && !self.seen[q]
                        && self.loc[q] == g
                    {
                        self.seen[q] = true;
                        self.stack.push(q);
                    }
                }
            }
            self.count(g, size);
        }
        if let Some(s) = size_stats(&self.p, self.nl, self.max_size, &grid.levels) {
            out.copy_from_slice(&s);
        }
    }

    fn gldm(&mut self, grid: &Grid, out: &mut [f64]) {
        let n = self.ld.iter().product::<usize>();
        self.clear();
        for id in 0..n {
            let g = self.loc[id];
            if g == 0 {
                continue;
            }
            let mut dep = 1;
            for d in 0..self.dirs.len() {
                if let Some(q) = self.step(id, self.dirs[d])
                    && self.loc[q] == g
                {
                    dep += 1;
                }
            }
            self.count(g, dep);
        }
        if let Some(s) = size_stats(&self.p, self.nl, self.max_size, &grid.levels) {
            for (o, &k) in out.iter_mut().zip(&GLDM_STATS) {
                *o = s[k];
            }
        }
    }

    fn ngtdm(&mut self, grid: &Grid, out: &mut [f64]) {
        let n = self.ld.iter().product::<usize>();
        // p[level][0] = voxel count, p[level][1] = sum of |level - neighbourhood mean|.
        self.clear();
        for id in 0..n {
            let g = self.loc[id];
            if g == 0 {
                continue;
            }
            let (mut sum, mut cnt) = (0.0, 0usize);
            for d in 0..self.dirs.len() {
                if let Some(q) = self.step(id, self.dirs[d])
                    && self.loc[q] != 0
                {
                    sum += grid.levels[self.loc[q] as usize - 1];
                    cnt += 1;
                }
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
        let lv: Vec<usize> = (0..self.nl).filter(|&k| self.p[2 * k] > 0.0).collect();
        let nvp: f64 = lv.iter().map(|&k| self.p[2 * k]).sum();
        if nvp == 0.0 {
            return;
        }
        let p: Vec<f64> = lv.iter().map(|&k| self.p[2 * k] / nvp).collect();
        let s: Vec<f64> = lv.iter().map(|&k| self.p[2 * k + 1]).collect();
        let iv: Vec<f64> = lv.iter().map(|&k| grid.levels[k]).collect();
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

/// The 16 statistics of a size-type matrix `p[level][size - 1]` (runs, zones, dependences),
/// PyRadiomics' formulas with grey levels `levels[level]`; None for an empty matrix.
fn size_stats(p: &[f64], nl: usize, ns: usize, levels: &[f64]) -> Option<[f64; 16]> {
    let mut pg = vec![0.0; nl];
    let mut ps = vec![0.0; ns];
    let mut n = 0.0;
    for g in 0..nl {
        for s in 0..ns {
            let v = p[g * ns + s];
            pg[g] += v;
            ps[s] += v;
            n += v;
        }
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
    let ui: f64 = (0..nl).map(|g| pg[g] / n * levels[g]).sum();
    let (mut gln, mut glv, mut lgle, mut hgle) = (0.0, 0.0, 0.0, 0.0);
    let (mut ent, mut srlge, mut srhge, mut lrlge, mut lrhge) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for g in 0..nl {
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
            let c = p[g * ns + s];
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
