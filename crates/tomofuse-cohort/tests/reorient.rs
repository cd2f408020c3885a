//! Masks stored in another axis order on the image's voxel centres are reoriented exactly on
//! load and noted (not failed) by validation; a genuinely different grid is still an error
//! naming the mask file and the field. On shared data: the TotalSegmentator DICOM series (LPS)
//! with its LAS label map, checked against SimpleITK's own resampling of the label map.
#![cfg(feature = "io")]

use std::path::Path;
use std::process::Command;
use tomofuse_cohort::{
    Case, MaskGrid, NiftiIo, Profile, Severity, Source, builtin, validate_manifest_files,
};
use tomofuse_core::{AxisMap, Mask, Space};

fn write_manifest(dir: &Path, rows: &[(&str, &Path, &Path)]) -> std::path::PathBuf {
    let mut text = String::from("case_id,image,mask,outcome\n");
    for (i, (id, img, mask)) in rows.iter().enumerate() {
        text.push_str(&format!(
            "{id},{},{},{}\n",
            img.display(),
            mask.display(),
            i % 2
        ));
    }
    let p = dir.join("manifest.csv");
    std::fs::write(&p, text).unwrap();
    p
}

/// World centroid (LPS mm) and count of non-zero voxels: what a reorientation must not change.
fn centroid(m: &Mask) -> ([f64; 3], usize) {
    let mut s = [0.0; 3];
    let mut n = 0;
    for ((i, j, k), &v) in m.data.indexed_iter() {
        if v != 0 {
            let w = m.geometry.index_to_world([i as f64, j as f64, k as f64]);
            for r in 0..3 {
                s[r] += w[r];
            }
            n += 1;
        }
    }
    (s.map(|x| x / n as f64), n)
}

#[test]
fn permuted_masks_are_reoriented_and_noted_shifted_ones_fail() {
    let dir = tempfile::tempdir().unwrap();
    let c = builtin("sinus", Profile::Tiny, 11).unwrap();
    let l = c.cases[0].load(None).unwrap();
    let mask = l.mask.clone().unwrap();
    let img_path = dir.path().join("ct.nii.gz");
    tomofuse_io::write_nifti(&img_path, &l.image).unwrap();
    // LAS storage (Slicer / TotalSegmentator), feet-first, and a transposed export.
    let maps = [
        AxisMap::new([0, 1, 2], [false, true, false]).unwrap(),
        AxisMap::new([0, 1, 2], [true, true, true]).unwrap(),
        AxisMap::new([2, 0, 1], [false, true, false]).unwrap(),
    ];
    let mut rows = Vec::new();
    for (n, m) in maps.iter().enumerate() {
        let p = dir.path().join(format!("mask{n}.nii.gz"));
        tomofuse_io::write_nifti(&p, &mask.permute_axes(m).unwrap()).unwrap();
        rows.push((format!("c{n}"), p));
    }
    // Half a voxel off along j after the same LAS flip: a different grid.
    let mut shifted = mask.permute_axes(&maps[0]).unwrap();
    shifted.geometry.origin[1] += 0.5 * shifted.geometry.spacing[1];
    let bad = dir.path().join("shifted.nii.gz");
    tomofuse_io::write_nifti(&bad, &shifted).unwrap();
    rows.push(("bad".into(), bad.clone()));
    let rows_ref: Vec<(&str, &Path, &Path)> = rows
        .iter()
        .map(|(id, p)| (id.as_str(), img_path.as_path(), p.as_path()))
        .collect();
    let manifest = write_manifest(dir.path(), &rows_ref);
    let report = validate_manifest_files(&manifest);
    let notes: Vec<_> = report
        .problems
        .iter()
        .filter(|p| p.severity == Severity::Note)
        .collect();
    assert_eq!(notes.len(), 3, "{report}");
    assert!(notes[0].message.contains("j flipped"), "{report}");
    assert!(
        notes[0].message.contains("stored LAS, image LPS"),
        "{report}"
    );
    let errors: Vec<_> = report
        .problems
        .iter()
        .filter(|p| p.severity == Severity::Error)
        .collect();
    assert_eq!(errors.len(), 1, "{report}");
    let e = &errors[0];
    assert_eq!(
        (e.case_id.as_deref(), e.column.as_deref()),
        (Some("bad"), Some("mask"))
    );
    assert!(
        e.message.contains("shifted.nii.gz") && e.message.contains("`origin`"),
        "{}",
        e.message
    );
    assert_eq!(report.n_ok, 3, "{report}");
    assert!(report.to_string().contains("3 note(s)"), "{report}");
    // Loading gives back the native mask exactly, on the image's geometry.
    let m = tomofuse_cohort::read_manifest(&manifest).unwrap();
    for case in &m.cases[..3] {
        let (loaded, grid) = case.load_with_grid(Some(&NiftiIo)).unwrap();
        assert!(matches!(grid, MaskGrid::Reoriented { .. }), "{grid}");
        let got = loaded.mask.unwrap();
        assert_eq!(got.data, mask.data, "{}", case.id);
        assert_eq!(got.geometry, loaded.image.geometry);
    }
    let (_, grid) = m.cases[3].load_with_grid(Some(&NiftiIo)).unwrap();
    assert!(matches!(grid, MaskGrid::Mismatch(_)), "{grid}");
}

#[test]
fn totalseg_dicom_with_las_label_map() {
    let Some(dicom) = tomofuse_core::require_shared("data/ct/totalseg_abdomen/example_ct_dicom")
    else {
        return;
    };
    let Some(seg) =
        tomofuse_core::require_shared("data/ct/totalseg_abdomen/example_seg_dicom.nii.gz")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_manifest(dir.path(), &[("ts", &dicom, &seg), ("ts2", &dicom, &seg)]);
    let report = validate_manifest_files(&manifest);
    eprint!("{report}");
    assert!(report.is_ok(), "{report}");
    let notes: Vec<_> = report
        .problems
        .iter()
        .filter(|p| p.severity == Severity::Note)
        .collect();
    assert_eq!(notes.len(), 2, "{report}");
    assert!(
        notes[0].message.contains("stored LAS, image LPS")
            && notes[0].message.contains("j flipped"),
        "{report}"
    );
    let case = Case {
        id: "ts".into(),
        source: Source::Files {
            image: dicom.clone(),
            mask: Some(seg.clone()),
        },
        label: None,
        split: None,
        centre: None,
        date: None,
        clinical: Default::default(),
        truth: None,
    };
    let (loaded, grid) = case.load_with_grid(Some(&NiftiIo)).unwrap();
    let MaskGrid::Reoriented { map, .. } = grid else {
        panic!("{grid}")
    };
    assert_eq!(map, AxisMap::new([0, 1, 2], [false, true, false]).unwrap());
    let mask = loaded.mask.unwrap();
    assert_eq!(mask.geometry, loaded.image.geometry);
    assert_eq!(mask.geometry.axis_codes(Space::Ras), ['L', 'P', 'S']);
    // Analytic: voxel count and world centroid unchanged by the reorientation, for the whole
    // label map and for the pancreas (label 7).
    let stored = tomofuse_io::read_mask(&seg).unwrap();
    for sel in [None, Some(7u8)] {
        let pick = |m: &Mask| sel.map_or_else(|| m.clone(), |l| m.select_label(l));
        let (c0, n0) = centroid(&pick(&stored));
        let (c1, n1) = centroid(&pick(&mask));
        assert_eq!(n0, n1);
        assert!(n0 > 0);
        for r in 0..3 {
            assert!((c0[r] - c1[r]).abs() < 1e-6, "{sel:?}: {c0:?} vs {c1:?}");
        }
    }
    // Independent: SimpleITK resamples the label map onto the DICOM grid (nearest neighbour);
    // the reoriented mask must equal it voxel for voxel.
    let Some(py) = tomofuse_core::python_with(&["SimpleITK", "numpy"]) else {
        return;
    };
    let raw = dir.path().join("sitk.raw");
    let out = Command::new(py)
        .args([
            "-c",
            "import sys, SimpleITK as sitk, numpy as np\n\
             r = sitk.ImageSeriesReader(); r.SetFileNames(r.GetGDCMSeriesFileNames(sys.argv[1]))\n\
             ref = r.Execute(); seg = sitk.ReadImage(sys.argv[2])\n\
             out = sitk.Resample(seg, ref, sitk.Transform(), sitk.sitkNearestNeighbor, 0, seg.GetPixelID())\n\
             a = sitk.GetArrayFromImage(out).astype(np.uint8)\n\
             open(sys.argv[3], 'wb').write(a.tobytes())\n\
             print(*out.GetSize())",
        ])
        .arg(&dicom)
        .arg(&seg)
        .arg(&raw)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let size: Vec<usize> = String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .map(|t| t.parse().unwrap())
        .collect();
    assert_eq!(size, mask.shape().to_vec());
    // GetArrayFromImage is [k, j, i] in C order: i fastest, as `to_vec_f`.
    let reference = std::fs::read(&raw).unwrap();
    let ours = mask.to_vec_f();
    let differ = ours.iter().zip(&reference).filter(|(a, b)| a != b).count();
    assert_eq!(reference.len(), ours.len());
    assert_eq!(
        differ, 0,
        "{differ} voxels differ from SimpleITK's resampling"
    );
}
