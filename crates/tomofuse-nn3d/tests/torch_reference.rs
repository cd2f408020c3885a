//! Every layer against PyTorch 2.15: forward output and every gradient, from
//! ../shared/reference/torch/<case>.safetensors (inputs `in.*`, `out`, `grad_out`, `grad.*`).
//! Layer parameters are those in cases.json. Tolerance: max |ours - torch| <= 1e-4 * max |torch|.

use std::collections::HashMap;

use candle_core::{DType, Device, Module, Tensor, Var};
use candle_nn::{VarBuilder, VarMap};
use tomofuse_nn3d::*;

fn load(case: &str) -> Option<HashMap<String, Tensor>> {
    let p = tomofuse_core::require_shared(&format!("reference/torch/{case}.safetensors"))?;
    Some(candle_core::safetensors::load(p, &Device::Cpu).expect("read reference"))
}

fn assert_close(case: &str, what: &str, got: &Tensor, want: &Tensor) {
    assert_eq!(got.dims(), want.dims(), "{case} {what}: shape");
    let g: Vec<f32> = got.flatten_all().unwrap().to_vec1().unwrap();
    let w: Vec<f32> = want.flatten_all().unwrap().to_vec1().unwrap();
    let scale = w
        .iter()
        .fold(0f32, |m, v| m.max(v.abs()))
        .max(f32::MIN_POSITIVE);
    let err = g
        .iter()
        .zip(&w)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(
        err <= 1e-4 * scale,
        "{case} {what}: max abs error {err} vs scale {scale} (rel {})",
        err / scale
    );
}

/// Checks forward and gradients: `f` maps the input variables to the output; `names` are the
/// tensor suffixes (in.<name>, grad.<name>) of the variables, in order.
fn check(case: &str, names: &[&str], f: impl Fn(&[Tensor]) -> Tensor) {
    let Some(t) = load(case) else { return };
    let vars: Vec<Var> = names
        .iter()
        .map(|n| Var::from_tensor(&t[&format!("in.{n}")]).unwrap())
        .collect();
    let xs: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
    let out = f(&xs);
    assert_close(case, "out", &out, &t["out"]);
    let loss = (&out * &t["grad_out"]).unwrap().sum_all().unwrap();
    let grads = loss.backward().unwrap();
    for (n, v) in names.iter().zip(&vars) {
        let g = grads
            .get(v.as_tensor())
            .unwrap_or_else(|| panic!("{case}: no gradient for {n}"));
        assert_close(case, &format!("grad.{n}"), g, &t[&format!("grad.{n}")]);
    }
}

fn cfg(padding: usize, stride: usize, dilation: usize) -> Conv3dConfig {
    Conv3dConfig {
        padding,
        stride,
        dilation,
        groups: 1,
    }
}

#[test]
fn conv3d_k3_p1_s1() {
    check("conv3d_k3_p1_s1", &["x", "w", "b"], |v| {
        Conv3d::new(v[1].clone(), Some(v[2].clone()), cfg(1, 1, 1))
            .forward(&v[0])
            .unwrap()
    });
}

#[test]
fn conv3d_k3_p1_s2() {
    check("conv3d_k3_p1_s2", &["x", "w", "b"], |v| {
        Conv3d::new(v[1].clone(), Some(v[2].clone()), cfg(1, 2, 1))
            .forward(&v[0])
            .unwrap()
    });
}

#[test]
fn conv3d_k3_p2_d2() {
    check("conv3d_k3_p2_d2", &["x", "w", "b"], |v| {
        Conv3d::new(v[1].clone(), Some(v[2].clone()), cfg(2, 1, 2))
            .forward(&v[0])
            .unwrap()
    });
}

#[test]
fn conv3d_k7_p3_s2() {
    check("conv3d_k7_p3_s2", &["x", "w"], |v| {
        conv3d_op(&v[0], &v[1], cfg(3, 2, 1)).unwrap()
    });
}

#[test]
fn conv_transpose3d_k2_s2() {
    let c = ConvTranspose3dConfig {
        padding: 0,
        output_padding: 0,
        stride: 2,
        dilation: 1,
    };
    check("conv_transpose3d_k2_s2", &["x", "w", "b"], |v| {
        ConvTranspose3d::new(v[1].clone(), Some(v[2].clone()), c)
            .forward(&v[0])
            .unwrap()
    });
}

#[test]
fn conv_transpose3d_k3_s2_p1_op1() {
    let c = ConvTranspose3dConfig {
        padding: 1,
        output_padding: 1,
        stride: 2,
        dilation: 1,
    };
    check("conv_transpose3d_k3_s2_p1_op1", &["x", "w", "b"], |v| {
        ConvTranspose3d::new(v[1].clone(), Some(v[2].clone()), c)
            .forward(&v[0])
            .unwrap()
    });
}

#[test]
fn max_pool3d_k2_s2() {
    check("max_pool3d_k2_s2", &["x"], |v| {
        max_pool3d(&v[0], 2, 2, 0).unwrap()
    });
}

#[test]
fn max_pool3d_k3_s2_p1() {
    check("max_pool3d_k3_s2_p1", &["x"], |v| {
        max_pool3d(&v[0], 3, 2, 1).unwrap()
    });
}

#[test]
fn avg_pool3d_k2_s2() {
    check("avg_pool3d_k2_s2", &["x"], |v| {
        avg_pool3d(&v[0], 2, 2).unwrap()
    });
}

#[test]
fn adaptive_avg_pool3d_to_1() {
    check("adaptive_avg_pool3d_1", &["x"], |v| {
        adaptive_avg_pool3d_1(&v[0]).unwrap()
    });
}

#[test]
fn upsample_nearest_x2() {
    check("upsample_nearest_x2", &["x"], |v| {
        upsample_nearest3d(&v[0], 2).unwrap()
    });
}

#[test]
fn upsample_trilinear_x2() {
    check("upsample_trilinear_x2", &["x"], |v| {
        let d = v[0].dims();
        upsample_trilinear3d(&v[0], [d[2] * 2, d[3] * 2, d[4] * 2]).unwrap()
    });
}

/// Builds a layer through a VarMap (the training path) and overwrites weight/bias (and the
/// given extra entries) with the reference values; returns the map's weight/bias variables.
fn set_vars(map: &VarMap, vals: &[(&str, &Tensor)]) {
    let data = map.data().lock().unwrap();
    for (k, v) in vals {
        data.get(*k)
            .unwrap_or_else(|| panic!("no var {k}"))
            .set(v)
            .unwrap();
    }
}

/// Checks a norm layer built from a VarMap: x is a Var, g/b are the map's "weight"/"bias".
fn check_norm(
    case: &str,
    extra: &[(&str, &Tensor)],
    build: impl Fn(VarBuilder) -> Box<dyn Fn(&Tensor) -> Tensor>,
) {
    let Some(t) = load(case) else { return };
    let map = VarMap::new();
    let vb = VarBuilder::from_varmap(&map, DType::F32, &Device::Cpu);
    let layer = build(vb);
    set_vars(&map, &[("weight", &t["in.g"]), ("bias", &t["in.b"])]);
    set_vars(&map, extra);
    let x = Var::from_tensor(&t["in.x"]).unwrap();
    let out = layer(x.as_tensor());
    assert_close(case, "out", &out, &t["out"]);
    let grads = (&out * &t["grad_out"])
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    assert_close(
        case,
        "grad.x",
        grads.get(x.as_tensor()).unwrap(),
        &t["grad.x"],
    );
    let data = map.data().lock().unwrap();
    for (n, g) in [("weight", "grad.g"), ("bias", "grad.b")] {
        let v = data.get(n).unwrap();
        assert_close(case, g, grads.get(v.as_tensor()).unwrap(), &t[g]);
    }
}

#[test]
fn instance_norm3d_affine() {
    check_norm("instance_norm3d_affine", &[], |vb| {
        let l = instance_norm3d(3, 1e-5, true, vb).unwrap();
        Box::new(move |x| l.forward(x).unwrap())
    });
}

#[test]
fn group_norm3d_g2() {
    check_norm("group_norm3d_g2", &[], |vb| {
        let l = group_norm3d(2, 4, 1e-5, vb).unwrap();
        Box::new(move |x| l.forward(x).unwrap())
    });
}

#[test]
fn batch_norm3d_train() {
    check_norm("batch_norm3d_train", &[], |vb| {
        let l = batch_norm3d(3, 1e-5, 0.1, vb).unwrap();
        Box::new(move |x| l.forward_t(x, true).unwrap())
    });
}

#[test]
fn batch_norm3d_train_updates_running_stats() {
    // Expected values computed here in f64 from the input (PyTorch's update rule: momentum 0.1,
    // unbiased variance), independent of the layer's tensor code.
    let Some(t) = load("batch_norm3d_train") else {
        return;
    };
    let map = VarMap::new();
    let vb = VarBuilder::from_varmap(&map, DType::F32, &Device::Cpu);
    let l = batch_norm3d(3, 1e-5, 0.1, vb).unwrap();
    l.forward_t(&t["in.x"], true).unwrap();
    let x = &t["in.x"];
    let (n, c) = (x.dim(0).unwrap(), x.dim(1).unwrap());
    let v: Vec<f32> = x.flatten_all().unwrap().to_vec1().unwrap();
    let s = v.len() / (n * c);
    let rm: Vec<f32> = l.running_mean().to_vec1().unwrap();
    let rv: Vec<f32> = l.running_var().to_vec1().unwrap();
    // The map shares the statistics (they are saved with checkpoints).
    let saved: Vec<f32> = map.data().lock().unwrap()["running_mean"]
        .as_tensor()
        .to_vec1()
        .unwrap();
    assert_eq!(saved, rm);
    for ch in 0..c {
        let vals: Vec<f64> = (0..n)
            .flat_map(|b| {
                v[(b * c + ch) * s..(b * c + ch + 1) * s]
                    .iter()
                    .map(|&a| a as f64)
            })
            .collect();
        let m = vals.iter().sum::<f64>() / vals.len() as f64;
        let var = vals.iter().map(|a| (a - m).powi(2)).sum::<f64>() / (vals.len() - 1) as f64;
        assert!((rm[ch] as f64 - 0.1 * m).abs() < 1e-5, "running mean {ch}");
        assert!(
            (rv[ch] as f64 - (0.9 + 0.1 * var)).abs() < 1e-5,
            "running var {ch}"
        );
    }
}

/// The case's `params` from the safetensors header metadata (as written by PyTorch's side).
fn params(case: &str) -> Option<serde_json::Value> {
    let p = tomofuse_core::require_shared(&format!("reference/torch/{case}.safetensors"))?;
    let bytes = std::fs::read(p).expect("read reference");
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let params = header["__metadata__"]["params"].as_str().expect("params");
    Some(serde_json::from_str(params).unwrap())
}

#[test]
fn batch_norm3d_eval() {
    // Running statistics from the case's metadata; set through the VarMap, which shares them
    // with the layer.
    let Some(p) = params("batch_norm3d_eval") else {
        return;
    };
    let stat = |k: &str| {
        let v: Vec<f32> = p[k]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_f64().unwrap() as f32)
            .collect();
        Tensor::new(v.as_slice(), &Device::Cpu).unwrap()
    };
    let (rm, rv) = (stat("running_mean"), stat("running_var"));
    check_norm(
        "batch_norm3d_eval",
        &[("running_mean", &rm), ("running_var", &rv)],
        |vb| {
            let l = batch_norm3d(3, 1e-5, 0.1, vb).unwrap();
            Box::new(move |x| l.forward_t(x, false).unwrap())
        },
    );
}
