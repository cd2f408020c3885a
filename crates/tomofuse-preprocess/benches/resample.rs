//! Criterion benches of each resampling kernel (CPU, rayon) and the B-spline prefilter on a
//! 256x256x80 CT-like volume, spacing (0.7, 0.7, 2.5) -> 1 mm, plus the general
//! (rotated-grid) path. Run: cargo bench -p tomofuse-preprocess --bench resample
use criterion::{Criterion, criterion_group, criterion_main};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::hint::black_box;
use tomofuse_core::{Geometry, Space, Volume};
use tomofuse_preprocess::resample::{
    GridMode, Interp, bspline_coefficients, output_grid, resample_to_geometry, resample_to_spacing,
};

fn volume() -> Volume<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let shape = [256, 256, 80];
    let data: Vec<f32> = (0..shape.iter().product::<usize>())
        .map(|_| rng.random_range(-1000.0..1500.0))
        .collect();
    let g = Geometry::new(
        [0.7, 0.7, 2.5],
        [0.0; 3],
        [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
        Space::Lps,
    )
    .unwrap();
    Volume::from_vec_c(shape, data, g).unwrap()
}

fn bench(c: &mut Criterion) {
    let v = volume();
    let mut group = c.benchmark_group("resample_256x256x80_to_1mm");
    group.sample_size(10);
    for (name, interp) in [
        ("nearest", Interp::Nearest),
        ("linear", Interp::Linear),
        ("bspline", Interp::BSpline),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| resample_to_spacing(black_box(&v), [1.0; 3], interp, GridMode::Itk).unwrap())
        });
    }
    group.bench_function("bspline_prefilter", |b| {
        b.iter(|| bspline_coefficients(black_box(&v.data)))
    });
    let (mut g, shape) = output_grid(&v.geometry, v.shape(), [1.0; 3], GridMode::Itk).unwrap();
    let a = 0.2f64;
    g.direction = [
        [a.cos(), -a.sin(), 0.0],
        [a.sin(), a.cos(), 0.0],
        [0.0, 0.0, 1.0],
    ];
    group.bench_function("linear_rotated_general", |b| {
        b.iter(|| resample_to_geometry(black_box(&v), &g, shape, Interp::Linear).unwrap())
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
