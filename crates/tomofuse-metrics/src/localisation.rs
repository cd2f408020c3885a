//! Where an explanation map points: the "pointing game" used to check that a Grad-CAM map
//! localises the target (Zhang et al. 2018): a hit when the map's maximum falls in the target
//! region, tolerant by a few voxels because a coarse layer's map is upsampled.

use tomofuse_core::{Mask, Volume};

/// Index of the map's maximum (the first in C order on ties), or None when no voxel is
/// positive: a map with no positive evidence points nowhere.
pub fn peak(map: &Volume<f32>) -> Option<[usize; 3]> {
    let (at, v) =
        map.data.indexed_iter().fold(
            ((0, 0, 0), 0.0f32),
            |b, (i, &v)| if v > b.1 { (i, v) } else { b },
        );
    (v > 0.0).then_some([at.0, at.1, at.2])
}

/// Whether `p` lies within chessboard distance `r` of a non-zero voxel of `mask` (the mask
/// dilated by a cube of side `2r + 1`; the 26-neighbourhood for r = 1).
pub fn within(mask: &Mask, p: [usize; 3], r: usize) -> bool {
    let s = mask.shape();
    if (0..3).any(|a| p[a] >= s[a]) {
        return false;
    }
    let lo: [usize; 3] = std::array::from_fn(|a| p[a].saturating_sub(r));
    let hi: [usize; 3] = std::array::from_fn(|a| (p[a] + r).min(s[a] - 1));
    (lo[0]..=hi[0])
        .any(|i| (lo[1]..=hi[1]).any(|j| (lo[2]..=hi[2]).any(|k| mask.data[[i, j, k]] != 0)))
}

/// Share of the volume within chessboard distance `r` of the mask: the hit rate of a peak
/// placed uniformly at random, i.e. the chance level of [`within`].
pub fn dilated_fraction(mask: &Mask, r: usize) -> f64 {
    let s = mask.shape();
    let mut hit = 0usize;
    for i in 0..s[0] {
        for j in 0..s[1] {
            for k in 0..s[2] {
                hit += usize::from(within(mask, [i, j, k], r));
            }
        }
    }
    hit as f64 / (s[0] * s[1] * s[2]).max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array3;
    use tomofuse_core::Geometry;

    fn mask_with(shape: [usize; 3], on: &[[usize; 3]]) -> Mask {
        let mut data = Array3::<u8>::zeros(shape);
        for p in on {
            data[*p] = 1;
        }
        Mask::new(data, Geometry::default()).unwrap()
    }

    #[test]
    fn peak_is_the_first_maximum_and_none_without_positive_evidence() {
        let mut data = Array3::<f32>::zeros([3, 4, 5]);
        data[[1, 2, 3]] = 2.0;
        data[[2, 0, 0]] = 2.0;
        data[[0, 0, 1]] = 1.0;
        let v = Volume::new(data.clone(), Geometry::default()).unwrap();
        assert_eq!(peak(&v), Some([1, 2, 3]));
        let neg = Volume::new(data.mapv(|x| -x), Geometry::default()).unwrap();
        assert_eq!(peak(&neg), None);
    }

    #[test]
    fn a_single_voxel_dilated_by_r_is_a_clipped_cube() {
        // One voxel at a corner of 6^3: its r-dilation is the cube [0, r]^3 clipped to the
        // grid, (r + 1)^3 voxels; in the centre (2r + 1)^3.
        let corner = mask_with([6, 6, 6], &[[0, 0, 0]]);
        let centre = mask_with([7, 7, 7], &[[3, 3, 3]]);
        for r in 0..3usize {
            let n = (r + 1).pow(3) as f64;
            assert!((dilated_fraction(&corner, r) - n / 216.0).abs() < 1e-15);
            let m = (2 * r + 1).pow(3) as f64;
            assert!((dilated_fraction(&centre, r) - m / 343.0).abs() < 1e-15);
        }
        assert!(within(&corner, [1, 1, 1], 1));
        assert!(!within(&corner, [2, 0, 0], 1));
        assert!(within(&corner, [2, 0, 0], 2));
        assert!(
            !within(&corner, [9, 0, 0], 9),
            "a point off the grid is no hit"
        );
    }

    #[test]
    fn within_agrees_with_a_brute_force_distance() {
        let on: [[usize; 3]; 3] = [[1, 2, 3], [4, 0, 4], [2, 2, 2]];
        let m = mask_with([5, 4, 6], &on);
        for r in 0..3usize {
            for i in 0..5 {
                for j in 0..4 {
                    for k in 0..6 {
                        let p: [usize; 3] = [i, j, k];
                        let brute = on.iter().any(|q| (0..3).all(|a| p[a].abs_diff(q[a]) <= r));
                        assert_eq!(within(&m, p, r), brute, "{p:?} r {r}");
                    }
                }
            }
        }
    }
}
