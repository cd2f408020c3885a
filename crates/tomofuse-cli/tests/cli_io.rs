//! The `tomofuse inspect` and `tomofuse convert` commands, run as the built binary and checked
//! against nibabel (affine, statistics) and the IBSI phantom's NIfTI files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use tomofuse_core::{python_with, require_shared};

fn tomofuse(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tomofuse"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("binary runs")
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../benches/python/io_reference.py")
}

/// nibabel's affine and statistics of `path` (`None`: visible skip).
fn nibabel_stats(path: &Path) -> Option<serde_json::Value> {
    let py = python_with(&["nibabel", "numpy"])?;
    let out = Command::new(py)
        .arg(script())
        .arg("stats")
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    Some(v[0].clone())
}

fn inspect_json(path: &Path) -> serde_json::Value {
    let out = tomofuse(&["inspect", path.to_str().unwrap(), "--json"]);
    assert!(
        out.status.success(),
        "inspect failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("inspect --json prints JSON")
}

fn assert_affine_eq(ours: &serde_json::Value, theirs: &serde_json::Value, tol: f64) {
    for r in 0..4 {
        for c in 0..4 {
            let (a, b) = (ours[r][c].as_f64().unwrap(), theirs[r][c].as_f64().unwrap());
            assert!((a - b).abs() < tol, "affine[{r}][{c}]: {a} vs nibabel {b}");
        }
    }
}

#[test]
fn help_works_for_every_command() {
    for args in [
        vec!["--help"],
        vec!["inspect", "--help"],
        vec!["convert", "--help"],
    ] {
        let out = tomofuse(&args);
        assert!(out.status.success(), "{args:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("Usage"), "{args:?}: {text}");
    }
}

#[test]
fn inspect_json_gives_nibabels_affine_and_stats() {
    // An LPS-stored CT (x and y flipped vs RAS) exercises the sign conventions.
    let Some(p) = require_shared("data/ct/totalseg_chest/ct_cropped.nii.gz") else {
        return;
    };
    let j = inspect_json(&p);
    assert_eq!(j["shape"], serde_json::json!([122, 102, 112]));
    assert_eq!(j["dtype"], "int16");
    assert_eq!(j["orientation"], "LPS");
    // SOURCE.md: int16, -1064..3343 HU.
    assert_eq!(
        (j["min"].as_f64(), j["max"].as_f64()),
        (Some(-1064.0), Some(3343.0))
    );
    let Some(nb) = nibabel_stats(&p) else { return };
    assert_affine_eq(&j["affine_ras"], &nb["affine"], 1e-5);
    assert_eq!(j["sum"].as_f64(), nb["sum"].as_f64(), "sum of values");
    println!("inspect affine_ras == nibabel img.affine; sum {}", j["sum"]);
}

#[test]
fn bad_input_exits_nonzero_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("broken_scan.nii");
    std::fs::write(&p, b"this is not an image at all").unwrap();
    let out = tomofuse(&["inspect", p.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("broken_scan.nii")
            && (err.contains("truncated") || err.contains("not a NIfTI")),
        "{err}"
    );
    let out = tomofuse(&[
        "convert",
        dir.path().join("nope.nrrd").to_str().unwrap(),
        dir.path().join("o.nii").to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope.nrrd"));
    let out = tomofuse(&["inspect"]);
    assert!(!out.status.success(), "missing argument must fail");
}

#[test]
fn convert_dicom_and_rtstruct_to_nifti() {
    let Some(root) = require_shared("reference/ibsi/ct_phantom") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("ibsi_ct.nii.gz");
    let mask = dir.path().join("ibsi_gtv.nii.gz");
    let out = tomofuse(&[
        "convert",
        root.join("dicom/image").to_str().unwrap(),
        img.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = tomofuse(&[
        "convert",
        root.join("dicom/image").to_str().unwrap(),
        mask.to_str().unwrap(),
        "--rtstruct",
        root.join("dicom/mask/DCM_RS_00060.dcm").to_str().unwrap(),
        "--roi",
        "GTV-1",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The converted image has the reference NIfTI's affine and statistics.
    let ours = inspect_json(&img);
    let reference = inspect_json(&root.join("nifti/image.nii.gz"));
    assert_affine_eq(&ours["affine_ras"], &reference["affine_ras"], 1e-3);
    assert_eq!(ours["sum"], reference["sum"]);
    assert_eq!(ours["dtype"], "int16");
    let m = inspect_json(&mask);
    assert_eq!(m["dtype"], "uint8");
    assert_eq!(m["max"].as_f64(), Some(1.0));
    // And nibabel reads what we wrote with the same affine.
    let Some(nb) = nibabel_stats(&img) else {
        return;
    };
    assert_affine_eq(&ours["affine_ras"], &nb["affine"], 1e-5);
    assert_eq!(ours["sum"].as_f64(), nb["sum"].as_f64());
    let Some(nbm) = nibabel_stats(&mask) else {
        return;
    };
    let Some(nbr) = nibabel_stats(&root.join("nifti/mask.nii.gz")) else {
        return;
    };
    println!(
        "GTV-1 voxels: converted {} vs IBSI NIfTI mask {}",
        nbm["sum"], nbr["sum"]
    );
    assert_eq!(nbm["sum"], nbr["sum"]);
}

/// `resample --dtype input` keeps the stored type (int16 NIfTI; a rescaled DICOM series as
/// int16), each voxel the float32 output rounded; with `--mask` the option is refused.
#[test]
fn resample_keeps_the_input_type_on_request() {
    let Some(root) = require_shared("reference/ibsi/ct_phantom") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // An int16 NIfTI: the DICOM series converted.
    let int16 = dir.path().join("int16.nii");
    let o = tomofuse(&[
        "convert",
        root.join("dicom/image").to_str().unwrap(),
        int16.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for (name, input) in [
        ("nifti", root.join("nifti/image.nii.gz")),
        ("dicom", root.join("dicom/image")),
        ("int16", int16),
    ] {
        let (_, info) = tomofuse_io::read_image_with_info(&input).unwrap();
        let f32_out = dir.path().join(format!("{name}-f32.nii"));
        let kept = dir.path().join(format!("{name}-kept.nii.gz"));
        for (out, extra) in [(&f32_out, None), (&kept, Some("input"))] {
            let mut args = vec![
                "resample",
                input.to_str().unwrap(),
                out.to_str().unwrap(),
                "--spacing",
                "1.3,1.7,2.2",
            ];
            if let Some(d) = extra {
                args.extend(["--dtype", d]);
            }
            let o = tomofuse(&args);
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        }
        let (a, ai) = tomofuse_io::read_image_with_info(&f32_out).unwrap();
        let (b, bi) = tomofuse_io::read_image_with_info(&kept).unwrap();
        assert_eq!(ai.dtype, tomofuse_io::DType::F32, "{name}");
        let want = if info.scale.is_some() {
            tomofuse_io::DType::I16
        } else {
            info.dtype
        };
        assert_eq!(
            bi.dtype, want,
            "{name}: stored {} scale {:?}",
            info.dtype, info.scale
        );
        assert_eq!(a.shape(), b.shape());
        let fractional = a.data.iter().filter(|x| x.fract() != 0.0).count();
        assert!(fractional > 0, "{name}: the test needs interpolated values");
        let float = matches!(want, tomofuse_io::DType::F32 | tomofuse_io::DType::F64);
        for (x, y) in a.data.iter().zip(b.data.iter()) {
            assert_eq!(if float { *x } else { x.round() }, *y, "{name}");
        }
        println!("{name}: stored {} -> written {}", info.dtype, bi.dtype);
    }
    let o = tomofuse(&[
        "resample",
        root.join("nifti/mask.nii.gz").to_str().unwrap(),
        dir.path().join("m.nii").to_str().unwrap(),
        "--spacing",
        "2,2,2",
        "--mask",
        "--dtype",
        "input",
    ]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("--dtype"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// `resample --mask` on a TotalSegmentator label map onto a rotated reference grid: linear is
/// SimpleITK's `sitkLabelLinear` (labels kept, not binarised) voxel for voxel except at ties
/// (two label shares within 1e-4, where float rounding picks), nearest its nearest neighbour.
#[test]
fn resample_mask_keeps_labels_like_simpleitk() {
    let Some(seg) = require_shared("data/ct/totalseg_abdomen/example_seg.nii.gz") else {
        return;
    };
    let Some(py) = python_with(&["SimpleITK", "numpy"]) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let reference = dir.path().join("reference.nii.gz");
    let run_py = |code: &str, args: &[&Path]| {
        let o = Command::new(&py)
            .arg("-c")
            .arg(code)
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    };
    // 12 degrees about z, 5 about x, 1.7 x 1.9 x 2.1 mm, shifted off the voxel centres.
    run_py(
        "import sys, math, numpy as np, SimpleITK as sitk\n\
         seg = sitk.ReadImage(sys.argv[1])\n\
         a, b = math.radians(12), math.radians(5)\n\
         rz = np.array([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1]])\n\
         rx = np.array([[1, 0, 0], [0, math.cos(b), -math.sin(b)], [0, math.sin(b), math.cos(b)]])\n\
         d = rz @ rx @ np.array(seg.GetDirection()).reshape(3, 3)\n\
         ref = sitk.Image([200, 150, 40], sitk.sitkUInt8)\n\
         ref.SetSpacing([1.7, 1.9, 2.1]); ref.SetDirection(d.flatten().tolist())\n\
         ref.SetOrigin(seg.TransformContinuousIndexToPhysicalPoint([-3.3, 4.1, 2.2]))\n\
         sitk.WriteImage(ref, sys.argv[2])",
        &[&seg, &reference],
    );
    for (interp, sitk_interp) in [
        ("linear", "sitkLabelLinear"),
        ("nearest", "sitkNearestNeighbor"),
    ] {
        let out = dir.path().join(format!("{interp}.nii.gz"));
        let o = tomofuse(&[
            "resample",
            seg.to_str().unwrap(),
            out.to_str().unwrap(),
            "--mask",
            "--interp",
            interp,
            "--reference",
            reference.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let code = format!(
            "import sys, numpy as np, SimpleITK as sitk\n\
             sys.path.insert(0, sys.argv[4]); from resample_compare import label_ties\n\
             seg, ref, got = (sitk.ReadImage(p) for p in sys.argv[1:4])\n\
             want = sitk.Resample(seg, ref, sitk.Transform(), sitk.{sitk_interp}, 0, seg.GetPixelID())\n\
             w, g = sitk.GetArrayViewFromImage(want), sitk.GetArrayViewFromImage(got)\n\
             bad = w != g\n\
             if '{interp}' == 'linear':\n\
             \x20   bad &= ~label_ties(seg, (ref.GetSize(), ref.GetOrigin(), ref.GetSpacing(), ref.GetDirection()))\n\
             print(int(bad.sum()), len(np.unique(g)), len(np.unique(w)))"
        );
        let scripts = script().parent().unwrap().to_path_buf();
        let text = run_py(&code, &[&seg, &reference, &out, &scripts]);
        let v: Vec<usize> = text
            .split_whitespace()
            .map(|t| t.parse().unwrap())
            .collect();
        assert_eq!(
            v[0], 0,
            "{interp}: voxels differing from SimpleITK ({text})"
        );
        assert_eq!(v[1], v[2], "{interp}: labels present ({text})");
        assert!(v[1] > 20, "{interp}: labels were lost ({text})");
    }
}
