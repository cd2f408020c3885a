//! Helpers shared by the integration tests: the Python reference script and small metrics.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// benches/python/io_reference.py in the workspace.
pub fn reference_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../benches/python/io_reference.py")
}

/// Runs io_reference.py with `args` under an interpreter that has `modules`; `None` = visible skip.
pub fn python_json(modules: &[&str], args: &[String]) -> Option<serde_json::Value> {
    let py = tomofuse_core::python_with(modules)?;
    let out = Command::new(py)
        .arg(reference_script())
        .args(args)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "io_reference.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).expect("io_reference.py prints JSON"))
}

/// nibabel's view of NIfTI files: list of {path, shape, affine, dtype, slope, inter}.
pub fn nibabel(paths: &[PathBuf]) -> Option<Vec<serde_json::Value>> {
    let mut args = vec!["nifti".to_string()];
    args.extend(paths.iter().map(|p| p.display().to_string()));
    python_json(&["nibabel", "numpy"], &args).map(|v| v.as_array().expect("array").clone())
}

pub fn affine_from_json(v: &serde_json::Value) -> [[f64; 4]; 4] {
    let mut a = [[0.0; 4]; 4];
    for (r, row) in v.as_array().expect("rows").iter().enumerate() {
        for (c, x) in row.as_array().expect("cols").iter().enumerate() {
            a[r][c] = x.as_f64().expect("number");
        }
    }
    a
}

pub fn max_abs_diff4(a: &[[f64; 4]; 4], b: &[[f64; 4]; 4]) -> f64 {
    let mut m: f64 = 0.0;
    for r in 0..4 {
        for c in 0..4 {
            m = m.max((a[r][c] - b[r][c]).abs());
        }
    }
    m
}

/// Dice coefficient of two binary masks (non-zero = inside).
pub fn dice(a: &ndarray::Array3<u8>, b: &ndarray::Array3<u8>) -> f64 {
    let (mut inter, mut na, mut nb) = (0usize, 0usize, 0usize);
    for (x, y) in a.iter().zip(b.iter()) {
        let (x, y) = (*x != 0, *y != 0);
        inter += usize::from(x && y);
        na += usize::from(x);
        nb += usize::from(y);
    }
    2.0 * inter as f64 / (na + nb).max(1) as f64
}

/// Writes a minimal little-endian NIfTI-1 by hand (independent of the writer under test).
pub fn hand_nifti(
    dtype: i16,
    bitpix: i16,
    dims: [i16; 3],
    pixdim: [f32; 4],
    data: &[u8],
    edit: impl Fn(&mut Vec<u8>),
) -> Vec<u8> {
    let mut h = vec![0u8; 352];
    h[0..4].copy_from_slice(&348i32.to_le_bytes());
    let dim = [3i16, dims[0], dims[1], dims[2], 1, 1, 1, 1];
    for (n, d) in dim.iter().enumerate() {
        h[40 + 2 * n..42 + 2 * n].copy_from_slice(&d.to_le_bytes());
    }
    h[70..72].copy_from_slice(&dtype.to_le_bytes());
    h[72..74].copy_from_slice(&bitpix.to_le_bytes());
    for (n, p) in pixdim.iter().enumerate() {
        h[76 + 4 * n..80 + 4 * n].copy_from_slice(&p.to_le_bytes());
    }
    h[108..112].copy_from_slice(&352f32.to_le_bytes());
    h[344..348].copy_from_slice(b"n+1\0");
    h.extend_from_slice(data);
    edit(&mut h);
    h
}
