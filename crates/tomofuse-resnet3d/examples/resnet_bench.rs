//! Times ResNet50-3D eval forward (MONAI defaults: conv1 7x7x7 stride 1, max-pool, width 1.0,
//! random weights) on 1x1xS^3, for comparison with benches/python/torch_speed.py.
//!
//! CARGO_TARGET_DIR=/work/target-nn cargo run --release -p tomofuse-resnet3d \
//!     --example resnet_bench -- [size=64] [widen=1.0] [reps=5]
//! Prints one line per run, the median, and a JSON line (median, min, peak_mb = VmHWM) for
//! benches/python/torch_speed.py. The weights are plain tensors (as when loaded from a
//! checkpoint), so the folded batch norms are computed once and cached.

/// The product binary's allocator (crates/tomofuse-cli/src/main.rs), so that times match it.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::Instant;

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{VarBuilder, VarMap};
use tomofuse_resnet3d::{ResNet3d, ResNetConfig};

/// The timed work runs on rayon's pool, as the product's trainer and inference do
/// ([`tomofuse_nn3d::on_pool`]).
fn main() -> Result<(), String> {
    tomofuse_nn3d::on_pool(|| run().map_err(|e| e.to_string()))
}

fn run() -> candle_core::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("conv") {
        return conv_bench(args.get(2).and_then(|s| s.parse().ok()).unwrap_or(5));
    }
    let size: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(64);
    let widen: f64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1.0);
    let reps: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(5);
    let map = VarMap::new();
    let vb = VarBuilder::from_varmap(&map, DType::F32, &Device::Cpu);
    let cfg = ResNetConfig::resnet50(1, 2).with_widen_factor(widen);
    ResNet3d::new(cfg.clone(), vb)?;
    // Inference model on detached weights, as loaded from a checkpoint.
    let plain: std::collections::HashMap<String, Tensor> = map
        .data()
        .lock()
        .map_err(|_| candle_core::Error::Msg("lock".into()))?
        .iter()
        .map(|(k, v)| (k.clone(), v.as_tensor().detach()))
        .collect();
    let net = ResNet3d::new(
        cfg,
        VarBuilder::from_tensors(plain, DType::F32, &Device::Cpu),
    )?;
    let x = Tensor::randn(0f32, 1.0, (1, 1, size, size, size), &Device::Cpu)?;
    net.forward(&x)?; // warm-up
    let mut times = Vec::new();
    for r in 0..reps {
        let (t, c) = (Instant::now(), cpu_seconds());
        let y = net.forward(&x)?;
        let _ = y.to_vec2::<f32>()?;
        let s = t.elapsed().as_secs_f64();
        println!("run {r}: {s:.3} s wall, {:.3} CPU-s", cpu_seconds() - c);
        times.push(s);
    }
    times.sort_by(f64::total_cmp);
    let (med, min) = (times[times.len() / 2], times[0]);
    println!(
        "resnet50-3d widen {widen} forward 1x1x{size}^3: median {med:.3} s over {reps} runs (RAYON_NUM_THREADS={:?})",
        std::env::var("RAYON_NUM_THREADS").ok()
    );
    println!(
        "{{\"median\": {med}, \"min\": {min}, \"peak_mb\": {}}}",
        peak_rss_mb()
    );
    Ok(())
}

/// `resnet_bench conv [reps]`: conv3d 1x16x64^3, 16->16, 3x3x3, pad 1, forward and backward
/// (the case of DEPENDENCIES.md), minimum over the runs. "backward" is `y.backward()`, which
/// seeds with ones like PyTorch's `y.backward(torch.ones_like(y))` in torch_speed.py;
/// "via sum" is the earlier definition, `(y * ones).sum_all().backward()`, which also times
/// the product, the sum and their backward (kept to compare with older figures).
fn conv_bench(reps: usize) -> candle_core::Result<()> {
    use tomofuse_nn3d::{Conv3dConfig, conv3d_op};
    let dev = Device::Cpu;
    let x = candle_core::Var::from_tensor(&Tensor::randn(0f32, 1.0, (1, 16, 64, 64, 64), &dev)?)?;
    let w = candle_core::Var::from_tensor(&Tensor::randn(0f32, 0.1, (16, 16, 3, 3, 3), &dev)?)?;
    let cfg = Conv3dConfig {
        padding: 1,
        ..Default::default()
    };
    let inf = f64::INFINITY;
    let (mut tf, mut tb, mut ts, mut cf, mut cb, mut cs) = (inf, inf, inf, inf, inf, inf);
    for _ in 0..reps {
        let (t, c) = (Instant::now(), cpu_seconds());
        let y = conv3d_op(x.as_tensor(), w.as_tensor(), cfg)?;
        tf = tf.min(t.elapsed().as_secs_f64());
        cf = cf.min(cpu_seconds() - c);
        let (t, c) = (Instant::now(), cpu_seconds());
        let g = y.backward()?;
        tb = tb.min(t.elapsed().as_secs_f64());
        cb = cb.min(cpu_seconds() - c);
        drop(g);
        let gy = y.ones_like()?;
        let (t, c) = (Instant::now(), cpu_seconds());
        let g = (&y * &gy)?.sum_all()?.backward()?;
        ts = ts.min(t.elapsed().as_secs_f64());
        cs = cs.min(cpu_seconds() - c);
        drop(g);
    }
    println!(
        "conv3d 1x16x64^3 16->16 k3: forward {tf:.3} s wall ({cf:.3} CPU-s), backward {tb:.3} s wall ({cb:.3} CPU-s), backward via sum {ts:.3} s wall ({cs:.3} CPU-s), min of {reps}"
    );
    Ok(())
}

/// CPU seconds used so far by all threads of this process (Linux; 0 elsewhere). On a loaded
/// machine wall time mostly measures the wait for a core, CPU time the work done.
fn cpu_seconds() -> f64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0.0;
    };
    tasks
        .filter_map(|t| t.ok())
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .sum::<f64>()
        * 1e-9
}

/// Peak resident memory of this process (VmHWM), MB.
fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .unwrap_or(0.0)
        / 1024.0
}
