//! Signed axis permutations between voxel grids.
//!
//! Two grids that hold the same voxel centres but store them in another axis order or sense
//! (a DICOM series read LPS, its label map exported LAS by Slicer or TotalSegmentator, a
//! feet-first series) differ in origin and direction, so a plain [`Geometry::compare`] calls
//! them different. [`find_axis_map`] recognises that case and returns the [`AxisMap`] that
//! carries one grid onto the other; [`Volume::permute_axes`] applies it by index remapping
//! only, so labels and intensities are moved, never interpolated.

use crate::error::{CoreError, Result};
use crate::geometry::{Geometry, GeometryTolerance, Space};
use crate::volume::Volume;
use ndarray::Axis;
use std::fmt;

/// A signed permutation of index axes: output axis `t` reads input axis `src[t]`, reversed
/// when `flip[t]`. In index terms, output voxel `o` is input voxel `x` with
/// `x[src[t]] = if flip[t] { n_in[src[t]] - 1 - o[t] } else { o[t] }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AxisMap {
    /// Input axis read by each output axis (a permutation of 0, 1, 2).
    pub src: [usize; 3],
    /// Whether each output axis runs opposite to its input axis.
    pub flip: [bool; 3],
}

impl Default for AxisMap {
    fn default() -> Self {
        Self::IDENTITY
    }
}

const AXIS_NAMES: [char; 3] = ['i', 'j', 'k'];

impl AxisMap {
    /// No permutation, no flip.
    pub const IDENTITY: AxisMap = AxisMap {
        src: [0, 1, 2],
        flip: [false; 3],
    };

    /// Validated constructor: `src` must be a permutation of 0, 1, 2.
    pub fn new(src: [usize; 3], flip: [bool; 3]) -> Result<Self> {
        let mut seen = [false; 3];
        for &s in &src {
            if s > 2 || seen[s] {
                return Err(CoreError::InvalidOrientation {
                    code: format!("{src:?}"),
                    reason: "axis map source must be a permutation of [0, 1, 2]".into(),
                });
            }
            seen[s] = true;
        }
        Ok(Self { src, flip })
    }

    /// All 48 signed permutations (6 orders x 8 flip patterns), identity first.
    pub fn all() -> Vec<AxisMap> {
        const PERMS: [[usize; 3]; 6] = [
            [0, 1, 2],
            [0, 2, 1],
            [1, 0, 2],
            [1, 2, 0],
            [2, 0, 1],
            [2, 1, 0],
        ];
        let mut out = Vec::with_capacity(48);
        for src in PERMS {
            for bits in 0..8u8 {
                let flip = [bits & 1 != 0, bits & 2 != 0, bits & 4 != 0];
                out.push(AxisMap { src, flip });
            }
        }
        out
    }

    pub fn is_identity(&self) -> bool {
        *self == Self::IDENTITY
    }

    /// True when the axes keep their order (only flips).
    pub fn is_flip_only(&self) -> bool {
        self.src == [0, 1, 2]
    }

    /// The map that undoes this one: `m.inverse()` applied after `m` is the identity.
    pub fn inverse(&self) -> AxisMap {
        let mut src = [0; 3];
        let mut flip = [false; 3];
        for t in 0..3 {
            src[self.src[t]] = t;
            flip[self.src[t]] = self.flip[t];
        }
        AxisMap { src, flip }
    }

    /// Shape of the output grid for an input of shape `shape`.
    pub fn apply_shape(&self, shape: [usize; 3]) -> [usize; 3] {
        [shape[self.src[0]], shape[self.src[1]], shape[self.src[2]]]
    }

    /// Geometry of the output grid: the same world positions for the same voxels, so the
    /// physical content is unchanged (spacings permuted, directions permuted and negated where
    /// flipped, origin = world position of the input voxel that lands on index 0).
    pub fn apply_geometry(&self, g: &Geometry, shape: [usize; 3]) -> Result<Geometry> {
        let mut corner = [0.0; 3];
        for t in 0..3 {
            if self.flip[t] {
                corner[self.src[t]] = shape[self.src[t]].saturating_sub(1) as f64;
            }
        }
        let origin = g.index_to_world(corner);
        let mut direction = [[0.0; 3]; 3];
        let mut spacing = [0.0; 3];
        for t in 0..3 {
            let s = if self.flip[t] { -1.0 } else { 1.0 };
            for (r, row) in direction.iter_mut().enumerate() {
                row[t] = g.direction[r][self.src[t]] * s;
            }
            spacing[t] = g.spacing[self.src[t]];
        }
        Geometry::new(spacing, origin, direction, Space::Lps)
    }
}

impl fmt::Display for AxisMap {
    /// E.g. `identity`, `j flipped`, `axes (i, j, k) <- (j, i, k); k flipped`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_identity() {
            return f.write_str("identity");
        }
        let mut parts = Vec::new();
        if !self.is_flip_only() {
            parts.push(format!(
                "axes (i, j, k) <- ({}, {}, {})",
                AXIS_NAMES[self.src[0]], AXIS_NAMES[self.src[1]], AXIS_NAMES[self.src[2]]
            ));
        }
        let flipped: Vec<String> = (0..3)
            .filter(|&t| self.flip[t])
            .map(|t| AXIS_NAMES[self.src[t]].to_string())
            .collect();
        if !flipped.is_empty() {
            parts.push(format!("{} flipped", flipped.join(", ")));
        }
        f.write_str(&parts.join("; "))
    }
}

/// Finds the signed axis permutation that carries grid `from` (geometry + shape) onto grid
/// `to`, such that every voxel centre lands on the same world position (checked with
/// [`Geometry::compare`] on the permuted geometry under `tol`, the same test that accepts two
/// unpermuted grids). Returns [`AxisMap::IDENTITY`] when the grids already match.
///
/// Errors name what differs: `direction` when the axes are not a signed permutation of each
/// other (a rotation), a [`CoreError::ShapeMismatch`] when the permuted shape differs, and
/// `spacing`/`origin` when the grids are parallel but not coincident (e.g. shifted by half a
/// voxel); the message states the permutation tried.
pub fn find_axis_map(
    from: &Geometry,
    from_shape: [usize; 3],
    to: &Geometry,
    to_shape: [usize; 3],
    tol: &GeometryTolerance,
) -> Result<AxisMap> {
    // m[t][c] = cosine between output axis t (of `to`) and input axis c (of `from`).
    let mut m = [[0.0f64; 3]; 3];
    for (t, row) in m.iter_mut().enumerate() {
        for (c, v) in row.iter_mut().enumerate() {
            *v = (0..3)
                .map(|r| to.direction[r][t] * from.direction[r][c])
                .sum();
        }
    }
    // Greedy assignment on |cosine|: never maps two axes onto one.
    let mut src = [usize::MAX; 3];
    let mut flip = [false; 3];
    let (mut used_t, mut used_c) = ([false; 3], [false; 3]);
    for _ in 0..3 {
        let mut best = (0, 0, -1.0);
        for (t, row) in m.iter().enumerate() {
            for (c, v) in row.iter().enumerate() {
                if !used_t[t] && !used_c[c] && v.abs() > best.2 {
                    best = (t, c, v.abs());
                }
            }
        }
        let (t, c, _) = best;
        used_t[t] = true;
        used_c[c] = true;
        src[t] = c;
        flip[t] = m[t][c] < 0.0;
    }
    let map = AxisMap { src, flip };
    let permuted_shape = map.apply_shape(from_shape);
    if permuted_shape != to_shape {
        return Err(CoreError::ShapeMismatch {
            left: from_shape,
            right: to_shape,
        });
    }
    let g = map.apply_geometry(from, from_shape)?;
    g.compare(to, tol).map_err(|e| match e {
        CoreError::GeometryMismatch {
            field,
            detail,
            max_diff,
            tolerance,
        } if !map.is_identity() => CoreError::GeometryMismatch {
            field,
            detail: format!("{detail}, after reorienting ({map})"),
            max_diff,
            tolerance,
        },
        other => other,
    })?;
    Ok(map)
}

impl<T: Clone> Volume<T> {
    /// Applies a signed axis permutation by index remapping only (values moved, never
    /// interpolated) and updates the geometry so that every voxel keeps its world position.
    pub fn permute_axes(&self, map: &AxisMap) -> Result<Volume<T>> {
        let map = AxisMap::new(map.src, map.flip)?;
        let shape = self.shape();
        let mut view = self.data.view().permuted_axes(map.src);
        for (t, &f) in map.flip.iter().enumerate() {
            if f {
                view.invert_axis(Axis(t));
            }
        }
        let data = view.as_standard_layout().into_owned();
        Volume::new(data, map.apply_geometry(&self.geometry, shape)?)
    }

    /// Brings `self` onto the grid of (`geometry`, `shape`) when the two differ only by a
    /// signed axis permutation: returns the remapped volume and the map used (identity when
    /// nothing had to move). Fails as [`find_axis_map`] does otherwise.
    pub fn onto_grid(
        &self,
        geometry: &Geometry,
        shape: [usize; 3],
        tol: &GeometryTolerance,
    ) -> Result<(Volume<T>, AxisMap)> {
        let map = find_axis_map(&self.geometry, self.shape(), geometry, shape, tol)?;
        let mut out = if map.is_identity() {
            self.clone()
        } else {
            self.permute_axes(&map)?
        };
        // The permuted geometry equals the target within `tol`; reusing the target's exactly
        // keeps downstream exact-equality checks (and written headers) consistent.
        out.geometry = *geometry;
        Ok((out, map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array3;

    fn oblique_geometry() -> Geometry {
        // A slightly rotated, anisotropic grid so that no axis is special.
        let (a, b) = (0.3f64, 0.2f64);
        let rz = [
            [a.cos(), -a.sin(), 0.0],
            [a.sin(), a.cos(), 0.0],
            [0.0, 0.0, 1.0],
        ];
        let ry = [
            [b.cos(), 0.0, b.sin()],
            [0.0, 1.0, 0.0],
            [-b.sin(), 0.0, b.cos()],
        ];
        let mut d = [[0.0; 3]; 3];
        for r in 0..3 {
            for c in 0..3 {
                d[r][c] = (0..3).map(|k| rz[r][k] * ry[k][c]).sum();
            }
        }
        Geometry::new([0.7, 0.9, 2.5], [-120.25, 33.5, -804.5], d, Space::Lps).unwrap()
    }

    fn ramp(shape: [usize; 3], g: Geometry) -> Volume<u32> {
        let data = Array3::from_shape_fn(shape, |(i, j, k)| (i * 10_000 + j * 100 + k) as u32);
        Volume::new(data, g).unwrap()
    }

    #[test]
    fn all_48_round_trip_exactly_and_are_found() {
        let g = oblique_geometry();
        let shape = [5, 4, 3];
        let v = ramp(shape, g);
        let tol = GeometryTolerance::default();
        let maps = AxisMap::all();
        assert_eq!(maps.len(), 48);
        let distinct: std::collections::HashSet<_> = maps.iter().collect();
        assert_eq!(distinct.len(), 48);
        for m in &maps {
            let p = v.permute_axes(m).unwrap();
            assert_eq!(p.shape(), m.apply_shape(shape));
            // Every voxel keeps its value and world position (analytic check, all voxels).
            for ((a, b, c), &val) in p.data.indexed_iter() {
                let (i, j, k) = (
                    (val / 10_000) as f64,
                    (val / 100 % 100) as f64,
                    (val % 100) as f64,
                );
                let w_in = g.index_to_world([i, j, k]);
                let w_out = p.geometry.index_to_world([a as f64, b as f64, c as f64]);
                for r in 0..3 {
                    assert!(
                        (w_in[r] - w_out[r]).abs() < 1e-9,
                        "{m}: {w_in:?} vs {w_out:?}"
                    );
                }
            }
            // Detection finds the inverse and undoing it is exact.
            let found = find_axis_map(&p.geometry, p.shape(), &g, shape, &tol).unwrap();
            assert_eq!(found, m.inverse(), "{m}");
            let (back, used) = p.onto_grid(&g, shape, &tol).unwrap();
            assert_eq!(used, m.inverse());
            assert_eq!(back.data, v.data, "{m}");
            assert_eq!(back.geometry, g);
            let twice = p.permute_axes(&m.inverse()).unwrap();
            assert_eq!(twice.data, v.data);
            g.compare(
                &twice.geometry,
                &GeometryTolerance {
                    spacing: 1e-12,
                    origin: 1e-9,
                    direction: 1e-12,
                },
            )
            .unwrap();
        }
    }

    #[test]
    fn half_voxel_shift_is_an_error_naming_origin() {
        let g = oblique_geometry();
        let shape = [5, 4, 3];
        let flipped = ramp(shape, g)
            .permute_axes(&AxisMap::new([0, 1, 2], [false, true, false]).unwrap())
            .unwrap();
        let mut shifted = flipped.geometry;
        let half = g.index_to_world([0.0, 0.5, 0.0]);
        for ((o, h), g0) in shifted.origin.iter_mut().zip(half).zip(g.origin) {
            *o += h - g0;
        }
        let e =
            find_axis_map(&shifted, shape, &g, shape, &GeometryTolerance::default()).unwrap_err();
        match &e {
            CoreError::GeometryMismatch {
                field, max_diff, ..
            } => {
                assert_eq!(*field, "origin");
                assert!((max_diff - 0.45).abs() < 0.1, "{e}");
            }
            other => panic!("unexpected {other}"),
        }
        assert!(e.to_string().contains("j flipped"), "{e}");
    }

    #[test]
    fn rotation_spacing_and_shape_differences_are_errors() {
        let g = oblique_geometry();
        let shape = [5, 4, 3];
        let tol = GeometryTolerance::default();
        // A 10 degree rotation about z is not a permutation.
        let (c, s) = (10f64.to_radians().cos(), 10f64.to_radians().sin());
        let rot = Geometry::new(
            g.spacing,
            g.origin,
            [[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]],
            Space::Lps,
        )
        .unwrap();
        let id = Geometry::new(
            g.spacing,
            g.origin,
            [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
            Space::Lps,
        )
        .unwrap();
        assert!(matches!(
            find_axis_map(&rot, shape, &id, shape, &tol),
            Err(CoreError::GeometryMismatch {
                field: "direction",
                ..
            })
        ));
        let mut sp = g;
        sp.spacing[2] = 3.0;
        assert!(matches!(
            find_axis_map(&sp, shape, &g, shape, &tol),
            Err(CoreError::GeometryMismatch {
                field: "spacing",
                ..
            })
        ));
        assert!(matches!(
            find_axis_map(&g, [5, 4, 4], &g, shape, &tol),
            Err(CoreError::ShapeMismatch { .. })
        ));
        assert!(AxisMap::new([0, 0, 2], [false; 3]).is_err());
    }

    #[test]
    fn display_names_axes() {
        assert_eq!(AxisMap::IDENTITY.to_string(), "identity");
        assert_eq!(
            AxisMap::new([0, 1, 2], [false, true, false])
                .unwrap()
                .to_string(),
            "j flipped"
        );
        assert_eq!(
            AxisMap::new([1, 0, 2], [false, false, true])
                .unwrap()
                .to_string(),
            "axes (i, j, k) <- (j, i, k); k flipped"
        );
    }
}
