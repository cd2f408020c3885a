//! MONAI `UNet(3, 1, 2, channels=(3, 6, 12), strides=(2, 2), num_res_units=2)`: its state dict
//! loads without remapping, and our forward and every weight gradient (of sum(y * r)) match
//! PyTorch's within 1e-4 relative. The reference file (weights, input, output, gradients,
//! about 120 KB) was written by `benches/python/unet_speed.py --make-reference` with MONAI.

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::VarBuilder;
use std::collections::HashMap;
use tomofuse_unet::{NormKind, Unet, UnetConfig};

const REFERENCE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/monai_unet_3_6_12.safetensors"
);

/// (max abs error, largest reference magnitude).
fn err_scale(got: &Tensor, want: &Tensor) -> (f32, f32) {
    assert_eq!(got.dims(), want.dims());
    let g: Vec<f32> = got.flatten_all().unwrap().to_vec1().unwrap();
    let w: Vec<f32> = want.flatten_all().unwrap().to_vec1().unwrap();
    let scale = w.iter().fold(0f32, |m, v| m.max(v.abs()));
    let err = g
        .iter()
        .zip(&w)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    (err, scale)
}

#[test]
fn monai_unet_forward_and_gradients_match() {
    let dev = Device::Cpu;
    let mut all = candle_core::safetensors::load(REFERENCE, &dev).expect("reference file");
    let x = all.remove("io.x").expect("io.x");
    let y_ref = all.remove("io.y").expect("io.y");
    let r = all.remove("io.r").expect("io.r");
    let grads_ref: HashMap<String, Tensor> = all
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("grad.")?.to_string(), v.clone())))
        .collect();
    // Every weight becomes a variable so that backward reaches it.
    let vars: HashMap<String, Var> = all
        .iter()
        .filter(|(k, _)| !k.starts_with("grad."))
        .map(|(k, v)| (k.clone(), Var::from_tensor(v).unwrap()))
        .collect();
    assert!(!grads_ref.is_empty() && grads_ref.len() == vars.len());
    let tensors = vars
        .iter()
        .map(|(k, v)| (k.clone(), v.as_tensor().clone()))
        .collect();
    let cfg = UnetConfig {
        in_channels: 1,
        out_channels: 2,
        channels: vec![3, 6, 12],
        strides: vec![2, 2],
        num_res_units: 2,
        norm: NormKind::Instance,
        class_head: None,
    };
    let net = Unet::new(&cfg, VarBuilder::from_tensors(tensors, DType::F32, &dev))
        .expect("MONAI names load without remapping");
    let y = net.forward_t(&x, false).unwrap().seg_logits;
    let (e, scale) = err_scale(&y, &y_ref);
    assert!(e <= 1e-4 * scale, "forward: error {e}, scale {scale}");
    let grads = (&y * &r).unwrap().sum_all().unwrap().backward().unwrap();
    // The bias of a convolution followed by instance norm has a zero gradient in exact
    // arithmetic; both sides return rounding noise there (|g| ~ 1e-5 of the largest
    // gradient). Such gradients (reference below 1e-3 of the network's largest) must be
    // noise-sized in ours too; every other gradient must match within 1e-4 of its own scale.
    let overall = grads_ref
        .values()
        .map(|g| err_scale(g, g).1)
        .fold(0f32, f32::max);
    let mut compared = 0;
    for (name, v) in &vars {
        let g = grads
            .get(v.as_tensor())
            .unwrap_or_else(|| panic!("no gradient for {name}"));
        let (e, scale) = err_scale(g, &grads_ref[name]);
        if scale < 1e-3 * overall {
            let ours = err_scale(g, g).1;
            assert!(
                ours < 1e-3 * overall,
                "{name}: gradient should vanish, ours {ours}"
            );
        } else {
            compared += 1;
            assert!(
                e <= 1e-4 * scale,
                "gradient of {name}: error {e}, scale {scale}"
            );
        }
    }
    // conv weights, PReLU slopes, residual and output biases: most parameters.
    assert!(
        compared * 3 > vars.len() * 2,
        "{compared} of {}",
        vars.len()
    );
}
