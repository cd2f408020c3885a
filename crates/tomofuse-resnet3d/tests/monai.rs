//! MONAI's resnet50(spatial_dims=3, n_input_channels=1, num_classes=2, shortcut_type="B",
//! widen_factor=0.25): its state dict loads without remapping and reproduces MONAI's eval-mode
//! logits and 512-d features (../shared/reference/torch/monai_resnet50_w025.*.safetensors).

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use tomofuse_resnet3d::{ResNet3d, ResNetConfig};

fn assert_close(what: &str, got: &Tensor, want: &Tensor) {
    assert_eq!(got.dims(), want.dims(), "{what}: shape");
    let g: Vec<f32> = got.flatten_all().unwrap().to_vec1().unwrap();
    let w: Vec<f32> = want.flatten_all().unwrap().to_vec1().unwrap();
    let scale = w.iter().fold(0f32, |m, v| m.max(v.abs()));
    let err = g
        .iter()
        .zip(&w)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(
        err <= 1e-4 * scale,
        "{what}: max abs error {err}, scale {scale}, rel {}",
        err / scale
    );
}

fn model() -> Option<(ResNet3d, std::collections::HashMap<String, Tensor>)> {
    let wp =
        tomofuse_core::require_shared("reference/torch/monai_resnet50_w025.weights.safetensors")?;
    let iop = tomofuse_core::require_shared("reference/torch/monai_resnet50_w025.io.safetensors")?;
    // SAFETY: the file is not modified while mapped (read-only shared reference data).
    let vb = unsafe { VarBuilder::from_mmaped_safetensors(&[wp], DType::F32, &Device::Cpu) }
        .expect("weights");
    let cfg = ResNetConfig::resnet50(1, 2).with_widen_factor(0.25);
    let net = ResNet3d::new(cfg, vb).expect("build resnet50 w0.25 from MONAI names");
    let io = candle_core::safetensors::load(iop, &Device::Cpu).expect("io");
    Some((net, io))
}

#[test]
fn monai_resnet50_w025_logits_and_features() {
    let Some((net, io)) = model() else { return };
    assert_eq!(net.config().feature_dim(), 512);
    let f = net.features(&io["input"]).unwrap();
    assert_close("features", &f, &io["features"]);
    let logits = net.head(&f).unwrap();
    assert_close("logits", &logits, &io["logits"]);
}

#[test]
fn bad_inputs_give_clear_errors() {
    let Some((net, io)) = model() else { return };
    let dev = Device::Cpu;
    // wrong channel count
    let x = Tensor::zeros((1, 2, 32, 32, 32), DType::F32, &dev).unwrap();
    let e = net.features(&x).unwrap_err().to_string();
    assert!(e.contains("expected 1 channels"), "{e}");
    // smaller than the network stride (16 with MONAI defaults)
    let x = Tensor::zeros((1, 1, 32, 8, 32), DType::F32, &dev).unwrap();
    let e = net.features(&x).unwrap_err().to_string();
    assert!(e.contains("smaller than the network stride 16"), "{e}");
    // NaN
    let x = io["input"].narrow(0, 0, 1).unwrap();
    let mut v: Vec<f32> = x.flatten_all().unwrap().to_vec1().unwrap();
    v[17] = f32::NAN;
    let x = Tensor::from_vec(v, x.dims(), &dev).unwrap();
    let e = net.forward_t(&x, false).unwrap_err().to_string();
    assert!(e.contains("non-finite"), "{e}");
    // rank
    let x = Tensor::zeros((1, 32, 32, 32), DType::F32, &dev).unwrap();
    let e = net.features(&x).unwrap_err().to_string();
    assert!(e.contains("rank-5"), "{e}");
}

#[test]
fn trains_through_all_layers() {
    // Fresh weights in a VarMap: one backward pass reaches every parameter (the custom conv,
    // pooling and batch-norm backward all connect).
    let map = candle_nn::VarMap::new();
    let vb = VarBuilder::from_varmap(&map, DType::F32, &Device::Cpu);
    let mut cfg = ResNetConfig::resnet50(1, 2).with_widen_factor(0.125);
    cfg.layers = [1, 1, 1, 1];
    let net = ResNet3d::new(cfg, vb).unwrap();
    let x = Tensor::randn(0f32, 1.0, (2, 1, 16, 16, 16), &Device::Cpu).unwrap();
    let loss = net
        .forward_t(&x, true)
        .unwrap()
        .sqr()
        .unwrap()
        .sum_all()
        .unwrap();
    let grads = loss.backward().unwrap();
    let data = map.data().lock().unwrap();
    let mut missing = Vec::new();
    for (name, v) in data.iter() {
        if name.contains("running_") {
            continue;
        }
        if grads.get(v.as_tensor()).is_none() {
            missing.push(name.clone());
        }
    }
    assert!(missing.is_empty(), "no gradient for {missing:?}");
}

#[test]
fn grad_cam_is_a_normalised_map_on_the_input_grid() {
    let Some((net, io)) = model() else { return };
    let x = io["input"].narrow(0, 0, 1).unwrap();
    let cam = net.grad_cam(&x, 4, 1).unwrap();
    assert_eq!(cam.dims(), &[1, 1, 32, 32, 32]);
    let v: Vec<f32> = cam.flatten_all().unwrap().to_vec1().unwrap();
    assert!(v.iter().all(|a| a.is_finite() && (0.0..=1.0).contains(a)));
    let max = v.iter().cloned().fold(0f32, f32::max);
    assert!((max - 1.0).abs() < 1e-6 || max == 0.0, "max {max}");
    assert!(net.grad_cam(&x, 5, 0).is_err());
    assert!(net.grad_cam(&x, 4, 2).is_err());
}
