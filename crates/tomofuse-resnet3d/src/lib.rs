//! 3D ResNet with bottleneck blocks (ResNet50-3D: [3, 4, 6, 3]) in the MONAI / MedicalNet
//! layout: parameter names (`conv1`, `bn1`, `layer1.0.conv1`, `layer1.0.downsample.0`, `fc`,
//! ...) match `monai.networks.nets.resnet50` so its state dict, saved as safetensors, loads
//! without remapping. `features` returns the global-average-pooled vector (2048-d at full
//! width) used as deep radiomics features; `forward` the classifier logits. [`train`]
//! fine-tunes a 1-logit classifier on labelled crops (no pretrained weights are available
//! offline, so the network must learn from the study's own training cases).

pub mod train;

use std::sync::{Arc, Mutex};

use candle_core::{Module, Result, Tensor};
use candle_nn::{Linear, VarBuilder};
use tomofuse_nn3d::{
    BatchNorm3d, Conv3d, Conv3dConfig, adaptive_avg_pool3d_1, add_relu, batch_norm3d, check_input,
    conv3d, conv3d_bias_op, conv3d_bias_relu_op, conv3d_no_bias, max_pool3d,
};

/// Eval-mode folded weights and bias of one conv + batch-norm pair, computed on first use.
/// Only cached when nothing in them is trainable (checkpoint weights, not `Var`s): then the
/// weights cannot change, and the running statistics only change in a training forward, which
/// clears the cache. Trainable weights are refolded on every call (autograd needs it).
#[derive(Debug, Clone, Default)]
struct FoldCache(Arc<Mutex<Option<(Tensor, Tensor)>>>);

impl FoldCache {
    fn clear(&self) {
        if let Ok(mut c) = self.0.lock() {
            *c = None;
        }
    }
}

/// conv followed by batch norm. In eval mode the norm is folded into the convolution
/// (w * scale, bias * scale + shift): one pass over the activation instead of three.
fn conv_bn(
    conv: &Conv3d,
    bn: &BatchNorm3d,
    cache: &FoldCache,
    x: &Tensor,
    train: bool,
    relu: bool,
) -> Result<Tensor> {
    if train {
        cache.clear();
        return bn.forward_relu_t(&conv.forward(x)?, true, relu);
    }
    let cached = cache.0.lock().ok().and_then(|c| c.clone());
    let (w, b) = match cached {
        Some(wb) => wb,
        None => {
            let (scale, shift) = bn.eval_scale_shift()?;
            let w = conv
                .weight()
                .broadcast_mul(&scale.reshape(((), 1, 1, 1, 1))?)?
                .contiguous()?;
            let b = match conv.bias() {
                Some(b) => ((b * &scale)? + shift)?,
                None => shift,
            };
            if !w.track_op()
                && !b.track_op()
                && let Ok(mut c) = cache.0.lock()
            {
                *c = Some((w.clone(), b.clone()));
            }
            (w, b)
        }
    };
    if relu {
        conv3d_bias_relu_op(x, &w, &b, *conv.config())
    } else {
        conv3d_bias_op(x, &w, &b, *conv.config())
    }
}

/// Errors of the ResNet (wrapped into `candle_core::Error` by `forward`).
#[derive(Debug, thiserror::Error)]
pub enum ResNetError {
    #[error("resnet3d config: {0}")]
    Config(String),
    #[error(
        "resnet3d input: spatial size {size:?} is smaller than the network stride {stride} (needs at least {stride} voxels per axis)"
    )]
    TooSmall { size: Vec<usize>, stride: usize },
    #[error("resnet3d: stage {0} does not exist (0 = stem, 1..=4 = layer1..layer4)")]
    Stage(usize),
    #[error("finetune config: {field}: {msg}")]
    FinetuneConfig { field: &'static str, msg: String },
    #[error("finetune: the training set is empty")]
    EmptySet,
    #[error(
        "finetune: the training set needs both classes ({positives} positive, {negatives} negative)"
    )]
    OneClass { positives: usize, negatives: usize },
    #[error("resnet3d sample {index}: {reason}")]
    BadSample { index: usize, reason: String },
    #[error(
        "finetune: non-finite loss {loss} at epoch {epoch}, step {step} (lower the learning rate)"
    )]
    Diverged {
        epoch: usize,
        step: usize,
        loss: f32,
    },
    #[error("resnet3d checkpoint {path}: {msg}")]
    Checkpoint { path: String, msg: String },
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

/// The shared trainer's errors as the crate's own (divergence and checkpoint keep their
/// variants).
impl From<tomofuse_nn3d::Nn3dError> for ResNetError {
    fn from(e: tomofuse_nn3d::Nn3dError) -> Self {
        use tomofuse_nn3d::Nn3dError as E;
        match e {
            E::Diverged { epoch, step, loss } => Self::Diverged { epoch, step, loss },
            E::Checkpoint { path, reason } => Self::Checkpoint { path, msg: reason },
            E::Candle(c) => Self::Candle(c),
            e => Self::Candle(e.into()),
        }
    }
}

impl From<ResNetError> for candle_core::Error {
    fn from(e: ResNetError) -> Self {
        match e {
            ResNetError::Candle(c) => c,
            e => candle_core::Error::wrap(e),
        }
    }
}

/// Architecture options, named after MONAI's `ResNet` arguments (same defaults).
#[derive(Debug, Clone, PartialEq)]
pub struct ResNetConfig {
    /// Bottleneck blocks per stage.
    pub layers: [usize; 4],
    /// Block widths before the width factor (MONAI `get_inplanes()`).
    pub block_inplanes: [usize; 4],
    pub widen_factor: f64,
    pub n_input_channels: usize,
    pub conv1_t_size: usize,
    /// MONAI's default is 1; MedicalNet's pretrained networks use 2.
    pub conv1_t_stride: usize,
    pub no_max_pool: bool,
    /// Classifier outputs; `None` = no `fc` (MONAI `feed_forward=False`).
    pub num_classes: Option<usize>,
    /// Bias in the 1x1 downsample convolution (MONAI default true).
    pub bias_downsample: bool,
    pub bn_eps: f64,
    pub bn_momentum: f64,
}

impl ResNetConfig {
    /// `monai.networks.nets.resnet50(spatial_dims=3, n_input_channels, num_classes)`.
    pub fn resnet50(n_input_channels: usize, num_classes: usize) -> Self {
        Self {
            layers: [3, 4, 6, 3],
            block_inplanes: [64, 128, 256, 512],
            widen_factor: 1.0,
            n_input_channels,
            conv1_t_size: 7,
            conv1_t_stride: 1,
            no_max_pool: false,
            num_classes: Some(num_classes),
            bias_downsample: true,
            bn_eps: 1e-5,
            bn_momentum: 0.1,
        }
    }

    pub fn with_widen_factor(mut self, w: f64) -> Self {
        self.widen_factor = w;
        self
    }

    /// Stage widths after the width factor (MONAI truncates with `int()`).
    pub fn planes(&self) -> [usize; 4] {
        self.block_inplanes
            .map(|p| (p as f64 * self.widen_factor) as usize)
    }

    /// Length of the feature vector (`planes[3] * 4`).
    pub fn feature_dim(&self) -> usize {
        self.planes()[3] * Bottleneck::EXPANSION
    }

    /// Total downsampling factor of the network.
    pub fn total_stride(&self) -> usize {
        self.conv1_t_stride * if self.no_max_pool { 1 } else { 2 } * 8
    }

    pub(crate) fn validate(&self) -> std::result::Result<(), ResNetError> {
        if self.planes().contains(&0)
            || self.n_input_channels == 0
            || self.conv1_t_size == 0
            || self.conv1_t_stride == 0
            || self.layers.contains(&0)
            || self.num_classes == Some(0)
        {
            return Err(ResNetError::Config(format!(
                "all widths, layer counts, kernel and stride must be >= 1: {self:?}"
            )));
        }
        Ok(())
    }
}

/// MONAI `ResNetBottleneck`: 1x1 -> 3x3 (stride) -> 1x1 (x4), residual, ReLU.
#[derive(Debug, Clone)]
pub struct Bottleneck {
    conv1: Conv3d,
    bn1: BatchNorm3d,
    conv2: Conv3d,
    bn2: BatchNorm3d,
    conv3: Conv3d,
    bn3: BatchNorm3d,
    downsample: Option<(Conv3d, BatchNorm3d)>,
    /// Folded eval weights of (conv1, bn1), (conv2, bn2), (conv3, bn3), downsample.
    folds: [FoldCache; 4],
}

impl Bottleneck {
    pub const EXPANSION: usize = 4;

    fn new(
        in_planes: usize,
        planes: usize,
        stride: usize,
        cfg: &ResNetConfig,
        vb: VarBuilder,
    ) -> Result<Self> {
        let bn = |c, vb| batch_norm3d(c, cfg.bn_eps, cfg.bn_momentum, vb);
        let out = planes * Self::EXPANSION;
        let downsample = if stride != 1 || in_planes != out {
            let c = Conv3dConfig {
                stride,
                ..Default::default()
            };
            let vbd = vb.pp("downsample");
            let conv = if cfg.bias_downsample {
                conv3d(in_planes, out, 1, c, vbd.pp("0"))?
            } else {
                conv3d_no_bias(in_planes, out, 1, c, vbd.pp("0"))?
            };
            Some((conv, bn(out, vbd.pp("1"))?))
        } else {
            None
        };
        Ok(Self {
            conv1: conv3d_no_bias(in_planes, planes, 1, Default::default(), vb.pp("conv1"))?,
            bn1: bn(planes, vb.pp("bn1"))?,
            conv2: conv3d_no_bias(
                planes,
                planes,
                3,
                Conv3dConfig {
                    padding: 1,
                    stride,
                    ..Default::default()
                },
                vb.pp("conv2"),
            )?,
            bn2: bn(planes, vb.pp("bn2"))?,
            conv3: conv3d_no_bias(planes, out, 1, Default::default(), vb.pp("conv3"))?,
            bn3: bn(out, vb.pp("bn3"))?,
            downsample,
            folds: Default::default(),
        })
    }

    pub fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let f = &self.folds;
        let h = conv_bn(&self.conv1, &self.bn1, &f[0], x, train, true)?;
        let h = conv_bn(&self.conv2, &self.bn2, &f[1], &h, train, true)?;
        let h = conv_bn(&self.conv3, &self.bn3, &f[2], &h, train, false)?;
        let res = match &self.downsample {
            Some((c, b)) => conv_bn(c, b, &f[3], x, train, false)?,
            None => x.clone(),
        };
        add_relu(&h, &res)
    }
}

/// ResNet-3D with bottleneck blocks.
#[derive(Debug, Clone)]
pub struct ResNet3d {
    conv1: Conv3d,
    bn1: BatchNorm3d,
    fold1: FoldCache,
    stages: [Vec<Bottleneck>; 4],
    fc: Option<Linear>,
    cfg: ResNetConfig,
}

impl ResNet3d {
    /// Builds the network; with a VarBuilder over a MONAI state dict the weights load as they
    /// are (no key remapping); over a VarMap it initialises fresh trainable weights.
    pub fn new(cfg: ResNetConfig, vb: VarBuilder) -> Result<Self> {
        cfg.validate()?;
        let planes = cfg.planes();
        let k = cfg.conv1_t_size;
        let conv1 = conv3d_no_bias(
            cfg.n_input_channels,
            planes[0],
            k,
            Conv3dConfig {
                padding: k / 2,
                stride: cfg.conv1_t_stride,
                ..Default::default()
            },
            vb.pp("conv1"),
        )?;
        let bn1 = batch_norm3d(planes[0], cfg.bn_eps, cfg.bn_momentum, vb.pp("bn1"))?;
        let mut in_planes = planes[0];
        let mut stages: [Vec<Bottleneck>; 4] = Default::default();
        for (s, stage) in stages.iter_mut().enumerate() {
            let vbs = vb.pp(format!("layer{}", s + 1));
            for b in 0..cfg.layers[s] {
                let stride = if s > 0 && b == 0 { 2 } else { 1 };
                stage.push(Bottleneck::new(
                    in_planes,
                    planes[s],
                    stride,
                    &cfg,
                    vbs.pp(b.to_string()),
                )?);
                in_planes = planes[s] * Bottleneck::EXPANSION;
            }
        }
        let fc = match cfg.num_classes {
            Some(n) => Some(candle_nn::linear(in_planes, n, vb.pp("fc"))?),
            None => None,
        };
        Ok(Self {
            conv1,
            bn1,
            fold1: FoldCache::default(),
            stages,
            fc,
            cfg,
        })
    }

    pub fn config(&self) -> &ResNetConfig {
        &self.cfg
    }

    /// Replaces the classifier by a fresh `fc` with `num_classes` outputs (for fine-tuning a
    /// pretrained backbone; give it a VarMap-backed builder to train it).
    pub fn with_new_head(mut self, num_classes: usize, vb: VarBuilder) -> Result<Self> {
        if num_classes == 0 {
            return Err(ResNetError::Config("num_classes must be >= 1".into()).into());
        }
        self.fc = Some(candle_nn::linear(
            self.cfg.feature_dim(),
            num_classes,
            vb.pp("fc"),
        )?);
        self.cfg.num_classes = Some(num_classes);
        Ok(self)
    }

    /// Rejects wrong rank/channels/dtype, NaN or infinite values and volumes smaller than the
    /// network stride.
    pub fn check_input(&self, x: &Tensor) -> Result<()> {
        check_input(x, Some(self.cfg.n_input_channels))?;
        let st = self.cfg.total_stride();
        if x.dims()[2..].iter().any(|&d| d < st) {
            return Err(ResNetError::TooSmall {
                size: x.dims()[2..].to_vec(),
                stride: st,
            }
            .into());
        }
        Ok(())
    }

    /// Runs the stem and stages `1..=stage` (0 = stem only): the activation Grad-CAM uses.
    pub fn forward_until(&self, x: &Tensor, stage: usize, train: bool) -> Result<Tensor> {
        if stage > 4 {
            return Err(ResNetError::Stage(stage).into());
        }
        self.check_input(x)?;
        let mut h = conv_bn(&self.conv1, &self.bn1, &self.fold1, x, train, true)?;
        if !self.cfg.no_max_pool {
            h = max_pool3d(&h, 3, 2, 1)?;
        }
        for st in &self.stages[..stage] {
            for b in st {
                h = b.forward_t(&h, train)?;
            }
        }
        Ok(h)
    }

    /// Continues from the output of `stage` to the pooled features [N, feature_dim].
    pub fn features_from(&self, h: &Tensor, stage: usize, train: bool) -> Result<Tensor> {
        if stage > 4 {
            return Err(ResNetError::Stage(stage).into());
        }
        let mut h = h.clone();
        for st in &self.stages[stage..] {
            for b in st {
                h = b.forward_t(&h, train)?;
            }
        }
        adaptive_avg_pool3d_1(&h)?.flatten_from(1)
    }

    /// Global-average-pooled features [N, feature_dim] (eval mode unless `train`).
    pub fn features_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let h = self.forward_until(x, 0, train)?;
        self.features_from(&h, 0, train)
    }

    /// Eval-mode features (batch-norm running statistics).
    pub fn features(&self, x: &Tensor) -> Result<Tensor> {
        self.features_t(x, false)
    }

    /// Logits from features (the `fc` layer); an error when the network has no head.
    pub fn head(&self, features: &Tensor) -> Result<Tensor> {
        match &self.fc {
            Some(fc) => fc.forward(features),
            None => {
                Err(ResNetError::Config("network built without a classifier (fc)".into()).into())
            }
        }
    }

    /// Logits [N, num_classes].
    pub fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        self.head(&self.features_t(x, train)?)
    }

    /// A headless ResNet50-3D of width `widen_factor` with seeded weights
    /// (`tomofuse_nn3d::init_uniform_fan_in`): random convolutional features that are the same
    /// for a given seed on every machine, for when no pretrained weights are available.
    pub fn seeded_extractor(widen_factor: f64, seed: u64) -> Result<Self> {
        let varmap = candle_nn::VarMap::new();
        let vb =
            VarBuilder::from_varmap(&varmap, candle_core::DType::F32, &candle_core::Device::Cpu);
        let mut rc = ResNetConfig::resnet50(1, 2).with_widen_factor(widen_factor);
        rc.num_classes = None;
        let net = Self::new(rc, vb)?;
        tomofuse_nn3d::init_uniform_fan_in(&varmap, seed)?;
        Ok(net)
    }

    /// Eval-mode features of one single-channel volume (its array as the [1, 1, D, H, W] input).
    pub fn volume_features(&self, vol: &tomofuse_core::Volume<f32>) -> Result<Vec<f32>> {
        let s = vol.shape();
        let t = Tensor::from_vec(
            vol.data.iter().copied().collect::<Vec<f32>>(),
            (1, 1, s[0], s[1], s[2]),
            &candle_core::Device::Cpu,
        )?;
        tomofuse_nn3d::on_pool(|| self.features(&t)?.flatten_all()?.to_vec1::<f32>())
    }
}

impl ResNet3d {
    /// Grad-CAM of class `class` at the output of `stage` (1..=4; 4 = last, the usual
    /// choice): ReLU(sum_c mean_spatial(d logit / d A_c) * A_c), upsampled trilinearly to the
    /// input size and scaled to [0, 1] per sample. Returns [N, 1, D, H, W]; eval mode.
    pub fn grad_cam(&self, x: &Tensor, stage: usize, class: usize) -> Result<Tensor> {
        if !(1..=4).contains(&stage) {
            return Err(ResNetError::Stage(stage).into());
        }
        let n_classes = self.cfg.num_classes.unwrap_or(0);
        if class >= n_classes {
            return Err(ResNetError::Config(format!(
                "class {class} out of range for {n_classes} classes"
            ))
            .into());
        }
        let act = self.forward_until(x, stage, false)?;
        let cam = tomofuse_nn3d::grad_cam_at(&act, class, |a| {
            self.head(&self.features_from(a, stage, false)?)
        })?;
        let d = x.dims();
        let cam = tomofuse_nn3d::upsample_trilinear3d(&cam, [d[2], d[3], d[4]])?;
        let flat = cam.reshape((d[0], 1, ()))?;
        let max = flat.max_keepdim(2)?;
        let min = flat.min_keepdim(2)?;
        let range = (&max - &min)?.clamp(1e-12f32, f32::MAX)?;
        flat.broadcast_sub(&min)?
            .broadcast_div(&range)?
            .reshape((d[0], 1, d[2], d[3], d[4]))
    }
}

impl Module for ResNet3d {
    /// Eval-mode logits.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_t(x, false)
    }
}
