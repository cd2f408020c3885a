//! No patient identifier from DICOM headers may reach any output or log. A DICOM series is
//! built at test time from a few slices of the IBSI CT phantom, its identifying attributes
//! (PatientName, PatientID, PatientBirthDate, OtherPatientIDs, InstitutionName,
//! ReferringPhysicianName, AccessionNumber, ...) set to marker strings. The series then goes
//! through `inspect` (text and JSON), `convert`, `resample`, `radiomics` (wide, long,
//! provenance, batch manifest), `validate-data` and `run` on a manifest cohort of DICOM folders,
//! with `RUST_LOG=debug`. Every output file (recursively, gzip members decompressed) and every
//! stdout/stderr is searched for each marker.
//!
//! Run: `cargo test --workspace --test no_phi -- --nocapture`

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use tomofuse_core::{Volume, require_shared};

/// (attribute, VR, value written, marker searched for). (0010,1000) is OtherPatientIDs.
const MARKERS: &[(dicom_core::Tag, VR, &str, &str)] = &[
    (tags::PATIENT_NAME, VR::PN, "DOE^JANE^PHI", "DOE^JANE"),
    (tags::PATIENT_ID, VR::LO, "PID-424242-PHI", "PID-424242"),
    (tags::PATIENT_BIRTH_DATE, VR::DA, "19010203", "19010203"),
    (
        dicom_core::Tag(0x0010, 0x1000),
        VR::LO,
        "OPID-737373-PHI",
        "OPID-737373",
    ),
    (
        tags::INSTITUTION_NAME,
        VR::LO,
        "ST-PHIBERT-HOSPITAL",
        "PHIBERT",
    ),
    (
        tags::REFERRING_PHYSICIAN_NAME,
        VR::PN,
        "HOUSE^GREGORY^PHI",
        "HOUSE^GREGORY",
    ),
    (tags::ACCESSION_NUMBER, VR::SH, "ACC-919191", "ACC-919191"),
    (tags::PATIENT_ADDRESS, VR::LO, "12 PHIPPS LANE", "PHIPPS"),
    (tags::STUDY_ID, VR::SH, "STUDY-565656", "STUDY-565656"),
    (
        tags::STUDY_DESCRIPTION,
        VR::LO,
        "CT FOR JANEDOE-DESC",
        "JANEDOE-DESC",
    ),
    (
        tags::SERIES_DESCRIPTION,
        VR::LO,
        "SERIES OF JANEDOE-SER",
        "JANEDOE-SER",
    ),
];

/// Also searched in other spellings a tool might produce (e.g. the name with spaces). Markers
/// are never bare digit runs: "424242" occurs in printed floats such as 14/33 = 0.424242...
const EXTRA_MARKERS: &[&str] = &["DOE JANE", "JANE^PHI", "424242-PHI", "1901-02-03"];

fn markers() -> Vec<&'static str> {
    MARKERS
        .iter()
        .map(|m| m.3)
        .chain(EXTRA_MARKERS.iter().copied())
        .collect()
}

fn find_markers(bytes: &[u8]) -> Vec<&'static str> {
    markers()
        .into_iter()
        .filter(|m| {
            bytes
                .windows(m.len())
                .any(|w| w.eq_ignore_ascii_case(m.as_bytes()))
        })
        .collect()
}

/// Writes `n` slices of the phantom (from slice `first`) into `dir` with the markers set.
fn phi_series(src: &Path, dir: &Path, first: usize, n: usize) {
    let mut files: Vec<PathBuf> = std::fs::read_dir(src)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    std::fs::create_dir_all(dir).unwrap();
    for f in &files[first..first + n] {
        let mut obj = dicom_object::open_file(f).unwrap();
        for &(tag, vr, value, _) in MARKERS {
            obj.put(DataElement::new(tag, vr, PrimitiveValue::from(value)));
        }
        let out = dir.join(f.file_name().unwrap());
        obj.write_to_file(&out).unwrap();
    }
    // Sanity: the markers really are in the input files.
    let one = std::fs::read_dir(dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let found = find_markers(&std::fs::read(one).unwrap());
    for m in MARKERS {
        assert!(found.contains(&m.3), "fixture lacks marker {}", m.3);
    }
}

struct Runner {
    logs: Vec<(String, Vec<u8>)>,
}

impl Runner {
    /// Runs the binary with debug logging; keeps stdout and stderr for the search.
    fn run(&mut self, args: &[&str], expect_ok: bool) -> String {
        let t = std::time::Instant::now();
        let out = Command::new(env!("CARGO_BIN_EXE_tomofuse"))
            .args(args)
            .env("RUST_LOG", "debug")
            .env("RAYON_NUM_THREADS", "2")
            .output()
            .expect("binary runs");
        let name = args[..2.min(args.len())].join(" ");
        println!(
            "tomofuse {name}: exit {:?} in {:.1} s",
            out.status.code(),
            t.elapsed().as_secs_f64()
        );
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
        if expect_ok {
            assert!(out.status.success(), "{name} failed: {stderr}");
        }
        self.logs
            .push((format!("{name} stdout"), out.stdout.clone()));
        self.logs.push((format!("{name} stderr"), out.stderr));
        String::from_utf8_lossy(&out.stdout).to_string()
    }
}

/// Every file under `dir` (recursively), gzip files also decompressed.
fn all_outputs(dir: &Path, acc: &mut Vec<(String, Vec<u8>)>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            all_outputs(&p, acc);
            continue;
        }
        let bytes = std::fs::read(&p).unwrap();
        if bytes.starts_with(&[0x1f, 0x8b]) {
            let mut d = flate2::read::MultiGzDecoder::new(bytes.as_slice());
            let mut v = Vec::new();
            d.read_to_end(&mut v).unwrap();
            acc.push((format!("{} (decompressed)", p.display()), v));
        }
        acc.push((p.display().to_string(), bytes));
    }
}

/// A box mask in the middle of the converted image's grid.
fn box_mask(image: &Path, mask: &Path) {
    let v = tomofuse_io::read_image(image).unwrap();
    let [ni, nj, nk] = v.shape();
    let data = ndarray::Array3::from_shape_fn((ni, nj, nk), |(i, j, k)| {
        u8::from(
            (ni / 2 - 12..ni / 2 + 12).contains(&i)
                && (nj / 2 - 12..nj / 2 + 12).contains(&j)
                && (1..nk - 1).contains(&k),
        )
    });
    let m = Volume::new(data, v.geometry).unwrap();
    tomofuse_io::write_nifti(mask, &m).unwrap();
}

#[test]
fn dicom_patient_identifiers_never_reach_outputs_or_logs() {
    let Some(src) = require_shared("reference/ibsi/ct_phantom/dicom/image") else {
        return;
    };
    let t0 = std::time::Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("input");
    let series = input.join("series_a");
    phi_series(&src, &series, 24, 12);
    let out = tmp.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let s = |p: &Path| p.display().to_string();
    let o = |name: &str| out.join(name).display().to_string();
    let mut r = Runner { logs: Vec::new() };

    r.run(&["inspect", &s(&series)], true);
    let json = r.run(&["inspect", &s(&series), "--json"], true);
    std::fs::write(out.join("inspect.json"), json).unwrap();
    r.run(&["convert", &s(&series), &o("image.nii.gz")], true);
    r.run(&["convert", &s(&series), &o("image.nii")], true);
    r.run(
        &[
            "resample",
            &s(&series),
            &o("resampled.nii.gz"),
            "--spacing",
            "2,2,3",
        ],
        true,
    );
    // The NIfTI header fields a converter could fill from DICOM text attributes.
    let hdr = std::fs::read(out.join("image.nii")).unwrap();
    for (what, range) in [
        ("descrip", 148..228),
        ("aux_file", 228..252),
        ("intent_name", 328..344),
    ] {
        let f = &hdr[range];
        assert!(
            find_markers(f).is_empty(),
            "NIfTI {what} holds an identifier: {:?}",
            String::from_utf8_lossy(f)
        );
    }
    let vox_offset = f32::from_le_bytes(hdr[108..112].try_into().unwrap()) as usize;
    assert!(
        find_markers(&hdr[348..vox_offset]).is_empty(),
        "NIfTI extension holds an identifier"
    );

    // Radiomics on the DICOM folder with a mask on its grid.
    let mask = input.join("mask.nii.gz");
    box_mask(&out.join("image.nii.gz"), &mask);
    for (fmt, name) in [("long", "rad_long.csv"), ("wide", "rad_wide.csv")] {
        r.run(
            &[
                "radiomics",
                "--image",
                &s(&series),
                "--mask",
                &s(&mask),
                "--preset",
                "ibsi-a",
                "--format",
                fmt,
                "--out",
                &o(name),
            ],
            true,
        );
    }

    // A second series folder (other slices), a cohort manifest of DICOM folders.
    let series_b = input.join("series_b");
    phi_series(&src, &series_b, 30, 12);
    let mask_b = input.join("mask_b.nii.gz");
    let tmp_b = out.join("image_b.nii.gz");
    r.run(&["convert", &s(&series_b), &s(&tmp_b)], true);
    box_mask(&tmp_b, &mask_b);
    let mut csv = String::from("case_id,image,mask,outcome,date,age\n");
    let rows = [
        ("c01", "series_a", "mask.nii.gz", 1, "2021-01-05"),
        ("c02", "series_b", "mask_b.nii.gz", 0, "2021-02-05"),
        ("c03", "series_a", "mask.nii.gz", 0, "2021-03-05"),
        ("c04", "series_b", "mask_b.nii.gz", 1, "2021-04-05"),
        ("c05", "series_a", "mask.nii.gz", 1, "2021-05-05"),
        ("c06", "series_b", "mask_b.nii.gz", 0, "2021-06-05"),
        ("c07", "series_a", "mask.nii.gz", 0, "2023-01-05"),
        ("c08", "series_b", "mask_b.nii.gz", 1, "2023-02-05"),
    ];
    for (id, img, m, y, d) in rows {
        csv.push_str(&format!("{id},{img},{m},{y},{d},{}\n", 50 + y * 5));
    }
    let manifest = input.join("cohort.csv");
    std::fs::write(&manifest, &csv).unwrap();
    r.run(&["validate-data", &s(&manifest)], true);
    let rad_manifest = input.join("radiomics.csv");
    std::fs::write(
        &rad_manifest,
        "case_id,image,mask\nc01,series_a,mask.nii.gz\nc02,series_b,mask_b.nii.gz\n",
    )
    .unwrap();
    r.run(
        &[
            "radiomics",
            "--manifest",
            &s(&rad_manifest),
            "--preset",
            "ibsi-a",
            "--out",
            &o("rad_batch.csv"),
        ],
        true,
    );

    // `tomofuse run` on the DICOM cohort (tiny network, one step).
    let config = input.join("experiment.toml");
    std::fs::write(
        &config,
        r#"
[experiment]
name = "phi-check"
seed = 7

[cohort]
source = "manifest"
manifest = "cohort.csv"
profile = "tiny"

[split]
kind = "random-temporal"
validation_fraction = 0.34
external_after = "2022-06-01"

[segmentation]
channels = [2, 4]
res_units = 0
epochs = 1
steps_per_epoch = 1
patch = [16, 16, 8]
batch_size = 1
learning_rate = 0.002
hu_window = [-1000.0, 400.0]
class_head = true

[stats]
bootstrap = 100
ci_level = 0.95
"#,
    )
    .unwrap();
    let run_dir = out.join("run");
    r.run(&["run", &s(&config), "--out", &s(&run_dir)], true);
    let metrics: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run_dir.join("metrics.json")).unwrap()).unwrap();
    assert_eq!(
        metrics["failures"],
        serde_json::json!([]),
        "every DICOM case must go through the pipeline"
    );

    let mut outputs = Vec::new();
    all_outputs(&out, &mut outputs);
    let n_files = outputs.len();
    outputs.extend(r.logs);
    let mut leaks = Vec::new();
    for (what, bytes) in &outputs {
        let found = find_markers(bytes);
        if !found.is_empty() {
            leaks.push(format!("{what}: {found:?}"));
        }
    }
    println!(
        "searched {n_files} output files and {} logs for {} markers in {:.1} s",
        outputs.len() - n_files,
        markers().len(),
        t0.elapsed().as_secs_f64()
    );
    assert!(
        leaks.is_empty(),
        "identifiers leaked:\n{}",
        leaks.join("\n")
    );
}
