//! Readers checked against independent references on the shared CT data: the IBSI phantom in
//! two formats, its RTSTRUCT vs its NIfTI mask, the JPEG 2000 series vs pydicom/OpenJPEG and its
//! TotalSegmentator label grid, every NIfTI/NRRD vs the facts in data/ct/SOURCE.md and nibabel.

mod common;

use common::{affine_from_json, dice, max_abs_diff4, nibabel, python_json};
use rand::{Rng, SeedableRng};
use std::path::PathBuf;
use tomofuse_core::{GeometryTolerance, Space, require_shared};
use tomofuse_io::{
    ImageFormat, read_image, read_image_info, read_image_with_info, read_mask, read_rtstruct_mask,
};

fn tol() -> GeometryTolerance {
    GeometryTolerance {
        spacing: 1e-3,
        origin: 1e-3,
        direction: 1e-4,
    }
}

#[test]
fn ibsi_phantom_dicom_equals_nifti() {
    let Some(root) = require_shared("reference/ibsi/ct_phantom") else {
        return;
    };
    let t = std::time::Instant::now();
    let dcm = read_image(&root.join("dicom/image")).unwrap();
    let dt = t.elapsed();
    let nii = read_image(&root.join("nifti/image.nii.gz")).unwrap();
    println!("IBSI DICOM (60 slices) read in {dt:?}");
    assert_eq!(dcm.shape(), [204, 201, 60]);
    dcm.check_same_grid(&nii, &tol()).unwrap();
    let mut max_diff = 0.0f32;
    for (a, b) in dcm.data.iter().zip(nii.data.iter()) {
        max_diff = max_diff.max((a - b).abs());
    }
    println!(
        "IBSI DICOM vs NIfTI: max |diff| = {max_diff}, origin {:?} vs {:?}",
        dcm.geometry.origin, nii.geometry.origin
    );
    assert_eq!(max_diff, 0.0, "voxel values differ");
}

#[test]
fn ibsi_rtstruct_gtv1_matches_nifti_mask() {
    let Some(root) = require_shared("reference/ibsi/ct_phantom") else {
        return;
    };
    let img = read_image(&root.join("dicom/image")).unwrap();
    let rs = root.join("dicom/mask/DCM_RS_00060.dcm");
    let rois = tomofuse_io::list_rtstruct_rois(&rs).unwrap();
    println!("ROIs: {rois:?}");
    let mask = read_rtstruct_mask(&rs, "GTV-1", &img.geometry, img.shape()).unwrap();
    let reference = read_mask(&root.join("nifti/mask.nii.gz")).unwrap();
    mask.check_same_grid(&reference, &tol()).unwrap();
    let d = dice(&mask.data, &reference.data);
    println!(
        "IBSI GTV-1: Dice = {d:.5} (ours {} voxels, NIfTI mask {} voxels)",
        mask.count_nonzero(),
        reference.count_nonzero()
    );
    assert!(d >= 0.98, "Dice {d} < 0.98");
}

#[test]
fn jpeg2000_series_decodes_to_hu_on_the_label_grid() {
    let Some(dir) = require_shared("data/ct/totalseg_abdomen/example_ct_dicom") else {
        return;
    };
    let Some(seg_path) = require_shared("data/ct/totalseg_abdomen/example_seg_dicom.nii.gz") else {
        return;
    };
    let t = std::time::Instant::now();
    let (ct, info) = read_image_with_info(&dir).unwrap();
    println!(
        "JPEG 2000 series (20 x 512 x 512) read in {:?}",
        t.elapsed()
    );
    assert_eq!(info.format, ImageFormat::DicomSeries);
    assert_eq!(ct.shape(), [512, 512, 20]);
    // SOURCE.md: 0.9766 x 0.9766 mm, 2.0 mm step, z from -804.5 to -766.5, rescale -1024.
    assert!(
        (ct.geometry.spacing[0] - 0.9766).abs() < 1e-3
            && (ct.geometry.spacing[2] - 2.0).abs() < 1e-6
    );
    let z0 = ct.geometry.index_to_world([0.0, 0.0, 0.0])[2];
    let z1 = ct.geometry.index_to_world([0.0, 0.0, 19.0])[2];
    assert!(
        (z0 - -804.5).abs() < 1e-3 && (z1 - -766.5).abs() < 1e-3,
        "z range {z0}..{z1}"
    );
    assert_eq!(info.scale.unwrap().1, -1024.0);
    // Same physical grid as the label map, which is stored LAS: compare both in LPS order.
    let seg = read_mask(&seg_path).unwrap();
    let a = ct.reorient("LPS", Space::Lps).unwrap();
    let b = seg.reorient("LPS", Space::Lps).unwrap();
    a.check_same_grid(&b, &tol()).unwrap();
    // HU plausibility: air at -1024, bone well above 500, liver (label 5) soft tissue.
    let min = a.data.iter().cloned().fold(f32::INFINITY, f32::min);
    let max = a.data.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
    let (mut s, mut n) = (0.0f64, 0usize);
    for (v, l) in a.data.iter().zip(b.data.iter()) {
        if *l == 5 {
            s += *v as f64;
            n += 1;
        }
    }
    let liver = s / n as f64;
    println!("HU min {min}, max {max}, liver mean {liver:.1} over {n} voxels");
    assert!((-1100.0..=-1000.0).contains(&min), "min {min}");
    assert!(max > 500.0, "max {max}");
    assert!(
        n > 1000 && (20.0..200.0).contains(&liver),
        "liver mean {liver} over {n}"
    );
    // Voxel values against an independent decoder (pydicom + pylibjpeg-openjpeg).
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let mut args = vec!["dicom".to_string(), dir.display().to_string()];
    let mut idx = Vec::new();
    for _ in 0..40 {
        let (i, j, k) = (
            rng.random_range(0..512),
            rng.random_range(0..512),
            rng.random_range(0..20),
        );
        idx.push((i, j, k));
        args.extend([i.to_string(), j.to_string(), k.to_string()]);
    }
    let Some(r) = python_json(&["pydicom", "pylibjpeg", "openjpeg", "numpy"], &args) else {
        return;
    };
    let hu = r["hu"].as_array().unwrap();
    for (&(i, j, k), h) in idx.iter().zip(hu) {
        assert_eq!(
            ct.data[[i, j, k]] as f64,
            h.as_f64().unwrap(),
            "voxel ({i},{j},{k})"
        );
    }
    println!("40 random voxels equal pydicom+openjpeg HU");
}

/// Expectations written from data/ct/SOURCE.md (not from our reader).
struct Expect {
    rel: &'static str,
    shape: [usize; 3],
    spacing: [f64; 3],
    codes: &'static str,
    dtype: &'static str,
    range: Option<(f32, f32)>,
    /// (label, voxel count)
    labels: &'static [(u8, usize)],
}

const EXPECT: &[Expect] = &[
    Expect {
        rel: "totalseg_abdomen/example_ct.nii.gz",
        shape: [122, 101, 112],
        spacing: [3.0; 3],
        codes: "RAS",
        dtype: "int32",
        range: Some((-1207.0, 3382.0)),
        labels: &[],
    },
    Expect {
        rel: "totalseg_abdomen/example_seg_fast_force_split.nii.gz",
        shape: [122, 101, 112],
        spacing: [3.0; 3],
        codes: "RAS",
        dtype: "uint8",
        range: None,
        labels: &[(7, 695)],
    },
    Expect {
        rel: "totalseg_abdomen/example_ct_sm.nii.gz",
        shape: [122, 101, 30],
        spacing: [3.0; 3],
        codes: "RAS",
        dtype: "int16",
        range: Some((-1100.0, 1207.0)),
        labels: &[],
    },
    Expect {
        rel: "totalseg_abdomen/example_seg.nii.gz",
        shape: [122, 101, 30],
        spacing: [3.0; 3],
        codes: "RAS",
        dtype: "uint8",
        range: None,
        labels: &[(7, 644)],
    },
    Expect {
        rel: "totalseg_abdomen/example_seg_fast_pancreas.nii.gz",
        shape: [122, 101, 30],
        spacing: [3.0; 3],
        codes: "RAS",
        dtype: "uint8",
        range: Some((0.0, 1.0)),
        labels: &[],
    },
    Expect {
        rel: "totalseg_abdomen/example_seg_dicom.nii.gz",
        shape: [512, 512, 20],
        spacing: [0.9766, 0.9766, 2.0],
        codes: "LAS",
        dtype: "uint8",
        range: None,
        labels: &[(7, 1327)],
    },
    Expect {
        rel: "totalseg_chest/ct_cropped.nii.gz",
        shape: [122, 102, 112],
        spacing: [1.5; 3],
        codes: "LPS",
        dtype: "int16",
        range: Some((-1064.0, 3343.0)),
        labels: &[],
    },
    Expect {
        rel: "totalseg_chest/pulmonary_artery.nii.gz",
        shape: [122, 102, 112],
        spacing: [1.5; 3],
        codes: "LPS",
        dtype: "uint8",
        range: Some((0.0, 1.0)),
        labels: &[],
    },
    Expect {
        rel: "totalseg_chest/heart.nii.gz",
        shape: [233, 167, 191],
        spacing: [1.5; 3],
        codes: "LPS",
        dtype: "uint8",
        range: Some((0.0, 1.0)),
        labels: &[],
    },
    Expect {
        rel: "pyradiomics_lung/lung1_image.nrrd",
        shape: [512, 512, 48],
        spacing: [0.5703125, 0.5703125, 5.0],
        codes: "LPS",
        dtype: "int16",
        range: Some((-1024.0, 3071.0)),
        labels: &[],
    },
    Expect {
        rel: "pyradiomics_lung/lung1_label.nrrd",
        shape: [512, 512, 48],
        spacing: [0.5703125, 0.5703125, 5.0],
        codes: "LPS",
        dtype: "int16",
        range: Some((0.0, 1.0)),
        labels: &[(1, 837)],
    },
    Expect {
        rel: "pyradiomics_lung/lung2_image.nrrd",
        shape: [512, 512, 61],
        spacing: [0.6269531, 0.6269531, 5.0],
        codes: "LPS",
        dtype: "int16",
        range: Some((-1024.0, 1671.0)),
        labels: &[],
    },
    Expect {
        rel: "pyradiomics_lung/lung2_label.nrrd",
        shape: [512, 512, 61],
        spacing: [0.6269531, 0.6269531, 5.0],
        codes: "LPS",
        dtype: "int16",
        range: Some((0.0, 1.0)),
        labels: &[(1, 24_644)],
    },
    Expect {
        rel: "vtk_headsq/headsq_hu.nii.gz",
        shape: [64, 64, 93],
        spacing: [3.2, 3.2, 1.5],
        codes: "LPI",
        dtype: "int16",
        range: Some((-1024.0, 2902.0)),
        labels: &[],
    },
    Expect {
        rel: "vtk_headsq/headsq_internal_air_heuristic.nii.gz",
        shape: [64, 64, 93],
        spacing: [3.2, 3.2, 1.5],
        codes: "LPI",
        dtype: "uint8",
        range: Some((0.0, 2.0)),
        labels: &[(1, 5300), (2, 928)],
    },
    Expect {
        rel: "invesalius_head/cranium_ct.nii.gz",
        shape: [256, 256, 108],
        spacing: [0.9570312, 0.9570312, 1.5],
        codes: "LAS",
        dtype: "int16",
        range: Some((-1024.0, 2986.0)),
        labels: &[],
    },
    Expect {
        rel: "invesalius_head/cranium_internal_air_heuristic.nii.gz",
        shape: [256, 256, 108],
        spacing: [0.9570312, 0.9570312, 1.5],
        codes: "LAS",
        dtype: "uint8",
        range: Some((0.0, 2.0)),
        labels: &[(1, 36_416), (2, 3952)],
    },
    Expect {
        rel: "invesalius_head/cranium_mask_bone_thr226.nii.gz",
        shape: [256, 256, 108],
        spacing: [0.9570312, 0.9570312, 1.5],
        codes: "LAS",
        dtype: "uint8",
        range: None,
        labels: &[],
    },
    Expect {
        rel: "invesalius_head/cranium_mask_soft_thr-142.nii.gz",
        shape: [256, 256, 108],
        spacing: [0.9570312, 0.9570312, 1.5],
        codes: "LAS",
        dtype: "uint8",
        range: None,
        labels: &[],
    },
];

#[test]
fn every_ct_file_matches_source_md_and_nibabel() {
    let Some(root) = require_shared("data/ct") else {
        return;
    };
    let mut niftis: Vec<PathBuf> = Vec::new();
    let mut ours = Vec::new();
    for e in EXPECT {
        let p = root.join(e.rel);
        let t = std::time::Instant::now();
        let (v, info) = read_image_with_info(&p).unwrap_or_else(|err| panic!("{err}"));
        let dt = t.elapsed();
        let g = v.geometry;
        let codes: String = g.axis_codes(Space::Ras).iter().collect();
        println!(
            "{:<55} {:?} {:?} {codes} {} read in {dt:?}",
            e.rel,
            v.shape(),
            g.spacing,
            info.dtype
        );
        assert_eq!(v.shape(), e.shape, "{}: shape", e.rel);
        for a in 0..3 {
            assert!(
                (g.spacing[a] - e.spacing[a]).abs() < 1e-4,
                "{}: spacing {:?} vs {:?}",
                e.rel,
                g.spacing,
                e.spacing
            );
        }
        assert_eq!(codes, e.codes, "{}: orientation", e.rel);
        assert_eq!(info.dtype.name(), e.dtype, "{}: dtype", e.rel);
        if let Some((lo, hi)) = e.range {
            let min = v.data.iter().cloned().fold(f32::INFINITY, f32::min);
            let max = v.data.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
            assert_eq!((min, max), (lo, hi), "{}: value range", e.rel);
        }
        for &(label, count) in e.labels {
            let n = v.data.iter().filter(|&&x| x == label as f32).count();
            assert_eq!(n, count, "{}: voxels of label {label}", e.rel);
        }
        if e.rel.ends_with(".nii.gz") {
            niftis.push(p);
            ours.push((info.affine_ras, info.dtype.name(), v.shape()));
        }
    }
    // Origins stated in SOURCE.md (LPS).
    let l1 = read_image_info(&root.join("pyradiomics_lung/lung1_image.nrrd")).unwrap();
    let l2 = read_image_info(&root.join("pyradiomics_lung/lung2_image.nrrd")).unwrap();
    for (got, want) in [
        (l1.geometry.origin, [-146.0, -325.0, -777.5]),
        (l2.geometry.origin, [-170.5, -324.5, -360.0]),
    ] {
        for a in 0..3 {
            assert!(
                (got[a] - want[a]).abs() < 1e-3,
                "origin {got:?} vs {want:?}"
            );
        }
    }
    // example_ct_sm keeps the full volume's origin (SOURCE.md: "Its affine was NOT shifted").
    let full = read_image_info(&root.join("totalseg_abdomen/example_ct.nii.gz")).unwrap();
    let sm = read_image_info(&root.join("totalseg_abdomen/example_ct_sm.nii.gz")).unwrap();
    assert!(full.geometry.compare(&sm.geometry, &tol()).is_ok());
    // Diagonal affines stated for the derived head files (RAS).
    let hs = read_image_info(&root.join("vtk_headsq/headsq_hu.nii.gz")).unwrap();
    let cr = read_image_info(&root.join("invesalius_head/cranium_ct.nii.gz")).unwrap();
    for (info, diag) in [(&hs, [-3.2, -3.2, -1.5]), (&cr, [-0.957, 0.957, 1.5])] {
        for (a, want) in diag.iter().enumerate() {
            assert!(
                (info.affine_ras[a][a] - want).abs() < 1e-3,
                "affine diagonal {:?}",
                info.affine_ras
            );
        }
    }

    // nibabel's img.affine, dtype and shape for every NIfTI.
    let Some(nb) = nibabel(&niftis) else { return };
    for (r, (aff, dtype, shape)) in nb.iter().zip(&ours) {
        let theirs = affine_from_json(&r["affine"]);
        let d = max_abs_diff4(aff, &theirs);
        assert!(
            d < 1e-4,
            "{}: affine differs from nibabel by {d}: {aff:?} vs {theirs:?}",
            r["path"]
        );
        assert_eq!(r["dtype"].as_str().unwrap(), *dtype, "{}", r["path"]);
        let s: Vec<usize> = r["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as usize)
            .collect();
        assert_eq!(s, shape.to_vec());
    }
    println!(
        "{} NIfTI affines equal nibabel's img.affine within 1e-4",
        nb.len()
    );
}

#[test]
fn headsq_nhdr_equals_derived_nifti() {
    // SOURCE.md: headsq_hu.nii.gz = quarter.* raw - 1024, same index order, spacing 3.2 3.2 1.5.
    let Some(nhdr) = require_shared("data/ct/vtk_headsq/quarter.nhdr") else {
        return;
    };
    let Some(nii) = require_shared("data/ct/vtk_headsq/headsq_hu.nii.gz") else {
        return;
    };
    let (raw, info) = read_image_with_info(&nhdr).unwrap();
    assert_eq!(info.format, ImageFormat::Nrrd);
    let hu = read_image(&nii).unwrap();
    assert_eq!(raw.shape(), [64, 64, 93]);
    assert_eq!(raw.geometry.spacing, [3.2, 3.2, 1.5]);
    let diff = raw
        .data
        .iter()
        .zip(hu.data.iter())
        .filter(|(r, h)| **r - 1024.0 != **h)
        .count();
    assert_eq!(diff, 0, "{diff} voxels differ from raw - 1024");
}

/// The TotalSegmentator example series has an empty SeriesInstanceUID (pydicom reads ''):
/// the details say so instead of printing an empty value.
#[test]
fn empty_series_uid_is_reported_as_such() {
    let Some(dir) = require_shared("data/ct/totalseg_abdomen/example_ct_dicom") else {
        return;
    };
    let (_, info) = tomofuse_io::read_image_series(&dir, None).unwrap();
    let uid = info
        .details
        .iter()
        .find(|(k, _)| k == "series_uid")
        .map(|(_, v)| v.as_str());
    assert_eq!(
        uid,
        Some("(empty in the files: SeriesInstanceUID has no value)")
    );
}
