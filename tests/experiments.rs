//! End-to-end: both shipped experiments on the `tiny` profile through the real binary, with
//! determinism (same config + seed -> identical metrics), resume after completion (every stage
//! cached) and resume after a SIGKILL mid-run.

use std::path::{Path, PathBuf};
use std::process::Command;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_tomofuse")
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn run(config: &str, out: &Path) -> String {
    let o = Command::new(bin())
        .current_dir(root())
        .args(["run", config, "--profile", "tiny", "--out"])
        .arg(out)
        .env("RUST_LOG", "info")
        .output()
        .expect("spawn tomofuse");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "tomofuse run {config} failed:\n{text}");
    text
}

fn metrics(out: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(out.join("metrics.json")).expect("metrics.json");
    serde_json::from_str(&text).expect("metrics.json parses")
}

fn check_outputs(out: &Path) {
    for f in [
        "manifest.json",
        "metrics.json",
        "report.html",
        "predictions.csv",
    ] {
        assert!(out.join(f).is_file(), "{f} missing in {}", out.display());
    }
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains("Provenance"));
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    assert!(manifest["git_commit"].is_string() && manifest["seed"].is_u64());
    // Every predicted mask is a readable NIfTI.
    let masks: Vec<_> = std::fs::read_dir(out.join("masks")).unwrap().collect();
    assert!(!masks.is_empty());
}

#[test]
fn crswnp_tiny_is_deterministic_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    let b = dir.path().join("b");
    run("experiments/crswnp-mtlnet.toml", &a);
    check_outputs(&a);
    let ma = metrics(&a);
    // Train, validation and external sets all reported, with Dice.
    let sets = ma["results"]["sets"].as_array().expect("sets");
    let names: Vec<&str> = sets.iter().map(|s| s["set"].as_str().unwrap()).collect();
    assert_eq!(names, ["train", "validation", "external"]);
    for s in sets {
        assert!(
            s["dice_mean"].as_f64().is_some(),
            "no Dice for {}",
            s["set"]
        );
    }
    // Same config and seed in a fresh directory: identical numbers.
    run("experiments/crswnp-mtlnet.toml", &b);
    assert_eq!(
        ma,
        metrics(&b),
        "same config and seed gave different metrics"
    );
    // Rerun in place: every stage is taken from the cache, numbers unchanged.
    let log = run("experiments/crswnp-mtlnet.toml", &a);
    assert!(log.contains("stage segmentation: cached"), "{log}");
    assert_eq!(ma, metrics(&a));
}

#[test]
fn sap_tiny_runs_and_resumes_after_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    // Start, wait for the segmentation stage to finish, kill the process hard.
    let mut child = Command::new(bin())
        .current_dir(root())
        .args([
            "run",
            "experiments/sap-multimodal.toml",
            "--profile",
            "tiny",
            "--out",
        ])
        .arg(&a)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let marker = a.join("stages/segmentation.done.json");
    let t0 = std::time::Instant::now();
    let mut killed = false;
    while t0.elapsed().as_secs() < 600 {
        if marker.exists() {
            child.kill().unwrap();
            killed = true;
            break;
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let _ = child.wait();
    assert!(marker.exists(), "segmentation stage never finished");
    // Resume: the trained U-Net is reused, the run completes.
    let log = run("experiments/sap-multimodal.toml", &a);
    if killed {
        assert!(log.contains("stage segmentation: cached"), "{log}");
    }
    check_outputs(&a);
    let resumed = metrics(&a);
    // An uninterrupted run gives the same numbers.
    let b = dir.path().join("b");
    run("experiments/sap-multimodal.toml", &b);
    assert_eq!(
        resumed,
        metrics(&b),
        "resumed run differs from an uninterrupted one"
    );
    let models = resumed["results"]["models"].as_array().expect("models");
    let names: Vec<&str> = models.iter().map(|m| m["name"].as_str().unwrap()).collect();
    for want in ["xgb_fused", "xgb_clinical", "xgb_radiomics", "xgb_deep"] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    assert!(
        resumed["results"]["max_shap_additivity_error"]
            .as_f64()
            .unwrap()
            < 1e-4
    );
}
