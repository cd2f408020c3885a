//! Joint loss: soft Dice + cross-entropy for segmentation, weighted BCE or focal loss for the
//! class logit(s). All reductions are explicit candle ops, so autograd covers them.

use crate::error::Result;
use candle_core::{D, DType, Tensor};
use serde::{Deserialize, Serialize};
use tomofuse_nn3d::softplus;

/// Loss on the class head.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ClassLoss {
    /// Binary cross-entropy on the logit; `pos_weight` multiplies the positive term
    /// (`None`: n_negative / n_positive of the training labels, as is usual for imbalance).
    Bce { pos_weight: Option<f64> },
    /// Focal loss (Lin et al. 2017): `alpha` weights positives, `gamma` focuses on hard cases.
    Focal { alpha: f64, gamma: f64 },
}

impl Default for ClassLoss {
    fn default() -> Self {
        ClassLoss::Bce { pos_weight: None }
    }
}

/// Soft Dice (over the foreground channels, batch-wise as nnU-Net's "batch dice") plus mean
/// voxel cross-entropy. `logits`: N x C x D x H x W; `onehot`: same shape, 0/1.
/// Returns (total, dice part, ce part).
pub fn dice_ce_loss(logits: &Tensor, onehot: &Tensor) -> Result<(Tensor, Tensor, Tensor)> {
    let logp = candle_nn::ops::log_softmax(logits, 1)?;
    let ce = (logp.mul(onehot)?.sum(1)?.mean_all()? * -1.0)?;
    let p = logp.exp()?;
    let c = logits.dim(1)?;
    let fg_p = p.narrow(1, 1, c - 1)?.transpose(0, 1)?.flatten_from(1)?;
    let fg_t = onehot
        .narrow(1, 1, c - 1)?
        .transpose(0, 1)?
        .flatten_from(1)?;
    let inter = fg_p.mul(&fg_t)?.sum(D::Minus1)?;
    let denom = (fg_p.sum(D::Minus1)? + fg_t.sum(D::Minus1)?)?;
    let smooth = 1e-5;
    let dice = ((inter * 2.0)? + smooth)?.div(&(denom + smooth)?)?;
    let dice_loss = (dice.mean_all()?.neg()? + 1.0)?;
    let total = (&dice_loss + &ce)?;
    Ok((total, dice_loss, ce))
}

/// Class loss over the cases whose label is known (`weight` 1) and ignoring the others
/// (`weight` 0). `logits`: N x K (K = 1: sigmoid; K >= 2: softmax, positive = class 1);
/// `target` and `weight`: length-N f32. Returns a scalar (0 when no label is known).
pub fn class_loss(
    logits: &Tensor,
    target: &Tensor,
    weight: &Tensor,
    kind: ClassLoss,
    pos_weight_auto: f64,
) -> Result<Tensor> {
    let k = logits.dim(1)?;
    let nlab = weight.sum_all()?.to_dtype(DType::F32)?.to_scalar::<f32>()?;
    if nlab <= 0.0 {
        return Ok(Tensor::zeros((), logits.dtype(), logits.device())?);
    }
    let per = if k == 1 {
        let x = logits.squeeze(1)?;
        match kind {
            ClassLoss::Bce { pos_weight } => {
                let pw = pos_weight.unwrap_or(pos_weight_auto);
                // -[pw y log s(x) + (1 - y) log(1 - s(x))]
                let pos = (softplus(&x.neg()?)?.mul(target)? * pw)?;
                let neg = softplus(&x)?.mul(&(target.neg()? + 1.0)?)?;
                (pos + neg)?
            }
            ClassLoss::Focal { alpha, gamma } => {
                let p = candle_nn::ops::sigmoid(&x)?;
                let one_m_p = (p.neg()? + 1.0)?;
                let lp = softplus(&x.neg()?)?; // -log p
                let l1p = softplus(&x)?; // -log(1 - p)
                let pos = (one_m_p
                    .clamp(0.0, 1.0)?
                    .powf(gamma)?
                    .mul(&lp)?
                    .mul(target)?
                    * alpha)?;
                let neg = (p
                    .clamp(0.0, 1.0)?
                    .powf(gamma)?
                    .mul(&l1p)?
                    .mul(&(target.neg()? + 1.0)?)?
                    * (1.0 - alpha))?;
                (pos + neg)?
            }
        }
    } else {
        let logp = candle_nn::ops::log_softmax(logits, 1)?;
        let t = target.to_dtype(DType::U32)?;
        let picked = logp.gather(&t.unsqueeze(1)?, 1)?.squeeze(1)?;
        picked.neg()?
    };
    Ok((per.mul(weight)?.sum_all()? / nlab as f64)?)
}
