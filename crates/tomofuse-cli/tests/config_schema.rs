//! The experiment config's JSON Schema and the Rust reader agree: every section has the same
//! keys in both, the shipped experiments are valid under both, and configs the reader refuses
//! for an unknown key or a wrong type are refused by the reference `jsonschema` validator too.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn schema() -> serde_json::Value {
    let text = std::fs::read_to_string(root().join("data-schemas/experiment-config.schema.json"))
        .expect("schema");
    serde_json::from_str(&text).expect("schema is JSON")
}

fn keys(v: &serde_json::Value) -> BTreeSet<String> {
    v.as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

fn shipped() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root().join("experiments"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    v.sort();
    assert!(v.len() >= 2, "shipped experiments: {v:?}");
    v
}

/// The SAP experiment: it has every optional section.
fn sap_experiment() -> PathBuf {
    shipped()
        .into_iter()
        .find(|p| p.to_string_lossy().contains("sap"))
        .expect("sap experiment")
}

/// A config with every section and every key the reader knows, as the reader writes it back.
fn full_config_json(path: &Path) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_tomofuse"))
        .args(["run", "--print-config"])
        .arg(path)
        .output()
        .expect("tomofuse runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("resolved config is JSON")
}

#[test]
fn schema_sections_have_exactly_the_readers_keys() {
    let s = schema();
    let props = &s["properties"];
    // Profiles are checked through the override schema.
    let cfg = full_config_json(&sap_experiment());
    assert_eq!(keys(&cfg), keys(props), "top-level sections");
    for (section, value) in cfg.as_object().unwrap() {
        if section == "profiles" {
            let over = &props["profiles"]["additionalProperties"]["properties"];
            for (name, p) in value.as_object().unwrap() {
                let unknown: Vec<_> = keys(p).difference(&keys(over)).cloned().collect();
                assert!(
                    unknown.is_empty(),
                    "profile {name}: {unknown:?} not in schema"
                );
            }
            continue;
        }
        assert_eq!(
            keys(value),
            keys(&props[section]["properties"]),
            "section [{section}]: reader keys vs schema properties"
        );
    }
}

#[test]
fn shipped_and_broken_configs_agree_with_jsonschema() {
    let Some(py) = tomofuse_core::python_with(&["jsonschema", "tomllib"]) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let sap = std::fs::read_to_string(sap_experiment()).unwrap();
    let broken = [
        (
            "unknown_key",
            sap.replace("max_features = 12", "max_features = 12\nmax_featurs = 3"),
        ),
        (
            "bad_selection",
            sap.replace(
                "fused_selection = \"per-modality\"",
                "fused_selection = \"union\"",
            ),
        ),
        (
            "bad_type",
            sap.replace("augment_noise_hu = 20.0", "augment_noise_hu = \"20\""),
        ),
        (
            "bad_segmentation_source",
            sap.replace("[segmentation]\n", "[segmentation]\nsource = \"manual\"\n"),
        ),
    ];
    let mut files = shipped();
    for (name, text) in &broken {
        assert_ne!(text, &sap, "{name}: the replacement must change the config");
        let p = dir.join(format!("{name}.toml"));
        std::fs::write(&p, text).unwrap();
        files.push(p);
    }
    let out = Command::new(&py)
        .arg(root().join("benches/python/check_config_schema.py"))
        .arg(root().join("data-schemas/experiment-config.schema.json"))
        .args(&files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        text.lines().count(),
        files.len(),
        "one verdict per file:\n{text}"
    );
    for (line, file) in text.lines().zip(&files) {
        let py_ok = line.split('\t').nth(1) == Some("ok");
        let rust = Command::new(env!("CARGO_BIN_EXE_tomofuse"))
            .args(["run", "--print-config"])
            .arg(file)
            .output()
            .unwrap();
        assert_eq!(
            py_ok,
            rust.status.success(),
            "{}: jsonschema says {line:?}, tomofuse says {}",
            file.display(),
            String::from_utf8_lossy(&rust.stderr)
        );
        let is_shipped = file.starts_with(root().join("experiments"));
        assert_eq!(py_ok, is_shipped, "{line}");
    }
}
