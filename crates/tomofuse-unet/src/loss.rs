//! Joint loss: soft Dice + cross-entropy for segmentation, weighted BCE or focal loss for the
//! class logit(s). The segmentation loss is one custom op with its own backward; the class
//! losses are candle ops, so autograd covers them.

use crate::error::{Result, UnetError};
use candle_core::{DType, Tensor};
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
/// voxel cross-entropy. `logits`: N x C x D x H x W (C >= 2); `onehot`: same shape, 0/1.
/// Returns (total, dice part, ce part).
///
/// One custom op ([`DiceCeOp`]): a pass over the logits for the log-softmax, the cross-entropy
/// and the Dice sums, and one for the gradient. As a composition of candle ops it took about
/// fifteen passes forward and backward, each backward node zero-filling and adding its
/// gradient (6% of a U-Net training step).
pub fn dice_ce_loss(logits: &Tensor, onehot: &Tensor) -> Result<(Tensor, Tensor, Tensor)> {
    let d = logits.dims();
    if d.len() < 3 || d[1] < 2 || onehot.dims() != d {
        return Err(UnetError::InputShape {
            shape: d.to_vec(),
            reason: format!(
                "dice_ce_loss needs N x C x spatial logits with C >= 2 and a one-hot target of \
                 the same shape (target {:?})",
                onehot.dims()
            ),
        });
    }
    if logits.dtype() != DType::F32 || onehot.dtype() != DType::F32 {
        return Err(UnetError::InputShape {
            shape: d.to_vec(),
            reason: "dice_ce_loss takes f32 logits and target".into(),
        });
    }
    let op = DiceCeOp {
        smooth: DICE_SMOOTH,
        sums: Default::default(),
    };
    let out = logits.contiguous()?.apply_op2(&onehot.contiguous()?, op)?;
    let part = |i: usize| out.narrow(0, i, 1).and_then(|t| t.reshape(()));
    Ok((part(0)?, part(1)?, part(2)?))
}

/// Added to the Dice numerator and denominator.
const DICE_SMOOTH: f64 = 1e-5;

/// Voxels per unit of parallel work (per batch item); sums are combined in unit order.
const VOXEL_CHUNK: usize = 4096;

/// Per foreground channel: sum p * t, sum p, sum t (over the batch and the voxels).
type DiceSums = Vec<[f64; 3]>;

/// The log-softmax over the channels of one voxel (`z[c * s]`), into `logp`.
fn log_softmax_at(z: &[f32], s: usize, logp: &mut [f32]) {
    let m = (0..logp.len()).fold(f32::NEG_INFINITY, |m, c| m.max(z[c * s]));
    let se: f32 = (0..logp.len()).map(|c| (z[c * s] - m).exp()).sum();
    let lse = m + se.ln();
    for (c, l) in logp.iter_mut().enumerate() {
        *l = z[c * s] - lse;
    }
}

/// (N, C, voxels per item) of a contiguous N x C x ... layout, and its values.
fn ncs<'a>(
    st: &'a candle_core::CpuStorage,
    l: &candle_core::Layout,
) -> candle_core::Result<(usize, usize, usize, &'a [f32])> {
    let v = tomofuse_nn3d::storage::f32_slice("dice_ce_loss", st, l)?;
    let d = l.dims();
    Ok((d[0], d[1], d[2..].iter().product(), v))
}

/// The units of work: (batch item, first voxel, end voxel).
fn units(n: usize, s: usize) -> Vec<(usize, usize, usize)> {
    (0..n)
        .flat_map(|b| {
            (0..s)
                .step_by(VOXEL_CHUNK)
                .map(move |v0| (b, v0, (v0 + VOXEL_CHUNK).min(s)))
        })
        .collect()
}

/// Forward: [total, dice loss, ce] from (logits, onehot).
struct DiceCeOp {
    smooth: f64,
    sums: std::sync::Arc<std::sync::Mutex<DiceSums>>,
}

impl candle_core::CustomOp2 for DiceCeOp {
    fn name(&self) -> &'static str {
        "dice-ce-loss"
    }

    fn cpu_fwd(
        &self,
        s1: &candle_core::CpuStorage,
        l1: &candle_core::Layout,
        s2: &candle_core::CpuStorage,
        l2: &candle_core::Layout,
    ) -> candle_core::Result<(candle_core::CpuStorage, candle_core::Shape)> {
        use rayon::prelude::*;
        let (n, c, s, z) = ncs(s1, l1)?;
        let (_, _, _, t) = ncs(s2, l2)?;
        // Per unit: the cross-entropy sum and the Dice sums, combined in unit order below.
        let parts: Vec<(f64, DiceSums)> = units(n, s)
            .par_iter()
            .map(|&(b, v0, v1)| {
                let (zb, tb) = (&z[b * c * s..][..c * s], &t[b * c * s..][..c * s]);
                let mut logp = vec![0f32; c];
                let (mut ce, mut sums) = (0f64, vec![[0f64; 3]; c - 1]);
                for v in v0..v1 {
                    log_softmax_at(&zb[v..], s, &mut logp);
                    for (k, &lp) in logp.iter().enumerate() {
                        let tk = tb[k * s + v];
                        ce -= (tk * lp) as f64;
                        if k > 0 {
                            let p = lp.exp();
                            let e = &mut sums[k - 1];
                            e[0] += (p * tk) as f64;
                            e[1] += p as f64;
                            e[2] += tk as f64;
                        }
                    }
                }
                (ce, sums)
            })
            .collect();
        let (mut ce, mut sums) = (0f64, vec![[0f64; 3]; c - 1]);
        for (pc, ps) in &parts {
            ce += pc;
            for (a, b) in sums.iter_mut().zip(ps) {
                for i in 0..3 {
                    a[i] += b[i];
                }
            }
        }
        let ce = ce / (n * s).max(1) as f64;
        let dice = sums
            .iter()
            .map(|[i, p, t]| (2.0 * i + self.smooth) / (p + t + self.smooth))
            .sum::<f64>()
            / (c - 1) as f64;
        let dice_loss = 1.0 - dice;
        if let Ok(mut st) = self.sums.lock() {
            *st = sums;
        }
        let out = vec![(dice_loss + ce) as f32, dice_loss as f32, ce as f32];
        Ok((
            candle_core::CpuStorage::F32(out),
            candle_core::Shape::from(3),
        ))
    }

    fn bwd(
        &self,
        z: &Tensor,
        t: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let g = grad_res.to_vec1::<f32>()?;
        let sums = self
            .sums
            .lock()
            .map_err(|_| candle_core::Error::Msg("dice-ce: poisoned sums".into()))?
            .clone();
        let gz = z.apply_op2_no_bwd(
            t,
            &DiceCeBwdOp {
                g_ce: (g[0] + g[2]) as f64,
                g_dice: (g[0] + g[1]) as f64,
                smooth: self.smooth,
                sums,
            },
        )?;
        Ok((Some(gz), None))
    }
}

/// Backward of [`DiceCeOp`]: the gradient at the logits. With p the softmax, T the target's
/// sum over channels at a voxel and V the voxels of the batch, d ce / d z_c = (p_c T - t_c) / V;
/// the Dice loss's gradient at p_k (k >= 1) is q_k = -(2 t_k / den_k - (2 I_k + s) / den_k^2)
/// / K (den_k = P_k + T_k + s, K foreground channels), taken through the softmax as
/// p_c (q_c - sum_j p_j q_j).
struct DiceCeBwdOp {
    g_ce: f64,
    g_dice: f64,
    smooth: f64,
    sums: DiceSums,
}

impl candle_core::CustomOp2 for DiceCeBwdOp {
    fn name(&self) -> &'static str {
        "dice-ce-loss-bwd"
    }

    fn cpu_fwd(
        &self,
        s1: &candle_core::CpuStorage,
        l1: &candle_core::Layout,
        s2: &candle_core::CpuStorage,
        l2: &candle_core::Layout,
    ) -> candle_core::Result<(candle_core::CpuStorage, candle_core::Shape)> {
        use rayon::prelude::*;
        let (n, c, s, z) = ncs(s1, l1)?;
        let (_, _, _, t) = ncs(s2, l2)?;
        if self.sums.len() + 1 != c {
            return Err(candle_core::Error::Msg(
                "dice-ce backward: sums do not match the channels".into(),
            ));
        }
        let kf = (c - 1) as f64;
        let gv = self.g_ce / (n * s).max(1) as f64;
        // Per foreground channel: (2 / den, (2 I + s) / den^2).
        let ab: Vec<(f64, f64)> = self
            .sums
            .iter()
            .map(|[i, p, tt]| {
                let den = p + tt + self.smooth;
                (2.0 / den, (2.0 * i + self.smooth) / (den * den))
            })
            .collect();
        let mut gz = vec![0f32; z.len()];
        let out = tomofuse_nn3d::storage::SyncPtr::new(gz.as_mut_ptr());
        units(n, s).par_iter().for_each(|&(b, v0, v1)| {
            let (zb, tb) = (&z[b * c * s..][..c * s], &t[b * c * s..][..c * s]);
            let (mut logp, mut p, mut q) = (vec![0f32; c], vec![0f64; c], vec![0f64; c]);
            for v in v0..v1 {
                log_softmax_at(&zb[v..], s, &mut logp);
                let mut tsum = 0f64;
                let mut dot = 0f64;
                for k in 0..c {
                    let tk = tb[k * s + v] as f64;
                    tsum += tk;
                    q[k] = if k == 0 {
                        0.0
                    } else {
                        let (a, bb) = ab[k - 1];
                        -(a * tk - bb) / kf
                    };
                    p[k] = logp[k].exp() as f64;
                    dot += p[k] * q[k];
                }
                for k in 0..c {
                    let tk = tb[k * s + v] as f64;
                    let gk = gv * (p[k] * tsum - tk) + self.g_dice * p[k] * (q[k] - dot);
                    // SAFETY: unit (b, v0..v1) alone writes voxels v0..v1 of item b.
                    unsafe { *out.get().add((b * c + k) * s + v) = gk as f32 };
                }
            }
        });
        let shape = l1.shape().clone();
        Ok((candle_core::CpuStorage::F32(gz), shape))
    }
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
