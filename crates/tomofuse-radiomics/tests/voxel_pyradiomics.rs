//! Voxel maps against PyRadiomics 3.0.1 `voxelBased=True` on the pyradiomics lung1 lesion
//! (837 voxels, binWidth 25), kernelRadius 1 and 2, maskedKernel true and false: every map
//! at every ROI voxel. Reference: `tests/data/voxel/` written by
//! `benches/python/voxel_reference.py` (the maps sampled at the ROI voxels, k-j-i order).
//!
//! Tolerance: 1e-4 relative to the reference value, with an absolute floor of 1e-4 times the
//! largest magnitude of that map (values that are zero up to rounding, e.g. the skewness of a
//! symmetric kernel, have no meaningful relative error). NaN must match NaN, with one
//! documented exception: PyRadiomics' GLCM MCC map is NaN everywhere when one kernel has a
//! direction without pairs (numpy's eigvals raises for the whole batch); there the test
//! requires exactly that condition and finite values of ours.

use std::path::PathBuf;
use tomofuse_radiomics::voxel::{VoxelParams, voxel_maps};

fn data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/voxel")
}

fn check(radius: usize, masked: bool) {
    let d = data();
    let image = tomofuse_io::read_image(&d.join("lung1_crop_image.nii.gz")).unwrap();
    let mask = tomofuse_io::read_mask(&d.join("lung1_crop_mask.nii.gz")).unwrap();
    let tag = format!("r{radius}_{}", if masked { "masked" } else { "unmasked" });
    let reference = tomofuse_io::read_image(&d.join(format!("ref_{tag}.nii.gz"))).unwrap();
    let names: Vec<String> = std::fs::read_to_string(d.join("features.txt"))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let [nvox, nfeat, _] = reference.shape();
    assert_eq!(nfeat, names.len());
    // ROI voxels in the generator's order: numpy C order of [z, y, x] = k, then j, then i.
    let [ni, nj, nk] = mask.shape();
    let mut roi = Vec::new();
    for k in 0..nk {
        for j in 0..nj {
            for i in 0..ni {
                if mask.data[[i, j, k]] == 1 {
                    roi.push([i, j, k]);
                }
            }
        }
    }
    assert_eq!(roi.len(), nvox);
    let params = VoxelParams {
        kernel_radius: radius,
        masked_kernel: masked,
        ..VoxelParams::default()
    };
    let maps = voxel_maps(&image, &mask, &params, &["all".to_string()]).unwrap();
    assert_eq!(maps.len(), names.len(), "one map per PyRadiomics feature");
    let mut failures = Vec::new();
    let mut compared = 0usize;
    for (f, name) in names.iter().enumerate() {
        let (_, ours) = maps
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no map {name}"));
        let refv: Vec<f64> = (0..nvox)
            .map(|v| reference.data[[v, f, 0]] as f64)
            .collect();
        let got: Vec<f64> = roi.iter().map(|&ix| ours.data[ix] as f64).collect();
        if name == "glcm_MCC" && refv.iter().all(|v| v.is_nan()) {
            // PyRadiomics failed for the whole batch: only when a kernel has an empty
            // direction, which the JointAverage map (NaN exactly there) shows.
            let (_, ja) = maps.iter().find(|(n, _)| n == "glcm_JointAverage").unwrap();
            let empty_dir = roi.iter().any(|&ix| ja.data[ix].is_nan());
            assert!(
                empty_dir,
                "{tag}: PyRadiomics MCC is all NaN without a reason"
            );
            assert!(got.iter().all(|v| v.is_finite()), "{tag}: our MCC map");
            continue;
        }
        let scale = refv
            .iter()
            .filter(|v| v.is_finite())
            .fold(0.0f64, |m, v| m.max(v.abs()));
        let mut worst = 0.0f64;
        for v in 0..nvox {
            let (r, g) = (refv[v], got[v]);
            compared += 1;
            if r.is_nan() || g.is_nan() {
                if r.is_nan() != g.is_nan() {
                    failures.push(format!(
                        "{tag} {name} voxel {:?}: ours {g}, PyRadiomics {r}",
                        roi[v]
                    ));
                }
                continue;
            }
            let tol = 1e-4 * r.abs().max(1e-4 * scale);
            let err = (g - r).abs();
            worst = worst.max(err / r.abs().max(1e-4 * scale).max(f64::MIN_POSITIVE));
            if err > tol {
                failures.push(format!(
                    "{tag} {name} voxel {:?}: ours {g}, PyRadiomics {r}",
                    roi[v]
                ));
            }
        }
        println!("{tag} {name}: worst relative error {worst:.2e}");
    }
    for f in failures.iter().take(60) {
        println!("FAIL {f}");
    }
    assert!(
        failures.is_empty(),
        "{tag}: {} of {compared} map voxels differ from PyRadiomics",
        failures.len()
    );
}

#[test]
fn radius_1_masked_kernel() {
    check(1, true);
}

#[test]
fn radius_1_unmasked_kernel() {
    check(1, false);
}

#[test]
fn radius_2_masked_kernel() {
    check(2, true);
}

#[test]
fn radius_2_unmasked_kernel() {
    check(2, false);
}
