//! Bad input gives a typed, explanatory error, never a panic.

mod common;

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use common::{synth_case, tiny_config};
use tomofuse_core::{Geometry, Volume};
use tomofuse_unet::{TrainConfig, Unet, UnetConfig, UnetError, grad_cam, train};

fn net() -> Unet {
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    Unet::new(&tiny_config(true), vb).unwrap()
}

#[test]
fn wrong_channel_count_is_an_error() {
    let x = Tensor::zeros((1, 2, 16, 16, 16), DType::F32, &Device::Cpu).unwrap();
    let e = net().forward_t(&x, false).unwrap_err();
    assert!(matches!(e, UnetError::InputShape { .. }), "{e}");
    assert!(e.to_string().contains("in_channels = 1"), "{e}");
    let x = Tensor::zeros((16, 16, 16), DType::F32, &Device::Cpu).unwrap();
    assert!(matches!(
        net().forward_t(&x, false).unwrap_err(),
        UnetError::InputShape { .. }
    ));
}

#[test]
fn volume_smaller_than_total_stride_is_an_error() {
    // total stride 4: 2 is too small, 18 is not a multiple.
    for s in [(1, 1, 2, 16, 16), (1, 1, 16, 18, 16)] {
        let x = Tensor::zeros(s, DType::F32, &Device::Cpu).unwrap();
        let e = net().forward_t(&x, false).unwrap_err();
        assert!(matches!(e, UnetError::TooSmall { stride: 4, .. }), "{e}");
    }
}

#[test]
fn nan_input_is_an_error() {
    let mut v = vec![0f32; 16 * 16 * 16];
    v[77] = f32::NAN;
    let x = Tensor::from_vec(v.clone(), (1, 1, 16, 16, 16), &Device::Cpu).unwrap();
    let e = net().forward_t(&x, false).unwrap_err();
    assert!(
        matches!(
            e,
            UnetError::NonFinite {
                first: 77,
                count: 1,
                ..
            }
        ),
        "{e}"
    );
    let g = Geometry::with_spacing([1.0; 3]).unwrap();
    let vol = Volume::from_vec_c([16, 16, 16], v, g).unwrap();
    assert!(matches!(
        grad_cam(&net(), &vol, "bottom", 0).unwrap_err(),
        UnetError::NonFinite { .. }
    ));
    // Training data with a NaN names the case.
    let mut c = synth_case(1, 16, true).case;
    c.image.data[[3, 4, 5]] = f32::NAN;
    let cfg = TrainConfig {
        model: tiny_config(true),
        patch: [16, 16, 16],
        ..TrainConfig::default()
    };
    let e = train(&cfg, &[synth_case(2, 16, false).case, c], &[], 0).unwrap_err();
    assert!(matches!(e, UnetError::BadCase { case: 1, .. }), "{e}");
}

#[test]
fn invalid_configs_name_the_field() {
    let bad = |f: &dyn Fn(&mut UnetConfig), field: &str| {
        let mut c = tiny_config(true);
        f(&mut c);
        match c.validate().unwrap_err() {
            UnetError::InvalidConfig { field: got, .. } => assert_eq!(got, field),
            e => panic!("unexpected {e}"),
        }
    };
    bad(&|c| c.strides = vec![2], "strides");
    bad(&|c| c.channels = vec![8], "channels");
    bad(&|c| c.out_channels = 1, "out_channels");
    bad(&|c| c.in_channels = 0, "in_channels");
    let mut t = TrainConfig {
        model: tiny_config(true),
        patch: [16, 18, 16],
        ..TrainConfig::default()
    };
    assert!(matches!(
        t.validate().unwrap_err(),
        UnetError::InvalidConfig { field: "patch", .. }
    ));
    t.patch = [16, 16, 16];
    t.lr = f64::NAN;
    assert!(matches!(
        t.validate().unwrap_err(),
        UnetError::InvalidConfig { field: "lr", .. }
    ));
    // Unknown keys in a serialized config are rejected.
    let json = serde_json::to_string(&tiny_config(true))
        .unwrap()
        .replace("\"norm\"", "\"nrom\"");
    assert!(serde_json::from_str::<UnetConfig>(&json).is_err());
}

#[test]
fn data_errors_are_typed() {
    let cfg = TrainConfig {
        model: tiny_config(true),
        patch: [16, 16, 16],
        ..TrainConfig::default()
    };
    assert!(matches!(
        train(&cfg, &[], &[], 0).unwrap_err(),
        UnetError::EmptyData(_)
    ));
    let mut c = synth_case(3, 16, true).case;
    c.mask = Volume::filled([16, 16, 15], 0u8, c.mask.geometry).unwrap();
    assert!(matches!(
        train(&cfg, &[c], &[], 0).unwrap_err(),
        UnetError::BadCase { case: 0, .. }
    ));
    let mut c = synth_case(4, 16, true).case;
    c.mask.data[[0, 0, 0]] = 7;
    let e = train(&cfg, &[c], &[], 0).unwrap_err();
    assert!(e.to_string().contains("out_channels"), "{e}");
    let vol = synth_case(5, 16, true).case.image;
    for layer in ["up.0", "down.9", "nonsense"] {
        assert!(matches!(
            grad_cam(&net(), &vol, layer, 0).unwrap_err(),
            UnetError::GradCam { .. }
        ));
    }
    assert!(matches!(
        grad_cam(&net(), &vol, "bottom", 3).unwrap_err(),
        UnetError::GradCam { .. }
    ));
}
