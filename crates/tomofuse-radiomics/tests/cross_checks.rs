//! Independent checks of the geometric and spatial kernels: analytic mesh of one voxel and
//! the FFT Moran/Geary sums against the naive O(N^2) double loop.

use tomofuse_core::{Geometry, Mask, Volume};
use tomofuse_radiomics::families::morphology::moran_direct;
use tomofuse_radiomics::{Settings, extract, mesh, roi::Roi};

#[test]
fn single_voxel_mesh_is_the_analytic_octahedron() {
    let (sx, sy, sz) = (0.8, 1.1, 2.5);
    let dims = [3, 3, 3];
    let mut m = vec![false; 27];
    m[13] = true;
    let st = mesh::mesh(&m, dims, [sz, sy, sx]).unwrap();
    let (hx, hy, hz) = (sx / 2.0, sy / 2.0, sz / 2.0);
    let vol = 4.0 / 3.0 * hx * hy * hz;
    let area = 8.0 * 0.5 * ((hy * hz).powi(2) + (hx * hz).powi(2) + (hx * hy).powi(2)).sqrt();
    assert!((st.volume - vol).abs() < 1e-12, "{} vs {vol}", st.volume);
    assert!((st.area - area).abs() < 1e-12, "{} vs {area}", st.area);
    assert_eq!(st.vertices.len(), 6);
    // The octahedron is convex: hull = mesh.
    let hull = mesh::convex_hull(&st.vertices).unwrap();
    assert_eq!(hull.len(), 8);
}

#[test]
fn box_mesh_volume_and_hull_density() {
    // A 4x3x2 block: the mesh cuts the 8 corners and 12 edges of the voxel box by half
    // voxels, so V = (4*3*2) - corner/edge losses; the hull equals the mesh (convex).
    let g = Geometry::with_spacing([1.0, 1.0, 1.0]).unwrap();
    let img = Volume::filled([8, 8, 8], 5.0f32, g).unwrap();
    let mut msk = Mask::filled([8, 8, 8], 0, g).unwrap();
    for i in 2..6 {
        for j in 2..5 {
            for k in 2..4 {
                msk.data[[i, j, k]] = 1;
            }
        }
    }
    let s = Settings::from_toml(
        "discretisation = { method = \"fixed_bin_number\", n_bins = 4 }",
        "t",
    )
    .unwrap();
    let ex = extract(&img, &msk, 1, &s).unwrap();
    // Voxel centres span a x b x c (centre to centre). The iso-surface lies h = 1/2 outside
    // them on the faces; along each of the 12 edges it keeps a right triangle of legs h
    // (area h^2/2) and in each of the 8 corners the simplex of edge h (volume h^3/6).
    let (a, b, c) = (3.0f64, 2.0, 1.0);
    let h = 0.5;
    let v = a * b * c
        + 2.0 * h * (a * b + b * c + a * c)
        + 4.0 * (h * h / 2.0) * (a + b + c)
        + 8.0 * h * h * h / 6.0;
    let got = ex.get("morph_volume").unwrap();
    assert!((got - v).abs() < 1e-9, "{got} vs {v}");
    let dens = ex.get("morph_vol_dens_conv_hull").unwrap();
    assert!((dens - 1.0).abs() < 1e-9, "{dens}");
}

#[test]
fn fft_moran_geary_match_the_naive_double_loop() {
    let shape = [24, 22, 12];
    let g = Geometry::with_spacing([0.9, 1.2, 2.0]).unwrap();
    let mut state = 7u64;
    let mut data = Vec::new();
    let mut msk = Vec::new();
    for i in 0..shape[0] {
        for j in 0..shape[1] {
            for k in 0..shape[2] {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                data.push(((state >> 33) % 200) as f32 + i as f32 * 4.0);
                let (x, y, z) = (i as f64 - 12.0, j as f64 - 11.0, k as f64 - 6.0);
                msk.push(u8::from(x * x + y * y + 4.0 * z * z < 120.0));
            }
        }
    }
    let img = Volume::from_vec_c(shape, data, g).unwrap();
    let mask = Volume::from_vec_c(shape, msk, g).unwrap();
    let s = Settings::from_toml(
        "discretisation = { method = \"fixed_bin_number\", n_bins = 8 }",
        "t",
    )
    .unwrap();
    let roi = Roi::build(&img, &mask, 1, &s).unwrap();
    assert!(roi.n_int() > 2000, "needs the FFT path: {}", roi.n_int());
    let (mi, gc) = tomofuse_radiomics::families::morphology::moran_geary(&roi).unwrap();
    let mean = roi.values.iter().sum::<f64>() / roi.n_int() as f64;
    let a: Vec<f64> = roi
        .img
        .iter()
        .zip(&roi.int_mask)
        .map(|(v, m)| if *m { v - mean } else { 0.0 })
        .collect();
    let ss: f64 = a.iter().map(|x| x * x).sum();
    let (msum, wsum, gsum) = moran_direct(&roi, &a);
    let n = roi.n_int() as f64;
    let mi_ref = n / wsum * msum / ss;
    let gc_ref = (n - 1.0) / (2.0 * wsum) * (2.0 * gsum - 2.0 * msum) / ss;
    assert!(
        (mi - mi_ref).abs() < 1e-9 * mi_ref.abs().max(1e-3),
        "{mi} vs {mi_ref}"
    );
    assert!((gc - gc_ref).abs() < 1e-9, "{gc} vs {gc_ref}");
}

/// The FFT pair sums equal the naive O(N^2) double loop to ~1e-9 relative on small random
/// ROIs: odd and even extents, anisotropic spacing, scattered (non-convex) masks, a single
/// slice and a single row.
#[test]
fn fft_pair_sums_match_the_naive_double_loop_on_random_rois() {
    use tomofuse_radiomics::families::morphology::moran_fft;
    let mut state = 99u64;
    let mut next = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as f64 / (1u64 << 31) as f64
    };
    let cases: [([usize; 3], [f64; 3], f64); 6] = [
        ([9, 7, 5], [0.7, 1.3, 2.1], 0.6),
        ([12, 10, 8], [1.0, 1.0, 1.0], 0.3),
        ([15, 4, 11], [0.5, 0.9, 3.0], 0.8),
        ([6, 13, 1], [1.1, 0.8, 2.5], 0.7),
        ([1, 1, 17], [1.0, 1.0, 1.0], 0.9),
        ([17, 18, 3], [0.977, 0.977, 3.0], 0.5),
    ];
    let s = Settings::from_toml(
        "discretisation = { method = \"fixed_bin_number\", n_bins = 8 }",
        "t",
    )
    .unwrap();
    for (shape, sp, fill) in cases {
        let g = Geometry::with_spacing(sp).unwrap();
        let n = shape[0] * shape[1] * shape[2];
        let data: Vec<f32> = (0..n).map(|_| (next() * 300.0 - 100.0) as f32).collect();
        let mut msk: Vec<u8> = (0..n).map(|_| u8::from(next() < fill)).collect();
        msk[0] = 1;
        msk[n - 1] = 1;
        let img = Volume::from_vec_c(shape, data, g).unwrap();
        let mask = Volume::from_vec_c(shape, msk, g).unwrap();
        let roi = Roi::build(&img, &mask, 1, &s).unwrap();
        let mean = roi.values.iter().sum::<f64>() / roi.n_int() as f64;
        let a: Vec<f64> = roi
            .img
            .iter()
            .zip(&roi.int_mask)
            .map(|(v, m)| if *m { v - mean } else { 0.0 })
            .collect();
        let d = moran_direct(&roi, &a);
        let f = moran_fft(&roi, &a).unwrap();
        // The scale of each sum: the same sum with absolute values (no cancellation).
        let abs_a: Vec<f64> = a.iter().map(|x| x.abs()).collect();
        let scale = moran_direct(&roi, &abs_a);
        for (k, (got, want, sc)) in [
            (f.0, d.0, scale.0),
            (f.1, d.1, scale.1),
            (f.2, d.2, scale.2),
        ]
        .into_iter()
        .enumerate()
        {
            assert!(
                (got - want).abs() <= 1e-9 * sc.max(1e-300),
                "{shape:?} sum {k}: fft {got} vs direct {want} (scale {sc})"
            );
        }
    }
}
