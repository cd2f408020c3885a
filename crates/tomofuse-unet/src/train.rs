//! Training (AdamW + warmup/cosine schedule, foreground-oversampled augmented patches,
//! per-epoch validation keeping the best weights) and whole-volume prediction.

use crate::augment::{AugmentConfig, augmented_patch};
use crate::config::UnetConfig;
use crate::error::{Result, UnetError, config_err};
use crate::loss::{ClassLoss, class_loss, dice_ce_loss};
use crate::model::Unet;
use crate::sliding::{SlidingWindowConfig, sliding_window};
use candle_core::{D, DType, Device, Tensor, Var};
use candle_nn::{VarBuilder, VarMap};
use ndarray::{Array3, Array4, Axis};
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use tomofuse_core::{Mask, Volume};
use tomofuse_nn3d::ParamsAdamW;
use tomofuse_nn3d::trainer::{self, Steps, Task, TrainerConfig};

/// One training or validation case: a normalised image, its label mask (0 = background,
/// 1..out_channels-1 = classes) on the same grid, and the case-level class if known.
#[derive(Debug, Clone)]
pub struct Case {
    pub image: Volume<f32>,
    pub mask: Mask,
    pub label: Option<bool>,
}

/// Everything that controls training; validated before any work.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    pub model: UnetConfig,
    /// Training patch size (each axis a multiple of the network's total stride).
    pub patch: [usize; 3],
    pub batch_size: usize,
    pub epochs: usize,
    pub steps_per_epoch: usize,
    /// Peak learning rate (AdamW).
    pub lr: f64,
    /// Learning rate at the end of the cosine decay.
    pub min_lr: f64,
    /// Linear warmup from lr / warmup_steps to lr.
    pub warmup_steps: usize,
    pub weight_decay: f64,
    /// Probability that a patch is centred on a foreground voxel (nnU-Net uses 0.33).
    pub fg_oversample: f64,
    pub augment: AugmentConfig,
    pub class_loss: ClassLoss,
    /// Weight of the segmentation loss (Dice + CE).
    pub seg_loss_weight: f64,
    /// Weight of the class loss.
    pub class_loss_weight: f64,
    /// Validation/prediction windows (roi a multiple of the total stride).
    pub sliding: SlidingWindowConfig,
    /// Mirror test-time augmentation (all 8 flips) at prediction.
    pub tta: bool,
    /// Where to write `best.safetensors` / `last.safetensors` (+ `.json`) and the trainer's
    /// resume state, if anywhere.
    pub checkpoint_dir: Option<PathBuf>,
    /// With a class head and both classes among the training labels: draw the cases of a batch
    /// alternately from the two classes (uniformly within a class), so every batch of two or
    /// more contrasts the classes. Off: cases uniformly at random.
    #[serde(default = "yes")]
    pub class_balanced_batches: bool,
    /// Best-epoch selection: the validation score ([`EpochRecord::val_score`]) is averaged over
    /// this many trailing epochs (1 = the epoch's own score). A small validation set makes the
    /// per-epoch AUC noisy; the average stops one lucky epoch from being picked.
    #[serde(default = "one")]
    pub selection_window: usize,
    /// Validate (and consider for best-epoch selection) every this many epochs and after the
    /// last one (MONAI's `val_interval`). Sliding-window validation of full volumes can cost
    /// far more than an epoch's training steps on large images.
    #[serde(default = "one")]
    pub validation_interval: usize,
    /// Continue from the trainer's state in `checkpoint_dir` (same config, same seed) instead
    /// of starting afresh. Not serialised: it says how to run, not what was trained.
    #[serde(skip)]
    pub resume: bool,
    /// Stop after this many epochs of the `epochs`-long schedule (checkpointed; `resume`
    /// continues), e.g. to fit a time slot. Not serialised.
    #[serde(skip)]
    pub stop_after: Option<usize>,
}

fn yes() -> bool {
    true
}

fn one() -> usize {
    1
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            model: UnetConfig::default(),
            patch: [96, 96, 96],
            batch_size: 2,
            epochs: 100,
            steps_per_epoch: 250,
            lr: 1e-3,
            min_lr: 1e-5,
            warmup_steps: 100,
            weight_decay: 1e-2,
            fg_oversample: 0.33,
            augment: AugmentConfig::default(),
            class_loss: ClassLoss::default(),
            seg_loss_weight: 1.0,
            class_loss_weight: 0.5,
            sliding: SlidingWindowConfig::default(),
            tta: false,
            checkpoint_dir: None,
            class_balanced_batches: true,
            selection_window: 3,
            validation_interval: 1,
            resume: false,
            stop_after: None,
        }
    }
}

impl TrainConfig {
    /// Checks every field; the error names it.
    pub fn validate(&self) -> Result<()> {
        self.model.validate()?;
        self.augment.validate()?;
        self.sliding.validate()?;
        let st = self.model.total_stride();
        if self.model.in_channels != 1 {
            return Err(config_err(
                "model.in_channels",
                "training and prediction on Volume<f32> cases need in_channels = 1",
            ));
        }
        if self.patch.iter().any(|&p| p == 0 || p % st != 0) {
            return Err(config_err(
                "patch",
                format!(
                    "{:?}: every axis must be a positive multiple of the total stride {st}",
                    self.patch
                ),
            ));
        }
        if self.sliding.roi.iter().any(|&p| p % st != 0) {
            return Err(config_err(
                "sliding.roi",
                format!(
                    "{:?}: every axis must be a multiple of the total stride {st}",
                    self.sliding.roi
                ),
            ));
        }
        if self.selection_window == 0 {
            return Err(config_err("selection_window", "must be >= 1"));
        }
        if self.validation_interval == 0 {
            return Err(config_err("validation_interval", "must be >= 1"));
        }
        if self.batch_size == 0 {
            return Err(config_err("batch_size", "must be >= 1"));
        }
        if self.epochs == 0 || self.steps_per_epoch == 0 {
            return Err(config_err(
                "epochs",
                "epochs and steps_per_epoch must be >= 1",
            ));
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return Err(config_err("lr", "must be finite and > 0"));
        }
        if !(self.min_lr >= 0.0 && self.min_lr <= self.lr) {
            return Err(config_err("min_lr", "must be in [0, lr]"));
        }
        if !(self.weight_decay >= 0.0 && self.weight_decay.is_finite()) {
            return Err(config_err("weight_decay", "must be finite and >= 0"));
        }
        if !(0.0..=1.0).contains(&self.fg_oversample) {
            return Err(config_err("fg_oversample", "must be in [0, 1]"));
        }
        if !(self.seg_loss_weight >= 0.0 && self.class_loss_weight >= 0.0) {
            return Err(config_err("seg_loss_weight", "loss weights must be >= 0"));
        }
        if let ClassLoss::Focal { alpha, gamma } = self.class_loss
            && !((0.0..=1.0).contains(&alpha) && (0.0..=5.0).contains(&gamma))
        {
            return Err(config_err(
                "class_loss",
                "focal alpha in [0, 1], gamma in [0, 5]",
            ));
        }
        if let ClassLoss::Bce {
            pos_weight: Some(w),
        } = self.class_loss
            && !(w > 0.0 && w.is_finite())
        {
            return Err(config_err(
                "class_loss.pos_weight",
                "must be finite and > 0",
            ));
        }
        Ok(())
    }

    /// Learning rate at optimizer step `step` of `total`: linear warmup, then cosine decay.
    pub fn lr_at(&self, step: usize, total: usize) -> f64 {
        if step < self.warmup_steps {
            return self.lr * (step + 1) as f64 / self.warmup_steps as f64;
        }
        let span = total.saturating_sub(self.warmup_steps).max(1) as f64;
        let t = ((step - self.warmup_steps) as f64 / span).min(1.0);
        self.min_lr + 0.5 * (self.lr - self.min_lr) * (1.0 + (std::f64::consts::PI * t).cos())
    }
}

/// Metrics of one epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    pub epoch: usize,
    pub lr: f64,
    pub train_loss: f64,
    pub train_seg_loss: f64,
    pub train_class_loss: f64,
    /// Mean foreground Dice over validation cases (None without validation cases).
    pub val_dice: Option<f64>,
    /// Validation AUC of the class probability (None unless both classes are present).
    pub val_auc: Option<f64>,
    /// Mean validation binary cross-entropy of the class probability (labelled cases).
    #[serde(default)]
    pub val_class_loss: Option<f64>,
    /// This epoch's validation score: mean of val_dice and val_auc when both exist, else
    /// val_dice.
    pub val_score: Option<f64>,
    /// What selects the best epoch: val_score averaged over the last
    /// [`TrainConfig::selection_window`] epochs.
    #[serde(default)]
    pub selection_score: Option<f64>,
    /// Wall-clock seconds of the epoch, validation included.
    #[serde(default)]
    pub seconds: f64,
}

/// What [`TrainedModel::evaluate_detailed`] measures on a set of cases.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// Mean foreground Dice.
    pub dice: f64,
    /// AUC of the class probability (None unless both classes are present).
    pub auc: Option<f64>,
    /// Mean binary cross-entropy of the class probability over the labelled cases.
    pub class_loss: Option<f64>,
    /// Class probabilities and labels of the labelled cases, in input order.
    pub scores: Vec<f64>,
    pub labels: Vec<bool>,
}

/// Per-epoch history and which epoch's weights were kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct History {
    pub epochs: Vec<EpochRecord>,
    /// Epoch (0-based) whose weights the returned model holds.
    pub best_epoch: usize,
}

/// A prediction on one volume, on the input's grid.
#[derive(Debug, Clone)]
pub struct Prediction {
    /// Foreground probability (1 - p(background)).
    pub probability: Volume<f32>,
    /// Arg-max label per voxel.
    pub mask: Mask,
    /// Probability of the positive class (None without a class head).
    pub class_probability: Option<f32>,
}

/// Trained weights plus the configuration needed to use them.
pub struct TrainedModel {
    varmap: VarMap,
    model: Unet,
    config: TrainConfig,
}

impl std::fmt::Debug for TrainedModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrainedModel")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Initialises every weight deterministically (PyTorch's default for conv/linear: uniform
/// in +-1/sqrt(fan_in), bias likewise); norms and PReLU keep their constant initialisation.
/// candle's own initialisers draw from an unseeded thread RNG, hence this pass.
pub fn init_weights(varmap: &VarMap, seed: u64) -> Result<()> {
    Ok(tomofuse_nn3d::init_uniform_fan_in(varmap, seed)?)
}

fn new_model(cfg: &UnetConfig) -> Result<(VarMap, Unet)> {
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    let model = Unet::new(cfg, vb)?;
    Ok((varmap, model))
}

fn check_case(i: usize, c: &Case, out_channels: usize) -> Result<()> {
    c.image
        .same_grid_default(&c.mask)
        .map_err(|e| UnetError::BadCase {
            case: i,
            reason: format!("image and mask grids differ: {e}"),
        })?;
    if let Some(p) = c.image.data.iter().position(|v| !v.is_finite()) {
        return Err(UnetError::BadCase {
            case: i,
            reason: format!("image holds a non-finite value at flat index {p}"),
        });
    }
    if let Some(&m) = c.mask.data.iter().max()
        && m as usize >= out_channels
    {
        return Err(UnetError::BadCase {
            case: i,
            reason: format!("mask label {m} >= out_channels {out_channels}"),
        });
    }
    Ok(())
}

/// Foreground Dice of two label maps (label > 0); 1 when both are empty.
pub fn dice(pred: &Array3<u8>, truth: &Array3<u8>) -> f64 {
    let (mut inter, mut a, mut b) = (0usize, 0usize, 0usize);
    for (&p, &t) in pred.iter().zip(truth.iter()) {
        let (p, t) = (p > 0, t > 0);
        inter += usize::from(p && t);
        a += usize::from(p);
        b += usize::from(t);
    }
    if a + b == 0 {
        1.0
    } else {
        2.0 * inter as f64 / (a + b) as f64
    }
}

/// Validation AUC (tomofuse-metrics' rank AUC, ties half credit); None unless both classes
/// are present. Invalid scores (NaN from a diverged head) are logged and give None.
pub fn auc(scores: &[f64], labels: &[bool]) -> Option<f64> {
    if !(labels.iter().any(|&l| l) && labels.iter().any(|&l| !l)) {
        return None;
    }
    match tomofuse_metrics::auc(labels, scores) {
        Ok(a) => Some(a),
        Err(e) => {
            log::warn!("validation AUC not computable: {e}");
            None
        }
    }
}

/// The U-Net's own numbers of an epoch, beside the trainer's (loss, lr, scores, seconds).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct UnetMetrics {
    train_seg_loss: f64,
    train_class_loss: f64,
    val_dice: Option<f64>,
    val_auc: Option<f64>,
    val_class_loss: Option<f64>,
}

/// What the shared trainer runs for the U-Net: augmented-patch steps and sliding-window
/// validation.
struct UnetTask<'a> {
    trained: &'a TrainedModel,
    train_cases: &'a [Case],
    val_cases: &'a [Case],
    /// Foreground voxels per training case (for oversampling).
    fg: Vec<Vec<[usize; 3]>>,
    /// Case indices by class for balanced batches (only with a head and both classes present).
    by_class: Option<[Vec<usize>; 2]>,
    pos_weight_auto: f64,
}

impl Task for UnetTask<'_> {
    type Error = UnetError;
    type Metrics = UnetMetrics;

    fn varmap(&self) -> &VarMap {
        &self.trained.varmap
    }

    fn trainable(&self) -> Result<Vec<(String, Var)>> {
        Ok(trainer::sorted_vars(&self.trained.varmap, |_| true)?)
    }

    fn train_epoch(&mut self, steps: &mut Steps<'_>) -> Result<UnetMetrics> {
        let config = &self.trained.config;
        let k = config.model.out_channels;
        let has_head = config.model.class_head.is_some();
        let p = config.patch;
        let pvox = p[0] * p[1] * p[2];
        let (mut sum_s, mut sum_c) = (0.0, 0.0);
        for _ in 0..config.steps_per_epoch {
            let lr = config.lr_at(steps.step(), steps.total());
            let rng = steps.rng();
            let b = config.batch_size;
            let mut xs = Vec::with_capacity(b * pvox);
            let mut onehot = vec![0f32; b * k * pvox];
            let mut tgt = Vec::with_capacity(b);
            let mut wts = Vec::with_capacity(b);
            // Balanced batches start with a random class, then alternate.
            let first_class = rng.random_range(0..2usize);
            for bi in 0..b {
                let ci = match &self.by_class {
                    Some(groups) => {
                        let g = &groups[(first_class + bi) % 2];
                        g[rng.random_range(0..g.len())]
                    }
                    None => rng.random_range(0..self.train_cases.len()),
                };
                let c = &self.train_cases[ci];
                let (img, msk) = augmented_patch(
                    rng,
                    &c.image.data,
                    &c.mask.data,
                    &self.fg[ci],
                    p,
                    config.fg_oversample,
                    &config.augment,
                );
                xs.extend(img.iter().cloned());
                for (v, &m) in msk.iter().enumerate() {
                    let m = (m as usize).min(k - 1);
                    onehot[(bi * k + m) * pvox + v] = 1.0;
                }
                tgt.push(f32::from(c.label == Some(true)));
                wts.push(f32::from(c.label.is_some()));
            }
            let dev = Device::Cpu;
            let x = Tensor::from_vec(xs, (b, 1, p[0], p[1], p[2]), &dev)?;
            let oh = Tensor::from_vec(onehot, (b, k, p[0], p[1], p[2]), &dev)?;
            let (out, _) = self.trained.model.forward_tap(&x, true, None)?;
            let (seg_total, _, _) = dice_ce_loss(&out.seg_logits, &oh)?;
            let mut loss = (seg_total.clone() * config.seg_loss_weight)?;
            let mut closs_v = 0.0;
            if let (true, Some(cl)) = (has_head, &out.class_logits) {
                let t = Tensor::from_vec(tgt, b, &dev)?;
                let w = Tensor::from_vec(wts, b, &dev)?;
                let closs = class_loss(cl, &t, &w, config.class_loss, self.pos_weight_auto)?;
                closs_v = closs.to_scalar::<f32>()? as f64;
                loss = (loss + (closs * config.class_loss_weight)?)?;
            }
            steps.optimise(&loss, lr, 1.0)?;
            sum_s += seg_total.to_scalar::<f32>()? as f64;
            sum_c += closs_v;
        }
        let n = config.steps_per_epoch as f64;
        Ok(UnetMetrics {
            train_seg_loss: sum_s / n,
            train_class_loss: sum_c / n,
            ..UnetMetrics::default()
        })
    }

    /// The score is the mean of Dice and AUC when both exist, else Dice.
    fn validate(&mut self, m: &mut UnetMetrics) -> Result<Option<f64>> {
        if self.val_cases.is_empty() {
            return Ok(None);
        }
        let ev = self.trained.evaluate_detailed(self.val_cases, false)?;
        m.val_dice = Some(ev.dice);
        m.val_auc = ev.auc;
        m.val_class_loss = ev.class_loss;
        Ok(Some(match ev.auc {
            Some(a) => 0.5 * (ev.dice + a),
            None => ev.dice,
        }))
    }

    fn save(&self, path: &Path) -> Result<()> {
        self.trained.save(path)
    }

    fn describe(&self, m: &UnetMetrics) -> String {
        let opt = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.3}"));
        format!(
            " (seg {:.4}, class {:.4}), validation Dice {}, AUC {}",
            m.train_seg_loss,
            m.train_class_loss,
            opt(m.val_dice),
            opt(m.val_auc)
        )
    }
}

/// Trains a model from `seed` with the shared trainer ([`tomofuse_nn3d::trainer`]).
/// Validation (if any cases) runs every [`TrainConfig::validation_interval`] epochs with
/// sliding windows; the weights of the best epoch (by [`EpochRecord::selection_score`], the
/// trailing mean of [`EpochRecord::val_score`]) are returned, or the last epoch's without
/// validation cases. With [`TrainConfig::resume`] it continues from the checkpoint in
/// [`TrainConfig::checkpoint_dir`].
pub fn train(
    config: &TrainConfig,
    train_cases: &[Case],
    val_cases: &[Case],
    seed: u64,
) -> Result<(TrainedModel, History)> {
    config.validate()?;
    if train_cases.is_empty() {
        return Err(UnetError::EmptyData("no training cases".into()));
    }
    let k = config.model.out_channels;
    for (i, c) in train_cases.iter().enumerate() {
        check_case(i, c, k)?;
    }
    for (i, c) in val_cases.iter().enumerate() {
        check_case(i, c, k)?;
    }
    let (varmap, model) = new_model(&config.model)?;
    init_weights(&varmap, seed)?;
    let fg: Vec<Vec<[usize; 3]>> = train_cases
        .iter()
        .map(|c| {
            c.mask
                .data
                .indexed_iter()
                .filter(|(_, v)| **v > 0)
                .map(|((i, j, k), _)| [i, j, k])
                .collect()
        })
        .collect();
    let n_pos = train_cases.iter().filter(|c| c.label == Some(true)).count();
    let n_neg = train_cases
        .iter()
        .filter(|c| c.label == Some(false))
        .count();
    let pos_weight_auto = if n_pos > 0 {
        (n_neg as f64 / n_pos as f64).max(1e-3)
    } else {
        1.0
    };
    let has_head = config.model.class_head.is_some();
    let by_class: Option<[Vec<usize>; 2]> = {
        let idx = |want: bool| -> Vec<usize> {
            (0..train_cases.len())
                .filter(|&i| train_cases[i].label == Some(want))
                .collect()
        };
        let (neg, pos) = (idx(false), idx(true));
        (has_head && config.class_balanced_batches && !neg.is_empty() && !pos.is_empty())
            .then_some([neg, pos])
    };
    let trained = TrainedModel {
        varmap,
        model,
        config: config.clone(),
    };
    let mut task = UnetTask {
        trained: &trained,
        train_cases,
        val_cases,
        fg,
        by_class,
        pos_weight_auto,
    };
    let h = trainer::train(
        &mut task,
        &TrainerConfig {
            name: "U-Net".into(),
            epochs: config.epochs,
            steps_per_epoch: config.steps_per_epoch,
            validation_interval: config.validation_interval,
            selection_window: config.selection_window,
            adamw: ParamsAdamW {
                lr: config.lr,
                weight_decay: config.weight_decay,
                ..ParamsAdamW::default()
            },
            seed,
            checkpoint_dir: config.checkpoint_dir.clone(),
            resume: config.resume,
            stop_after: config.stop_after,
        },
    )?;
    let history = History {
        epochs: h
            .epochs
            .into_iter()
            .map(|e| EpochRecord {
                epoch: e.epoch,
                lr: e.lr,
                train_loss: e.train_loss,
                train_seg_loss: e.metrics.train_seg_loss,
                train_class_loss: e.metrics.train_class_loss,
                val_dice: e.metrics.val_dice,
                val_auc: e.metrics.val_auc,
                val_class_loss: e.metrics.val_class_loss,
                val_score: e.val_score,
                selection_score: e.selection_score,
                seconds: e.seconds,
            })
            .collect(),
        best_epoch: h.best_epoch,
    };
    Ok((trained, history))
}

/// Flips a tensor along the given spatial axes (2, 3, 4 of N x C x D x H x W).
fn flip(x: &Tensor, axes: &[usize]) -> Result<Tensor> {
    let mut y = x.clone();
    for &a in axes {
        let n = y.dim(a)?;
        let idx: Vec<u32> = (0..n as u32).rev().collect();
        let idx = Tensor::from_vec(idx, n, y.device())?;
        y = y.index_select(&idx, a)?;
    }
    Ok(y)
}

impl TrainedModel {
    /// The network.
    pub fn model(&self) -> &Unet {
        &self.model
    }

    /// The training configuration (model, windows, TTA).
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// The weights.
    pub fn varmap(&self) -> &VarMap {
        &self.varmap
    }

    /// Saves the weights as safetensors at `path` (PyTorch-style names) and the configuration
    /// as JSON beside it (`path` with extension `json`).
    pub fn save(&self, path: &Path) -> Result<()> {
        let ck = |reason: String| UnetError::Checkpoint {
            path: path.display().to_string(),
            reason,
        };
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|e| ck(e.to_string()))?;
        }
        self.varmap.save(path).map_err(|e| ck(e.to_string()))?;
        let json = serde_json::to_string_pretty(&self.config).map_err(|e| ck(e.to_string()))?;
        std::fs::write(path.with_extension("json"), json).map_err(|e| ck(e.to_string()))?;
        Ok(())
    }

    /// Loads a checkpoint written by [`TrainedModel::save`].
    pub fn load(path: &Path) -> Result<Self> {
        let ck = |reason: String| UnetError::Checkpoint {
            path: path.display().to_string(),
            reason,
        };
        let json = std::fs::read_to_string(path.with_extension("json"))
            .map_err(|e| ck(format!("reading the config beside it: {e}")))?;
        let config: TrainConfig =
            serde_json::from_str(&json).map_err(|e| ck(format!("config JSON: {e}")))?;
        config.validate()?;
        let (mut varmap, model) = new_model(&config.model)?;
        varmap.load(path).map_err(|e| ck(e.to_string()))?;
        Ok(Self {
            varmap,
            model,
            config,
        })
    }

    /// Builds from an existing VarMap/model pair (e.g. weights loaded elsewhere).
    pub fn from_parts(varmap: VarMap, model: Unet, config: TrainConfig) -> Result<Self> {
        config.validate()?;
        Ok(Self {
            varmap,
            model,
            config,
        })
    }

    /// The network on detached copies of the weights (shared storage, no autograd graph):
    /// inference through it keeps no intermediate tensors alive.
    pub fn inference_model(&self) -> Result<Unet> {
        let plain: std::collections::HashMap<String, Tensor> = self
            .varmap
            .data()
            .lock()
            .map_err(|_| config_err("varmap", "lock poisoned"))?
            .iter()
            .map(|(k, v)| (k.clone(), v.as_tensor().detach()))
            .collect();
        Unet::new(
            &self.config.model,
            VarBuilder::from_tensors(plain, DType::F32, &Device::Cpu),
        )
    }

    /// Mean Dice and AUC over `cases` (no TTA unless `tta`).
    pub fn evaluate(&self, cases: &[Case], tta: bool) -> Result<(f64, Option<f64>)> {
        let e = self.evaluate_detailed(cases, tta)?;
        Ok((e.dice, e.auc))
    }

    /// Mean Dice, AUC and mean class cross-entropy over `cases` (no TTA unless `tta`).
    pub fn evaluate_detailed(&self, cases: &[Case], tta: bool) -> Result<Evaluation> {
        let mut dsum = 0.0;
        let (mut scores, mut labels) = (Vec::new(), Vec::new());
        for c in cases {
            let p = self.predict_with(&c.image, tta)?;
            dsum += dice(&p.mask.data, &c.mask.data);
            if let (Some(l), Some(s)) = (c.label, p.class_probability) {
                scores.push(s as f64);
                labels.push(l);
            }
        }
        let class_loss = (!scores.is_empty()).then(|| {
            let eps = 1e-7;
            scores
                .iter()
                .zip(&labels)
                .map(|(&s, &l)| -(if l { s } else { 1.0 - s }).clamp(eps, 1.0).ln())
                .sum::<f64>()
                / scores.len() as f64
        });
        Ok(Evaluation {
            dice: dsum / cases.len().max(1) as f64,
            auc: auc(&scores, &labels),
            class_loss,
            scores,
            labels,
        })
    }

    /// Predicts a volume with the configured windows and TTA setting.
    pub fn predict(&self, image: &Volume<f32>) -> Result<Prediction> {
        self.predict_with(image, self.config.tta)
    }

    /// Predicts a volume: sliding-window softmax probabilities (optionally mirrored TTA) and
    /// the class probability from the mean class logit over windows (and mirrors).
    /// Runs on rayon's pool ([`tomofuse_nn3d::on_pool`]).
    pub fn predict_with(&self, image: &Volume<f32>, tta: bool) -> Result<Prediction> {
        tomofuse_nn3d::on_pool(|| self.predict_on_pool(image, tta))
    }

    fn predict_on_pool(&self, image: &Volume<f32>, tta: bool) -> Result<Prediction> {
        if let Some(first) = image.data.iter().position(|v| !v.is_finite()) {
            let count = image.data.iter().filter(|v| !v.is_finite()).count();
            return Err(UnetError::NonFinite {
                what: "image".into(),
                count,
                first,
            });
        }
        let x = image.data.clone().insert_axis(Axis(0));
        let flips: Vec<Vec<usize>> = if tta {
            (0..8u32)
                .map(|m| {
                    (0..3)
                        .filter(|b| m & (1 << b) != 0)
                        .map(|b| b + 2)
                        .collect()
                })
                .collect()
        } else {
            vec![vec![]]
        };
        let inf = self.inference_model()?;
        let model = &inf;
        let out = sliding_window(&x, &self.config.sliding, |w| {
            let mut probs: Option<Tensor> = None;
            let mut logits: Option<Tensor> = None;
            for f in &flips {
                let xi = flip(w, f)?;
                let (o, _) = model.forward_tap(&xi, false, None)?;
                let p = flip(&candle_nn::ops::softmax(&o.seg_logits, 1)?, f)?;
                probs = Some(match probs {
                    Some(a) => (a + p)?,
                    None => p,
                });
                if let Some(cl) = o.class_logits {
                    logits = Some(match logits {
                        Some(a) => (a + cl)?,
                        None => cl,
                    });
                }
            }
            let nf = flips.len() as f64;
            let probs = probs.ok_or_else(|| config_err("tta", "no flip"))?;
            Ok(((probs / nf)?, logits.map(|l| l / nf).transpose()?))
        })?;
        let k = out.map.shape()[0];
        let fgp = out
            .map
            .index_axis(Axis(0), 0)
            .mapv(|p0| (1.0 - p0).clamp(0.0, 1.0));
        let labels = out.map.map_axis(Axis(0), |v| {
            let mut best = 0usize;
            for c in 1..k {
                if v[c] > v[best] {
                    best = c;
                }
            }
            best as u8
        });
        let class_probability = out.extra.map(|l| {
            if l.len() == 1 {
                1.0 / (1.0 + (-l[0]).exp())
            } else {
                let m = l.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
                let e: Vec<f32> = l.iter().map(|v| (v - m).exp()).collect();
                e.get(1).copied().unwrap_or(0.0) / e.iter().sum::<f32>()
            }
        });
        Ok(Prediction {
            probability: Volume::new(fgp, image.geometry)?,
            mask: Volume::new(labels, image.geometry)?,
            class_probability,
        })
    }
}

/// Softmax over the class axis of N x K logits, as a host vector per case (helper for callers).
pub fn class_probabilities(logits: &Tensor) -> Result<Vec<f32>> {
    let k = logits.dim(D::Minus1)?;
    if k == 1 {
        Ok(candle_nn::ops::sigmoid(logits)?.flatten_all()?.to_vec1()?)
    } else {
        Ok(candle_nn::ops::softmax(logits, 1)?
            .narrow(1, 1, 1)?
            .flatten_all()?
            .to_vec1()?)
    }
}

/// Converts an N x K x D x H x W tensor's first item into an ndarray (helper).
pub fn first_item(t: &Tensor) -> Result<Array4<f32>> {
    let d = t.dims().to_vec();
    if d.len() != 5 {
        return Err(UnetError::InputShape {
            shape: d,
            reason: "expected N x K x D x H x W".into(),
        });
    }
    let v = t.get(0)?.flatten_all()?.to_vec1::<f32>()?;
    Array4::from_shape_vec((d[1], d[2], d[3], d[4]), v)
        .map_err(|e| config_err("tensor", e.to_string()))
}
