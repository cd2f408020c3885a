//! The MONAI-structured 3D U-Net with an optional classification head on the bottleneck.
//!
//! Weight names mirror the PyTorch state dict of `monai.networks.nets.UNet` (e.g.
//! `model.0.conv.unit0.conv.weight`, `model.1.submodule.0.residual.weight`,
//! `model.2.0.adn.A.weight`), so a MONAI checkpoint converted to safetensors loads as is. The
//! class head lives under `cls_head.*`.

use crate::config::{NormKind, UnetConfig};
use crate::error::{Result, UnetError};
use crate::layers::{ConvLayer, Norm3d, Prelu};
use candle_core::{D, Module, Tensor};
use candle_nn::{Linear, VarBuilder};

/// MONAI's ADN block with ordering "NDA": norm, dropout (p = 0, a no-op), PReLU.
#[derive(Debug, Clone)]
struct Adn {
    norm: Norm3d,
    act: Prelu,
}

impl Adn {
    fn new(c: usize, norm: NormKind, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            norm: Norm3d::new(c, norm, vb.pp("N"))?,
            act: Prelu::new(vb.pp("A"))?,
        })
    }

    fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        if let Norm3d::Instance(_) = self.norm {
            // One fused op (MONAI's instance norm has no affine parameters, eps 1e-5).
            return Ok(tomofuse_nn3d::instance_norm_prelu(
                x,
                self.act.weight(),
                1e-5,
            )?);
        }
        let y = self.norm.forward_t(x, train)?;
        self.act.forward(&y)
    }
}

/// MONAI `Convolution`: `conv` then (unless conv-only) `adn`.
#[derive(Debug, Clone)]
struct Convolution {
    conv: ConvLayer,
    adn: Option<Adn>,
}

impl Convolution {
    #[allow(clippy::too_many_arguments)]
    fn new(
        cin: usize,
        cout: usize,
        stride: usize,
        transposed: bool,
        conv_only: bool,
        norm: NormKind,
        vb: VarBuilder,
    ) -> Result<Self> {
        let conv = if transposed {
            // MONAI: padding = (k - 1) / 2, output_padding = stride - 1.
            ConvLayer::transposed(cin, cout, 3, stride, 1, stride - 1, vb.pp("conv"))?
        } else {
            ConvLayer::conv(cin, cout, 3, stride, 1, vb.pp("conv"))?
        };
        let adn = if conv_only {
            None
        } else {
            Some(Adn::new(cout, norm, vb.pp("adn"))?)
        };
        Ok(Self { conv, adn })
    }

    fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let y = self.conv.forward(x)?;
        match &self.adn {
            Some(a) => a.forward_t(&y, train),
            None => Ok(y),
        }
    }
}

/// MONAI `ResidualUnit`: `subunits` convolutions (the first strided) plus a residual path
/// (identity, a 1x1x1 conv when only channels change, or a strided 3x3x3 conv).
#[derive(Debug, Clone)]
struct ResidualUnit {
    units: Vec<Convolution>,
    residual: Option<ConvLayer>,
}

impl ResidualUnit {
    #[allow(clippy::too_many_arguments)]
    fn new(
        cin: usize,
        cout: usize,
        stride: usize,
        subunits: usize,
        last_conv_only: bool,
        norm: NormKind,
        vb: VarBuilder,
    ) -> Result<Self> {
        let subunits = subunits.max(1);
        let mut units = Vec::with_capacity(subunits);
        let (mut sc, mut ss) = (cin, stride);
        for su in 0..subunits {
            let conv_only = last_conv_only && su == subunits - 1;
            units.push(Convolution::new(
                sc,
                cout,
                ss,
                false,
                conv_only,
                norm,
                vb.pp("conv").pp(format!("unit{su}")),
            )?);
            sc = cout;
            ss = 1;
        }
        let residual = if stride != 1 || cin != cout {
            let (k, p) = if stride == 1 { (1, 0) } else { (3, 1) };
            Some(ConvLayer::conv(cin, cout, k, stride, p, vb.pp("residual"))?)
        } else {
            None
        };
        Ok(Self { units, residual })
    }

    fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let res = match &self.residual {
            Some(r) => r.forward(x)?,
            None => x.clone(),
        };
        let mut y = x.clone();
        for u in &self.units {
            y = u.forward_t(&y, train)?;
        }
        Ok((y + res)?)
    }
}

/// A down layer (or the bottom layer): residual unit, or a single convolution when
/// `num_res_units == 0`.
#[derive(Debug, Clone)]
enum Down {
    Res(ResidualUnit),
    Conv(Convolution),
}

impl Down {
    fn new(
        cin: usize,
        cout: usize,
        stride: usize,
        cfg: &UnetConfig,
        vb: VarBuilder,
    ) -> Result<Self> {
        Ok(if cfg.num_res_units > 0 {
            Down::Res(ResidualUnit::new(
                cin,
                cout,
                stride,
                cfg.num_res_units,
                false,
                cfg.norm,
                vb,
            )?)
        } else {
            Down::Conv(Convolution::new(
                cin, cout, stride, false, false, cfg.norm, vb,
            )?)
        })
    }

    fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        match self {
            Down::Res(r) => r.forward_t(x, train),
            Down::Conv(c) => c.forward_t(x, train),
        }
    }
}

/// An up layer: transposed convolution, then (with residual units) one residual unit.
#[derive(Debug, Clone)]
struct Up {
    conv: Convolution,
    ru: Option<ResidualUnit>,
}

impl Up {
    fn new(
        cin: usize,
        cout: usize,
        stride: usize,
        is_top: bool,
        cfg: &UnetConfig,
        vb: VarBuilder,
    ) -> Result<Self> {
        if cfg.num_res_units > 0 {
            let conv = Convolution::new(cin, cout, stride, true, false, cfg.norm, vb.pp("0"))?;
            let ru = ResidualUnit::new(cout, cout, 1, 1, is_top, cfg.norm, vb.pp("1"))?;
            Ok(Self { conv, ru: Some(ru) })
        } else {
            let conv = Convolution::new(cin, cout, stride, true, is_top, cfg.norm, vb)?;
            Ok(Self { conv, ru: None })
        }
    }

    fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let y = self.conv.forward_t(x, train)?;
        match &self.ru {
            Some(r) => r.forward_t(&y, train),
            None => Ok(y),
        }
    }
}

/// Global average pooling + MLP on the bottleneck features.
#[derive(Debug, Clone)]
struct ClassHead {
    fc1: Linear,
    fc2: Option<Linear>,
}

impl ClassHead {
    fn forward(&self, bottom: &Tensor) -> Result<Tensor> {
        let pooled = bottom.flatten_from(2)?.mean(D::Minus1)?;
        let h = self.fc1.forward(&pooled)?;
        match &self.fc2 {
            Some(fc2) => Ok(fc2.forward(&h.relu()?)?),
            None => Ok(h),
        }
    }
}

/// Output of a forward pass.
#[derive(Debug, Clone)]
pub struct UnetOutput {
    /// Segmentation logits, N x out_channels x D x H x W.
    pub seg_logits: Tensor,
    /// Class logits, N x num_classes (None without a class head).
    pub class_logits: Option<Tensor>,
}

/// The multitask U-Net. Build with [`Unet::new`] from a `VarBuilder` (a `VarMap` for
/// training, mmaped safetensors for inference).
#[derive(Debug, Clone)]
pub struct Unet {
    cfg: UnetConfig,
    downs: Vec<Down>,
    bottom: Down,
    ups: Vec<Up>,
    head: Option<ClassHead>,
}

/// Where Grad-CAM (or a caller) can tap activations: `down.{i}` (output of down layer i,
/// i = 0 top), `bottom` (bottleneck, the class head's input) and `up.{i}` (output of up layer i).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tap {
    Down(usize),
    Bottom,
    Up(usize),
}

impl Tap {
    /// Parses `down.2`, `bottom`, `up.0`.
    pub fn parse(name: &str) -> Option<Self> {
        if name == "bottom" {
            return Some(Tap::Bottom);
        }
        let (kind, idx) = name.split_once('.')?;
        let i: usize = idx.parse().ok()?;
        match kind {
            "down" => Some(Tap::Down(i)),
            "up" => Some(Tap::Up(i)),
            _ => None,
        }
    }
}

impl Unet {
    /// Builds the network (validating `cfg` first).
    pub fn new(cfg: &UnetConfig, vb: VarBuilder) -> Result<Self> {
        cfg.validate()?;
        let n = cfg.channels.len();
        let nblocks = n - 1;
        let mut downs = Vec::with_capacity(nblocks);
        let mut ups = Vec::with_capacity(nblocks);
        let mut prefix = vb.pp("model");
        let mut cin = cfg.in_channels;
        let mut bottom = None;
        for i in 0..nblocks {
            let c = cfg.channels[i];
            let s = cfg.strides[i];
            let is_top = i == 0;
            let cout = if is_top {
                cfg.out_channels
            } else {
                cfg.channels[i - 1]
            };
            let last = i == nblocks - 1;
            let upc = if last { c + cfg.channels[i + 1] } else { 2 * c };
            downs.push(Down::new(cin, c, s, cfg, prefix.pp("0"))?);
            ups.push(Up::new(upc, cout, s, is_top, cfg, prefix.pp("2"))?);
            let sub = prefix.pp("1").pp("submodule");
            if last {
                bottom = Some(Down::new(c, cfg.channels[i + 1], 1, cfg, sub)?);
                break;
            }
            prefix = sub;
            cin = c;
        }
        let bottom =
            bottom.ok_or_else(|| crate::error::config_err("channels", "no bottom layer"))?;
        let head = match &cfg.class_head {
            None => None,
            Some(h) => {
                let vb = vb.pp("cls_head");
                let cb = cfg.channels[n - 1];
                if h.hidden == 0 {
                    Some(ClassHead {
                        fc1: candle_nn::linear(cb, h.num_classes, vb.pp("fc"))?,
                        fc2: None,
                    })
                } else {
                    Some(ClassHead {
                        fc1: candle_nn::linear(cb, h.hidden, vb.pp("fc1"))?,
                        fc2: Some(candle_nn::linear(h.hidden, h.num_classes, vb.pp("fc2"))?),
                    })
                }
            }
        };
        Ok(Self {
            cfg: cfg.clone(),
            downs,
            bottom,
            ups,
            head,
        })
    }

    /// The configuration the network was built with.
    pub fn config(&self) -> &UnetConfig {
        &self.cfg
    }

    /// Checks an N x C x D x H x W input: channel count, size against the total stride, finite.
    pub fn check_input(&self, x: &Tensor) -> Result<()> {
        let dims = x.dims().to_vec();
        if dims.len() != 5 {
            return Err(UnetError::InputShape {
                shape: dims,
                reason: "expected 5 dimensions N x C x D x H x W".into(),
            });
        }
        if dims[1] != self.cfg.in_channels {
            return Err(UnetError::InputShape {
                reason: format!(
                    "channel axis is {} but the network expects in_channels = {}",
                    dims[1], self.cfg.in_channels
                ),
                shape: dims,
            });
        }
        let stride = self.cfg.total_stride();
        if dims[0] == 0 || dims[2..].iter().any(|&d| d < stride || d % stride != 0) {
            return Err(UnetError::TooSmall {
                shape: dims,
                min: stride,
                stride,
            });
        }
        let v = x
            .flatten_all()?
            .to_dtype(candle_core::DType::F32)?
            .to_vec1::<f32>()?;
        let mut bad = v.iter().enumerate().filter(|(_, f)| !f.is_finite());
        if let Some((first, _)) = bad.next() {
            return Err(UnetError::NonFinite {
                what: "network input".into(),
                count: 1 + bad.count(),
                first,
            });
        }
        Ok(())
    }

    /// Validated forward pass (`train` selects batch statistics for batch norm).
    pub fn forward_t(&self, x: &Tensor, train: bool) -> Result<UnetOutput> {
        self.check_input(x)?;
        Ok(self.forward_tap(x, train, None)?.0)
    }

    /// Runs the encoder up to `tap` (`down.{i}` or `bottom`) and returns that activation.
    pub fn encode_until(&self, x: &Tensor, tap: &Tap) -> Result<Tensor> {
        let last = match tap {
            Tap::Down(i) => *i,
            Tap::Bottom => self.downs.len(),
            Tap::Up(_) => {
                return Err(UnetError::GradCam {
                    layer: format!("{tap:?}"),
                    reason: "not an encoder layer".into(),
                });
            }
        };
        let mut h = x.clone();
        for d in self.downs.iter().take((last + 1).min(self.downs.len())) {
            h = d.forward_t(&h, false)?;
        }
        if matches!(tap, Tap::Bottom) {
            h = self.bottom.forward_t(&h, false)?;
        }
        Ok(h)
    }

    /// Class logits from the activation at an encoder `tap` (evaluation mode).
    pub fn class_logits_from(&self, act: &Tensor, tap: &Tap) -> Result<Tensor> {
        let head = self.head.as_ref().ok_or_else(|| UnetError::GradCam {
            layer: format!("{tap:?}"),
            reason: "the model has no class head".into(),
        })?;
        let mut h = act.clone();
        match tap {
            Tap::Down(i) => {
                for d in self.downs.iter().skip(i + 1) {
                    h = d.forward_t(&h, false)?;
                }
                h = self.bottom.forward_t(&h, false)?;
            }
            Tap::Bottom => {}
            Tap::Up(_) => {
                return Err(UnetError::GradCam {
                    layer: format!("{tap:?}"),
                    reason: "decoder layers do not feed the class head".into(),
                });
            }
        }
        head.forward(&h)
    }

    /// Forward pass that also returns the activation at `tap` (unchecked input).
    pub fn forward_tap(
        &self,
        x: &Tensor,
        train: bool,
        tap: Option<&Tap>,
    ) -> Result<(UnetOutput, Option<Tensor>)> {
        let mut tapped = None;
        let mut skips = Vec::with_capacity(self.downs.len());
        let mut h = x.clone();
        for (i, d) in self.downs.iter().enumerate() {
            h = d.forward_t(&h, train)?;
            if tap == Some(&Tap::Down(i)) {
                tapped = Some(h.clone());
            }
            skips.push(h.clone());
        }
        let b = self.bottom.forward_t(&h, train)?;
        if tap == Some(&Tap::Bottom) {
            tapped = Some(b.clone());
        }
        let class_logits = match &self.head {
            Some(hd) => Some(hd.forward(&b)?),
            None => None,
        };
        let mut y = b;
        for (i, up) in self.ups.iter().enumerate().rev() {
            let cat = Tensor::cat(&[&skips[i], &y], 1)?;
            y = up.forward_t(&cat, train)?;
            if tap == Some(&Tap::Up(i)) {
                tapped = Some(y.clone());
            }
        }
        Ok((
            UnetOutput {
                seg_logits: y,
                class_logits,
            },
            tapped,
        ))
    }
}

/// The fused PReLU op (exposed for tests against candle-nn's PReLU).
#[doc(hidden)]
pub fn prelu_for_tests(x: &Tensor, weight: &Tensor) -> Result<Tensor> {
    crate::layers::Prelu::from_weight(weight.clone()).forward(x)
}
