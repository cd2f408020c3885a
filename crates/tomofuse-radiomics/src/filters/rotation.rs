//! Right-angle rotations of separable kernels (IBSI-2 rotation invariance): the 24 proper
//! rotations of a 3D kernel, or the 4 in-plane ones of a 2D kernel. A rotated separable
//! kernel is again separable: axis `t` gets the 1D kernel of axis `perm[t]`, reversed when
//! `flip[t]`; proper rotations are the signed permutations with determinant +1.

use super::Dims;

/// One rotation as a signed axis permutation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    pub perm: [usize; 3],
    pub flip: [bool; 3],
}

fn parity(p: [usize; 3]) -> i32 {
    let mut s = 1;
    for a in 0..3 {
        for b in a + 1..3 {
            if p[a] > p[b] {
                s = -s;
            }
        }
    }
    s
}

/// The proper rotations for `dims`, the identity first.
pub fn rotations(dims: Dims) -> Vec<Rotation> {
    let perms: &[[usize; 3]] = match dims {
        Dims::D3 => &[
            [0, 1, 2],
            [0, 2, 1],
            [1, 0, 2],
            [1, 2, 0],
            [2, 0, 1],
            [2, 1, 0],
        ],
        Dims::D2 => &[[0, 1, 2], [1, 0, 2]],
    };
    let nflip = if dims == Dims::D3 { 8 } else { 4 };
    let mut out = Vec::new();
    for &perm in perms {
        for m in 0..nflip {
            let flip = [m & 1 != 0, m & 2 != 0, m & 4 != 0];
            let sign = flip
                .iter()
                .fold(parity(perm), |s, &f| if f { -s } else { s });
            if sign == 1 {
                out.push(Rotation { perm, flip });
            }
        }
    }
    out
}

/// The kernels of a separable set after rotation `r` (None = axis not filtered).
pub fn rotate(k: &[Option<Vec<f64>>; 3], r: Rotation) -> [Option<Vec<f64>>; 3] {
    std::array::from_fn(|t| {
        k[r.perm[t]].as_ref().map(|w| {
            let mut w = w.clone();
            if r.flip[t] {
                w.reverse();
            }
            w
        })
    })
}

/// `items` without repeats, first occurrences kept in order: rotations that give the same
/// kernels count once in the pooling (as in MIRP (an IBSI-2 reference implementation)).
pub(crate) fn unique<T: PartialEq>(items: Vec<T>) -> Vec<T> {
    let mut out: Vec<T> = Vec::with_capacity(items.len());
    for it in items {
        if !out.contains(&it) {
            out.push(it);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn there_are_24_rotations_in_3d_and_4_in_2d() {
        assert_eq!(rotations(Dims::D3).len(), 24);
        assert_eq!(rotations(Dims::D2).len(), 4);
        assert_eq!(rotations(Dims::D3)[0].perm, [0, 1, 2]);
        assert_eq!(rotations(Dims::D3)[0].flip, [false; 3]);
    }
}
