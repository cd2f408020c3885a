//! Exporting built-in cohorts as real-cohort files: the manifest reads back with every id,
//! outcome and clinical value; a plain export keeps the voxels; a heterogeneous export moves
//! each case onto its own scanner-like grid without moving the anatomy (mask volume and world
//! centroid, checked also through nibabel's affine).
#![cfg(feature = "io")]

use std::process::Command;
use tomofuse_cohort::{
    Cohort, ExportFormat, ExportOptions, NiftiIo, Profile, Severity, Source, builtin,
    export_cohort, read_manifest, validate_manifest_files,
};
use tomofuse_core::{Mask, Space};

fn small(study: &str, profile: Profile, n: usize) -> Cohort {
    let mut c = builtin(study, profile, 3).unwrap();
    c.assign_splits(0.25, None, &[], 1, false).unwrap();
    c.cases.truncate(n);
    c
}

/// Volume (mm^3) and world centroid (LPS mm) of the non-zero voxels.
fn volume_centroid(m: &Mask) -> (f64, [f64; 3]) {
    let mut s = [0.0; 3];
    let mut n = 0usize;
    for ((i, j, k), &v) in m.data.indexed_iter() {
        if v != 0 {
            let w = m.geometry.index_to_world([i as f64, j as f64, k as f64]);
            for r in 0..3 {
                s[r] += w[r];
            }
            n += 1;
        }
    }
    let sp = m.geometry.spacing;
    (n as f64 * sp[0] * sp[1] * sp[2], s.map(|x| x / n as f64))
}

fn assert_same_table(a: &Cohort, b: &Cohort) {
    assert_eq!(a.len(), b.len());
    assert_eq!(a.clinical_columns(), b.clinical_columns());
    for (x, y) in a.cases.iter().zip(&b.cases) {
        assert_eq!(x.id, y.id);
        assert_eq!(x.label, y.label, "{}", x.id);
        assert_eq!(x.split, y.split, "{}", x.id);
        assert_eq!(x.centre, y.centre, "{}", x.id);
        assert_eq!(x.date, y.date, "{}", x.id);
        assert_eq!(x.clinical, y.clinical, "{}", x.id);
    }
}

#[test]
fn plain_export_round_trips_table_and_voxels() {
    let c = small("sap", Profile::Tiny, 5);
    let dir = tempfile::tempdir().unwrap();
    let s = export_cohort(&c, dir.path(), &ExportOptions::default()).unwrap();
    let back = read_manifest(&s.manifest).unwrap();
    assert_same_table(&c, &back);
    assert!(c.clinical_columns().contains(&"etiology".to_string()));
    for ((a, b), e) in c.cases.iter().zip(&back.cases).zip(&s.cases) {
        let (la, lb) = (a.load(None).unwrap(), b.load(Some(&NiftiIo)).unwrap());
        assert_eq!(la.image.data, lb.image.data, "{}", a.id);
        assert_eq!(la.mask.unwrap().data, lb.mask.unwrap().data, "{}", a.id);
        assert_eq!(e.geometry, la.image.geometry);
        assert!(e.grid.is_none());
    }
}

#[test]
fn heterogeneous_export_keeps_anatomy_and_varies_storage() {
    for study in ["sinus", "sap"] {
        let c = small(study, Profile::Default, 8);
        let dir = tempfile::tempdir().unwrap();
        let opts = ExportOptions {
            heterogeneous: true,
            format: ExportFormat::Nifti,
            seed: 42,
        };
        let s = export_cohort(&c, dir.path(), &opts).unwrap();
        let report = validate_manifest_files(&s.manifest);
        assert!(report.is_ok() && report.n_ok == 8, "{report}");
        // Image and mask were written on one grid: nothing to reorient.
        assert!(!report.problems.iter().any(|p| p.severity == Severity::Note));
        let back = read_manifest(&s.manifest).unwrap();
        assert_same_table(&c, &back);
        let mut directions = Vec::new();
        let mut exported_centroids = Vec::new();
        for ((a, b), e) in c.cases.iter().zip(&back.cases).zip(&s.cases) {
            let (la, lb) = (a.load(None).unwrap(), b.load(Some(&NiftiIo)).unwrap());
            let (ma, mb) = (la.mask.unwrap(), lb.mask.unwrap());
            let g = e.grid.unwrap();
            // The grid really changed, and the file holds what the summary says.
            assert_ne!(lb.image.geometry.spacing, la.image.geometry.spacing);
            lb.image
                .geometry
                .compare(&e.geometry, &Default::default())
                .unwrap();
            assert_eq!(lb.image.shape(), e.shape);
            assert_eq!(
                e.axis_codes,
                lb.image
                    .geometry
                    .axis_codes(Space::Ras)
                    .iter()
                    .collect::<String>()
            );
            directions.push(lb.image.geometry.direction);
            // Anatomy: label-linear resampling puts each boundary where a 50% partial volume
            // falls on the new grid. With masks a few voxels across (default profile, 3-7 mm
            // voxels; slices up to 2.5x thicker) that changes the volume by a few percent for
            // the sinus cavities and by up to about 16% for the thin, tapering pancreas, and
            // moves the centroid by up to 0.3 of the largest voxel (measured at seed 42: sinus
            // 7.8% / 0.22, SAP 16.1% / 0.28; nearest neighbour gave 7% / 0.4 and 20% / 0.79).
            // Exactness is checked against SimpleITK below.
            let (va, ca) = volume_centroid(&ma);
            let (vb, cb) = volume_centroid(&mb);
            let rel = (vb - va).abs() / va;
            assert!(rel < 0.2, "{} volume {va:.0} -> {vb:.0} mm^3 ({g:?})", a.id);
            let big = g.spacing.iter().copied().fold(0.0, f64::max);
            for r in 0..3 {
                assert!(
                    (ca[r] - cb[r]).abs() < 0.35 * big,
                    "{} centroid {ca:?} -> {cb:?} ({g:?})",
                    a.id
                );
            }
            exported_centroids.push(cb);
        }
        let mut distinct = directions.clone();
        distinct.sort_by(|x, y| x.partial_cmp(y).unwrap());
        distinct.dedup();
        assert!(distinct.len() >= 2, "{study}: directions {directions:?}");
        // Independent references. SimpleITK resamples the native files onto each exported
        // grid (linear image with the same outside value, sitkLabelLinear mask): the export must
        // be that resampling, whatever the storage order (mask: except at ties). nibabel's affine must place the
        // exported mask's centroid where ours does (RAS = LPS with x, y negated).
        let Some(py) = tomofuse_core::python_with(&["SimpleITK", "nibabel", "numpy"]) else {
            continue;
        };
        let native_dir = tempfile::tempdir().unwrap();
        let native = export_cohort(&c, native_dir.path(), &ExportOptions::default()).unwrap();
        let native_back = read_manifest(&native.manifest).unwrap();
        let files = |b: &tomofuse_cohort::Case| match &b.source {
            Source::Files {
                image,
                mask: Some(m),
            } => [image.clone(), m.clone()],
            _ => panic!("no mask"),
        };
        let mut args = Vec::new();
        for (n, x) in native_back.cases.iter().zip(&back.cases) {
            args.extend(files(n));
            args.extend(files(x));
        }
        let out = Command::new(&py)
            .args([
                "-c",
                "import sys, SimpleITK as sitk, nibabel as nib, numpy as np\n\
                 from nibabel.affines import apply_affine\n\
                 sys.path.insert(0, sys.argv[1]); from resample_compare import label_ties\n\
                 a = sys.argv[2:]\n\
                 for q in range(0, len(a), 4):\n\
                 \x20   ni, nm, xi, xm = (sitk.ReadImage(p) for p in a[q:q + 4])\n\
                 \x20   lo = float(sitk.GetArrayViewFromImage(ni).min())\n\
                 \x20   ri = sitk.Resample(ni, xi, sitk.Transform(), sitk.sitkLinear, lo, sitk.sitkFloat32)\n\
                 \x20   rm = sitk.Resample(nm, xm, sitk.Transform(), sitk.sitkLabelLinear, 0, nm.GetPixelID())\n\
                 \x20   di = np.abs(sitk.GetArrayViewFromImage(ri) - sitk.GetArrayViewFromImage(xi)).max()\n\
                 \x20   bad = sitk.GetArrayViewFromImage(rm) != sitk.GetArrayViewFromImage(xm)\n\
                 \x20   tie = label_ties(nm, (xm.GetSize(), xm.GetOrigin(), xm.GetSpacing(), xm.GetDirection()))\n\
                 \x20   dm = int((bad & ~tie).sum())\n\
                 \x20   m = nib.load(a[q + 3]); idx = np.argwhere(np.asarray(m.dataobj) != 0)\n\
                 \x20   w = apply_affine(m.affine, idx).mean(axis=0)\n\
                 \x20   print(di, dm, *w.tolist())",
            ])
            .arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../benches/python"))
            .args(&args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        assert_eq!(text.lines().count(), c.len());
        for ((line, a), cb) in text.lines().zip(&c.cases).zip(&exported_centroids) {
            let v: Vec<f64> = line
                .split_whitespace()
                .map(|t| t.parse().unwrap())
                .collect();
            assert!(
                v[0] < 0.05,
                "{}: image differs from SimpleITK by {} HU",
                a.id,
                v[0]
            );
            // At a tie (two label shares, background included, within 1e-4, as on the centre
            // planes of centre-aligned grids; `label_ties` of resample_compare.py) float
            // rounding picks the winner; every other voxel must agree.
            assert_eq!(v[1], 0.0, "{}: mask voxels differing from SimpleITK", a.id);
            let lps = [-v[2], -v[3], v[4]];
            for r in 0..3 {
                assert!((lps[r] - cb[r]).abs() < 1e-3, "{}: {lps:?} vs {cb:?}", a.id);
            }
        }
    }
}

/// `--format dicom`: each image is a DICOM series folder (slices in its storage orientation,
/// LPS by DICOM's definition) and each mask a NIfTI file. The manifest validates (a mask stored
/// in another axis order than the series is a note, not an error) and every case loads with
/// the NIfTI export's voxels rounded to whole HU, its mask reoriented onto the series' grid.
#[test]
fn dicom_export_reads_back_like_the_nifti_export() {
    let c = small("sap", Profile::Tiny, 4);
    for heterogeneous in [false, true] {
        let (dn, dd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let opt = |format| ExportOptions {
            heterogeneous,
            format,
            seed: 5,
        };
        let nifti = export_cohort(&c, dn.path(), &opt(ExportFormat::Nifti)).unwrap();
        let dicom = export_cohort(&c, dd.path(), &opt(ExportFormat::Dicom)).unwrap();
        let report = validate_manifest_files(&dicom.manifest);
        assert!(report.is_ok() && report.n_ok == 4, "{report}");
        let (bn, bd) = (
            read_manifest(&nifti.manifest).unwrap(),
            read_manifest(&dicom.manifest).unwrap(),
        );
        assert_same_table(&bn, &bd);
        for (a, b) in bn.cases.iter().zip(&bd.cases) {
            let Source::Files { image, .. } = &b.source else {
                panic!("file source expected");
            };
            assert!(image.is_dir(), "{}: DICOM image is a folder", b.id);
            let (la, lb) = (
                a.load(Some(&NiftiIo)).unwrap(),
                b.load(Some(&NiftiIo)).unwrap(),
            );
            let tol = Default::default();
            let (img, _) = lb
                .image
                .onto_grid(&la.image.geometry, la.image.shape(), &tol)
                .unwrap();
            for (x, y) in la.image.data.iter().zip(img.data.iter()) {
                assert_eq!(x.round(), *y, "{} (heterogeneous {heterogeneous})", a.id);
            }
            let (m, _) = lb
                .mask
                .unwrap()
                .onto_grid(&la.image.geometry, la.image.shape(), &tol)
                .unwrap();
            assert_eq!(m.data, la.mask.unwrap().data, "{}", a.id);
        }
    }
    let e = "analyze".parse::<ExportFormat>().unwrap_err().to_string();
    assert!(e.contains("format") && e.contains("dicom"), "{e}");
}

#[test]
fn grids_depend_on_seed_and_id() {
    let c = small("sinus", Profile::Tiny, 4);
    let g0 = c.cases[0].load(None).unwrap().image.geometry;
    let a = tomofuse_cohort::scanner_grid(&g0, 7, &c.cases[2].id);
    let b = tomofuse_cohort::scanner_grid(&g0, 7, &c.cases[2].id);
    let other = tomofuse_cohort::scanner_grid(&g0, 8, &c.cases[2].id);
    assert_eq!(a, b);
    assert_ne!(a, other);
    // Square pixels, thicker or equal slices, within the documented ranges.
    for id in ["a", "b", "c", "d", "e", "f"] {
        let g = tomofuse_cohort::scanner_grid(&g0, 1, id);
        assert_eq!(g.spacing[0], g.spacing[1]);
        let f = g.spacing[0] / g0.spacing[0];
        assert!((0.6..1.2).contains(&f), "{f}");
        let t = g.spacing[2] / g0.spacing[2];
        assert!((1.0..2.5).contains(&t), "{t}");
    }
}

#[test]
fn storage_orientations_cover_real_series() {
    // Over many case ids every storage kind the docs promise appears, at about its share.
    let g0 = tomofuse_core::Geometry::with_spacing([0.8, 0.8, 2.0]).unwrap();
    let mut codes = std::collections::BTreeMap::<String, usize>::new();
    let n = 2000;
    for i in 0..n {
        let g = tomofuse_cohort::scanner_grid(&g0, 5, &format!("case-{i}"));
        let stored = g.storage.apply_geometry(&g0, [4, 4, 4]).unwrap();
        *codes
            .entry(stored.axis_codes(Space::Ras).iter().collect())
            .or_default() += 1;
    }
    let share = |c: &str| codes.get(c).copied().unwrap_or(0) as f64 / n as f64;
    // Head-first, not transposed: 0.7 * 0.85 of the in-plane shares 0.40 / 0.35 / 0.25.
    for (c, p) in [("LPS", 0.40), ("RAS", 0.35), ("LAS", 0.25)] {
        let want = p * 0.7 * 0.85;
        assert!(
            (share(c) - want).abs() < 0.03,
            "{c}: {} vs {want} ({codes:?})",
            share(c)
        );
    }
    // Feet-first (slice axis toward inferior) and transposed (first axis anterior/posterior).
    let feet: f64 = codes
        .iter()
        .filter(|(c, _)| c.ends_with('I'))
        .map(|(_, n)| *n as f64)
        .sum::<f64>()
        / n as f64;
    let transposed: f64 = codes
        .iter()
        .filter(|(c, _)| c.starts_with(['A', 'P']))
        .map(|(_, n)| *n as f64)
        .sum::<f64>()
        / n as f64;
    assert!((feet - 0.3).abs() < 0.03, "{feet} ({codes:?})");
    assert!((transposed - 0.15).abs() < 0.03, "{transposed} ({codes:?})");
}
