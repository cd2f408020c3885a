//! XGBoost through the Rust binding vs Python xgboost (the same libxgboost 3.4.1) on the same
//! data and parameters: equal predictions, margins, SHAP contributions and early-stopping
//! round; a model saved by tomofuse loads in Python. The speed comparison is `#[ignore]`d
//! (slow): `cargo test -p tomofuse-fusion --test xgb_python -- --ignored --nocapture`.

use std::path::Path;
use std::time::Instant;
use tomofuse_fusion::cv::stratified_holdout;
use tomofuse_fusion::synth::{SynthConfig, generate};
use tomofuse_fusion::{Matrix, XgbModel, XgbParams};

fn script(name: &str) -> String {
    format!("{}/../../benches/python/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn write_f32(path: &Path, v: &[f32]) {
    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    std::fs::write(path, bytes).unwrap();
}

fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

fn floats(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

#[test]
fn predictions_equal_python_xgboost() {
    let Some(py) = tomofuse_core::python_with(&["xgboost", "numpy"]) else {
        return;
    };
    let cohort = generate(&SynthConfig::default()).unwrap();
    let ds = &cohort.data;
    let cols = ds.all_cols();
    let p = cols.len();
    let (train, valid) = stratified_holdout(ds, &ds.rows_with_split("train"), 0.2, 11);
    let test = ds.rows_with_split("test");
    let params = XgbParams {
        n_rounds: 300,
        early_stopping_rounds: Some(25),
        eta: 0.1,
        max_depth: 4,
        subsample: 0.8,
        colsample_bytree: 0.7,
        seed: 5,
        ..XgbParams::default()
    };
    let (xt, yt) = (ds.matrix(&train, &cols), ds.labels(&train));
    let (xv, yv) = (ds.matrix(&valid, &cols), ds.labels(&valid));
    let xs = ds.matrix(&test, &cols);
    let model = XgbModel::train(
        Matrix::new(&xt, train.len(), p).unwrap(),
        &yt,
        &ds.names,
        &params,
        Some((Matrix::new(&xv, valid.len(), p).unwrap(), &yv)),
    )
    .unwrap();
    let ms = Matrix::new(&xs, test.len(), p).unwrap();
    let prob: Vec<f64> = model
        .predict(ms)
        .unwrap()
        .into_iter()
        .map(f64::from)
        .collect();
    let margin: Vec<f64> = model
        .predict_margin(ms)
        .unwrap()
        .into_iter()
        .map(f64::from)
        .collect();
    let contrib: Vec<f64> = model
        .contributions(ms)
        .unwrap()
        .into_iter()
        .map(f64::from)
        .collect();

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_f32(&d.join("train_x.f32"), &xt);
    write_f32(&d.join("valid_x.f32"), &xv);
    write_f32(&d.join("test_x.f32"), &xs);
    std::fs::write(d.join("train_y.u8"), &yt).unwrap();
    std::fs::write(d.join("valid_y.u8"), &yv).unwrap();
    let meta = serde_json::json!({
        "p": p, "n_train": train.len(), "n_valid": valid.len(), "n_test": test.len(),
        "params": params.as_pairs(model.base_score),
        "n_rounds": params.n_rounds, "early_stopping_rounds": params.early_stopping_rounds,
    });
    std::fs::write(d.join("meta.json"), meta.to_string()).unwrap();
    let model_path = d.join("model.json");
    model.save(&model_path).unwrap();
    let out = std::process::Command::new(&py)
        .arg(script("xgb_compare.py"))
        .arg(d)
        .arg(&model_path)
        .output()
        .unwrap();
    println!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "xgb_compare.py failed");
    let res: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("out.json")).unwrap()).unwrap();
    let py_best = res["best_iteration"].as_u64().map(|b| b as u32);
    let dp = max_abs_diff(&prob, &floats(&res["prob"]));
    let dm = max_abs_diff(&margin, &floats(&res["margin"]));
    let dc = max_abs_diff(&contrib, &floats(&res["contrib"]));
    let dl = max_abs_diff(&prob, &floats(&res["loaded_prob"]));
    println!(
        "n_train={} n_valid={} n_test={} p={p}: best_iteration rust={:?} python={py_best:?}; max |diff| prob={dp:.3e} margin={dm:.3e} shap={dc:.3e}; python on tomofuse's saved model: {dl:.3e}",
        train.len(),
        valid.len(),
        test.len(),
        model.best_iteration
    );
    assert!(model.best_iteration.is_some());
    assert_eq!(
        model.best_iteration, py_best,
        "early stopping picks the same round"
    );
    assert!(dp <= 1e-6 && dm <= 1e-5 && dc <= 1e-5 && dl <= 1e-6);
}

#[test]
#[ignore = "slow: speed comparison with Python xgboost (about a minute)"]
fn xgb_speed_vs_python() {
    let Some(py) = tomofuse_core::python_with(&["xgboost", "numpy"]) else {
        return;
    };
    let cohort = generate(&SynthConfig {
        n_cases: 20_000,
        n_radiomics: 150,
        n_deep: 100,
        seed: 3,
        ..SynthConfig::default()
    })
    .unwrap();
    let ds = &cohort.data;
    let rows = ds.all_rows();
    let cols = ds.all_cols();
    let (x, y) = (ds.matrix(&rows, &cols), ds.labels(&rows));
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()) as u32;
    let params = XgbParams {
        n_rounds: 100,
        early_stopping_rounds: None,
        max_depth: 6,
        eta: 0.1,
        subsample: 1.0,
        colsample_bytree: 1.0,
        nthread: threads,
        base_score: Some(0.5),
        ..XgbParams::default()
    };
    let repeats = 3;
    let mut times = Vec::new();
    for _ in 0..repeats {
        let t0 = Instant::now();
        let m = XgbModel::train(
            Matrix::new(&x, rows.len(), cols.len()).unwrap(),
            &y,
            &ds.names,
            &params,
            None,
        )
        .unwrap();
        times.push(t0.elapsed().as_secs_f64());
        drop(m);
    }
    times.sort_by(f64::total_cmp);
    let rust = times[repeats / 2];
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_f32(&d.join("train_x.f32"), &x);
    std::fs::write(d.join("train_y.u8"), &y).unwrap();
    let meta = serde_json::json!({
        "p": cols.len(), "n_train": rows.len(), "n_valid": 0, "n_test": 0,
        "params": params.as_pairs(0.5), "n_rounds": params.n_rounds, "early_stopping_rounds": null,
    });
    std::fs::write(d.join("meta.json"), meta.to_string()).unwrap();
    println!("rust runs: {times:?}");
    let out = std::process::Command::new(&py)
        .arg(script("xgb_speed.py"))
        .arg(d)
        .args([
            "--rust-seconds",
            &rust.to_string(),
            "--repeats",
            &repeats.to_string(),
        ])
        .output()
        .unwrap();
    println!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success());
}
