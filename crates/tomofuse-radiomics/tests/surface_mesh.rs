//! World-space surface export: analytic octahedron of one voxel under a rotated, reflected
//! geometry; closedness and volume of a random blob against the morphology family; PLY/STL
//! files parsed back by a small independent reader.

use std::collections::HashMap;
use tomofuse_core::{Geometry, Mask, Space, Volume};
use tomofuse_radiomics::mesh::{SurfaceMesh, surface_mesh};
use tomofuse_radiomics::{Settings, extract};

/// Watertight and consistently oriented: every directed edge is matched by as many
/// triangles using it in reverse. Returns the number of undirected edges shared by more than
/// two triangles (pinch edges, where two sheets of a thin structure touch along a cube face).
fn closed_edges(m: &SurfaceMesh) -> Result<usize, String> {
    let mut count: HashMap<(u32, u32), i32> = HashMap::new();
    for t in &m.triangles {
        for e in 0..3 {
            let (a, b) = (t[e], t[(e + 1) % 3]);
            if a == b {
                return Err(format!("degenerate triangle {t:?}"));
            }
            *count.entry((a, b)).or_default() += 1;
        }
    }
    let mut pinch = 0;
    for (&(a, b), &c) in &count {
        let r = count.get(&(b, a)).copied().unwrap_or(0);
        if c != r {
            return Err(format!("edge ({a},{b}) used {c} times, reverse {r} times"));
        }
        if c > 1 && a < b {
            pinch += 1;
        }
    }
    Ok(pinch)
}

fn rotated(spacing: [f64; 3], reflect: bool) -> Geometry {
    let (c, s) = (0.6f64, 0.8f64);
    let z = if reflect { -1.0 } else { 1.0 };
    Geometry::new(
        spacing,
        [10.0, -20.0, 30.0],
        [[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, z]],
        Space::Lps,
    )
    .unwrap()
}

#[test]
fn one_voxel_is_the_analytic_octahedron_in_world_space() {
    for reflect in [false, true] {
        let sp = [0.8, 1.1, 2.5];
        let g = rotated(sp, reflect);
        let mut m = Mask::filled([3, 3, 3], 0, g).unwrap();
        m.data[[1, 2, 0]] = 7;
        assert!(surface_mesh(&m, 1).is_none());
        let s = surface_mesh(&m, 7).unwrap();
        assert_eq!(s.vertices.len(), 6);
        assert_eq!(s.triangles.len(), 8);
        assert_eq!(closed_edges(&s).unwrap(), 0);
        let vol = 4.0 / 3.0 * (sp[0] / 2.0) * (sp[1] / 2.0) * (sp[2] / 2.0);
        assert!((s.volume() - vol).abs() < 1e-12, "{} vs {vol}", s.volume());
        // Vertices are the voxel centre +- half a voxel along each axis, in world space.
        let c = g.index_to_world([1.0, 2.0, 0.0]);
        for v in &s.vertices {
            let d: Vec<f64> = (0..3).map(|r| v[r] - c[r]).collect();
            let idx = g.world_to_index(*v);
            let off = [idx[0] - 1.0, idx[1] - 2.0, idx[2]];
            let n_nonzero = off.iter().filter(|x| x.abs() > 1e-9).count();
            assert_eq!(n_nonzero, 1, "{d:?} {off:?}");
            assert!(off.iter().any(|x| (x.abs() - 0.5).abs() < 1e-9));
        }
    }
}

fn blob(shape: [usize; 3], g: Geometry) -> (Volume<f32>, Mask) {
    let mut state = 11u64;
    let mut m = Mask::filled(shape, 0, g).unwrap();
    let c = [
        shape[0] as f64 / 2.0,
        shape[1] as f64 / 2.0,
        shape[2] as f64 / 2.0,
    ];
    for ((i, j, k), v) in m.data.indexed_iter_mut() {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let r = (((i as f64 - c[0]) / 5.0).powi(2)
            + ((j as f64 - c[1]) / 4.0).powi(2)
            + ((k as f64 - c[2]) / 3.0).powi(2))
        .sqrt();
        // A rough ellipsoid with random holes and islands: many ambiguous cubes.
        let noise = ((state >> 33) % 100) as f64 / 100.0;
        if r + 0.6 * (noise - 0.5) < 1.0 {
            *v = 2;
        }
    }
    let img = Volume::filled(shape, 100.0f32, g).unwrap();
    (img, m)
}

#[test]
fn random_blob_mesh_is_closed_and_encloses_the_morphology_volume() {
    let settings = Settings::from_toml(
        "discretisation = { method = \"fixed_bin_number\", n_bins = 4 }",
        "t",
    )
    .unwrap();
    for reflect in [false, true] {
        let g = rotated([0.7, 0.9, 1.6], reflect);
        let (img, m) = blob([14, 12, 10], g);
        let s = surface_mesh(&m, 2).unwrap();
        let pinch = closed_edges(&s).unwrap();
        println!(
            "reflect={reflect}: {} triangles, {pinch} pinch edges",
            s.triangles.len()
        );
        let ex = extract(&img, &m, 2, &settings).unwrap();
        let want = ex.get("morph_volume").unwrap();
        let got = s.volume();
        assert!(
            (got - want).abs() < 1e-9 * want,
            "reflect={reflect}: {got} vs {want}"
        );
        assert!(got > 0.0, "outward orientation gives a positive volume");
        let area: f64 = s
            .triangles
            .iter()
            .map(|t| {
                let [a, b, c] = t.map(|k| s.vertices[k as usize]);
                let u = [b[0] - a[0], b[1] - a[1], b[2] - a[2]];
                let w = [c[0] - a[0], c[1] - a[1], c[2] - a[2]];
                let n = [
                    u[1] * w[2] - u[2] * w[1],
                    u[2] * w[0] - u[0] * w[2],
                    u[0] * w[1] - u[1] * w[0],
                ];
                0.5 * (n[0] * n[0] + n[1] * n[1] + n[2] * n[2]).sqrt()
            })
            .sum();
        let want_a = ex.get("morph_area_mesh").unwrap();
        assert!((area - want_a).abs() < 1e-9 * want_a, "{area} vs {want_a}");
    }
}

#[test]
fn smooth_ellipsoid_mesh_is_a_two_manifold() {
    let g = rotated([0.7, 0.9, 1.6], false);
    let mut m = Mask::filled([20, 18, 12], 0, g).unwrap();
    for ((i, j, k), v) in m.data.indexed_iter_mut() {
        let r = ((i as f64 - 9.5) / 7.0).powi(2)
            + ((j as f64 - 8.5) / 6.0).powi(2)
            + ((k as f64 - 5.5) / 4.0).powi(2);
        *v = u8::from(r < 1.0);
    }
    let s = surface_mesh(&m, 1).unwrap();
    assert_eq!(
        closed_edges(&s).unwrap(),
        0,
        "every edge in exactly two triangles"
    );
    // Euler characteristic of a sphere: V - E + F = 2.
    let e = s.triangles.len() * 3 / 2;
    assert_eq!(
        s.vertices.len() as i64 - e as i64 + s.triangles.len() as i64,
        2
    );
}

fn f32s(b: &[u8], o: usize, n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| {
            let p = o + 4 * i;
            f32::from_le_bytes([b[p], b[p + 1], b[p + 2], b[p + 3]]) as f64
        })
        .collect()
}

fn signed_volume(tris: &[[[f64; 3]; 3]]) -> f64 {
    tris.iter()
        .map(|[a, b, c]| {
            (a[0] * (b[1] * c[2] - b[2] * c[1]) - a[1] * (b[0] * c[2] - b[2] * c[0])
                + a[2] * (b[0] * c[1] - b[1] * c[0]))
                / 6.0
        })
        .sum()
}

#[test]
fn ply_and_stl_files_parse_back_to_the_same_closed_volume() {
    let g = rotated([0.7, 0.9, 1.6], true);
    let (_, m) = blob([14, 12, 10], g);
    let s = surface_mesh(&m, 2).unwrap();
    let want = s.volume();
    let dir = std::env::temp_dir().join(format!("tomofuse-rad-mesh-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    let ply = dir.join("blob.ply");
    tomofuse_io::write_ply(&ply, &s.vertices, &s.triangles).unwrap();
    let b = std::fs::read(&ply).unwrap();
    let end = b"end_header\n";
    let h = b.windows(end.len()).position(|w| w == end).unwrap() + end.len();
    let header = std::str::from_utf8(&b[..h]).unwrap();
    let field = |name: &str| -> usize {
        header
            .lines()
            .find_map(|l| l.strip_prefix(&format!("element {name} ")))
            .unwrap()
            .parse()
            .unwrap()
    };
    let (nv, nf) = (field("vertex"), field("face"));
    assert_eq!((nv, nf), (s.vertices.len(), s.triangles.len()));
    assert!(header.contains("SPACE=LPS"));
    let verts: Vec<Vec<f64>> = (0..nv).map(|i| f32s(&b, h + 12 * i, 3)).collect();
    let mut tris = Vec::new();
    let mut faces = Vec::new();
    for f in 0..nf {
        let o = h + 12 * nv + 13 * f;
        assert_eq!(b[o], 3);
        let id: Vec<usize> = (0..3)
            .map(|c| {
                let p = o + 1 + 4 * c;
                i32::from_le_bytes([b[p], b[p + 1], b[p + 2], b[p + 3]]) as usize
            })
            .collect();
        faces.push([id[0] as u32, id[1] as u32, id[2] as u32]);
        tris.push(
            id.iter()
                .map(|&k| [verts[k][0], verts[k][1], verts[k][2]])
                .collect::<Vec<_>>(),
        );
    }
    let tris: Vec<[[f64; 3]; 3]> = tris.into_iter().map(|t| [t[0], t[1], t[2]]).collect();
    let vply = signed_volume(&tris);
    assert!((vply - want).abs() < 1e-5 * want, "PLY {vply} vs {want}");
    closed_edges(&SurfaceMesh {
        vertices: vec![[0.0; 3]; nv],
        triangles: faces,
    })
    .unwrap();
    // Index-level closedness would hide a vertex written at the wrong place: positions must
    // be unique too.
    let mut keys: Vec<[u32; 3]> = verts
        .iter()
        .map(|v| [v[0] as f32, v[1] as f32, v[2] as f32].map(f32::to_bits))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(keys.len(), nv);

    let stl = dir.join("blob.stl");
    tomofuse_io::write_stl(&stl, &s.vertices, &s.triangles).unwrap();
    let b = std::fs::read(&stl).unwrap();
    let n = u32::from_le_bytes([b[80], b[81], b[82], b[83]]) as usize;
    assert_eq!(n, s.triangles.len());
    assert_eq!(b.len(), 84 + 50 * n);
    let mut tris = Vec::new();
    for t in 0..n {
        let v = f32s(&b, 84 + 50 * t, 12);
        let nrm = [v[0], v[1], v[2]];
        let tri = [[v[3], v[4], v[5]], [v[6], v[7], v[8]], [v[9], v[10], v[11]]];
        // The stored normal agrees with the winding.
        let u = [0, 1, 2].map(|c| tri[1][c] - tri[0][c]);
        let w = [0, 1, 2].map(|c| tri[2][c] - tri[0][c]);
        let cr = [
            u[1] * w[2] - u[2] * w[1],
            u[2] * w[0] - u[0] * w[2],
            u[0] * w[1] - u[1] * w[0],
        ];
        assert!(cr[0] * nrm[0] + cr[1] * nrm[1] + cr[2] * nrm[2] > 0.0);
        tris.push(tri);
    }
    let vstl = signed_volume(&tris);
    assert!((vstl - want).abs() < 1e-5 * want, "STL {vstl} vs {want}");
    std::fs::remove_dir_all(&dir).ok();
}
