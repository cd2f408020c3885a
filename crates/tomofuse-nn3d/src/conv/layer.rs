//! The layers: PyTorch's `nn.Conv3d` and `nn.ConvTranspose3d` (weight names and default
//! initialisation), built from a `VarBuilder`.

use candle_core::{Module, Result, Tensor};
use candle_nn::VarBuilder;

use super::ops::*;
use super::{Conv3dConfig, ConvTranspose3dConfig};
use crate::error::Nn3dError;

/// 3D convolution layer (PyTorch `nn.Conv3d`, cubic kernel).
#[derive(Debug, Clone)]
pub struct Conv3d {
    weight: Tensor,
    bias: Option<Tensor>,
    cfg: Conv3dConfig,
}

impl Conv3d {
    pub fn new(weight: Tensor, bias: Option<Tensor>, cfg: Conv3dConfig) -> Self {
        Self { weight, bias, cfg }
    }
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }
    pub fn bias(&self) -> Option<&Tensor> {
        self.bias.as_ref()
    }
    pub fn config(&self) -> &Conv3dConfig {
        &self.cfg
    }
}

impl Module for Conv3d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match &self.bias {
            Some(b) => conv3d_bias_op(x, &self.weight, b, self.cfg),
            None => conv3d_op(x, &self.weight, self.cfg),
        }
    }
}

fn check_cfg(what: &'static str, in_c: usize, out_c: usize, k: usize, groups: usize) -> Result<()> {
    if k == 0 || groups == 0 || !in_c.is_multiple_of(groups) || !out_c.is_multiple_of(groups) {
        return Err(Nn3dError::Config {
            what,
            msg: format!(
                "kernel {k}, groups {groups}: channels {in_c}->{out_c} must be divisible by groups"
            ),
        }
        .into());
    }
    Ok(())
}

/// PyTorch's default init bound 1/sqrt(fan_in) (kaiming_uniform with a = sqrt(5)).
fn init_bound(fan_in: usize) -> f64 {
    1.0 / (fan_in.max(1) as f64).sqrt()
}

/// Conv3d with bias, weights "weight" [O, I/groups, k, k, k] and "bias" [O].
pub fn conv3d(
    in_c: usize,
    out_c: usize,
    kernel: usize,
    cfg: Conv3dConfig,
    vb: VarBuilder,
) -> Result<Conv3d> {
    let c = conv3d_no_bias(in_c, out_c, kernel, cfg, vb.clone())?;
    let bound = init_bound(in_c / cfg.groups.max(1) * kernel.pow(3));
    let bias = vb.get_with_hints(
        out_c,
        "bias",
        candle_nn::Init::Uniform {
            lo: -bound,
            up: bound,
        },
    )?;
    Ok(Conv3d {
        bias: Some(bias),
        ..c
    })
}

/// Conv3d without bias.
pub fn conv3d_no_bias(
    in_c: usize,
    out_c: usize,
    kernel: usize,
    cfg: Conv3dConfig,
    vb: VarBuilder,
) -> Result<Conv3d> {
    check_cfg("conv3d", in_c, out_c, kernel, cfg.groups)?;
    let bound = init_bound(in_c / cfg.groups * kernel.pow(3));
    let weight = vb.get_with_hints(
        (out_c, in_c / cfg.groups, kernel, kernel, kernel),
        "weight",
        candle_nn::Init::Uniform {
            lo: -bound,
            up: bound,
        },
    )?;
    Ok(Conv3d {
        weight,
        bias: None,
        cfg,
    })
}

/// 3D transposed convolution layer (PyTorch `nn.ConvTranspose3d`, cubic kernel).
#[derive(Debug, Clone)]
pub struct ConvTranspose3d {
    weight: Tensor,
    bias: Option<Tensor>,
    cfg: ConvTranspose3dConfig,
}

impl ConvTranspose3d {
    pub fn new(weight: Tensor, bias: Option<Tensor>, cfg: ConvTranspose3dConfig) -> Self {
        Self { weight, bias, cfg }
    }
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }
    pub fn bias(&self) -> Option<&Tensor> {
        self.bias.as_ref()
    }
    pub fn config(&self) -> &ConvTranspose3dConfig {
        &self.cfg
    }
}

impl Module for ConvTranspose3d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match &self.bias {
            Some(b) if x.device().is_cpu() => {
                conv_transpose3d_bias_op(x, &self.weight, b, self.cfg)
            }
            bias => add_bias(
                conv_transpose3d_op(x, &self.weight, self.cfg)?,
                bias.as_ref(),
            ),
        }
    }
}

/// ConvTranspose3d with bias, weights "weight" [I, O, k, k, k] and "bias" [O].
pub fn conv_transpose3d(
    in_c: usize,
    out_c: usize,
    kernel: usize,
    cfg: ConvTranspose3dConfig,
    vb: VarBuilder,
) -> Result<ConvTranspose3d> {
    let c = conv_transpose3d_no_bias(in_c, out_c, kernel, cfg, vb.clone())?;
    // PyTorch computes fan_in of a transposed conv weight [I, O, k..] as O * k^3.
    let bound = init_bound(out_c * kernel.pow(3));
    let bias = vb.get_with_hints(
        out_c,
        "bias",
        candle_nn::Init::Uniform {
            lo: -bound,
            up: bound,
        },
    )?;
    Ok(ConvTranspose3d {
        bias: Some(bias),
        ..c
    })
}

/// ConvTranspose3d without bias.
pub fn conv_transpose3d_no_bias(
    in_c: usize,
    out_c: usize,
    kernel: usize,
    cfg: ConvTranspose3dConfig,
    vb: VarBuilder,
) -> Result<ConvTranspose3d> {
    check_cfg("conv_transpose3d", in_c, out_c, kernel, 1)?;
    let bound = init_bound(out_c * kernel.pow(3));
    let weight = vb.get_with_hints(
        (in_c, out_c, kernel, kernel, kernel),
        "weight",
        candle_nn::Init::Uniform {
            lo: -bound,
            up: bound,
        },
    )?;
    Ok(ConvTranspose3d {
        weight,
        bias: None,
        cfg,
    })
}
