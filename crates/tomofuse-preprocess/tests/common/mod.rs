//! Exchange of volumes with the Python peers: raw float32 (i fastest) + JSON geometry (LPS,
//! direction row-major), full f64 precision so both sides resample the same grid.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use tomofuse_core::{Geometry, Space, Volume};

pub fn write_raw(dir: &Path, stem: &str, vol: &Volume<f32>) {
    let bytes: Vec<u8> = vol
        .to_vec_f()
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    std::fs::write(dir.join(format!("{stem}.raw")), bytes).unwrap();
    std::fs::write(
        dir.join(format!("{stem}.json")),
        geometry_json(&vol.geometry, vol.shape()).to_string(),
    )
    .unwrap();
}

pub fn geometry_json(g: &Geometry, shape: [usize; 3]) -> serde_json::Value {
    let d: Vec<f64> = g.direction.iter().flatten().copied().collect();
    serde_json::json!({"shape": shape, "spacing": g.spacing, "origin": g.origin, "direction": d})
}

pub fn read_raw(dir: &Path, stem: &str) -> Volume<f32> {
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join(format!("{stem}.json"))).unwrap())
            .unwrap();
    let arr3 = |k: &str| -> [f64; 3] {
        let v = meta[k].as_array().unwrap();
        [
            v[0].as_f64().unwrap(),
            v[1].as_f64().unwrap(),
            v[2].as_f64().unwrap(),
        ]
    };
    let s = arr3("shape");
    let shape = [s[0] as usize, s[1] as usize, s[2] as usize];
    let d: Vec<f64> = meta["direction"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    let dir3 = [[d[0], d[1], d[2]], [d[3], d[4], d[5]], [d[6], d[7], d[8]]];
    let g = Geometry::new(arr3("spacing"), arr3("origin"), dir3, Space::Lps).unwrap();
    let bytes = std::fs::read(dir.join(format!("{stem}.raw"))).unwrap();
    let v: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    Volume::from_vec_f(shape, v, g).unwrap()
}

pub fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../benches/python")
        .join(name)
}

pub fn max_abs_diff(a: &Volume<f32>, b: &Volume<f32>) -> f64 {
    assert_eq!(a.shape(), b.shape());
    a.data
        .iter()
        .zip(b.data.iter())
        .map(|(x, y)| (f64::from(*x) - f64::from(*y)).abs())
        .fold(0.0, f64::max)
}
