//! Patch sampling and augmentation against direct array slicing.

use ndarray::{Array3, s};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tomofuse_unet::AugmentConfig;
use tomofuse_unet::augment::{augmented_patch, extract_patch, sample_center};

fn ramp(shape: [usize; 3]) -> Array3<f32> {
    Array3::from_shape_fn(shape, |(i, j, k)| (i * 10000 + j * 100 + k) as f32)
}

#[test]
fn identity_patch_is_a_slice_and_zero_outside() {
    let img = ramp([20, 18, 16]);
    let msk = img.mapv(|v| (v as usize % 3) as u8);
    // Centre (9.5, 8.5, 7.5) with size 8: start (6, 5, 4).
    let (p, m) = extract_patch(&img, &msk, [9.5, 8.5, 7.5], [8, 8, 8], None);
    assert_eq!(p, img.slice(s![6..14, 5..13, 4..12]));
    assert_eq!(m, msk.slice(s![6..14, 5..13, 4..12]));
    // The identity matrix through trilinear sampling gives the same values. Absolute
    // tolerance: neighbours along the last axis differ by 1.0, so a one-voxel shift (or a
    // half-voxel one, 0.5) fails; 0.05 is a few f32 ulps at the ramp's largest values (~2e5).
    let eye = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
    let (q, n) = extract_patch(&img, &msk, [9.5, 8.5, 7.5], [8, 8, 8], Some(&eye));
    for (a, b) in p.iter().zip(q.iter()) {
        assert!((a - b).abs() < 0.05, "{a} vs {b}");
    }
    assert_eq!(m, n);
    // Past the border: zeros.
    let (p, _) = extract_patch(&img, &msk, [0.0, 0.0, 0.0], [4, 4, 4], None);
    assert_eq!(p[[0, 0, 0]], 0.0);
    assert_eq!(p[[3, 3, 3]], img[[1, 1, 1]]);
}

#[test]
fn quarter_turn_matches_transposed_view() {
    // Patch offset o maps to source offset M o: source j = c - o_k, source k = c + o_j,
    // i.e. patch[i, j, k] = src[i, n - 1 - k, j].
    let n = 9;
    let img = ramp([n, n, n]);
    let msk = Array3::<u8>::zeros((n, n, n));
    let m = [[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]];
    let c = (n as f64 - 1.0) / 2.0;
    let (p, _) = extract_patch(&img, &msk, [c, c, c], [n, n, n], Some(&m));
    for i in 0..n {
        for j in 0..n {
            for k in 0..n {
                let expect = img[[i, n - 1 - k, j]];
                assert!((p[[i, j, k]] - expect).abs() < 1e-2, "{i} {j} {k}");
            }
        }
    }
}

#[test]
fn foreground_oversampling_and_seeding() {
    let shape = [40, 40, 40];
    let fg = vec![[35usize, 35, 35]];
    let patch = [8, 8, 8];
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    // fg_prob 1: every centre keeps the foreground voxel inside the patch.
    for _ in 0..200 {
        let c = sample_center(&mut rng, shape, patch, &fg, 1.0);
        for a in 0..3 {
            assert!((c[a] - 35.0).abs() <= 3.5, "{c:?}");
        }
    }
    // fg_prob 0: uniform; the foreground corner is rarely hit (<< 50%).
    let hits = (0..400)
        .filter(|_| {
            let c = sample_center(&mut rng, shape, patch, &fg, 0.0);
            (0..3).all(|a| (c[a] - 35.0).abs() <= 3.5)
        })
        .count();
    assert!(hits < 40, "{hits}");
    // Same seed, same augmented patch; another seed, a different one.
    let img = ramp(shape);
    let msk = Array3::<u8>::zeros(shape);
    let aug = AugmentConfig {
        spatial_prob: 1.0,
        ..AugmentConfig::default()
    };
    let draw = |seed| {
        let mut r = ChaCha8Rng::seed_from_u64(seed);
        augmented_patch(&mut r, &img, &msk, &fg, [16, 16, 16], 0.5, &aug).0
    };
    assert_eq!(draw(5), draw(5));
    assert_ne!(draw(5), draw(6));
}
