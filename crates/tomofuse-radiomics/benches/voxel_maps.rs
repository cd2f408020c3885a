//! Criterion bench of voxel maps at kernel radius 1, 2 and 3: the first-order and GLCM maps
//! (sliding-window families) and GLSZM (rebuilt per kernel) on a synthetic ROI (seeded noise
//! in a ball of 4169 voxels, about 9 grey levels at bin width 25). Run with
//! `cargo bench -p tomofuse-radiomics --bench voxel_maps`; the kernel volume grows 27 -> 125
//! -> 343 voxels, the sliding updates only 9 -> 25 -> 49 voxels per step.

use criterion::{Criterion, criterion_group, criterion_main};
use tomofuse_core::{Geometry, Mask, Volume};
use tomofuse_radiomics::voxel::{VoxelParams, voxel_maps};

fn case() -> (Volume<f32>, Mask) {
    let shape = [40, 40, 40];
    let g = Geometry::with_spacing([1.0, 1.0, 1.0]).unwrap();
    let mut state = 7u64;
    let mut next = || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) as f64 / u64::MAX as f64
    };
    let (mut img, mut msk) = (Vec::new(), Vec::new());
    for i in 0..shape[0] {
        for j in 0..shape[1] {
            for k in 0..shape[2] {
                img.push((i as f64 * 2.0 + 200.0 * next() - 100.0).round() as f32);
                let (x, y, z) = (i as f64 - 20.0, j as f64 - 20.0, k as f64 - 20.0);
                msk.push(u8::from(x * x + y * y + z * z < 10.0 * 10.0));
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
    let mut g = c.benchmark_group("voxel_maps");
    g.sample_size(10);
    for class in ["firstorder", "glcm", "glszm"] {
        for r in 1..=3 {
            let p = VoxelParams {
                kernel_radius: r,
                ..VoxelParams::default()
            };
            let f = vec![class.to_string()];
            g.bench_function(format!("{class}_r{r}"), |b| {
                b.iter(|| voxel_maps(&img, &msk, &p, &f).unwrap())
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
