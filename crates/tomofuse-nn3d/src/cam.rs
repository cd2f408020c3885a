//! The model-independent core of Grad-CAM (Selvaraju et al. 2017), shared by every 3D network.

use candle_core::{Result, Tensor, Var};

/// Grad-CAM at one layer: `activation` (N x C x d x h x w) becomes a gradient leaf,
/// `logits_from` runs the rest of the network from it (N x K), and the map is
/// ReLU(sum_c w_c A_c) with w_c the spatial mean of d(sum over the batch of logit `class`)/dA_c.
/// Returns N x 1 x d x h x w at the layer's resolution, unscaled; callers upsample to the input
/// grid and scale as they document. candle keeps gradients only for leaves, hence the split.
pub fn grad_cam_at<F>(activation: &Tensor, class: usize, logits_from: F) -> Result<Tensor>
where
    F: FnOnce(&Tensor) -> Result<Tensor>,
{
    let a = Var::from_tensor(&activation.detach())?;
    let logits = logits_from(a.as_tensor())?;
    let k = logits.dim(candle_core::D::Minus1)?;
    if class >= k {
        return Err(candle_core::Error::Msg(format!(
            "Grad-CAM: class index {class} >= number of logits {k}"
        )));
    }
    let score = logits.narrow(1, class, 1)?.sum_all()?;
    let grads = score.backward()?;
    let g = grads.get(a.as_tensor()).ok_or_else(|| {
        candle_core::Error::Msg("Grad-CAM: the class logit does not depend on this layer".into())
    })?;
    let w = g.mean_keepdim(vec![2usize, 3, 4])?;
    a.as_tensor().broadcast_mul(&w)?.sum_keepdim(1)?.relu()
}
