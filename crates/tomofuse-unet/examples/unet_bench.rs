//! Speed of the MONAI-configured U-Net (channels 16-32-64-128-256, strides 2,
//! num_res_units=2, instance norm, PReLU) on CPU: forward 1x1x96^3 (inference, no graph) and
//! a training step on 2x1x64^3 (forward, Dice+CE loss, backward, AdamW). Prints the median
//! of `REPS` runs (default 5) and the peak resident memory. The PyTorch peer is
//! benches/python/unet_speed.py.
//!
//! `RAYON_NUM_THREADS=2 cargo run --release -p tomofuse-unet --example unet_bench [forward|train|layers]`
//!
//! `unet_bench check FILE` loads MONAI weights plus `io.x` / `io.y` from a safetensors file
//! written by unet_speed.py and prints the forward error against MONAI as JSON. Timing modes
//! also end with one JSON line (median, min, peak_mb) for the script.

/// The product binary's allocator (crates/tomofuse-cli/src/main.rs), so that times match it.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use candle_core::{DType, Device, Tensor};
use candle_nn::{Optimizer, VarBuilder, VarMap};
use std::collections::HashMap;
use std::time::Instant;
use tomofuse_nn3d::{AdamW, ParamsAdamW};
use tomofuse_unet::loss::dice_ce_loss;
use tomofuse_unet::{Unet, UnetConfig};

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse::<f64>().ok())
            })
        })
        .unwrap_or(0.0)
        / 1024.0
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Prints the human line and the JSON line the comparison script reads.
fn report(what: &str, t: &[f64]) {
    let (med, min, peak) = (
        median(t.to_vec()),
        t.iter().cloned().fold(f64::MAX, f64::min),
        peak_rss_mb(),
    );
    println!("{what}: median {med:.3} s (min {min:.3}), peak RSS {peak:.0} MB");
    println!("{{\"median\": {med}, \"min\": {min}, \"peak_mb\": {peak}}}");
}

/// The timed work runs on rayon's pool, as the product's trainer and inference do
/// ([`tomofuse_nn3d::on_pool`]).
fn main() -> Result<(), String> {
    tomofuse_nn3d::on_pool(|| run().map_err(|e| e.to_string()))
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let reps: usize = std::env::var("REPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let which = std::env::args().nth(1).unwrap_or_else(|| "all".into());
    let dev = Device::Cpu;
    let cfg = UnetConfig {
        class_head: None,
        ..UnetConfig::default()
    };
    let varmap = VarMap::new();
    let net = Unet::new(&cfg, VarBuilder::from_varmap(&varmap, DType::F32, &dev))?;
    tomofuse_unet::train::init_weights(&varmap, 0)?;
    println!(
        "threads: {} (RAYON_NUM_THREADS={:?})",
        rayon::current_num_threads(),
        std::env::var("RAYON_NUM_THREADS").ok()
    );

    if which == "check" {
        let path = std::env::args()
            .nth(2)
            .ok_or("usage: unet_bench check FILE")?;
        let mut all = candle_core::safetensors::load(&path, &dev)?;
        let x = all.remove("io.x").ok_or("io.x missing")?;
        let want = all.remove("io.y").ok_or("io.y missing")?;
        let monai = Unet::new(&cfg, VarBuilder::from_tensors(all, DType::F32, &dev))?;
        let got = monai.forward_t(&x, false)?.seg_logits;
        let err = (&got - &want)?
            .abs()?
            .flatten_all()?
            .max(0)?
            .to_scalar::<f32>()?;
        let scale = want.abs()?.flatten_all()?.max(0)?.to_scalar::<f32>()?;
        println!(
            "{{\"max_abs_err\": {err:e}, \"max_abs\": {scale:e}, \"rel_err\": {:e}}}",
            err / scale.max(f32::MIN_POSITIVE)
        );
        return Ok(());
    }
    if which == "layers" {
        // Where the forward time goes, on the top level's tensor size (16 x 48^3).
        let x = Tensor::randn(0f32, 1.0, (1, 16, 48, 48, 48), &dev)?;
        let time =
            |name: &str, f: &dyn Fn() -> candle_core::Result<Tensor>| -> candle_core::Result<()> {
                f()?;
                let s = Instant::now();
                for _ in 0..3 {
                    f()?;
                }
                println!("{name}: {:.1} ms", s.elapsed().as_secs_f64() * 1e3 / 3.0);
                Ok(())
            };
        let w = Tensor::randn(0f32, 0.1, (16, 16, 3, 3, 3), &dev)?;
        let cfg3 = tomofuse_nn3d::Conv3dConfig {
            padding: 1,
            stride: 1,
            dilation: 1,
            groups: 1,
        };
        time("conv3d 16->16 k3 on 48^3", &|| {
            tomofuse_nn3d::conv3d_op(&x, &w, cfg3)
        })?;
        let inorm = tomofuse_nn3d::instance_norm3d(
            16,
            1e-5,
            false,
            VarBuilder::from_tensors(HashMap::new(), DType::F32, &dev),
        )?;
        time("instance norm 16 x 48^3", &|| inorm.forward(&x))?;
        let pw = Tensor::new(&[0.25f32], &dev)?;
        let prelu = candle_nn::PReLU::new(pw, true);
        time("candle PReLU 16 x 48^3", &|| {
            candle_core::Module::forward(&prelu, &x)
        })?;
        time("add 16 x 48^3", &|| &x + &x)?;
        time("cat 2 x 16 x 48^3", &|| Tensor::cat(&[&x, &x], 1))?;
        return Ok(());
    }
    if which == "all" || which == "forward" {
        // Inference model on detached weights: no autograd graph is kept.
        let plain: HashMap<String, Tensor> = varmap
            .data()
            .lock()
            .map_err(|_| "lock")?
            .iter()
            .map(|(k, v)| (k.clone(), v.as_tensor().detach()))
            .collect();
        let inf = Unet::new(&cfg, VarBuilder::from_tensors(plain, DType::F32, &dev))?;
        let x = Tensor::randn(0f32, 1.0, (1, 1, 96, 96, 96), &dev)?;
        let _ = inf.forward_t(&x, false)?; // warm-up
        let mut t = Vec::new();
        for _ in 0..reps {
            let s = Instant::now();
            let y = inf.forward_t(&x, false)?;
            let _ = y.seg_logits.sum_all()?.to_scalar::<f32>()?;
            t.push(s.elapsed().as_secs_f64());
        }
        report("forward 1x1x96^3", &t);
    }
    if which == "all" || which == "train" {
        let mut opt = AdamW::new(varmap.all_vars(), ParamsAdamW::default())?;
        let x = Tensor::randn(0f32, 1.0, (2, 1, 64, 64, 64), &dev)?;
        let lab = Tensor::rand(0f32, 1.0, (2, 1, 64, 64, 64), &dev)?
            .ge(0.7)?
            .to_dtype(DType::F32)?;
        let oh = Tensor::cat(&[&(lab.neg()? + 1.0)?, &lab], 1)?;
        let mut step = || -> Result<f64, Box<dyn std::error::Error>> {
            let s = Instant::now();
            let (out, _) = net.forward_tap(&x, true, None)?;
            let (loss, _, _) = dice_ce_loss(&out.seg_logits, &oh)?;
            let _ = loss.to_scalar::<f32>()?;
            let t_fwd = s.elapsed().as_secs_f64();
            let g = loss.backward()?;
            let t_bwd = s.elapsed().as_secs_f64();
            opt.step(&g)?;
            let t = s.elapsed().as_secs_f64();
            println!(
                "  step: forward+loss {:.3} s, backward {:.3} s, AdamW {:.3} s",
                t_fwd,
                t_bwd - t_fwd,
                t - t_bwd
            );
            Ok(t)
        };
        step()?; // warm-up
        let t: Vec<f64> = (0..reps).map(|_| step()).collect::<Result<_, _>>()?;
        report("train step 2x1x64^3", &t);
    }
    Ok(())
}
