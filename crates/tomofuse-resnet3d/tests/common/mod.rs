//! A synthetic classification task with a known, overlapping signal: 32^3 crops of a noisy
//! "fat" background holding an ellipsoidal "gland" of random size and position, whose mean
//! intensity and texture (voxel noise) differ by class with per-case variation.

#![allow(dead_code)]

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use tomofuse_core::{Geometry, Volume};
use tomofuse_resnet3d::train::Sample;

/// `n` crops of `size`^3, classes alternating (balanced).
pub fn ellipsoids(n: usize, size: usize, seed: u64) -> Vec<Sample> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|i| {
            let label = i % 2 == 1;
            let c = size as f64 / 2.0;
            let centre: [f64; 3] = std::array::from_fn(|_| c + rng.random_range(-3.0..3.0));
            let radii: [f64; 3] =
                std::array::from_fn(|_| rng.random_range(0.18..0.3) * size as f64);
            // Class means 0.25 vs 0.40 with sd 0.08 between cases (mean alone: AUC ~0.9).
            let mean =
                if label { 0.40 } else { 0.25 } + 0.08 * rng.sample::<f64, _>(StandardNormal);
            let texture = if label {
                rng.random_range(0.08..0.14)
            } else {
                rng.random_range(0.04..0.10)
            };
            let mut v = Vec::with_capacity(size * size * size);
            for a in 0..size {
                for b in 0..size {
                    for k in 0..size {
                        let p = [a as f64, b as f64, k as f64];
                        let r: f64 = (0..3)
                            .map(|d| ((p[d] - centre[d]) / radii[d]).powi(2))
                            .sum();
                        let z: f64 = rng.sample(StandardNormal);
                        let val = if r <= 1.0 {
                            mean + texture * z
                        } else {
                            -0.5 + 0.1 * z
                        };
                        v.push(val as f32);
                    }
                }
            }
            Sample {
                crop: Volume::from_vec_c([size; 3], v, Geometry::default()).unwrap(),
                label,
            }
        })
        .collect()
}

/// Area under the ROC curve (Mann-Whitney, ties count one half).
pub fn auc(scores: &[f32], labels: &[bool]) -> f64 {
    let (mut num, mut pairs) = (0.0, 0.0);
    for (i, &si) in scores.iter().enumerate() {
        for (j, &sj) in scores.iter().enumerate() {
            if labels[i] && !labels[j] {
                pairs += 1.0;
                num += if si > sj {
                    1.0
                } else if si == sj {
                    0.5
                } else {
                    0.0
                };
            }
        }
    }
    num / pairs
}
