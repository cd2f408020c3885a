//! Triangle-mesh export (binary little-endian PLY, binary STL) for 3D reconstructions.
//!
//! Vertices are written as given, in LPS millimetres (the convention of every tomofuse
//! geometry). 3D Slicer (>= 4.11) reads model files as LPS unless the header says
//! `SPACE=RAS`, and itself writes `SPACE=LPS` into the header; we write the same marker
//! (`comment SPACE=LPS` in PLY, `SPACE=LPS` in the STL 80-byte header) so Slicer and any
//! reader that looks for it place the mesh correctly over the CT. Coordinates are stored as
//! f32 (both formats' usual type); triangles keep their winding (outward, counter-clockwise
//! seen from outside), and the STL facet normal is computed from that winding.

use crate::error::{IoError, Result};
use std::io::Write;
use std::path::Path;

/// Checks indices and finiteness before anything is written, so a bad mesh never leaves a
/// half-written file.
fn validate(path: &Path, vertices: &[[f64; 3]], triangles: &[[u32; 3]]) -> Result<()> {
    if let Some((i, v)) = vertices.iter().enumerate().find(|(_, v)| {
        v.iter()
            .any(|c| !c.is_finite() || c.abs() > f32::MAX as f64)
    }) {
        return Err(IoError::InvalidField {
            path: path.to_path_buf(),
            field: format!("vertices[{i}]"),
            reason: format!("coordinate {v:?} is not a finite f32"),
        });
    }
    let n = vertices.len() as u64;
    if let Some((i, t)) = triangles
        .iter()
        .enumerate()
        .find(|(_, t)| t.iter().any(|&k| k as u64 >= n))
    {
        return Err(IoError::InvalidField {
            path: path.to_path_buf(),
            field: format!("triangles[{i}]"),
            reason: format!("vertex index in {t:?} out of range (mesh has {n} vertices)"),
        });
    }
    // PLY indices are `int` (i32); STL counts triangles in a u32.
    if triangles.len() as u64 > u32::MAX as u64 || n > i32::MAX as u64 {
        return Err(IoError::InvalidField {
            path: path.to_path_buf(),
            field: "triangles".into(),
            reason: "too many elements (vertices must fit i32, triangles u32)".into(),
        });
    }
    Ok(())
}

fn write_all(path: &Path, bytes: &[u8]) -> Result<()> {
    let io = |error| IoError::Io {
        path: path.to_path_buf(),
        error,
    };
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).map_err(io)?);
    f.write_all(bytes).map_err(io)?;
    f.flush().map_err(io)
}

/// Writes a binary little-endian PLY: `vertex` (float x, y, z; LPS mm) and `face`
/// (`list uchar int vertex_indices`, 3 per face).
pub fn write_ply(path: &Path, vertices_lps: &[[f64; 3]], triangles: &[[u32; 3]]) -> Result<()> {
    validate(path, vertices_lps, triangles)?;
    let header = format!(
        "ply\nformat binary_little_endian 1.0\ncomment SPACE=LPS\ncomment written by tomofuse\n\
         element vertex {}\nproperty float x\nproperty float y\nproperty float z\n\
         element face {}\nproperty list uchar int vertex_indices\nend_header\n",
        vertices_lps.len(),
        triangles.len()
    );
    let mut buf = Vec::with_capacity(header.len() + vertices_lps.len() * 12 + triangles.len() * 13);
    buf.extend_from_slice(header.as_bytes());
    for v in vertices_lps {
        for c in v {
            buf.extend_from_slice(&(*c as f32).to_le_bytes());
        }
    }
    for t in triangles {
        buf.push(3u8);
        for &k in t {
            // validate() bounded k by the vertex count, itself <= i32::MAX.
            buf.extend_from_slice(&(k as i32).to_le_bytes());
        }
    }
    write_all(path, &buf)
}

/// Writes a binary STL (80-byte header carrying `SPACE=LPS`, u32 count, then per triangle
/// the unit normal from the winding and the three vertices, f32 little endian).
pub fn write_stl(path: &Path, vertices_lps: &[[f64; 3]], triangles: &[[u32; 3]]) -> Result<()> {
    validate(path, vertices_lps, triangles)?;
    let mut buf = Vec::with_capacity(84 + triangles.len() * 50);
    let mut header = [b' '; 80];
    let text = b"tomofuse surface mesh SPACE=LPS";
    header[..text.len()].copy_from_slice(text);
    buf.extend_from_slice(&header);
    buf.extend_from_slice(&(triangles.len() as u32).to_le_bytes());
    for t in triangles {
        // Indices were validated above.
        let [a, b, c] = t.map(|k| vertices_lps[k as usize]);
        let u = [b[0] - a[0], b[1] - a[1], b[2] - a[2]];
        let w = [c[0] - a[0], c[1] - a[1], c[2] - a[2]];
        let n = [
            u[1] * w[2] - u[2] * w[1],
            u[2] * w[0] - u[0] * w[2],
            u[0] * w[1] - u[1] * w[0],
        ];
        let len = (n[0] * n[0] + n[1] * n[1] + n[2] * n[2]).sqrt();
        let n = if len > 0.0 {
            n.map(|x| x / len)
        } else {
            [0.0; 3]
        };
        for p in [n, a, b, c] {
            for x in p {
                buf.extend_from_slice(&(x as f32).to_le_bytes());
            }
        }
        buf.extend_from_slice(&0u16.to_le_bytes());
    }
    write_all(path, &buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f32_at(b: &[u8], o: usize) -> f32 {
        f32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
    }

    /// A unit tetrahedron, outward-wound.
    fn tet() -> (Vec<[f64; 3]>, Vec<[u32; 3]>) {
        (
            vec![
                [0.0, 0.0, 0.0],
                [1.0, 0.0, 0.0],
                [0.0, 1.0, 0.0],
                [0.0, 0.0, 1.0],
            ],
            vec![[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]],
        )
    }

    #[test]
    fn ply_round_trip_by_independent_parse() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.ply");
        let (v, t) = tet();
        write_ply(&p, &v, &t).unwrap();
        let b = std::fs::read(&p).unwrap();
        let end = b"end_header\n";
        let hpos = b.windows(end.len()).position(|w| w == end).unwrap() + end.len();
        let header = std::str::from_utf8(&b[..hpos]).unwrap();
        assert!(header.contains("format binary_little_endian 1.0"));
        assert!(header.contains("comment SPACE=LPS"));
        assert!(header.contains("element vertex 4"));
        assert!(header.contains("element face 4"));
        assert_eq!(b.len(), hpos + 4 * 12 + 4 * 13);
        for (i, vv) in v.iter().enumerate() {
            for (c, &x) in vv.iter().enumerate() {
                assert_eq!(f32_at(&b, hpos + i * 12 + c * 4) as f64, x);
            }
        }
        let f0 = hpos + 48;
        for (i, tt) in t.iter().enumerate() {
            let o = f0 + i * 13;
            assert_eq!(b[o], 3);
            for c in 0..3 {
                let k = i32::from_le_bytes([
                    b[o + 1 + 4 * c],
                    b[o + 2 + 4 * c],
                    b[o + 3 + 4 * c],
                    b[o + 4 + 4 * c],
                ]);
                assert_eq!(k as u32, tt[c]);
            }
        }
    }

    #[test]
    fn stl_round_trip_normals_outward() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.stl");
        let (v, t) = tet();
        write_stl(&p, &v, &t).unwrap();
        let b = std::fs::read(&p).unwrap();
        assert_eq!(b.len(), 84 + 4 * 50);
        assert!(std::str::from_utf8(&b[..80]).unwrap().contains("SPACE=LPS"));
        assert_eq!(u32::from_le_bytes([b[80], b[81], b[82], b[83]]), 4);
        let centroid = [0.25, 0.25, 0.25];
        for (i, tt) in t.iter().enumerate() {
            let o = 84 + i * 50;
            let n: Vec<f64> = (0..3).map(|c| f32_at(&b, o + 4 * c) as f64).collect();
            for (k, &vi) in tt.iter().enumerate() {
                for (c, &x) in v[vi as usize].iter().enumerate() {
                    assert_eq!(f32_at(&b, o + 12 + 12 * k + 4 * c) as f64, x);
                }
            }
            // Outward: the normal points away from the centroid.
            let a = v[tt[0] as usize];
            let d: f64 = (0..3).map(|c| n[c] * (a[c] - centroid[c])).sum();
            assert!(d > 0.0, "facet {i} normal {n:?} points inward");
            let len: f64 = n.iter().map(|x| x * x).sum::<f64>().sqrt();
            assert!((len - 1.0).abs() < 1e-6);
        }
    }

    #[test]
    fn bad_mesh_is_a_named_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.ply");
        let (v, mut t) = tet();
        t.push([0, 1, 9]);
        let e = write_ply(&p, &v, &t).unwrap_err().to_string();
        assert!(e.contains("triangles[4]") && e.contains("bad.ply"), "{e}");
        assert!(!p.exists());
        let mut v2 = v.clone();
        v2[2][1] = f64::NAN;
        let e = write_stl(&p, &v2, &tet().1).unwrap_err().to_string();
        assert!(e.contains("vertices[2]"), "{e}");
        let e = write_stl(Path::new("/nonexistent-dir/x.stl"), &v, &tet().1)
            .unwrap_err()
            .to_string();
        assert!(e.contains("/nonexistent-dir/x.stl"), "{e}");
    }
}
