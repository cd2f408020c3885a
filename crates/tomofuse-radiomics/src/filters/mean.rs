//! Mean filter: the average over a cube or square of `support` voxels,
//! as one 1D pass per filtered axis.

use super::conv::separable;
use super::{MeanParams, check_fits};
use crate::error::Result;
use ndarray::Array3;

pub(crate) fn apply(p: &MeanParams, a: &Array3<f64>) -> Result<Array3<f64>> {
    let f = p.dims.filtered();
    check_fits("support", p.support, a.shape(), f)?;
    let w = vec![1.0 / p.support as f64; p.support];
    let ks = f.map(|on| on.then_some(w.as_slice()));
    Ok(separable(a, ks, p.boundary))
}
