//! Times one fine-tuning step of the ResNet50-3D on a 4x1x32^3 batch through the crate's own
//! code path ([`TrainStep`], what `finetune` repeats): forward in training mode, BCE with
//! logits, backward, AdamW. `benches/python/torch_speed.py` runs the same step in MONAI/PyTorch
//! (`resnet50(spatial_dims=3, n_input_channels=1, num_classes=1, widen_factor=0.25,
//! conv1_t_stride=2)`, `BCEWithLogitsLoss`, `AdamW`).
//!
//! CARGO_TARGET_DIR=... cargo run --release -p tomofuse-resnet3d --example finetune_step -- \
//!     [reps=7] [batch=4] [size=32]
//! One warm-up step, then `reps` timed steps; prints a JSON line (median, min, cpu_min,
//! peak_mb = VmHWM).

/// The product binary's allocator (crates/tomofuse-cli/src/main.rs), so that times match it.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::Instant;

use candle_core::{Device, Tensor};
use tomofuse_resnet3d::train::{FinetuneConfig, TrainStep, finetune_net_config};

/// The timed work runs on rayon's pool, as the product's trainer and inference do
/// ([`tomofuse_nn3d::on_pool`]).
fn main() -> Result<(), String> {
    tomofuse_nn3d::on_pool(|| run().map_err(|e| e.to_string()))
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let a: Vec<String> = std::env::args().collect();
    let arg = |i: usize, d: usize| a.get(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    let (reps, batch, size) = (arg(1, 7), arg(2, 4), arg(3, 32));
    let cfg = FinetuneConfig::default();
    let (_varmap, mut step) = TrainStep::seeded(finetune_net_config(), &cfg)?;
    let dev = Device::Cpu;
    let x = Tensor::randn(0f32, 1.0, (batch, 1, size, size, size), &dev)?;
    let y = Tensor::from_vec(
        (0..batch).map(|i| (i % 2) as f32).collect::<Vec<_>>(),
        batch,
        &dev,
    )?;
    step.step(&x, &y, cfg.learning_rate, 1.0)?; // warm-up
    let (mut wall, mut cpu) = (Vec::new(), Vec::new());
    for r in 0..reps {
        let (t, c) = (Instant::now(), cpu_seconds());
        let l = step.step(&x, &y, cfg.learning_rate, 1.0)?;
        wall.push(t.elapsed().as_secs_f64());
        cpu.push(cpu_seconds() - c);
        println!(
            "run {r}: {:.4} s wall, {:.4} CPU-s, loss {l:.4}",
            wall[r], cpu[r]
        );
    }
    wall.sort_by(f64::total_cmp);
    cpu.sort_by(f64::total_cmp);
    println!(
        "{{\"median\": {}, \"min\": {}, \"cpu_min\": {}, \"peak_mb\": {}}}",
        wall[wall.len() / 2],
        wall[0],
        cpu[0],
        peak_rss_mb()
    );
    Ok(())
}

/// CPU seconds used so far by all threads of this process (Linux; 0 elsewhere).
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
