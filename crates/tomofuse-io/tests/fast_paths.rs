//! The slab reader and writer against independent references: files written by nibabel's header
//! writer and `array_to_file` (every datatype, both byte orders, scaling, .nii and .nii.gz,
//! several slabs) checked voxel by voxel against the analytic pattern; our files read back by
//! nibabel; and the writer's bytes against the `nifti` crate's writer, which tomofuse used before.

mod common;

use common::python_json;
use std::io::Read;
use std::path::{Path, PathBuf};
use tomofuse_core::{Geometry, Space, Volume};
use tomofuse_io::nii::header_for;
use tomofuse_io::{NiftiElement, read_image_with_info, write_nifti};

/// io_reference.py's `pattern`: the raw value stored at (i, j, k) for a numpy dtype name.
fn pattern(name: &str, i: usize, j: usize, k: usize) -> f64 {
    let base = ((i * 31 + j * 17 + k * 7) % 97) as i64;
    if name.starts_with("float") {
        return base as f64 / 4.0 - 12.0;
    }
    let mut v = if name.starts_with('u') {
        base
    } else {
        base - 48
    };
    if name.ends_with("32") {
        v *= 1_000_003;
    }
    if name.ends_with("64") {
        v *= 1_000_000_007_000;
    }
    v as f64
}

fn affine() -> [[f64; 4]; 4] {
    [
        [-0.8, 0.0, 0.0, 90.0],
        [0.0, 0.9, 0.0, -120.5],
        [0.0, 0.0, 2.5, -60.0],
        [0.0, 0.0, 0.0, 1.0],
    ]
}

#[test]
fn nibabel_written_files_read_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let Some(list) = python_json(
        &["nibabel", "numpy"],
        &["make".into(), dir.path().display().to_string()],
    ) else {
        return;
    };
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 42);
    for f in list {
        let path = PathBuf::from(f["path"].as_str().unwrap());
        let name = f["dtype"].as_str().unwrap();
        let (slope, inter) = (f["slope"].as_f64().unwrap(), f["inter"].as_f64().unwrap());
        let (v, info) = read_image_with_info(&path).unwrap();
        let s = v.shape();
        assert_eq!(
            s.to_vec(),
            f["shape"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap() as usize)
                .collect::<Vec<_>>()
        );
        assert_eq!(info.dtype.name(), name, "{}", path.display());
        let endian = info.details.iter().find(|(k, _)| k == "endian").unwrap();
        assert_eq!(endian.1, f["endian"].as_str().unwrap());
        let scaled = slope != 1.0 || inter != 0.0;
        assert_eq!(info.scale, scaled.then_some((slope, inter)));
        for ((i, j, k), x) in v.data.indexed_iter() {
            let raw = pattern(name, i, j, k);
            // The reader's documented arithmetic: value * slope + inter in f64, then f32.
            let want = if scaled {
                (raw * slope + inter) as f32
            } else {
                raw as f32
            };
            assert_eq!(*x, want, "{} voxel ({i},{j},{k})", path.display());
        }
        let d = common::max_abs_diff4(&info.affine_ras, &affine());
        assert!(d < 1e-5, "{}: affine off by {d}", path.display());
    }
    println!("{} nibabel-written files read exactly", list.len());
}

fn geometry() -> Geometry {
    Geometry::from_affine(&affine(), Space::Ras).unwrap()
}

fn typed<T: NiftiElement>(shape: [usize; 3], f: impl Fn(usize, usize, usize) -> T) -> Volume<T> {
    let mut vals = Vec::with_capacity(shape.iter().product());
    for i in 0..shape[0] {
        for j in 0..shape[1] {
            for k in 0..shape[2] {
                vals.push(f(i, j, k));
            }
        }
    }
    Volume::from_vec_c(shape, vals, geometry()).unwrap()
}

/// Writes `vol` both ways and returns the paths (.nii, .nii.gz).
fn write_both<T: NiftiElement>(dir: &Path, stem: &str, vol: &Volume<T>) -> [PathBuf; 2] {
    ["nii", "nii.gz"].map(|ext| {
        let p = dir.join(format!("{stem}.{ext}"));
        write_nifti(&p, vol).unwrap();
        p
    })
}

#[test]
fn written_files_read_back_by_nibabel() {
    let dir = tempfile::tempdir().unwrap();
    let s = [7, 6, 5];
    let p = |n: &str, i, j, k| pattern(n, i, j, k);
    let mut files: Vec<(PathBuf, &str)> = Vec::new();
    macro_rules! case {
        ($t:ty, $n:literal) => {
            for f in write_both(dir.path(), $n, &typed(s, |i, j, k| p($n, i, j, k) as $t)) {
                files.push((f, $n));
            }
        };
    }
    case!(u8, "uint8");
    case!(i8, "int8");
    case!(i16, "int16");
    case!(u16, "uint16");
    case!(i32, "int32");
    case!(u32, "uint32");
    case!(f32, "float32");
    case!(f64, "float64");
    let paths: Vec<String> = files.iter().map(|(f, _)| f.display().to_string()).collect();
    let mut args = vec!["values".to_string()];
    args.extend(paths);
    let Some(out) = python_json(&["nibabel", "numpy"], &args) else {
        return;
    };
    for (r, (path, name)) in out.as_array().unwrap().iter().zip(&files) {
        assert_eq!(r["dtype"].as_str().unwrap(), *name, "{}", path.display());
        let vals = r["values"].as_array().unwrap();
        assert_eq!(vals.len(), 7 * 6 * 5);
        // File order: i fastest.
        let mut n = 0;
        for k in 0..s[2] {
            for j in 0..s[1] {
                for i in 0..s[0] {
                    assert_eq!(
                        vals[n].as_f64().unwrap(),
                        pattern(name, i, j, k),
                        "{} voxel ({i},{j},{k})",
                        path.display()
                    );
                    n += 1;
                }
            }
        }
    }
    println!("{} tomofuse-written files equal in nibabel", files.len());
}

fn gunzip(p: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(std::fs::File::open(p).unwrap())
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// What tomofuse wrote before, through the `nifti` crate's writer (header bytes included).
fn old_writer<T: NiftiElement>(p: &Path, vol: &Volume<T>) {
    nifti::writer::WriterOptions::new(p)
        .reference_header(&header_for(&vol.geometry))
        .write_nifti(&vol.data)
        .unwrap();
}

fn same_as_old<T: NiftiElement>(dir: &Path, stem: &str, vol: &Volume<T>) {
    let new = write_both(dir, stem, vol);
    let old = ["nii", "nii.gz"].map(|ext| {
        let p = dir.join(format!("{stem}_old.{ext}"));
        old_writer(&p, vol);
        p
    });
    let (a, b) = (
        std::fs::read(&new[0]).unwrap(),
        std::fs::read(&old[0]).unwrap(),
    );
    assert!(a == b, "{stem}.nii differs from the old writer's file");
    assert!(
        gunzip(&new[1]) == b,
        "{stem}.nii.gz inflates to other bytes"
    );
    assert!(
        gunzip(&old[1]) == b,
        "{stem}: old .nii.gz differs from old .nii"
    );
}

#[test]
fn writer_bytes_equal_the_old_writer() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let s = [7, 6, 5];
    let f = |i: usize, j: usize, k: usize| pattern("float32", i, j, k);
    same_as_old(d, "u8", &typed(s, |i, j, k| f(i, j, k) as u8));
    same_as_old(d, "i8", &typed(s, |i, j, k| f(i, j, k) as i8));
    same_as_old(d, "i16", &typed(s, |i, j, k| f(i, j, k) as i16 * 301));
    same_as_old(d, "u16", &typed(s, |i, j, k| f(i, j, k) as u16 * 601));
    same_as_old(
        d,
        "i32",
        &typed(s, |i, j, k| pattern("int32", i, j, k) as i32),
    );
    same_as_old(
        d,
        "u32",
        &typed(s, |i, j, k| pattern("uint32", i, j, k) as u32),
    );
    same_as_old(d, "f32", &typed(s, |i, j, k| f(i, j, k) as f32 * 1.1));
    same_as_old(d, "f64", &typed(s, |i, j, k| f(i, j, k) * 1.1));
    // Several slabs and gzip blocks; a flat single-slice volume; a volume whose array is not
    // in the standard layout.
    let big = [512, 200, 50];
    same_as_old(
        d,
        "big_i16",
        &typed(big, |i, j, k| (i * 3 + j * 5 + k * 7) as i16 - 900),
    );
    same_as_old(
        d,
        "big_f32",
        &typed(big, |i, j, k| (i + j * k) as f32 * 0.25),
    );
    same_as_old(d, "flat", &typed([9, 1, 1], |i, _, _| i as u8));
    let v = typed([6, 5, 4], |i, j, k| (i * 100 + j * 10 + k) as i16);
    let fv = Volume::new(
        v.data.t().as_standard_layout().reversed_axes().to_owned(),
        v.geometry,
    )
    .unwrap();
    assert!(fv.data.as_slice().is_none() && fv.data == v.data);
    same_as_old(d, "f_layout", &fv);
}

/// A file written then read is the same volume (and exercises the pipelined reader).
#[test]
fn large_round_trip_is_exact() {
    let dir = tempfile::tempdir().unwrap();
    let v = typed([512, 300, 40], |i, j, k| {
        ((i * 7 + j * 13 + k * 29) % 4000) as i16 - 1024
    });
    for p in write_both(dir.path(), "rt", &v) {
        let back = tomofuse_io::read_image(&p).unwrap();
        assert!(
            back.data
                .iter()
                .zip(v.data.iter())
                .all(|(a, b)| *a == *b as f32),
            "{}",
            p.display()
        );
    }
}
