//! Manifest reading, whole-cohort validation (every problem at once, with line and column)
//! and the write -> read round trip, on an in-memory image store.

use std::path::Path;
use tomofuse_cohort::{
    CohortError, Date, ImageIo, MemoryIo, Profile, Severity, Source, Split, builtin, check_cohort,
    parse_manifest, read_manifest, validate_cohort, write_cohort,
};
use tomofuse_core::{Geometry, Volume};

#[test]
fn write_then_read_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let mut cohort = builtin("sap", Profile::Tiny, 4).unwrap();
    cohort.cases.truncate(8);
    cohort.assign_splits(0.25, None, &["C"], 4, false).unwrap();
    let io = MemoryIo::new();
    let manifest = write_cohort(&cohort, dir.path(), &io).unwrap();
    assert_eq!(manifest, dir.path().join("manifest.csv"));
    let back = read_manifest(&manifest).unwrap();
    assert_eq!(back.len(), cohort.len());
    for (a, b) in cohort.cases.iter().zip(&back.cases) {
        assert_eq!(
            (&a.id, a.label, a.split, &a.centre, a.date),
            (&b.id, b.label, b.split, &b.centre, b.date)
        );
        // Clinical values survive the CSV exactly (shortest round-trip float formatting).
        assert_eq!(a.clinical, b.clinical, "{}", a.id);
        let Source::Files { image, mask } = &b.source else {
            panic!("file source expected")
        };
        assert_eq!(
            image,
            &dir.path().join("images").join(format!("{}.nii.gz", a.id))
        );
        assert_eq!(
            mask.as_deref(),
            Some(
                dir.path()
                    .join("masks")
                    .join(format!("{}.nii.gz", a.id))
                    .as_path()
            )
        );
        let (la, lb) = (a.load(None).unwrap(), b.load(Some(&io)).unwrap());
        assert_eq!(la.image, lb.image);
        assert_eq!(la.mask, lb.mask);
    }
    let report = validate_cohort(&manifest, &io);
    assert!(report.is_ok(), "{report}");
    assert_eq!(report.n_ok, 8);
    // A file source without IO is a clear error, not a panic.
    assert!(matches!(
        back.cases[0].load(None),
        Err(CohortError::NoIo { .. })
    ));
}

fn vol(shape: [usize; 3], v: f32) -> Volume<f32> {
    Volume::filled(shape, v, Geometry::with_spacing([1.0, 1.0, 2.0]).unwrap()).unwrap()
}

#[test]
fn validation_reports_every_problem_with_its_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let io = MemoryIo::new();
    let p = |s: &str| d.join(s);
    let mut good = vol([6, 6, 4], 0.0);
    good.data[[1, 1, 1]] = 100.0;
    let mut mask = good.map(|_| 0u8);
    mask.data[[2, 2, 2]] = 1;
    for name in ["a", "b", "d", "e", "f", "g", "h"] {
        io.write_image(&p(&format!("{name}.nii")), &good).unwrap();
        io.write_mask(&p(&format!("{name}_m.nii")), &mask).unwrap();
    }
    // e: NaN voxel; f: mask on another grid; g: empty mask; h: mask shape differs.
    let mut nan = good.clone();
    nan.data[[0, 0, 0]] = f32::NAN;
    io.write_image(&p("e.nii"), &nan).unwrap();
    let mut shifted = mask.clone();
    shifted.geometry.origin[2] += 5.0;
    io.write_mask(&p("f_m.nii"), &shifted).unwrap();
    io.write_mask(&p("g_m.nii"), &mask.map(|_| 0u8)).unwrap();
    io.write_mask(
        &p("h_m.nii"),
        &Volume::filled([6, 6, 5], 1u8, mask.geometry).unwrap(),
    )
    .unwrap();
    let csv = "\
case_id,image,mask,outcome,split,centre,date,age,crp
a,a.nii,a_m.nii,1,train,X,2020-01-02,50,3.5
b,b.nii,b_m.nii,0,val,X,2020-02-30,60,4
a,d.nii,d_m.nii,0,train,X,2020-01-03,61,2
c,missing.nii,,maybe,train,X,2020-01-04,40,1
e,e.nii,e_m.nii,1,holdout,Y,2020-01-05,41,n/a
f,f.nii,f_m.nii,0,train,Y,2020-01-06,42,1
g,g.nii,g_m.nii,1,train,Y,2020-01-07,43,1
h,h.nii,h_m.nii,0,train,Y,2020-01-08,44,1
i,i.nii,,0,train,Y,2020-01-09
";
    let manifest = d.join("cohort.csv");
    std::fs::write(&manifest, csv).unwrap();
    let report = validate_cohort(&manifest, &io);
    let errs: Vec<(Option<u64>, Option<&str>)> = report
        .problems
        .iter()
        .filter(|p| p.severity == Severity::Error)
        .map(|p| (p.line, p.column.as_deref()))
        .collect();
    let expected: Vec<(Option<u64>, Option<&str>)> = vec![
        (Some(3), Some("date")),    // 2020-02-30
        (Some(4), Some("case_id")), // duplicate a
        (Some(5), Some("outcome")), // maybe
        (Some(6), Some("split")),   // holdout
        (Some(10), None),           // wrong field count
        (Some(9), Some("mask")),    // mask shape differs
        (Some(5), Some("image")),   // missing.nii unreadable
        (Some(6), Some("image")),   // NaN
        (Some(7), Some("mask")),    // grid mismatch (origin)
        (Some(8), Some("mask")),    // no labelled voxel
    ];
    for e in &expected {
        assert!(errs.contains(e), "missing {e:?} in\n{report}");
    }
    assert_eq!(
        errs.len(),
        expected.len(),
        "unexpected extra errors:\n{report}"
    );
    // The mixed numeric/text column is a warning, not an error.
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.severity == Severity::Warning && p.column.as_deref() == Some("crp"))
    );
    // Messages name the file and the field that differs.
    let text = report.to_string();
    assert!(text.contains("missing.nii"), "{text}");
    assert!(text.contains("origin"), "{text}");
    assert!(!report.is_ok());
    // read_manifest refuses the file and lists all row-level problems (not only the first).
    match read_manifest(&manifest) {
        Err(CohortError::Manifest { problems, .. }) => assert_eq!(problems.len(), 5),
        other => panic!("expected a manifest error, got {other:?}"),
    }
    let m = parse_manifest(&manifest).unwrap();
    assert_eq!(m.cohort.len(), 8);
    assert_eq!(m.cohort.cases[1].split, Some(Split::Validation));
    assert_eq!(m.cohort.cases[0].date, Date::from_ymd(2020, 1, 2));
    assert_eq!(m.lines, vec![2, 3, 4, 5, 6, 7, 8, 9]);
}

#[test]
fn missing_column_unreadable_file_and_single_class() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.csv");
    std::fs::write(&path, "id,image\nx,x.nii\n").unwrap();
    match parse_manifest(&path) {
        Err(
            e @ CohortError::MissingColumn {
                column: "case_id", ..
            },
        ) => {
            assert!(e.to_string().contains("m.csv"), "{e}");
        }
        other => panic!("{other:?}"),
    }
    let io = MemoryIo::new();
    let r = validate_cohort(Path::new("/nonexistent/cohort.csv"), &io);
    assert!(!r.is_ok() && r.problems[0].message.contains("/nonexistent/cohort.csv"));
    // Only one outcome class: an error for the whole cohort.
    let mut c = builtin("sinus", Profile::Tiny, 1).unwrap();
    c.cases.truncate(4);
    for x in &mut c.cases {
        x.label = Some(true);
    }
    let r = check_cohort(&c, None, &io);
    assert!(!r.is_ok());
    assert!(
        r.problems
            .iter()
            .any(|p| p.column.as_deref() == Some("outcome"))
    );
    assert_eq!(r.n_ok, 4, "every case itself is fine");
}

#[test]
fn unsafe_case_ids_are_refused_before_writing() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = builtin("sinus", Profile::Tiny, 1).unwrap();
    c.cases.truncate(2);
    c.cases[1].id = "../escape".into();
    let e = write_cohort(&c, dir.path(), &MemoryIo::new()).unwrap_err();
    assert!(matches!(e, CohortError::Case { .. }), "{e}");
    assert!(!dir.path().join("manifest.csv").exists());
}

#[test]
fn in_memory_masks_are_reoriented_or_rejected_too() {
    // Any source, not only files: a mask flipped along j is noted and fixed; a mask on a
    // shifted grid is an error naming the `origin` field.
    let mut c = builtin("sinus", Profile::Tiny, 2).unwrap();
    c.cases.truncate(2);
    c.materialize().unwrap();
    let flip_j = tomofuse_core::AxisMap::new([0, 1, 2], [false, true, false]).unwrap();
    let mut native = None;
    for (n, case) in c.cases.iter_mut().enumerate() {
        let mut l = case.load(None).unwrap();
        let m = l.mask.take().unwrap();
        if n == 0 {
            native = Some(m.clone());
            l.mask = Some(m.permute_axes(&flip_j).unwrap());
        } else {
            let mut shifted = m.clone();
            shifted.geometry.origin[2] += 1.0;
            l.mask = Some(shifted);
        }
        case.source = Source::Memory(std::sync::Arc::new(l));
    }
    let r = check_cohort(&c, None, &MemoryIo::new());
    let find = |sev: Severity| r.problems.iter().filter(move |p| p.severity == sev);
    let notes: Vec<_> = find(Severity::Note).collect();
    let errors: Vec<_> = find(Severity::Error).collect();
    assert_eq!(notes.len(), 1, "{r}");
    assert_eq!(notes[0].case_id.as_deref(), Some(c.cases[0].id.as_str()));
    assert!(notes[0].message.contains("j flipped"), "{r}");
    assert_eq!(errors.len(), 1, "{r}");
    assert!(errors[0].message.contains("`origin`"), "{r}");
    let fixed = c.cases[0].load(None).unwrap().mask.unwrap();
    assert_eq!(fixed.data, native.unwrap().data);
}
