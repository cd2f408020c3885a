//! The candle custom ops over the kernels, with their backward passes, and the functional
//! forms (`conv3d_op`, ...) the layers call.

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp2, DType, Layout, Result, Shape, Storage, Tensor};
use rayon::prelude::*;

use super::kernels::*;
use super::{Conv3dConfig, ConvTranspose3dConfig};
use crate::error::Nn3dError;
use crate::storage::f32_slice;

pub(super) fn check_f32(what: &'static str, t: &Tensor) -> Result<()> {
    if t.dtype() != DType::F32 {
        return Err(Nn3dError::DType {
            what,
            got: t.dtype(),
        }
        .into());
    }
    Ok(())
}

/// Parameters shared by the custom ops.
#[derive(Debug, Clone, Copy)]
pub(super) struct ConvParams {
    stride: usize,
    pad: usize,
    dil: usize,
    groups: usize,
}

impl ConvParams {
    fn geom(&self, what: &'static str, x: &[usize], w: &[usize]) -> Result<Geom> {
        Ok(Geom::forward(
            what,
            x,
            w,
            self.stride,
            self.pad,
            self.dil,
            self.groups,
        )?)
    }
}

/// y = conv3d(x, w) as a candle op with backward.
pub(super) struct Conv3dOp(ConvParams);

impl CustomOp2 for Conv3dOp {
    fn name(&self) -> &'static str {
        "conv3d"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let g = self.0.geom("conv3d", l1.dims(), l2.dims())?;
        let x = f32_slice("conv3d input", s1, l1)?;
        let w = f32_slice("conv3d weight", s2, l2)?;
        let y = kernel_fwd(&g, x, w, None, false);
        Ok((
            CpuStorage::F32(y),
            Shape::from(vec![g.n, g.cout, g.o[0], g.o[1], g.o[2]]),
        ))
    }
    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _y: &Tensor,
        gy: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let gy = gy.contiguous()?;
        if x.track_op() && w.track_op() && x.device().is_cpu() {
            let g = self.0.geom("conv3d backward", x.dims(), w.dims())?;
            if let Some(gt) = g.gather_transpose() {
                return fused_bwd(&g, &gt, x, w, &gy).map(|(gx, gw)| (Some(gx), Some(gw)));
            }
        }
        let gx = if x.track_op() {
            Some(gy.apply_op2_no_bwd(
                &w.contiguous()?,
                &ConvBwdInputOp {
                    p: self.0,
                    x_dims: x.dims().to_vec(),
                },
            )?)
        } else {
            None
        };
        let gw = if w.track_op() {
            Some(x.contiguous()?.apply_op2_no_bwd(
                &gy,
                &ConvBwdWeightOp {
                    p: self.0,
                    w_dims: w.dims().to_vec(),
                },
            )?)
        } else {
            None
        };
        Ok((gx, gw))
    }
}

/// Both gradients from one pass ([`kernel_bwd_fused`]), as plain tensors: candle's custom ops
/// return one tensor each, and the backward pass need not be differentiable itself.
fn fused_bwd(g: &Geom, gt: &Geom, x: &Tensor, w: &Tensor, gy: &Tensor) -> Result<(Tensor, Tensor)> {
    let (x, w) = (x.contiguous()?, w.contiguous()?);
    let (gx, gw) = {
        let (xs, xl) = x.storage_and_layout();
        let (ws, wl) = w.storage_and_layout();
        let (gs, gl) = gy.storage_and_layout();
        let (Storage::Cpu(xs), Storage::Cpu(ws), Storage::Cpu(gs)) = (&*xs, &*ws, &*gs) else {
            return Err(Nn3dError::Config {
                what: "conv3d backward",
                msg: "internal: fused backward on a non-CPU tensor".into(),
            }
            .into());
        };
        kernel_bwd_fused(
            g,
            gt,
            f32_slice("conv3d input", xs, xl)?,
            f32_slice("conv3d grad", gs, gl)?,
            f32_slice("conv3d weight", ws, wl)?,
        )
    };
    let dev = x.device();
    Ok((
        Tensor::from_vec(gx, x.dims(), dev)?,
        Tensor::from_vec(gw, w.dims(), dev)?,
    ))
}

/// y = conv3d(x, w) + b (then ReLU if `relu`), bias and activation applied inside the kernel.
pub(super) struct Conv3dBiasOp {
    p: ConvParams,
    relu: bool,
}

impl candle_core::CustomOp3 for Conv3dBiasOp {
    fn name(&self) -> &'static str {
        "conv3d-bias"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let g = self.p.geom("conv3d", l1.dims(), l2.dims())?;
        let x = f32_slice("conv3d input", s1, l1)?;
        let w = f32_slice("conv3d weight", s2, l2)?;
        let b = f32_slice("conv3d bias", s3, l3)?;
        if b.len() != g.cout {
            return Err(Nn3dError::Config {
                what: "conv3d",
                msg: format!("bias has {} values for {} output channels", b.len(), g.cout),
            }
            .into());
        }
        let y = kernel_fwd(&g, x, w, Some(b), self.relu);
        Ok((
            CpuStorage::F32(y),
            Shape::from(vec![g.n, g.cout, g.o[0], g.o[1], g.o[2]]),
        ))
    }
    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        y: &Tensor,
        gy: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let gy = if self.relu {
            (gy * y.gt(0f32)?.to_dtype(DType::F32)?)?
        } else {
            gy.clone()
        };
        let gy = &gy;
        let (gx, gw) = Conv3dOp(self.p).bwd(x, w, y, gy)?;
        let gb = if b.track_op() {
            Some(channel_sum(gy)?)
        } else {
            None
        };
        Ok((gx, gw, gb))
    }
}

/// Per-channel sum of an N x C x ... tensor (the bias gradient): one parallel pass over
/// contiguous planes with f64 partials, summed in a fixed order. candle's `sum` over axes
/// (0, 2, 3, 4) is a strided single-threaded reduction and cost as much as the convolution.
pub(super) struct ChannelSumOp;

impl candle_core::CustomOp1 for ChannelSumOp {
    fn name(&self) -> &'static str {
        "channel-sum"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let d = l.dims();
        if d.len() < 2 {
            return Err(Nn3dError::Rank {
                what: "channel sum",
                expected: 5,
                got: d.to_vec(),
            }
            .into());
        }
        let (c, plane) = (d[1], d[2..].iter().product::<usize>());
        let x = f32_slice("channel sum", s, l)?;
        let sums: Vec<f64> = x
            .par_chunks(plane.max(1))
            .map(|p| p.iter().map(|&v| v as f64).sum::<f64>())
            .collect();
        let mut out = vec![0f64; c];
        for (i, v) in sums.iter().enumerate() {
            out[i % c.max(1)] += v;
        }
        Ok((
            CpuStorage::F32(out.iter().map(|&v| v as f32).collect()),
            Shape::from(c),
        ))
    }
}

pub(super) fn channel_sum(gy: &Tensor) -> Result<Tensor> {
    if gy.device().is_cpu() && gy.dtype() == DType::F32 {
        gy.contiguous()?.apply_op1_no_bwd(&ChannelSumOp)
    } else {
        let axes: Vec<usize> = (0..gy.rank()).filter(|&a| a != 1).collect();
        gy.sum(axes)
    }
}

/// Transposed convolution plus bias [Cout], the bias added inside the op (saves a pass
/// forward and a broadcast reduction backward).
pub(super) struct ConvTranspose3dBiasOp(ConvTranspose3dOp);

impl candle_core::CustomOp3 for ConvTranspose3dBiasOp {
    fn name(&self) -> &'static str {
        "conv-transpose3d-bias"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (y, shape) = candle_core::CustomOp2::cpu_fwd(&self.0, s1, l1, s2, l2)?;
        let CpuStorage::F32(mut y) = y else {
            return Err(Nn3dError::DType {
                what: "conv_transpose3d",
                got: y.dtype(),
            }
            .into());
        };
        let b = f32_slice("conv_transpose3d bias", s3, l3)?;
        let d = shape.dims();
        if b.len() != d[1] {
            return Err(Nn3dError::Config {
                what: "conv_transpose3d",
                msg: format!("bias has {} values for {} output channels", b.len(), d[1]),
            }
            .into());
        }
        let plane = d[2..].iter().product::<usize>().max(1);
        y.par_chunks_mut(plane)
            .enumerate()
            .for_each(|(i, p)| epilogue(p, b[i % b.len()], false));
        Ok((CpuStorage::F32(y), shape))
    }
    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        y: &Tensor,
        gy: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (gx, gw) = candle_core::CustomOp2::bwd(&self.0, x, w, y, gy)?;
        let gb = if b.track_op() {
            Some(channel_sum(gy)?)
        } else {
            None
        };
        Ok((gx, gw, gb))
    }
}

/// gx = conv^T(gy, w) for the forward geometry with input dims `x_dims`.
pub(super) struct ConvBwdInputOp {
    p: ConvParams,
    x_dims: Vec<usize>,
}

impl CustomOp2 for ConvBwdInputOp {
    fn name(&self) -> &'static str {
        "conv3d-bwd-input"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let g = self.p.geom("conv3d backward", &self.x_dims, l2.dims())?;
        let gy_dims = l1.dims();
        if gy_dims != [g.n, g.cout, g.o[0], g.o[1], g.o[2]] {
            return Err(Nn3dError::Config {
                what: "conv3d backward",
                msg: format!(
                    "gradient shape {gy_dims:?} does not match output {:?}",
                    [g.n, g.cout, g.o[0], g.o[1], g.o[2]]
                ),
            }
            .into());
        }
        let gy = f32_slice("conv3d grad", s1, l1)?;
        let w = f32_slice("conv3d weight", s2, l2)?;
        let gx = kernel_bwd_input(&g, gy, w);
        Ok((CpuStorage::F32(gx), Shape::from(self.x_dims.clone())))
    }
}

/// gw = d conv(x, w) / d w for upstream gradient gy.
pub(super) struct ConvBwdWeightOp {
    p: ConvParams,
    w_dims: Vec<usize>,
}

impl CustomOp2 for ConvBwdWeightOp {
    fn name(&self) -> &'static str {
        "conv3d-bwd-weight"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let g = self.p.geom("conv3d backward", l1.dims(), &self.w_dims)?;
        if l2.dims() != [g.n, g.cout, g.o[0], g.o[1], g.o[2]] {
            return Err(Nn3dError::Config {
                what: "conv3d backward",
                msg: format!("gradient shape {:?} does not match output", l2.dims()),
            }
            .into());
        }
        let x = f32_slice("conv3d input", s1, l1)?;
        let gy = f32_slice("conv3d grad", s2, l2)?;
        let gw = kernel_bwd_weight(&g, x, gy);
        Ok((CpuStorage::F32(gw), Shape::from(g.weight_shape().to_vec())))
    }
}

/// Transposed convolution y = conv^T(x, w), w: [Cin, Cout/groups, k, k, k].
pub(super) struct ConvTranspose3dOp {
    p: ConvParams,
    output_padding: usize,
}

impl ConvTranspose3dOp {
    /// Output dims of the transposed convolution, i.e. the input dims of the matching conv.
    fn out_dims(&self, x: &[usize], w: &[usize]) -> Result<Vec<usize>> {
        let what = "conv_transpose3d";
        if x.len() != 5 || w.len() != 5 {
            return Err(Nn3dError::Rank {
                what,
                expected: 5,
                got: if x.len() != 5 { x.to_vec() } else { w.to_vec() },
            }
            .into());
        }
        let p = &self.p;
        if self.output_padding >= p.stride.max(p.dil) {
            return Err(Nn3dError::Config {
                what,
                msg: format!(
                    "output_padding {} must be smaller than stride {} or dilation {}",
                    self.output_padding, p.stride, p.dil
                ),
            }
            .into());
        }
        if x[1] != w[0] {
            return Err(Nn3dError::Channels {
                what,
                expected: w[0],
                got: x[1],
            }
            .into());
        }
        let mut out = vec![x[0], w[1] * p.groups];
        for a in 0..3 {
            let full = (x[2 + a].max(1) - 1) * p.stride
                + p.dil * (w[2 + a].max(1) - 1)
                + self.output_padding
                + 1;
            if full <= 2 * p.pad || x[2 + a] == 0 {
                return Err(Nn3dError::TooSmall {
                    what,
                    size: [x[2], x[3], x[4]],
                    extent: [w[2], w[3], w[4]],
                    padding: p.pad,
                }
                .into());
            }
            out.push(full - 2 * p.pad);
        }
        Ok(out)
    }
}

impl CustomOp2 for ConvTranspose3dOp {
    fn name(&self) -> &'static str {
        "conv-transpose3d"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let y_dims = self.out_dims(l1.dims(), l2.dims())?;
        let g = self.p.geom("conv_transpose3d", &y_dims, l2.dims())?;
        if l1.dims()[2..] != g.o {
            return Err(Nn3dError::Config {
                what: "conv_transpose3d",
                msg: format!(
                    "output_padding {} is not representable for input {:?}",
                    self.output_padding,
                    l1.dims()
                ),
            }
            .into());
        }
        let x = f32_slice("conv_transpose3d input", s1, l1)?;
        let w = f32_slice("conv_transpose3d weight", s2, l2)?;
        let y = kernel_bwd_input(&g, x, w);
        Ok((CpuStorage::F32(y), Shape::from(y_dims)))
    }
    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _y: &Tensor,
        gy: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let gy = gy.contiguous()?;
        let gx = if x.track_op() {
            Some(gy.apply_op2_no_bwd(&w.contiguous()?, &Conv3dOp(self.p))?)
        } else {
            None
        };
        let gw = if w.track_op() {
            Some(gy.apply_op2_no_bwd(
                &x.contiguous()?,
                &ConvBwdWeightOp {
                    p: self.p,
                    w_dims: w.dims().to_vec(),
                },
            )?)
        } else {
            None
        };
        Ok((gx, gw))
    }
}

/// conv3d on tensors: x [N, C, D, H, W], w [O, C/groups, kD, kH, kW] (PyTorch layout).
pub fn conv3d_op(x: &Tensor, w: &Tensor, cfg: Conv3dConfig) -> Result<Tensor> {
    check_f32("conv3d input", x)?;
    check_f32("conv3d weight", w)?;
    let p = ConvParams {
        stride: cfg.stride,
        pad: cfg.padding,
        dil: cfg.dilation,
        groups: cfg.groups,
    };
    // Validate eagerly so that errors name the layer input rather than an internal op.
    p.geom("conv3d", x.dims(), w.dims())?;
    x.contiguous()?.apply_op2(&w.contiguous()?, Conv3dOp(p))
}

/// conv3d plus bias [O] on tensors; the bias is added inside the kernel (saves a pass).
pub fn conv3d_bias_op(x: &Tensor, w: &Tensor, b: &Tensor, cfg: Conv3dConfig) -> Result<Tensor> {
    conv3d_bias_act(x, w, b, cfg, false)
}

/// relu(conv3d(x, w) + b) with bias and ReLU inside the kernel (saves two passes).
pub fn conv3d_bias_relu_op(
    x: &Tensor,
    w: &Tensor,
    b: &Tensor,
    cfg: Conv3dConfig,
) -> Result<Tensor> {
    conv3d_bias_act(x, w, b, cfg, true)
}

pub(super) fn conv3d_bias_act(
    x: &Tensor,
    w: &Tensor,
    b: &Tensor,
    cfg: Conv3dConfig,
    relu: bool,
) -> Result<Tensor> {
    check_f32("conv3d input", x)?;
    check_f32("conv3d weight", w)?;
    check_f32("conv3d bias", b)?;
    let p = ConvParams {
        stride: cfg.stride,
        pad: cfg.padding,
        dil: cfg.dilation,
        groups: cfg.groups,
    };
    p.geom("conv3d", x.dims(), w.dims())?;
    x.contiguous()?
        .apply_op3(&w.contiguous()?, &b.contiguous()?, Conv3dBiasOp { p, relu })
}

/// Transposed conv3d on tensors: x [N, Cin, D, H, W], w [Cin, Cout, kD, kH, kW] (PyTorch).
pub fn conv_transpose3d_op(x: &Tensor, w: &Tensor, cfg: ConvTranspose3dConfig) -> Result<Tensor> {
    check_f32("conv_transpose3d input", x)?;
    check_f32("conv_transpose3d weight", w)?;
    let op = ConvTranspose3dOp {
        p: ConvParams {
            stride: cfg.stride,
            pad: cfg.padding,
            dil: cfg.dilation,
            groups: 1,
        },
        output_padding: cfg.output_padding,
    };
    op.out_dims(x.dims(), w.dims())?;
    x.contiguous()?.apply_op2(&w.contiguous()?, op)
}

/// Transposed conv3d plus bias [Cout], the bias added inside the op.
pub fn conv_transpose3d_bias_op(
    x: &Tensor,
    w: &Tensor,
    b: &Tensor,
    cfg: ConvTranspose3dConfig,
) -> Result<Tensor> {
    check_f32("conv_transpose3d input", x)?;
    check_f32("conv_transpose3d weight", w)?;
    check_f32("conv_transpose3d bias", b)?;
    let op = ConvTranspose3dOp {
        p: ConvParams {
            stride: cfg.stride,
            pad: cfg.padding,
            dil: cfg.dilation,
            groups: 1,
        },
        output_padding: cfg.output_padding,
    };
    op.out_dims(x.dims(), w.dims())?;
    x.contiguous()?.apply_op3(
        &w.contiguous()?,
        &b.contiguous()?,
        ConvTranspose3dBiasOp(op),
    )
}

pub(super) fn add_bias(y: Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
    match bias {
        None => Ok(y),
        Some(b) => y.broadcast_add(&b.reshape((1, b.dim(0)?, 1, 1, 1))?),
    }
}
