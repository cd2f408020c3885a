//! Shared helpers: synthetic datasets and running the Python reference scripts.
#![allow(dead_code)]

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::PathBuf;

/// Random binary dataset: labels with prevalence `prev`, a score with signal `shift` rounded to
/// `decimals` (ties on purpose), probabilities strictly inside (0, 1).
pub struct Dataset {
    pub labels: Vec<bool>,
    pub scores: Vec<f64>,
    pub probs: Vec<f64>,
}

pub fn dataset(seed: u64, n: usize, prev: f64, shift: f64, decimals: i32) -> Dataset {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut labels = Vec::with_capacity(n);
    let mut scores = Vec::with_capacity(n);
    let mut probs = Vec::with_capacity(n);
    let scale = 10f64.powi(decimals);
    for i in 0..n {
        // Guarantee both classes.
        let y = if i == 0 {
            true
        } else if i == 1 {
            false
        } else {
            rng.random::<f64>() < prev
        };
        // Sum of uniforms: roughly normal, deterministic.
        let noise: f64 = (0..6).map(|_| rng.random::<f64>()).sum::<f64>() - 3.0;
        let s = noise + if y { shift } else { 0.0 };
        scores.push((s * scale).round() / scale);
        let p = 1.0 / (1.0 + (-(0.8 * s - 0.7)).exp());
        probs.push(p.clamp(1e-6, 1.0 - 1e-6));
        labels.push(y);
    }
    Dataset {
        labels,
        scores,
        probs,
    }
}

pub fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../benches/python")
        .join(name)
}

/// Run `benches/python/<name>` on `input` (JSON) and parse its JSON output.
pub fn run_python(py: &str, name: &str, input: &serde_json::Value) -> serde_json::Value {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("input.json");
    std::fs::write(&path, serde_json::to_vec(input).expect("json")).expect("write input");
    let out = std::process::Command::new(py)
        .arg(script(name))
        .arg(&path)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "{name} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("parse python output")
}

pub fn f64s(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

pub fn assert_close(a: f64, b: f64, tol: f64, what: &str) {
    assert!(
        (a - b).abs() <= tol * (1.0 + b.abs()),
        "{what}: ours {a} vs reference {b} (diff {:e})",
        (a - b).abs()
    );
}

pub fn assert_all_close(a: &[f64], b: &[f64], tol: f64, what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: lengths differ");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert_close(*x, *y, tol, &format!("{what}[{i}]"));
    }
}
