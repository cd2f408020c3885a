//! What the orchestrator asks of the networks, as object-safe traits over plain data: the
//! binary (`tomofuse-cli`) implements them on `tomofuse-unet` and `tomofuse-resnet3d`, so this
//! crate builds without candle or rand. A new network goes behind these traits; the stages
//! only decide order, caching and what happens to a failing case.
//!
//! The data types mirror the network crates' own where a run directory stores them
//! ([`History`] in the segmentation stage and `metrics.json`): same fields, same serde form.

use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use tomofuse_core::{Mask, Volume};

/// The networks a study can use: built, trained and loaded by the binary's adapter.
pub trait Networks: Send + Sync {
    /// The full training configuration the segmentation network would use for `spec` (every
    /// default of the network crate filled in, checkpoint folder left out), as JSON text: the
    /// segmentation stage's key, so a changed network default never reuses a cached model.
    fn segmentation_key(&self, spec: &SegTrainSpec) -> Result<String>;

    /// Trains the segmentation network on `train` (`val` picks the best epoch), seeded.
    fn train_segmentation(
        &self,
        spec: &SegTrainSpec,
        train: Vec<SegCase>,
        val: Vec<SegCase>,
        seed: u64,
    ) -> Result<(Box<dyn SegmentationModel>, History)>;

    /// A segmentation model saved by [`SegmentationModel::save`].
    fn load_segmentation(&self, path: &Path) -> Result<Box<dyn SegmentationModel>>;

    /// A headless feature network of width `widen_factor` with seeded random weights (no
    /// pretrained weights can be fetched here): the same features for a seed on every machine.
    fn seeded_extractor(&self, widen_factor: f64, seed: u64) -> Result<Box<dyn DeepExtractor>>;

    /// The fine-tuning configuration `spec` resolves to (every default filled in), as text for
    /// the deep classifier stage's key.
    fn finetune_key(&self, spec: &FinetuneSpec) -> String;

    /// K-fold cross-fitted fine-tuning: fold `k`'s classifier never sees the samples with
    /// `fold_of[i] == k`, so every training sample gets a held-out score.
    fn cross_fit(
        &self,
        spec: &FinetuneSpec,
        samples: Vec<DeepSample>,
        fold_of: &[usize],
        folds: usize,
    ) -> Result<Box<dyn DeepClassifier>>;

    /// The fold classifiers saved by [`DeepClassifier::save_fold`], in fold order.
    fn load_classifier(&self, files: &[PathBuf]) -> Result<Box<dyn DeepClassifier>>;
}

/// A trained segmentation network (with an optional class head).
pub trait SegmentationModel: Send + Sync {
    /// Mask, foreground probability and class probability of a planned, normalised volume.
    fn predict(&self, image: &Volume<f32>) -> Result<SegPrediction>;

    /// Writes the weights and configuration (what [`Networks::load_segmentation`] reads).
    fn save(&self, path: &Path) -> Result<()>;

    /// Whether the network classifies (and so has a Grad-CAM).
    fn has_class_head(&self) -> bool;

    /// Layers on the class logit's gradient path, finest first.
    fn cam_layers(&self) -> Vec<String>;

    /// The layer the report's Grad-CAM maps are computed at.
    fn localising_layer(&self) -> String;

    /// Why [`Self::localising_layer`] is that layer (printed in the report).
    fn localising_layer_why(&self) -> &'static str;

    /// Grid of `layer`'s activation for an input of `shape`: the map's resolution.
    fn layer_grid(&self, layer: &str, shape: [usize; 3]) -> [usize; 3];

    /// Grad-CAM of logit `class_index` at `layer`, on the image's grid, values in [0, 1].
    fn grad_cam(&self, image: &Volume<f32>, layer: &str, class_index: usize)
    -> Result<Volume<f32>>;
}

/// A feature network: one vector per single-channel volume.
pub trait DeepExtractor: Send + Sync {
    fn volume_features(&self, volume: &Volume<f32>) -> Result<Vec<f32>>;
}

/// A cross-fitted deep classifier: one fine-tuned network per fold.
pub trait DeepClassifier: Send + Sync {
    fn folds(&self) -> usize;

    /// Writes fold `fold`'s classifier (what [`Networks::load_classifier`] reads).
    fn save_fold(&self, fold: usize, path: &Path) -> Result<()>;

    /// Fold `fold`'s mean training loss per epoch (empty for a loaded classifier).
    fn train_losses(&self, fold: usize) -> &[f64];

    /// The logit of a crop from the classifier of its fold when it was a training sample
    /// (`Some(fold)`), else the mean over the folds.
    fn held_out_logit(&self, fold: Option<usize>, crop: &Volume<f32>) -> Result<f64>;
}

/// One training or validation case of the segmentation network, on the planned grid.
#[derive(Debug, Clone)]
pub struct SegCase {
    pub image: Volume<f32>,
    /// Label mask on the image's grid (0 = background).
    pub mask: Mask,
    pub label: Option<bool>,
}

/// A prediction on one volume, on its grid.
#[derive(Debug, Clone)]
pub struct SegPrediction {
    /// Foreground probability.
    pub probability: Volume<f32>,
    /// Arg-max label per voxel.
    pub mask: Mask,
    /// Probability of the positive class (None without a class head).
    pub class_probability: Option<f32>,
}

/// Normalisation inside the segmentation network's convolution blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NormKind {
    Instance,
    Batch,
}

/// The segmentation network's architecture, as the experiment decides it.
#[derive(Debug, Clone, PartialEq)]
pub struct UnetSpec {
    pub in_channels: usize,
    /// Segmentation classes including background.
    pub out_channels: usize,
    /// Channels per level, top to bottom; the last one is the bottleneck.
    pub channels: Vec<usize>,
    /// Stride of each down-sampling level (`channels.len() - 1` entries).
    pub strides: Vec<usize>,
    pub num_res_units: usize,
    pub norm: NormKind,
    /// Class head (hidden width, number of logits); `None` for a plain segmentation network.
    pub class_head: Option<ClassHeadSpec>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClassHeadSpec {
    pub hidden: usize,
    pub num_classes: usize,
}

/// What the experiment sets of the segmentation network's training; everything else keeps
/// the network crate's default ([`Networks::segmentation_key`] shows the whole).
#[derive(Debug, Clone, PartialEq)]
pub struct SegTrainSpec {
    pub model: UnetSpec,
    pub patch: [usize; 3],
    pub batch_size: usize,
    pub epochs: usize,
    pub steps_per_epoch: usize,
    pub lr: f64,
    pub min_lr: f64,
    pub warmup_steps: usize,
    pub class_loss_weight: f64,
    /// Sliding windows at validation and prediction: size and overlap.
    pub window_roi: [usize; 3],
    pub window_overlap: f64,
    /// Where per-epoch checkpoints go, if anywhere.
    pub checkpoint_dir: Option<PathBuf>,
    /// Continue an interrupted training from the trainer's state in `checkpoint_dir` when it
    /// holds one (the folder belongs to this same training); start afresh otherwise.
    pub resume: bool,
    pub class_balanced_batches: bool,
    pub selection_window: usize,
    pub validation_interval: usize,
}

/// What the experiment sets of the deep classifier's fine-tuning; everything else keeps the
/// network crate's default ([`Networks::finetune_key`] shows the whole).
#[derive(Debug, Clone, PartialEq)]
pub struct FinetuneSpec {
    pub epochs: usize,
    pub seed: u64,
    /// Largest per-voxel noise SD of the training augmentation, in the crops' units.
    pub noise_std: f64,
    /// Where per-epoch checkpoints go (a folder per fold below it), if anywhere.
    pub checkpoint_dir: Option<PathBuf>,
    /// Continue an interrupted cross-fitting from the checkpoints in `checkpoint_dir` (the
    /// folder belongs to this same fine-tuning); start afresh otherwise.
    pub resume: bool,
}

/// One labelled crop for fine-tuning.
#[derive(Debug, Clone)]
pub struct DeepSample {
    pub crop: Volume<f32>,
    pub label: bool,
}

/// The segmentation network's per-epoch training record and the epoch it kept (the U-Net
/// crate's `History`, field for field: the segmentation stage and `metrics.json` store it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct History {
    pub epochs: Vec<EpochRecord>,
    /// Epoch (0-based) whose weights the model holds.
    pub best_epoch: usize,
}

/// Metrics of one epoch (the U-Net crate's `EpochRecord`, field for field).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    pub epoch: usize,
    pub lr: f64,
    pub train_loss: f64,
    pub train_seg_loss: f64,
    pub train_class_loss: f64,
    pub val_dice: Option<f64>,
    pub val_auc: Option<f64>,
    #[serde(default)]
    pub val_class_loss: Option<f64>,
    pub val_score: Option<f64>,
    #[serde(default)]
    pub selection_score: Option<f64>,
}
