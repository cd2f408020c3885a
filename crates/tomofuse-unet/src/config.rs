//! Network configuration, validated before any tensor is built.

use crate::error::{Result, config_err};
use serde::{Deserialize, Serialize};

/// Normalisation inside each convolution's ADN block (MONAI's `norm`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NormKind {
    /// InstanceNorm3d without affine parameters (MONAI's default).
    Instance,
    /// BatchNorm3d (affine, running statistics; train/eval differ).
    Batch,
}

/// Classification head on the bottleneck: 1x1x1 projection, adaptive average pooling to a
/// coarse grid (keeps where the evidence is; see [`crate::CLASS_POOL_GRID`]), then an MLP.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassHeadConfig {
    /// Hidden width of the MLP; 0 means a single linear layer.
    pub hidden: usize,
    /// Number of logits: 1 for a binary task (sigmoid), >= 2 for softmax classes.
    pub num_classes: usize,
}

impl Default for ClassHeadConfig {
    fn default() -> Self {
        Self {
            hidden: 32,
            num_classes: 1,
        }
    }
}

/// MONAI-style 3D U-Net (`monai.networks.nets.UNet`, spatial_dims 3) with an optional
/// classification head: MTLNet is this model with `class_head` set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnetConfig {
    /// Input channels (1 for CT).
    pub in_channels: usize,
    /// Segmentation output channels (classes including background; 2 for binary).
    pub out_channels: usize,
    /// Channels per level, top to bottom; the last one is the bottleneck.
    pub channels: Vec<usize>,
    /// Stride of each down-sampling level; `channels.len() - 1` entries.
    pub strides: Vec<usize>,
    /// Residual units per down layer (MONAI `num_res_units`); 0 = plain convolutions.
    pub num_res_units: usize,
    /// Normalisation kind.
    pub norm: NormKind,
    /// Classification head, `None` for a plain segmentation U-Net.
    pub class_head: Option<ClassHeadConfig>,
}

impl Default for UnetConfig {
    /// MONAI `UNet(3, 1, 2, (16, 32, 64, 128, 256), (2, 2, 2, 2), num_res_units=2)` plus a
    /// binary class head.
    fn default() -> Self {
        Self {
            in_channels: 1,
            out_channels: 2,
            channels: vec![16, 32, 64, 128, 256],
            strides: vec![2, 2, 2, 2],
            num_res_units: 2,
            norm: NormKind::Instance,
            class_head: Some(ClassHeadConfig::default()),
        }
    }
}

impl UnetConfig {
    /// Checks every field; the error names the field.
    pub fn validate(&self) -> Result<()> {
        if self.in_channels == 0 {
            return Err(config_err("in_channels", "must be >= 1"));
        }
        if self.out_channels < 2 {
            return Err(config_err(
                "out_channels",
                "must be >= 2 (background + at least one class; softmax output)",
            ));
        }
        if self.channels.len() < 2 {
            return Err(config_err(
                "channels",
                format!(
                    "needs at least 2 levels (got {}): one down level and the bottleneck",
                    self.channels.len()
                ),
            ));
        }
        if let Some(i) = self.channels.iter().position(|&c| c == 0) {
            return Err(config_err("channels", format!("entry {i} is 0")));
        }
        if self.strides.len() != self.channels.len() - 1 {
            return Err(config_err(
                "strides",
                format!(
                    "needs channels.len() - 1 = {} entries, got {}",
                    self.channels.len() - 1,
                    self.strides.len()
                ),
            ));
        }
        if let Some(i) = self.strides.iter().position(|&s| s == 0 || s > 4) {
            return Err(config_err(
                "strides",
                format!("entry {i} = {} (must be 1..=4)", self.strides[i]),
            ));
        }
        if self.num_res_units > 8 {
            return Err(config_err("num_res_units", "must be <= 8"));
        }
        if let Some(h) = &self.class_head
            && h.num_classes == 0
        {
            return Err(config_err("class_head.num_classes", "must be >= 1"));
        }
        Ok(())
    }

    /// Product of the strides: every input axis must be a multiple of it.
    pub fn total_stride(&self) -> usize {
        self.strides.iter().product()
    }
}
