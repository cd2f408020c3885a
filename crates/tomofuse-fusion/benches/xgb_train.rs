//! XGBoost training through the binding (DMatrix construction + 50 rounds, depth 4) on the
//! synthetic cohort; the Python side-by-side is benches/python/xgb_speed.py.

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use tomofuse_fusion::synth::{SynthConfig, generate};
use tomofuse_fusion::{Matrix, XgbModel, XgbParams};

fn bench(c: &mut Criterion) {
    let cohort = generate(&SynthConfig {
        n_cases: 2000,
        ..SynthConfig::default()
    })
    .expect("synthetic cohort");
    let ds = &cohort.data;
    let (rows, cols) = (ds.all_rows(), ds.all_cols());
    let (x, y) = (ds.matrix(&rows, &cols), ds.labels(&rows));
    let params = XgbParams {
        n_rounds: 50,
        early_stopping_rounds: None,
        max_depth: 4,
        ..XgbParams::default()
    };
    c.bench_function("xgb_train_2000x345_50rounds", |b| {
        b.iter(|| {
            let m = Matrix::new(&x, rows.len(), cols.len()).expect("matrix");
            black_box(XgbModel::train(m, &y, &ds.names, &params, None).expect("train"))
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = bench
}
criterion_main!(benches);
