//! `Volume<T>`: an ndarray indexed `[i, j, k]` (NIfTI index order, k fastest in memory) with
//! its [`Geometry`].

use crate::error::{CoreError, Result};
use crate::geometry::{Geometry, GeometryTolerance, Space, closest_axes};
use crate::limits::check_alloc;
use crate::orient::AxisMap;
use ndarray::{Array3, ShapeBuilder};

/// A 3D image on an explicit grid. Index `[i, j, k]` is voxel (i, j, k) of the NIfTI/ITK grid.
#[derive(Debug, Clone, PartialEq)]
pub struct Volume<T> {
    pub data: Array3<T>,
    pub geometry: Geometry,
}

/// A binary or label mask on an explicit grid (0 = background).
pub type Mask = Volume<u8>;

impl<T: Clone> Volume<T> {
    /// Wraps an existing array. Its allocation already happened, so only emptiness is checked.
    pub fn new(data: Array3<T>, geometry: Geometry) -> Result<Self> {
        let shape = dims(&data);
        if shape.contains(&0) {
            return Err(CoreError::Empty { shape });
        }
        geometry.validate()?;
        Ok(Self { data, geometry })
    }

    /// A volume filled with `value`, allocated through the size limit.
    pub fn filled(shape: [usize; 3], value: T, geometry: Geometry) -> Result<Self> {
        if shape.contains(&0) {
            return Err(CoreError::Empty { shape });
        }
        check_alloc(shape, std::mem::size_of::<T>())?;
        Self::new(Array3::from_elem(shape, value), geometry)
    }

    /// Builds from a flat buffer in C order (`k` fastest), as `[i, j, k]`.
    pub fn from_vec_c(shape: [usize; 3], data: Vec<T>, geometry: Geometry) -> Result<Self> {
        let n = check_alloc(shape, std::mem::size_of::<T>())?;
        if data.len() != n {
            return Err(CoreError::DataLength {
                len: data.len(),
                shape,
            });
        }
        let arr = Array3::from_shape_vec(shape, data)
            .map_err(|_| CoreError::DataLength { len: n, shape })?;
        Self::new(arr, geometry)
    }

    /// Builds from a flat buffer in Fortran/file order (`i` fastest, as NIfTI, NRRD and DICOM
    /// slices store it), converting to the C layout used everywhere in tomofuse.
    pub fn from_vec_f(shape: [usize; 3], data: Vec<T>, geometry: Geometry) -> Result<Self> {
        let n = check_alloc(shape, std::mem::size_of::<T>())?;
        if data.len() != n {
            return Err(CoreError::DataLength {
                len: data.len(),
                shape,
            });
        }
        let arr = Array3::from_shape_vec(shape.f(), data)
            .map_err(|_| CoreError::DataLength { len: n, shape })?;
        Self::new(arr.as_standard_layout().into_owned(), geometry)
    }

    /// Shape `[ni, nj, nk]`.
    pub fn shape(&self) -> [usize; 3] {
        dims(&self.data)
    }

    /// Number of voxels.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// True when the volume has no voxels (never true for a constructed volume).
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Flat copy in Fortran/file order (`i` fastest), for writers.
    pub fn to_vec_f(&self) -> Vec<T> {
        self.data.t().iter().cloned().collect()
    }

    /// Same values converted element-wise, same geometry.
    pub fn map<U: Clone, F: Fn(&T) -> U>(&self, f: F) -> Volume<U> {
        Volume {
            data: self.data.map(f),
            geometry: self.geometry,
        }
    }

    /// Errors unless `other` has the same shape and a geometry within `tol`
    /// (the error names the field and the difference).
    pub fn check_same_grid<U>(&self, other: &Volume<U>, tol: &GeometryTolerance) -> Result<()> {
        let (a, b) = (self.shape(), dims(&other.data));
        if a != b {
            return Err(CoreError::ShapeMismatch { left: a, right: b });
        }
        self.geometry.compare(&other.geometry, tol)
    }

    /// Reorients by permuting and flipping axes (no interpolation) so that index axes point to
    /// `codes` in `space`, e.g. `("RAS", Space::Ras)` gives nibabel's closest canonical and
    /// `("LPS", Space::Lps)` ITK's identity direction for axis-aligned scans.
    pub fn reorient(&self, codes: &str, space: Space) -> Result<Self> {
        let target = parse_codes(codes, space)?;
        let (perm, signs) = closest_axes(&self.geometry.direction);
        // For target axis t: the source axis c that maps to world row target[t].0, and whether
        // it needs a flip.
        let mut src = [0usize; 3];
        let mut flip = [false; 3];
        for t in 0..3 {
            let c = (0..3)
                .find(|&c| perm[c] == target[t].0)
                .expect("perm is a permutation");
            src[t] = c;
            flip[t] = signs[c] != target[t].1;
        }
        self.permute_axes(&AxisMap::new(src, flip)?)
    }
}

impl<T> Volume<T> {
    /// Errors unless the two volumes share shape and geometry within the default tolerance.
    pub fn same_grid_default<U>(&self, other: &Volume<U>) -> Result<()> {
        let (a, b) = (dims(&self.data), dims(&other.data));
        if a != b {
            return Err(CoreError::ShapeMismatch { left: a, right: b });
        }
        self.geometry
            .compare(&other.geometry, &GeometryTolerance::default())
    }
}

impl Mask {
    /// Number of non-zero voxels.
    pub fn count_nonzero(&self) -> usize {
        self.data.iter().filter(|&&v| v != 0).count()
    }

    /// Inclusive index bounding box `(min, max)` of non-zero voxels, `None` when empty.
    pub fn bounding_box(&self) -> Option<([usize; 3], [usize; 3])> {
        let mut lo = [usize::MAX; 3];
        let mut hi = [0usize; 3];
        let mut any = false;
        for ((i, j, k), &v) in self.data.indexed_iter() {
            if v != 0 {
                any = true;
                for (a, x) in [i, j, k].into_iter().enumerate() {
                    lo[a] = lo[a].min(x);
                    hi[a] = hi[a].max(x);
                }
            }
        }
        any.then_some((lo, hi))
    }

    /// Binary mask of voxels equal to `label`.
    pub fn select_label(&self, label: u8) -> Mask {
        self.map(|&v| u8::from(v == label))
    }
}

fn dims<T>(a: &Array3<T>) -> [usize; 3] {
    let s = a.shape();
    [s[0], s[1], s[2]]
}

/// Checks orientation codes ("RAS", "LPI", ...) as [`Volume::reorient`] reads them, so a
/// setting can be rejected before any volume exists.
pub fn check_axis_codes(codes: &str) -> Result<()> {
    parse_codes(codes, Space::Lps).map(|_| ())
}

/// Parses "RAS"/"LPI"/... into (world row in LPS, sign in LPS) per index axis.
fn parse_codes(codes: &str, space: Space) -> Result<[(usize, f64); 3]> {
    let chars: Vec<char> = codes.trim().to_ascii_uppercase().chars().collect();
    let bad = |reason: &str| CoreError::InvalidOrientation {
        code: codes.to_string(),
        reason: reason.to_string(),
    };
    if chars.len() != 3 {
        return Err(bad("expected three letters from {R,L},{A,P},{S,I}"));
    }
    let _ = space; // letters are absolute anatomical directions; the space only names the convention
    let mut out = [(0usize, 1.0f64); 3];
    let mut seen = [false; 3];
    for (t, ch) in chars.iter().enumerate() {
        // In LPS: L, P, S are positive.
        let (row, sign) = match ch {
            'L' => (0, 1.0),
            'R' => (0, -1.0),
            'P' => (1, 1.0),
            'A' => (1, -1.0),
            'S' => (2, 1.0),
            'I' => (2, -1.0),
            _ => return Err(bad("letters must be R, L, A, P, S or I")),
        };
        if seen[row] {
            return Err(bad("two letters name the same axis"));
        }
        seen[row] = true;
        out[t] = (row, sign);
    }
    Ok(out)
}
