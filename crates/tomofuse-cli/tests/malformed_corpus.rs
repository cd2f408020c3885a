//! A corpus of malformed inputs for every input kind the CLI accepts (experiment configs,
//! cohort manifests, radiomics settings and inputs, clinical tables and specs, predictions
//! CSVs, image files), run through the real binary. Every case must exit non-zero without a
//! panic (no "panicked" on stderr, exit code not 101), and its message must name the file and
//! the offending field, column or key.
//!
//! Everything is generated in a temporary folder; nothing needs the shared data except the
//! DICOM cases, which take a few slices of the IBSI CT phantom when it is available.
//!
//! Run: `cargo test --workspace --test malformed_corpus -- --nocapture`

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use tomofuse_core::{Geometry, Volume, require_shared};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_tomofuse")
}

/// One malformed input and what its error must mention.
struct Case {
    kind: &'static str,
    name: String,
    args: Vec<String>,
    /// Substrings the combined stdout + stderr must contain (file name, field, ...).
    must: Vec<String>,
    /// Message requirements that cannot be met without a change in a part of the code this
    /// test does not own: the exit code and absence of a panic are still checked, a missing
    /// substring is only reported.
    known_gap: bool,
}

struct Corpus {
    dir: tempfile::TempDir,
    cases: Vec<Case>,
}

impl Corpus {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
            cases: Vec::new(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn s(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }

    fn write(&self, name: &str, bytes: impl AsRef<[u8]>) -> String {
        let p = self.path(name);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::write(&p, bytes).unwrap();
        p.display().to_string()
    }

    fn add(&mut self, kind: &'static str, name: &str, args: &[&str], must: &[&str]) {
        self.cases.push(Case {
            kind,
            name: name.to_string(),
            args: args.iter().map(|s| s.to_string()).collect(),
            must: must.iter().map(|s| s.to_string()).collect(),
            known_gap: false,
        });
    }

    /// Was a reported gap (printed, not failed); the orchestrator now names the file and key,
    /// so these are enforced like every other case. `known_gap` stays for future reports.
    fn add_gap(&mut self, kind: &'static str, name: &str, args: &[&str], must: &[&str]) {
        self.add(kind, name, args, must);
    }

    /// Runs every case; returns the failures (all of them, not just the first).
    fn run(&self) -> Vec<String> {
        let mut failures = Vec::new();
        let mut per_kind: BTreeMap<&str, usize> = BTreeMap::new();
        for c in &self.cases {
            let out = tomofuse(&c.args, self.dir.path());
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            let stderr = String::from_utf8_lossy(&out.stderr);
            let code = out.status.code();
            let label = format!("[{}] {}", c.kind, c.name);
            let mut bad = Vec::new();
            if out.status.success() {
                bad.push("exited 0".to_string());
            }
            if code == Some(101) || code.is_none() || stderr.contains("panicked") {
                bad.push(format!("panicked or was killed (exit {code:?})"));
            }
            // Debug-formatted errors (`Io(Os { code: 2, .. })`) are not messages for users.
            if stderr.contains("Os {") || stderr.contains("Io(") {
                bad.push("Debug-formatted error in the message".to_string());
            }
            let missing: Vec<&String> = c.must.iter().filter(|m| !text.contains(*m)).collect();
            if !missing.is_empty() {
                let msg = format!("message does not mention {missing:?}");
                if c.known_gap {
                    println!("{label}: KNOWN GAP: {msg}");
                } else {
                    bad.push(msg);
                }
            }
            let last = stderr
                .lines()
                .rev()
                .find(|l| l.contains("error"))
                .unwrap_or_default()
                .to_string();
            if bad.is_empty() {
                println!("{label}: ok: {}", clip(&last, 300));
            } else {
                failures.push(format!(
                    "{label}: {}\n    args: {:?}\n    output: {}",
                    bad.join("; "),
                    c.args,
                    clip(&text, 1500)
                ));
            }
            *per_kind.entry(c.kind).or_default() += 1;
        }
        println!(
            "cases per input kind: {per_kind:?} (total {})",
            self.cases.len()
        );
        failures
    }
}

fn clip(s: &str, n: usize) -> String {
    if s.len() <= n {
        s.to_string()
    } else {
        let mut k = n;
        while !s.is_char_boundary(k) {
            k -= 1;
        }
        format!("{}...", &s[..k])
    }
}

fn tomofuse(args: &[String], cwd: &Path) -> Output {
    Command::new(bin())
        .args(args)
        .current_dir(cwd)
        .env("RUST_LOG", "warn")
        .env("RAYON_NUM_THREADS", "2")
        .output()
        .expect("binary runs")
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// A small CT-like image (HU) with a bright block, and a box mask, on a 1 mm grid.
fn write_image_and_mask(
    dir: &Path,
    stem: &str,
    shape: [usize; 3],
    origin: [f64; 3],
) -> (String, String) {
    let g = Geometry::new(
        [1.0, 1.0, 1.0],
        origin,
        [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
        tomofuse_core::Space::Lps,
    )
    .unwrap();
    let n = shape.iter().product::<usize>();
    let data: Vec<f32> = (0..n).map(|i| ((i * 7919) % 200) as f32 - 100.0).collect();
    let img = Volume::from_vec_f(shape, data, g).unwrap();
    let mut m = vec![0u8; n];
    for k in 2..shape[2] - 2 {
        for j in 2..shape[1] - 2 {
            for i in 2..shape[0] - 2 {
                m[i + shape[0] * (j + shape[1] * k)] = 1;
            }
        }
    }
    let mask = Volume::from_vec_f(shape, m, g).unwrap();
    let ip = dir.join(format!("{stem}_img.nii.gz"));
    let mp = dir.join(format!("{stem}_mask.nii.gz"));
    tomofuse_io::write_nifti(&ip, &img).unwrap();
    tomofuse_io::write_nifti(&mp, &mask).unwrap();
    (ip.display().to_string(), mp.display().to_string())
}

fn write_volume_f32(path: &Path, shape: [usize; 3], origin: [f64; 3], f: impl Fn(usize) -> f32) {
    let g = Geometry::new(
        [1.0, 1.0, 1.0],
        origin,
        [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
        tomofuse_core::Space::Lps,
    )
    .unwrap();
    let n = shape.iter().product::<usize>();
    let v = Volume::from_vec_f(shape, (0..n).map(f).collect(), g).unwrap();
    tomofuse_io::write_nifti(path, &v).unwrap();
}

fn write_mask(path: &Path, shape: [usize; 3], origin: [f64; 3], f: impl Fn(usize) -> u8) {
    let g = Geometry::new(
        [1.0, 1.0, 1.0],
        origin,
        [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
        tomofuse_core::Space::Lps,
    )
    .unwrap();
    let n = shape.iter().product::<usize>();
    let v = Volume::from_vec_f(shape, (0..n).map(f).collect(), g).unwrap();
    tomofuse_io::write_nifti(path, &v).unwrap();
}

// ------------------------------------------------------------------------------------------
// Experiment configs
// ------------------------------------------------------------------------------------------

const GOOD_CONFIG: &str = r#"
[experiment]
name = "corpus"
seed = 1

[cohort]
source = "synthetic"
generator = "sinus"
profile = "tiny"

[split]
kind = "random-temporal"
validation_fraction = 0.2
external_after = "2022-10-15"

[segmentation]
channels = [4, 8, 16]
res_units = 1
epochs = 1
steps_per_epoch = 1
patch = [16, 16, 16]
batch_size = 1
learning_rate = 0.002
hu_window = [-1000.0, 1000.0]
class_head = true

[stats]
bootstrap = 200
ci_level = 0.95
"#;

/// Replaces the first line starting with `key =` inside `[section]` by `replacement` (empty:
/// delete the line).
fn edit(base: &str, section: &str, key: &str, replacement: &str) -> String {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut done = false;
    for line in base.lines() {
        let t = line.trim();
        if t.starts_with('[') {
            cur = t.trim_matches(['[', ']']).to_string();
        }
        if !done && cur == section && t.starts_with(&format!("{key} ")) {
            done = true;
            if !replacement.is_empty() {
                out.push(replacement.to_string());
            }
            continue;
        }
        out.push(line.to_string());
    }
    assert!(done, "{section}.{key} not found");
    out.join("\n") + "\n"
}

/// Removes a whole `[section]` (header and keys).
fn drop_section(base: &str, section: &str) -> String {
    let mut out = Vec::new();
    let mut skip = false;
    for line in base.lines() {
        let t = line.trim();
        if t.starts_with('[') {
            skip = t == format!("[{section}]");
        }
        if !skip {
            out.push(line);
        }
    }
    out.join("\n") + "\n"
}

fn config_cases(c: &mut Corpus) {
    let k = "config";
    let run = |c: &mut Corpus, name: &str, text: String, must: &[&str]| {
        let file = format!("cfg/{name}.toml");
        let p = c.write(&file, text);
        let out = c.s(&format!("runs/{name}"));
        let mut m = vec![format!("{name}.toml")];
        m.extend(must.iter().map(|s| s.to_string()));
        let m: Vec<&str> = m.iter().map(String::as_str).collect();
        c.add(k, name, &["run", &p, "--out", &out], &m);
    };
    // Errors raised in crates/tomofuse/src/experiment/ after the config was parsed do not name
    // the config file yet (see the hardening report); the rest of the message is checked.
    let gap = |c: &mut Corpus, name: &str, text: String, must: &[&str], gap_must: &[&str]| {
        let p = c.write(&format!("cfg/{name}.toml"), text);
        let out = c.s(&format!("runs/{name}"));
        c.add(k, name, &["run", &p, "--out", &out], must);
        let mut m = vec![format!("{name}.toml")];
        m.extend(gap_must.iter().map(|s| s.to_string()));
        let m: Vec<&str> = m.iter().map(String::as_str).collect();
        c.add_gap(
            k,
            &format!("{name} (file named)"),
            &["run", &p, "--out", &out],
            &m,
        );
    };
    let g = GOOD_CONFIG;
    run(
        c,
        "unknown_top_key",
        format!("{g}\n[extra]\nx = 1\n"),
        &["extra"],
    );
    run(
        c,
        "unknown_key_in_section",
        edit(g, "segmentation", "epochs", "epochs = 1\nepoch_count = 3"),
        &["epoch_count"],
    );
    run(
        c,
        "wrong_type_seed",
        edit(g, "experiment", "seed", "seed = \"one\""),
        &["seed"],
    );
    run(
        c,
        "bad_generator",
        edit(g, "cohort", "generator", "generator = \"x\""),
        &["cohort.generator", "abdomen", "sinus"],
    );
    run(
        c,
        "kfold_without_fusion",
        edit(g, "split", "kind", "kind = \"k-fold\""),
        &["split.kind", "k-fold", "[fusion]"],
    );
    run(
        c,
        "folds_with_holdout_split",
        edit(g, "split", "kind", "kind = \"random-temporal\"\nfolds = 5"),
        &["split.folds", "k-fold"],
    );
    run(
        c,
        "target_label_zero",
        edit(
            g,
            "cohort",
            "profile",
            "profile = \"tiny\"\ntarget_labels = [0, 1]",
        ),
        &["cohort.target_labels", "1..=255"],
    );
    run(
        c,
        "target_label_twice",
        edit(
            g,
            "cohort",
            "profile",
            "profile = \"tiny\"\ntarget_labels = [1, 1]",
        ),
        &["cohort.target_labels", "twice"],
    );
    run(
        c,
        "plan_target_spacing_zero",
        format!("{g}\n[plan]\ntarget_spacing = [1.0, 0.0, 1.0]\n"),
        &["plan.target_spacing", "> 0"],
    );
    run(
        c,
        "plan_unknown_normalisation",
        format!("{g}\n[plan]\nnormalisation = \"zscore\"\n"),
        &["plan.normalisation", "zscore"],
    );
    run(
        c,
        "unknown_segmentation_source",
        edit(
            g,
            "segmentation",
            "epochs",
            "epochs = 1\nsource = \"atlas\"",
        ),
        &["source", "atlas"],
    );
    c.write("cfg/not_a_model.safetensors", b"not a safetensors file");
    run(
        c,
        "checkpoint_not_a_model",
        edit(
            g,
            "segmentation",
            "epochs",
            "epochs = 1\nsource = \"checkpoint\"\ncheckpoint = \"not_a_model.safetensors\"",
        ),
        &["segmentation.checkpoint", "not a tomofuse U-Net checkpoint"],
    );
    run(
        c,
        "negative_epochs",
        edit(g, "segmentation", "epochs", "epochs = -3"),
        &["epochs"],
    );
    run(
        c,
        "zero_epochs",
        edit(g, "segmentation", "epochs", "epochs = 0"),
        &["segmentation.epochs"],
    );
    run(
        c,
        "patch_below_stride",
        edit(g, "segmentation", "patch", "patch = [2, 2, 2]"),
        &["segmentation.patch", "stride"],
    );
    run(
        c,
        "patch_two_values",
        edit(g, "segmentation", "patch", "patch = [16, 16]"),
        &["patch"],
    );
    run(
        c,
        "channels_empty",
        edit(g, "segmentation", "channels", "channels = []"),
        &["segmentation.channels"],
    );
    run(
        c,
        "channels_zero",
        edit(g, "segmentation", "channels", "channels = [4, 0, 16]"),
        &["segmentation.channels"],
    );
    run(c, "missing_stats", drop_section(g, "stats"), &["stats"]);
    run(
        c,
        "missing_segmentation",
        drop_section(g, "segmentation"),
        &["segmentation"],
    );
    run(
        c,
        "bootstrap_zero",
        edit(g, "stats", "bootstrap", "bootstrap = 0"),
        &["stats.bootstrap"],
    );
    run(
        c,
        "ci_level_1_5",
        edit(g, "stats", "ci_level", "ci_level = 1.5"),
        &["stats.ci_level"],
    );
    run(
        c,
        "validation_fraction_1",
        edit(
            g,
            "split",
            "validation_fraction",
            "validation_fraction = 1.0",
        ),
        &["split.validation_fraction"],
    );
    run(
        c,
        "validation_fraction_negative",
        edit(
            g,
            "split",
            "validation_fraction",
            "validation_fraction = -0.1",
        ),
        &["split.validation_fraction"],
    );
    gap(
        c,
        "external_after_not_a_date",
        edit(
            g,
            "split",
            "external_after",
            "external_after = \"last autumn\"",
        ),
        &["split.external_after", "last autumn"],
        &[],
    );
    gap(
        c,
        "external_after_impossible_day",
        edit(
            g,
            "split",
            "external_after",
            "external_after = \"2022-02-30\"",
        ),
        &["split.external_after", "2022-02-30"],
        &[],
    );
    run(
        c,
        "bad_split_kind",
        edit(g, "split", "kind", "kind = \"by-moon\""),
        &["split.kind", "by-moon"],
    );
    run(
        c,
        "unknown_cohort_source",
        edit(g, "cohort", "source", "source = \"pacs\""),
        &["cohort.source", "pacs"],
    );
    run(
        c,
        "manifest_source_without_path",
        edit(g, "cohort", "source", "source = \"manifest\""),
        &["cohort.manifest"],
    );
    gap(
        c,
        "manifest_path_missing",
        edit(
            g,
            "cohort",
            "source",
            "source = \"manifest\"\nmanifest = \"no_such_cohort.csv\"",
        ),
        &["no_such_cohort.csv"],
        &["cohort.manifest"],
    );
    gap(
        c,
        "bad_profile_name_in_cohort",
        edit(g, "cohort", "profile", "profile = \"huge\""),
        &["huge"],
        &["cohort.profile"],
    );
    run(
        c,
        "hu_window_reversed",
        edit(
            g,
            "segmentation",
            "hu_window",
            "hu_window = [1000.0, -1000.0]",
        ),
        &["segmentation.hu_window"],
    );
    run(
        c,
        "radiomics_orientation_bad_codes",
        format!("{g}\n[radiomics]\npreset = \"ibsi-a\"\norientation = \"LPX\"\n"),
        &["radiomics.orientation", "LPX"],
    );
    run(
        c,
        "learning_rate_zero",
        edit(g, "segmentation", "learning_rate", "learning_rate = 0.0"),
        &["segmentation.learning_rate"],
    );
    run(
        c,
        "nothing_to_predict",
        edit(g, "segmentation", "class_head", "class_head = false"),
        &["class_head", "[fusion]"],
    );
    let p = c.write(
        "cfg/profile_override_bad_patch.toml",
        format!("{g}\n[profiles.small]\npatch = [3, 3, 3]\n"),
    );
    let out = c.s("runs/profile_override_bad_patch");
    c.add(
        k,
        "profile_override_bad_patch",
        &["run", &p, "--out", &out, "--profile", "small"],
        &["segmentation.patch", "[3, 3, 3]"],
    );
    c.add_gap(
        k,
        "profile_override_bad_patch (file and profile named)",
        &["run", &p, "--out", &out, "--profile", "small"],
        &["profile_override_bad_patch.toml", "small"],
    );
    run(c, "not_toml", "[experiment\nname = ".to_string(), &[]);
    run(c, "empty_file", String::new(), &["experiment"]);
    run(
        c,
        "duplicate_key",
        edit(g, "experiment", "seed", "seed = 1\nseed = 2"),
        &["seed"],
    );
    // --profile on the command line.
    let p = c.write("cfg/good.toml", g);
    let out = c.s("runs/bad_profile_flag");
    c.add(
        k,
        "bad_profile_flag",
        &["run", &p, "--out", &out, "--profile", "gigantic"],
        &["gigantic"],
    );
    c.add_gap(
        k,
        "bad_profile_flag (file named)",
        &["run", &p, "--out", &out, "--profile", "gigantic"],
        &["good.toml"],
    );
    let missing = c.s("cfg/does_not_exist.toml");
    c.add(
        k,
        "config_file_missing",
        &["run", &missing],
        &["does_not_exist.toml"],
    );
}

// ------------------------------------------------------------------------------------------
// Cohort manifests: validate-data, and run with source = "manifest"
// ------------------------------------------------------------------------------------------

fn manifest_cases(c: &mut Corpus) {
    let k = "manifest";
    let d = c.path("m");
    std::fs::create_dir_all(&d).unwrap();
    let (img, mask) = write_image_and_mask(&d, "good", [16, 16, 12], [0.0; 3]);
    let (img2, _) = write_image_and_mask(&d, "shifted", [16, 16, 12], [5.0, 0.0, 0.0]);
    let nan_img = d.join("nan_img.nii.gz");
    write_volume_f32(&nan_img, [16, 16, 12], [0.0; 3], |i| {
        if i == 100 { f32::NAN } else { 1.0 + i as f32 }
    });
    let empty_mask = d.join("empty_mask.nii.gz");
    write_mask(&empty_mask, [16, 16, 12], [0.0; 3], |_| 0);
    let small_mask = d.join("small_mask.nii.gz");
    write_mask(&small_mask, [8, 8, 6], [0.0; 3], |_| 1);
    let frac_mask = d.join("frac_mask.nii.gz");
    write_volume_f32(&frac_mask, [16, 16, 12], [0.0; 3], |i| {
        if i % 3 == 0 { 0.5 } else { 0.0 }
    });
    let nan_img = nan_img.display().to_string();
    let empty_mask = empty_mask.display().to_string();
    let small_mask = small_mask.display().to_string();
    let frac_mask = frac_mask.display().to_string();
    let hdr = "case_id,image,mask,outcome,split,centre,date,age";
    let row = |id: &str, i: &str, m: &str, o: &str, date: &str| {
        format!("{id},{i},{m},{o},train,A,{date},60")
    };
    let ok1 = row("ok1", &img, &mask, "1", "2021-01-01");
    let ok2 = row("ok2", &img, &mask, "0", "2021-01-02");
    let vd = |c: &mut Corpus, name: &str, text: String, must: &[&str]| {
        let p = c.write(&format!("m/{name}.csv"), text);
        let mut m = vec![format!("{name}.csv")];
        m.extend(must.iter().map(|s| s.to_string()));
        let m: Vec<&str> = m.iter().map(String::as_str).collect();
        c.add(k, name, &["validate-data", &p], &m);
    };
    vd(
        c,
        "missing_image_column",
        format!("case_id,mask,outcome\nc1,{mask},1\n"),
        &["image"],
    );
    vd(
        c,
        "missing_case_id_column",
        format!("id,image\nc1,{img}\n"),
        &["case_id"],
    );
    vd(
        c,
        "duplicate_case_ids",
        format!(
            "{hdr}\n{ok1}\n{ok2}\n{}\n",
            row("ok1", &img, &mask, "0", "2021-01-03")
        ),
        &["case_id", "duplicate", "ok1"],
    );
    vd(
        c,
        "image_does_not_exist",
        format!(
            "{hdr}\n{ok1}\n{ok2}\n{}\n",
            row("c3", "nowhere/scan.nii.gz", &mask, "1", "")
        ),
        &["scan.nii.gz", "image", "c3"],
    );
    vd(
        c,
        "mask_does_not_exist",
        format!(
            "{hdr}\n{ok1}\n{ok2}\n{}\n",
            row("c3", &img, "nowhere/seg.nii.gz", "1", "")
        ),
        &["seg.nii.gz", "mask", "c3"],
    );
    vd(
        c,
        "geometry_mismatch_origin",
        format!(
            "{hdr}\n{ok1}\n{ok2}\n{}\n",
            row("c3", &img2, &mask, "1", "")
        ),
        &["mask", "c3", "grid"],
    );
    vd(
        c,
        "geometry_mismatch_shape",
        format!(
            "{hdr}\n{ok1}\n{ok2}\n{}\n",
            row("c3", &img, &small_mask, "1", "")
        ),
        &["mask", "c3", "grid"],
    );
    vd(
        c,
        "nan_voxels",
        format!(
            "{hdr}\n{ok1}\n{ok2}\n{}\n",
            row("c3", &nan_img, &mask, "1", "")
        ),
        &["image", "c3", "NaN"],
    );
    vd(
        c,
        "empty_mask",
        format!(
            "{hdr}\n{ok1}\n{ok2}\n{}\n",
            row("c3", &img, &empty_mask, "1", "")
        ),
        &["mask", "c3", "no labelled voxel"],
    );
    vd(
        c,
        "non_integer_mask",
        format!(
            "{hdr}\n{ok1}\n{ok2}\n{}\n",
            row("c3", &img, &frac_mask, "1", "")
        ),
        &["mask", "c3", "frac_mask"],
    );
    vd(
        c,
        "non_binary_outcome",
        format!("{hdr}\n{ok1}\n{ok2}\n{}\n", row("c3", &img, &mask, "2", "")),
        &["outcome", "c3", "`2`"],
    );
    vd(
        c,
        "bad_date",
        format!(
            "{hdr}\n{ok1}\n{ok2}\n{}\n",
            row("c3", &img, &mask, "1", "2021-13-40")
        ),
        &["date", "c3", "2021-13-40"],
    );
    vd(
        c,
        "bad_split",
        format!("{hdr}\n{ok1}\n{ok2}\nc3,{img},{mask},1,holdout,A,,60\n"),
        &["split", "c3", "holdout"],
    );
    vd(
        c,
        "single_outcome_class",
        format!(
            "{hdr}\n{}\n{}\n",
            row("a", &img, &mask, "1", ""),
            row("b", &img, &mask, "1", "")
        ),
        &["outcome", "one outcome class"],
    );
    vd(c, "empty_file", String::new(), &["case_id"]);
    vd(c, "header_only", format!("{hdr}\n"), &["no cases"]);
    vd(
        c,
        "ragged_row",
        format!("{hdr}\n{ok1}\n{ok2}\nc3,{img},{mask},1\n"),
        &["line 4", "fields"],
    );
    vd(
        c,
        "bom_crlf_with_bad_row",
        format!(
            "\u{feff}{hdr}\r\n{ok1}\r\n{ok2}\r\n{}\r\n",
            row("c3", &img, &mask, "maybe", "")
        ),
        &["outcome", "c3", "maybe"],
    );
    vd(
        c,
        "empty_case_id",
        format!("{hdr}\n{ok1}\n{ok2}\n{}\n", row("", &img, &mask, "1", "")),
        &["case_id", "empty case id"],
    );
    vd(
        c,
        "image_is_garbage",
        {
            let g = c.write(
                "m/garbage.nii",
                b"definitely not a nifti file, just text".repeat(20),
            );
            format!("{hdr}\n{ok1}\n{ok2}\n{}\n", row("c3", &g, &mask, "1", ""))
        },
        &["garbage.nii", "image", "c3"],
    );
    vd(
        c,
        "duplicate_column",
        format!("case_id,image,age,age\nc1,{img},1,2\n"),
        &["age", "duplicate column"],
    );
    vd(
        c,
        "binary_junk",
        [0u8, 159, 146, 150, 255, 0, 10, 13]
            .repeat(10)
            .iter()
            .map(|&b| b as char)
            .collect(),
        &[],
    );
    let missing = c.s("m/not_there.csv");
    c.add(
        k,
        "manifest_file_missing",
        &["validate-data", &missing],
        &["not_there.csv"],
    );

    // `tomofuse run` on manifest cohorts in which no case is usable.
    let run_case = |c: &mut Corpus, name: &str, manifest: String, must: &[&str]| {
        c.write(&format!("m/{name}.csv"), manifest);
        let cfg = edit(
            GOOD_CONFIG,
            "cohort",
            "source",
            &format!("source = \"manifest\"\nmanifest = \"{name}.csv\""),
        );
        let p = c.write(&format!("m/{name}.toml"), cfg);
        let out = c.s(&format!("runs/{name}"));
        let mut m = vec![format!("{name}.csv")];
        m.extend(must.iter().map(|s| s.to_string()));
        let m: Vec<&str> = m.iter().map(String::as_str).collect();
        c.add("run-manifest", name, &["run", &p, "--out", &out], &m);
    };
    run_case(
        c,
        "run_missing_columns",
        "id,scan\na,b\n".into(),
        &["case_id"],
    );
    run_case(c, "run_header_only", format!("{hdr}\n"), &["no cases"]);
    run_case(
        c,
        "run_all_images_missing",
        format!(
            "{hdr}\n{}\n{}\n",
            row("a", "x/a.nii.gz", "", "1", ""),
            row("b", "x/b.nii.gz", "", "0", "")
        ),
        &["a.nii.gz", "b.nii.gz"],
    );
    run_case(
        c,
        "run_all_masks_mismatch",
        format!(
            "{hdr}\n{}\n{}\n",
            row("a", &img, &small_mask, "1", ""),
            row("b", &img2, &mask, "0", "")
        ),
        &["mask", "grid"],
    );
    run_case(
        c,
        "run_duplicate_ids_and_bad_outcome",
        format!(
            "{hdr}\n{}\n{}\n",
            row("a", &img, &mask, "1", ""),
            row("a", &img, &mask, "x", "")
        ),
        &["duplicate", "outcome"],
    );
}

// ------------------------------------------------------------------------------------------
// Radiomics: settings TOML and inputs
// ------------------------------------------------------------------------------------------

fn radiomics_cases(c: &mut Corpus) {
    let d = c.path("r");
    std::fs::create_dir_all(&d).unwrap();
    let (img, mask) = write_image_and_mask(&d, "ok", [12, 12, 8], [0.0; 3]);
    let good = "name = \"t\"\ndiscretisation = { method = \"fixed_bin_size\", bin_width = 25.0 }\n[families]\nmoran_geary = false\n";
    let out = c.s("r/out.csv");
    let settings = |c: &mut Corpus, name: &str, text: &str, must: &[&str]| {
        let p = c.write(&format!("r/{name}.toml"), text);
        let mut m = vec![format!("{name}.toml")];
        m.extend(must.iter().map(|s| s.to_string()));
        let m: Vec<&str> = m.iter().map(String::as_str).collect();
        c.add(
            "radiomics-settings",
            name,
            &[
                "radiomics",
                "--image",
                &img,
                "--mask",
                &mask,
                "--config",
                &p,
                "--out",
                &out,
            ],
            &m,
        );
    };
    settings(
        c,
        "bin_width_zero",
        "discretisation = { method = \"fixed_bin_size\", bin_width = 0.0 }\n",
        &["bin_width"],
    );
    settings(
        c,
        "bin_width_negative",
        "discretisation = { method = \"fixed_bin_size\", bin_width = -25.0 }\n",
        &["bin_width"],
    );
    settings(
        c,
        "n_bins_zero",
        "discretisation = { method = \"fixed_bin_number\", n_bins = 0 }\n",
        &["n_bins"],
    );
    settings(
        c,
        "unknown_method",
        "discretisation = { method = \"quantile\", n_bins = 8 }\n",
        &["quantile"],
    );
    settings(
        c,
        "unknown_family",
        &format!("{good}fractal = true\n"),
        &["fractal"],
    );
    settings(
        c,
        "resegmentation_range_reversed",
        &format!("{good}[resegmentation]\nrange = [400.0, -500.0]\n"),
        &["resegmentation.range"],
    );
    settings(
        c,
        "outlier_sigma_negative",
        &format!("{good}[resegmentation]\noutlier_sigma = -3.0\n"),
        &["outlier_sigma"],
    );
    settings(
        c,
        "interpolation_spacing_negative",
        &format!("{good}[interpolation]\nspacing = [1.0, -1.0, 1.0]\nkind = \"linear\"\n"),
        &["interpolation.spacing"],
    );
    settings(
        c,
        "interpolation_kind_unknown",
        &format!("{good}[interpolation]\nspacing = [1.0, 1.0, 1.0]\nkind = \"sinc\"\n"),
        &["sinc"],
    );
    settings(
        c,
        "mask_threshold_above_one",
        &format!(
            "{good}[interpolation]\nspacing = [1.0, 1.0, 1.0]\nkind = \"linear\"\nmask_threshold = 1.5\n"
        ),
        &["mask_threshold"],
    );
    settings(
        c,
        "missing_discretisation",
        "name = \"x\"\n",
        &["discretisation"],
    );
    settings(
        c,
        "family_wrong_type",
        &format!("{good}glcm = \"yes\"\n"),
        &["glcm"],
    );
    settings(
        c,
        "unknown_top_key",
        &format!("bin_width = 25\n{good}"),
        &["bin_width"],
    );
    settings(
        c,
        "pyradiomics_with_interpolation",
        &format!(
            "compat = \"pyradiomics\"\n{good}[interpolation]\nspacing = [1.0, 1.0, 1.0]\nkind = \"linear\"\n"
        ),
        &["interpolation", "pyradiomics"],
    );
    let missing = c.s("r/none.toml");
    c.add(
        "radiomics-settings",
        "settings_file_missing",
        &[
            "radiomics",
            "--image",
            &img,
            "--mask",
            &mask,
            "--config",
            &missing,
            "--out",
            &out,
        ],
        &["none.toml"],
    );
    c.add(
        "radiomics-settings",
        "unknown_preset",
        &[
            "radiomics",
            "--image",
            &img,
            "--mask",
            &mask,
            "--preset",
            "ibsi-z",
            "--out",
            &out,
        ],
        &["ibsi-z"],
    );

    // A spacing that would need 10^11 voxels: refused by the allocation limit, not an OOM kill.
    let tiny = c.write(
        "r/tiny_spacing.toml",
        format!("{good}[interpolation]\nspacing = [0.001, 0.001, 0.001]\nkind = \"linear\"\n"),
    );
    c.add(
        "radiomics-settings",
        "interpolation_spacing_tiny",
        &[
            "radiomics",
            "--image",
            &img,
            "--mask",
            &mask,
            "--config",
            &tiny,
            "--out",
            &out,
        ],
        &["ok_img.nii.gz", "allocation", "refused"],
    );
    // Inputs.
    let preset = c.write("r/preset.toml", good);
    let inp =
        |c: &mut Corpus, name: &str, image: &str, mask: &str, extra: &[&str], must: &[&str]| {
            let mut a = vec![
                "radiomics",
                "--image",
                image,
                "--mask",
                mask,
                "--config",
                &preset,
                "--out",
                &out,
            ];
            a.extend_from_slice(extra);
            c.add("radiomics-input", name, &a, must);
        };
    let empty = d.join("empty.nii.gz");
    write_mask(&empty, [12, 12, 8], [0.0; 3], |_| 0);
    let empty = empty.display().to_string();
    inp(
        c,
        "empty_mask",
        &img,
        &empty,
        &[],
        &["empty.nii.gz", "label 1"],
    );
    let two = d.join("label2.nii.gz");
    write_mask(
        &two,
        [12, 12, 8],
        [0.0; 3],
        |i| if i % 5 == 0 { 2 } else { 0 },
    );
    let two = two.display().to_string();
    inp(
        c,
        "wrong_label",
        &img,
        &two,
        &["--label", "1"],
        &["label2.nii.gz", "label 1"],
    );
    let outside = d.join("outside.nii.gz");
    write_mask(&outside, [12, 12, 8], [500.0, 500.0, 500.0], |_| 1);
    let outside = outside.display().to_string();
    inp(
        c,
        "mask_outside_image",
        &img,
        &outside,
        &[],
        &["outside.nii.gz", "grid"],
    );
    let small = d.join("small.nii.gz");
    write_mask(&small, [6, 12, 8], [0.0; 3], |_| 1);
    let small = small.display().to_string();
    inp(
        c,
        "geometry_mismatch",
        &img,
        &small,
        &[],
        &["small.nii.gz", "grid"],
    );
    let nan = d.join("nan.nii.gz");
    write_volume_f32(&nan, [12, 12, 8], [0.0; 3], |i| {
        if i == 12 * 12 * 4 + 12 * 5 + 5 {
            f32::NAN
        } else {
            10.0 + (i % 17) as f32
        }
    });
    let nan = nan.display().to_string();
    inp(c, "nan_image", &nan, &mask, &[], &["nan.nii.gz", "NaN"]);
    let noimg = c.s("r/nope.nii.gz");
    inp(c, "image_missing", &noimg, &mask, &[], &["nope.nii.gz"]);
    let garbage = c.write("r/garbage_mask.nii.gz", gz(b"not a nifti"));
    inp(
        c,
        "mask_garbage",
        &img,
        &garbage,
        &[],
        &["garbage_mask.nii.gz"],
    );
    let frac = d.join("frac.nii.gz");
    write_volume_f32(&frac, [12, 12, 8], [0.0; 3], |i| {
        if i % 2 == 0 { 0.5 } else { 1.0 }
    });
    let frac = frac.display().to_string();
    inp(c, "fractional_mask", &img, &frac, &[], &["frac.nii.gz"]);
    // Batch manifest for radiomics.
    let bm = |c: &mut Corpus, name: &str, text: String, must: &[&str]| {
        let p = c.write(&format!("r/{name}.csv"), text);
        let mut m = vec![format!("{name}.csv")];
        m.extend(must.iter().map(|s| s.to_string()));
        let m: Vec<&str> = m.iter().map(String::as_str).collect();
        c.add(
            "radiomics-manifest",
            name,
            &[
                "radiomics",
                "--manifest",
                &p,
                "--config",
                &preset,
                "--out",
                &out,
            ],
            &m,
        );
    };
    bm(
        c,
        "rad_manifest_no_mask_column",
        format!("case_id,image\na,{img}\n"),
        &["mask"],
    );
    bm(
        c,
        "rad_manifest_bad_label",
        format!("case_id,image,mask,label\na,{img},{mask},300\n"),
        &["label", "300"],
    );
    bm(c, "rad_manifest_empty", String::new(), &["empty"]);
    bm(
        c,
        "rad_manifest_header_only",
        "case_id,image,mask\n".into(),
        &["no cases"],
    );
    bm(
        c,
        "rad_manifest_ragged",
        format!("case_id,image,mask\na,{img}\n"),
        &["mask"],
    );
}

// ------------------------------------------------------------------------------------------
// Fusion: clinical tables, specs, feature tables
// ------------------------------------------------------------------------------------------

const SPEC: &str = r#"{
  "id_column": "case_id",
  "outcome": {"column": "severe"},
  "variables": [
    {"name": "age", "type": "continuous", "unit": "years", "minimum": 0, "maximum": 120},
    {"name": "male", "type": "binary"},
    {"name": "etiology", "type": "categorical", "levels": ["gallstone", "alcohol", "other"]}
  ]
}"#;

fn clinical_rows(n: usize) -> String {
    let mut s = String::from("case_id,severe,age,male,etiology\n");
    for i in 0..n {
        let et = ["gallstone", "alcohol", "other"][i % 3];
        let _ = std::fmt::Write::write_fmt(
            &mut s,
            format_args!("p{i},{},{},{},{et}\n", i % 2, 30 + i, (i / 2) % 2),
        );
    }
    s
}

fn fuse_cases(c: &mut Corpus) {
    let k = "fuse";
    let spec = c.write("f/spec.json", SPEC);
    let clin = c.write("f/clinical.csv", clinical_rows(20));
    let out = c.s("f/out");
    let fuse =
        |c: &mut Corpus, name: &str, clinical: &str, spec: &str, extra: &[&str], must: &[&str]| {
            let mut a = vec![
                "fuse",
                "--clinical",
                clinical,
                "--spec",
                spec,
                "--out",
                &out,
            ];
            a.extend_from_slice(extra);
            c.add(k, name, &a, must);
        };
    // Specs.
    let sp = |c: &mut Corpus, name: &str, text: &str, must: &[&str]| {
        let p = c.write(&format!("f/{name}.json"), text);
        let mut m = vec![format!("{name}.json")];
        m.extend(must.iter().map(|s| s.to_string()));
        let m: Vec<&str> = m.iter().map(String::as_str).collect();
        fuse(c, name, &clin, &p, &[], &m);
    };
    sp(c, "spec_not_json", "{ id_column: ", &[]);
    sp(
        c,
        "spec_unknown_key",
        &SPEC.replace("\"id_column\"", "\"colour\": 1, \"id_column\""),
        &["colour"],
    );
    sp(
        c,
        "spec_bad_type",
        &SPEC.replace("\"binary\"", "\"boolean\""),
        &["boolean"],
    );
    sp(
        c,
        "spec_categorical_without_levels",
        &SPEC.replace(", \"levels\": [\"gallstone\", \"alcohol\", \"other\"]", ""),
        &["etiology", "levels"],
    );
    sp(
        c,
        "spec_duplicate_variable",
        &SPEC.replace("\"male\"", "\"age\""),
        &["age"],
    );
    sp(
        c,
        "spec_missing_outcome",
        "{\"id_column\": \"case_id\", \"variables\": []}",
        &["outcome"],
    );
    sp(
        c,
        "spec_declares_absent_column",
        &SPEC.replace(
            "{\"name\": \"male\", \"type\": \"binary\"}",
            "{\"name\": \"male\", \"type\": \"binary\"}, {\"name\": \"smoker\", \"type\": \"binary\"}",
        ),
        &[],
    );
    // The error names the table (where the column is missing) and the column.
    c.cases.last_mut().unwrap().must = vec!["clinical.csv".into(), "smoker".into()];
    sp(
        c,
        "spec_renames_a_table_column",
        &SPEC.replace("\"male\"", "\"smoker\""),
        &[],
    );
    c.cases.last_mut().unwrap().must = vec!["clinical.csv".into(), "male".into()];
    // Tables.
    let tb = |c: &mut Corpus, name: &str, text: String, must: &[&str]| {
        let p = c.write(&format!("f/{name}.csv"), text);
        let mut m = vec![format!("{name}.csv")];
        m.extend(must.iter().map(|s| s.to_string()));
        let m: Vec<&str> = m.iter().map(String::as_str).collect();
        fuse(c, name, &p, &spec, &[], &m);
    };
    let base = clinical_rows(20);
    tb(
        c,
        "table_unknown_column",
        base.replace("etiology\n", "etiology,bmi\n")
            .replace("gallstone\n", "gallstone,25\n")
            .replace("alcohol\n", "alcohol,25\n")
            .replace("other\n", "other,25\n"),
        &["bmi"],
    );
    tb(
        c,
        "table_type_mismatch",
        base.replace("p3,1,33", "p3,1,old"),
        &["age", "old"],
    );
    tb(
        c,
        "table_out_of_range",
        base.replace("p3,1,33", "p3,1,330"),
        &["age", "330"],
    );
    tb(
        c,
        "table_bad_binary",
        base.replace("p4,0,34,0", "p4,0,34,maybe"),
        &["male", "maybe"],
    );
    tb(
        c,
        "table_bad_level",
        base.replace("p5,1,35,0,other", "p5,1,35,0,unknown"),
        &["etiology", "unknown"],
    );
    tb(
        c,
        "table_duplicate_ids",
        base.replace("p5,", "p4,"),
        &["case_id", "p4"],
    );
    tb(
        c,
        "table_missing_id",
        base.replace("p6,", ","),
        &["case_id"],
    );
    tb(
        c,
        "table_single_class",
        base.replace(",1,3", ",0,3")
            .replace(",1,4", ",0,4")
            .replace(",1,2", ",0,2"),
        &["class"],
    );
    tb(
        c,
        "table_bad_outcome",
        base.replace("p7,1,", "p7,2,"),
        &["severe", "2"],
    );
    tb(
        c,
        "table_undeclared_column",
        base.replace("severe", "sev"),
        &["sev"],
    );
    let ign = c.write(
        "f/spec_ignore_sev.json",
        SPEC.replace(
            "\"variables\"",
            "\"ignore_columns\": [\"sev\"], \"variables\"",
        ),
    );
    let t = c.write(
        "f/table_missing_outcome_column.csv",
        base.replace("severe", "sev"),
    );
    fuse(
        c,
        "table_missing_outcome_column",
        &t,
        &ign,
        &[],
        &["table_missing_outcome_column.csv", "severe"],
    );
    tb(c, "table_empty", String::new(), &[]);
    tb(
        c,
        "table_header_only",
        "case_id,severe,age,male,etiology\n".into(),
        &["no data rows"],
    );
    tb(
        c,
        "table_ragged_short_row",
        base.replace("p8,0,38,0,other", "p8,0,38"),
        &["line 10"],
    );
    tb(
        c,
        "table_ragged_long_row",
        base.replace("p8,0,38,0,other", "p8,0,38,0,other,1"),
        &["line 10"],
    );
    tb(
        c,
        "table_bom_crlf_bad_value",
        format!(
            "\u{feff}{}",
            base.replace('\n', "\r\n").replace("p3,1,33", "p3,1,x33")
        ),
        &["age", "x33"],
    );
    tb(
        c,
        "table_unbalanced_quote",
        base.replace("p9,1,39", "p9,1,\"39"),
        &[],
    );
    let missing = c.s("f/absent.csv");
    fuse(
        c,
        "table_file_missing",
        &missing,
        &spec,
        &[],
        &["absent.csv"],
    );
    let txt = c.write("f/table.txt", clinical_rows(4));
    fuse(c, "table_wrong_extension", &txt, &spec, &[], &["table.txt"]);
    // Feature tables.
    let ft = |c: &mut Corpus, name: &str, text: String, must: &[&str]| {
        let p = c.write(&format!("f/{name}.csv"), text);
        let mut m = vec![format!("{name}.csv")];
        m.extend(must.iter().map(|s| s.to_string()));
        let m: Vec<&str> = m.iter().map(String::as_str).collect();
        fuse(c, name, &clin, &spec, &["--radiomics", &p], &m);
    };
    let feats = |n: usize, bad: Option<(usize, &str)>| {
        let mut s = String::from("case_id,f1,f2\n");
        for i in 0..n {
            let v = match bad {
                Some((r, v)) if r == i => v.to_string(),
                _ => format!("{}", i as f64 * 0.5),
            };
            let _ = std::fmt::Write::write_fmt(&mut s, format_args!("p{i},{v},{}\n", i % 7));
        }
        s
    };
    ft(
        c,
        "features_text_value",
        feats(20, Some((3, "high"))),
        &["f1", "high"],
    );
    ft(c, "features_missing_case", feats(15, None), &["p15"]);
    ft(c, "features_extra_case", feats(21, None), &["p20"]);
    ft(
        c,
        "features_no_id_column",
        feats(20, None).replace("case_id", "id"),
        &["case_id"],
    );
    ft(
        c,
        "features_name_clash_with_clinical",
        feats(20, None).replace("f1", "age"),
        &["age"],
    );
    // Arguments with a file context.
    fuse(
        c,
        "bad_test_fraction",
        &clin,
        &spec,
        &["--test-fraction", "1.5"],
        &["--test-fraction", "1.5"],
    );
    fuse(
        c,
        "k_folds_one",
        &clin,
        &spec,
        &["--k-folds", "1"],
        &["--k-folds"],
    );
    fuse(
        c,
        "max_features_zero",
        &clin,
        &spec,
        &["--max-features", "0"],
        &["--max-features"],
    );
    let cfgp = c.write("f/pipeline.json", "{\"k_folds\": \"five\"}");
    fuse(
        c,
        "pipeline_config_bad",
        &clin,
        &spec,
        &["--config", &cfgp],
        &["pipeline.json"],
    );
}

// ------------------------------------------------------------------------------------------
// Predictions CSV for `stats`
// ------------------------------------------------------------------------------------------

fn stats_cases(c: &mut Corpus) {
    let k = "stats";
    let out = c.s("s/out.json");
    let st = |c: &mut Corpus, name: &str, text: &str, extra: &[&str], must: &[&str]| {
        let p = c.write(&format!("s/{name}.csv"), text);
        let mut a = vec![
            "stats",
            "--predictions",
            &p,
            "--label-col",
            "y",
            "--score-col",
            "p",
            "--out",
            &out,
        ];
        if !extra.contains(&"--bootstrap") {
            a.extend_from_slice(&["--bootstrap", "50"]);
        }
        a.extend_from_slice(extra);
        let mut m = vec![format!("{name}.csv")];
        m.extend(must.iter().map(|s| s.to_string()));
        let m: Vec<&str> = m.iter().map(String::as_str).collect();
        c.add(k, name, &a, &m);
    };
    let good = "y,p,q\n0,0.1,0.2\n1,0.9,0.6\n0,0.3,0.4\n1,0.7,0.3\n0,0.2,0.1\n1,0.6,0.8\n";
    st(
        c,
        "missing_label_column",
        &good.replace("y,p", "outcome,p"),
        &[],
        &["`y`"],
    );
    st(
        c,
        "missing_score_column",
        &good.replace("y,p", "y,prob"),
        &[],
        &["`p`"],
    );
    st(
        c,
        "missing_compare_column",
        good,
        &["--compare-col", "r"],
        &["`r`"],
    );
    st(
        c,
        "non_binary_label",
        &good.replace("1,0.9", "2,0.9"),
        &[],
        &["line 3", "`y`"],
    );
    st(
        c,
        "nan_score",
        &good.replace("0.7", "NaN"),
        &[],
        &["line 5", "`p`"],
    );
    st(
        c,
        "text_score",
        &good.replace("0.7", "high"),
        &[],
        &["line 5", "`p`", "high"],
    );
    st(
        c,
        "empty_score",
        &good.replace("0.7", ""),
        &[],
        &["line 5", "`p`", "missing value"],
    );
    st(
        c,
        "single_class",
        "y,p\n1,0.1\n1,0.4\n1,0.5\n",
        &[],
        &["`y`"],
    );
    st(c, "empty_file", "", &[], &["empty"]);
    st(c, "header_only", "y,p\n", &[], &["no data rows"]);
    st(
        c,
        "ragged_row",
        &good.replace("1,0.7,0.3", "1"),
        &[],
        &["line 5"],
    );
    st(
        c,
        "bom_crlf_bad_value",
        &format!("\u{feff}{}", good.replace('\n', "\r\n").replace("0.7", "x")),
        &[],
        &["line 5", "`p`"],
    );
    st(c, "one_case", "y,p\n1,0.5\n", &[], &["`y`"]);
    st(
        c,
        "level_out_of_range",
        good,
        &["--level", "1.5"],
        &["level"],
    );
    st(
        c,
        "bootstrap_zero",
        good,
        &["--bootstrap", "0"],
        &["bootstrap"],
    );
    st(c, "bad_threshold", good, &["--threshold", "half"], &[]);
    // An option, not a file: the message names the option and the value.
    c.cases.last_mut().unwrap().must = vec!["--threshold".into(), "half".into()];
    let missing = c.s("s/absent.csv");
    c.add(
        k,
        "file_missing",
        &[
            "stats",
            "--predictions",
            &missing,
            "--label-col",
            "y",
            "--score-col",
            "p",
            "--out",
            &out,
        ],
        &["absent.csv"],
    );
}

// ------------------------------------------------------------------------------------------
// Image files for inspect / convert / resample
// ------------------------------------------------------------------------------------------

fn hand_nifti_header(dims: [i16; 3], datatype: i16, bitpix: i16, vox_offset: f32) -> Vec<u8> {
    let mut h = vec![0u8; 352];
    h[0..4].copy_from_slice(&348i32.to_le_bytes());
    let d = [3i16, dims[0], dims[1], dims[2], 1, 1, 1, 1];
    for (n, v) in d.iter().enumerate() {
        h[40 + 2 * n..42 + 2 * n].copy_from_slice(&v.to_le_bytes());
    }
    h[70..72].copy_from_slice(&datatype.to_le_bytes());
    h[72..74].copy_from_slice(&bitpix.to_le_bytes());
    for n in 0..4 {
        h[76 + 4 * n..80 + 4 * n].copy_from_slice(&1.0f32.to_le_bytes());
    }
    h[108..112].copy_from_slice(&vox_offset.to_le_bytes());
    h[344..348].copy_from_slice(b"n+1\0");
    h
}

fn image_cases(c: &mut Corpus) {
    let d = c.path("i");
    std::fs::create_dir_all(&d).unwrap();
    let good = {
        let mut h = hand_nifti_header([4, 3, 2], 4, 16, 352.0);
        h.extend((0..24i16).flat_map(|v| v.to_le_bytes()));
        h
    };
    let (okimg, okmask) = write_image_and_mask(&d, "ok", [8, 8, 4], [0.0; 3]);
    let mut files: Vec<(String, String, Vec<&str>)> = Vec::new();
    let mut f = |name: &str, bytes: Vec<u8>, must: Vec<&'static str>| {
        let p = c.write(&format!("i/{name}"), bytes);
        files.push((name.to_string(), p, must));
    };
    f("truncated_header.nii", good[..120].to_vec(), vec!["header"]);
    f(
        "truncated_data.nii",
        good[..360].to_vec(),
        vec!["truncated"],
    );
    f("truncated_data.nii.gz", gz(&good[..360]), vec!["truncated"]);
    f(
        "garbage.nii.gz",
        b"\x1f\x8b\x08\x00garbage garbage".to_vec(),
        vec![],
    );
    f(
        "random_bytes.nii",
        (0..2000u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect(),
        vec![],
    );
    f("zero_length.nii", Vec::new(), vec![]);
    f(
        "bad_datatype.nii",
        {
            let mut h = hand_nifti_header([4, 3, 2], 1234, 16, 352.0);
            h.extend(vec![0u8; 48]);
            h
        },
        vec!["datatype"],
    );
    f(
        "vox_offset_beyond_eof.nii",
        {
            let mut h = hand_nifti_header([4, 3, 2], 4, 16, 1.0e6);
            h.extend(vec![0u8; 48]);
            h
        },
        vec![],
    );
    f(
        "nrrd_missing_sizes.nrrd",
        b"NRRD0004\ntype: short\ndimension: 3\nencoding: raw\n\n".to_vec(),
        vec!["sizes"],
    );
    f(
        "nrrd_bad_type.nrrd",
        b"NRRD0004\ntype: complex\ndimension: 3\nsizes: 2 2 2\nencoding: raw\n\n\0\0\0\0\0\0\0\0"
            .to_vec(),
        vec!["type"],
    );
    f(
        "nrrd_bad_encoding.nrrd",
        b"NRRD0004\ntype: short\ndimension: 3\nsizes: 2 2 2\nencoding: bzip9\n\n".to_vec(),
        vec!["encoding"],
    );
    f(
        "nrrd_short_data.nrrd",
        b"NRRD0004\ntype: short\ndimension: 3\nsizes: 4 4 4\nencoding: raw\n\n\0\0\0\0".to_vec(),
        vec![],
    );
    f("nrrd_missing_detached.nhdr", b"NRRD0004\ntype: short\ndimension: 3\nsizes: 2 2 2\nencoding: raw\ndata file: nowhere.raw\n\n".to_vec(), vec!["data file", "nowhere.raw"]);
    f("nrrd_bad_spacing.nrrd", b"NRRD0004\ntype: short\ndimension: 3\nsizes: 2 2 2\nspacings: 1 0 1\nencoding: raw\n\n\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0".to_vec(), vec![]);
    f(
        "nrrd_gzip_garbage.nrrd",
        b"NRRD0004\ntype: short\ndimension: 3\nsizes: 2 2 2\nencoding: gzip\n\nnot gzip at all"
            .to_vec(),
        vec![],
    );
    f(
        "nrrd_dimension_2.nrrd",
        b"NRRD0004\ntype: short\ndimension: 2\nsizes: 2 2\nencoding: raw\n\n\0\0\0\0\0\0\0\0"
            .to_vec(),
        vec!["dimension"],
    );
    let out = c.s("i/out.nii.gz");
    for (i, (name, p, must)) in files.iter().enumerate() {
        let mut m = vec![name.as_str()];
        m.extend(must.iter().copied());
        // Spread the files over the three commands, and inspect every one.
        c.add("image", &format!("inspect {name}"), &["inspect", p], &m);
        match i % 3 {
            0 => c.add(
                "image",
                &format!("convert {name}"),
                &["convert", p, &out],
                &m,
            ),
            1 => c.add(
                "image",
                &format!("resample {name}"),
                &["resample", p, &out, "--spacing", "2,2,2"],
                &m,
            ),
            _ => c.add(
                "image",
                &format!("resample --mask {name}"),
                &[
                    "resample",
                    p,
                    &out,
                    "--mask",
                    "--spacing",
                    "2,2,2",
                    "--interp",
                    "nearest",
                ],
                &m,
            ),
        }
    }
    let bad_ref = &files[0].1;
    c.add(
        "image",
        "resample onto garbage reference",
        &["resample", &okimg, &out, "--reference", bad_ref],
        &["truncated_header.nii"],
    );
    c.add(
        "image",
        "resample to a 1 micrometre grid",
        &["resample", &okimg, &out, "--spacing", "0.001,0.001,0.001"],
        &["ok_img.nii.gz", "allocation", "refused"],
    );
    c.add(
        "image",
        "resample a mask to a 1 micrometre grid",
        &[
            "resample",
            &okmask,
            &out,
            "--mask",
            "--interp",
            "nearest",
            "--spacing",
            "0.001,0.001,0.001",
        ],
        &["ok_mask.nii.gz", "allocation", "refused"],
    );
    c.add(
        "image",
        "convert to unsupported extension",
        &["convert", &okimg, &c.s("i/out.png")],
        &["out.png"],
    );
    c.add(
        "image",
        "convert into missing folder",
        &["convert", &okimg, &c.s("i/no/such/dir/out.nii")],
        &["out.nii", "No such file or directory"],
    );
    // A non-integer image read as a mask.
    c.add(
        "image",
        "resample --mask of a CT",
        &[
            "resample",
            &okimg,
            &out,
            "--mask",
            "--spacing",
            "2,2,2",
            "--interp",
            "nearest",
        ],
        &["ok_img.nii.gz"],
    );
    let empty_dir = d.join("empty_dicom");
    std::fs::create_dir_all(&empty_dir).unwrap();
    c.add(
        "image",
        "inspect empty folder",
        &["inspect", &empty_dir.display().to_string()],
        &["empty_dicom"],
    );
    let junk_dir = d.join("junk_dicom");
    std::fs::create_dir_all(&junk_dir).unwrap();
    for n in 0..3 {
        std::fs::write(junk_dir.join(format!("IM{n}.dcm")), vec![0x42u8; 300]).unwrap();
    }
    c.add(
        "image",
        "inspect folder of junk .dcm",
        &["inspect", &junk_dir.display().to_string()],
        &["junk_dicom"],
    );
}

/// DICOM series made from a few slices of the IBSI CT phantom, each broken in one way.
fn dicom_cases(c: &mut Corpus) {
    use dicom_core::{DataElement, PrimitiveValue, VR};
    use dicom_dictionary_std::tags;
    let Some(src) = require_shared("reference/ibsi/ct_phantom/dicom/image") else {
        return;
    };
    let mut slices: Vec<PathBuf> = std::fs::read_dir(&src)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    slices.sort();
    let slices = &slices[28..32];
    let base = c.path("d");
    let series =
        |name: &str, edit: &dyn Fn(usize, &mut dicom_object::DefaultDicomObject)| -> String {
            let dir = base.join(name);
            std::fs::create_dir_all(&dir).unwrap();
            for (n, s) in slices.iter().enumerate() {
                let mut obj = dicom_object::open_file(s).unwrap();
                edit(n, &mut obj);
                obj.write_to_file(dir.join(s.file_name().unwrap())).unwrap();
            }
            dir.display().to_string()
        };
    let add = |c: &mut Corpus, name: &str, dir: String, must: &[&str]| {
        let mut m = vec![name];
        m.extend_from_slice(must);
        c.add("dicom", &format!("inspect {name}"), &["inspect", &dir], &m);
        let out = c.s("d/out.nii.gz");
        c.add(
            "dicom",
            &format!("convert {name}"),
            &["convert", &dir, &out],
            &m,
        );
    };
    let d1 = series("no_pixel_spacing", &|_, o| {
        o.remove_element(tags::PIXEL_SPACING);
    });
    add(c, "no_pixel_spacing", d1, &["PixelSpacing"]);
    let d2 = series("bad_orientation", &|_, o| {
        o.put(DataElement::new(
            tags::IMAGE_ORIENTATION_PATIENT,
            VR::DS,
            PrimitiveValue::from("1\\0\\0\\1\\0\\0"),
        ));
    });
    add(c, "bad_orientation", d2, &["ImageOrientationPatient"]);
    let d3 = series("duplicate_positions", &|_, o| {
        o.put(DataElement::new(
            tags::IMAGE_POSITION_PATIENT,
            VR::DS,
            PrimitiveValue::from("0\\0\\0"),
        ));
    });
    add(c, "duplicate_positions", d3, &["ImagePositionPatient"]);
    let d4 = series("mixed_rows", &|n, o| {
        if n == 2 {
            o.put(DataElement::new(
                tags::ROWS,
                VR::US,
                PrimitiveValue::from(100u16),
            ));
        }
    });
    add(c, "mixed_rows", d4, &["Rows"]);
    let d5 = series("no_pixel_data", &|_, o| {
        o.remove_element(tags::PIXEL_DATA);
    });
    add(c, "no_pixel_data", d5, &["PixelData"]);
    let d6 = series("text_in_position", &|_, o| {
        o.put(DataElement::new(
            tags::IMAGE_POSITION_PATIENT,
            VR::DS,
            PrimitiveValue::from("a\\b\\c"),
        ));
    });
    add(c, "text_in_position", d6, &["ImagePositionPatient"]);
    let d7 = series("bits_allocated_12", &|_, o| {
        o.put(DataElement::new(
            tags::BITS_ALLOCATED,
            VR::US,
            PrimitiveValue::from(12u16),
        ));
    });
    add(c, "bits_allocated_12", d7, &["BitsAllocated"]);
    // A series with one file truncated in its pixel data.
    let d8 = series("truncated_file", &|_, _| {});
    let first = std::fs::read_dir(&d8)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let bytes = std::fs::read(&first).unwrap();
    std::fs::write(&first, &bytes[..bytes.len() / 2]).unwrap();
    add(c, "truncated_file", d8, &[]);
    // A single DICOM file instead of the folder.
    let one = slices[0].display().to_string();
    c.add(
        "dicom",
        "single file instead of folder",
        &["inspect", &one],
        &["DCM_IMG_", "folder"],
    );
    // RTSTRUCT problems.
    let good_series = series("good_series", &|_, _| {});
    let garbage_rs = c.write("d/garbage_rs.dcm", vec![7u8; 500]);
    let out = c.s("d/mask.nii.gz");
    c.add(
        "dicom",
        "rtstruct garbage",
        &[
            "convert",
            &good_series,
            &out,
            "--rtstruct",
            &garbage_rs,
            "--roi",
            "GTV-1",
        ],
        &["garbage_rs.dcm"],
    );
    if let Some(rs) = require_shared("reference/ibsi/ct_phantom/dicom/mask/DCM_RS_00060.dcm") {
        let rs = rs.display().to_string();
        c.add(
            "dicom",
            "rtstruct unknown roi",
            &[
                "convert",
                &good_series,
                &out,
                "--rtstruct",
                &rs,
                "--roi",
                "NO-SUCH-ROI",
            ],
            &["NO-SUCH-ROI"],
        );
    }
}

#[test]
fn every_malformed_input_fails_cleanly_naming_file_and_field() {
    let t0 = std::time::Instant::now();
    let mut c = Corpus::new();
    config_cases(&mut c);
    manifest_cases(&mut c);
    radiomics_cases(&mut c);
    fuse_cases(&mut c);
    stats_cases(&mut c);
    image_cases(&mut c);
    dicom_cases(&mut c);
    let n = c.cases.len();
    let failures = c.run();
    println!("{n} cases in {:.1} s", t0.elapsed().as_secs_f64());
    assert!(n >= 60, "corpus has only {n} cases");
    assert!(
        failures.is_empty(),
        "{} of {n} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Degenerate but legal inputs: they may succeed (features become NaN with a reason) or fail
/// with a message naming the file, but must never panic.
#[test]
fn degenerate_inputs_never_panic() {
    let c = Corpus::new();
    let d = c.path("e");
    std::fs::create_dir_all(&d).unwrap();
    let (img, _) = write_image_and_mask(&d, "ok", [10, 10, 6], [0.0; 3]);
    let one = d.join("one_voxel.nii.gz");
    write_mask(&one, [10, 10, 6], [0.0; 3], |i| {
        u8::from(i == 10 * 10 * 3 + 10 * 5 + 5)
    });
    let border = d.join("border.nii.gz");
    write_mask(&border, [10, 10, 6], [0.0; 3], |i| u8::from(i % 10 == 0));
    let full = d.join("full.nii.gz");
    write_mask(&full, [10, 10, 6], [0.0; 3], |_| 1);
    let constant = d.join("constant.nii.gz");
    write_volume_f32(&constant, [10, 10, 6], [0.0; 3], |_| 40.0);
    let constant = constant.display().to_string();
    let settings = c.write(
        "e/s.toml",
        "discretisation = { method = \"fixed_bin_size\", bin_width = 25.0 }\n",
    );
    let out = c.s("e/out.csv");
    let mut runs: Vec<(String, Vec<String>)> = Vec::new();
    for (name, image, mask) in [
        ("one-voxel mask", img.as_str(), &one),
        ("mask on the image border", img.as_str(), &border),
        ("mask = whole image", img.as_str(), &full),
        ("constant image", constant.as_str(), &full),
    ] {
        for preset in ["--config", "ibsi-c", "pyradiomics-default"] {
            let mut a = vec![
                "radiomics".to_string(),
                "--image".into(),
                image.into(),
                "--mask".into(),
                mask.display().to_string(),
                "--out".into(),
                out.clone(),
            ];
            if preset == "--config" {
                a.extend(["--config".into(), settings.clone()]);
            } else {
                a.extend(["--preset".into(), preset.into()]);
            }
            runs.push((format!("{name} ({preset})"), a));
        }
    }
    let preds = c.write("e/two.csv", "y,p\n0,0.2\n1,0.8\n");
    let tied = c.write("e/tied.csv", "y,p\n0,0.5\n1,0.5\n0,0.5\n1,0.5\n");
    for (name, p) in [("two cases", &preds), ("all scores tied", &tied)] {
        runs.push((
            format!("stats {name}"),
            [
                "stats",
                "--predictions",
                p,
                "--label-col",
                "y",
                "--score-col",
                "p",
                "--bootstrap",
                "50",
                "--out",
                &c.s("e/s.json"),
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        ));
    }
    let mut bad = Vec::new();
    for (name, args) in &runs {
        let o = tomofuse(args, c.dir.path());
        let err = String::from_utf8_lossy(&o.stderr);
        let code = o.status.code();
        let line = err
            .lines()
            .rev()
            .find(|l| l.contains("error"))
            .unwrap_or("");
        println!("{name}: exit {code:?} {}", clip(line, 200));
        if code == Some(101) || code.is_none() || err.contains("panicked") {
            bad.push(format!("{name}: {}", clip(&err, 1500)));
        }
    }
    assert!(bad.is_empty(), "panics:\n{}", bad.join("\n"));
}
