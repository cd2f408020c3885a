//! Synthetic cases with a known structure, shared by the integration tests.
#![allow(dead_code)]

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use tomofuse_core::{Geometry, Mask, Volume};
use tomofuse_unet::{Case, ClassHeadConfig, NormKind, UnetConfig};

/// A synthetic case and where its class-determining blob is (if any).
pub struct Synth {
    pub case: Case,
    /// Centre and radius of the dark blob (positive cases only).
    pub blob: Option<([f64; 3], f64)>,
}

/// `n`^3 volume: Gaussian noise (sd 0.3), a bright ellipsoid (+1, the segmentation target)
/// and, for positive cases, a dark sphere (-1.5, radius 3.5) away from it: the class.
pub fn synth_case(seed: u64, n: usize, positive: bool) -> Synth {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let noise = Normal::new(0.0f32, 0.3).unwrap();
    let nf = n as f64;
    let c: [f64; 3] = std::array::from_fn(|_| rng.random_range(0.35 * nf..0.65 * nf));
    let r: [f64; 3] = std::array::from_fn(|_| rng.random_range(0.14 * nf..0.22 * nf));
    let blob = if positive {
        // Place the blob where it does not touch the ellipsoid.
        let mut b;
        loop {
            b = std::array::from_fn(|_| rng.random_range(0.15 * nf..0.85 * nf));
            let q: f64 = (0..3).map(|a| ((b[a] - c[a]) / (r[a] + 6.0)).powi(2)).sum();
            if q > 1.0 {
                break;
            }
        }
        Some((b, 4.5))
    } else {
        None
    };
    let mut img = Vec::with_capacity(n * n * n);
    let mut msk = Vec::with_capacity(n * n * n);
    for i in 0..n {
        for j in 0..n {
            for k in 0..n {
                let p = [i as f64, j as f64, k as f64];
                let q: f64 = (0..3).map(|a| ((p[a] - c[a]) / r[a]).powi(2)).sum();
                let inside = q <= 1.0;
                let mut v = noise.sample(&mut rng) + if inside { 1.0 } else { 0.0 };
                if let Some((b, br)) = blob {
                    let d2: f64 = (0..3).map(|a| (p[a] - b[a]).powi(2)).sum();
                    if d2 <= br * br {
                        v -= 2.0;
                    }
                }
                img.push(v);
                msk.push(u8::from(inside));
            }
        }
    }
    let g = Geometry::with_spacing([1.0, 1.0, 1.0]).unwrap();
    let image = Volume::from_vec_c([n, n, n], img, g).unwrap();
    let mask: Mask = Volume::from_vec_c([n, n, n], msk, g).unwrap();
    Synth {
        case: Case {
            image,
            mask,
            label: Some(positive),
        },
        blob,
    }
}

/// A small multitask net for tests: channels 8-16-32, strides 2, one residual unit.
pub fn tiny_config(class_head: bool) -> UnetConfig {
    UnetConfig {
        in_channels: 1,
        out_channels: 2,
        channels: vec![8, 16, 32],
        strides: vec![2, 2],
        num_res_units: 1,
        norm: NormKind::Instance,
        class_head: class_head.then_some(ClassHeadConfig {
            hidden: 16,
            num_classes: 1,
        }),
    }
}
