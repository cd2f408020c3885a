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
        "plan.json",
    ] {
        assert!(out.join(f).is_file(), "{f} missing in {}", out.display());
    }
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains("Provenance"));
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    assert!(manifest["git_commit"].is_string() && manifest["seed"].is_u64());
    // The built-in cohorts are on one grid: the plan is that grid, nothing is resampled.
    let plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("plan.json")).unwrap()).unwrap();
    assert_eq!(plan["target_spacing"], plan["grids"]["spacing_median"]);
    assert_eq!(plan["grids"]["spacing_min"], plan["grids"]["spacing_max"]);
    assert_eq!(plan["orientation"], "LPS");
    // Every predicted mask is a readable NIfTI.
    let masks: Vec<_> = std::fs::read_dir(out.join("masks")).unwrap().collect();
    assert!(!masks.is_empty());
    // The 3D reconstruction is in the report as rendered images, not only as PLY files.
    let meshes: Vec<_> = std::fs::read_dir(out.join("meshes")).unwrap().collect();
    assert!(!meshes.is_empty(), "no meshes/*.ply");
    assert!(
        html.contains("3D reconstruction"),
        "no 3D reconstruction section"
    );
    assert!(
        html.contains("<img src=\"data:image/png;base64,iVBORw0KGgo"),
        "no inline PNG in the report"
    );
    // The interactive view embeds the same predicted surface as the case's PLY file.
    let at = html
        .find("<canvas id=\"mesh3d-")
        .expect("no interactive 3D view in the report");
    let id = &html[at + "<canvas id=\"mesh3d-".len()..];
    let id = &id[..id.find('"').unwrap()];
    let data = &html[html[at..].find("\"label\":\"predicted\"").unwrap() + at..];
    let t = &data[data.find("\"t\":\"").unwrap() + 5..];
    let t = &t[..t.find('"').unwrap()];
    let triangles = t.trim_end_matches('=').len() * 3 / 4 / 12;
    let ply = std::fs::read(out.join(format!("meshes/{id}.ply"))).unwrap();
    let header = String::from_utf8_lossy(&ply[..ply.len().min(400)]);
    let faces: usize = header
        .lines()
        .find_map(|l| l.strip_prefix("element face "))
        .expect("PLY face count")
        .trim()
        .parse()
        .unwrap();
    assert_eq!(triangles, faces, "3D view of {id} vs meshes/{id}.ply");
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
    // Grad-CAM over every external positive (counted from predictions.csv), at the
    // localising layer, with the share of peaks in the sinus region consistent with its cases.
    let preds = std::fs::read_to_string(a.join("predictions.csv")).unwrap();
    let ext_pos = preds
        .lines()
        .skip(1)
        .filter(|l| {
            let f: Vec<&str> = l.split(',').collect();
            f[1] == "external" && f[3] == "1"
        })
        .count();
    let cam = &ma["results"]["gradcam"];
    assert_eq!(cam["layer"], "down.1", "{cam}");
    let cases = cam["cases"].as_array().expect("gradcam.cases");
    assert_eq!(cases.len(), ext_pos, "one map per external positive");
    let hits = cases
        .iter()
        .filter(|c| c["peak_in_target"] == serde_json::json!(true))
        .count();
    assert_eq!(cam["n_peak_in_target"].as_u64(), Some(hits as u64));
    assert_eq!(cam["n_cases"].as_u64(), Some(ext_pos as u64));
    for c in cases {
        let f = c["file"].as_str().unwrap();
        assert!(a.join(f).is_file(), "{f} missing");
    }
    let html = std::fs::read_to_string(a.join("report.html")).unwrap();
    assert!(
        html.contains(&format!("in {hits} of {ext_pos} cases")),
        "report does not state the Grad-CAM count"
    );
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

/// Starts `tomofuse run CONFIG --profile tiny --out OUT` and SIGKILLs it as soon as `when`
/// returns a value (polled every 5 ms), which is returned; `None` when the run ended first.
fn kill_run_when<T>(config: &str, out: &Path, mut when: impl FnMut() -> Option<T>) -> Option<T> {
    let mut child = Command::new(bin())
        .current_dir(root())
        .args(["run", config, "--profile", "tiny", "--out"])
        .arg(out)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t0 = std::time::Instant::now();
    let mut hit = None;
    while t0.elapsed().as_secs() < 900 {
        if let Some(v) = when() {
            child.kill().unwrap();
            hit = Some(v);
            break;
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let _ = child.wait();
    hit
}

/// Runs the binary with `args` (from the workspace root) and returns (success, stdout+stderr).
fn tomofuse(args: &[&str], envs: &[(&str, &str)]) -> (bool, String) {
    let mut cmd = Command::new(bin());
    cmd.current_dir(root()).args(args).env("RUST_LOG", "info");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let o = cmd.output().expect("spawn tomofuse");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        !text.contains("panicked") && o.status.code() != Some(101),
        "tomofuse {args:?} panicked:\n{text}"
    );
    (o.status.success(), text)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let t = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &t);
        } else {
            std::fs::copy(e.path(), &t).unwrap();
        }
    }
}

/// The "stage NAME: T cases: C cached, K computed, F failed" line of a log.
fn stage_counts(log: &str, stage: &str) -> (usize, usize, usize) {
    let pre = format!("stage {stage}: ");
    let line = log
        .lines()
        .rev()
        .find(|l| l.contains(&pre) && l.contains(" cached, "))
        .unwrap_or_else(|| panic!("no summary of stage {stage} in:\n{log}"));
    let num = |word: &str| -> usize {
        let i = line.find(word).unwrap();
        line[..i]
            .trim_end()
            .rsplit([' ', ':', ','])
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    (num(" cached"), num(" computed"), num(" failed"))
}

const SAP: &str = "experiments/sap-multimodal.toml";

#[test]
fn sap_tiny_resumes_after_sigkill_shards_merge_identically_and_survives_a_full_disk() {
    let dir = tempfile::tempdir().unwrap();
    // Reference: one uninterrupted run.
    let reference = dir.path().join("reference");
    run(SAP, &reference);
    check_outputs(&reference);
    let want = metrics(&reference);
    let models = want["results"]["models"].as_array().expect("models");
    let names: Vec<&str> = models.iter().map(|m| m["name"].as_str().unwrap()).collect();
    for m in ["xgb_fused", "xgb_clinical", "xgb_radiomics", "xgb_deep"] {
        assert!(names.contains(&m), "{m} missing from {names:?}");
    }
    // Quality the tiny cohort supports: its 7 test-centre cases and a U-Net trained for 8
    // steps support no test-AUC or Dice floor, but the out-of-fold AUC on the 17 training
    // cases does (measured 0.95 fused, 0.90 clinical at the shipped seed; chance is 0.5).
    let cv = |name: &str| {
        models
            .iter()
            .find(|m| m["name"] == name)
            .and_then(|m| m["cv_auc"].as_f64())
            .unwrap_or_else(|| panic!("no cv_auc for {name}"))
    };
    assert!(cv("xgb_fused") >= 0.8, "fused CV AUC {}", cv("xgb_fused"));
    assert!(
        cv("xgb_clinical") >= 0.75,
        "clinical CV AUC {}",
        cv("xgb_clinical")
    );
    assert!(
        want["results"]["max_shap_additivity_error"]
            .as_f64()
            .unwrap()
            < 1e-4
    );
    assert!(reference.join("features.parquet").is_file());

    // SIGKILL in the middle of the per-case feature stage, then resume.
    let a = dir.path().join("killed");
    let feats = a.join("cases/features");
    let killed = kill_run_when(SAP, &a, || {
        // Finished cases only (a temporary file is a case being written).
        let n = std::fs::read_dir(&feats).map_or(0, |d| {
            d.flatten()
                .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
                .count()
        });
        (n >= 3).then_some(())
    })
    .is_some();
    assert!(killed, "the run ended before it could be killed mid-stage");
    assert!(!a.join("metrics.json").exists());
    let log = run(SAP, &a);
    assert!(log.contains("stage segmentation: cached"), "{log}");
    let (cached, computed, _) = stage_counts(&log, "features");
    assert!(
        cached >= 3 && computed >= 1,
        "features: {cached} cached, {computed} computed"
    );
    assert_eq!(stage_counts(&log, "predict").1, 0, "predict redone:\n{log}");
    assert_eq!(
        want,
        metrics(&a),
        "resumed run differs from an uninterrupted one"
    );

    // Sharded: prepare once, then N shards and a merge give the single run's numbers.
    let prepared = dir.path().join("prepared");
    let p = prepared.to_str().unwrap();
    let (ok, log) = tomofuse(
        &[
            "run",
            SAP,
            "--profile",
            "tiny",
            "--out",
            p,
            "--until",
            "models",
        ],
        &[],
    );
    assert!(ok, "{log}");
    assert!(!prepared.join("metrics.json").exists());
    for n in [1usize, 3, 7] {
        let d = dir.path().join(format!("shards{n}"));
        copy_dir(&prepared, &d);
        let ds = d.to_str().unwrap();
        // The shard count is fixed in run.json; re-preparing reuses the trained models.
        let ns = n.to_string();
        let (ok, log) = tomofuse(
            &[
                "run",
                SAP,
                "--profile",
                "tiny",
                "--out",
                ds,
                "--until",
                "models",
                "--shards",
                &ns,
            ],
            &[],
        );
        assert!(ok && log.contains("stage segmentation: cached"), "{log}");
        // Tasks in the order a scheduler may run them: for N = 3, `--array=0,2` first (as
        // Slurm sets it: the task's own id, the array's count 2), then `--array=1` alone.
        let order: Vec<usize> = if n == 3 {
            vec![0, 2, 1]
        } else {
            (0..n).collect()
        };
        for (k, &i) in order.iter().enumerate() {
            if n == 3 && k == 2 {
                // Merging before the last shard finished names what is missing.
                let (ok, log) = tomofuse(&["merge", ds], &[]);
                assert!(!ok, "merge with a shard missing succeeded:\n{log}");
                assert!(log.contains("shard 1/3 has not finished"), "{log}");
                assert!(log.contains("in no finished shard"), "{log}");
                assert!(log.contains("--array=1"), "{log}");
            }
            let id = i.to_string();
            let slurm_count = if n == 3 && i != 1 { "2" } else { "1" };
            let slurm_min = if n == 3 && i != 1 { "0" } else { id.as_str() };
            let (ok, log) = if n == 3 {
                tomofuse(
                    &["run", SAP, "--profile", "tiny", "--out", ds],
                    &[
                        ("SLURM_ARRAY_TASK_ID", &id),
                        ("SLURM_ARRAY_TASK_COUNT", slurm_count),
                        ("SLURM_ARRAY_TASK_MIN", slurm_min),
                    ],
                )
            } else {
                tomofuse(
                    &["run", SAP, "--profile", "tiny", "--out", ds, "--shard", &id],
                    &[],
                )
            };
            assert!(ok, "shard {i}/{n}: {log}");
            assert!(
                d.join(format!("shards/shard-{i:03}-of-{n:03}.json"))
                    .is_file()
            );
            assert!(d.join(format!("logs/shard-{i:03}-of-{n:03}.log")).is_file());
        }
        if n == 3 {
            // A rerun of a finished shard (a resubmitted task) is accepted by the merge.
            let (ok, log) = tomofuse(
                &[
                    "run",
                    SAP,
                    "--profile",
                    "tiny",
                    "--out",
                    ds,
                    "--shard",
                    "2/3",
                ],
                &[],
            );
            assert!(ok, "rerun of shard 2: {log}");
            // An index or count that disagrees with run.json fails before any work.
            for (arg, want) in [("0/2", "disagrees"), ("3", "outside 0..2")] {
                let (ok, log) = tomofuse(
                    &["run", SAP, "--profile", "tiny", "--out", ds, "--shard", arg],
                    &[],
                );
                assert!(
                    !ok && log.contains(want) && log.contains("run.json"),
                    "{log}"
                );
            }
            // Re-preparing with another count once shards have finished is refused.
            let (ok, log) = tomofuse(
                &[
                    "run",
                    SAP,
                    "--profile",
                    "tiny",
                    "--out",
                    ds,
                    "--until",
                    "models",
                    "--shards",
                    "4",
                ],
                &[],
            );
            assert!(!ok && log.contains("another partition"), "{log}");
        }
        let (ok, log) = tomofuse(&["merge", ds], &[]);
        assert!(ok, "merge of {n} shards: {log}");
        assert_eq!(
            want,
            metrics(&d),
            "{n} shards merged differ from a single run"
        );
        assert_eq!(
            std::fs::read(reference.join("predictions.csv")).unwrap(),
            std::fs::read(d.join("predictions.csv")).unwrap()
        );
    }
    // A shard with another config is refused before it writes anything.
    let d1 = dir.path().join("shards1");
    let (ok, log) = tomofuse(
        &[
            "run",
            SAP,
            "--profile",
            "default",
            "--out",
            d1.to_str().unwrap(),
            "--shard",
            "0",
        ],
        &[],
    );
    assert!(!ok && log.contains("different config"), "{log}");

    // A full disk while one case's features are saved: the run completes without that case
    // and says why; the next run computes only it and matches the reference.
    let f = dir.path().join("disk-full");
    copy_dir(&prepared, &f);
    let fs = f.to_str().unwrap();
    let victim = "sap-0005";
    let (ok, log) = tomofuse(
        &["run", SAP, "--profile", "tiny", "--out", fs],
        &[(
            "TOMOFUSE_FAULT_WRITE",
            &format!("cases/features/{victim}.json"),
        )],
    );
    assert!(ok, "{log}");
    let m = metrics(&f);
    let fails = m["failures"].as_array().unwrap();
    assert!(
        fails.iter().any(
            |x| x["case_id"] == victim && x["reason"].as_str().unwrap().contains("os error 28")
        ),
        "{fails:?}"
    );
    assert!(!f.join(format!("cases/features/{victim}.json")).exists());
    let (ok, log) = tomofuse(&["run", SAP, "--profile", "tiny", "--out", fs], &[]);
    assert!(ok, "{log}");
    assert_eq!(stage_counts(&log, "features").1, 1, "{log}");
    assert_eq!(want, metrics(&f), "after the disk was freed");
}

/// Corrupt, truncated and non-finite inputs mixed into a real (manifest) cohort: the run
/// completes, every good case has its results, and each bad case is listed with its reason.
#[test]
fn sap_manifest_cohort_with_corrupt_inputs_completes() {
    let dir = tempfile::tempdir().unwrap();
    // The shipped config's seed, so the held-out centre has both outcomes; the broken cases are
    // taken from the training centres.
    let cohort = tomofuse_cohort::builtin("sap", tomofuse_cohort::Profile::Tiny, 20260609).unwrap();
    let data = dir.path().join("cohort");
    let manifest =
        tomofuse_cohort::write_cohort(&cohort, &data, &tomofuse_cohort::NiftiIo).unwrap();
    let bad: Vec<&str> = cohort
        .cases
        .iter()
        .filter(|c| c.centre.as_deref() != Some("C"))
        .map(|c| c.id.as_str())
        .step_by(5)
        .take(3)
        .collect();
    // Truncated image, garbage mask, NaN voxels.
    let img = |id: &str| data.join(format!("images/{id}.nii.gz"));
    let bytes = std::fs::read(img(bad[0])).unwrap();
    std::fs::write(img(bad[0]), &bytes[..bytes.len() / 3]).unwrap();
    std::fs::write(
        data.join(format!("masks/{}.nii.gz", bad[1])),
        b"not a nifti file at all",
    )
    .unwrap();
    let mut v = tomofuse_io::read_image(&img(bad[2])).unwrap();
    v.data[[3, 3, 3]] = f32::NAN;
    tomofuse_io::write_nifti(&img(bad[2]), &v).unwrap();

    let text = std::fs::read_to_string(root().join(SAP)).unwrap();
    let text = text.replace(
        "source = \"synthetic\"",
        &format!(
            "source = \"manifest\"\nmanifest = {:?}",
            manifest.to_str().unwrap()
        ),
    );
    assert!(text.contains("source = \"manifest\""));
    let config = dir.path().join("sap-manifest.toml");
    std::fs::write(&config, text).unwrap();
    let out = dir.path().join("run");
    let (ok, log) = tomofuse(
        &[
            "run",
            config.to_str().unwrap(),
            "--profile",
            "tiny",
            "--out",
            out.to_str().unwrap(),
        ],
        &[],
    );
    assert!(ok, "{log}");
    let m = metrics(&out);
    let fails = m["failures"].as_array().unwrap();
    for &id in &bad {
        let f = fails
            .iter()
            .find(|f| f["case_id"] == id)
            .unwrap_or_else(|| panic!("{id} not reported: {fails:?}"));
        assert!(!f["reason"].as_str().unwrap().is_empty());
    }
    let preds = std::fs::read_to_string(out.join("predictions.csv")).unwrap();
    for c in &cohort.cases {
        let present = preds.lines().any(|l| l.starts_with(&format!("{},", c.id)));
        assert_eq!(
            present,
            !bad.contains(&c.id.as_str()),
            "{} in predictions.csv",
            c.id
        );
    }
}

/// Plain rank AUC (ties count 1/2), written here independently of the metrics crate.
fn naive_auc(y: &[bool], s: &[f64]) -> f64 {
    let (mut num, mut np, mut nn) = (0.0, 0.0, 0.0);
    for (i, &yi) in y.iter().enumerate() {
        if yi {
            np += 1.0;
            for (j, &yj) in y.iter().enumerate() {
                if !yj {
                    num += match s[i].partial_cmp(&s[j]).unwrap() {
                        std::cmp::Ordering::Greater => 1.0,
                        std::cmp::Ordering::Equal => 0.5,
                        std::cmp::Ordering::Less => 0.0,
                    };
                }
            }
        } else {
            nn += 1.0;
        }
    }
    num / (np * nn)
}

/// The third shipped study exists only as TOML: radiomics + clinical on the cohort's own
/// masks, no network. Held out by centre as shipped, then the same study as configuration
/// only with `split.kind = "k-fold"` and `"leave-one-group-out"`: every labelled case gets
/// exactly one out-of-fold score per model in predictions.csv, and the reported pooled AUC
/// equals a naive AUC recomputed from that file.
#[test]
fn reference_mask_study_runs_held_out_k_fold_and_leave_one_group_out() {
    let dir = tempfile::tempdir().unwrap();
    let shipped = "experiments/radiomics-reference-masks.toml";
    let out = dir.path().join("held-out");
    run(shipped, &out);
    let m = metrics(&out);
    let r = &m["results"];
    assert_eq!(r["evaluation"], "held-out");
    assert!(
        r["models"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["name"] == "xgb_fused")
    );
    assert!(
        !out.join("models/unet.safetensors").exists(),
        "no network is trained"
    );

    let text = std::fs::read_to_string(root().join(shipped)).unwrap();
    for (kind, extra, n_folds) in [
        ("k-fold", "folds = 3\n", Some(3)),
        ("leave-one-group-out", "group_column = \"centre\"\n", None),
    ] {
        let t = text.replace(
            "kind = \"by-centre\"\n",
            &format!("kind = \"{kind}\"\n{extra}"),
        );
        let t = t.replace("test_centres = [\"C\"]\n", "");
        let config = dir.path().join(format!("{kind}.toml"));
        std::fs::write(&config, t).unwrap();
        let out = dir.path().join(kind);
        run(config.to_str().unwrap(), &out);
        let r = metrics(&out)["results"].clone();
        assert!(
            r["evaluation"].as_str().unwrap().starts_with(kind),
            "{}",
            r["evaluation"]
        );
        let folds = r["folds"].as_array().unwrap();
        match n_folds {
            Some(k) => assert_eq!(folds.len(), k),
            None => {
                let names: Vec<&str> = folds
                    .iter()
                    .map(|f| f["centre"].as_str().unwrap())
                    .collect();
                assert_eq!(names, ["A", "B", "C"], "one fold per centre");
            }
        }
        let preds = std::fs::read_to_string(out.join("predictions.csv")).unwrap();
        let mut lines = preds.lines();
        let header: Vec<&str> = lines.next().unwrap().split(',').collect();
        let col = |n: &str| header.iter().position(|h| *h == n).unwrap();
        let (label, fused) = (col("label"), col("xgb_fused"));
        let (mut y, mut s) = (Vec::new(), Vec::new());
        for l in lines {
            let f: Vec<&str> = l.split(',').collect();
            if f[label].is_empty() {
                continue;
            }
            y.push(f[label] == "1");
            s.push(
                f[fused]
                    .parse::<f64>()
                    .expect("every labelled case has a fused score"),
            );
        }
        let n_scored: u64 = folds.iter().map(|f| f["n_test"].as_u64().unwrap()).sum();
        assert_eq!(n_scored as usize, y.len(), "each case in exactly one fold");
        let reported = r["models"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == "xgb_fused")
            .unwrap()["test_auc"]
            .as_f64()
            .unwrap();
        let direct = naive_auc(&y, &s);
        assert!(
            (reported - direct).abs() < 1e-9,
            "{kind}: reported {reported}, recomputed {direct}"
        );
        assert!(direct > 0.6, "{kind}: pooled fused AUC {direct}");
    }
}

/// Runs `config` with its tiny-profile line `shipped` replaced by `longer` (a 6-epoch
/// schedule, so the kill lands inside training) once to the end, then again killed once the
/// trainer state at `state` (relative to the run directory) has committed 1-5 of 6 epochs, then
/// once more into the killed run's directory. Asserts that the last run continued from the
/// killed epoch (or the one committed between the read and the kill) and ended with the
/// uninterrupted run's metrics; returns its log.
fn continues_after_a_kill(config: &str, shipped: &str, longer: &str, state: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(root().join(config)).unwrap();
    assert!(text.contains(shipped), "the shipped tiny profile changed");
    let copy = dir.path().join("six-epochs.toml");
    std::fs::write(&copy, text.replace(shipped, longer)).unwrap();
    let copy = copy.to_str().unwrap();
    let reference = dir.path().join("reference");
    run(copy, &reference);
    let want = metrics(&reference);

    let a = dir.path().join("killed");
    let state = a.join(state);
    let killed_after = kill_run_when(copy, &a, || {
        std::fs::read_to_string(&state)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| v["epochs_done"].as_u64())
            .filter(|&d| (1..6).contains(&d))
    });
    let d = killed_after.expect("the run ended before it could be killed mid-training");
    assert!(!a.join("metrics.json").exists());
    let log = run(copy, &a);
    assert!(
        log.contains(&format!("resuming after epoch {d}/6"))
            || log.contains(&format!("resuming after epoch {}/6", d + 1)),
        "killed after epoch {d}, but the training did not continue from there:\n{log}"
    );
    assert_eq!(
        want,
        metrics(&a),
        "continued training differs from an uninterrupted one"
    );
    log
}

/// SIGKILL while the U-Net trains (after its first epoch's checkpoint was committed): the next
/// `tomofuse run` continues that training from the checkpoint instead of starting over, and
/// ends with the uninterrupted run's numbers.
#[test]
fn crswnp_tiny_continues_an_interrupted_training() {
    continues_after_a_kill(
        "experiments/crswnp-mtlnet.toml",
        "[profiles.tiny]\nepochs = 2\n",
        "[profiles.tiny]\nepochs = 6\n",
        "models/unet/trainer-state.json",
    );
}

/// A SAP run killed while cross-fitting the deep classifier (inside its second of three
/// folds) continues: the finished fold is loaded from its checkpoint, not trained again, the
/// interrupted one continues from its last epoch, and the run ends with the metrics of an
/// uninterrupted one.
#[test]
fn sap_tiny_continues_an_interrupted_finetuning() {
    let log = continues_after_a_kill(
        SAP,
        "finetune_epochs = 2\nepochs = 2\n",
        "finetune_epochs = 6\nepochs = 2\n",
        "models/resnet3d/fold1/trainer-state.json",
    );
    assert!(
        log.contains("ResNet-3D fine-tuning: resuming after epoch 6/6"),
        "the finished fold was not taken from its checkpoint:\n{log}"
    );
}

/// Column `name` of predictions.csv, by case id.
fn prediction_column(out: &Path, name: &str) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(out.join("predictions.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = header
        .iter()
        .position(|h| *h == name)
        .unwrap_or_else(|| panic!("no column {name} in {header:?}"));
    lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[0].to_string(), f[col].to_string())
        })
        .collect()
}

/// A plain `cohort export` run from its manifest is the native run: the same target region
/// (the masks carry a label outside it, which `cohort.target_labels` leaves out), so the same
/// plan foreground, U-Net training, predicted masks, Dice and deep-feature scores. Quantities
/// in millimetres may differ in the last digits, because NIfTI-1 stores spacing and origin as
/// float32; they are not compared exactly.
#[test]
fn sap_plain_export_reproduces_the_native_run() {
    let dir = tempfile::tempdir().unwrap();
    let native = dir.path().join("native");
    run(SAP, &native);
    let export = dir.path().join("export");
    let (ok, log) = tomofuse(
        &[
            "cohort",
            "export",
            "--config",
            SAP,
            "--profile",
            "tiny",
            "--out",
            export.to_str().unwrap(),
        ],
        &[],
    );
    assert!(ok, "{log}");
    let manifest = export.join("manifest.csv");
    let from_files = dir.path().join("from-files");
    let (ok, log) = tomofuse(
        &[
            "run",
            SAP,
            "--profile",
            "tiny",
            "--manifest",
            manifest.to_str().unwrap(),
            "--out",
            from_files.to_str().unwrap(),
        ],
        &[],
    );
    assert!(ok, "{log}");
    let plan = |d: &Path| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(d.join("plan.json")).unwrap()).unwrap()
    };
    assert_eq!(plan(&native)["foreground"], plan(&from_files)["foreground"]);
    let (a, b) = (metrics(&native), metrics(&from_files));
    assert_eq!(a["results"]["seg_history"], b["results"]["seg_history"]);
    for col in ["dice", "xgb_deep", "xgb_clinical"] {
        assert_eq!(
            prediction_column(&native, col),
            prediction_column(&from_files, col),
            "{col}"
        );
    }
}
