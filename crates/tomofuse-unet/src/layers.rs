//! Thin wrappers over tomofuse-nn3d so the model code reads like MONAI's.

use crate::config::NormKind;
use crate::error::Result;
use candle_core::{CpuStorage, CustomOp2, Layout, Module, Shape, Tensor};
use candle_nn::VarBuilder;
use rayon::prelude::*;
use tomofuse_nn3d::storage::f32_slice;
use tomofuse_nn3d::{
    BatchNorm3d, Conv3d, Conv3dConfig, ConvTranspose3d, ConvTranspose3dConfig, InstanceNorm3d,
};

/// A 3D convolution or transposed convolution with bias.
#[derive(Debug, Clone)]
pub(crate) enum ConvLayer {
    Conv(Conv3d),
    Transposed(ConvTranspose3d),
}

impl ConvLayer {
    pub(crate) fn conv(
        cin: usize,
        cout: usize,
        k: usize,
        stride: usize,
        padding: usize,
        vb: VarBuilder,
    ) -> Result<Self> {
        let cfg = Conv3dConfig {
            padding,
            stride,
            dilation: 1,
            groups: 1,
        };
        Ok(ConvLayer::Conv(tomofuse_nn3d::conv3d(
            cin, cout, k, cfg, vb,
        )?))
    }

    pub(crate) fn transposed(
        cin: usize,
        cout: usize,
        k: usize,
        stride: usize,
        padding: usize,
        output_padding: usize,
        vb: VarBuilder,
    ) -> Result<Self> {
        let cfg = ConvTranspose3dConfig {
            padding,
            output_padding,
            stride,
            dilation: 1,
        };
        Ok(ConvLayer::Transposed(tomofuse_nn3d::conv_transpose3d(
            cin, cout, k, cfg, vb,
        )?))
    }

    pub(crate) fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(match self {
            ConvLayer::Conv(c) => c.forward(x)?,
            ConvLayer::Transposed(c) => c.forward(x)?,
        })
    }
}

/// MONAI's norm choices: InstanceNorm3d (affine = false) or BatchNorm3d, eps 1e-5.
#[derive(Debug, Clone)]
pub(crate) enum Norm3d {
    Instance(InstanceNorm3d),
    Batch(BatchNorm3d),
}

impl Norm3d {
    pub(crate) fn new(c: usize, kind: NormKind, vb: VarBuilder) -> Result<Self> {
        Ok(match kind {
            NormKind::Instance => {
                Norm3d::Instance(tomofuse_nn3d::instance_norm3d(c, 1e-5, false, vb)?)
            }
            NormKind::Batch => Norm3d::Batch(tomofuse_nn3d::batch_norm3d(c, 1e-5, 0.1, vb)?),
        })
    }

    pub(crate) fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        Ok(match self {
            Norm3d::Instance(n) => n.forward(x)?,
            Norm3d::Batch(n) => n.forward_t(x, train)?,
        })
    }
}

/// PReLU with one shared slope (MONAI's default `nn.PReLU()`), as a fused candle op:
/// candle-nn's PReLU makes five passes over the tensor (zeros, max, min, broadcast mul, add),
/// which cost about as much as the convolution it follows.
#[derive(Debug, Clone)]
pub(crate) struct Prelu {
    weight: Tensor,
}

impl Prelu {
    pub(crate) fn new(vb: VarBuilder) -> Result<Self> {
        let weight = vb.get_with_hints(1, "weight", candle_nn::Init::Const(0.25))?;
        Ok(Self { weight })
    }

    pub(crate) fn weight(&self) -> &Tensor {
        &self.weight
    }

    pub(crate) fn from_weight(weight: Tensor) -> Self {
        Self { weight }
    }

    pub(crate) fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(x.contiguous()?.apply_op2(&self.weight, PreluOp)?)
    }
}

const CHUNK: usize = 1 << 14;

struct PreluOp;

impl CustomOp2 for PreluOp {
    fn name(&self) -> &'static str {
        "prelu-scalar"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = f32_slice("prelu input", s1, l1)?;
        let a = *f32_slice("prelu weight", s2, l2)?
            .first()
            .ok_or_else(|| candle_core::Error::Msg("prelu: empty weight".into()))?;
        let mut y = vec![0f32; x.len()];
        y.par_chunks_mut(CHUNK)
            .zip(x.par_chunks(CHUNK))
            .for_each(|(yo, xi)| {
                for (o, &v) in yo.iter_mut().zip(xi) {
                    *o = if v > 0.0 { v } else { a * v };
                }
            });
        Ok((CpuStorage::F32(y), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        a: &Tensor,
        _res: &Tensor,
        g: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let g = g.contiguous()?;
        let slope = a
            .flatten_all()?
            .to_vec1::<f32>()?
            .first()
            .copied()
            .ok_or_else(|| candle_core::Error::Msg("prelu: empty weight".into()))?;
        // One pass: [dx (len values), d slope (1 value)].
        let len = x.elem_count();
        let packed = g.apply_op2_no_bwd(&x.contiguous()?, &PreluDxOp { slope })?;
        let dx = packed.narrow(0, 0, len)?.reshape(x.shape())?;
        let da = packed.narrow(0, len, 1)?.reshape(a.shape())?;
        Ok((Some(dx), a.track_op().then_some(da)))
    }
}

/// (g, x) -> [g where x > 0, slope * g elsewhere; then sum(g * min(x, 0))], one pass (the
/// slope gradient as candle ops took three more passes over the tensor).
struct PreluDxOp {
    slope: f32,
}

impl CustomOp2 for PreluDxOp {
    fn name(&self) -> &'static str {
        "prelu-dx"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let g = f32_slice("prelu gradient", s1, l1)?;
        let x = f32_slice("prelu input", s2, l2)?;
        if g.len() != x.len() {
            return Err(candle_core::Error::Msg(
                "prelu: gradient and input sizes differ".into(),
            ));
        }
        let a = self.slope;
        let mut out = vec![0f32; g.len() + 1];
        // Partial sums per fixed chunk, added in order: deterministic.
        let partial: Vec<f64> = out[..g.len()]
            .par_chunks_mut(CHUNK)
            .zip(g.par_chunks(CHUNK).zip(x.par_chunks(CHUNK)))
            .map(|(o, (gi, xi))| {
                let mut da = 0f64;
                for ((o, &gv), &xv) in o.iter_mut().zip(gi).zip(xi) {
                    if xv > 0.0 {
                        *o = gv;
                    } else {
                        *o = a * gv;
                        da += (gv * xv) as f64;
                    }
                }
                da
            })
            .collect();
        out[g.len()] = partial.iter().sum::<f64>() as f32;
        let n = out.len();
        Ok((CpuStorage::F32(out), Shape::from(n)))
    }
}
