//! Normalisation layers for NCDHW tensors (PyTorch semantics and parameter names).

mod plane;

use candle_core::{Result, Tensor, Var};
use candle_nn::{Init, VarBuilder};

use crate::error::Nn3dError;

fn check5(what: &'static str, x: &Tensor, c: usize) -> Result<[usize; 5]> {
    let d = match x.dims() {
        [n, cc, a, b, e] => [*n, *cc, *a, *b, *e],
        other => {
            return Err(Nn3dError::Rank {
                what,
                expected: 5,
                got: other.to_vec(),
            }
            .into());
        }
    };
    if d[1] != c {
        return Err(Nn3dError::Channels {
            what,
            expected: c,
            got: d[1],
        }
        .into());
    }
    Ok(d)
}

fn per_channel(t: &Tensor) -> Result<Tensor> {
    t.reshape((1, (), 1, 1, 1))
}

/// Batch normalisation over (N, D, H, W) per channel. Names: weight, bias, running_mean,
/// running_var (PyTorch's num_batches_tracked is not used and may be absent).
#[derive(Debug, Clone)]
pub struct BatchNorm3d {
    weight: Tensor,
    bias: Tensor,
    running_mean: Var,
    running_var: Var,
    eps: f64,
    momentum: f64,
}

/// BatchNorm3d from a VarBuilder. With a VarMap-backed builder the running statistics are
/// variables of the map (updated in place in training mode, saved with the checkpoint; they
/// never receive gradients).
pub fn batch_norm3d(c: usize, eps: f64, momentum: f64, vb: VarBuilder) -> Result<BatchNorm3d> {
    if !(0.0..=1.0).contains(&momentum) || eps.is_nan() || eps < 0.0 {
        return Err(Nn3dError::Config {
            what: "batch_norm3d",
            msg: format!("momentum {momentum} must be in [0, 1] and eps {eps} >= 0"),
        }
        .into());
    }
    let weight = vb.get_with_hints(c, "weight", Init::Const(1.0))?;
    let bias = vb.get_with_hints(c, "bias", Init::Const(0.0))?;
    let rm = vb.get_with_hints(c, "running_mean", Init::Const(0.0))?;
    let rv = vb.get_with_hints(c, "running_var", Init::Const(1.0))?;
    Ok(BatchNorm3d {
        weight,
        bias,
        running_mean: Var::from_tensor(&rm)?,
        running_var: Var::from_tensor(&rv)?,
        eps,
        momentum,
    })
}

impl BatchNorm3d {
    pub fn running_mean(&self) -> &Tensor {
        self.running_mean.as_tensor()
    }
    pub fn running_var(&self) -> &Tensor {
        self.running_var.as_tensor()
    }

    /// Eval mode as a per-channel affine map y = x * scale + shift (for folding into a
    /// preceding convolution). Gradients flow to weight and bias.
    pub fn eval_scale_shift(&self) -> Result<(Tensor, Tensor)> {
        let inv = (self.running_var.as_detached_tensor() + self.eps)?
            .sqrt()?
            .recip()?;
        let scale = (&self.weight * inv)?;
        let shift = (&self.bias - (self.running_mean.as_detached_tensor() * &scale)?)?;
        Ok((scale, shift))
    }

    /// Training mode normalises with the batch statistics and updates the running ones
    /// (unbiased variance, PyTorch's momentum convention); eval mode uses the running ones.
    pub fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        self.forward_relu_t(x, train, false)
    }

    /// [`BatchNorm3d::forward_t`], then ReLU when `relu`. In training mode the ReLU is part of
    /// the norm's op (forward and backward), which saves candle's ReLU node: a pass forward,
    /// and a comparison, a multiplication and a gradient accumulation backward.
    pub fn forward_relu_t(&self, x: &Tensor, train: bool, relu: bool) -> Result<Tensor> {
        let c = self.weight.dim(0)?;
        let d = check5("batch_norm3d", x, c)?;
        if !train {
            let (scale, shift) = self.eval_scale_shift()?;
            let y = x
                .broadcast_mul(&per_channel(&scale)?)?
                .broadcast_add(&per_channel(&shift)?)?;
            return if relu { y.relu() } else { Ok(y) };
        }
        let count = d[0] * d[2] * d[3] * d[4];
        if count < 2 {
            return Err(Nn3dError::Config {
                what: "batch_norm3d",
                msg: format!("training needs more than one value per channel, input {d:?}"),
            }
            .into());
        }
        let (y, stats) = fused_norm(x, &self.weight, &self.bias, NormKind::Batch, self.eps, relu)?;
        let m = self.momentum;
        let unbias = count as f64 / (count as f64 - 1.0);
        let dev = x.device();
        let mean = Tensor::from_vec(stats.iter().map(|s| s.0 as f32).collect(), c, dev)?;
        let var = Tensor::from_vec(stats.iter().map(|s| s.1 as f32).collect(), c, dev)?;
        let new_mean = ((self.running_mean.as_detached_tensor() * (1.0 - m))? + (mean * m)?)?;
        let new_var =
            ((self.running_var.as_detached_tensor() * (1.0 - m))? + (var * (m * unbias))?)?;
        self.running_mean.set(&new_mean)?;
        self.running_var.set(&new_var)?;
        Ok(y)
    }
}

/// Instance normalisation with affine parameters "weight" and "bias" (no running stats, as
/// PyTorch's default `track_running_stats=False`).
#[derive(Debug, Clone)]
pub struct InstanceNorm3d {
    weight: Option<Tensor>,
    bias: Option<Tensor>,
    channels: usize,
    eps: f64,
}

/// InstanceNorm3d; `affine` adds "weight" (ones) and "bias" (zeros).
pub fn instance_norm3d(c: usize, eps: f64, affine: bool, vb: VarBuilder) -> Result<InstanceNorm3d> {
    let (weight, bias) = if affine {
        (
            Some(vb.get_with_hints(c, "weight", Init::Const(1.0))?),
            Some(vb.get_with_hints(c, "bias", Init::Const(0.0))?),
        )
    } else {
        (None, None)
    };
    Ok(InstanceNorm3d {
        weight,
        bias,
        channels: c,
        eps,
    })
}

impl InstanceNorm3d {
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        check5("instance_norm3d", x, self.channels)?;
        let dev = x.device();
        let ones;
        let zeros;
        let w = match &self.weight {
            Some(w) => w,
            None => {
                ones = Tensor::ones(self.channels, candle_core::DType::F32, dev)?;
                &ones
            }
        };
        let b = match &self.bias {
            Some(b) => b,
            None => {
                zeros = Tensor::zeros(self.channels, candle_core::DType::F32, dev)?;
                &zeros
            }
        };
        Ok(fused_norm(x, w, b, NormKind::Instance, self.eps, false)?.0)
    }
}

impl candle_core::Module for InstanceNorm3d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        InstanceNorm3d::forward(self, x)
    }
}

/// Group normalisation with "weight" and "bias" per channel.
#[derive(Debug, Clone)]
pub struct GroupNorm3d {
    weight: Tensor,
    bias: Tensor,
    groups: usize,
    eps: f64,
}

/// GroupNorm3d (`c` must be divisible by `groups`).
pub fn group_norm3d(groups: usize, c: usize, eps: f64, vb: VarBuilder) -> Result<GroupNorm3d> {
    if groups == 0 || !c.is_multiple_of(groups) {
        return Err(Nn3dError::Config {
            what: "group_norm3d",
            msg: format!("{c} channels not divisible into {groups} groups"),
        }
        .into());
    }
    Ok(GroupNorm3d {
        weight: vb.get_with_hints(c, "weight", Init::Const(1.0))?,
        bias: vb.get_with_hints(c, "bias", Init::Const(0.0))?,
        groups,
        eps,
    })
}

impl GroupNorm3d {
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        check5("group_norm3d", x, self.weight.dim(0)?)?;
        Ok(fused_norm(
            x,
            &self.weight,
            &self.bias,
            NormKind::Group(self.groups),
            self.eps,
            false,
        )?
        .0)
    }
}

impl candle_core::Module for GroupNorm3d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        GroupNorm3d::forward(self, x)
    }
}

/// Which voxels share normalisation statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NormKind {
    /// per (n, c)
    Instance,
    /// per (n, group of channels)
    Group(usize),
    /// per c, over the batch
    Batch,
}

impl NormKind {
    fn n_groups(self, n: usize, c: usize) -> usize {
        match self {
            NormKind::Instance => n * c,
            NormKind::Group(g) => n * g,
            NormKind::Batch => c,
        }
    }
    fn group_of(self, n: usize, ch: usize, c: usize) -> usize {
        match self {
            NormKind::Instance => n * c + ch,
            NormKind::Group(g) => n * g + ch / (c / g),
            NormKind::Batch => ch,
        }
    }
}

/// Fused normalisation + affine: y = (x - mean_g) * rstd_g * w[c] + b[c], then ReLU when
/// `relu`; one pass for the statistics (f64 sums per plane) and one for the output. The
/// statistics are kept for the backward pass (and for the batch-norm running averages).
struct NormOp {
    kind: NormKind,
    eps: f64,
    relu: bool,
    /// per group: (mean, biased variance)
    stats: std::sync::Arc<std::sync::Mutex<Vec<(f64, f64)>>>,
}

fn norm_dims(l: &candle_core::Layout) -> Result<(usize, usize, usize)> {
    match l.dims() {
        [n, c, rest @ ..] => Ok((*n, *c, rest.iter().product())),
        other => Err(Nn3dError::Rank {
            what: "norm",
            expected: 5,
            got: other.to_vec(),
        }
        .into()),
    }
}

/// The norm ops' inputs, through the crate's one CPU-buffer reader.
fn slice_f32<'a>(s: &'a candle_core::CpuStorage, l: &candle_core::Layout) -> Result<&'a [f32]> {
    crate::storage::f32_slice("norm", s, l)
}

impl candle_core::CustomOp3 for NormOp {
    fn name(&self) -> &'static str {
        "norm3d"
    }
    fn cpu_fwd(
        &self,
        s1: &candle_core::CpuStorage,
        l1: &candle_core::Layout,
        s2: &candle_core::CpuStorage,
        l2: &candle_core::Layout,
        s3: &candle_core::CpuStorage,
        l3: &candle_core::Layout,
    ) -> Result<(candle_core::CpuStorage, candle_core::Shape)> {
        use rayon::prelude::*;
        let (n, c, s) = norm_dims(l1)?;
        let x = slice_f32(s1, l1)?;
        let w = slice_f32(s2, l2)?;
        let b = slice_f32(s3, l3)?;
        let plane: Vec<(f64, f64)> = x.par_chunks(s.max(1)).map(plane::sum_sq).collect();
        let ng = self.kind.n_groups(n, c);
        let mut acc = vec![(0f64, 0f64, 0usize); ng];
        for (i, &(a, q)) in plane.iter().enumerate() {
            let g = self.kind.group_of(i / c, i % c, c);
            acc[g].0 += a;
            acc[g].1 += q;
            acc[g].2 += s;
        }
        let stats: Vec<(f64, f64)> = acc
            .iter()
            .map(|&(a, q, k)| {
                let k = k.max(1) as f64;
                let m = a / k;
                (m, (q / k - m * m).max(0.0))
            })
            .collect();
        let mut y = vec![0f32; x.len()];
        y.par_chunks_mut(s.max(1))
            .zip(x.par_chunks(s.max(1)))
            .enumerate()
            .for_each(|(i, (yp, xp))| {
                let ch = i % c;
                let st = stats[self.kind.group_of(i / c, ch, c)];
                let [scale, shift] = plane_affine(st, self.eps, w[ch], b[ch]);
                plane::affine(yp, xp, scale, shift, self.relu);
            });
        if let Ok(mut st) = self.stats.lock() {
            *st = stats;
        }
        Ok((candle_core::CpuStorage::F32(y), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        _y: &Tensor,
        gy: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let stats = self
            .stats
            .lock()
            .map_err(|_| candle_core::Error::Msg("norm3d: poisoned statistics".into()))?
            .clone();
        let bias = if self.relu {
            Some(b.to_vec1::<f32>()?)
        } else {
            None
        };
        let packed = x.apply_op3_no_bwd(
            &gy.contiguous()?,
            w,
            &NormBwdOp {
                kind: self.kind,
                eps: self.eps,
                stats,
                bias,
            },
        )?;
        let len = x.elem_count();
        let c = w.elem_count();
        let gx = packed.narrow(0, 0, len)?.reshape(x.shape())?;
        let gw = packed.narrow(0, len, c)?;
        let gb = packed.narrow(0, len + c, c)?;
        Ok((
            x.track_op().then_some(gx),
            w.track_op().then_some(gw),
            b.track_op().then_some(gb),
        ))
    }
}

/// Backward of `NormOp`: returns [gx (flattened), gw (C), gb (C)] in one buffer. With the
/// ReLU (`bias` given, to recompute the forward's pre-ReLU values), gy is first multiplied by
/// the ReLU's gradient factor, as candle's ReLU node would.
struct NormBwdOp {
    kind: NormKind,
    eps: f64,
    stats: Vec<(f64, f64)>,
    bias: Option<Vec<f32>>,
}

/// Per plane of channel `ch`, the forward's f32 (scale, shift): y = x * scale + shift.
fn plane_affine((m, v): (f64, f64), eps: f64, w: f32, b: f32) -> [f32; 2] {
    let rstd = 1.0 / (v + eps).sqrt();
    let scale = rstd * w as f64;
    let shift = b as f64 - m * scale;
    [scale as f32, shift as f32]
}

impl candle_core::CustomOp3 for NormBwdOp {
    fn name(&self) -> &'static str {
        "norm3d-bwd"
    }
    fn cpu_fwd(
        &self,
        s1: &candle_core::CpuStorage,
        l1: &candle_core::Layout,
        s2: &candle_core::CpuStorage,
        l2: &candle_core::Layout,
        s3: &candle_core::CpuStorage,
        l3: &candle_core::Layout,
    ) -> Result<(candle_core::CpuStorage, candle_core::Shape)> {
        use rayon::prelude::*;
        let (n, c, s) = norm_dims(l1)?;
        let x = slice_f32(s1, l1)?;
        let gy = slice_f32(s2, l2)?;
        let w = slice_f32(s3, l3)?;
        if self.stats.len() != self.kind.n_groups(n, c) || gy.len() != x.len() {
            return Err(Nn3dError::Config {
                what: "norm3d backward",
                msg: "statistics or gradient do not match the input".into(),
            }
            .into());
        }
        // The ReLU's (scale, shift) of plane i, when there is a ReLU.
        let relu = |i: usize| {
            self.bias.as_ref().map(|b| {
                let ch = i % c;
                plane_affine(
                    self.stats[self.kind.group_of(i / c, ch, c)],
                    self.eps,
                    w[ch],
                    b[ch],
                )
            })
        };
        // per plane: sum gy, sum gy * x
        let plane: Vec<(f64, f64)> = gy
            .par_chunks(s.max(1))
            .zip(x.par_chunks(s.max(1)))
            .enumerate()
            .map(|(i, (g, xp))| plane::sum_gx(g, xp, relu(i)))
            .collect();
        let ng = self.stats.len();
        let rstd: Vec<f64> = self
            .stats
            .iter()
            .map(|&(_, v)| 1.0 / (v + self.eps).sqrt())
            .collect();
        let mut gw = vec![0f64; c];
        let mut gb = vec![0f64; c];
        let mut ga = vec![0f64; ng];
        let mut gbx = vec![0f64; ng];
        let mut cnt = vec![0usize; ng];
        for (i, &(sg, sgx)) in plane.iter().enumerate() {
            let ch = i % c;
            let g = self.kind.group_of(i / c, ch, c);
            let (m, _) = self.stats[g];
            let sgxhat = (sgx - m * sg) * rstd[g];
            gb[ch] += sg;
            gw[ch] += sgxhat;
            ga[g] += w[ch] as f64 * sg;
            gbx[g] += w[ch] as f64 * sgxhat;
            cnt[g] += s;
        }
        let mut out = vec![0f32; x.len() + 2 * c];
        let (gx, rest) = out.split_at_mut(x.len());
        gx.par_chunks_mut(s.max(1))
            .zip(gy.par_chunks(s.max(1)).zip(x.par_chunks(s.max(1))))
            .enumerate()
            .for_each(|(i, (gxp, (gp, xp)))| {
                let ch = i % c;
                let g = self.kind.group_of(i / c, ch, c);
                let (m, _) = self.stats[g];
                let r = rstd[g];
                let k = cnt[g].max(1) as f64;
                let (ma, mb) = (ga[g] / k, gbx[g] / k);
                // gx = r * (gy*w - ma - xhat*mb), xhat = (x - m) * r
                let alpha = (r * w[ch] as f64) as f32;
                let beta = (-r * r * mb) as f32;
                let gamma = (r * (-ma + m * r * mb)) as f32;
                plane::affine2(gxp, gp, xp, [alpha, beta, gamma], relu(i));
            });
        for ch in 0..c {
            rest[ch] = gw[ch] as f32;
            rest[c + ch] = gb[ch] as f32;
        }
        let len = out.len();
        Ok((
            candle_core::CpuStorage::F32(out),
            candle_core::Shape::from(len),
        ))
    }
}

/// Runs the fused normalisation; returns the output and the per-group (mean, biased var).
fn fused_norm(
    x: &Tensor,
    w: &Tensor,
    b: &Tensor,
    kind: NormKind,
    eps: f64,
    relu: bool,
) -> Result<(Tensor, Vec<(f64, f64)>)> {
    if x.dtype() != candle_core::DType::F32 {
        return Err(Nn3dError::DType {
            what: "norm3d",
            got: x.dtype(),
        }
        .into());
    }
    let stats = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let op = NormOp {
        kind,
        eps,
        relu,
        stats: stats.clone(),
    };
    let y = x
        .contiguous()?
        .apply_op3(&w.contiguous()?, &b.contiguous()?, op)?;
    let st = stats
        .lock()
        .map_err(|_| candle_core::Error::Msg("norm3d: poisoned statistics".into()))?
        .clone();
    Ok((y, st))
}

/// Instance norm (no affine, MONAI's default) followed by PReLU with one shared slope, as one
/// op: MONAI's "NA" pair in two passes forward and two backward, without the intermediate
/// tensor and its autograd node (candle zero-fills and adds every node's gradient, a full pass
/// each). `slope` is a 1-element tensor (the PReLU weight, trainable).
pub fn instance_norm_prelu(x: &Tensor, slope: &Tensor, eps: f64) -> Result<Tensor> {
    if x.rank() != 5 {
        return Err(Nn3dError::Rank {
            what: "instance_norm_prelu",
            expected: 5,
            got: x.dims().to_vec(),
        }
        .into());
    }
    if x.dtype() != candle_core::DType::F32 || slope.dtype() != candle_core::DType::F32 {
        return Err(Nn3dError::DType {
            what: "instance_norm_prelu",
            got: x.dtype(),
        }
        .into());
    }
    if slope.elem_count() != 1 {
        return Err(Nn3dError::Config {
            what: "instance_norm_prelu",
            msg: format!("slope must have one value, got shape {:?}", slope.dims()),
        }
        .into());
    }
    let op = NormPreluOp {
        eps,
        stats: std::sync::Arc::new(std::sync::Mutex::new(Vec::new())),
    };
    x.contiguous()?.apply_op2(&slope.contiguous()?, op)
}

/// Per contiguous plane: (mean, 1 / sqrt(biased var + eps)), f64 sums.
fn plane_stats(x: &[f32], s: usize, eps: f64) -> Vec<(f64, f64)> {
    use rayon::prelude::*;
    x.par_chunks(s.max(1))
        .map(|p| {
            let (a, q) = plane::sum_sq(p);
            let k = p.len().max(1) as f64;
            let m = a / k;
            (m, 1.0 / ((q / k - m * m).max(0.0) + eps).sqrt())
        })
        .collect()
}

struct NormPreluOp {
    eps: f64,
    /// per plane (mean, rstd), kept for the backward pass
    stats: std::sync::Arc<std::sync::Mutex<Vec<(f64, f64)>>>,
}

impl candle_core::CustomOp2 for NormPreluOp {
    fn name(&self) -> &'static str {
        "instance-norm-prelu"
    }
    fn cpu_fwd(
        &self,
        s1: &candle_core::CpuStorage,
        l1: &candle_core::Layout,
        s2: &candle_core::CpuStorage,
        l2: &candle_core::Layout,
    ) -> Result<(candle_core::CpuStorage, candle_core::Shape)> {
        use rayon::prelude::*;
        let (_, _, s) = norm_dims(l1)?;
        let x = slice_f32(s1, l1)?;
        let a = *slice_f32(s2, l2)?
            .first()
            .ok_or_else(|| Nn3dError::Config {
                what: "instance_norm_prelu",
                msg: "empty slope".into(),
            })?;
        let stats = plane_stats(x, s, self.eps);
        let mut y = vec![0f32; x.len()];
        y.par_chunks_mut(s.max(1))
            .zip(x.par_chunks(s.max(1)))
            .zip(stats.par_iter())
            .for_each(|((yp, xp), &(m, r))| {
                plane::norm_prelu(yp, xp, r as f32, (-m * r) as f32, a);
            });
        if let Ok(mut st) = self.stats.lock() {
            *st = stats;
        }
        Ok((candle_core::CpuStorage::F32(y), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        a: &Tensor,
        _y: &Tensor,
        gy: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let stats = self
            .stats
            .lock()
            .map_err(|_| candle_core::Error::Msg("norm-prelu: poisoned statistics".into()))?
            .clone();
        let slope = a.flatten_all()?.to_vec1::<f32>()?;
        let packed = x.apply_op2_no_bwd(
            &gy.contiguous()?,
            &NormPreluBwdOp {
                slope: slope.first().copied().unwrap_or(0.0),
                stats,
            },
        )?;
        let len = x.elem_count();
        let gx = packed.narrow(0, 0, len)?.reshape(x.shape())?;
        let ga = packed.narrow(0, len, 1)?.reshape(a.shape())?;
        Ok((x.track_op().then_some(gx), a.track_op().then_some(ga)))
    }
}

/// Backward of `NormPreluOp`: [gx (flattened), d slope] in one buffer.
struct NormPreluBwdOp {
    slope: f32,
    stats: Vec<(f64, f64)>,
}

impl candle_core::CustomOp2 for NormPreluBwdOp {
    fn name(&self) -> &'static str {
        "instance-norm-prelu-bwd"
    }
    fn cpu_fwd(
        &self,
        s1: &candle_core::CpuStorage,
        l1: &candle_core::Layout,
        s2: &candle_core::CpuStorage,
        l2: &candle_core::Layout,
    ) -> Result<(candle_core::CpuStorage, candle_core::Shape)> {
        use rayon::prelude::*;
        let (n, c, s) = norm_dims(l1)?;
        let x = slice_f32(s1, l1)?;
        let gy = slice_f32(s2, l2)?;
        if self.stats.len() != n * c || gy.len() != x.len() {
            return Err(Nn3dError::Config {
                what: "instance_norm_prelu backward",
                msg: "statistics or gradient do not match the input".into(),
            }
            .into());
        }
        let a = self.slope;
        let mut out = vec![0f32; x.len() + 1];
        let da: Vec<f64> = out[..x.len()]
            .par_chunks_mut(s.max(1))
            .zip(gy.par_chunks(s.max(1)).zip(x.par_chunks(s.max(1))))
            .zip(self.stats.par_iter())
            .map(|((gxp, (gp, xp)), &(m, r))| {
                let (scale, shift) = (r as f32, (-m * r) as f32);
                // pass 1: sums of the norm's output gradient gn and of gn * x; slope gradient
                let [sg, sgx, da] = plane::norm_prelu_sums(gp, xp, scale, shift, a);
                let k = gp.len().max(1) as f64;
                let ma = sg / k;
                let mb = (sgx - m * sg) * r / k;
                // pass 2: gx = r * (gn - ma - xhat * mb)
                let c = [r as f32, (r * ma) as f32, (r * mb) as f32];
                plane::norm_prelu_gx(gxp, gp, xp, scale, shift, a, c);
                da
            })
            .collect();
        out[x.len()] = da.iter().sum::<f64>() as f32;
        let len = out.len();
        Ok((
            candle_core::CpuStorage::F32(out),
            candle_core::Shape::from(len),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    /// The fused op against the composition of candle ops (instance norm written out as
    /// mean / variance reductions, PReLU as max / min): values and both gradients.
    /// Training-mode batch norm with the ReLU fused gives the bits of batch norm followed by
    /// candle's ReLU node: output, gradients of x, weight and bias, and running statistics.
    /// Some inputs are exactly where the pre-ReLU value is 0 (the weight is 0 on channel 1).
    #[test]
    fn batch_norm_relu_matches_norm_then_relu() {
        let dev = Device::Cpu;
        let x0 = Tensor::randn(0f32, 1.0, (2, 3, 3, 4, 5), &dev)
            .unwrap()
            .affine(1.5, 0.2)
            .unwrap();
        let r = Tensor::randn(0f32, 1.0, (2, 3, 3, 4, 5), &dev).unwrap();
        let run = |fused: bool| {
            let vm = candle_nn::VarMap::new();
            let vb = VarBuilder::from_varmap(&vm, candle_core::DType::F32, &dev);
            let bn = batch_norm3d(3, 1e-5, 0.1, vb).unwrap();
            vm.data().lock().unwrap()["weight"]
                .set(&Tensor::new(&[0.7f32, 0.0, -1.2], &dev).unwrap())
                .unwrap();
            vm.data().lock().unwrap()["bias"]
                .set(&Tensor::new(&[0.1f32, 0.0, 0.3], &dev).unwrap())
                .unwrap();
            let x = Var::from_tensor(&x0).unwrap();
            let y = if fused {
                bn.forward_relu_t(x.as_tensor(), true, true).unwrap()
            } else {
                bn.forward_t(x.as_tensor(), true).unwrap().relu().unwrap()
            };
            let g = (&y * &r).unwrap().sum_all().unwrap().backward().unwrap();
            let data = vm.data().lock().unwrap();
            let mut out = vec![
                y.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
                g.get(x.as_tensor())
                    .unwrap()
                    .flatten_all()
                    .unwrap()
                    .to_vec1()
                    .unwrap(),
            ];
            for k in ["weight", "bias"] {
                out.push(g.get(data[k].as_tensor()).unwrap().to_vec1().unwrap());
            }
            out.push(bn.running_mean().to_vec1().unwrap());
            out.push(bn.running_var().to_vec1().unwrap());
            out
        };
        let (f, u) = (run(true), run(false));
        assert!(f[0].contains(&0.0), "no clipped output");
        for (k, (a, b)) in f.iter().zip(&u).enumerate() {
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(a), bits(b), "part {k}");
        }
    }

    #[test]
    fn instance_norm_prelu_matches_composition() {
        let dev = Device::Cpu;
        let x = Var::from_tensor(
            &Tensor::randn(0f32, 1.0, (2, 3, 4, 5, 6), &dev)
                .unwrap()
                .affine(2.0, 0.5)
                .unwrap(),
        )
        .unwrap();
        let a = Var::from_tensor(&Tensor::new(&[0.3f32], &dev).unwrap()).unwrap();
        let r = Tensor::randn(0f32, 1.0, (2, 3, 4, 5, 6), &dev).unwrap();
        let eps = 1e-5;
        let fused = instance_norm_prelu(x.as_tensor(), a.as_tensor(), eps).unwrap();
        let xt = x.as_tensor();
        let flat = xt.reshape((2, 3, ())).unwrap();
        let mean = flat.mean_keepdim(2).unwrap();
        let cen = flat.broadcast_sub(&mean).unwrap();
        let var = cen.sqr().unwrap().mean_keepdim(2).unwrap();
        let h = cen
            .broadcast_div(&(var + eps).unwrap().sqrt().unwrap())
            .unwrap()
            .reshape(xt.shape())
            .unwrap();
        let naive = (h.relu().unwrap()
            + h.minimum(0f32)
                .unwrap()
                .broadcast_mul(a.as_tensor())
                .unwrap())
        .unwrap();
        let err = |p: &Tensor, q: &Tensor| {
            (p - q)
                .unwrap()
                .abs()
                .unwrap()
                .flatten_all()
                .unwrap()
                .max(0)
                .unwrap()
                .to_scalar::<f32>()
                .unwrap()
        };
        assert!(err(&fused, &naive) < 1e-5);
        let gf = (&fused * &r)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let gn = (&naive * &r)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        for v in [&x, &a] {
            let (p, q) = (
                gf.get(v.as_tensor()).unwrap(),
                gn.get(v.as_tensor()).unwrap(),
            );
            let scale = q.abs().unwrap().flatten_all().unwrap().max(0).unwrap();
            let e = err(p, q) / scale.to_scalar::<f32>().unwrap();
            assert!(e < 1e-4, "relative gradient error {e}");
        }
    }
}
