//! The MONAI-structured 3D U-Net with an optional classification head on the bottleneck.
//!
//! Weight names mirror the PyTorch state dict of `monai.networks.nets.UNet` (e.g.
//! `model.0.conv.unit0.conv.weight`, `model.1.submodule.0.residual.weight`,
//! `model.2.0.adn.A.weight`), so a MONAI checkpoint converted to safetensors loads as is. The
//! class head lives under `cls_head.*` (`conv`, `fc1`, `fc2`; see [`CLASS_POOL_GRID`]).

use crate::config::{NormKind, UnetConfig};
use crate::error::{Result, UnetError};
use crate::layers::{ConvLayer, Norm3d, Prelu};
use candle_core::{Module, Tensor};
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

/// Side of the grid the class head pools the bottleneck to (PyTorch `AdaptiveAvgPool3d(3)`).
///
/// The endotype is a *where* question (ethmoid- vs maxillary-predominant opacification), and
/// global average pooling cannot answer it: it is location-blind, and the instance norms make
/// each channel's spatial mean depend on little more than the shape of its value distribution
/// (plus the residual paths' linear terms). A coarse 3 x 3 x 3 grid keeps where activation
/// sits (centre vs periphery along every axis; the mirror augmentation maps the grid onto
/// itself).
pub const CLASS_POOL_GRID: usize = 3;

/// Channels the class head projects the bottleneck to (1x1x1 convolution) before pooling, so
/// the flattened grid stays small (8 x 27 = 216 features) for small cohorts.
pub const CLASS_REDUCE_CHANNELS: usize = 8;

/// Class head on the bottleneck features: 1x1x1 convolution `cls_head.conv` (to
/// [`CLASS_REDUCE_CHANNELS`] channels, or fewer if the bottleneck is narrower), adaptive average
/// pooling to a [`CLASS_POOL_GRID`]^3 grid, flattening (channel-major, as `torch.flatten(x, 1)`)
/// and an MLP (`cls_head.fc1`, ReLU, `cls_head.fc2`; or one linear layer `cls_head.fc`).
#[derive(Debug, Clone)]
struct ClassHead {
    conv: ConvLayer,
    fc1: Linear,
    fc2: Option<Linear>,
}

/// Bin `[start, end)` of output cell `i` of `g` over an axis of length `len` (PyTorch's
/// adaptive pooling: floor(i len / g) to ceil((i + 1) len / g)).
fn adaptive_bin(i: usize, g: usize, len: usize) -> (usize, usize) {
    ((i * len) / g, ((i + 1) * len).div_ceil(g))
}

/// `AdaptiveAvgPool3d(g)` of N x C x D x H x W as N x C x g^3 (one matmul with the constant
/// S x g^3 averaging matrix, so autograd sees a single linear op).
pub(crate) fn adaptive_avg_pool3d(x: &Tensor, g: usize) -> Result<Tensor> {
    let (n, c, d, h, w) = x.dims5()?;
    let s = d * h * w;
    let gg = g * g * g;
    let mut m = vec![0f32; s * gg];
    for a in 0..g {
        let (a0, a1) = adaptive_bin(a, g, d);
        for b in 0..g {
            let (b0, b1) = adaptive_bin(b, g, h);
            for e in 0..g {
                let (e0, e1) = adaptive_bin(e, g, w);
                let cell = (a * g + b) * g + e;
                let inv = 1.0 / ((a1 - a0) * (b1 - b0) * (e1 - e0)) as f32;
                for i in a0..a1 {
                    for j in b0..b1 {
                        for k in e0..e1 {
                            m[((i * h + j) * w + k) * gg + cell] = inv;
                        }
                    }
                }
            }
        }
    }
    let m = Tensor::from_vec(m, (s, gg), x.device())?.to_dtype(x.dtype())?;
    let flat = x.contiguous()?.reshape((n * c, s))?;
    Ok(flat.matmul(&m)?.reshape((n, c, gg))?)
}

impl ClassHead {
    fn new(cb: usize, hidden: usize, num_classes: usize, vb: VarBuilder) -> Result<Self> {
        let r = CLASS_REDUCE_CHANNELS.min(cb);
        let conv = ConvLayer::conv(cb, r, 1, 1, 0, vb.pp("conv"))?;
        let feat = r * CLASS_POOL_GRID.pow(3);
        if hidden == 0 {
            Ok(Self {
                conv,
                fc1: candle_nn::linear(feat, num_classes, vb.pp("fc"))?,
                fc2: None,
            })
        } else {
            Ok(Self {
                conv,
                fc1: candle_nn::linear(feat, hidden, vb.pp("fc1"))?,
                fc2: Some(candle_nn::linear(hidden, num_classes, vb.pp("fc2"))?),
            })
        }
    }

    fn forward(&self, bottom: &Tensor) -> Result<Tensor> {
        let r = self.conv.forward(bottom)?;
        let pooled = adaptive_avg_pool3d(&r, CLASS_POOL_GRID)?.flatten_from(1)?;
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
            Some(h) => Some(ClassHead::new(
                cfg.channels[n - 1],
                h.hidden,
                h.num_classes,
                vb.pp("cls_head"),
            )?),
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

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// PyTorch's `AdaptiveAvgPool3d(3)` on a 5 x 4 x 6 ramp: bins [0, 2), [1, 4), [3, 5) on the
    /// first axis, [0, 2), [1, 3), [2, 4) on the second, [0, 2), [2, 4), [4, 6) on the third.
    #[test]
    fn adaptive_avg_pool_matches_pytorch_bins() {
        let (d, h, w) = (5usize, 4usize, 6usize);
        let vals: Vec<f32> = (0..d * h * w).map(|i| (i * i % 17) as f32).collect();
        let x = Tensor::from_vec(vals.clone(), (1, 1, d, h, w), &Device::Cpu).unwrap();
        let y = adaptive_avg_pool3d(&x, 3).unwrap();
        assert_eq!(y.dims(), [1, 1, 27]);
        let y = y.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let bd = [(0, 2), (1, 4), (3, 5)];
        let bh = [(0, 2), (1, 3), (2, 4)];
        let bw = [(0, 2), (2, 4), (4, 6)];
        for (a, &(a0, a1)) in bd.iter().enumerate() {
            for (b, &(b0, b1)) in bh.iter().enumerate() {
                for (c, &(c0, c1)) in bw.iter().enumerate() {
                    let mut s = 0.0;
                    let mut n = 0.0;
                    for i in a0..a1 {
                        for j in b0..b1 {
                            for k in c0..c1 {
                                s += vals[(i * h + j) * w + k];
                                n += 1.0;
                            }
                        }
                    }
                    let got = y[(a * 3 + b) * 3 + c];
                    assert!(
                        (got - s / n).abs() < 1e-5,
                        "cell {a},{b},{c}: {got} vs {}",
                        s / n
                    );
                }
            }
        }
    }
}
