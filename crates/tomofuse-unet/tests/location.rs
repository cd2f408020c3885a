//! The class head must answer a *where* question. Every case has two identical spherical
//! cavities (both the segmentation target) in noise: one at the centre, one out towards a face
//! of the volume but away from it. Exactly one of them is filled (soft tissue) and the other empty (air); the class is
//! which one. The amount of filled tissue is the same in both classes, so a location-blind head
//! (global average pooling of the bottleneck) cannot tell them apart; the coarse-grid head can.

mod common;

use common::tiny_config;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use tomofuse_core::{Geometry, Mask, Volume};
use tomofuse_unet::{
    AugmentConfig, Case, SlidingWindowConfig, TrainConfig, UnetConfig, auc, train,
};

const N: usize = 32;
/// Offset of the peripheral cavity from the centre, and the cavities' radius (voxels). With the
/// one-level network below, a bottleneck voxel sees +-3 input voxels, and every cavity stays
/// more than 6 voxels from the faces: no bottleneck voxel that sees a cavity also sees the zero
/// padding, so a location-blind head cannot recover the position from border effects either
/// (its pooled features have the same distribution in both classes).
const OFFSET: f64 = 7.0;
const RADIUS: f64 = 2.0;

/// One down level (stride 2), so the bottleneck's receptive field stays small.
fn shallow_config() -> UnetConfig {
    UnetConfig {
        channels: vec![8, 16],
        strides: vec![2],
        ..tiny_config(true)
    }
}

/// Centre cavity filled (positive) or the peripheral one (negative).
fn where_case(seed: u64, positive: bool) -> Case {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let noise = Normal::new(0.0f32, 0.25).unwrap();
    let mid = (N as f64 - 1.0) / 2.0;
    let jitter =
        |rng: &mut ChaCha8Rng| -> [f64; 3] { std::array::from_fn(|_| rng.random_range(-0.5..0.5)) };
    let centre: [f64; 3] = jitter(&mut rng).map(|d| mid + d);
    // The peripheral cavity sits OFFSET voxels out along a random axis and direction.
    let axis = rng.random_range(0..3usize);
    let sign = if rng.random_bool(0.5) { 1.0 } else { -1.0 };
    let mut side: [f64; 3] = jitter(&mut rng).map(|d| mid + d);
    side[axis] += sign * OFFSET;
    let r = RADIUS;
    let (filled, empty) = if positive {
        (centre, side)
    } else {
        (side, centre)
    };
    let mut img = Vec::with_capacity(N * N * N);
    let mut msk = Vec::with_capacity(N * N * N);
    for i in 0..N {
        for j in 0..N {
            for k in 0..N {
                let p = [i as f64, j as f64, k as f64];
                let inside =
                    |c: [f64; 3]| (0..3).map(|a| (p[a] - c[a]).powi(2)).sum::<f64>() <= r * r;
                let (f, e) = (inside(filled), inside(empty));
                let base = if f {
                    1.0
                } else if e {
                    -1.0
                } else {
                    0.0
                };
                img.push(base + noise.sample(&mut rng));
                msk.push(u8::from(f || e));
            }
        }
    }
    let g = Geometry::with_spacing([1.0, 1.0, 1.0]).unwrap();
    Case {
        image: Volume::from_vec_c([N, N, N], img, g).unwrap(),
        mask: Mask::from_vec_c([N, N, N], msk, g).unwrap(),
        label: Some(positive),
    }
}

#[test]
fn class_head_learns_where_the_evidence_is_not_how_much() {
    let cfg = TrainConfig {
        model: shallow_config(),
        patch: [N; 3],
        batch_size: 2,
        epochs: 4,
        steps_per_epoch: 25,
        lr: 5e-3,
        min_lr: 1e-4,
        warmup_steps: 10,
        weight_decay: 1e-4,
        fg_oversample: 0.33,
        augment: AugmentConfig {
            spatial_prob: 0.0,
            ..AugmentConfig::default()
        },
        class_loss_weight: 2.0,
        sliding: SlidingWindowConfig {
            roi: [N; 3],
            ..SlidingWindowConfig::default()
        },
        ..TrainConfig::default()
    };
    let train_cases: Vec<Case> = (0..24).map(|i| where_case(100 + i, i % 2 == 0)).collect();
    let val_cases: Vec<Case> = (0..4).map(|i| where_case(200 + i, i % 2 == 0)).collect();
    let test: Vec<Case> = (0..20).map(|i| where_case(300 + i, i % 2 == 0)).collect();
    let t0 = std::time::Instant::now();
    let (model, hist) = train(&cfg, &train_cases, &val_cases, 3).unwrap();
    eprintln!("training: {:.1} s", t0.elapsed().as_secs_f64());
    for e in &hist.epochs {
        eprintln!(
            "epoch {} loss {:.4} seg {:.4} cls {:.4} val dice {:?} auc {:?} bce {:?}",
            e.epoch,
            e.train_loss,
            e.train_seg_loss,
            e.train_class_loss,
            e.val_dice,
            e.val_auc,
            e.val_class_loss
        );
    }
    let ev = model.evaluate_detailed(&test, false).unwrap();
    let a = auc(&ev.scores, &ev.labels).unwrap();
    eprintln!(
        "held-out: Dice {:.3}, AUC {a:.3}, BCE {:?}",
        ev.dice, ev.class_loss
    );
    assert!(ev.dice > 0.7, "Dice {}", ev.dice);
    assert!(
        a >= 0.9,
        "held-out AUC {a}: the class head does not see where the tissue is"
    );
    // A location-blind head stays at chance level (cross-entropy ln 2 = 0.693).
    let bce = ev.class_loss.unwrap();
    assert!(bce < 0.35, "held-out class cross-entropy {bce}");
}
