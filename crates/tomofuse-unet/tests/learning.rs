//! The network learns a known structure: Dice on held-out volumes, AUC of the class head on
//! held-out cases whose class depends on image content, and Grad-CAM's peak location.

mod common;

use common::{synth_case, tiny_config};
use tomofuse_unet::{AugmentConfig, ClassLoss, SlidingWindowConfig, TrainConfig, grad_cam, train};

/// AUC by direct pair counting (independent of the crate's `auc`).
fn pair_auc(pos: &[f64], neg: &[f64]) -> f64 {
    let mut wins = 0.0;
    for p in pos {
        for n in neg {
            if p > n {
                wins += 1.0;
            } else if p == n {
                wins += 0.5;
            }
        }
    }
    wins / (pos.len() * neg.len()) as f64
}

fn learn_config() -> TrainConfig {
    TrainConfig {
        model: tiny_config(true),
        patch: [32, 32, 32],
        batch_size: 2,
        epochs: 5,
        steps_per_epoch: 30,
        lr: 5e-3,
        min_lr: 1e-4,
        warmup_steps: 10,
        weight_decay: 1e-4,
        fg_oversample: 0.33,
        augment: AugmentConfig {
            spatial_prob: 0.0,
            ..AugmentConfig::default()
        },
        class_loss: ClassLoss::Bce { pos_weight: None },
        seg_loss_weight: 1.0,
        class_loss_weight: 2.0,
        sliding: SlidingWindowConfig {
            roi: [32, 32, 32],
            ..SlidingWindowConfig::default()
        },
        tta: false,
        checkpoint_dir: None,
        class_balanced_batches: true,
        selection_window: 3,
        validation_interval: 1,
        resume: false,
        stop_after: None,
    }
}

#[test]
fn unet_learns_segmentation_class_and_gradcam_localises() {
    let n = 32;
    let train_cases: Vec<_> = (0..24)
        .map(|i| synth_case(1000 + i, n, i % 2 == 0).case)
        .collect();
    let val_cases: Vec<_> = (0..4)
        .map(|i| synth_case(2000 + i, n, i % 2 == 0).case)
        .collect();
    let test: Vec<_> = (0..16)
        .map(|i| synth_case(3000 + i, n, i % 2 == 0))
        .collect();
    let t0 = std::time::Instant::now();
    let (model, hist) = train(&learn_config(), &train_cases, &val_cases, 7).unwrap();
    eprintln!("training: {:.1} s", t0.elapsed().as_secs_f64());
    for e in &hist.epochs {
        eprintln!(
            "epoch {} lr {:.2e} loss {:.4} seg {:.4} cls {:.4} val dice {:?} auc {:?}",
            e.epoch,
            e.lr,
            e.train_loss,
            e.train_seg_loss,
            e.train_class_loss,
            e.val_dice,
            e.val_auc
        );
    }
    let mut dices = Vec::new();
    let (mut pos, mut neg) = (Vec::new(), Vec::new());
    let mut cam_hits = 0;
    let mut cam_strict = 0;
    let mut cam_total = 0;
    for s in &test {
        let p = model.predict(&s.case.image).unwrap();
        // Dice computed here from the raw masks.
        let (mut inter, mut a, mut b) = (0.0, 0.0, 0.0);
        for (&x, &y) in p.mask.data.iter().zip(s.case.mask.data.iter()) {
            inter += f64::from(x > 0 && y > 0);
            a += f64::from(x > 0);
            b += f64::from(y > 0);
        }
        dices.push(2.0 * inter / (a + b));
        let prob = p.class_probability.unwrap() as f64;
        if s.case.label == Some(true) {
            pos.push(prob);
        } else {
            neg.push(prob);
        }
        if let Some((c, r)) = s.blob {
            let cam = grad_cam(model.model(), &s.case.image, "bottom", 0).unwrap();
            assert_eq!(cam.geometry, s.case.image.geometry);
            assert_eq!(cam.shape(), s.case.image.shape());
            let (mut best, mut at) = (f32::MIN, [0usize; 3]);
            for ((i, j, k), &v) in cam.data.indexed_iter() {
                if v > best {
                    best = v;
                    at = [i, j, k];
                }
            }
            // The bottleneck is 1/4 resolution: allow 2 voxels around the blob.
            let d = (0..3)
                .map(|a| (at[a] as f64 - c[a]).powi(2))
                .sum::<f64>()
                .sqrt();
            eprintln!(
                "CAM peak {at:?} value {best:.3}, blob centre {c:?}, distance {d:.1}, p {prob:.3}"
            );
            cam_total += 1;
            if d <= r + 2.0 {
                cam_hits += 1;
            }
            if d <= r {
                cam_strict += 1;
            }
        }
    }
    let mean_dice = dices.iter().sum::<f64>() / dices.len() as f64;
    let auc = pair_auc(&pos, &neg);
    let rate = cam_hits as f64 / cam_total as f64;
    eprintln!(
        "held-out: mean Dice {mean_dice:.4} (min {:.4}), AUC {auc:.4}, Grad-CAM peak within blob radius + 2 voxels {cam_hits}/{cam_total} = {rate:.2}, strictly inside the blob {cam_strict}/{cam_total}",
        dices.iter().cloned().fold(1.0, f64::min)
    );
    assert!(mean_dice >= 0.9, "mean Dice {mean_dice}");
    assert!(auc >= 0.9, "AUC {auc}");
    assert!(rate >= 0.75, "Grad-CAM hit rate {rate}");
}
