//! Same seed -> identical weights and metrics; checkpoints round-trip exactly; weight names
//! follow MONAI's UNet state dict.

mod common;

use candle_core::{DType, Device};
use candle_nn::{VarBuilder, VarMap};
use common::{synth_case, tiny_config};
use std::collections::BTreeMap;
use tomofuse_unet::{
    History, NormKind, SlidingWindowConfig, TrainConfig, TrainedModel, Unet, UnetConfig, train,
};

fn short_config() -> TrainConfig {
    TrainConfig {
        model: tiny_config(true),
        patch: [16, 16, 16],
        batch_size: 2,
        epochs: 2,
        steps_per_epoch: 3,
        lr: 3e-3,
        min_lr: 1e-4,
        warmup_steps: 2,
        sliding: SlidingWindowConfig {
            roi: [16, 16, 16],
            ..SlidingWindowConfig::default()
        },
        ..TrainConfig::default()
    }
}

fn weights(m: &TrainedModel) -> BTreeMap<String, Vec<f32>> {
    let data = m.varmap().data().lock().unwrap();
    data.iter()
        .map(|(k, v)| {
            (
                k.clone(),
                v.as_tensor()
                    .flatten_all()
                    .unwrap()
                    .to_vec1::<f32>()
                    .unwrap(),
            )
        })
        .collect()
}

/// The history without the wall-clock seconds (which differ from run to run).
fn untimed(mut h: History) -> History {
    for e in &mut h.epochs {
        e.seconds = 0.0;
    }
    h
}

#[test]
fn same_seed_same_weights_and_metrics() {
    let cases: Vec<_> = (0..4)
        .map(|i| synth_case(10 + i, 20, i % 2 == 0).case)
        .collect();
    let val: Vec<_> = (0..2)
        .map(|i| synth_case(50 + i, 20, i % 2 == 0).case)
        .collect();
    let cfg = short_config();
    let (a, ha) = train(&cfg, &cases, &val, 42).unwrap();
    let (b, hb) = train(&cfg, &cases, &val, 42).unwrap();
    let (c, _) = train(&cfg, &cases, &val, 43).unwrap();
    assert_eq!(
        untimed(ha),
        untimed(hb),
        "histories differ for the same seed"
    );
    let (wa, wb, wc) = (weights(&a), weights(&b), weights(&c));
    assert_eq!(wa.len(), wb.len());
    for (k, v) in &wa {
        assert_eq!(v, &wb[k], "weight {k} differs for the same seed");
    }
    assert!(
        wa.iter().any(|(k, v)| v != &wc[k]),
        "a different seed gave identical weights"
    );
    let pa = a.predict(&val[0].image).unwrap();
    let pb = b.predict(&val[0].image).unwrap();
    assert_eq!(pa.probability.data, pb.probability.data);
    assert_eq!(pa.class_probability, pb.class_probability);
}

#[test]
fn checkpoint_roundtrip_gives_identical_outputs() {
    let cases: Vec<_> = (0..2)
        .map(|i| synth_case(70 + i, 20, i == 0).case)
        .collect();
    let mut cfg = short_config();
    cfg.epochs = 1;
    cfg.model.norm = NormKind::Batch; // running statistics must round-trip too
    cfg.tta = true;
    let (m, _) = train(&cfg, &cases, &[], 5).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    m.save(&path).unwrap();
    let l = TrainedModel::load(&path).unwrap();
    assert_eq!(l.config(), m.config());
    assert_eq!(weights(&l), weights(&m));
    let img = synth_case(99, 24, true).case.image;
    let (pa, pb) = (m.predict(&img).unwrap(), l.predict(&img).unwrap());
    assert_eq!(pa.probability.data, pb.probability.data);
    assert_eq!(pa.mask.data, pb.mask.data);
    assert_eq!(pa.class_probability, pb.class_probability);
    // A missing checkpoint names the file.
    let e = TrainedModel::load(&dir.path().join("nope.safetensors")).unwrap_err();
    assert!(e.to_string().contains("nope.safetensors"), "{e}");
}

/// Names and shapes written out by hand from MONAI's `UNet(3, 1, 2, (4, 8, 16), (2, 2),
/// num_res_units=2)` state dict (instance norm has no parameters; PReLU one weight).
#[test]
fn weight_names_follow_monai_state_dict() {
    let cfg = UnetConfig {
        in_channels: 1,
        out_channels: 2,
        channels: vec![4, 8, 16],
        strides: vec![2, 2],
        num_res_units: 2,
        norm: NormKind::Instance,
        class_head: None,
    };
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    Unet::new(&cfg, vb).unwrap();
    let got: BTreeMap<String, Vec<usize>> = varmap
        .data()
        .lock()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.dims().to_vec()))
        .collect();
    let k3 = |o: usize, i: usize| vec![o, i, 3, 3, 3];
    let mut want: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    let mut put = |k: &str, s: Vec<usize>| {
        want.insert(k.to_string(), s);
    };
    // top block: down 1 -> 4 (stride 2), up 8 -> 2
    put("model.0.conv.unit0.conv.weight", k3(4, 1));
    put("model.0.conv.unit0.conv.bias", vec![4]);
    put("model.0.conv.unit0.adn.A.weight", vec![1]);
    put("model.0.conv.unit1.conv.weight", k3(4, 4));
    put("model.0.conv.unit1.conv.bias", vec![4]);
    put("model.0.conv.unit1.adn.A.weight", vec![1]);
    put("model.0.residual.weight", k3(4, 1));
    put("model.0.residual.bias", vec![4]);
    put("model.2.0.conv.weight", vec![8, 2, 3, 3, 3]);
    put("model.2.0.conv.bias", vec![2]);
    put("model.2.0.adn.A.weight", vec![1]);
    put("model.2.1.conv.unit0.conv.weight", k3(2, 2));
    put("model.2.1.conv.unit0.conv.bias", vec![2]);
    // second block: down 4 -> 8, bottom 8 -> 16 (1x1x1 residual), up 24 -> 4
    let p = "model.1.submodule";
    put(&format!("{p}.0.conv.unit0.conv.weight"), k3(8, 4));
    put(&format!("{p}.0.conv.unit0.conv.bias"), vec![8]);
    put(&format!("{p}.0.conv.unit0.adn.A.weight"), vec![1]);
    put(&format!("{p}.0.conv.unit1.conv.weight"), k3(8, 8));
    put(&format!("{p}.0.conv.unit1.conv.bias"), vec![8]);
    put(&format!("{p}.0.conv.unit1.adn.A.weight"), vec![1]);
    put(&format!("{p}.0.residual.weight"), k3(8, 4));
    put(&format!("{p}.0.residual.bias"), vec![8]);
    let b = "model.1.submodule.1.submodule";
    put(&format!("{b}.conv.unit0.conv.weight"), k3(16, 8));
    put(&format!("{b}.conv.unit0.conv.bias"), vec![16]);
    put(&format!("{b}.conv.unit0.adn.A.weight"), vec![1]);
    put(&format!("{b}.conv.unit1.conv.weight"), k3(16, 16));
    put(&format!("{b}.conv.unit1.conv.bias"), vec![16]);
    put(&format!("{b}.conv.unit1.adn.A.weight"), vec![1]);
    put(&format!("{b}.residual.weight"), vec![16, 8, 1, 1, 1]);
    put(&format!("{b}.residual.bias"), vec![16]);
    put(&format!("{p}.2.0.conv.weight"), vec![24, 4, 3, 3, 3]);
    put(&format!("{p}.2.0.conv.bias"), vec![4]);
    put(&format!("{p}.2.0.adn.A.weight"), vec![1]);
    put(&format!("{p}.2.1.conv.unit0.conv.weight"), k3(4, 4));
    put(&format!("{p}.2.1.conv.unit0.conv.bias"), vec![4]);
    put(&format!("{p}.2.1.conv.unit0.adn.A.weight"), vec![1]);
    assert_eq!(got, want);
}

/// `validation_interval`: only every k-th epoch and the last are validated; the best epoch is
/// one of them, chosen by the trailing mean over validated epochs only, and the returned
/// weights are that epoch's (its validation Dice is reproduced by evaluating the model).
#[test]
fn validation_interval_validates_every_kth_and_the_last_epoch() {
    let cases: Vec<_> = (0..4)
        .map(|i| synth_case(20 + i, 20, i % 2 == 0).case)
        .collect();
    let val: Vec<_> = (0..2)
        .map(|i| synth_case(60 + i, 20, i % 2 == 0).case)
        .collect();
    let cfg = TrainConfig {
        epochs: 5,
        steps_per_epoch: 2,
        validation_interval: 2,
        selection_window: 2,
        ..short_config()
    };
    let (m, h) = train(&cfg, &cases, &val, 7).unwrap();
    let validated: Vec<usize> = h
        .epochs
        .iter()
        .filter(|e| e.val_dice.is_some())
        .map(|e| e.epoch)
        .collect();
    assert_eq!(validated, vec![1, 3, 4], "0-based epochs with validation");
    assert!(validated.contains(&h.best_epoch), "best {}", h.best_epoch);
    // Selection scores: mean of this and the previous validated epoch's score.
    let scores: Vec<f64> = h.epochs.iter().filter_map(|e| e.val_score).collect();
    let sel: Vec<f64> = h.epochs.iter().filter_map(|e| e.selection_score).collect();
    assert_eq!(sel.len(), 3);
    assert!((sel[0] - scores[0]).abs() < 1e-12);
    assert!((sel[1] - 0.5 * (scores[0] + scores[1])).abs() < 1e-12);
    assert!((sel[2] - 0.5 * (scores[1] + scores[2])).abs() < 1e-12);
    let best = &h.epochs[h.best_epoch];
    let ev = m.evaluate_detailed(&val, false).unwrap();
    assert!(
        (ev.dice - best.val_dice.unwrap()).abs() < 1e-6,
        "restored weights give Dice {} vs recorded {}",
        ev.dice,
        best.val_dice.unwrap()
    );
    let bad = TrainConfig {
        validation_interval: 0,
        ..cfg
    };
    assert!(train(&bad, &cases, &val, 7).is_err());
}

/// Training 4 epochs in one go and training 2 of them, stopping, then resuming to 4 from the
/// checkpoint give the same weights bit for bit, the same history and the same checkpoint
/// files (weights, optimiser state); with validation cases the best-epoch snapshot survives
/// the interruption too.
#[test]
fn resume_after_an_interruption_gives_the_uninterrupted_weights() {
    let cases: Vec<_> = (0..3)
        .map(|i| synth_case(80 + i, 20, i % 2 == 0).case)
        .collect();
    let val: Vec<_> = (0..2)
        .map(|i| synth_case(90 + i, 20, i % 2 == 0).case)
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let cfg = |sub: &str| TrainConfig {
        epochs: 4,
        steps_per_epoch: 2,
        selection_window: 2,
        checkpoint_dir: Some(dir.path().join(sub)),
        ..short_config()
    };
    let (full, h_full) = train(&cfg("full"), &cases, &val, 11).unwrap();
    let (part, h_part) = train(
        &TrainConfig {
            stop_after: Some(2),
            ..cfg("part")
        },
        &cases,
        &val,
        11,
    )
    .unwrap();
    assert_eq!(h_part.epochs.len(), 2);
    assert_ne!(
        weights(&part),
        weights(&full),
        "stopped after 2 of 4 epochs"
    );
    let (resumed, h_resumed) = train(
        &TrainConfig {
            resume: true,
            ..cfg("part")
        },
        &cases,
        &val,
        11,
    )
    .unwrap();
    assert_eq!(untimed(h_resumed), untimed(h_full));
    assert_eq!(weights(&resumed), weights(&full));
    for f in [
        "last.safetensors",
        "best.safetensors",
        "trainer-adamw.safetensors",
    ] {
        let a = std::fs::read(dir.path().join("full").join(f)).unwrap();
        let b = std::fs::read(dir.path().join("part").join(f)).unwrap();
        assert!(a == b, "{f} differs");
    }
}

/// A learning rate that blows the weights up makes a later step's loss non-finite: training
/// stops with the divergence error naming the epoch and the loss instead of going on.
#[test]
fn a_non_finite_loss_stops_training() {
    let cases: Vec<_> = (0..2)
        .map(|i| synth_case(30 + i, 20, i == 0).case)
        .collect();
    let cfg = TrainConfig {
        epochs: 3,
        steps_per_epoch: 2,
        lr: 1e30,
        min_lr: 1e29,
        warmup_steps: 1,
        ..short_config()
    };
    let e = train(&cfg, &cases, &[], 1).expect_err("training diverges");
    let msg = e.to_string();
    let tomofuse_unet::UnetError::Diverged { epoch, step, loss } = e else {
        panic!("expected the divergence error, got {msg}")
    };
    assert!(!loss.is_finite());
    assert_eq!(epoch, step / cfg.steps_per_epoch);
    assert!(msg.contains(&format!("epoch {epoch}")), "{msg}");
    assert!(msg.contains(&format!("loss is {loss}")), "{msg}");
}
