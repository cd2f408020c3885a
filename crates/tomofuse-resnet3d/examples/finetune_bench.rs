//! Times fine-tuning and prediction of the 1-logit ResNet50-3D on synthetic 1x32^3 crops
//! (the SAP study's deep-feature setting), to pick epochs and batch size for the budget.
//!
//! CARGO_TARGET_DIR=... cargo run -p tomofuse-resnet3d --example finetune_bench -- \
//!     [cases=100] [epochs=8] [batch=4] [widen=0.25] [conv1_t_stride=2]
//! Prints the time per training step (from a 1-epoch run over `cases`), per eval forward
//! (batch 1 and batch 8, per crop), then the full run of `epochs` (0 = skip) with its
//! held-out AUC on 60 other cases. Env: LR (default 1e-3), ZERO_INIT=0 (MONAI init only).

#[path = "../tests/common/mod.rs"]
mod common;

/// The product binary's allocator (crates/tomofuse-cli/src/main.rs), so that times match it.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::Instant;

use tomofuse_resnet3d::ResNetConfig;
use tomofuse_resnet3d::train::{Classifier, FinetuneConfig, finetune};

/// The timed work runs on rayon's pool, as the product's trainer and inference do
/// ([`tomofuse_nn3d::on_pool`]).
fn main() -> Result<(), String> {
    tomofuse_nn3d::on_pool(|| run().map_err(|e| e.to_string()))
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let a: Vec<String> = std::env::args().collect();
    let arg = |i: usize, d: f64| a.get(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    let (cases, epochs, batch) = (
        arg(1, 100.0) as usize,
        arg(2, 8.0) as usize,
        arg(3, 4.0) as usize,
    );
    let mut net = ResNetConfig::resnet50(1, 1).with_widen_factor(arg(4, 0.25));
    net.conv1_t_stride = arg(5, 2.0) as usize;
    let train = common::ellipsoids(cases, 32, 1);
    let test = common::ellipsoids(60, 32, 2);
    let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<f64>().ok());
    let cfg = FinetuneConfig {
        epochs: 1,
        batch_size: batch,
        learning_rate: env("LR").unwrap_or(1e-3),
        zero_init_residual: env("ZERO_INIT").is_none_or(|v| v != 0.0),
        ..Default::default()
    };
    let steps = cases / batch;
    let (t, c) = (Instant::now(), cpu_seconds());
    finetune(net.clone(), &train, &cfg)?;
    let step = t.elapsed().as_secs_f64() / steps as f64;
    let cpu = (cpu_seconds() - c) / steps as f64;
    println!(
        "train step (batch {batch}, 1x32^3): {step:.3} s wall, {cpu:.3} CPU-s ({steps} steps)"
    );

    let clf = Classifier::untrained(net.clone(), [32; 3], 0)?;
    clf.logit(&test[0].crop)?; // warm-up (folds the batch norms)
    let (t, c) = (Instant::now(), cpu_seconds());
    for s in &test[..20] {
        clf.logit(&s.crop)?;
    }
    let (f1, c1) = (t.elapsed().as_secs_f64() / 20.0, (cpu_seconds() - c) / 20.0);
    let (t, c) = (Instant::now(), cpu_seconds());
    clf.logits(test.iter().map(|s| &s.crop))?;
    let n = test.len() as f64;
    let (f8, c8) = (t.elapsed().as_secs_f64() / n, (cpu_seconds() - c) / n);
    println!(
        "eval forward per crop: batch 1 {f1:.4} s wall ({c1:.4} CPU-s), batch 8 {f8:.4} s wall ({c8:.4} CPU-s)"
    );
    if epochs == 0 {
        return Ok(());
    }

    let (t, c) = (Instant::now(), cpu_seconds());
    let clf = finetune(net, &train, &FinetuneConfig { epochs, ..cfg })?;
    let secs = t.elapsed().as_secs_f64();
    println!("({:.1} CPU-s)", cpu_seconds() - c);
    let l: Vec<bool> = test.iter().map(|s| s.label).collect();
    let auc = common::auc(&clf.logits(test.iter().map(|s| &s.crop))?, &l);
    println!(
        "finetune {cases} cases x {epochs} epochs, batch {batch}: {secs:.1} s; held-out AUC {auc:.3}; losses {:?}",
        clf.train_losses()
            .iter()
            .map(|v| format!("{v:.3}"))
            .collect::<Vec<_>>()
    );
    Ok(())
}

/// CPU seconds used so far by all threads of this process (Linux; 0 elsewhere): on a shared
/// machine wall time mostly measures the wait for a core.
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
