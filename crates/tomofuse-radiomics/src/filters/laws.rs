//! Laws kernels: products of the 1D kernels L3, E3, S3, L5, E5, S5, W5
//! and R5, each scaled to unit L2 norm, optional pooling over the right-angle rotations,
//! and the texture energy: the mean of |response| in a window of `2 delta + 1` voxels per
//! filtered axis, with the same boundary condition, computed after pooling.

use super::conv::{Pass, run_chains, separable};
use super::rotation::{rotate, rotations, unique};
use super::{Dims, LawsParams, Pooling, bad, check_fits};
use crate::error::Result;
use ndarray::{Array3, Zip};

/// Runs every chain of separable passes (one per rotation or kernel set) and pools the
/// responses voxel-wise: their maximum, or their mean.
pub(crate) fn pooled_chains(
    a: &Array3<f64>,
    chains: &[Vec<Pass>],
    boundary: super::Boundary,
    how: Pooling,
) -> Array3<f64> {
    let mut pooled: Option<Array3<f64>> = None;
    run_chains(a, chains, boundary, &mut |_, r| {
        pooled = Some(match pooled.take() {
            None => r,
            Some(mut acc) => {
                match how {
                    Pooling::Max => Zip::from(&mut acc)
                        .and(&r)
                        .par_for_each(|x, &y| *x = x.max(y)),
                    Pooling::Mean => acc += &r,
                }
                acc
            }
        });
    });
    let mut out = pooled.expect("at least one chain");
    if how == Pooling::Mean && chains.len() > 1 {
        let n = chains.len() as f64;
        out.mapv_inplace(|v| v / n);
    }
    out
}

/// The 1D Laws kernel `name` (case-insensitive), not normalised.
pub fn kernel_1d(name: &str) -> Option<Vec<f64>> {
    Some(match name.to_ascii_uppercase().as_str() {
        "L3" => vec![1.0, 2.0, 1.0],
        "E3" => vec![-1.0, 0.0, 1.0],
        "S3" => vec![-1.0, 2.0, -1.0],
        "L5" => vec![1.0, 4.0, 6.0, 4.0, 1.0],
        "E5" => vec![-1.0, -2.0, 0.0, 2.0, 1.0],
        "S5" => vec![-1.0, 0.0, 2.0, 0.0, -1.0],
        "W5" => vec![-1.0, 2.0, 0.0, -2.0, 1.0],
        "R5" => vec![1.0, -4.0, 6.0, -4.0, 1.0],
        _ => return None,
    })
}

/// A checked Laws filter: the normalised 1D kernels per axis.
#[derive(Debug, Clone)]
pub struct Laws {
    pub params: LawsParams,
    kernels: [Option<Vec<f64>>; 3],
}

impl Laws {
    pub(crate) fn new(p: LawsParams) -> Result<Self> {
        let s = p.kernel.trim();
        let want = if p.dims == Dims::D3 { 3 } else { 2 };
        if !s.is_ascii() || s.len() != 2 * want {
            return Err(bad(
                "kernel",
                format!(
                    "`{s}`: a {} Laws kernel is {want} names of 2 characters, e.g. {}",
                    if want == 3 { "3D" } else { "2D" },
                    if want == 3 { "E5L5S5" } else { "L5S5" }
                ),
            ));
        }
        let mut kernels: [Option<Vec<f64>>; 3] = [None, None, None];
        for (ax, k) in kernels.iter_mut().enumerate().take(want) {
            let name = &s[2 * ax..2 * ax + 2];
            let mut w = kernel_1d(name).ok_or_else(|| {
                bad(
                    "kernel",
                    format!(
                        "unknown Laws kernel `{name}` in `{s}` (known: L3 E3 S3 L5 E5 S5 W5 R5)"
                    ),
                )
            })?;
            let norm = w.iter().map(|v| v * v).sum::<f64>().sqrt();
            w.iter_mut().for_each(|v| *v /= norm);
            *k = Some(w);
        }
        if p.energy_delta.is_some_and(|d| d > 10_000) {
            return Err(bad(
                "energy_delta",
                "is unreasonably large (> 10000 voxels)",
            ));
        }
        Ok(Self { params: p, kernels })
    }

    pub(crate) fn apply(&self, a: &Array3<f64>) -> Result<Array3<f64>> {
        let p = &self.params;
        let f = p.dims.filtered();
        for k in self.kernels.iter().flatten() {
            check_fits("kernel", k.len(), a.shape(), f)?;
        }
        let sets = if p.rotation_invariant {
            unique(
                rotations(p.dims)
                    .into_iter()
                    .map(|r| rotate(&self.kernels, r))
                    .collect(),
            )
        } else {
            vec![self.kernels.clone()]
        };
        // z, then y, then x: rotations sharing their z (and y) kernels share those passes.
        let chains: Vec<Vec<Pass>> = sets
            .iter()
            .map(|set| {
                [2, 1, 0]
                    .into_iter()
                    .filter_map(|ax| set[ax].clone().map(|w| (ax, w)))
                    .collect()
            })
            .collect();
        let mut out = pooled_chains(a, &chains, p.boundary, p.pooling);
        if let Some(delta) = p.energy_delta {
            let w = vec![1.0 / (2 * delta + 1) as f64; 2 * delta + 1];
            out.mapv_inplace(f64::abs);
            let ks = f.map(|on| on.then_some(w.as_slice()));
            out = separable(&out, ks, p.boundary);
        }
        Ok(out)
    }
}
