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
