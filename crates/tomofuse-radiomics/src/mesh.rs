//! Surface mesh of a binary mask and its convex hull.
//!
//! The mesh is the marching-cubes isosurface at 0.5 of the zero-padded mask, built cube by
//! cube from face contours: on each cube face the crossings (edge midpoints) are joined so
//! that each inside corner is cut off separately when two inside corners are diagonal (the
//! foreground is 6-connected across faces, the same choice on both sides of every face, so
//! the surface is closed). The contour loops of a cube are fan-triangulated and oriented
//! outward. Vertices live on a half-voxel lattice, kept as exact integers (doubled indices),
//! which makes the convex hull exact.

use rayon::prelude::*;
use std::collections::HashMap;

/// Mesh summary used by the morphology family.
#[derive(Debug, Clone)]
pub struct MeshStats {
    /// Enclosed volume, mm^3.
    pub volume: f64,
    /// Surface area, mm^2.
    pub area: f64,
    /// Unique vertices in doubled index units `[2x, 2y, 2z]` of the padded grid.
    pub vertices: Vec<[i64; 3]>,
}

// Corner c of a cube: bit 0 = x, bit 1 = y, bit 2 = z.
const EDGES: [(usize, usize); 12] = [
    (0, 1),
    (2, 3),
    (4, 5),
    (6, 7),
    (0, 2),
    (1, 3),
    (4, 6),
    (5, 7),
    (0, 4),
    (1, 5),
    (2, 6),
    (3, 7),
];
// The six faces as corner cycles.
const FACES: [[usize; 4]; 6] = [
    [0, 1, 3, 2],
    [4, 5, 7, 6],
    [0, 1, 5, 4],
    [2, 3, 7, 6],
    [0, 2, 6, 4],
    [1, 3, 7, 5],
];

/// How non-planar contour polygons are triangulated and face ambiguities resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MeshOptions {
    /// Join diagonal inside corners on a face (else cut each one off).
    pub join_inside: bool,
    /// 0: fan from the first vertex, 1: the fan enclosing the most volume, 2: the least,
    /// 3: centroid fan, 4: minimum-area triangulation, 5: maximum-volume triangulation.
    pub triangulation: u8,
}

/// The choice that reproduces the IBSI digital-phantom mesh values (and config A's
/// compactness); other choices move the digital phantom's volume out of tolerance.
pub const IBSI_MESH: MeshOptions = MeshOptions {
    join_inside: false,
    triangulation: 5,
};

fn edge_id(a: usize, b: usize) -> usize {
    let (a, b) = if a < b { (a, b) } else { (b, a) };
    EDGES.iter().position(|&e| e == (a, b)).unwrap_or(0)
}

/// Per-configuration contour loops (lists of cube edge ids), precomputed for all 256 cases.
fn loop_table(join_inside: bool) -> Vec<Vec<Vec<usize>>> {
    (0..256usize)
        .map(|case| {
            let inside = |c: usize| case >> c & 1 == 1;
            // segments as pairs of edge ids
            let mut adj: HashMap<usize, Vec<usize>> = HashMap::new();
            for f in FACES {
                let cross: Vec<usize> = (0..4)
                    .filter(|&k| inside(f[k]) != inside(f[(k + 1) % 4]))
                    .collect();
                let mut segs = Vec::new();
                if cross.len() == 2 {
                    let e0 = edge_id(f[cross[0]], f[(cross[0] + 1) % 4]);
                    let e1 = edge_id(f[cross[1]], f[(cross[1] + 1) % 4]);
                    segs.push((e0, e1));
                } else if cross.len() == 4 {
                    // Cut off each outside corner on its own (inside corners joined).
                    for k in 0..4 {
                        if inside(f[k]) != join_inside {
                            let ea = edge_id(f[(k + 3) % 4], f[k]);
                            let eb = edge_id(f[k], f[(k + 1) % 4]);
                            segs.push((ea, eb));
                        }
                    }
                }
                for (a, b) in segs {
                    adj.entry(a).or_default().push(b);
                    adj.entry(b).or_default().push(a);
                }
            }
            let mut loops = Vec::new();
            let mut used: Vec<usize> = Vec::new();
            let mut keys: Vec<usize> = adj.keys().cloned().collect();
            keys.sort_unstable();
            for start in keys {
                if used.contains(&start) {
                    continue;
                }
                let mut lp = vec![start];
                used.push(start);
                let mut prev = usize::MAX;
                let mut cur = start;
                loop {
                    let nexts = &adj[&cur];
                    let next = nexts
                        .iter()
                        .cloned()
                        .find(|&n| n != prev && !used.contains(&n));
                    match next {
                        Some(n) => {
                            lp.push(n);
                            used.push(n);
                            prev = cur;
                            cur = n;
                        }
                        None => break,
                    }
                }
                loops.push(lp);
            }
            loops
        })
        .collect()
}

/// Builds the mesh of `mask` (`[z][y][x]`, dims `[nz, ny, nx]`) with voxel `spacing`
/// `[sz, sy, sx]`. Returns None for an empty mask.
pub fn mesh(mask: &[bool], dims: [usize; 3], spacing: [f64; 3]) -> Option<MeshStats> {
    mesh_with(mask, dims, spacing, IBSI_MESH)
}

/// [`mesh`] with explicit options.
pub fn mesh_with(
    mask: &[bool],
    dims: [usize; 3],
    spacing: [f64; 3],
    opt: MeshOptions,
) -> Option<MeshStats> {
    mesh_core(mask, dims, spacing, opt, false).map(|(m, _)| m)
}

/// One outward-wound triangle in doubled padded-grid index units `[2x, 2y, 2z]`
/// (f64 because centroid fans add non-lattice points).
type LatticeTri = [[f64; 3]; 3];

/// The surface pieces of one cube configuration, in cube-local coordinates.
#[derive(Default)]
struct CaseMesh {
    /// Outward triangles in doubled lattice units relative to the cube's corner 0.
    tris: Vec<LatticeTri>,
    /// Total triangle area, mm^2 (translation invariant).
    area: f64,
    /// `sum dot(a, b x c)` of the triangles in mm relative to corner 0, and
    /// `sum (b x c + c x a + a x b)`: a cube at mm offset `o` adds `(v0 + o . n) / 6` volume.
    v0: f64,
    n: [f64; 3],
}

/// Triangulates every cube configuration once. The choice between triangulations compares
/// enclosed volumes (or areas) of polygons sharing one boundary, which do not depend on where
/// the cube is, so a per-configuration table gives the same mesh as a per-cube choice.
fn case_table(spacing: [f64; 3], opt: MeshOptions) -> Vec<CaseMesh> {
    let loops = loop_table(opt.join_inside);
    let corner = |c: usize| -> [i64; 3] {
        [
            2 * (c & 1) as i64,
            2 * (c >> 1 & 1) as i64,
            2 * (c >> 2 & 1) as i64,
        ]
    };
    // Lattice (x, y, z) -> mm (x, y, z).
    let to_mm = |p: [f64; 3]| {
        [
            p[0] / 2.0 * spacing[2],
            p[1] / 2.0 * spacing[1],
            p[2] / 2.0 * spacing[0],
        ]
    };
    (0..256usize)
        .map(|case| {
            let mut cm = CaseMesh::default();
            for lp in &loops[case] {
                // Doubled-lattice vertex of each edge midpoint.
                let pts: Vec<[i64; 3]> = lp
                    .iter()
                    .map(|&e| {
                        let (a, b) = EDGES[e];
                        let (pa, pb) = (corner(a), corner(b));
                        [
                            (pa[0] + pb[0]) / 2,
                            (pa[1] + pb[1]) / 2,
                            (pa[2] + pb[2]) / 2,
                        ]
                    })
                    .collect();
                // Outward direction: from inside corners to outside corners.
                let mut dir = [0.0; 3];
                for &e in lp {
                    let (a, b) = EDGES[e];
                    let (inn, out) = if case >> a & 1 == 1 { (a, b) } else { (b, a) };
                    let (pi, po) = (corner(inn), corner(out));
                    for k in 0..3 {
                        dir[k] += (po[k] - pi[k]) as f64;
                    }
                }
                let mut lat: Vec<[f64; 3]> = pts
                    .iter()
                    .map(|p| [p[0] as f64, p[1] as f64, p[2] as f64])
                    .collect();
                let mut mm: Vec<[f64; 3]> = lat.iter().map(|&p| to_mm(p)).collect();
                // Newell normal (in index units) decides the winding.
                let mut nrm = [0.0; 3];
                for k in 0..pts.len() {
                    let a = pts[k];
                    let b = pts[(k + 1) % pts.len()];
                    nrm[0] += ((a[1] - b[1]) * (a[2] + b[2])) as f64;
                    nrm[1] += ((a[2] - b[2]) * (a[0] + b[0])) as f64;
                    nrm[2] += ((a[0] - b[0]) * (a[1] + b[1])) as f64;
                }
                let flip = nrm[0] * dir[0] + nrm[1] * dir[1] + nrm[2] * dir[2] < 0.0;
                let np = mm.len();
                let sv = |tr: &[[usize; 3]]| -> f64 {
                    tr.iter()
                        .map(|&[a, b, c]| {
                            let v = dot(mm[a], cross(mm[b], mm[c]));
                            if flip { -v } else { v }
                        })
                        .sum()
                };
                let tris: Vec<[usize; 3]> = if opt.triangulation >= 4 && np > 3 {
                    dp_triangulation(&mm, flip, opt.triangulation)
                } else if np <= 4 || opt.triangulation != 3 {
                    let mut best: Vec<[usize; 3]> = Vec::new();
                    let mut bv = f64::NEG_INFINITY;
                    for o in 0..np {
                        let tr: Vec<[usize; 3]> = (1..np - 1)
                            .map(|t| [o, (o + t) % np, (o + t + 1) % np])
                            .collect();
                        let v = match opt.triangulation {
                            0 => -(o as f64),
                            1 => sv(&tr),
                            _ => -sv(&tr),
                        };
                        if v > bv + 1e-9 {
                            bv = v;
                            best = tr;
                        }
                    }
                    best
                } else {
                    let (mut c, mut cl) = ([0.0; 3], [0.0; 3]);
                    for (p, q) in mm.iter().zip(&lat) {
                        for k in 0..3 {
                            c[k] += p[k] / np as f64;
                            cl[k] += q[k] / np as f64;
                        }
                    }
                    mm.push(c);
                    lat.push(cl);
                    (0..np).map(|t| [np, t, (t + 1) % np]).collect()
                };
                for [a, b0, c0] in tris {
                    let (b, c) = if flip { (c0, b0) } else { (b0, c0) };
                    let (pa, pb, pc) = (mm[a], mm[b], mm[c]);
                    cm.area += 0.5 * norm(cross(sub(pb, pa), sub(pc, pa)));
                    cm.v0 += dot(pa, cross(pb, pc));
                    let n = [cross(pb, pc), cross(pc, pa), cross(pa, pb)];
                    for (k, acc) in cm.n.iter_mut().enumerate() {
                        *acc += n[0][k] + n[1][k] + n[2][k];
                    }
                    cm.tris.push([lat[a], lat[b], lat[c]]);
                }
            }
            cm
        })
        .collect()
}

/// The marching-cubes walk shared by the summary ([`mesh_with`]) and the exported surface
/// ([`surface_mesh`]); `keep` also returns every triangle.
fn mesh_core(
    mask: &[bool],
    dims: [usize; 3],
    spacing: [f64; 3],
    opt: MeshOptions,
    keep: bool,
) -> Option<(MeshStats, Vec<LatticeTri>)> {
    let [nz, ny, nx] = dims;
    let table = case_table(spacing, opt);
    // Zero-padded copy: padded index (z + 1, y + 1, x + 1) holds voxel (z, y, x).
    let (qz, qy, qx) = (nz + 2, ny + 2, nx + 2);
    let mut mp = vec![0u8; qz * qy * qx];
    for z in 0..nz {
        for y in 0..ny {
            let src = (z * ny + y) * nx;
            let dst = ((z + 1) * qy + y + 1) * qx + 1;
            for (o, &m) in mp[dst..dst + nx].iter_mut().zip(&mask[src..src + nx]) {
                *o = u8::from(m);
            }
        }
    }
    // Cube (cz, cy, cx), 0 <= c <= n, has its corner (bx, by, bz) at padded voxel
    // (cz + bz, cy + by, cx + bx); corner index c = bx + 2 by + 4 bz.
    let half = [nx as f64 / 2.0, ny as f64 / 2.0, nz as f64 / 2.0];
    type Part = (f64, f64, Vec<LatticeTri>);
    let per: Vec<Part> = (0..=nz)
        .into_par_iter()
        .map(|cz| {
            let (mut vol, mut area) = (0.0, 0.0);
            let mut kept: Vec<LatticeTri> = Vec::new();
            let oz = (cz as f64 - half[2]) * spacing[0];
            for cy in 0..=ny {
                let r00 = &mp[(cz * qy + cy) * qx..][..qx];
                let r01 = &mp[(cz * qy + cy + 1) * qx..][..qx];
                let r10 = &mp[((cz + 1) * qy + cy) * qx..][..qx];
                let r11 = &mp[((cz + 1) * qy + cy + 1) * qx..][..qx];
                let col = |x: usize| -> usize {
                    (r00[x] | r01[x] << 2 | r10[x] << 4 | r11[x] << 6) as usize
                };
                let oy = (cy as f64 - half[1]) * spacing[1];
                let mut prev = col(0);
                for cx in 0..=nx {
                    let next = col(cx + 1);
                    let case = prev | next << 1;
                    prev = next;
                    if case == 0 || case == 255 {
                        continue;
                    }
                    let cm = &table[case];
                    let o = [(cx as f64 - half[0]) * spacing[2], oy, oz];
                    area += cm.area;
                    vol += (cm.v0 + dot(o, cm.n)) / 6.0;
                    if keep {
                        let base = [2.0 * cx as f64, 2.0 * cy as f64, 2.0 * cz as f64];
                        for t in &cm.tris {
                            kept.push(t.map(|p| [p[0] + base[0], p[1] + base[1], p[2] + base[2]]));
                        }
                    }
                }
            }
            (vol, area, kept)
        })
        .collect();
    let (mut volume, mut area) = (0.0, 0.0);
    let mut tris = Vec::new();
    for (v, a, ts) in per {
        volume += v;
        area += a;
        tris.extend(ts);
    }
    // Vertices: the midpoints of the grid edges whose two (padded) voxels differ; every
    // such edge carries one contour vertex in each cube around it, and no other edge does.
    // Padded voxel p sits at lattice 2 p; the edge to p + e_axis at 2 p + e_axis.
    let mut vertices = Vec::new();
    for z in 0..qz {
        for y in 0..qy {
            for x in 0..qx {
                let v = mp[(z * qy + y) * qx + x];
                let p = [2 * x as i64, 2 * y as i64, 2 * z as i64];
                if x + 1 < qx && mp[(z * qy + y) * qx + x + 1] != v {
                    vertices.push([p[0] + 1, p[1], p[2]]);
                }
                if y + 1 < qy && mp[(z * qy + y + 1) * qx + x] != v {
                    vertices.push([p[0], p[1] + 1, p[2]]);
                }
                if z + 1 < qz && mp[((z + 1) * qy + y) * qx + x] != v {
                    vertices.push([p[0], p[1], p[2] + 1]);
                }
            }
        }
    }
    if vertices.is_empty() {
        return None;
    }
    vertices.sort_unstable();
    Some((
        MeshStats {
            volume,
            area,
            vertices,
        },
        tris,
    ))
}

/// Surface of a label in world coordinates, for 3D reconstruction and export.
#[derive(Debug, Clone)]
pub struct SurfaceMesh {
    /// LPS millimetres (via `Geometry::index_to_world`), shared between triangles.
    pub vertices: Vec<[f64; 3]>,
    /// Vertex indices, counter-clockwise seen from outside (outward normals).
    pub triangles: Vec<[u32; 3]>,
}

impl SurfaceMesh {
    /// Enclosed volume (mm^3) by the divergence theorem; positive for an outward mesh.
    pub fn volume(&self) -> f64 {
        self.triangles
            .iter()
            .map(|t| {
                let [a, b, c] = t.map(|k| self.vertices[k as usize]);
                dot(a, cross(b, c)) / 6.0
            })
            .sum()
    }
}

/// The same marching-cubes surface the morphology family measures (IBSI choices, 0.5
/// isosurface of the zero-padded mask), for voxels equal to `label`, mapped to world (LPS)
/// coordinates. None when the label is absent or the mesh is too large to index with u32.
pub fn surface_mesh(mask: &tomofuse_core::Mask, label: u8) -> Option<SurfaceMesh> {
    let (ni, nj, nk) = mask.data.dim();
    // Crop to the label's bounding box: the walk visits every cube of the box.
    let (mut lo, mut hi) = ([usize::MAX; 3], [0usize; 3]);
    for ((i, j, k), &v) in mask.data.indexed_iter() {
        if v == label {
            for (a, x) in [i, j, k].into_iter().enumerate() {
                lo[a] = lo[a].min(x);
                hi[a] = hi[a].max(x);
            }
        }
    }
    if lo[0] == usize::MAX {
        return None;
    }
    let dims = [hi[0] - lo[0] + 1, hi[1] - lo[1] + 1, hi[2] - lo[2] + 1];
    debug_assert!(hi[0] < ni && hi[1] < nj && hi[2] < nk);
    let mut sub_mask = Vec::with_capacity(dims[0] * dims[1] * dims[2]);
    for i in lo[0]..=hi[0] {
        for j in lo[1]..=hi[1] {
            for k in lo[2]..=hi[2] {
                sub_mask.push(mask.data[[i, j, k]] == label);
            }
        }
    }
    // Array axis 0 (i) plays the mesher's z, axis 2 (k) its x. Unit spacing: the world
    // mapping below applies spacing and direction.
    let (_, tris) = mesh_core(&sub_mask, dims, [1.0; 3], IBSI_MESH, true)?;
    let g = &mask.geometry;
    // Lattice point [2x, 2y, 2z] of the padded grid -> voxel index (i, j, k).
    let to_index = |p: [f64; 3]| {
        [
            p[2] / 2.0 - 1.0 + lo[0] as f64,
            p[1] / 2.0 - 1.0 + lo[1] as f64,
            p[0] / 2.0 - 1.0 + lo[2] as f64,
        ]
    };
    // The (x, y, z) = (k, j, i) lattice is a reflection of index space (axis swap); together
    // with the direction matrix's sign this decides whether the winding must be reversed.
    let d = g.direction;
    let det = d[0][0] * (d[1][1] * d[2][2] - d[1][2] * d[2][1])
        - d[0][1] * (d[1][0] * d[2][2] - d[1][2] * d[2][0])
        + d[0][2] * (d[1][0] * d[2][1] - d[1][1] * d[2][0]);
    let reverse = det > 0.0;
    let mut ids: HashMap<[u64; 3], u32> = HashMap::new();
    let mut vertices = Vec::new();
    let mut triangles = Vec::with_capacity(tris.len());
    for t in tris {
        let mut tri = [0u32; 3];
        for (slot, p) in tri.iter_mut().zip(t) {
            let key = p.map(|x| (x + 0.0).to_bits());
            let next = u32::try_from(vertices.len()).ok()?;
            *slot = *ids.entry(key).or_insert_with(|| {
                vertices.push(g.index_to_world(to_index(p)));
                next
            });
        }
        if reverse {
            tri.swap(1, 2);
        }
        triangles.push(tri);
    }
    Some(SurfaceMesh {
        vertices,
        triangles,
    })
}

/// Optimal triangulation of a polygon loop by dynamic programming over sub-polygons:
/// mode 4 minimises the area, mode 5 maximises the enclosed (signed) volume.
fn dp_triangulation(p: &[[f64; 3]], flip: bool, mode: u8) -> Vec<[usize; 3]> {
    let n = p.len();
    let cost = |i: usize, j: usize, k: usize| -> f64 {
        let (a, b, c) = (p[i], p[j], p[k]);
        match mode {
            4 => 0.5 * norm(cross(sub(b, a), sub(c, a))),
            _ => {
                let v = dot(a, cross(b, c));
                -(if flip { -v } else { v })
            }
        }
    };
    let mut best = vec![vec![0.0f64; n]; n];
    let mut arg = vec![vec![0usize; n]; n];
    for len in 2..n {
        for i in 0..n - len {
            let j = i + len;
            best[i][j] = f64::INFINITY;
            for k in i + 1..j {
                let c = best[i][k] + best[k][j] + cost(i, k, j);
                if c < best[i][j] - 1e-12 {
                    best[i][j] = c;
                    arg[i][j] = k;
                }
            }
        }
    }
    let mut out = Vec::new();
    let mut stack = vec![(0usize, n - 1)];
    while let Some((i, j)) = stack.pop() {
        if j < i + 2 {
            continue;
        }
        let k = arg[i][j];
        out.push([i, k, j]);
        stack.push((i, k));
        stack.push((k, j));
    }
    out
}

pub fn sub(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}
pub fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}
pub fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}
pub fn norm(a: [f64; 3]) -> f64 {
    dot(a, a).sqrt()
}

/// [`hull_prefilter`] along all three axes: a vertex of the 3D hull is a vertex of its
/// x-, y- and z-plane's 2D hulls. Output ordered as [`hull_prefilter`]'s.
pub fn hull_prefilter_3d(pts: &[[i64; 3]]) -> Vec<[i64; 3]> {
    let mut p = pts.to_vec();
    for axis in [0usize, 1] {
        let (a, b) = ((axis + 1) % 3, (axis + 2) % 3);
        let perm: Vec<[i64; 3]> = p.iter().map(|v| [v[a], v[b], v[axis]]).collect();
        p = hull_prefilter(&perm)
            .into_iter()
            .map(|q| {
                let mut v = [0i64; 3];
                v[a] = q[0];
                v[b] = q[1];
                v[axis] = q[2];
                v
            })
            .collect();
    }
    hull_prefilter(&p)
}

/// Keeps only the vertices of each z-plane's 2D convex hull (Andrew's monotone chain, exact
/// integer arithmetic): a point inside or on an edge of its plane's hull is a convex
/// combination of other points, so it is no vertex of the 3D hull either. Cuts the 3D hull's
/// input several-fold.
pub fn hull_prefilter(pts: &[[i64; 3]]) -> Vec<[i64; 3]> {
    let mut p = pts.to_vec();
    p.sort_unstable_by_key(|q| (q[2], q[0], q[1]));
    p.dedup();
    let cross2 = |o: [i64; 3], a: [i64; 3], b: [i64; 3]| -> i128 {
        (a[0] - o[0]) as i128 * (b[1] - o[1]) as i128
            - (a[1] - o[1]) as i128 * (b[0] - o[0]) as i128
    };
    let mut out = Vec::new();
    for plane in p.chunk_by(|a, b| a[2] == b[2]) {
        if plane.len() < 3 {
            out.extend_from_slice(plane);
            continue;
        }
        let mut hull: Vec<[i64; 3]> = Vec::with_capacity(2 * plane.len());
        for pass in 0..2 {
            let start = hull.len();
            let iter: Box<dyn Iterator<Item = &[i64; 3]>> = if pass == 0 {
                Box::new(plane.iter())
            } else {
                Box::new(plane.iter().rev())
            };
            for &q in iter {
                while hull.len() >= start + 2
                    && cross2(hull[hull.len() - 2], hull[hull.len() - 1], q) <= 0
                {
                    hull.pop();
                }
                hull.push(q);
            }
            hull.pop();
        }
        if hull.len() < 3 {
            // Collinear plane: its two ends are the only candidates.
            out.push(plane[0]);
            out.push(plane[plane.len() - 1]);
        } else {
            out.extend(hull);
        }
    }
    out
}

/// Points that can be vertices of the convex hull: a point strictly between two others on
/// an axis-parallel line is not extreme, so only per-line minima and maxima survive.
pub fn hull_candidates(pts: &[[i64; 3]]) -> Vec<[i64; 3]> {
    if pts.is_empty() {
        return Vec::new();
    }
    let (mut lo, mut hi) = ([i64::MAX; 3], [i64::MIN; 3]);
    for p in pts {
        for k in 0..3 {
            lo[k] = lo[k].min(p[k]);
            hi[k] = hi[k].max(p[k]);
        }
    }
    let ext: [usize; 3] = std::array::from_fn(|k| (hi[k] - lo[k]) as usize + 1);
    // Dense per-line extremes when the three line grids are small, else hashed.
    let cells = (0..3).map(|a| ext[(a + 1) % 3].saturating_mul(ext[(a + 2) % 3]));
    if cells.clone().any(|c| c > 1 << 24) {
        return hull_candidates_hashed(pts);
    }
    let mut extreme = vec![0u8; pts.len()];
    for (axis, cells) in cells.enumerate() {
        let (b, c) = ((axis + 1) % 3, (axis + 2) % 3);
        let line = |p: &[i64; 3]| (p[b] - lo[b]) as usize * ext[c] + (p[c] - lo[c]) as usize;
        let mut mm = vec![(i64::MAX, i64::MIN); cells];
        for p in pts {
            let e = &mut mm[line(p)];
            e.0 = e.0.min(p[axis]);
            e.1 = e.1.max(p[axis]);
        }
        for (p, x) in pts.iter().zip(extreme.iter_mut()) {
            let e = mm[line(p)];
            if p[axis] == e.0 || p[axis] == e.1 {
                *x += 1;
            }
        }
    }
    let mut v: Vec<[i64; 3]> = pts
        .iter()
        .zip(&extreme)
        .filter(|(_, c)| **c == 3)
        .map(|(p, _)| *p)
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// [`hull_candidates`] with hashed line extremes (for very large coordinate ranges).
fn hull_candidates_hashed(pts: &[[i64; 3]]) -> Vec<[i64; 3]> {
    let mut keep: HashMap<[i64; 3], u8> = HashMap::new();
    for axis in 0..3 {
        let mut ext: HashMap<(i64, i64), (i64, i64)> = HashMap::new();
        for p in pts {
            let key = match axis {
                0 => (p[1], p[2]),
                1 => (p[0], p[2]),
                _ => (p[0], p[1]),
            };
            let e = ext.entry(key).or_insert((p[axis], p[axis]));
            e.0 = e.0.min(p[axis]);
            e.1 = e.1.max(p[axis]);
        }
        for p in pts {
            let key = match axis {
                0 => (p[1], p[2]),
                1 => (p[0], p[2]),
                _ => (p[0], p[1]),
            };
            let e = ext[&key];
            if p[axis] == e.0 || p[axis] == e.1 {
                *keep.entry(*p).or_insert(0) += 1;
            }
        }
    }
    let mut v: Vec<[i64; 3]> = keep
        .into_iter()
        .filter(|(_, c)| *c == 3)
        .map(|(p, _)| p)
        .collect();
    v.sort_unstable();
    v
}

/// Sign-exact orientation in i64 when every coordinate is below this (products of three
/// differences then stay far inside i64), else i128.
const SMALL_COORD: i64 = 1 << 19;

fn orient(a: [i64; 3], b: [i64; 3], c: [i64; 3], d: [i64; 3]) -> i128 {
    let small = [a, b, c, d]
        .iter()
        .all(|p| p.iter().all(|v| v.abs() < SMALL_COORD));
    if small {
        let u = [b[0] - a[0], b[1] - a[1], b[2] - a[2]];
        let v = [c[0] - a[0], c[1] - a[1], c[2] - a[2]];
        let w = [d[0] - a[0], d[1] - a[1], d[2] - a[2]];
        return (u[0] * (v[1] * w[2] - v[2] * w[1]) - u[1] * (v[0] * w[2] - v[2] * w[0])
            + u[2] * (v[0] * w[1] - v[1] * w[0])) as i128;
    }
    orient_wide(a, b, c, d)
}

fn orient_wide(a: [i64; 3], b: [i64; 3], c: [i64; 3], d: [i64; 3]) -> i128 {
    let u = [
        (b[0] - a[0]) as i128,
        (b[1] - a[1]) as i128,
        (b[2] - a[2]) as i128,
    ];
    let v = [
        (c[0] - a[0]) as i128,
        (c[1] - a[1]) as i128,
        (c[2] - a[2]) as i128,
    ];
    let w = [
        (d[0] - a[0]) as i128,
        (d[1] - a[1]) as i128,
        (d[2] - a[2]) as i128,
    ];
    u[0] * (v[1] * w[2] - v[2] * w[1]) - u[1] * (v[0] * w[2] - v[2] * w[0])
        + u[2] * (v[0] * w[1] - v[1] * w[0])
}

/// Convex hull faces (outward, counter-clockwise) of integer points, by exact incremental
/// construction. None when the points are coplanar.
pub fn convex_hull(pts: &[[i64; 3]]) -> Option<Vec<[[i64; 3]; 3]>> {
    if pts.len() < 4 {
        return None;
    }
    let p0 = pts[0];
    let i1 = pts.iter().position(|&p| p != p0)?;
    let p1 = pts[i1];
    let i2 = pts.iter().position(|&p| {
        let u = [p1[0] - p0[0], p1[1] - p0[1], p1[2] - p0[2]];
        let v = [p[0] - p0[0], p[1] - p0[1], p[2] - p0[2]];
        let c = [
            u[1] * v[2] - u[2] * v[1],
            u[2] * v[0] - u[0] * v[2],
            u[0] * v[1] - u[1] * v[0],
        ];
        c != [0, 0, 0]
    })?;
    let p2 = pts[i2];
    let i3 = pts.iter().position(|&p| orient(p0, p1, p2, p) != 0)?;
    let p3 = pts[i3];
    let mut faces: Vec<[usize; 3]> = Vec::new();
    let mut alive: Vec<bool> = Vec::new();
    let idx = [0, i1, i2, i3];
    let tet = [[0, 1, 2], [0, 3, 1], [1, 3, 2], [0, 2, 3]];
    let sign = orient(p0, p1, p2, p3);
    for t in tet {
        let mut f = [idx[t[0]], idx[t[1]], idx[t[2]]];
        // Outward: the remaining tetra vertex must be behind the face.
        if sign > 0 {
            f.swap(1, 2);
        }
        faces.push(f);
        alive.push(true);
    }
    let mut edge: HashMap<(usize, usize), usize> = HashMap::new();
    for (fi, f) in faces.iter().enumerate() {
        for k in 0..3 {
            edge.insert((f[k], f[(k + 1) % 3]), fi);
        }
    }
    // Far points first: the hull is nearly complete early, and later points are rejected
    // after scanning only the (compacted) list of live faces.
    let c = pts.iter().fold([0i128; 3], |a, p| {
        [
            a[0] + p[0] as i128,
            a[1] + p[1] as i128,
            a[2] + p[2] as i128,
        ]
    });
    let n = pts.len() as i128;
    let d2 = |p: &[i64; 3]| -> i128 { (0..3).map(|k| (p[k] as i128 * n - c[k]).pow(2)).sum() };
    let mut order: Vec<usize> = (0..pts.len()).filter(|i| !idx.contains(i)).collect();
    order.sort_by(|&a, &b| d2(&pts[b]).cmp(&d2(&pts[a])).then(a.cmp(&b)));
    let mut live: Vec<usize> = (0..faces.len()).collect();
    for pi in order {
        let p = pts[pi];
        let visible: Vec<usize> = live
            .iter()
            .cloned()
            .filter(|&fi| orient(pts[faces[fi][0]], pts[faces[fi][1]], pts[faces[fi][2]], p) > 0)
            .collect();
        if visible.is_empty() {
            continue;
        }
        let mut vis = vec![false; faces.len()];
        for &fi in &visible {
            vis[fi] = true;
        }
        let mut horizon = Vec::new();
        for &fi in &visible {
            let f = faces[fi];
            for k in 0..3 {
                let (a, b) = (f[k], f[(k + 1) % 3]);
                let other = edge.get(&(b, a)).cloned();
                if other.is_none_or(|o| !vis[o]) {
                    horizon.push((a, b));
                }
            }
        }
        for &fi in &visible {
            alive[fi] = false;
            let f = faces[fi];
            for k in 0..3 {
                edge.remove(&(f[k], f[(k + 1) % 3]));
            }
        }
        live.retain(|&fi| alive[fi]);
        for (a, b) in horizon {
            let fi = faces.len();
            faces.push([a, b, pi]);
            alive.push(true);
            live.push(fi);
            edge.insert((a, b), fi);
            edge.insert((b, pi), fi);
            edge.insert((pi, a), fi);
        }
    }
    Some(
        faces
            .iter()
            .zip(&alive)
            .filter(|(_, a)| **a)
            .map(|(f, _)| [pts[f[0]], pts[f[1]], pts[f[2]]])
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_hull_candidates_equal_the_hashed_ones() {
        let mut state = 5u64;
        let mut next = |m: u64| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 33) % m) as i64
        };
        for n in [1usize, 5, 50, 2000] {
            let mut pts: Vec<[i64; 3]> = (0..n)
                .map(|_| [next(40) - 7, next(25) + 3, next(9)])
                .collect();
            pts.sort_unstable();
            pts.dedup();
            assert_eq!(hull_candidates(&pts), hull_candidates_hashed(&pts));
        }
    }
}
