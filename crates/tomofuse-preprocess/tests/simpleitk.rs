//! Agreement with SimpleITK 2.5 (`sitk.Resample`, identity transform, default value 0,
//! float32 output) on the real CTs of the shared folder: nearest exactly, linear within
//! 1e-3 HU, B-spline within 0.5 HU; ITK grid for spacing targets, plus a rotated reference
//! grid for the general (non-separable) path. A TotalSegmentator label map is resampled
//! label-linear against `sitkLabelLinear`: every voxel equal except at exact ties. The Python
//! side is benches/python/resample_compare.py, which also prints the differences.

mod common;

use common::*;
use tomofuse_core::{Geometry, Space, Volume};
use tomofuse_preprocess::resample::{
    GridMode, Interp, MaskInterp, ResampleOptions, output_grid, resample_mask, resample_with,
};

struct Case {
    name: String,
    /// `None`: the label-linear mask resampling.
    interp: Option<Interp>,
    spacing: Option<[f64; 3]>,
    reference: Option<(Geometry, [usize; 3])>,
}

fn interp_name(i: Option<Interp>) -> &'static str {
    match i {
        Some(Interp::Nearest) => "nearest",
        Some(Interp::Linear) => "linear",
        Some(Interp::BSpline) => "bspline",
        None => "label_linear",
    }
}

fn tolerance(i: Option<Interp>) -> f64 {
    match i {
        Some(Interp::Nearest) => 0.0,
        Some(Interp::Linear) => 1e-3,
        Some(Interp::BSpline) => 0.5,
        // Labels differ by whole numbers: checked voxel by voxel (ties aside) by the script.
        None => f64::INFINITY,
    }
}

/// A grid rotated 12 degrees about z and 5 about x, 1.7 mm, shifted: exercises the general path.
fn rotated_reference(vol: &Volume<f32>) -> (Geometry, [usize; 3]) {
    let (a, b) = (12f64.to_radians(), 5f64.to_radians());
    let rz = [
        [a.cos(), -a.sin(), 0.0],
        [a.sin(), a.cos(), 0.0],
        [0.0, 0.0, 1.0],
    ];
    let rx = [
        [1.0, 0.0, 0.0],
        [0.0, b.cos(), -b.sin()],
        [0.0, b.sin(), b.cos()],
    ];
    let mut r = [[0.0; 3]; 3];
    for i in 0..3 {
        for j in 0..3 {
            for k in 0..3 {
                r[i][j] += rz[i][k] * rx[k][j];
            }
        }
    }
    let d0 = vol.geometry.direction;
    let mut d = [[0.0; 3]; 3];
    for i in 0..3 {
        for j in 0..3 {
            for k in 0..3 {
                d[i][j] += r[i][k] * d0[k][j];
            }
        }
    }
    let s = vol.shape();
    let ext = vol.geometry.extent_mm(s);
    let sp = [1.7, 1.9, 2.1];
    let shape = [
        (ext[0] / sp[0]) as usize,
        (ext[1] / sp[1]) as usize,
        (ext[2] / sp[2]) as usize,
    ];
    let origin = vol.geometry.index_to_world([-3.3, 4.1, 2.2]);
    (Geometry::new(sp, origin, d, Space::Lps).unwrap(), shape)
}

fn run(rel: &str, spacing: [f64; 3], with_rotated: bool) {
    run_with(
        rel,
        spacing,
        with_rotated,
        &[
            Some(Interp::Nearest),
            Some(Interp::Linear),
            Some(Interp::BSpline),
        ],
    );
}

fn run_with(rel: &str, spacing: [f64; 3], with_rotated: bool, interps: &[Option<Interp>]) {
    let Some(path) = tomofuse_core::require_shared(rel) else {
        return;
    };
    let Some(py) = tomofuse_core::python_with(&["SimpleITK", "numpy"]) else {
        return;
    };
    let labels = interps == [None];
    let (vol, mask) = if labels {
        let m = tomofuse_io::read_mask(&path).unwrap();
        (m.map(|&v| f32::from(v)), Some(m))
    } else {
        (tomofuse_io::read_image(&path).unwrap(), None)
    };
    let dir = tempfile::tempdir().unwrap();
    write_raw(dir.path(), "input", &vol);
    let mut cases = Vec::new();
    for &interp in interps {
        cases.push(Case {
            name: format!("spacing_{}", interp_name(interp)),
            interp,
            spacing: Some(spacing),
            reference: None,
        });
        if with_rotated {
            cases.push(Case {
                name: format!("rotated_{}", interp_name(interp)),
                interp,
                spacing: None,
                reference: Some(rotated_reference(&vol)),
            });
        }
    }
    let mut ours = Vec::new();
    for c in &cases {
        let mut spec = serde_json::json!({"interp": interp_name(c.interp)});
        let (g, shape) = match (&c.spacing, &c.reference) {
            (Some(s), _) => {
                spec["spacing"] = serde_json::json!(s);
                output_grid(&vol.geometry, vol.shape(), *s, GridMode::Itk).unwrap()
            }
            (None, Some((g, s))) => {
                spec["reference"] = geometry_json(g, *s);
                (*g, *s)
            }
            _ => unreachable!(),
        };
        std::fs::write(
            dir.path().join(format!("case_{}.json", c.name)),
            spec.to_string(),
        )
        .unwrap();
        let out = match (c.interp, &mask) {
            (Some(i), _) => resample_with(&vol, &g, shape, &ResampleOptions::new(i)).unwrap(),
            (None, Some(m)) => resample_mask(m, &g, shape, MaskInterp::LabelLinear)
                .unwrap()
                .map(|&v| f32::from(v)),
            (None, None) => unreachable!(),
        };
        write_raw(dir.path(), &format!("rust_{}", c.name), &out);
        ours.push(out);
    }
    let out = std::process::Command::new(&py)
        .arg(script("resample_compare.py"))
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{rel}:\n{stdout}{}", String::from_utf8_lossy(&out.stderr));
    // Independent check on the Rust side too, field by field.
    for (c, mine) in cases.iter().zip(&ours) {
        let theirs = read_raw(dir.path(), &format!("sitk_{}", c.name));
        assert_eq!(mine.shape(), theirs.shape(), "{rel} {}: shape", c.name);
        mine.geometry
            .compare(&theirs.geometry, &Default::default())
            .unwrap();
        let md = max_abs_diff(mine, &theirs);
        assert!(
            md <= tolerance(c.interp),
            "{rel} {}: max abs diff {md} HU > {}",
            c.name,
            tolerance(c.interp)
        );
    }
    assert!(
        out.status.success(),
        "resample_compare.py reported a failure:\n{stdout}"
    );
    if let Some(m) = &mask {
        // Labels survive as labels: every output label is an input label, and the labels
        // present are exactly SimpleITK's (organs too small for the coarser grid vanish on
        // both sides alike).
        let distinct = |d: &mut dyn Iterator<Item = u8>| {
            let mut seen = [false; 256];
            d.for_each(|v| seen[usize::from(v)] = true);
            seen
        };
        let inp = distinct(&mut m.data.iter().copied());
        for (c, mine) in cases.iter().zip(&ours) {
            let got = distinct(&mut mine.data.iter().map(|&v| v as u8));
            let theirs = read_raw(dir.path(), &format!("sitk_{}", c.name));
            let want = distinct(&mut theirs.data.iter().map(|&v| v as u8));
            assert!((0..256).all(|l| !got[l] || inp[l]), "{rel}: a new label");
            assert_eq!(got, want, "{rel} {}: labels present", c.name);
            let count = |s: &[bool; 256]| s.iter().filter(|&&b| b).count();
            println!("{}: {} of {} labels", c.name, count(&got), count(&inp));
            assert!(count(&got) > 20, "{rel} {}: labels lost", c.name);
        }
    }
}

#[test]
fn simpleitk_lung_nrrd() {
    run(
        "data/ct/pyradiomics_lung/lung1_image.nrrd",
        [1.2, 1.2, 2.5],
        false,
    );
}

#[test]
fn simpleitk_abdomen_flipped_axes() {
    run(
        "data/ct/totalseg_abdomen/example_ct.nii.gz",
        [2.0, 2.5, 1.7],
        true,
    );
}

#[test]
fn simpleitk_head() {
    run(
        "data/ct/invesalius_head/cranium_ct.nii.gz",
        [1.3, 0.7, 2.2],
        false,
    );
}

#[test]
fn simpleitk_headsq_upsample() {
    run("data/ct/vtk_headsq/headsq_hu.nii.gz", [1.0, 1.0, 1.0], true);
}

#[test]
fn simpleitk_label_linear_totalsegmentator() {
    run_with(
        "data/ct/totalseg_abdomen/example_seg.nii.gz",
        [1.7, 2.3, 2.9],
        true,
        &[None],
    );
}
