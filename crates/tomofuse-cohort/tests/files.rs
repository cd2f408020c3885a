//! The file path: a synthetic cohort written as NIfTI + manifest validates, reads back
//! bit-identical, and nibabel (an independent reader) sees the same voxels and geometry.
#![cfg(feature = "io")]

use std::process::Command;
use tomofuse_cohort::{
    NiftiIo, Profile, Source, builtin, read_manifest, validate_manifest_files, write_cohort,
};
use tomofuse_core::Space;

#[test]
fn nifti_round_trip_and_validation() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = builtin("sinus", Profile::Tiny, 6).unwrap();
    c.cases.truncate(4);
    let manifest = write_cohort(&c, dir.path(), &NiftiIo).unwrap();
    let report = validate_manifest_files(&manifest);
    assert!(report.is_ok() && report.n_ok == 4, "{report}");
    let back = read_manifest(&manifest).unwrap();
    for (a, b) in c.cases.iter().zip(&back.cases) {
        let (la, lb) = (a.load(None).unwrap(), b.load(Some(&NiftiIo)).unwrap());
        assert_eq!(la.image.data, lb.image.data, "{}", a.id);
        assert_eq!(
            la.mask.as_ref().unwrap().data,
            lb.mask.as_ref().unwrap().data
        );
        la.image
            .check_same_grid(&lb.image, &Default::default())
            .unwrap();
    }
    // Independent reader: nibabel's affine (RAS) and voxel sum of case 0.
    let Some(py) = tomofuse_core::python_with(&["nibabel", "numpy"]) else {
        return;
    };
    let Source::Files { image, .. } = &back.cases[0].source else {
        panic!()
    };
    let out = Command::new(py)
        .args(["-c", "import sys, nibabel as nib, numpy as np; i = nib.load(sys.argv[1]); \
                print(' '.join(map(repr, i.affine[:3].ravel().tolist())), float(np.asarray(i.dataobj, dtype=np.float64).sum()), *i.shape)"])
        .arg(image)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Vec<f64> = String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .map(|t| t.parse().unwrap())
        .collect();
    let l = c.cases[0].load(None).unwrap();
    let aff = l.image.geometry.affine(Space::Ras);
    for r in 0..3 {
        for k in 0..4 {
            assert!(
                (v[r * 4 + k] - aff[r][k]).abs() < 1e-4,
                "affine[{r}][{k}] {} vs {}",
                v[r * 4 + k],
                aff[r][k]
            );
        }
    }
    let sum: f64 = l.image.data.iter().map(|&x| x as f64).sum();
    assert!(
        (v[12] - sum).abs() <= 1e-6 * sum.abs().max(1.0),
        "{} vs {sum}",
        v[12]
    );
    assert_eq!(
        v[13..].iter().map(|&x| x as usize).collect::<Vec<_>>(),
        l.image.shape().to_vec()
    );
}
