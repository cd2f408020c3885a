//! tomofuse-unet: the MTLNet-style multitask 3D U-Net on candle.
//!
//! - [`Unet`]: MONAI `UNet` structure (residual units, PReLU, instance/batch norm, strided
//!   convolutions down, transposed convolutions up) with PyTorch state-dict names, plus an
//!   optional classification head on the bottleneck (1x1x1 projection, adaptive average
//!   pooling to a coarse 3 x 3 x 3 grid that keeps the spatial layout, MLP).
//! - [`train`]: Dice + CE and BCE/focal joint loss, AdamW with warmup + cosine, seeded
//!   augmentation and foreground-oversampled patches, per-epoch validation keeping the best
//!   weights, safetensors checkpoints.
//! - [`sliding_window`]: Gaussian-weighted overlapping windows, optional mirror TTA.
//! - [`grad_cam`]: 3D Grad-CAM for the class head (and any [`CamModel`]).
//!
//! Tensors are N x C x D x H x W with D, H, W = the volume's index axes i, j, k.

pub mod augment;
pub mod config;
pub mod error;
pub mod gradcam;
mod layers;
pub mod loss;
pub mod model;
pub mod sliding;
pub mod train;

pub use augment::AugmentConfig;
pub use config::{ClassHeadConfig, NormKind, UnetConfig};
pub use error::{Result, UnetError};
pub use gradcam::{CamModel, grad_cam, resize_trilinear};
pub use loss::ClassLoss;
pub use model::{CLASS_POOL_GRID, CLASS_REDUCE_CHANNELS, Tap, Unet, UnetOutput};
pub use sliding::{
    SlidingOutput, SlidingWindowConfig, gaussian_importance, sliding_window, window_starts,
};
pub use train::{
    Case, EpochRecord, Evaluation, History, Prediction, TrainConfig, TrainedModel, auc, dice, train,
};
