//! Criterion benches, one per feature family, on a synthetic 64x64x32 ROI (seeded noise in a
//! ball); run with `cargo bench -p tomofuse-radiomics`.

use criterion::{Criterion, criterion_group, criterion_main};
use tomofuse_core::{Geometry, Mask, Volume};
use tomofuse_radiomics::{Settings, all_families, roi::Roi};

fn case() -> (Volume<f32>, Mask) {
    let shape = [64, 64, 32];
    let g = Geometry::with_spacing([1.0, 1.0, 2.0]).unwrap();
    // Deterministic pseudo-noise (splitmix64) plus a gradient.
    let mut state = 42u64;
    let mut next = || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) as f64 / u64::MAX as f64
    };
    let mut img = Vec::new();
    let mut msk = Vec::new();
    for i in 0..shape[0] {
        for j in 0..shape[1] {
            for k in 0..shape[2] {
                img.push((i as f64 * 3.0 + 200.0 * next() - 100.0).round() as f32);
                let (x, y, z) = (i as f64 - 32.0, j as f64 - 32.0, (k as f64 - 16.0) * 2.0);
                msk.push(u8::from(x * x + y * y + z * z < 26.0 * 26.0));
            }
        }
    }
    (
        Volume::from_vec_c(shape, img, g).unwrap(),
        Volume::from_vec_c(shape, msk, g).unwrap(),
    )
}

fn bench(c: &mut Criterion) {
    let (img, msk) = case();
    let mut s = Settings::from_toml(
        "discretisation = { method = \"fixed_bin_size\", bin_width = 25.0 }\n[resegmentation]\nrange = [-500.0, 400.0]",
        "bench",
    )
    .unwrap();
    s.families.moran_geary = true;
    let roi = Roi::build(&img, &msk, 1, &s).unwrap();
    let mut g = c.benchmark_group("radiomics");
    g.sample_size(10);
    g.bench_function("roi_build", |b| {
        b.iter(|| Roi::build(&img, &msk, 1, &s).unwrap())
    });
    for fam in all_families() {
        g.bench_function(fam.name(), |b| b.iter(|| fam.compute(&roi, &s)));
    }
    // PyRadiomics convention: the same families, PyRadiomics' seven classes on the same ROI.
    let mut py = Settings::preset("pyradiomics-default").unwrap();
    py.resegmentation = s.resegmentation.clone();
    let py_roi = Roi::build(&img, &msk, 1, &py).unwrap();
    g.bench_function("pyradiomics_compat", |b| {
        b.iter(|| tomofuse_radiomics::compute_families(&py_roi, &py))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
