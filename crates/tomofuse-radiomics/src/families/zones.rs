//! Grey level size zone (IBSI 3.8) and distance zone (IBSI 3.9) matrices. Zones are
//! connected voxels of equal grey level (8-connected in 2D, 26-connected in 3D); counts are
//! kept sparse, so memory grows with the number of distinct (level, size) pairs, not with
//! level x maximum zone size.

use super::texture::{Sparse, dims, emphasis_features, mean_vec, roi_slices, step};
use crate::roi::Roi;
use crate::settings::Settings;
use crate::{Feature, FeatureFamily};
use rayon::prelude::*;

pub struct Glszm;
pub struct Gldzm;

const SZM: [&str; 16] = [
    "sze",
    "lze",
    "lgze",
    "hgze",
    "szlge",
    "szhge",
    "lzlge",
    "lzhge",
    "glnu",
    "glnu_norm",
    "zsnu",
    "zsnu_norm",
    "z_perc",
    "gl_var",
    "zs_var",
    "zs_entr",
];
const DZM: [&str; 16] = [
    "sde",
    "lde",
    "lgze",
    "hgze",
    "sdlge",
    "sdhge",
    "ldlge",
    "ldhge",
    "glnu",
    "glnu_norm",
    "zdnu",
    "zdnu_norm",
    "z_perc",
    "gl_var",
    "zd_var",
    "zd_entr",
];

fn neighbours(d3: bool) -> Vec<[isize; 3]> {
    let mut v = Vec::new();
    let zr = if d3 { -1..=1 } else { 0..=0 };
    for dz in zr {
        for dy in -1..=1 {
            for dx in -1..=1 {
                if (dz, dy, dx) != (0, 0, 0) {
                    v.push([dz, dy, dx]);
                }
            }
        }
    }
    v
}

/// Distance to the ROI edge (IBSI 3.9): 1 for voxels with a face neighbour outside the
/// morphological mask, growing by 1 per face step inward (city-block); 2D uses in-slice
/// neighbours only. 0 outside the mask. Indexed relative to the first voxel of `zs`.
pub fn edge_distance(roi: &Roi, zs: std::ops::Range<usize>, d3: bool) -> Vec<u32> {
    let [nz, ny, nx] = roi.dims;
    let faces: Vec<[isize; 3]> = if d3 {
        vec![
            [1, 0, 0],
            [-1, 0, 0],
            [0, 1, 0],
            [0, -1, 0],
            [0, 0, 1],
            [0, 0, -1],
        ]
    } else {
        vec![[0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]]
    };
    let _ = nz;
    let mask = &roi.morph;
    // Arrays cover only the slices `zs` (a 2D slice never allocates the whole volume).
    let base = zs.start * ny * nx;
    let mut dist = vec![0u32; zs.len() * ny * nx];
    let inside = |id: usize| zs.contains(&(id / (ny * nx)));
    let mut front = Vec::new();
    for z in zs.clone() {
        for y in 0..ny {
            for x in 0..nx {
                let id = (z * ny + y) * nx + x;
                if !mask[id] {
                    continue;
                }
                let edge = faces.iter().any(|&f| match step(roi, z, y, x, f) {
                    Some(n) => !mask[n],
                    None => true,
                });
                if edge {
                    dist[id - base] = 1;
                    front.push(id);
                }
            }
        }
    }
    let mut d = 1;
    while !front.is_empty() {
        let mut next = Vec::new();
        for &id in &front {
            let (z, y, x) = (id / (ny * nx), (id / nx) % ny, id % nx);
            for &f in &faces {
                if let Some(n) = step(roi, z, y, x, f)
                    && inside(n)
                    && mask[n]
                    && dist[n - base] == 0
                {
                    dist[n - base] = d + 1;
                    next.push(n);
                }
            }
        }
        front = next;
        d += 1;
    }
    dist
}

/// Size-zone and distance-zone matrices of the zones in slices `zs`.
pub fn zone_matrices(
    roi: &Roi,
    zs: std::ops::Range<usize>,
    d3: bool,
    want_dist: bool,
) -> (Sparse, Sparse) {
    let [_, ny, nx] = roi.dims;
    let nb = neighbours(d3);
    let dist = if want_dist {
        edge_distance(roi, zs.clone(), d3)
    } else {
        Vec::new()
    };
    let base = zs.start * ny * nx;
    let mut seen = vec![false; zs.len() * ny * nx];
    let (mut szm, mut dzm) = (Sparse::default(), Sparse::default());
    let mut stack = Vec::new();
    let in_range = |id: usize| zs.contains(&(id / (ny * nx)));
    for z in zs.clone() {
        for y in 0..ny {
            for x in 0..nx {
                let id = (z * ny + y) * nx + x;
                let a = roi.gl[id];
                if a == 0 || seen[id - base] {
                    continue;
                }
                seen[id - base] = true;
                stack.push(id);
                let mut size = 0u32;
                let mut dmin = u32::MAX;
                while let Some(c) = stack.pop() {
                    size += 1;
                    if want_dist {
                        dmin = dmin.min(dist[c - base]);
                    }
                    let (cz, cy, cx) = (c / (ny * nx), (c / nx) % ny, c % nx);
                    for &o in &nb {
                        if let Some(n) = step(roi, cz, cy, cx, o)
                            && in_range(n)
                            && !seen[n - base]
                            && roi.gl[n] == a
                        {
                            seen[n - base] = true;
                            stack.push(n);
                        }
                    }
                }
                szm.add(a, size, 1.0);
                szm.nv += size as f64;
                if want_dist {
                    dzm.add(a, dmin.max(1), 1.0);
                    dzm.nv += size as f64;
                }
            }
        }
    }
    (szm, dzm)
}

fn compute_zone(roi: &Roi, s: &Settings, dist: bool) -> Vec<Feature> {
    let (fam, prefix, names) = if dist {
        ("gldzm", "dzm", &DZM)
    } else {
        ("glszm", "szm", &SZM)
    };
    let (d2, d25, d3) = dims(s);
    let mut out = Vec::new();
    let push = |out: &mut Vec<Feature>, v: &[f64; 17], suffix: &str| {
        for (n, x) in names.iter().zip(v) {
            out.push(Feature::new(
                fam,
                &format!("{prefix}_{n}"),
                Some(suffix),
                *x,
            ));
        }
    };
    let pick = |p: (Sparse, Sparse)| if dist { p.1 } else { p.0 };
    if d2 || d25 {
        let ms: Vec<Sparse> = roi_slices(roi)
            .into_par_iter()
            .map(|z| pick(zone_matrices(roi, z..z + 1, false, dist)))
            .collect();
        if d2 {
            let fs: Vec<[f64; 17]> = ms
                .iter()
                .filter(|m| !m.is_empty())
                .map(emphasis_features)
                .collect();
            push(&mut out, &mean_vec(&fs), "2D");
        }
        if d25 {
            let mut all = Sparse::default();
            for m in &ms {
                all.merge(m);
            }
            push(&mut out, &emphasis_features(&all), "2_5D");
        }
    }
    if d3 {
        let m = pick(zone_matrices(roi, 0..roi.dims[0], true, dist));
        push(&mut out, &emphasis_features(&m), "3D");
    }
    out
}

impl FeatureFamily for Glszm {
    fn name(&self) -> &'static str {
        "glszm"
    }
    fn enabled(&self, s: &Settings) -> bool {
        s.families.glszm
    }
    fn compute(&self, roi: &Roi, s: &Settings) -> Vec<Feature> {
        compute_zone(roi, s, false)
    }
}

impl FeatureFamily for Gldzm {
    fn name(&self) -> &'static str {
        "gldzm"
    }
    fn enabled(&self, s: &Settings) -> bool {
        s.families.gldzm
    }
    fn compute(&self, roi: &Roi, s: &Settings) -> Vec<Feature> {
        compute_zone(roi, s, true)
    }
}
