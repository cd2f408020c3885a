//! `tomofuse radiomics --voxel-map`, run as the built binary on the stored lung1 lesion crop:
//! the maps, `index.csv`, the values against PyRadiomics' stored maps, and clear errors
//! (non-zero exit) for radius 0, a radius larger than the image, an empty ROI and an unknown
//! feature name.

use std::path::PathBuf;
use std::process::{Command, Output};

fn data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tomofuse-radiomics/tests/data/voxel")
}

fn run(extra: &[&str], out: &std::path::Path) -> Output {
    let d = data();
    let (img, msk) = (
        d.join("lung1_crop_image.nii.gz"),
        d.join("lung1_crop_mask.nii.gz"),
    );
    Command::new(env!("CARGO_BIN_EXE_tomofuse"))
        .args(["radiomics", "--image", img.to_str().unwrap(), "--mask"])
        .arg(msk)
        .args([
            "--preset",
            "pyradiomics-default",
            "--voxel-map",
            "--out-dir",
        ])
        .arg(out)
        .args(extra)
        .env("RUST_LOG", "warn")
        .output()
        .expect("binary runs")
}

#[test]
fn voxel_maps_index_and_values() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        &[
            "--kernel-radius",
            "1",
            "--features",
            "glcm_Contrast,firstorder",
        ],
        dir.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let index = std::fs::read_to_string(dir.path().join("index.csv")).unwrap();
    let rows: Vec<&str> = index.lines().collect();
    assert_eq!(rows[0], "feature,file,min,max,nan_count");
    assert_eq!(rows.len(), 1 + 18 + 1, "{index}");
    let d = data();
    let mask = tomofuse_io::read_mask(&d.join("lung1_crop_mask.nii.gz")).unwrap();
    let outside = mask.data.iter().filter(|&&m| m != 1).count();
    for r in &rows[1..] {
        let f: Vec<&str> = r.split(',').collect();
        assert_eq!(f[4].parse::<usize>().unwrap(), outside, "{r}");
        let map = tomofuse_io::read_image(&dir.path().join(f[1])).unwrap();
        assert_eq!(map.shape(), mask.shape());
    }
    // glcm_Contrast against PyRadiomics' stored map (R 1, masked kernel), 1e-4 relative.
    let names: Vec<String> = std::fs::read_to_string(d.join("features.txt"))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let col = names.iter().position(|n| n == "glcm_Contrast").unwrap();
    let reference = tomofuse_io::read_image(&d.join("ref_r1_masked.nii.gz")).unwrap();
    let map = tomofuse_io::read_image(&dir.path().join("glcm_Contrast.nii.gz")).unwrap();
    let [ni, nj, nk] = mask.shape();
    let mut v = 0;
    for k in 0..nk {
        for j in 0..nj {
            for i in 0..ni {
                if mask.data[[i, j, k]] == 1 {
                    let (ours, theirs) = (map.data[[i, j, k]], reference.data[[v, col, 0]]);
                    assert!(
                        (ours - theirs).abs() <= 1e-4 * theirs.abs().max(1e-3),
                        "voxel ({i}, {j}, {k}): {ours} vs PyRadiomics {theirs}"
                    );
                    v += 1;
                }
            }
        }
    }
    assert_eq!(v, reference.shape()[0]);
}

#[test]
fn bad_voxel_map_input_fails_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    for (args, want) in [
        (vec!["--kernel-radius", "0"], "kernel_radius"),
        (vec!["--kernel-radius", "40"], "not smaller than the image"),
        (vec!["--label", "9"], "label 9"),
        (vec!["--features", "glcm_Nonsense"], "glcm_Nonsense"),
        (vec!["--masked-kernel", "maybe"], "--masked-kernel"),
    ] {
        let out = run(&args, dir.path());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(
            err.contains(want),
            "{args:?}: stderr lacks `{want}`:\n{err}"
        );
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

/// Runs `--voxel-map` with a PyRadiomics parameter file instead of the preset.
fn run_params(yaml: &str, extra: &[&str], out: &std::path::Path) -> Output {
    let d = data();
    let params = out.join("params.yaml");
    std::fs::create_dir_all(out).unwrap();
    std::fs::write(&params, yaml).unwrap();
    Command::new(env!("CARGO_BIN_EXE_tomofuse"))
        .args(["radiomics", "--image"])
        .arg(d.join("lung1_crop_image.nii.gz"))
        .arg("--mask")
        .arg(d.join("lung1_crop_mask.nii.gz"))
        .arg("--params")
        .arg(&params)
        .args(["--voxel-map", "--out-dir"])
        .arg(out.join("maps"))
        .args(extra)
        .env("RUST_LOG", "warn")
        .output()
        .expect("binary runs")
}

fn read_map(dir: &std::path::Path, name: &str) -> Vec<f32> {
    let m = tomofuse_io::read_image(&dir.join(format!("{name}.nii.gz"))).unwrap();
    m.data.iter().copied().collect()
}

/// `voxelSetting` gives the same maps as the flags; `initValue` sets the outside value; a
/// flag that differs from the file and a misspelt key are errors naming them.
#[test]
fn voxel_setting_in_a_parameter_file_equals_the_flags() {
    let features = "glcm_Contrast,firstorder_Mean,glszm_ZoneEntropy,ngtdm_Busyness";
    let flags = tempfile::tempdir().unwrap();
    let out = run(
        &[
            "--kernel-radius",
            "2",
            "--masked-kernel",
            "false",
            "--features",
            features,
        ],
        flags.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let yaml = "setting:\n  binWidth: 25\nvoxelSetting:\n  kernelRadius: 2\n  maskedKernel: false\n  voxelBatch: 100\n";
    let file = tempfile::tempdir().unwrap();
    let out = run_params(yaml, &["--features", features], file.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The same value on the command line is not a conflict.
    let same = tempfile::tempdir().unwrap();
    let out = run_params(
        yaml,
        &["--features", features, "--kernel-radius", "2"],
        same.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for name in features.split(',') {
        let a = read_map(flags.path(), name);
        let b = read_map(&file.path().join("maps"), name);
        let c = read_map(&same.path().join("maps"), name);
        assert_eq!(a.len(), b.len());
        for ((x, y), z) in a.iter().zip(&b).zip(&c) {
            assert!(
                x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()),
                "{name}"
            );
            assert!(
                y.to_bits() == z.to_bits() || (y.is_nan() && z.is_nan()),
                "{name}"
            );
        }
    }
    // The radius of the file is used: R 1 maps differ from these.
    let r1 = tempfile::tempdir().unwrap();
    let out = run(
        &["--features", "glcm_Contrast", "--masked-kernel", "false"],
        r1.path(),
    );
    assert!(out.status.success());
    assert_ne!(
        read_map(r1.path(), "glcm_Contrast")
            .iter()
            .map(|v| v.to_bits())
            .collect::<Vec<_>>(),
        read_map(&file.path().join("maps"), "glcm_Contrast")
            .iter()
            .map(|v| v.to_bits())
            .collect::<Vec<_>>()
    );

    // The file's featureClass selects the maps (shape left out: it has no maps).
    let fc = tempfile::tempdir().unwrap();
    let out = run_params(
        "featureClass:\n  shape:\n  glcm: [Contrast]\n  ngtdm:\nvoxelSetting:\n  kernelRadius: 2\n  maskedKernel: false\n",
        &[],
        fc.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let index = std::fs::read_to_string(fc.path().join("maps/index.csv")).unwrap();
    let names: Vec<&str> = index
        .lines()
        .skip(1)
        .map(|r| r.split(',').next().unwrap())
        .collect();
    assert_eq!(names.len(), 1 + 5, "{index}");
    assert_eq!(names[0], "glcm_Contrast");
    assert!(
        names[1..].iter().all(|n| n.starts_with("ngtdm_")),
        "{index}"
    );
    let a = read_map(flags.path(), "glcm_Contrast");
    let b = read_map(&fc.path().join("maps"), "glcm_Contrast");
    assert!(
        a.iter()
            .zip(&b)
            .all(|(x, y)| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()))
    );

    // initValue: 0 outside the ROI instead of NaN.
    let init = tempfile::tempdir().unwrap();
    let out = run_params(
        "voxelSetting:\n  initValue: 0\n",
        &["--features", "firstorder_Mean"],
        init.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mask = tomofuse_io::read_mask(&data().join("lung1_crop_mask.nii.gz")).unwrap();
    let mean = read_map(&init.path().join("maps"), "firstorder_Mean");
    for (m, v) in mask.data.iter().zip(&mean) {
        if *m != 1 {
            assert_eq!(*v, 0.0);
        } else {
            assert!(v.is_finite());
        }
    }

    for (yaml, args, want) in [
        (
            "voxelSetting:\n  kernelRadius: 2\n",
            vec!["--kernel-radius", "1"],
            "--kernel-radius 1 differs from the parameter file's `voxelSetting.kernelRadius: 2`",
        ),
        (
            "voxelSetting:\n  maskedKernel: true\n",
            vec!["--masked-kernel", "false"],
            "voxelSetting.maskedKernel",
        ),
        (
            "voxelSetting:\n  kernelRadis: 2\n",
            vec![],
            "voxelSetting.kernelRadis",
        ),
        (
            "featureClass:\n  glcm:\n",
            vec!["--features", "glcm_Contrast"],
            "give one",
        ),
        ("featureClass:\n  shape:\n", vec![], "only shape"),
        // Settings voxel maps do not implement are errors, not ignored.
        ("setting:\n  force2D: true\n", vec![], "force2D"),
        ("setting:\n  gldm_a: 1\n", vec![], "gldm_a"),
        (
            "imageType:\n  Square: {}\nfeatureClass:\n  glcm:\n",
            vec![],
            "filtered image types",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let out = run_params(yaml, &args, dir.path());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{yaml:?} {args:?} succeeded");
        assert!(
            err.contains(want),
            "{yaml:?} {args:?}: stderr lacks `{want}`:\n{err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
}
