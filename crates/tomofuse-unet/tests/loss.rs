//! Losses and the learning-rate schedule against closed-form values computed here in f64.

use candle_core::{DType, Device, Tensor};
use tomofuse_unet::loss::{ClassLoss, class_loss, dice_ce_loss};
use tomofuse_unet::{ClassHeadConfig, TrainConfig, UnetConfig};

fn scalar(t: &Tensor) -> f64 {
    t.to_scalar::<f32>().unwrap() as f64
}

fn sp(x: f64) -> f64 {
    (1.0 + x.exp()).ln()
}

#[test]
fn weighted_bce_matches_formula() {
    let dev = Device::Cpu;
    let x = Tensor::new(&[[2.0f32], [-1.0], [0.5], [3.0]], &dev).unwrap();
    let y = Tensor::new(&[1.0f32, 0.0, 1.0, 0.0], &dev).unwrap();
    let w = Tensor::new(&[1.0f32, 1.0, 0.0, 1.0], &dev).unwrap();
    let l = class_loss(
        &x,
        &y,
        &w,
        ClassLoss::Bce {
            pos_weight: Some(3.0),
        },
        1.0,
    )
    .unwrap();
    // -[pw y log s(x) + (1-y) log(1 - s(x))], mean over the 3 labelled cases
    let want = (3.0 * sp(-2.0) + sp(-1.0) + sp(3.0)) / 3.0;
    assert!((scalar(&l) - want).abs() < 1e-5, "{} vs {want}", scalar(&l));
    // pos_weight None takes the automatic one
    let l = class_loss(&x, &y, &w, ClassLoss::Bce { pos_weight: None }, 2.0).unwrap();
    let want = (2.0 * sp(-2.0) + sp(-1.0) + sp(3.0)) / 3.0;
    assert!((scalar(&l) - want).abs() < 1e-5);
    // No label known: zero
    let z = Tensor::zeros(4, candle_core::DType::F32, &dev).unwrap();
    let l = class_loss(&x, &y, &z, ClassLoss::Bce { pos_weight: None }, 1.0).unwrap();
    assert_eq!(scalar(&l), 0.0);
}

#[test]
fn focal_loss_matches_formula() {
    let dev = Device::Cpu;
    let x = Tensor::new(&[[1.5f32], [-0.3], [0.2]], &dev).unwrap();
    let y = Tensor::new(&[1.0f32, 0.0, 0.0], &dev).unwrap();
    let w = Tensor::new(&[1.0f32, 1.0, 1.0], &dev).unwrap();
    let (alpha, gamma) = (0.25, 2.0);
    let l = class_loss(&x, &y, &w, ClassLoss::Focal { alpha, gamma }, 1.0).unwrap();
    let s = |v: f64| 1.0 / (1.0 + (-v).exp());
    let want = (-alpha * (1.0 - s(1.5)).powf(gamma) * s(1.5).ln()
        - (1.0 - alpha) * s(-0.3).powf(gamma) * (1.0 - s(-0.3)).ln()
        - (1.0 - alpha) * s(0.2).powf(gamma) * (1.0 - s(0.2)).ln())
        / 3.0;
    assert!((scalar(&l) - want).abs() < 1e-6, "{} vs {want}", scalar(&l));
}

#[test]
fn two_logit_head_uses_softmax_cross_entropy() {
    let dev = Device::Cpu;
    let x = Tensor::new(&[[0.5f32, -0.5], [1.0, 2.0]], &dev).unwrap();
    let y = Tensor::new(&[0.0f32, 1.0], &dev).unwrap();
    let w = Tensor::new(&[1.0f32, 1.0], &dev).unwrap();
    let l = class_loss(&x, &y, &w, ClassLoss::default(), 1.0).unwrap();
    let lse = |a: f64, b: f64| (a.exp() + b.exp()).ln();
    let want = ((lse(0.5, -0.5) - 0.5) + (lse(1.0, 2.0) - 2.0)) / 2.0;
    assert!((scalar(&l) - want).abs() < 1e-6);
}

#[test]
fn dice_ce_matches_closed_form() {
    let dev = Device::Cpu;
    // Zero logits: p = 0.5 everywhere. 2 cases x 2 channels x 2x2x2, 5 foreground voxels.
    let logits = Tensor::zeros((2, 2, 2, 2, 2), candle_core::DType::F32, &dev).unwrap();
    let mut fg = [0f32; 16];
    for i in [0, 3, 8, 9, 15] {
        fg[i] = 1.0;
    }
    let bg: Vec<f32> = fg.iter().map(|v| 1.0 - v).collect();
    let mut oh = Vec::new();
    oh.extend_from_slice(&bg[..8]);
    oh.extend_from_slice(&fg[..8]);
    oh.extend_from_slice(&bg[8..]);
    oh.extend_from_slice(&fg[8..]);
    let oh = Tensor::from_vec(oh, (2, 2, 2, 2, 2), &dev).unwrap();
    let (total, d, ce) = dice_ce_loss(&logits, &oh).unwrap();
    let want_ce = 2f64.ln();
    // batch dice over the foreground channel: 2 * 0.5 * 5 / (0.5 * 16 + 5)
    let want_d = 1.0 - (2.0 * 0.5 * 5.0 + 1e-5) / (8.0 + 5.0 + 1e-5);
    assert!((scalar(&ce) - want_ce).abs() < 1e-6);
    assert!((scalar(&d) - want_d).abs() < 1e-6);
    assert!((scalar(&total) - want_ce - want_d).abs() < 1e-6);
}

/// The fused Dice + CE op against the loss written as candle ops (the composition it replaced:
/// log-softmax, the cross-entropy mean, batch Dice over the foreground channels): the three
/// values and the gradient at the logits, on three channels, with more voxels per item than
/// one unit of parallel work and a soft (non one-hot) voxel in the target.
#[test]
fn fused_dice_ce_matches_candle_ops() {
    use candle_core::{D, Var};
    let dev = Device::Cpu;
    let shape = (2, 3, 17, 16, 16);
    let z = Var::from_tensor(&Tensor::randn(0f32, 2.0, shape, &dev).unwrap()).unwrap();
    let lab = Tensor::rand(0f32, 3.0, (2, 1, 17, 16, 16), &dev)
        .unwrap()
        .floor()
        .unwrap();
    let oh = Tensor::cat(
        &[
            &lab.eq(0f32).unwrap().to_dtype(DType::F32).unwrap(),
            &lab.eq(1f32).unwrap().to_dtype(DType::F32).unwrap(),
            &lab.eq(2f32).unwrap().to_dtype(DType::F32).unwrap(),
        ],
        1,
    )
    .unwrap();
    // One voxel shared between two classes.
    let mut ohv = oh.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let s = 17 * 16 * 16;
    ohv[5] = 0.5;
    ohv[s + 5] = 0.5;
    ohv[2 * s + 5] = 0.0;
    let oh = Tensor::from_vec(ohv, shape, &dev).unwrap();
    let composed = |z: &Tensor| -> (Tensor, Tensor, Tensor) {
        let logp = candle_nn::ops::log_softmax(z, 1).unwrap();
        let ce = (logp.mul(&oh).unwrap().sum(1).unwrap().mean_all().unwrap() * -1.0).unwrap();
        let p = logp.exp().unwrap();
        let fg = |t: &Tensor| {
            t.narrow(1, 1, 2)
                .unwrap()
                .transpose(0, 1)
                .unwrap()
                .flatten_from(1)
                .unwrap()
        };
        let (fp, ft) = (fg(&p), fg(&oh));
        let inter = fp.mul(&ft).unwrap().sum(D::Minus1).unwrap();
        let denom = (fp.sum(D::Minus1).unwrap() + ft.sum(D::Minus1).unwrap()).unwrap();
        let dice = ((inter * 2.0).unwrap() + 1e-5)
            .unwrap()
            .div(&(denom + 1e-5).unwrap())
            .unwrap();
        let d = (dice.mean_all().unwrap().neg().unwrap() + 1.0).unwrap();
        ((&d + &ce).unwrap(), d, ce)
    };
    let (ft, fd, fc) = dice_ce_loss(z.as_tensor(), &oh).unwrap();
    let (ct, cd, cc) = composed(z.as_tensor());
    for (a, b) in [(&ft, &ct), (&fd, &cd), (&fc, &cc)] {
        assert!(
            (scalar(a) - scalar(b)).abs() < 1e-5,
            "{} vs {}",
            scalar(a),
            scalar(b)
        );
    }
    // The gradient of a weighted sum of the three outputs (each output's own gradient counts).
    let loss = |t: &Tensor, d: &Tensor, c: &Tensor| {
        ((t + (d * 0.5).unwrap()).unwrap() + (c * 2.0).unwrap()).unwrap()
    };
    let gf = loss(&ft, &fd, &fc).backward().unwrap();
    let gc = loss(&ct, &cd, &cc).backward().unwrap();
    let (a, b) = (
        gf.get(z.as_tensor())
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap(),
        gc.get(z.as_tensor())
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap(),
    );
    let scale = b.iter().fold(0f32, |m, v| m.max(v.abs()));
    let err = a
        .iter()
        .zip(&b)
        .fold(0f32, |m, (x, y)| m.max((x - y).abs()));
    assert!(
        scale > 0.0 && err <= 1e-5 * scale,
        "max error {err} against max {scale}"
    );
}

#[test]
fn dice_ce_rejects_one_channel_and_mismatched_targets() {
    let dev = Device::Cpu;
    let z = Tensor::zeros((1, 1, 2, 2, 2), DType::F32, &dev).unwrap();
    assert!(dice_ce_loss(&z, &z).is_err());
    let z = Tensor::zeros((1, 2, 2, 2, 2), DType::F32, &dev).unwrap();
    let t = Tensor::zeros((1, 2, 2, 2, 3), DType::F32, &dev).unwrap();
    assert!(dice_ce_loss(&z, &t).is_err());
}

#[test]
fn schedule_warms_up_then_decays_to_min() {
    let cfg = TrainConfig {
        model: UnetConfig {
            class_head: Some(ClassHeadConfig::default()),
            ..UnetConfig::default()
        },
        lr: 1e-2,
        min_lr: 1e-4,
        warmup_steps: 10,
        ..TrainConfig::default()
    };
    assert!((cfg.lr_at(0, 110) - 1e-3).abs() < 1e-12);
    assert!((cfg.lr_at(9, 110) - 1e-2).abs() < 1e-12);
    assert!((cfg.lr_at(10, 110) - 1e-2).abs() < 1e-12);
    // half way through the cosine: (lr + min) / 2
    assert!((cfg.lr_at(60, 110) - (1e-2 + 1e-4) / 2.0).abs() < 1e-12);
    assert!((cfg.lr_at(110, 110) - 1e-4).abs() < 1e-12);
}

/// The fused PReLU (value and both gradients) against candle-nn's PReLU built from plain ops.
#[test]
fn fused_prelu_matches_candle_prelu() {
    use candle_core::{Module, Var};
    let dev = Device::Cpu;
    // No exact zeros: there candle-nn counts both sides (1 + a) where PyTorch takes a.
    let xs: Vec<f32> = (0..5000)
        .map(|i| ((i * 37 % 101) as f32 - 50.5) / 13.0)
        .collect();
    let x = Var::from_vec(xs, (2, 5, 10, 5, 10), &dev).unwrap();
    let a = Var::from_vec(vec![0.3f32], 1, &dev).unwrap();
    let g = Tensor::from_vec(
        (0..5000).map(|i| (i % 7) as f32 - 3.0).collect::<Vec<_>>(),
        (2, 5, 10, 5, 10),
        &dev,
    )
    .unwrap();
    let ours = tomofuse_unet::model::prelu_for_tests(x.as_tensor(), a.as_tensor()).unwrap();
    let theirs = candle_nn::PReLU::new(a.as_tensor().clone(), true)
        .forward(x.as_tensor())
        .unwrap();
    let d = (&ours - &theirs)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert!(d < 1e-7);
    let go = (&ours * &g).unwrap().sum_all().unwrap().backward().unwrap();
    let gt = (&theirs * &g)
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    for v in [x.as_tensor(), a.as_tensor()] {
        let (p, q) = (go.get(v).unwrap(), gt.get(v).unwrap());
        let d = (p - q)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        let scale = q
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
            .max(1.0);
        assert!(d / scale < 1e-5, "gradient differs by {d}");
    }
}
