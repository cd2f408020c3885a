//! Grad-CAM against closed forms: when the class logit is a linear read-out of globally
//! average-pooled activations A (ResNet: fc after layer4), dy/dA_c = W[class, c] / V at every
//! voxel, so CAM = ReLU(sum_c W[class, c] A_c) up to the [0, 1] scaling. The reference below
//! computes that from the fc weights and the layer4 activations, upsampled with
//! tomofuse-nn3d's trilinear interpolation (PyTorch-checked), not with this crate's resize.

use candle_core::{DType, Device, IndexOp, Tensor};
use candle_nn::VarBuilder;
use tomofuse_core::{Geometry, Volume};
use tomofuse_resnet3d::{ResNet3d, ResNetConfig};
use tomofuse_unet::grad_cam;

#[test]
fn resnet_layer4_gradcam_matches_closed_form() {
    let Some(wpath) =
        tomofuse_core::require_shared("reference/torch/monai_resnet50_w025.weights.safetensors")
    else {
        return;
    };
    let Some(iopath) =
        tomofuse_core::require_shared("reference/torch/monai_resnet50_w025.io.safetensors")
    else {
        return;
    };
    let dev = Device::Cpu;
    let vb = unsafe { VarBuilder::from_mmaped_safetensors(&[&wpath], DType::F32, &dev) }.unwrap();
    let net = ResNet3d::new(ResNetConfig::resnet50(1, 2).with_widen_factor(0.25), vb).unwrap();
    let io = candle_core::safetensors::load(&iopath, &dev).unwrap();
    let (name, x) = io
        .iter()
        .find(|(_, t)| t.rank() == 5)
        .expect("an input tensor in the io file");
    let x0 = x.i(0..1).unwrap();
    let d = x0.dims().to_vec();
    let vals = x0.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let g = Geometry::with_spacing([0.8, 0.9, 1.1]).unwrap();
    let vol = Volume::from_vec_c([d[2], d[3], d[4]], vals, g).unwrap();
    for class in 0..2 {
        let cam = grad_cam(&net, &vol, "layer4", class).unwrap();
        assert_eq!(cam.geometry, g);
        assert_eq!(cam.shape(), [d[2], d[3], d[4]]);
        // Closed form.
        let act = net.forward_until(&x0, 4, false).unwrap();
        let w = net_fc_weight(&wpath, &dev).i(class).unwrap(); // [C]
        let c = act.dim(1).unwrap();
        let lin = act
            .broadcast_mul(&w.reshape((1, c, 1, 1, 1)).unwrap())
            .unwrap()
            .sum_keepdim(1)
            .unwrap()
            .relu()
            .unwrap();
        let up = tomofuse_nn3d::upsample_trilinear3d(&lin, [d[2], d[3], d[4]]).unwrap();
        let upv = up.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let max = upv.iter().cloned().fold(0.0f32, f32::max);
        let got: Vec<f32> = cam.data.iter().cloned().collect();
        let mut err = 0.0f32;
        for (a, b) in got.iter().zip(&upv) {
            let want = if max > 0.0 { b / max } else { 0.0 };
            err = err.max((a - want).abs());
        }
        eprintln!("class {class} (input `{name}`): max |CAM - closed form| = {err:.2e}");
        assert!(err < 1e-4, "class {class}: {err}");
    }
    // Unknown layer and too-small volume are clear errors.
    assert!(grad_cam(&net, &vol, "layer9", 0).is_err());
    let tiny = Volume::filled([4, 4, 4], 0.0f32, g).unwrap();
    assert!(grad_cam(&net, &tiny, "layer4", 0).is_err());
}

fn net_fc_weight(path: &std::path::Path, dev: &Device) -> Tensor {
    let w = candle_core::safetensors::load(path, dev).unwrap();
    w.get("fc.weight").expect("fc.weight").clone()
}

/// For the U-Net's class head (1x1x1 conv R -> adaptive average pool to G cells -> fc1 -> ReLU
/// -> fc2), every cell's averaging weights sum to 1, so the spatial mean of dy/dA_c is
/// sum_r R_rc sum_g (W2 diag(h > 0) W1)_(r, g) / V.
#[test]
fn unet_bottom_gradcam_matches_closed_form() {
    use candle_nn::VarMap;
    let cfg = tomofuse_unet::UnetConfig {
        channels: vec![4, 8, 16],
        strides: vec![2, 2],
        num_res_units: 1,
        class_head: Some(tomofuse_unet::ClassHeadConfig {
            hidden: 6,
            num_classes: 1,
        }),
        ..tomofuse_unet::UnetConfig::default()
    };
    let dev = Device::Cpu;
    let varmap = VarMap::new();
    let net =
        tomofuse_unet::Unet::new(&cfg, VarBuilder::from_varmap(&varmap, DType::F32, &dev)).unwrap();
    tomofuse_unet::train::init_weights(&varmap, 11).unwrap();
    let n = 20; // not a multiple of 4: padded to 20 -> fine; use 18 to exercise padding
    let n2 = 18;
    let g = Geometry::with_spacing([1.0; 3]).unwrap();
    let vals: Vec<f32> = (0..n * n * n2)
        .map(|i| ((i * 7919) % 113) as f32 / 50.0 - 1.0)
        .collect();
    let vol = Volume::from_vec_c([n, n, n2], vals.clone(), g).unwrap();
    let cam = grad_cam(&net, &vol, "bottom", 0).unwrap();
    assert_eq!(cam.shape(), [n, n, n2]);
    // Reference on the zero-padded 20x20x20 input.
    let mut padded = vec![0f32; n * n * n];
    for i in 0..n {
        for j in 0..n {
            for k in 0..n2 {
                padded[(i * n + j) * n + k] = vals[(i * n + j) * n2 + k];
            }
        }
    }
    let x = Tensor::from_vec(padded, (1, 1, n, n, n), &dev).unwrap();
    let (_, act) = net
        .forward_tap(&x, false, Some(&tomofuse_unet::Tap::Bottom))
        .unwrap();
    let act = act.unwrap();
    let data = varmap.data().lock().unwrap();
    let wr = data["cls_head.conv.weight"].as_tensor().clone(); // [r, 16, 1, 1, 1]
    let br = data["cls_head.conv.bias"].as_tensor().clone(); // [r]
    let w1 = data["cls_head.fc1.weight"].as_tensor().clone(); // [6, r * G]
    let b1 = data["cls_head.fc1.bias"].as_tensor().clone();
    let w2 = data["cls_head.fc2.weight"].as_tensor().clone(); // [1, 6]
    let b2 = data["cls_head.fc2.bias"]
        .as_tensor()
        .to_vec1::<f32>()
        .unwrap()[0];
    drop(data);
    let r = wr.dim(0).unwrap();
    let cells = tomofuse_unet::CLASS_POOL_GRID.pow(3);
    assert_eq!(w1.dims(), [6, r * cells]);
    let wr = wr.reshape((r, 16)).unwrap();
    // The head by hand: projection, adaptive pooling (5^3 bottleneck -> 3^3, PyTorch bins
    // [0, 2), [1, 4), [3, 5) per axis), channel-major flattening, MLP.
    let side = act.dim(2).unwrap();
    assert_eq!(side, 5);
    let proj = wr
        .matmul(&act.flatten_from(2).unwrap().squeeze(0).unwrap())
        .unwrap()
        .broadcast_add(&br.unsqueeze(1).unwrap())
        .unwrap(); // [r, V]
    let bins = [(0usize, 2usize), (1, 4), (3, 5)];
    let pv = proj.to_vec2::<f32>().unwrap();
    let mut pooled = vec![0f32; r * cells];
    for (c, row) in pv.iter().enumerate() {
        for (a, &(a0, a1)) in bins.iter().enumerate() {
            for (b, &(b0, b1)) in bins.iter().enumerate() {
                for (e, &(e0, e1)) in bins.iter().enumerate() {
                    let mut s = 0.0;
                    for i in a0..a1 {
                        for j in b0..b1 {
                            for k in e0..e1 {
                                s += row[(i * side + j) * side + k];
                            }
                        }
                    }
                    let cnt = ((a1 - a0) * (b1 - b0) * (e1 - e0)) as f32;
                    pooled[c * cells + (a * 3 + b) * 3 + e] = s / cnt;
                }
            }
        }
    }
    let pooled = Tensor::from_vec(pooled, (1, r * cells), &dev).unwrap();
    let h = pooled
        .matmul(&w1.t().unwrap())
        .unwrap()
        .broadcast_add(&b1)
        .unwrap();
    let y_ref = h
        .relu()
        .unwrap()
        .matmul(&w2.t().unwrap())
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap()[0]
        + b2;
    let y_net = net
        .class_logits_from(&act, &tomofuse_unet::Tap::Bottom)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap()[0];
    assert!(
        (y_net - y_ref).abs() < 1e-4,
        "head logit {y_net} vs by hand {y_ref}"
    );
    let gate = h.gt(0.0).unwrap().to_dtype(DType::F32).unwrap(); // [1, 6]
    let weff = w2.broadcast_mul(&gate).unwrap().matmul(&w1).unwrap(); // [1, r * G]
    let per_r = weff.reshape((r, cells)).unwrap().sum(1).unwrap(); // [r]
    let wc = per_r.unsqueeze(0).unwrap().matmul(&wr).unwrap(); // [1, 16]
    let lin = act
        .broadcast_mul(&wc.reshape((1, 16, 1, 1, 1)).unwrap())
        .unwrap()
        .sum_keepdim(1)
        .unwrap()
        .relu()
        .unwrap();
    let up = tomofuse_nn3d::upsample_trilinear3d(&lin, [n, n, n]).unwrap();
    let upv = up.squeeze(0).unwrap().squeeze(0).unwrap();
    let upv = upv
        .narrow(2, 0, n2)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let max = upv.iter().cloned().fold(0.0f32, f32::max);
    assert!(max > 0.0, "degenerate reference");
    let mut err = 0.0f32;
    for (a, b) in cam.data.iter().zip(&upv) {
        err = err.max((a - b / max).abs());
    }
    assert!(err < 1e-4, "max |CAM - closed form| = {err}");
}

/// Encoder layers reach the class head through the rest of the encoder, so there is no closed
/// form; but a channel's Grad-CAM weight is a directional derivative: sum over voxels of
/// dy/dA_c = d/dt y(A + t 1_c), with 1_c all ones on channel c. Central differences of the
/// logit along each channel give the weights with no autograd; the reference map is
/// ReLU(sum_c w_c A_c) upsampled by tomofuse-nn3d's trilinear interpolation (PyTorch-checked).
/// The activation comes from the full forward pass, and the split network's logit from it
/// must equal the full network's class output.
#[test]
fn unet_encoder_gradcam_matches_finite_differences() {
    use candle_nn::VarMap;
    use tomofuse_unet::Tap;
    let cfg = tomofuse_unet::UnetConfig {
        channels: vec![4, 8, 16],
        strides: vec![2, 2],
        num_res_units: 1,
        class_head: Some(tomofuse_unet::ClassHeadConfig {
            hidden: 6,
            num_classes: 1,
        }),
        ..tomofuse_unet::UnetConfig::default()
    };
    let dev = Device::Cpu;
    let varmap = VarMap::new();
    let net =
        tomofuse_unet::Unet::new(&cfg, VarBuilder::from_varmap(&varmap, DType::F32, &dev)).unwrap();
    tomofuse_unet::train::init_weights(&varmap, 5).unwrap();
    // 20 x 20 x 18: the last axis is zero-padded to 20 (a multiple of the total stride 4).
    let (n, n2) = (20usize, 18usize);
    let g = Geometry::with_spacing([1.0; 3]).unwrap();
    let vals: Vec<f32> = (0..n * n * n2)
        .map(|i| {
            let (a, b, c) = (i / (n * n2), (i / n2) % n, i % n2);
            // A bright blob off centre plus texture, so channels differ across space.
            let d2 =
                (a as f32 - 6.0).powi(2) + (b as f32 - 12.0).powi(2) + (c as f32 - 9.0).powi(2);
            (-d2 / 18.0).exp() + ((i * 7919) % 113) as f32 / 400.0
        })
        .collect();
    let vol = Volume::from_vec_c([n, n, n2], vals.clone(), g).unwrap();
    let mut padded = vec![0f32; n * n * n];
    for i in 0..n {
        for j in 0..n {
            for k in 0..n2 {
                padded[(i * n + j) * n + k] = vals[(i * n + j) * n2 + k];
            }
        }
    }
    let x = Tensor::from_vec(padded, (1, 1, n, n, n), &dev).unwrap();
    let logit =
        |t: &Tensor| -> f64 { t.flatten_all().unwrap().to_vec1::<f32>().unwrap()[0] as f64 };
    assert_eq!(
        tomofuse_unet::gradcam::class_path_layers(&cfg),
        ["down.0", "down.1", "bottom"]
    );
    assert_eq!(tomofuse_unet::gradcam::localising_layer(&cfg), "down.1");
    for layer in ["down.0", "down.1"] {
        let tap = Tap::parse(layer).unwrap();
        let (out, act) = net.forward_tap(&x, false, Some(&tap)).unwrap();
        let act = act.unwrap();
        let y_full = logit(out.class_logits.as_ref().unwrap());
        let y_split = logit(&net.class_logits_from(&act, &tap).unwrap());
        assert!(
            (y_full - y_split).abs() < 1e-5,
            "{layer}: {y_full} vs {y_split}"
        );
        let (_, c, d, h, w) = act.dims5().unwrap();
        assert_eq!(
            tomofuse_unet::gradcam::layer_grid(&cfg, layer, [n, n, n2]),
            [d, h, w]
        );
        let vox = (d * h * w) as f64;
        // f32 forward passes: larger steps cross PReLU/ReLU kinks (truncation error 7e-3 at
        // t = 1e-3), smaller ones drown in rounding (1.4e-2 at 3e-5); 3e-4 gives about 1e-3.
        let t = 3e-4;
        let mut weights = Vec::with_capacity(c);
        for ch in 0..c {
            let onehot: Vec<f32> = (0..c).map(|k| if k == ch { 1.0 } else { 0.0 }).collect();
            let e = Tensor::from_vec(onehot, (1, c, 1, 1, 1), &dev).unwrap();
            let y_at = |s: f64| {
                let shifted = act.broadcast_add(&(&e * s).unwrap()).unwrap();
                logit(&net.class_logits_from(&shifted, &tap).unwrap())
            };
            weights.push(((y_at(t) - y_at(-t)) / (2.0 * t) / vox) as f32);
        }
        let wt = Tensor::from_vec(weights.clone(), (1, c, 1, 1, 1), &dev).unwrap();
        let lin = act
            .broadcast_mul(&wt)
            .unwrap()
            .sum_keepdim(1)
            .unwrap()
            .relu()
            .unwrap();
        let up = tomofuse_nn3d::upsample_trilinear3d(&lin, [n, n, n]).unwrap();
        let upv = up
            .squeeze(0)
            .unwrap()
            .squeeze(0)
            .unwrap()
            .narrow(2, 0, n2)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let max = upv.iter().cloned().fold(0.0f32, f32::max);
        assert!(
            max > 0.0,
            "{layer}: degenerate reference (weights {weights:?})"
        );
        let cam = grad_cam(&net, &vol, layer, 0).unwrap();
        assert_eq!(cam.shape(), [n, n, n2]);
        let mut err = 0.0f32;
        for (a, b) in cam.data.iter().zip(&upv) {
            err = err.max((a - b / max).abs());
        }
        eprintln!(
            "{layer} ({c} channels at {d}x{h}x{w}): max |CAM - finite differences| = {err:.2e}; weights {weights:?}"
        );
        assert!(
            err < 2e-3,
            "{layer}: max |CAM - finite differences| = {err}"
        );
    }
}
