//! Grad-CAM in 3D (Selvaraju et al. 2017): activations A at a target layer, gradients of a
//! class logit y with respect to them, channel weights = spatial mean of dy/dA, map =
//! ReLU(sum_c w_c A_c), trilinearly upsampled to the input grid and scaled to [0, 1].

use crate::config::UnetConfig;
use crate::error::{Result, UnetError};
use crate::model::{Tap, Unet};
use candle_core::{Device, Tensor};
use ndarray::Array3;
use tomofuse_core::Volume;

/// A network Grad-CAM can explain, split at the target layer: the activation there, and the
/// class logits computed from it. (candle keeps gradients only for leaves, so the activation
/// becomes a leaf variable and the second half runs from it.)
pub trait CamModel {
    /// Activation at `layer` (N x C x d x h x w), evaluation mode.
    fn activation(&self, x: &Tensor, layer: &str) -> Result<Tensor>;
    /// Class logits (N x K) computed from the activation at `layer`, evaluation mode.
    fn logits_from(&self, act: &Tensor, layer: &str) -> Result<Tensor>;
    /// Input spatial sizes must be multiples of this (the input is zero-padded to it).
    fn size_multiple(&self) -> usize;
    /// Expected input channels.
    fn in_channels(&self) -> usize;
}

fn unet_tap(net: &Unet, layer: &str) -> Result<Tap> {
    let tap = Tap::parse(layer).ok_or_else(|| UnetError::GradCam {
        layer: layer.into(),
        reason: "unknown layer; use `bottom` or `down.<i>`".into(),
    })?;
    let nd = net.config().channels.len() - 1;
    match tap {
        Tap::Down(i) if i >= nd => Err(UnetError::GradCam {
            layer: layer.into(),
            reason: format!("no such down layer (0..{nd})"),
        }),
        Tap::Up(_) => Err(UnetError::GradCam {
            layer: layer.into(),
            reason: "decoder layers do not feed the class head".into(),
        }),
        _ if net.config().class_head.is_none() => Err(UnetError::GradCam {
            layer: layer.into(),
            reason: "the model has no class head".into(),
        }),
        t => Ok(t),
    }
}

impl CamModel for Unet {
    /// Layers: `bottom` (the class head's input), `down.{i}`. Decoder layers do not feed the
    /// class head and are rejected.
    fn activation(&self, x: &Tensor, layer: &str) -> Result<Tensor> {
        let tap = unet_tap(self, layer)?;
        self.check_input(x)?;
        self.encode_until(x, &tap)
    }

    fn logits_from(&self, act: &Tensor, layer: &str) -> Result<Tensor> {
        let tap = unet_tap(self, layer)?;
        self.class_logits_from(act, &tap)
    }

    fn size_multiple(&self) -> usize {
        self.config().total_stride()
    }

    fn in_channels(&self) -> usize {
        self.config().in_channels
    }
}

/// Layers on the class head's gradient path, finest first: the encoder stages `down.0` ..
/// `down.{n-1}` and the bottleneck `bottom`. (Decoder stages do not feed the class head: its
/// logit has no gradient there.)
pub fn class_path_layers(cfg: &UnetConfig) -> Vec<String> {
    let nd = cfg.channels.len().saturating_sub(1);
    (0..nd)
        .map(|i| format!("down.{i}"))
        .chain(std::iter::once("bottom".to_string()))
        .collect()
}

/// Grid of the activation at `layer` for an input of `shape` (zero-padded to the total
/// stride, as [`grad_cam`] does): the resolution the map has before upsampling.
pub fn layer_grid(cfg: &UnetConfig, layer: &str, shape: [usize; 3]) -> [usize; 3] {
    let m = cfg.total_stride().max(1);
    let stride: usize = match Tap::parse(layer) {
        Some(Tap::Down(i)) => cfg.strides.iter().take(i + 1).product(),
        _ => m,
    };
    shape.map(|n| n.div_ceil(m) * m / stride.max(1))
}

/// Why [`localising_layer`] picks the layer it does (also printed in the report).
pub const LOCALISING_LAYER_WHY: &str = "the second encoder stage (1/4 of the input resolution: 12 x 12 x 12 cells of 12.5 mm at the default profile) is on the class head's gradient path (it feeds the bottleneck) and fine enough to place a peak in a sinus, while its channels have passed two residual units, so they carry more than the edges and intensities of the first stage; the bottleneck is 6 x 6 x 6 cells of 25 mm, as wide as a maxillary sinus, and decoder stages do not feed the class head";

/// The layer the experiment reports Grad-CAM at: `down.1`, the encoder output at 1/4 of the
/// input resolution (`down.0` for a one-level network). See [`LOCALISING_LAYER_WHY`].
pub fn localising_layer(cfg: &UnetConfig) -> String {
    let nd = cfg.channels.len().saturating_sub(1);
    match nd {
        0 => "bottom".into(),
        1 => "down.0".into(),
        _ => "down.1".into(),
    }
}

/// Grad-CAM of logit `class_index` at `layer` for a single-channel image, as a volume on the
/// image's grid (values in [0, 1]; all zero when no voxel has positive evidence).
pub fn grad_cam<M: CamModel>(
    model: &M,
    image: &Volume<f32>,
    layer: &str,
    class_index: usize,
) -> Result<Volume<f32>> {
    if model.in_channels() != 1 {
        return Err(UnetError::InputShape {
            shape: vec![model.in_channels()],
            reason: "grad_cam on a Volume needs a single-channel model".into(),
        });
    }
    if let Some(first) = image.data.iter().position(|v| !v.is_finite()) {
        return Err(UnetError::NonFinite {
            what: "Grad-CAM image".into(),
            count: image.data.iter().filter(|v| !v.is_finite()).count(),
            first,
        });
    }
    let sh = image.shape();
    let m = model.size_multiple().max(1);
    let padded: [usize; 3] = std::array::from_fn(|a| sh[a].div_ceil(m) * m);
    let mut buf = Array3::<f32>::zeros(padded);
    buf.slice_mut(ndarray::s![..sh[0], ..sh[1], ..sh[2]])
        .assign(&image.data);
    let x = Tensor::from_vec(
        buf.into_raw_vec_and_offset().0,
        (1, 1, padded[0], padded[1], padded[2]),
        &Device::Cpu,
    )?;
    // `activation` has already checked the layer name, so what fails from here on (class index
    // out of range, no gradient path) is reported as a Grad-CAM error of this layer.
    let act = model.activation(&x, layer)?;
    let cam = tomofuse_nn3d::grad_cam_at(&act, class_index, |a| {
        model
            .logits_from(a, layer)
            .map_err(|e| candle_core::Error::Msg(e.to_string()))
    })
    .map_err(|e| UnetError::GradCam {
        layer: layer.into(),
        reason: e.to_string(),
    })?;
    let cam = cam.get(0)?.get(0)?;
    let cd = cam.dims().to_vec();
    let cv = cam.flatten_all()?.to_vec1::<f32>()?;
    let small =
        Array3::from_shape_vec((cd[0], cd[1], cd[2]), cv).map_err(|e| UnetError::GradCam {
            layer: layer.into(),
            reason: e.to_string(),
        })?;
    let up = resize_trilinear(&small, padded);
    let mut out = up.slice(ndarray::s![..sh[0], ..sh[1], ..sh[2]]).to_owned();
    let max = out.iter().cloned().fold(0.0f32, f32::max);
    if max > 0.0 {
        out.mapv_inplace(|v| v / max);
    }
    Ok(Volume::new(out, image.geometry)?)
}

/// Trilinear resize with PyTorch's `align_corners=False` convention.
pub fn resize_trilinear(a: &Array3<f32>, out: [usize; 3]) -> Array3<f32> {
    let ins = a.shape();
    let ins = [ins[0], ins[1], ins[2]];
    let coords = |ax: usize| -> Vec<(usize, usize, f32)> {
        let scale = ins[ax] as f64 / out[ax] as f64;
        (0..out[ax])
            .map(|o| {
                let src = ((o as f64 + 0.5) * scale - 0.5).max(0.0);
                let i0 = (src.floor() as usize).min(ins[ax] - 1);
                let i1 = (i0 + 1).min(ins[ax] - 1);
                (i0, i1, (src - i0 as f64) as f32)
            })
            .collect()
    };
    let (ci, cj, ck) = (coords(0), coords(1), coords(2));
    Array3::from_shape_fn(out, |(i, j, k)| {
        let (i0, i1, ti) = ci[i];
        let (j0, j1, tj) = cj[j];
        let (k0, k1, tk) = ck[k];
        let lerp = |a: f32, b: f32, t: f32| a + (b - a) * t;
        let c00 = lerp(a[[i0, j0, k0]], a[[i0, j0, k1]], tk);
        let c01 = lerp(a[[i0, j1, k0]], a[[i0, j1, k1]], tk);
        let c10 = lerp(a[[i1, j0, k0]], a[[i1, j0, k1]], tk);
        let c11 = lerp(a[[i1, j1, k0]], a[[i1, j1, k1]], tk);
        lerp(lerp(c00, c01, tj), lerp(c10, c11, tj), ti)
    })
}

#[cfg(feature = "resnet3d")]
fn resnet_stage(layer: &str) -> Result<usize> {
    match layer {
        "stem" => Ok(0),
        "layer1" => Ok(1),
        "layer2" => Ok(2),
        "layer3" => Ok(3),
        "layer4" => Ok(4),
        _ => Err(UnetError::GradCam {
            layer: layer.into(),
            reason: "unknown layer; use `stem` or `layer1`..`layer4`".into(),
        }),
    }
}

#[cfg(feature = "resnet3d")]
impl CamModel for tomofuse_resnet3d::ResNet3d {
    /// Layers: `stem` (after conv1/bn/relu/max-pool) and `layer1`..`layer4`.
    fn activation(&self, x: &Tensor, layer: &str) -> Result<Tensor> {
        let stage = resnet_stage(layer)?;
        Ok(self.forward_until(x, stage, false)?)
    }

    fn logits_from(&self, act: &Tensor, layer: &str) -> Result<Tensor> {
        let stage = resnet_stage(layer)?;
        Ok(self.head(&self.features_from(act, stage, false)?)?)
    }

    /// The ResNet accepts any size above its stride: no padding.
    fn size_multiple(&self) -> usize {
        1
    }

    fn in_channels(&self) -> usize {
        self.config().n_input_channels
    }
}
