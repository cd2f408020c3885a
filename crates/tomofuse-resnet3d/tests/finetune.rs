//! Fine-tuning on a synthetic task with a known signal: the trained classifier must separate
//! held-out cases that the seeded, untrained network cannot; runs are reproducible; bad
//! inputs give typed errors; checkpoints round-trip under MONAI's names.

mod common;

use common::{auc, ellipsoids};
use tomofuse_core::{Geometry, Volume};
use tomofuse_resnet3d::ResNetConfig;
use tomofuse_resnet3d::ResNetError;
use tomofuse_resnet3d::train::{Augment, Classifier, FinetuneConfig, Sample, finetune};

/// The recommended network (ResNet50-3D, width 0.25, stride-2 stem).
fn net() -> ResNetConfig {
    tomofuse_resnet3d::train::finetune_net_config()
}

/// A smaller net and 16^3 crops for the tests that check mechanics, not learning.
fn small_net() -> ResNetConfig {
    let mut c = ResNetConfig::resnet50(1, 1).with_widen_factor(0.125);
    c.layers = [1, 1, 1, 1];
    c
}

fn quick() -> FinetuneConfig {
    FinetuneConfig {
        epochs: 2,
        batch_size: 4,
        augment: Augment {
            max_shift: 1,
            noise_std: 0.01,
            ..Augment::default()
        },
        seed: 7,
        ..Default::default()
    }
}

fn labels(s: &[Sample]) -> Vec<bool> {
    s.iter().map(|s| s.label).collect()
}

#[test]
fn finetuned_classifier_separates_held_out_cases_the_untrained_net_cannot() {
    let train = ellipsoids(60, 32, 1);
    let test = ellipsoids(60, 32, 2);
    let cfg = FinetuneConfig {
        epochs: 8,
        seed: 3,
        ..Default::default()
    };
    let t0 = std::time::Instant::now();
    let clf = finetune(net(), &train, &cfg).unwrap();
    let secs = t0.elapsed().as_secs_f64();
    let crops = test.iter().map(|s| &s.crop);
    let auc_trained = auc(&clf.logits(crops.clone()).unwrap(), &labels(&test));
    let base = Classifier::untrained(net(), [32; 3], cfg.seed).unwrap();
    let auc_untrained = auc(&base.logits(crops).unwrap(), &labels(&test));
    eprintln!(
        "held-out AUC fine-tuned {auc_trained:.3}, untrained {auc_untrained:.3}; training {secs:.1} s; losses {:?}",
        clf.train_losses()
    );
    assert!(auc_trained > 0.8, "fine-tuned AUC {auc_trained}");
    assert!(
        (auc_untrained - 0.5).abs() < 0.2,
        "untrained AUC {auc_untrained} is not near chance"
    );
    assert!(auc_trained - auc_untrained.max(1.0 - auc_untrained) > 0.15);
    let f = clf.features(&test[0].crop).unwrap();
    assert_eq!(f.len(), net().feature_dim());
    assert!(f.iter().all(|v| v.is_finite()));
}

#[test]
fn same_seed_gives_bit_identical_logits() {
    let train = ellipsoids(10, 16, 4);
    let held = ellipsoids(4, 16, 5);
    let crops = || held.iter().map(|s| &s.crop);
    let a = finetune(small_net(), &train, &quick()).unwrap();
    let b = finetune(small_net(), &train, &quick()).unwrap();
    let (la, lb) = (a.logits(crops()).unwrap(), b.logits(crops()).unwrap());
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&la), bits(&lb));
    assert_eq!(a.train_losses(), b.train_losses());
    let c = finetune(small_net(), &train, &FinetuneConfig { seed: 8, ..quick() }).unwrap();
    assert_ne!(bits(&la), bits(&c.logits(crops()).unwrap()));
}

#[test]
fn save_and_load_round_trip_under_monai_names() {
    let train = ellipsoids(8, 16, 6);
    let clf = finetune(small_net(), &train, &quick()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clf.safetensors");
    clf.save(&path).unwrap();
    let back = Classifier::load(&path).unwrap();
    assert_eq!(back.crop_shape(), [16; 3]);
    assert_eq!(back.network().config(), clf.network().config());
    let crops = || train.iter().map(|s| &s.crop);
    assert_eq!(clf.logits(crops()).unwrap(), back.logits(crops()).unwrap());
    assert_eq!(
        clf.features(&train[0].crop).unwrap(),
        back.features(&train[0].crop).unwrap()
    );
    // candle's own reader sees the MONAI state-dict names.
    let t = candle_core::safetensors::load(&path, &candle_core::Device::Cpu).unwrap();
    for k in [
        "conv1.weight",
        "bn1.running_var",
        "layer1.0.downsample.0.weight",
        "layer1.0.downsample.0.bias",
        "layer4.0.bn3.weight",
        "fc.weight",
        "fc.bias",
    ] {
        assert!(t.contains_key(k), "missing {k}");
    }
    assert_eq!(t["fc.weight"].dims(), &[1, small_net().feature_dim()]);
    // Not a classifier file / missing file: typed errors.
    std::fs::write(dir.path().join("junk"), b"0123").unwrap();
    assert!(matches!(
        Classifier::load(dir.path().join("junk")),
        Err(ResNetError::Checkpoint { .. })
    ));
    assert!(matches!(
        Classifier::load(dir.path().join("absent")),
        Err(ResNetError::Checkpoint { .. })
    ));
}

/// The full-width network's state dict has exactly the keys of MONAI's resnet50 (reference
/// checkpoint from the shared data, skipped when absent).
#[test]
fn saved_keys_match_the_monai_reference() {
    let Some(reference) =
        tomofuse_core::require_shared("reference/torch/monai_resnet50_w025.weights.safetensors")
    else {
        return;
    };
    let want = candle_core::safetensors::load(reference, &candle_core::Device::Cpu).unwrap();
    let clf = Classifier::untrained(net(), [32; 3], 0).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("u.safetensors");
    clf.save(&path).unwrap();
    let got = candle_core::safetensors::load(&path, &candle_core::Device::Cpu).unwrap();
    let mut a: Vec<&String> = want.keys().collect();
    let mut b: Vec<&String> = got.keys().collect();
    a.sort();
    b.sort();
    assert_eq!(a, b);
    for (k, t) in &want {
        if !k.starts_with("fc.") {
            assert_eq!(t.dims(), got[k].dims(), "{k}");
        }
    }
}

#[test]
fn bad_inputs_give_typed_errors() {
    let good = ellipsoids(6, 16, 9);
    let cfg = quick();
    let err = |s: &[Sample], c: &FinetuneConfig| finetune(small_net(), s, c).unwrap_err();

    assert!(matches!(err(&[], &cfg), ResNetError::EmptySet));
    let pos: Vec<Sample> = good.iter().filter(|s| s.label).cloned().collect();
    assert!(matches!(
        err(&pos, &cfg),
        ResNetError::OneClass {
            positives: 3,
            negatives: 0
        }
    ));
    let mut wrong = good.clone();
    wrong[2].crop = Volume::filled([16, 16, 20], 0.0, Geometry::default()).unwrap();
    assert!(matches!(
        err(&wrong, &cfg),
        ResNetError::BadSample { index: 2, .. }
    ));
    let mut nan = good.clone();
    nan[4].crop.data[[3, 4, 5]] = f32::NAN;
    let e = err(&nan, &cfg);
    assert!(matches!(e, ResNetError::BadSample { index: 4, .. }), "{e}");
    let tiny = ellipsoids(4, 8, 1);
    assert!(matches!(
        err(&tiny, &cfg),
        ResNetError::BadSample { index: 0, .. }
    ));
    for (field, c) in [
        (
            "epochs",
            FinetuneConfig {
                epochs: 0,
                ..quick()
            },
        ),
        (
            "batch_size",
            FinetuneConfig {
                batch_size: 0,
                ..quick()
            },
        ),
        (
            "learning_rate",
            FinetuneConfig {
                learning_rate: f64::NAN,
                ..quick()
            },
        ),
        (
            "learning_rate",
            FinetuneConfig {
                learning_rate: 0.0,
                ..quick()
            },
        ),
        (
            "weight_decay",
            FinetuneConfig {
                weight_decay: -1.0,
                ..quick()
            },
        ),
        (
            "warmup_fraction",
            FinetuneConfig {
                warmup_fraction: 1.0,
                ..quick()
            },
        ),
        (
            "pos_weight",
            FinetuneConfig {
                pos_weight: Some(0.0),
                ..quick()
            },
        ),
        (
            "pos_weight",
            FinetuneConfig {
                pos_weight: Some(f64::INFINITY),
                ..quick()
            },
        ),
        (
            "augment.intensity_scale",
            FinetuneConfig {
                augment: Augment {
                    intensity_scale: 2.0,
                    ..Augment::none()
                },
                ..quick()
            },
        ),
        (
            "augment.max_shift",
            FinetuneConfig {
                augment: Augment {
                    max_shift: 8,
                    ..Augment::none()
                },
                ..quick()
            },
        ),
    ] {
        match err(&good, &c) {
            ResNetError::FinetuneConfig { field: f, .. } => assert_eq!(f, field),
            e => panic!("{field}: unexpected {e}"),
        }
    }
    // Network configs the classifier cannot use.
    let mut two_channels = small_net();
    two_channels.n_input_channels = 2;
    assert!(matches!(
        finetune(two_channels, &good, &cfg),
        Err(ResNetError::Config(_))
    ));
    // Prediction checks the crops too.
    let clf = Classifier::untrained(small_net(), [16; 3], 0).unwrap();
    let other = Volume::filled([16, 16, 17], 0.0, Geometry::default()).unwrap();
    assert!(matches!(
        clf.logits([&good[0].crop, &other]),
        Err(ResNetError::BadSample { index: 1, .. })
    ));
    assert!(matches!(
        clf.features(&nan[4].crop),
        Err(ResNetError::BadSample { index: 0, .. })
    ));
    assert!(matches!(
        Classifier::untrained(small_net(), [8; 3], 0),
        Err(ResNetError::TooSmall { .. })
    ));
}

/// Fine-tuning 4 epochs in one go and 2 epochs, stop, resume to 4 from the checkpoint give the
/// same logits bit for bit, the same per-epoch losses and the same checkpoint files.
#[test]
fn resumed_finetuning_matches_an_uninterrupted_run() {
    let train = ellipsoids(8, 16, 9);
    let dir = tempfile::tempdir().unwrap();
    let cfg = |sub: &str| FinetuneConfig {
        epochs: 4,
        checkpoint_dir: Some(dir.path().join(sub)),
        ..quick()
    };
    let full = finetune(small_net(), &train, &cfg("full")).unwrap();
    let part = finetune(
        small_net(),
        &train,
        &FinetuneConfig {
            stop_after: Some(2),
            ..cfg("part")
        },
    )
    .unwrap();
    assert_eq!(part.train_losses().len(), 2);
    let resumed = finetune(
        small_net(),
        &train,
        &FinetuneConfig {
            resume: true,
            ..cfg("part")
        },
    )
    .unwrap();
    let crops = || train.iter().map(|s| &s.crop);
    let bits = |v: Vec<f32>| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(
        bits(resumed.logits(crops()).unwrap()),
        bits(full.logits(crops()).unwrap())
    );
    assert_eq!(resumed.train_losses(), full.train_losses());
    for f in ["last.safetensors", "trainer-adamw.safetensors"] {
        let a = std::fs::read(dir.path().join("full").join(f)).unwrap();
        let b = std::fs::read(dir.path().join("part").join(f)).unwrap();
        assert!(a == b, "{f} differs");
    }
}
