//! First-order maps: a sorted window of the kernel intensities and a grey-level histogram,
//! both updated by the entering and leaving planes (`O(R^2)` insertions per step). Order
//! statistics are then `O(1)`; the central moments and deviations are one pass over the
//! sorted window (they are not updatable without cancellation on CT values).

use super::{Grid, LineKernel, plogp};

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
}
