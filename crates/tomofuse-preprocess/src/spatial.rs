//! Spatial operations: crop, pad, largest connected component, and [`GridPlan`], which
//! composes crop / pad / reorient / respacing steps into ONE output grid so the image is
//! interpolated once, not once per step.

use crate::error::{PreprocessError, Result};
use crate::resample::{self, GridMode, MaskInterp, ResampleOptions};
use ndarray::{Array3, s};
use tomofuse_core::{Geometry, Mask, Space, Volume};

/// A `size` window of `vol` centred on the bounding-box centre of the mask's largest
/// 26-connected component (the image centre when the mask is empty), shifted to stay inside
/// the grid, and padded symmetrically with the volume's minimum on an axis shorter than
/// `size`: a fixed-size network input around an organ. The largest component, because a
/// predicted mask's stray islands would move the bounding box of the whole mask (on the SAP
/// paper profile by up to 17 voxels), so crops scored on predicted masks would not match the
/// reference-mask crops a classifier was trained on.
pub fn crop_around_mask(vol: &Volume<f32>, mask: &Mask, size: [usize; 3]) -> Result<Volume<f32>> {
    let sh = vol.shape();
    let organ = largest_connected_component(mask, Connectivity::TwentySix).ok();
    let centre: [usize; 3] = match organ.as_ref().and_then(|m| m.bounding_box()) {
        Some((lo, hi)) => [
            (lo[0] + hi[0]) / 2,
            (lo[1] + hi[1]) / 2,
            (lo[2] + hi[2]) / 2,
        ],
        None => [sh[0] / 2, sh[1] / 2, sh[2] / 2],
    };
    let mut lo = [0; 3];
    let mut hi = [0; 3];
    let mut before = [0; 3];
    let mut after = [0; 3];
    for a in 0..3 {
        if sh[a] >= size[a] {
            lo[a] = centre[a].saturating_sub(size[a] / 2).min(sh[a] - size[a]);
            hi[a] = lo[a] + size[a] - 1;
        } else {
            lo[a] = 0;
            hi[a] = sh[a] - 1;
            before[a] = (size[a] - sh[a]) / 2;
            after[a] = size[a] - sh[a] - before[a];
        }
    }
    let c = crop(vol, lo, hi)?;
    let min = vol.data.iter().copied().fold(f32::INFINITY, f32::min);
    pad(&c, before, after, min)
}

/// A crop of fixed PHYSICAL size around the mask, as a fixed-size network input: the window
/// of `size_mm` (rounded to whole voxels of `vol`) is taken as [`crop_around_mask`] does and
/// resampled linearly to `out` voxels with its extent kept. The same organ region then reaches
/// the network at any acquisition or planned spacing; where the window already is `out`
/// voxels nothing is interpolated.
pub fn crop_around_mask_mm(
    vol: &Volume<f32>,
    mask: &Mask,
    size_mm: [f64; 3],
    out: [usize; 3],
) -> Result<Volume<f32>> {
    if size_mm.iter().any(|v| !v.is_finite() || *v <= 0.0) {
        return Err(PreprocessError::InvalidArgument {
            name: "crop_mm",
            reason: format!("{size_mm:?}: every component must be finite and > 0 mm"),
        });
    }
    if out.contains(&0) {
        return Err(PreprocessError::InvalidShape { shape: out });
    }
    let sp = vol.geometry.spacing;
    let mut n = [0usize; 3];
    for a in 0..3 {
        n[a] = ((size_mm[a] / sp[a]).round() as usize).max(1);
    }
    let c = crop_around_mask(vol, mask, n)?;
    if n == out {
        return Ok(c);
    }
    let spacing = [
        n[0] as f64 * sp[0] / out[0] as f64,
        n[1] as f64 * sp[1] / out[1] as f64,
        n[2] as f64 * sp[2] / out[2] as f64,
    ];
    let (g, shape) = resample::output_grid(&c.geometry, c.shape(), spacing, GridMode::Ibsi)?;
    debug_assert_eq!(shape, out);
    let mut opts = ResampleOptions::new(resample::Interp::Linear);
    opts.default_value = c.data.iter().copied().fold(f32::INFINITY, f32::min);
    resample::resample_with(&c, &g, out, &opts)
}

/// Inclusive index bounding box of a mask's non-zero voxels grown by `margin_mm` on each side
/// (converted per axis with the mask's spacing, rounded up) and clamped to the grid.
pub fn bbox_with_margin(mask: &Mask, margin_mm: f64) -> Result<([usize; 3], [usize; 3])> {
    if !(margin_mm.is_finite() && margin_mm >= 0.0) {
        return Err(PreprocessError::InvalidArgument {
            name: "margin_mm",
            reason: format!("{margin_mm} must be finite and >= 0"),
        });
    }
    let (lo, hi) = mask.bounding_box().ok_or(PreprocessError::EmptyMask {
        what: "crop to mask",
    })?;
    let shape = mask.shape();
    let mut a = [0usize; 3];
    let mut b = [0usize; 3];
    for ax in 0..3 {
        let m = (margin_mm / mask.geometry.spacing[ax] - 1e-9)
            .ceil()
            .max(0.0) as usize;
        a[ax] = lo[ax].saturating_sub(m);
        b[ax] = (hi[ax] + m).min(shape[ax] - 1);
    }
    Ok((a, b))
}

/// Sub-volume `[lo, hi]` (inclusive); the origin moves to voxel `lo`.
pub fn crop<T: Clone>(vol: &Volume<T>, lo: [usize; 3], hi: [usize; 3]) -> Result<Volume<T>> {
    let shape = vol.shape();
    if (0..3).any(|a| lo[a] > hi[a] || hi[a] >= shape[a]) {
        return Err(PreprocessError::InvalidArgument {
            name: "crop box",
            reason: format!("[{lo:?}, {hi:?}] is not inside shape {shape:?}"),
        });
    }
    let data = vol
        .data
        .slice(s![lo[0]..=hi[0], lo[1]..=hi[1], lo[2]..=hi[2]])
        .to_owned();
    let mut g = vol.geometry;
    g.origin = vol
        .geometry
        .index_to_world([lo[0] as f64, lo[1] as f64, lo[2] as f64]);
    Ok(Volume::new(data, g)?)
}

/// Crops `vol` to the bounding box of `mask` (same grid) plus `margin_mm`.
pub fn crop_to_mask<T: Clone>(vol: &Volume<T>, mask: &Mask, margin_mm: f64) -> Result<Volume<T>> {
    vol.same_grid_default(mask)?;
    let (lo, hi) = bbox_with_margin(mask, margin_mm)?;
    crop(vol, lo, hi)
}

/// Pads with `value`: `before[a]` voxels before and `after[a]` after each axis.
pub fn pad<T: Clone>(
    vol: &Volume<T>,
    before: [usize; 3],
    after: [usize; 3],
    value: T,
) -> Result<Volume<T>> {
    let s0 = vol.shape();
    let shape = [
        s0[0] + before[0] + after[0],
        s0[1] + before[1] + after[1],
        s0[2] + before[2] + after[2],
    ];
    tomofuse_core::check_alloc(shape, std::mem::size_of::<T>())?;
    let mut data = Array3::from_elem(shape, value);
    data.slice_mut(s![
        before[0]..before[0] + s0[0],
        before[1]..before[1] + s0[1],
        before[2]..before[2] + s0[2]
    ])
    .assign(&vol.data);
    let mut g = vol.geometry;
    g.origin = vol.geometry.index_to_world([
        -(before[0] as f64),
        -(before[1] as f64),
        -(before[2] as f64),
    ]);
    Ok(Volume::new(data, g)?)
}

/// Voxel connectivity for connected components.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connectivity {
    /// Face neighbours.
    Six,
    /// Face, edge and corner neighbours.
    TwentySix,
}

/// Labels connected components of the non-zero voxels; returns (labels, component sizes)
/// with labels 1.. in scan order (0 = background).
pub fn connected_components(mask: &Mask, conn: Connectivity) -> (Array3<u32>, Vec<usize>) {
    let [n0, n1, n2] = mask.shape();
    // Work on a grid padded by one voxel of background, flat: every neighbour is one fixed
    // offset away, with no bounds test. `UNSEEN` marks foreground not yet labelled.
    const UNSEEN: u32 = u32::MAX;
    let (p1, p2) = (n1 + 2, n2 + 2);
    let plane = p1 * p2;
    let at = |i: usize, j: usize, k: usize| ((i + 1) * p1 + j + 1) * p2 + k + 1;
    let mut lab = vec![0u32; (n0 + 2) * plane];
    for ((i, j, k), &m) in mask.data.indexed_iter() {
        if m != 0 {
            lab[at(i, j, k)] = UNSEEN;
        }
    }
    let mut offsets: Vec<isize> = Vec::with_capacity(26);
    for a in -1isize..=1 {
        for b in -1isize..=1 {
            for c in -1isize..=1 {
                let taxicab = a.abs() + b.abs() + c.abs();
                let keep = match conn {
                    Connectivity::Six => taxicab == 1,
                    Connectivity::TwentySix => taxicab > 0,
                };
                if keep {
                    offsets.push((a * p1 as isize + b) * p2 as isize + c);
                }
            }
        }
    }
    let mut sizes = Vec::new();
    let mut stack: Vec<usize> = Vec::new();
    for i in 0..n0 {
        for j in 0..n1 {
            let row = at(i, j, 0);
            for q0 in row..row + n2 {
                if lab[q0] != UNSEEN {
                    continue;
                }
                let label = sizes.len() as u32 + 1;
                let mut size = 0usize;
                lab[q0] = label;
                stack.push(q0);
                while let Some(q) = stack.pop() {
                    size += 1;
                    for &o in &offsets {
                        let n = q.wrapping_add_signed(o);
                        if lab[n] == UNSEEN {
                            lab[n] = label;
                            stack.push(n);
                        }
                    }
                }
                sizes.push(size);
            }
        }
    }
    let labels = Array3::from_shape_fn([n0, n1, n2], |(i, j, k)| lab[at(i, j, k)]);
    (labels, sizes)
}

/// Binary mask of the largest connected component (ties: the first in scan order).
pub fn largest_connected_component(mask: &Mask, conn: Connectivity) -> Result<Mask> {
    let (labels, sizes) = connected_components(mask, conn);
    let best = sizes
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(&a.0)))
        .map(|(i, _)| i as u32 + 1)
        .ok_or(PreprocessError::EmptyMask {
            what: "largest connected component",
        })?;
    Ok(Volume {
        data: labels.mapv(|l| u8::from(l == best)),
        geometry: mask.geometry,
    })
}

/// A target grid built step by step from a source grid. Every step only edits the grid; the
/// data is interpolated once by [`GridPlan::apply`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GridPlan {
    pub geometry: Geometry,
    pub shape: [usize; 3],
}

impl GridPlan {
    /// Starts from a volume's own grid (applying it unchanged is the identity).
    pub fn from_volume<T>(vol: &Volume<T>) -> Self {
        let s = vol.data.shape();
        Self {
            geometry: vol.geometry,
            shape: [s[0], s[1], s[2]],
        }
    }

    /// Restricts the grid to the world bounding box of `mask`'s non-zero voxels (the mask may
    /// be on any grid), grown by `margin_mm`.
    pub fn crop_to_mask(mut self, mask: &Mask, margin_mm: f64) -> Result<Self> {
        if !(margin_mm.is_finite() && margin_mm >= 0.0) {
            return Err(PreprocessError::InvalidArgument {
                name: "margin_mm",
                reason: format!("{margin_mm} must be finite and >= 0"),
            });
        }
        let (lo, hi) = mask.bounding_box().ok_or(PreprocessError::EmptyMask {
            what: "crop to mask",
        })?;
        let mut a = [f64::INFINITY; 3];
        let mut b = [f64::NEG_INFINITY; 3];
        for corner in 0..8 {
            let idx = [
                if corner & 1 != 0 { hi[0] } else { lo[0] } as f64,
                if corner & 2 != 0 { hi[1] } else { lo[1] } as f64,
                if corner & 4 != 0 { hi[2] } else { lo[2] } as f64,
            ];
            let c = self
                .geometry
                .world_to_index(mask.geometry.index_to_world(idx));
            for ax in 0..3 {
                a[ax] = a[ax].min(c[ax]);
                b[ax] = b[ax].max(c[ax]);
            }
        }
        let mut start = [0i64; 3];
        let mut shape = [0usize; 3];
        for ax in 0..3 {
            let m = margin_mm / self.geometry.spacing[ax];
            let s0 = ((a[ax] - m + 1e-6).floor() as i64).max(0);
            let e0 = ((b[ax] + m - 1e-6).ceil() as i64).min(self.shape[ax] as i64 - 1);
            if e0 < s0 {
                return Err(PreprocessError::NoOverlap {
                    shape: self.shape,
                    lo: a,
                    hi: b,
                    input_shape: self.shape,
                });
            }
            start[ax] = s0;
            shape[ax] = (e0 - s0 + 1) as usize;
        }
        self.geometry.origin =
            self.geometry
                .index_to_world([start[0] as f64, start[1] as f64, start[2] as f64]);
        self.shape = shape;
        Ok(self)
    }

    /// Grows the grid by whole voxels.
    pub fn pad(mut self, before: [usize; 3], after: [usize; 3]) -> Self {
        self.geometry.origin = self.geometry.index_to_world([
            -(before[0] as f64),
            -(before[1] as f64),
            -(before[2] as f64),
        ]);
        for a in 0..3 {
            self.shape[a] += before[a] + after[a];
        }
        self
    }

    /// Changes the spacing with a grid convention (see [`resample::output_grid`]).
    pub fn respace(mut self, spacing: [f64; 3], grid: GridMode) -> Result<Self> {
        let (g, s) = resample::output_grid(&self.geometry, self.shape, spacing, grid)?;
        self.geometry = g;
        self.shape = s;
        Ok(self)
    }

    /// Permutes/flips the grid axes so they point to `codes` (e.g. "RAS") in `space`; same
    /// voxel centres, so nearest-neighbour application is exact.
    pub fn reorient(mut self, codes: &str, space: Space) -> Result<Self> {
        // Reorienting a 2x2x2 stand-in gives the permuted geometry for a 2-voxel grid; the
        // axis permutation is read off its direction.
        let probe = Volume::filled([2, 2, 2], 0u8, self.geometry)?.reorient(codes, space)?;
        let d_old = self.geometry.direction;
        let d_new = probe.geometry.direction;
        let mut shape = [0usize; 3];
        let mut corner = [0.0f64; 3];
        let mut spacing = [0.0f64; 3];
        for t in 0..3 {
            // Source axis whose direction column is parallel to the new column t.
            let (src, dot) = (0..3)
                .map(|c| (c, (0..3).map(|r| d_old[r][c] * d_new[r][t]).sum::<f64>()))
                .max_by(|x, y| x.1.abs().total_cmp(&y.1.abs()))
                .unwrap_or((t, 1.0));
            shape[t] = self.shape[src];
            spacing[t] = self.geometry.spacing[src];
            if dot < 0.0 {
                corner[src] = self.shape[src] as f64 - 1.0;
            }
        }
        let origin = self.geometry.index_to_world(corner);
        self.geometry = Geometry::new(spacing, origin, d_new, Space::Lps)?;
        self.shape = shape;
        Ok(self)
    }

    /// Interpolates `vol` once onto the planned grid.
    pub fn apply(&self, vol: &Volume<f32>, opts: &ResampleOptions) -> Result<Volume<f32>> {
        resample::resample_with(vol, &self.geometry, self.shape, opts)
    }

    /// Resamples a mask once onto the planned grid.
    pub fn apply_mask(&self, mask: &Mask, how: MaskInterp) -> Result<Mask> {
        resample::resample_mask(mask, &self.geometry, self.shape, how)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resample::Interp;

    fn geom() -> Geometry {
        Geometry::new(
            [0.5, 1.0, 2.0],
            [10.0, -5.0, 3.0],
            [[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]],
            Space::Lps,
        )
        .unwrap()
    }

    /// The physical crop equals the voxel crop where the window is already `out` voxels, and
    /// at half the spacing covers the same region: a linear ramp along each axis is
    /// reproduced at the coarse grid's voxel centres (linear interpolation of a linear
    /// function is exact).
    #[test]
    fn crop_in_mm_is_spacing_independent() {
        let ramp = |sp: f64, n: usize| {
            let g = Geometry::new([sp; 3], [0.0; 3], Geometry::default().direction, Space::Lps)
                .unwrap();
            let mut v = Volume::filled([n; 3], 0.0f32, g).unwrap();
            for ((i, j, k), x) in v.data.indexed_iter_mut() {
                let w = g.index_to_world([i as f64, j as f64, k as f64]);
                *x = (w[0] + 2.0 * w[1] - 0.5 * w[2]) as f32;
            }
            let mut m = Volume::filled([n; 3], 0u8, g).unwrap();
            // Organ centred at 20 mm on every axis.
            let c = (20.0 / sp).round() as usize;
            m.data[[c, c, c]] = 1;
            (v, m)
        };
        let (v2, m2) = ramp(2.0, 24);
        let a = crop_around_mask_mm(&v2, &m2, [16.0; 3], [8; 3]).unwrap();
        assert_eq!(a.data, crop_around_mask(&v2, &m2, [8; 3]).unwrap().data);
        let (v1, m1) = ramp(1.0, 48);
        let b = crop_around_mask_mm(&v1, &m1, [16.0; 3], [8; 3]).unwrap();
        assert_eq!(b.shape(), [8; 3]);
        assert_eq!(b.geometry.spacing, [2.0; 3]);
        for ((i, j, k), x) in b.data.indexed_iter() {
            let w = b.geometry.index_to_world([i as f64, j as f64, k as f64]);
            let want = (w[0] + 2.0 * w[1] - 0.5 * w[2]) as f32;
            assert!((x - want).abs() < 1e-3, "{x} vs {want}");
        }
        // Both windows cover 16 mm around the organ: their centres agree within a fine voxel.
        let centre = |v: &Volume<f32>| v.geometry.index_to_world([3.5; 3]);
        let (ca, cb) = (centre(&a), centre(&b));
        assert!(
            (0..3).all(|t| (ca[t] - cb[t]).abs() <= 1.0),
            "{ca:?} {cb:?}"
        );
        let e = crop_around_mask_mm(&v1, &m1, [0.0, 16.0, 16.0], [8; 3]).unwrap_err();
        assert!(e.to_string().contains("crop_mm"), "{e}");
    }

    /// Two blobs: 6-connectivity sees the diagonal pair as separate, 26 joins them.
    #[test]
    fn lcc_connectivity() {
        let mut m = Volume::filled([5, 5, 5], 0u8, Geometry::default()).unwrap();
        m.data[[0, 0, 0]] = 1;
        m.data[[1, 1, 1]] = 1;
        m.data[[3, 3, 3]] = 1;
        m.data[[3, 3, 4]] = 1;
        let l6 = largest_connected_component(&m, Connectivity::Six).unwrap();
        assert_eq!(l6.count_nonzero(), 2);
        assert_eq!(l6.data[[3, 3, 4]], 1);
        let (_, sizes) = connected_components(&m, Connectivity::TwentySix);
        assert_eq!(sizes, vec![2, 2]);
        let (_, sizes) = connected_components(&m, Connectivity::Six);
        assert_eq!(sizes, vec![1, 1, 2]);
    }

    /// The padded flat labelling equals a bounds-checked flood fill over the 3D indices
    /// (labels in scan order, sizes) on random masks touching every face, both connectivities.
    #[test]
    fn components_equal_a_bounds_checked_flood_fill() {
        fn naive(m: &Mask, six: bool) -> (Array3<u32>, Vec<usize>) {
            let [n0, n1, n2] = m.shape();
            let mut labels = Array3::<u32>::zeros([n0, n1, n2]);
            let mut sizes = Vec::new();
            for start in m
                .data
                .indexed_iter()
                .filter(|(_, v)| **v != 0)
                .map(|(p, _)| p)
            {
                if labels[start] != 0 {
                    continue;
                }
                let label = sizes.len() as u32 + 1;
                labels[start] = label;
                let mut stack = vec![start];
                let mut size = 0;
                while let Some((i, j, k)) = stack.pop() {
                    size += 1;
                    for a in -1i64..=1 {
                        for b in -1i64..=1 {
                            for c in -1i64..=1 {
                                let t = a.abs() + b.abs() + c.abs();
                                if t == 0 || (six && t > 1) {
                                    continue;
                                }
                                let q = (i as i64 + a, j as i64 + b, k as i64 + c);
                                if q.0 < 0 || q.1 < 0 || q.2 < 0 {
                                    continue;
                                }
                                let q = (q.0 as usize, q.1 as usize, q.2 as usize);
                                if q.0 < n0
                                    && q.1 < n1
                                    && q.2 < n2
                                    && m.data[q] != 0
                                    && labels[q] == 0
                                {
                                    labels[q] = label;
                                    stack.push(q);
                                }
                            }
                        }
                    }
                }
                sizes.push(size);
            }
            (labels, sizes)
        }
        let mut st = 11u64;
        for (shape, density) in [
            ([7, 9, 5], 30u64),
            ([12, 6, 10], 45),
            ([1, 8, 8], 50),
            ([5, 5, 5], 70),
        ] {
            let mut m = Volume::filled(shape, 0u8, Geometry::default()).unwrap();
            for v in m.data.iter_mut() {
                st = st
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                *v = u8::from((st >> 33) % 100 < density);
            }
            for (conn, six) in [(Connectivity::Six, true), (Connectivity::TwentySix, false)] {
                assert_eq!(
                    connected_components(&m, conn),
                    naive(&m, six),
                    "{shape:?} {conn:?}"
                );
            }
        }
    }

    /// Crop, pad and reorient planned on the grid and applied once with nearest neighbour
    /// equal the same steps done directly on the data (exact operations).
    #[test]
    fn plan_equals_direct_steps() {
        let g = geom();
        let shape = [6, 7, 8];
        let v: Vec<f32> = (0..shape.iter().product::<usize>())
            .map(|x| x as f32)
            .collect();
        let vol = Volume::from_vec_c(shape, v, g).unwrap();
        let mut mask = Volume::filled(shape, 0u8, g).unwrap();
        mask.data[[2, 3, 4]] = 1;
        mask.data[[3, 4, 4]] = 1;
        // Padding only reaches outside the input when applied to the whole volume.
        let direct = pad(&vol, [1, 0, 2], [0, 1, 1], 0.0).unwrap();
        let direct =
            crop_to_mask(&direct, &pad(&mask, [1, 0, 2], [0, 1, 1], 0).unwrap(), 1.0).unwrap();
        let direct = direct.reorient("RAS", Space::Ras).unwrap();
        let plan = GridPlan::from_volume(&vol)
            .pad([1, 0, 2], [0, 1, 1])
            .crop_to_mask(&mask, 1.0)
            .unwrap()
            .reorient("RAS", Space::Ras)
            .unwrap();
        assert_eq!(plan.shape, direct.shape());
        plan.geometry
            .compare(&direct.geometry, &Default::default())
            .unwrap();
        let once = plan
            .apply(&vol, &ResampleOptions::new(Interp::Nearest))
            .unwrap();
        assert_eq!(once.data, direct.data);
        let lin = plan
            .apply(&vol, &ResampleOptions::new(Interp::Linear))
            .unwrap();
        let md = lin
            .data
            .iter()
            .zip(direct.data.iter())
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(md < 1e-3, "{md}");
    }

    /// The crop around a mask equals direct indexing: window start = centre - size/2 clamped
    /// into the grid, and on a short axis the whole axis padded with the minimum.
    #[test]
    fn crop_around_mask_matches_naive_indexing() {
        let g = Geometry::with_spacing([1.0, 1.0, 1.0]).unwrap();
        let shape = [20, 12, 6];
        let mut v = Volume::filled(shape, 0.0f32, g).unwrap();
        for ((i, j, k), x) in v.data.indexed_iter_mut() {
            *x = (i * 100 + j * 10 + k) as f32 + 1.0;
        }
        let mut m = Mask::filled(shape, 0, g).unwrap();
        // One component filling [15..=18, 2..=3, 1..=4]: centre (16, 2, 2); a stray voxel far
        // away (another component) does not move it.
        for i in 15..=18 {
            for j in 2..=3 {
                for k in 1..=4 {
                    m.data[[i, j, k]] = 1;
                }
            }
        }
        let size = [8, 8, 10];
        let c = crop_around_mask(&v, &m, size).unwrap();
        m.data[[0, 11, 0]] = 1;
        assert_eq!(crop_around_mask(&v, &m, size).unwrap().data, c.data);
        assert_eq!(c.shape(), size);
        // Axis 0: start min(16 - 4, 20 - 8) = 12; axis 1: start 0 (2 - 4 saturates);
        // axis 2: 6 < 10, whole axis with 2 padded voxels before and after.
        for ((a, b, cc), &x) in c.data.indexed_iter() {
            let want = if (2..8).contains(&cc) {
                v.data[[12 + a, b, cc - 2]]
            } else {
                1.0
            };
            assert_eq!(x, want, "{a} {b} {cc}");
        }
    }
}
