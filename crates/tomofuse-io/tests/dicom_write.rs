//! The DICOM series writer against the crate's reader (same grid up to the slice order, HU
//! rounded to integers) and against pydicom's reading of the same files.

mod common;

use common::python_json;
use tomofuse_core::{Geometry, GeometryTolerance, Space, Volume};
use tomofuse_io::dicom_write::{DicomSeriesOptions, write_dicom_series};
use tomofuse_io::read_dicom_series;

fn volume(direction: [[f64; 3]; 3]) -> Volume<f32> {
    let g = Geometry::new([0.7, 0.9, 2.5], [-40.0, 25.0, 110.0], direction, Space::Lps).unwrap();
    let shape = [11, 7, 5];
    let mut v = Volume::filled(shape, 0.0f32, g).unwrap();
    for ((i, j, k), x) in v.data.indexed_iter_mut() {
        *x = -1000.0 + (37 * i + 101 * j + 211 * k) as f32 % 1700.0 + 0.3;
    }
    v
}

fn opts() -> DicomSeriesOptions {
    DicomSeriesOptions {
        case_id: "case-7".into(),
        uid_seed: 42,
        series_description: "tomofuse test".into(),
    }
}

/// Head-first (right-handed) and feet-first (slice axis against the row x column normal)
/// grids come back as the same voxels on the same physical grid; values rounded to whole HU.
#[test]
fn series_reads_back_on_the_same_grid() {
    let tol = GeometryTolerance::default();
    for (name, dir) in [
        (
            "head-first",
            [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
        ),
        (
            "feet-first",
            [[-1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, -1.0]],
        ),
        (
            "sagittal",
            [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]],
        ),
    ] {
        let v = volume(dir);
        let d = tempfile::tempdir().unwrap();
        let files = write_dicom_series(d.path(), &v, &opts()).unwrap();
        assert_eq!(files.len(), 5, "{name}");
        let (back, meta) = read_dicom_series(d.path(), None).unwrap();
        assert_eq!(meta.n_slices, 5);
        let (back, _) = back
            .onto_grid(&v.geometry, v.shape(), &tol)
            .unwrap_or_else(|e| {
                panic!("{name}: the series is not on the written grid: {e}");
            });
        for (a, b) in v.data.iter().zip(back.data.iter()) {
            assert_eq!(a.round(), *b, "{name}");
        }
        // Deterministic: the same export twice gives byte-identical files.
        let d2 = tempfile::tempdir().unwrap();
        let files2 = write_dicom_series(d2.path(), &v, &opts()).unwrap();
        for (f, g) in files.iter().zip(&files2) {
            assert_eq!(std::fs::read(f).unwrap(), std::fs::read(g).unwrap());
        }
    }
}

/// pydicom reads the files as the standard says: pixel (column i, row j) of the slice sorted
/// k-th along the normal holds voxel (i, j, k) (right-handed grid), rescaled to HU.
#[test]
fn pydicom_reads_the_written_series() {
    let v = volume([[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]);
    let d = tempfile::tempdir().unwrap();
    write_dicom_series(d.path(), &v, &opts()).unwrap();
    let picks = [[0usize, 0, 0], [10, 6, 4], [3, 2, 1], [7, 5, 3], [1, 6, 2]];
    let mut args = vec!["dicom".to_string(), d.path().display().to_string()];
    for p in &picks {
        args.extend(p.iter().map(|x| x.to_string()));
    }
    let Some(r) = python_json(&["pydicom", "numpy"], &args) else {
        return;
    };
    assert_eq!(r["n_slices"], 5);
    assert_eq!(r["transfer_syntax"], "1.2.840.10008.1.2.1");
    for (p, hu) in picks.iter().zip(r["hu"].as_array().unwrap()) {
        let want = v.data[[p[0], p[1], p[2]]].round();
        assert_eq!(hu.as_f64().unwrap(), f64::from(want), "voxel {p:?}");
    }
}

/// A volume whose range does not fit int16 is stored with a slope and comes back within half
/// a quantisation step.
#[test]
fn wide_range_uses_a_rescale_slope() {
    let mut v = volume([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]);
    v.data[[0, 0, 0]] = 100_000.0;
    let d = tempfile::tempdir().unwrap();
    write_dicom_series(d.path(), &v, &opts()).unwrap();
    let (back, meta) = read_dicom_series(d.path(), None).unwrap();
    let step = meta.rescale.0;
    assert!(step > 1.0, "slope {step}");
    for (a, b) in v.data.iter().zip(back.data.iter()) {
        assert!((a - b).abs() as f64 <= 0.5 * step + 1e-3, "{a} vs {b}");
    }
}
