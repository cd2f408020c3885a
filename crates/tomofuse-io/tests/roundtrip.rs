//! NIfTI write -> read round trips for every datatype and an oblique geometry, plus scaling and
//! affine-selection rules checked against hand-built headers (analytic expectations) and nibabel.

mod common;

use common::{affine_from_json, hand_nifti, max_abs_diff4, nibabel};
use std::path::Path;
use tomofuse_core::{Geometry, GeometryTolerance, Space, Volume};
use tomofuse_io::{NiftiElement, read_image, read_image_info, write_nifti};

/// An oblique, left-handed-in-RAS geometry: rotation about an arbitrary axis, last axis flipped.
fn oblique() -> Geometry {
    let (t, u) = (0.4f64, [0.3f64, -0.5, 0.8]);
    let n = (u.iter().map(|x| x * x).sum::<f64>()).sqrt();
    let (x, y, z) = (u[0] / n, u[1] / n, u[2] / n);
    let (c, s) = (t.cos(), t.sin());
    let r = [
        [
            c + x * x * (1.0 - c),
            x * y * (1.0 - c) - z * s,
            x * z * (1.0 - c) + y * s,
        ],
        [
            y * x * (1.0 - c) + z * s,
            c + y * y * (1.0 - c),
            y * z * (1.0 - c) - x * s,
        ],
        [
            z * x * (1.0 - c) - y * s,
            z * y * (1.0 - c) + x * s,
            c + z * z * (1.0 - c),
        ],
    ];
    let mut d = r;
    for row in d.iter_mut() {
        row[2] = -row[2];
    }
    Geometry::new([0.7, 0.9, 2.5], [-12.5, 30.25, -101.0], d, Space::Lps).unwrap()
}

fn pattern<T: Copy>(shape: [usize; 3], f: impl Fn(usize) -> T) -> Vec<T> {
    (0..shape.iter().product()).map(f).collect()
}

fn check<T: NiftiElement + Into<f64> + PartialEq + std::fmt::Debug>(
    dir: &Path,
    name: &str,
    vals: Vec<T>,
    g: Geometry,
) {
    let shape = [5, 4, 3];
    let v = Volume::from_vec_f(shape, vals, g).unwrap();
    for ext in ["nii", "nii.gz"] {
        let p = dir.join(format!("{name}.{ext}"));
        write_nifti(&p, &v).unwrap();
        let (back, info) = tomofuse_io::read_image_with_info(&p).unwrap();
        assert_eq!(info.dtype, T::DTYPE, "{name}");
        assert_eq!(back.shape(), shape);
        for (a, b) in v.data.iter().zip(back.data.iter()) {
            let a: f64 = (*a).into();
            assert_eq!(a as f32, *b, "{name}.{ext}: value");
        }
        // float32 header fields: 1e-5 mm.
        let tol = GeometryTolerance {
            spacing: 1e-5,
            origin: 1e-4,
            direction: 1e-5,
        };
        back.geometry
            .compare(&v.geometry, &tol)
            .unwrap_or_else(|e| panic!("{name}.{ext}: {e}"));
        assert_eq!(info.details[0].1, "sform");
    }
}

#[test]
fn every_datatype_round_trips_with_oblique_geometry() {
    let dir = tempfile::tempdir().unwrap();
    let g = oblique();
    let s = [5, 4, 3];
    check::<u8>(dir.path(), "u8", pattern(s, |i| (i * 7 % 256) as u8), g);
    check::<i8>(
        dir.path(),
        "i8",
        pattern(s, |i| (i as i64 * 5 - 128) as i8),
        g,
    );
    check::<i16>(dir.path(), "i16", pattern(s, |i| (i as i16) * 97 - 3000), g);
    check::<u16>(dir.path(), "u16", pattern(s, |i| (i as u16) * 1000), g);
    check::<i32>(
        dir.path(),
        "i32",
        pattern(s, |i| (i as i32) * 100_003 - 1_000_000),
        g,
    );
    check::<u32>(dir.path(), "u32", pattern(s, |i| (i as u32) * 65_537), g);
    check::<f32>(dir.path(), "f32", pattern(s, |i| i as f32 * 0.37 - 5.0), g);
    check::<f64>(dir.path(), "f64", pattern(s, |i| i as f64 * 1.25e-3), g);
}

#[test]
fn written_header_equals_nibabel_affine_and_qform() {
    let dir = tempfile::tempdir().unwrap();
    let g = oblique();
    let v = Volume::filled([4, 3, 2], 1i16, g).unwrap();
    let p = dir.path().join("obl.nii.gz");
    write_nifti(&p, &v).unwrap();
    // Make a qform-only copy: zero sform_code (offset 254) in an uncompressed write.
    let q = dir.path().join("obl_q.nii");
    write_nifti(&q, &v).unwrap();
    let mut bytes = std::fs::read(&q).unwrap();
    bytes[254..256].copy_from_slice(&0i16.to_le_bytes());
    std::fs::write(&q, &bytes).unwrap();
    let qi = read_image_info(&q).unwrap();
    assert_eq!(qi.details[0].1, "qform");
    let want = g.affine(Space::Ras);
    assert!(
        max_abs_diff4(&qi.affine_ras, &want) < 1e-4,
        "qform affine {:?} vs {want:?}",
        qi.affine_ras
    );
    let Some(nb) = nibabel(&[p.clone(), q.clone()]) else {
        return;
    };
    for r in nb {
        let d = max_abs_diff4(&affine_from_json(&r["affine"]), &want);
        assert!(d < 1e-4, "{}: nibabel affine differs by {d}", r["path"]);
    }
}

#[test]
fn scl_slope_and_base_affine_follow_nibabel_rules() {
    let dir = tempfile::tempdir().unwrap();
    let data: Vec<u8> = (0..8i16).flat_map(|v| v.to_le_bytes()).collect();
    // slope 2.5, inter -10: value = raw * 2.5 - 10. No sform/qform: centred base affine, x flipped.
    let bytes = hand_nifti(4, 16, [2, 2, 2], [1.0, 2.0, 3.0, 4.0], &data, |h| {
        h[112..116].copy_from_slice(&2.5f32.to_le_bytes());
        h[116..120].copy_from_slice(&(-10f32).to_le_bytes());
    });
    let p = dir.path().join("scaled.nii");
    std::fs::write(&p, &bytes).unwrap();
    let (v, info) = tomofuse_io::read_image_with_info(&p).unwrap();
    assert_eq!(info.scale, Some((2.5, -10.0)));
    // file order: i fastest
    assert_eq!(v.data[[1, 0, 0]], 1.0 * 2.5 - 10.0);
    assert_eq!(v.data[[0, 1, 1]], 6.0 * 2.5 - 10.0);
    let want = [
        [-2.0, 0.0, 0.0, 1.0],
        [0.0, 3.0, 0.0, -1.5],
        [0.0, 0.0, 4.0, -2.0],
        [0.0, 0.0, 0.0, 1.0],
    ];
    assert_eq!(info.affine_ras, want);
    // slope 0 means "no scaling" (nibabel).
    let bytes0 = hand_nifti(4, 16, [2, 2, 2], [1.0, 2.0, 3.0, 4.0], &data, |h| {
        h[116..120].copy_from_slice(&(-10f32).to_le_bytes());
    });
    let p0 = dir.path().join("slope0.nii");
    std::fs::write(&p0, &bytes0).unwrap();
    let v0 = read_image(&p0).unwrap();
    assert_eq!(v0.data[[1, 0, 0]], 1.0);
    // qform with qfac = -1 (pixdim[0]) flips k; identity quaternion.
    let bytes_q = hand_nifti(4, 16, [2, 2, 2], [-1.0, 2.0, 3.0, 4.0], &data, |h| {
        h[252..254].copy_from_slice(&1i16.to_le_bytes());
        h[268..272].copy_from_slice(&5f32.to_le_bytes());
    });
    let pq = dir.path().join("qfac.nii");
    std::fs::write(&pq, &bytes_q).unwrap();
    let iq = read_image_info(&pq).unwrap();
    let want_q = [
        [2.0, 0.0, 0.0, 5.0],
        [0.0, 3.0, 0.0, 0.0],
        [0.0, 0.0, -4.0, 0.0],
        [0.0, 0.0, 0.0, 1.0],
    ];
    assert_eq!(iq.affine_ras, want_q);
    let Some(nb) = nibabel(&[p.clone(), p0.clone(), pq.clone()]) else {
        return;
    };
    assert_eq!(
        (nb[0]["slope"].as_f64(), nb[0]["inter"].as_f64()),
        (Some(2.5), Some(-10.0))
    );
    // slope 0: nibabel applies no scaling at all (slope 1, intercept 0), as we do.
    assert_eq!(
        (nb[1]["slope"].as_f64(), nb[1]["inter"].as_f64()),
        (Some(1.0), Some(0.0))
    );
    assert_eq!(affine_from_json(&nb[0]["affine"]), want);
    assert_eq!(affine_from_json(&nb[2]["affine"]), want_q);
}

/// A little-endian NIfTI-2 file by hand: int16 4x3x2, sform (code 2) oblique-free but shifted,
/// qform code 0, scl_slope 0.5.
fn hand_nifti2() -> (Vec<u8>, [[f64; 4]; 4]) {
    let mut h = vec![0u8; 544];
    h[0..4].copy_from_slice(&540i32.to_le_bytes());
    h[4..12].copy_from_slice(b"n+2\0\r\n\x1a\n");
    h[12..14].copy_from_slice(&4i16.to_le_bytes());
    h[14..16].copy_from_slice(&16i16.to_le_bytes());
    for (n, d) in [3i64, 4, 3, 2, 1, 1, 1, 1].iter().enumerate() {
        h[16 + 8 * n..24 + 8 * n].copy_from_slice(&d.to_le_bytes());
    }
    for (n, p) in [1.0f64, 0.8, 0.9, 2.5, 1.0, 1.0, 1.0, 1.0]
        .iter()
        .enumerate()
    {
        h[104 + 8 * n..112 + 8 * n].copy_from_slice(&p.to_le_bytes());
    }
    h[168..176].copy_from_slice(&544i64.to_le_bytes());
    h[176..184].copy_from_slice(&0.5f64.to_le_bytes());
    h[348..352].copy_from_slice(&2i32.to_le_bytes());
    let aff = [
        [0.0, 0.0, -2.5, 10.0],
        [-0.8, 0.0, 0.0, 20.5],
        [0.0, 0.9, 0.0, -30.25],
        [0.0, 0.0, 0.0, 1.0],
    ];
    for r in 0..3 {
        for c in 0..4 {
            h[400 + 32 * r + 8 * c..408 + 32 * r + 8 * c]
                .copy_from_slice(&f64::to_le_bytes(aff[r][c]));
        }
    }
    h.extend((0..24i16).flat_map(|v| v.to_le_bytes()));
    (h, aff)
}

#[test]
fn nifti2_reads_like_nibabel() {
    let dir = tempfile::tempdir().unwrap();
    let (bytes, aff) = hand_nifti2();
    let p = dir.path().join("two.nii");
    std::fs::write(&p, &bytes).unwrap();
    let (v, info) = tomofuse_io::read_image_with_info(&p).unwrap();
    assert_eq!(v.shape(), [4, 3, 2]);
    assert_eq!(v.data[[3, 2, 1]], 23.0 * 0.5);
    assert!(
        max_abs_diff4(&info.affine_ras, &aff) < 1e-6,
        "{:?}",
        info.affine_ras
    );
    let codes: String = v.geometry.axis_codes(Space::Ras).iter().collect();
    assert_eq!(codes, "PSL");
    let Some(nb) = nibabel(&[p]) else { return };
    assert!(max_abs_diff4(&affine_from_json(&nb[0]["affine"]), &aff) < 1e-6);
    assert_eq!(nb[0]["slope"].as_f64(), Some(0.5));
}
