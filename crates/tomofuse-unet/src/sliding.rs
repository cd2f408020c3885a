//! Sliding-window inference with overlap and Gaussian importance weighting, as nnU-Net and
//! MONAI's `sliding_window_inference(mode="gaussian")`: border voxels of a window, where the
//! network sees little context, count less than its centre.

use crate::error::{Result, UnetError, config_err};
use candle_core::{Device, Tensor};
use ndarray::{Array3, Array4, s};
use serde::{Deserialize, Serialize};

/// Window size, overlap and weighting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlidingWindowConfig {
    /// Window (patch) size D, H, W.
    pub roi: [usize; 3],
    /// Fraction of the window shared with its neighbour along each axis, in [0, 1).
    pub overlap: f64,
    /// Gaussian sigma as a fraction of the window size (nnU-Net: 1/8).
    pub sigma_scale: f64,
    /// Gaussian weighting (true) or uniform averaging (false).
    pub gaussian: bool,
    /// Windows per forward pass.
    pub batch: usize,
}

impl Default for SlidingWindowConfig {
    fn default() -> Self {
        Self {
            roi: [96, 96, 96],
            overlap: 0.5,
            sigma_scale: 0.125,
            gaussian: true,
            batch: 1,
        }
    }
}

impl SlidingWindowConfig {
    /// Checks the fields.
    pub fn validate(&self) -> Result<()> {
        if self.roi.contains(&0) {
            return Err(config_err("sliding.roi", "every axis must be >= 1"));
        }
        if !(0.0..1.0).contains(&self.overlap) {
            return Err(config_err("sliding.overlap", "must be in [0, 1)"));
        }
        if !(self.sigma_scale > 0.0 && self.sigma_scale.is_finite()) {
            return Err(config_err("sliding.sigma_scale", "must be finite and > 0"));
        }
        if self.batch == 0 {
            return Err(config_err("sliding.batch", "must be >= 1"));
        }
        Ok(())
    }
}

/// Gaussian importance map over a window, maximum 1 at the centre; values that underflow to 0
/// are raised to the smallest positive value (nnU-Net) so every voxel keeps a weight.
pub fn gaussian_importance(roi: [usize; 3], sigma_scale: f64) -> Array3<f32> {
    let axis = |n: usize| -> Vec<f64> {
        let c = (n as f64 - 1.0) / 2.0;
        let sig = (n as f64 * sigma_scale).max(1e-6);
        (0..n)
            .map(|i| (-(i as f64 - c).powi(2) / (2.0 * sig * sig)).exp())
            .collect()
    };
    let (a, b, c) = (axis(roi[0]), axis(roi[1]), axis(roi[2]));
    let mut m = Array3::from_shape_fn(roi, |(i, j, k)| (a[i] * b[j] * c[k]) as f32);
    let max = m.iter().cloned().fold(0.0f32, f32::max);
    m.mapv_inplace(|v| v / max);
    let min_pos = m
        .iter()
        .cloned()
        .filter(|&v| v > 0.0)
        .fold(f32::INFINITY, f32::min);
    m.mapv_inplace(|v| if v > 0.0 { v } else { min_pos });
    m
}

/// Window start positions along one axis (MONAI's dense_patch_slices): step
/// `roi * (1 - overlap)`, the last window flush with the end.
pub fn window_starts(size: usize, roi: usize, overlap: f64) -> Vec<usize> {
    if size <= roi {
        return vec![0];
    }
    let step = ((roi as f64 * (1.0 - overlap)).floor() as usize).max(1);
    let n = (size - roi).div_ceil(step) + 1;
    let mut v: Vec<usize> = (0..n).map(|i| (i * step).min(size - roi)).collect();
    v.dedup();
    v
}

/// Sum of the importance weights every voxel receives from the windows that cover it (the
/// normaliser of the blend). Public so tests can compare it with a naive count.
pub fn weight_sum(shape: [usize; 3], cfg: &SlidingWindowConfig) -> Array3<f32> {
    let imp = importance(cfg);
    let mut acc = Array3::<f32>::zeros(shape);
    for st in all_starts(shape, cfg.roi, cfg.overlap) {
        let mut v = acc.slice_mut(s![
            st[0]..st[0] + cfg.roi[0],
            st[1]..st[1] + cfg.roi[1],
            st[2]..st[2] + cfg.roi[2]
        ]);
        v += &imp;
    }
    acc
}

fn importance(cfg: &SlidingWindowConfig) -> Array3<f32> {
    if cfg.gaussian {
        gaussian_importance(cfg.roi, cfg.sigma_scale)
    } else {
        Array3::ones(cfg.roi)
    }
}

fn all_starts(shape: [usize; 3], roi: [usize; 3], overlap: f64) -> Vec<[usize; 3]> {
    let (a, b, c) = (
        window_starts(shape[0], roi[0], overlap),
        window_starts(shape[1], roi[1], overlap),
        window_starts(shape[2], roi[2], overlap),
    );
    let mut out = Vec::with_capacity(a.len() * b.len() * c.len());
    for &i in &a {
        for &j in &b {
            for &k in &c {
                out.push([i, j, k]);
            }
        }
    }
    out
}

/// Result of [`sliding_window`]: the blended map and the mean of the per-window extra outputs.
#[derive(Debug, Clone)]
pub struct SlidingOutput {
    /// K x D x H x W blended output on the input grid.
    pub map: Array4<f32>,
    /// Mean over windows of the second value `f` returned (e.g. class logits), if any.
    pub extra: Option<Vec<f32>>,
}

/// Runs `f` on overlapping windows of `image` (C x D x H x W) and blends the K-channel
/// outputs with the importance map. Axes shorter than the window are zero-padded
/// symmetrically (as MONAI) and cropped back. `f` receives B x C x roi and returns
/// (B x K x roi, optionally B x E values).
pub fn sliding_window<F>(
    image: &Array4<f32>,
    cfg: &SlidingWindowConfig,
    f: F,
) -> Result<SlidingOutput>
where
    F: Fn(&Tensor) -> Result<(Tensor, Option<Tensor>)>,
{
    cfg.validate()?;
    let sh = image.shape();
    let (c, orig) = (sh[0], [sh[1], sh[2], sh[3]]);
    tomofuse_core::check_alloc(orig, 4 * c.max(1))?;
    // Pad to at least the window.
    let padded_shape: [usize; 3] = std::array::from_fn(|a| orig[a].max(cfg.roi[a]));
    let lo: [usize; 3] = std::array::from_fn(|a| (padded_shape[a] - orig[a]) / 2);
    let padded = if padded_shape == orig {
        image.clone()
    } else {
        let mut p = Array4::<f32>::zeros((c, padded_shape[0], padded_shape[1], padded_shape[2]));
        p.slice_mut(s![
            ..,
            lo[0]..lo[0] + orig[0],
            lo[1]..lo[1] + orig[1],
            lo[2]..lo[2] + orig[2]
        ])
        .assign(image);
        p
    };
    let imp = importance(cfg);
    let starts = all_starts(padded_shape, cfg.roi, cfg.overlap);
    let mut acc: Option<Array4<f32>> = None;
    let mut wsum = Array3::<f32>::zeros(padded_shape);
    let mut extra_sum: Option<Vec<f64>> = None;
    let r = cfg.roi;
    for chunk in starts.chunks(cfg.batch) {
        let mut buf = Vec::with_capacity(chunk.len() * c * r[0] * r[1] * r[2]);
        for st in chunk {
            let w = padded.slice(s![
                ..,
                st[0]..st[0] + r[0],
                st[1]..st[1] + r[1],
                st[2]..st[2] + r[2]
            ]);
            buf.extend(w.iter().cloned());
        }
        let x = Tensor::from_vec(buf, (chunk.len(), c, r[0], r[1], r[2]), &Device::Cpu)?;
        let (y, e) = f(&x)?;
        let dims = y.dims().to_vec();
        if dims.len() != 5 || dims[0] != chunk.len() || dims[2..] != r[..] {
            return Err(UnetError::InputShape {
                shape: dims,
                reason: format!("window function must return {} x K x {:?}", chunk.len(), r),
            });
        }
        let k = dims[1];
        let yv = y.flatten_all()?.to_vec1::<f32>()?;
        let ya = Array4::from_shape_vec((chunk.len() * k, r[0], r[1], r[2]), yv)
            .map_err(|e| config_err("sliding", e.to_string()))?;
        let acc = acc.get_or_insert_with(|| {
            Array4::zeros((k, padded_shape[0], padded_shape[1], padded_shape[2]))
        });
        for (b, st) in chunk.iter().enumerate() {
            for ch in 0..k {
                let mut dst = acc.slice_mut(s![
                    ch,
                    st[0]..st[0] + r[0],
                    st[1]..st[1] + r[1],
                    st[2]..st[2] + r[2]
                ]);
                let src = ya.slice(s![b * k + ch, .., .., ..]);
                ndarray::Zip::from(&mut dst)
                    .and(&src)
                    .and(&imp)
                    .for_each(|d, &v, &w| *d += v * w);
            }
            let mut wd = wsum.slice_mut(s![
                st[0]..st[0] + r[0],
                st[1]..st[1] + r[1],
                st[2]..st[2] + r[2]
            ]);
            wd += &imp;
        }
        if let Some(e) = e {
            let ev = e.flatten_all()?.to_vec1::<f32>()?;
            let per = ev.len() / chunk.len().max(1);
            let es = extra_sum.get_or_insert_with(|| vec![0.0; per]);
            for (i, v) in ev.iter().enumerate() {
                if let Some(slot) = es.get_mut(i % per.max(1)) {
                    *slot += *v as f64;
                }
            }
        }
    }
    let mut acc = acc.ok_or_else(|| config_err("sliding", "no window"))?;
    for mut ch in acc.outer_iter_mut() {
        ndarray::Zip::from(&mut ch)
            .and(&wsum)
            .for_each(|v, &w| *v /= w);
    }
    let map = acc
        .slice(s![
            ..,
            lo[0]..lo[0] + orig[0],
            lo[1]..lo[1] + orig[1],
            lo[2]..lo[2] + orig[2]
        ])
        .to_owned();
    let n = starts.len() as f64;
    let extra = extra_sum.map(|v| v.into_iter().map(|x| (x / n) as f32).collect());
    Ok(SlidingOutput { map, extra })
}
