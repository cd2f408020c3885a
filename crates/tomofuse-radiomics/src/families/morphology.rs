//! Morphological features (IBSI 3.1): mesh-based volume and area, shape ratios, PCA axes,
//! bounding volumes (AABB, approximate enclosing ellipsoid, convex hull), integrated
//! intensity, Moran's I and Geary's C.

use crate::mesh::{self, convex_hull, cross, dot, hull_candidates, norm, sub};
use crate::roi::Roi;
use crate::settings::{Convention, Naming, Settings};
use crate::{Feature, FeatureFamily};
use rayon::prelude::*;
use std::f64::consts::PI;

pub struct Morphology;

const FAM: &str = "morphology";

/// Eigenvalues (descending) of a symmetric 3x3 matrix (trigonometric closed form).
pub fn sym_eigenvalues(m: [[f64; 3]; 3]) -> [f64; 3] {
    let p1 = m[0][1].powi(2) + m[0][2].powi(2) + m[1][2].powi(2);
    let q = (m[0][0] + m[1][1] + m[2][2]) / 3.0;
    if p1 == 0.0 {
        let mut e = [m[0][0], m[1][1], m[2][2]];
        e.sort_by(|a, b| b.total_cmp(a));
        return e;
    }
    let p2 = (m[0][0] - q).powi(2) + (m[1][1] - q).powi(2) + (m[2][2] - q).powi(2) + 2.0 * p1;
    let p = (p2 / 6.0).sqrt();
    let mut b = m;
    for (i, row) in b.iter_mut().enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            *v = (m[i][j] - if i == j { q } else { 0.0 }) / p;
        }
    }
    let det = b[0][0] * (b[1][1] * b[2][2] - b[1][2] * b[2][1])
        - b[0][1] * (b[1][0] * b[2][2] - b[1][2] * b[2][0])
        + b[0][2] * (b[1][0] * b[2][1] - b[1][1] * b[2][0]);
    let r = (det / 2.0).clamp(-1.0, 1.0);
    let phi = r.acos() / 3.0;
    let e1 = q + 2.0 * p * phi.cos();
    let e3 = q + 2.0 * p * (phi + 2.0 * PI / 3.0).cos();
    let e2 = 3.0 * q - e1 - e3;
    [e1, e2, e3]
}

/// Surface area of an ellipsoid with semi-axes a >= b >= c (IBSI's Legendre series).
pub fn ellipsoid_area(a: f64, b: f64, c: f64) -> f64 {
    let al = (1.0 - (b / a).powi(2)).max(0.0).sqrt();
    let be = (1.0 - (c / a).powi(2)).max(0.0).sqrt();
    let ab = al * be;
    if ab < 1e-12 {
        return 4.0 * PI * a * b;
    }
    let x = (al * al + be * be) / (2.0 * ab);
    let (mut p_prev, mut p) = (1.0, x);
    let mut s = 1.0; // nu = 0
    for nu in 1..=20 {
        if nu > 1 {
            let n = (nu - 1) as f64;
            let next = ((2.0 * n + 1.0) * x * p - n * p_prev) / (n + 1.0);
            p_prev = p;
            p = next;
        }
        let nuf = nu as f64;
        s += ab.powi(nu) / (1.0 - 4.0 * nuf * nuf) * p;
    }
    4.0 * PI * a * b * s
}

/// Moran's I and Geary's C over the intensity mask with inverse-distance weights, exact:
/// the pair sums are spatial autocorrelations computed by FFT (see `fft3`). Small ROIs use
/// the direct O(N^2) sum, which also cross-checks the FFT path in the tests.
pub fn moran_geary(roi: &Roi) -> Result<(f64, f64), String> {
    let n = roi.values.len();
    if n < 2 {
        return Err("fewer than two voxels in the intensity mask".into());
    }
    let mean = roi.values.iter().sum::<f64>() / n as f64;
    let a: Vec<f64> = roi
        .img
        .iter()
        .zip(&roi.int_mask)
        .map(|(v, m)| if *m { v - mean } else { 0.0 })
        .collect();
    let ss: f64 = a.iter().map(|x| x * x).sum();
    let (msum, wsum, gsum) = if n <= 2000 {
        moran_direct(roi, &a)
    } else {
        moran_fft(roi, &a)
            .ok_or_else(|| "ROI bounding box too large for the FFT autocorrelation".to_string())?
    };
    if ss <= 0.0 || wsum <= 0.0 {
        return Err("constant intensities: Moran's I and Geary's C are undefined".into());
    }
    let nf = n as f64;
    let moran = nf / wsum * msum / ss;
    let geary = (nf - 1.0) / (2.0 * wsum) * (2.0 * gsum - 2.0 * msum) / ss;
    Ok((moran, geary))
}

/// The pair sums of [`moran_direct`] by FFT autocorrelation on the intensity mask's tight
/// bounding box (see `fft3`); None when the padded grid would be too large.
pub fn moran_fft(roi: &Roi, a: &[f64]) -> Option<(f64, f64, f64)> {
    // Tight bounding box of the intensity mask: the FFT grid is twice its size.
    let Some((lo, hi)) = roi.int_mask_bounds() else {
        return Some((0.0, 0.0, 0.0));
    };
    let bd = [hi[0] - lo[0] + 1, hi[1] - lo[1] + 1, hi[2] - lo[2] + 1];
    let mut ab = Vec::with_capacity(bd[0] * bd[1] * bd[2]);
    let mut mb = Vec::with_capacity(ab.capacity());
    for z in lo[0]..=hi[0] {
        for y in lo[1]..=hi[1] {
            for x in lo[2]..=hi[2] {
                let id = roi.idx(z, y, x);
                ab.push(a[id]);
                mb.push(f64::from(u8::from(roi.int_mask[id])));
            }
        }
    }
    crate::fft3::weighted_sums(&ab, &mb, bd, roi.spacing)
}

/// Direct pair sums (sum w a_i a_j, sum w, sum a_i^2 W_i) over ordered pairs i != j.
pub fn moran_direct(roi: &Roi, a: &[f64]) -> (f64, f64, f64) {
    let [nz, ny, nx] = roi.dims;
    let sp = roi.spacing;
    let mut pts = Vec::new();
    for z in 0..nz {
        for y in 0..ny {
            for x in 0..nx {
                let id = roi.idx(z, y, x);
                if roi.int_mask[id] {
                    pts.push((
                        [z as f64 * sp[0], y as f64 * sp[1], x as f64 * sp[2]],
                        a[id],
                    ));
                }
            }
        }
    }
    let per: Vec<(f64, f64, f64)> = pts
        .par_iter()
        .map(|(pi, ai)| {
            let (mut wi, mut si) = (0.0, 0.0);
            for (pj, aj) in &pts {
                let d = norm(sub(*pi, *pj));
                if d > 0.0 {
                    wi += 1.0 / d;
                    si += aj / d;
                }
            }
            (ai * si, wi, ai * ai * wi)
        })
        .collect();
    // Sequential sum: the same input gives the same bits whatever the thread count.
    per.iter()
        .fold((0.0, 0.0, 0.0), |x, y| (x.0 + y.0, x.1 + y.1, x.2 + y.2))
}

impl FeatureFamily for Morphology {
    fn name(&self) -> &'static str {
        FAM
    }
    fn enabled(&self, s: &Settings) -> bool {
        s.families.morphology
    }
    fn compute(&self, roi: &Roi, s: &Settings) -> Vec<Feature> {
        let conv = s.convention();
        if conv.naming == Naming::Pyradiomics {
            return pyradiomics_shape(roi, &conv);
        }
        // Moran's I / Geary's C (the largest part) beside the mesh-based features.
        let (mg, (mut out, mesh_ok)) = rayon::join(
            || s.families.moran_geary.then(|| moran_geary(roi)),
            || mesh_features(roi),
        );
        if let (Some(mg), true) = (mg, mesh_ok) {
            match mg {
                Ok((mi, gc)) => {
                    out.push(Feature::new(FAM, "morph_moran_i", None, mi));
                    out.push(Feature::new(FAM, "morph_geary_c", None, gc));
                }
                Err(e) => {
                    out.push(Feature::failed(FAM, "morph_moran_i", None, &e));
                    out.push(Feature::failed(FAM, "morph_geary_c", None, &e));
                }
            }
        }
        out
    }
}

/// Every morphology feature but Moran's I and Geary's C; false when the mask is empty (then
/// the one feature is a failure and nothing else is computed).
fn mesh_features(roi: &Roi) -> (Vec<Feature>, bool) {
    {
        let mut out = Vec::new();
        let f = |t: &str, v: f64| Feature::new(FAM, t, None, v);
        let [nz, ny, nx] = roi.dims;
        let sp = roi.spacing;
        let voxvol = sp[0] * sp[1] * sp[2];
        let nmorph = roi.morph.iter().filter(|&&m| m).count();
        let Some(m) = mesh::mesh(&roi.morph, roi.dims, sp) else {
            return (
                vec![Feature::failed(
                    FAM,
                    "morph_volume",
                    None,
                    "empty morphological mask",
                )],
                false,
            );
        };
        let (v, a) = (m.volume, m.area);
        out.push(f("morph_volume", v));
        out.push(f("morph_vol_approx", nmorph as f64 * voxvol));
        out.push(f("morph_area_mesh", a));
        out.push(f("morph_av", a / v));
        out.push(f("morph_comp_1", v / (PI.sqrt() * a.powf(1.5))));
        out.push(f("morph_comp_2", 36.0 * PI * v * v / a.powi(3)));
        out.push(f("morph_sph_dispr", a / (36.0 * PI * v * v).cbrt()));
        out.push(f("morph_sphericity", (36.0 * PI * v * v).cbrt() / a));
        out.push(f(
            "morph_asphericity",
            (a.powi(3) / (36.0 * PI * v * v)).cbrt() - 1.0,
        ));

        // Centre of mass shift: geometric (morphological mask) vs intensity-weighted
        // (intensity mask), in mm.
        let (mut cg, mut ci, mut wsum) = ([0.0; 3], [0.0; 3], 0.0);
        let mut pts = Vec::with_capacity(nmorph);
        for z in 0..nz {
            for y in 0..ny {
                for x in 0..nx {
                    let id = roi.idx(z, y, x);
                    let p = [x as f64 * sp[2], y as f64 * sp[1], z as f64 * sp[0]];
                    if roi.morph[id] {
                        for k in 0..3 {
                            cg[k] += p[k];
                        }
                        pts.push(p);
                    }
                    if roi.int_mask[id] {
                        let w = roi.img[id];
                        for k in 0..3 {
                            ci[k] += w * p[k];
                        }
                        wsum += w;
                    }
                }
            }
        }
        for k in 0..3 {
            cg[k] /= nmorph as f64;
            ci[k] /= wsum;
        }
        out.push(f("morph_com", norm(sub(cg, ci))));

        // Hull candidates: axis-line extremes, then per-plane 2D hull vertices. The
        // maximum diameter is between two hull vertices, so it is searched there.
        let to_mm = |p: [i64; 3]| {
            [
                p[0] as f64 / 2.0 * sp[2],
                p[1] as f64 / 2.0 * sp[1],
                p[2] as f64 / 2.0 * sp[0],
            ]
        };
        let cand = mesh::hull_prefilter_3d(&hull_candidates(&m.vertices));
        let hull = convex_hull(&cand);
        let diam_pts: Vec<[i64; 3]> = match &hull {
            Some(faces) => {
                let mut v: Vec<[i64; 3]> = faces.iter().flatten().copied().collect();
                v.sort_unstable();
                v.dedup();
                v
            }
            None => cand.clone(),
        };
        let cmm: Vec<[f64; 3]> = diam_pts.iter().map(|&p| to_mm(p)).collect();
        let diam2 = (0..cmm.len())
            .into_par_iter()
            .map(|i| {
                let mut best = 0.0f64;
                for j in i + 1..cmm.len() {
                    let d = sub(cmm[i], cmm[j]);
                    best = best.max(dot(d, d));
                }
                best
            })
            .reduce(|| 0.0, f64::max);
        out.push(f("morph_diam", diam2.sqrt()));

        // PCA of the morphological voxel centres (sample covariance, N-1).
        let ev = pca_eigenvalues(&pts, cg, &Convention::IBSI);
        let (l1, l2, l3) = (ev[0].max(0.0), ev[1].max(0.0), ev[2].max(0.0));
        out.push(f("morph_pca_maj_axis", 4.0 * l1.sqrt()));
        out.push(f("morph_pca_min_axis", 4.0 * l2.sqrt()));
        out.push(f("morph_pca_least_axis", 4.0 * l3.sqrt()));
        out.push(f("morph_pca_elongation", (l2 / l1).sqrt()));
        out.push(f("morph_pca_flatness", (l3 / l1).sqrt()));

        // Axis-aligned bounding box of the mesh vertices.
        let mut lo = [f64::INFINITY; 3];
        let mut hi = [f64::NEG_INFINITY; 3];
        for &p in &cand {
            let q = to_mm(p);
            for k in 0..3 {
                lo[k] = lo[k].min(q[k]);
                hi[k] = hi[k].max(q[k]);
            }
        }
        let e = sub(hi, lo);
        out.push(f("morph_vol_dens_aabb", v / (e[0] * e[1] * e[2])));
        out.push(f(
            "morph_area_dens_aabb",
            a / (2.0 * (e[0] * e[1] + e[0] * e[2] + e[1] * e[2])),
        ));
        out.push(Feature::failed(
            FAM,
            "morph_vol_dens_ombb",
            None,
            "OMBB not implemented (no IBSI reference value)",
        ));
        out.push(Feature::failed(
            FAM,
            "morph_area_dens_ombb",
            None,
            "OMBB not implemented (no IBSI reference value)",
        ));
        let (sa, sb, sc) = (2.0 * l1.sqrt(), 2.0 * l2.sqrt(), 2.0 * l3.sqrt());
        out.push(f("morph_vol_dens_aee", 3.0 * v / (4.0 * PI * sa * sb * sc)));
        out.push(f("morph_area_dens_aee", a / ellipsoid_area(sa, sb, sc)));
        out.push(Feature::failed(
            FAM,
            "morph_vol_dens_mvee",
            None,
            "MVEE not implemented (no IBSI reference value)",
        ));
        out.push(Feature::failed(
            FAM,
            "morph_area_dens_mvee",
            None,
            "MVEE not implemented (no IBSI reference value)",
        ));

        match hull {
            Some(faces) => {
                let (mut hv, mut ha) = (0.0, 0.0);
                let c0 = to_mm(cand[0]);
                for t in &faces {
                    let (p, q, r) = (
                        sub(to_mm(t[0]), c0),
                        sub(to_mm(t[1]), c0),
                        sub(to_mm(t[2]), c0),
                    );
                    hv += dot(p, cross(q, r)) / 6.0;
                    ha += 0.5 * norm(cross(sub(q, p), sub(r, p)));
                }
                out.push(f("morph_vol_dens_conv_hull", v / hv));
                out.push(f("morph_area_dens_conv_hull", a / ha));
            }
            None => {
                out.push(Feature::failed(
                    FAM,
                    "morph_vol_dens_conv_hull",
                    None,
                    "flat ROI: convex hull has no volume",
                ));
                out.push(Feature::failed(
                    FAM,
                    "morph_area_dens_conv_hull",
                    None,
                    "flat ROI: convex hull has no volume",
                ));
            }
        }
        let mean = roi.values.iter().sum::<f64>() / roi.values.len() as f64;
        out.push(f("morph_integ_int", mean * v));
        (out, true)
    }
}

/// Eigenvalues (descending) of the covariance of `pts` about `centre`, divided by N - 1
/// (IBSI) or N (PyRadiomics, [`Convention::pca_population`]).
pub fn pca_eigenvalues(pts: &[[f64; 3]], centre: [f64; 3], conv: &Convention) -> [f64; 3] {
    let mut cov = [[0.0; 3]; 3];
    for p in pts {
        let d = sub(*p, centre);
        for r in 0..3 {
            for c in 0..3 {
                cov[r][c] += d[r] * d[c];
            }
        }
    }
    let n = pts.len() as f64;
    let denom = if conv.pca_population {
        n.max(1.0)
    } else {
        (n - 1.0).max(1.0)
    };
    for row in cov.iter_mut() {
        for x in row.iter_mut() {
            *x /= denom;
        }
    }
    sym_eigenvalues(cov)
}

/// PyRadiomics' shape features, in its output order.
pub const PYRADIOMICS_SHAPE: [&str; 14] = [
    "Elongation",
    "Flatness",
    "LeastAxisLength",
    "MajorAxisLength",
    "Maximum2DDiameterColumn",
    "Maximum2DDiameterRow",
    "Maximum2DDiameterSlice",
    "Maximum3DDiameter",
    "MeshVolume",
    "MinorAxisLength",
    "Sphericity",
    "SurfaceArea",
    "SurfaceVolumeRatio",
    "VoxelVolume",
];

/// PyRadiomics' shape class: volume and area from its own mesh
/// ([`crate::mesh_pyradiomics`]), diameters over the mesh vertices (3D and per slice, column
/// and row plane), PCA axes `4 sqrt(lambda)` of the voxel centres. IBSI codes are kept where
/// the feature is IBSI's (the 2D diameters and the voxel volume have none).
fn pyradiomics_shape(roi: &Roi, conv: &Convention) -> Vec<Feature> {
    let c = "shape";
    let sp = roi.spacing;
    let Some(m) = crate::mesh_pyradiomics::mesh(&roi.morph, roi.dims, sp) else {
        return vec![Feature::failed(
            FAM,
            "morph_volume",
            None,
            "empty morphological mask",
        )];
    };
    let (area, volume) = (m.area, m.volume);
    let diam = pyradiomics_diameters(&m.vertices, sp);
    let [nz, ny, nx] = roi.dims;
    let mut pts = Vec::new();
    let mut centre = [0.0; 3];
    for z in 0..nz {
        for y in 0..ny {
            for x in 0..nx {
                if roi.morph[roi.idx(z, y, x)] {
                    let p = [z as f64 * sp[0], y as f64 * sp[1], x as f64 * sp[2]];
                    for k in 0..3 {
                        centre[k] += p[k];
                    }
                    pts.push(p);
                }
            }
        }
    }
    let np = pts.len() as f64;
    for v in centre.iter_mut() {
        *v /= np;
    }
    // Rounding can make a zero eigenvalue (a flat ROI) slightly negative.
    let e =
        pca_eigenvalues(&pts, centre, conv).map(|v| if v < 0.0 && v > -1e-10 { 0.0 } else { v });
    let ax = |v: f64| if v < 0.0 { f64::NAN } else { 4.0 * v.sqrt() };
    let ratio = |a: f64, b: f64| {
        if a < 0.0 || b < 0.0 {
            f64::NAN
        } else {
            (a / b).sqrt()
        }
    };
    let sph = (36.0 * PI * volume * volume).cbrt() / area;
    let f = |name: &str, base: &str, v: f64| Feature::pyradiomics(c, name, base, None, v);
    vec![
        f("Elongation", "morph_pca_elongation", ratio(e[1], e[0])),
        f("Flatness", "morph_pca_flatness", ratio(e[2], e[0])),
        f("LeastAxisLength", "morph_pca_least_axis", ax(e[2])),
        f("MajorAxisLength", "morph_pca_maj_axis", ax(e[0])),
        f("Maximum2DDiameterColumn", "", diam[1]),
        f("Maximum2DDiameterRow", "", diam[2]),
        f("Maximum2DDiameterSlice", "", diam[0]),
        f("Maximum3DDiameter", "morph_diam", diam[3]),
        f("MeshVolume", "morph_volume", volume),
        f("MinorAxisLength", "morph_pca_min_axis", ax(e[1])),
        f("Sphericity", "morph_sphericity", sph),
        f("SurfaceArea", "morph_area_mesh", area),
        f("SurfaceVolumeRatio", "morph_av", area / volume),
        f(
            "VoxelVolume",
            "morph_vol_approx",
            np * sp[0] * sp[1] * sp[2],
        ),
    ]
}

/// Largest vertex distances: within a slice (same z), column (same y), row (same x), and
/// overall. Farthest pairs are convex-hull vertices, so each set is first reduced to its
/// hull candidates (per-plane 2D hull vertices; for 3D also the 3D hull's vertices).
fn pyradiomics_diameters(verts: &[[i64; 3]], sp: [f64; 3]) -> [f64; 4] {
    let d2 = |a: &[i64; 3], b: &[i64; 3]| -> f64 {
        (0..3)
            .map(|k| ((a[k] - b[k]) as f64 / 2.0 * sp[k]).powi(2))
            .sum()
    };
    let max_pair = |pts: &[[i64; 3]]| -> f64 {
        (0..pts.len())
            .into_par_iter()
            .map(|i| {
                pts[i + 1..]
                    .iter()
                    .map(|q| d2(&pts[i], q))
                    .fold(0.0f64, f64::max)
            })
            .reduce(|| 0.0, f64::max)
    };
    let mut out = [0.0; 4];
    let cand = crate::mesh::hull_prefilter(&crate::mesh::hull_candidates(verts));
    let hull_pts = match crate::mesh::convex_hull(&cand) {
        Some(faces) => {
            let mut v: Vec<[i64; 3]> = faces.iter().flatten().copied().collect();
            v.sort_unstable();
            v.dedup();
            v
        }
        None => cand,
    };
    out[3] = max_pair(&hull_pts).sqrt();
    for axis in 0..3 {
        // Permute so the plane axis is last (hull_prefilter works per last-coordinate plane).
        let (a, b) = ((axis + 1) % 3, (axis + 2) % 3);
        let perm: Vec<[i64; 3]> = verts.iter().map(|v| [v[a], v[b], v[axis]]).collect();
        let per_plane = crate::mesh::hull_prefilter(&perm);
        let back = |q: &[i64; 3]| {
            let mut v = [0i64; 3];
            v[a] = q[0];
            v[b] = q[1];
            v[axis] = q[2];
            v
        };
        let mut best = 0.0f64;
        for plane in per_plane.chunk_by(|x, y| x[2] == y[2]) {
            let pts: Vec<[i64; 3]> = plane.iter().map(back).collect();
            for i in 0..pts.len() {
                for q in &pts[i + 1..] {
                    best = best.max(d2(&pts[i], q));
                }
            }
        }
        out[axis] = best.sqrt();
    }
    out
}
