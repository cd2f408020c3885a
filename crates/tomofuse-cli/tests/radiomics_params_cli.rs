//! `tomofuse radiomics --params FILE.yaml`, run as the built binary: a PyRadiomics parameter
//! file gives one column per PyRadiomics key; a bad file (sigma 0, a wavelet that does not
//! exist, a misspelt image type, an unknown setting) is a clear error naming the key, a
//! non-zero exit, and no output file.

use std::path::Path;
use std::process::{Command, Output};
use tomofuse_core::{Geometry, Mask, Volume};

fn tomofuse(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tomofuse"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("binary runs")
}

/// A 16^3 image with structure and a 8x8x6 ROI (label 1), written as NIfTI.
fn write_case(dir: &Path) -> (String, String) {
    let g = Geometry::with_spacing([1.0, 1.0, 1.5]).unwrap();
    let img = Volume::new(
        ndarray::Array3::from_shape_fn((16, 16, 16), |(i, j, k)| {
            (((i * 37 + j * 11 + k * 7) % 23) as f32 - 11.0) * 9.0 + (i as f32) * 4.0
        }),
        g,
    )
    .unwrap();
    let m: Mask = Volume::new(
        ndarray::Array3::from_shape_fn((16, 16, 16), |(i, j, k)| {
            u8::from((4..12).contains(&i) && (4..12).contains(&j) && (5..11).contains(&k))
        }),
        g,
    )
    .unwrap();
    let (ip, mp) = (dir.join("img.nii.gz"), dir.join("roi.nii.gz"));
    tomofuse_io::write_nifti(&ip, &img).unwrap();
    tomofuse_io::write_nifti(&mp, &m).unwrap();
    (ip.display().to_string(), mp.display().to_string())
}

fn run(dir: &Path, yaml: &str, name: &str) -> (Output, std::path::PathBuf) {
    let (img, msk) = write_case(dir);
    let params = dir.join(format!("{name}.yaml"));
    std::fs::write(&params, yaml).unwrap();
    let out = dir.join(format!("{name}.csv"));
    let o = tomofuse(&[
        "radiomics",
        "--params",
        params.to_str().unwrap(),
        "--image",
        &img,
        "--mask",
        &msk,
        "--case-id",
        "c1",
        "--out",
        out.to_str().unwrap(),
    ]);
    (o, out)
}

#[test]
fn params_file_gives_pyradiomics_columns() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = "imageType:\n  Original: {}\n  LoG: {sigma: [1.0, 2]}\n  Wavelet: {}\n  Square: {}\n\
                featureClass:\n  shape:\n  firstorder:\n  glcm: [Contrast, JointEntropy]\n  glszm:\n\
                setting:\n  binWidth: 10\n  label: 1\n";
    let (o, out) = run(dir.path(), yaml, "good");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let csv = std::fs::read_to_string(&out).unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    for col in [
        "case_id",
        "original_shape_MeshVolume",
        "original_firstorder_Mean",
        "original_glcm_Contrast",
        "log-sigma-1-0-mm-3D_glcm_Contrast",
        "log-sigma-2-mm-3D_firstorder_Entropy",
        "wavelet-HLL_glszm_ZoneEntropy",
        "wavelet-LLL_firstorder_Mean",
        "square_glcm_JointEntropy",
    ] {
        assert!(header.contains(&col), "missing column {col}: {header:?}");
    }
    // Only the listed GLCM features; no shape for filtered images; no IBSI tags.
    assert!(!header.contains(&"original_glcm_Idm"));
    assert!(!header.iter().any(|h| h.starts_with("wavelet-HLL_shape")));
    assert!(
        !header
            .iter()
            .any(|h| h.starts_with("cm_") || h.starts_with("stat_"))
    );
    // 14 shape + (18 + 2 + 16) per image type x (1 original + 2 LoG + 8 wavelet + 1 square).
    assert_eq!(header.len(), 1 + 14 + 36 * 12, "{header:?}");
}

#[test]
fn bad_params_files_fail_with_the_key_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    for (name, yaml, key) in [
        (
            "sigma0",
            "imageType:\n  LoG: {sigma: [0.0]}\n",
            "imageType.LoG.sigma[0]",
        ),
        (
            "wavelet",
            "imageType:\n  Wavelet: {wavelet: coif42}\n",
            "imageType.Wavelet.wavelet",
        ),
        (
            "misspelt",
            "imageType:\n  Orignal: {}\n  LoG: {sigma: [1.0]}\n",
            "imageType.Orignal",
        ),
        ("setting", "setting:\n  binWidht: 25\n", "setting.binWidht"),
        (
            "not_implemented",
            "setting:\n  resampledPixelSpacing: [1, 1, 1]\n",
            "setting.resampledPixelSpacing",
        ),
    ] {
        let (o, out) = run(dir.path(), yaml, name);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{name}: exit 0");
        assert!(
            err.contains(key),
            "{name}: stderr does not name `{key}`: {err}"
        );
        assert!(
            err.contains(&format!("{name}.yaml")),
            "{name}: file not named: {err}"
        );
        assert!(!err.contains("panicked"), "{name}: {err}");
        assert!(!out.exists(), "{name}: wrote {}", out.display());
    }
}
