//! Stratified bootstrap of the AUC (n = 609, 2000 resamples): the 3 ms target.
//! Run: cargo bench -p tomofuse-metrics --bench bootstrap
use criterion::{Criterion, criterion_group, criterion_main};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::hint::black_box;
use tomofuse_metrics::{
    BootstrapConfig, CiMethod, bootstrap_auc, bootstrap_auc_replicates, delong,
};

fn data(n: usize) -> (Vec<bool>, Vec<f64>) {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let labels: Vec<bool> = (0..n)
        .map(|i| i < 2 && i == 0 || (i >= 2 && rng.random::<f64>() < 0.3))
        .collect();
    let scores = labels
        .iter()
        .map(|&y| ((rng.random::<f64>() + if y { 0.3 } else { 0.0 }) * 1000.0).round() / 1000.0)
        .collect();
    (labels, scores)
}

fn bench(c: &mut Criterion) {
    let (labels, scores) = data(609);
    c.bench_function("bootstrap_auc_replicates n=609 B=2000", |b| {
        b.iter(|| {
            bootstrap_auc_replicates(black_box(&labels), black_box(&scores), 2000, 7).unwrap()
        })
    });
    c.bench_function("bootstrap_auc CI (percentile+BCa) n=609 B=2000", |b| {
        b.iter(|| {
            bootstrap_auc(
                black_box(&labels),
                black_box(&scores),
                &BootstrapConfig::default(),
            )
            .unwrap()
        })
    });
    c.bench_function("delong n=609", |b| {
        b.iter(|| {
            delong(
                black_box(&labels),
                black_box(&scores),
                0.95,
                CiMethod::Plain,
            )
            .unwrap()
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
