//! Boundary conditions: how a filter sees voxels outside the image. IBSI-2 names them zero,
//! nearest, periodic and mirror; scipy.ndimage calls the same ones constant, nearest, wrap and
//! reflect. Every filter extends the image through [`Boundary::index`], so a kernel of any
//! size (even one wider than the image) is well defined.

use crate::error::{RadiomicsError, Result};
use std::fmt;

/// How the image is extended beyond its border.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Boundary {
    /// Zero padding (scipy `constant` with cval 0).
    Zero,
    /// The edge voxel repeated (scipy `nearest`).
    Nearest,
    /// The image tiled periodically (scipy `wrap`).
    Periodic,
    /// Symmetric padding that repeats the edge voxel, `d c b a | a b c d | d c b a` (scipy
    /// `reflect`, numpy `symmetric`).
    Mirror,
}

impl Boundary {
    /// Parses an IBSI name (`zero`, `nearest`, `periodic`, `mirror`) or its scipy synonym
    /// (`constant`, `wrap`, `reflect`).
    pub fn parse(name: &str) -> Result<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "zero" | "constant" => Ok(Self::Zero),
            "nearest" | "edge" => Ok(Self::Nearest),
            "periodic" | "wrap" => Ok(Self::Periodic),
            "mirror" | "reflect" | "symmetric" => Ok(Self::Mirror),
            other => Err(RadiomicsError::FilterParam {
                param: "boundary".into(),
                reason: format!(
                    "unknown boundary condition `{other}` (known: zero, nearest, periodic, mirror; scipy: constant, wrap, reflect)"
                ),
            }),
        }
    }

    /// The in-image index that stands for index `q` of a line of length `n`, or `None` for a
    /// zero-padded position.
    #[inline]
    pub fn index(self, q: isize, n: usize) -> Option<usize> {
        let ni = n as isize;
        if (0..ni).contains(&q) {
            return Some(q as usize);
        }
        match self {
            Self::Zero => None,
            Self::Nearest => Some(q.clamp(0, ni - 1) as usize),
            Self::Periodic => Some(q.rem_euclid(ni) as usize),
            Self::Mirror => {
                let m = q.rem_euclid(2 * ni);
                Some(if m < ni {
                    m as usize
                } else {
                    (2 * ni - 1 - m) as usize
                })
            }
        }
    }

    /// Value of position `q` of `line` under this boundary condition.
    #[inline]
    pub fn value(self, line: &[f64], q: isize) -> f64 {
        self.index(q, line.len()).map_or(0.0, |i| line[i])
    }

    /// The line extended by `before` and `after` positions.
    pub fn pad(self, line: &[f64], before: usize, after: usize, out: &mut Vec<f64>) {
        out.clear();
        out.extend(
            (-(before as isize)..(line.len() + after) as isize).map(|q| self.value(line, q)),
        );
    }
}

impl fmt::Display for Boundary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Zero => "zero",
            Self::Nearest => "nearest",
            Self::Periodic => "periodic",
            Self::Mirror => "mirror",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions_match_scipy_modes() {
        let l = [1.0, 2.0, 3.0];
        let ext = |b: Boundary| -> Vec<f64> { (-4..7).map(|q| b.value(&l, q)).collect() };
        assert_eq!(
            ext(Boundary::Zero),
            [0., 0., 0., 0., 1., 2., 3., 0., 0., 0., 0.]
        );
        assert_eq!(
            ext(Boundary::Nearest),
            [1., 1., 1., 1., 1., 2., 3., 3., 3., 3., 3.]
        );
        assert_eq!(
            ext(Boundary::Periodic),
            [3., 1., 2., 3., 1., 2., 3., 1., 2., 3., 1.]
        );
        // scipy reflect: 3 3 2 1 | 1 2 3 | 3 2 1 1
        assert_eq!(
            ext(Boundary::Mirror),
            [3., 3., 2., 1., 1., 2., 3., 3., 2., 1., 1.]
        );
        assert!(Boundary::parse("reflect").unwrap() == Boundary::Mirror);
        assert!(Boundary::parse("sideways").is_err());
    }
}
