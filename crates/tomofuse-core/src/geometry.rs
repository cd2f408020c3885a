//! Image geometry: how voxel indices map to patient-space millimetres.
//!
//! Stored in DICOM/ITK **LPS** (x toward patient Left, y toward Posterior, z toward Superior).
//! `direction[r][c]` is component `r` of the unit vector along index axis `c` (ITK layout), so
//! `world = origin + direction * diag(spacing) * index`. Conversions to and from RAS (NIfTI,
//! nibabel) happen only at the boundaries, through [`Space`].

use crate::error::{CoreError, Result};
use serde::{Deserialize, Serialize};

/// A patient coordinate space. Stating it at every boundary is what prevents silent flips.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Space {
    /// x toward Left, y toward Posterior, z toward Superior (DICOM, ITK, NRRD `left-posterior-superior`).
    Lps,
    /// x toward Right, y toward Anterior, z toward Superior (NIfTI, nibabel, FreeSurfer).
    Ras,
}

impl Space {
    /// Sign applied to world x and y when converting between LPS and RAS (z is shared).
    fn flip(self, other: Space) -> [f64; 3] {
        if self == other {
            [1.0, 1.0, 1.0]
        } else {
            [-1.0, -1.0, 1.0]
        }
    }
}

/// Tolerances for [`Geometry::compare`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GeometryTolerance {
    /// Absolute tolerance on spacing, mm.
    pub spacing: f64,
    /// Absolute tolerance on origin, mm.
    pub origin: f64,
    /// Absolute tolerance on direction cosines.
    pub direction: f64,
}

impl Default for GeometryTolerance {
    /// 1e-3 mm and 1e-4 on cosines: tighter than any scanner, looser than float32 header round trips.
    fn default() -> Self {
        Self {
            spacing: 1e-3,
            origin: 1e-3,
            direction: 1e-4,
        }
    }
}

/// Spacing, origin and direction of a voxel grid, in LPS millimetres.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Geometry {
    /// Voxel size along index axes i, j, k (mm, > 0).
    pub spacing: [f64; 3],
    /// World (LPS, mm) position of the centre of voxel (0, 0, 0).
    pub origin: [f64; 3],
    /// Row-major 3x3; column c is the LPS unit vector of index axis c.
    pub direction: [[f64; 3]; 3],
}

pub(crate) const IDENTITY: [[f64; 3]; 3] = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];

impl Default for Geometry {
    fn default() -> Self {
        Self {
            spacing: [1.0; 3],
            origin: [0.0; 3],
            direction: IDENTITY,
        }
    }
}

/// Largest deviation of `m^T m` from the identity tolerated for a direction matrix: sform
/// matrices written by some tools carry a little shear; anything larger is a real shear that
/// a spacing/origin/direction model cannot represent.
pub const ORTHONORMAL_TOLERANCE: f64 = 1e-3;

impl Geometry {
    /// Builds a geometry given in `space`, validating every field.
    pub fn new(
        spacing: [f64; 3],
        origin: [f64; 3],
        direction: [[f64; 3]; 3],
        space: Space,
    ) -> Result<Self> {
        if spacing.iter().any(|s| !s.is_finite() || *s <= 0.0) {
            return Err(CoreError::InvalidSpacing { spacing });
        }
        if origin.iter().any(|o| !o.is_finite()) {
            return Err(CoreError::InvalidOrigin { origin });
        }
        let f = space.flip(Space::Lps);
        let mut d = direction;
        for (r, row) in d.iter_mut().enumerate() {
            for v in row.iter_mut() {
                *v *= f[r];
            }
        }
        check_direction(&d)?;
        Ok(Self {
            spacing,
            origin: [origin[0] * f[0], origin[1] * f[1], origin[2] * f[2]],
            direction: d,
        })
    }

    /// Identity direction, zero origin, given spacing (LPS).
    pub fn with_spacing(spacing: [f64; 3]) -> Result<Self> {
        Self::new(spacing, [0.0; 3], IDENTITY, Space::Lps)
    }

    /// Re-checks the invariants (useful after fields were edited directly).
    pub fn validate(&self) -> Result<()> {
        Self::new(self.spacing, self.origin, self.direction, Space::Lps).map(|_| ())
    }

    /// Origin expressed in `space`.
    pub fn origin_in(&self, space: Space) -> [f64; 3] {
        let f = Space::Lps.flip(space);
        [
            self.origin[0] * f[0],
            self.origin[1] * f[1],
            self.origin[2] * f[2],
        ]
    }

    /// Direction matrix expressed in `space`.
    pub fn direction_in(&self, space: Space) -> [[f64; 3]; 3] {
        let f = Space::Lps.flip(space);
        let mut d = self.direction;
        for (r, row) in d.iter_mut().enumerate() {
            for v in row.iter_mut() {
                *v *= f[r];
            }
        }
        d
    }

    /// 4x4 affine from voxel index (i, j, k) to world mm in `space`.
    /// With `Space::Ras` this is the matrix nibabel calls `img.affine`.
    pub fn affine(&self, space: Space) -> [[f64; 4]; 4] {
        let d = self.direction_in(space);
        let o = self.origin_in(space);
        let mut a = [[0.0; 4]; 4];
        for r in 0..3 {
            for c in 0..3 {
                a[r][c] = d[r][c] * self.spacing[c];
            }
            a[r][3] = o[r];
        }
        a[3][3] = 1.0;
        a
    }

    /// Decomposes an affine (index -> world mm in `space`) into spacing, origin and direction.
    /// Fails on a singular, sheared or non-finite matrix.
    pub fn from_affine(affine: &[[f64; 4]; 4], space: Space) -> Result<Self> {
        let mut spacing = [0.0; 3];
        let mut dir = [[0.0; 3]; 3];
        for c in 0..3 {
            let n = (0..3).map(|r| affine[r][c].powi(2)).sum::<f64>().sqrt();
            spacing[c] = n;
            if !(n.is_finite() && n > 0.0) {
                return Err(CoreError::InvalidSpacing { spacing });
            }
            for r in 0..3 {
                dir[r][c] = affine[r][c] / n;
            }
        }
        Self::new(
            spacing,
            [affine[0][3], affine[1][3], affine[2][3]],
            dir,
            space,
        )
    }

    /// Continuous index -> LPS world mm.
    pub fn index_to_world(&self, idx: [f64; 3]) -> [f64; 3] {
        let mut w = self.origin;
        for (wr, row) in w.iter_mut().zip(&self.direction) {
            *wr += (0..3)
                .map(|c| row[c] * self.spacing[c] * idx[c])
                .sum::<f64>();
        }
        w
    }

    /// LPS world mm -> continuous index. The direction is orthonormal, so its inverse is its
    /// transpose (up to [`ORTHONORMAL_TOLERANCE`]); the exact inverse is used anyway.
    pub fn world_to_index(&self, world: [f64; 3]) -> [f64; 3] {
        // Validated directions are invertible; a hand-edited singular one falls back to the
        // transpose rather than panicking.
        let inv = invert3(&self.direction).unwrap_or_else(|| transpose3(&self.direction));
        let d = [
            world[0] - self.origin[0],
            world[1] - self.origin[1],
            world[2] - self.origin[2],
        ];
        let mut idx = [0.0; 3];
        for (c, ic) in idx.iter_mut().enumerate() {
            let mut s = 0.0;
            for (r, dr) in d.iter().enumerate() {
                s += inv[c][r] * dr;
            }
            *ic = s / self.spacing[c];
        }
        idx
    }

    /// Compares two geometries field by field; the error names the first field out of
    /// tolerance and the largest difference found in it.
    pub fn compare(&self, other: &Geometry, tol: &GeometryTolerance) -> Result<()> {
        let ds = max_abs_diff(&self.spacing, &other.spacing);
        if ds > tol.spacing {
            return Err(CoreError::GeometryMismatch {
                field: "spacing",
                detail: format!("{:?} vs {:?}", self.spacing, other.spacing),
                max_diff: ds,
                tolerance: tol.spacing,
            });
        }
        let dor = max_abs_diff(&self.origin, &other.origin);
        if dor > tol.origin {
            return Err(CoreError::GeometryMismatch {
                field: "origin",
                detail: format!("{:?} vs {:?} (LPS mm)", self.origin, other.origin),
                max_diff: dor,
                tolerance: tol.origin,
            });
        }
        let dd = (0..3)
            .map(|r| max_abs_diff(&self.direction[r], &other.direction[r]))
            .fold(0.0, f64::max);
        if dd > tol.direction {
            return Err(CoreError::GeometryMismatch {
                field: "direction",
                detail: format!("{:?} vs {:?} (LPS)", self.direction, other.direction),
                max_diff: dd,
                tolerance: tol.direction,
            });
        }
        Ok(())
    }

    /// Axis codes in `space`, as nibabel's `aff2axcodes`: for each index axis, the world
    /// direction it points to most (e.g. `['R','A','S']` for a RAS-canonical NIfTI).
    pub fn axis_codes(&self, space: Space) -> [char; 3] {
        let d = self.direction_in(space);
        let (pos, neg) = match space {
            Space::Lps => (['L', 'P', 'S'], ['R', 'A', 'I']),
            Space::Ras => (['R', 'A', 'S'], ['L', 'P', 'I']),
        };
        let (perm, signs) = closest_axes(&d);
        let mut out = [' '; 3];
        for c in 0..3 {
            let r = perm[c];
            out[c] = if signs[c] > 0.0 { pos[r] } else { neg[r] };
        }
        out
    }

    /// Physical extent of the grid's voxel centres plus half a voxel on each side, per axis (mm).
    pub fn extent_mm(&self, shape: [usize; 3]) -> [f64; 3] {
        [
            shape[0] as f64 * self.spacing[0],
            shape[1] as f64 * self.spacing[1],
            shape[2] as f64 * self.spacing[2],
        ]
    }
}

/// For each column (index axis), the world row it is most aligned with and the sign, with a
/// greedy assignment that never maps two index axes onto one world axis.
pub(crate) fn closest_axes(d: &[[f64; 3]; 3]) -> ([usize; 3], [f64; 3]) {
    let mut perm = [usize::MAX; 3];
    let mut signs = [1.0; 3];
    let mut used_r = [false; 3];
    let mut used_c = [false; 3];
    for _ in 0..3 {
        let mut best = (0, 0, -1.0);
        for r in 0..3 {
            for c in 0..3 {
                if !used_r[r] && !used_c[c] && d[r][c].abs() > best.2 {
                    best = (r, c, d[r][c].abs());
                }
            }
        }
        let (r, c, _) = best;
        used_r[r] = true;
        used_c[c] = true;
        perm[c] = r;
        signs[c] = if d[r][c] < 0.0 { -1.0 } else { 1.0 };
    }
    (perm, signs)
}

fn max_abs_diff(a: &[f64; 3], b: &[f64; 3]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

fn check_direction(d: &[[f64; 3]; 3]) -> Result<()> {
    if d.iter().flatten().any(|v| !v.is_finite()) {
        return Err(CoreError::InvalidDirection {
            direction: *d,
            reason: "non-finite entry".into(),
        });
    }
    let mut worst: f64 = 0.0;
    for a in 0..3 {
        for b in 0..3 {
            let dot: f64 = (0..3).map(|r| d[r][a] * d[r][b]).sum();
            let want = if a == b { 1.0 } else { 0.0 };
            worst = worst.max((dot - want).abs());
        }
    }
    if worst > ORTHONORMAL_TOLERANCE {
        return Err(CoreError::InvalidDirection {
            direction: *d,
            reason: format!(
                "columns are not orthonormal (max |D^T D - I| = {worst:.2e} > {ORTHONORMAL_TOLERANCE:e}): singular or sheared"
            ),
        });
    }
    Ok(())
}

/// Inverse of a 3x3 matrix, `None` when singular.
pub fn invert3(m: &[[f64; 3]; 3]) -> Option<[[f64; 3]; 3]> {
    let det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
        - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
        + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
    if det.abs() < 1e-12 || !det.is_finite() {
        return None;
    }
    let inv_det = 1.0 / det;
    let mut r = [[0.0; 3]; 3];
    r[0][0] = (m[1][1] * m[2][2] - m[1][2] * m[2][1]) * inv_det;
    r[0][1] = (m[0][2] * m[2][1] - m[0][1] * m[2][2]) * inv_det;
    r[0][2] = (m[0][1] * m[1][2] - m[0][2] * m[1][1]) * inv_det;
    r[1][0] = (m[1][2] * m[2][0] - m[1][0] * m[2][2]) * inv_det;
    r[1][1] = (m[0][0] * m[2][2] - m[0][2] * m[2][0]) * inv_det;
    r[1][2] = (m[0][2] * m[1][0] - m[0][0] * m[1][2]) * inv_det;
    r[2][0] = (m[1][0] * m[2][1] - m[1][1] * m[2][0]) * inv_det;
    r[2][1] = (m[0][1] * m[2][0] - m[0][0] * m[2][1]) * inv_det;
    r[2][2] = (m[0][0] * m[1][1] - m[0][1] * m[1][0]) * inv_det;
    Some(r)
}

/// Transpose of a 3x3 matrix (the inverse of an orthonormal one).
pub fn transpose3(m: &[[f64; 3]; 3]) -> [[f64; 3]; 3] {
    let mut t = [[0.0; 3]; 3];
    for r in 0..3 {
        for c in 0..3 {
            t[c][r] = m[r][c];
        }
    }
    t
}
