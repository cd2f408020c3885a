//! Supervised fine-tuning of the ResNet-3D as a binary classifier on fixed-size crops.
//!
//! No pretrained (MedicalNet) weights can be fetched offline, and a randomly initialised
//! network's features are near chance for the study outcome, so the network is trained on the
//! study's own training cases: binary cross-entropy with logits on a 1-logit `fc` head, AdamW
//! with a linear warmup and cosine decay, batch norm in training mode while training and in
//! eval mode (running statistics) afterwards. Everything random (initialisation, shuffling,
//! augmentation) comes from one seed, so a run is reproducible bit for bit on the same machine
//! and thread count.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{VarBuilder, VarMap};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use tomofuse_core::Volume;
use tomofuse_nn3d::trainer::{self, Steps, Task, TrainerConfig};
use tomofuse_nn3d::{AdamW, ParamsAdamW};

use crate::{ResNet3d, ResNetConfig, ResNetError};

pub type Result<T> = std::result::Result<T, ResNetError>;

/// Crops per forward pass at prediction (bounds the activation memory).
const EVAL_BATCH: usize = 8;

/// The learning rate decays to this fraction of its peak (not to 0: the last steps still move).
const FINAL_LR_FRACTION: f64 = 0.01;

fn cfg_err(field: &'static str, msg: impl Into<String>) -> ResNetError {
    ResNetError::FinetuneConfig {
        field,
        msg: msg.into(),
    }
}

/// One labelled training case: a single-channel crop, normalised as it will be at prediction
/// (e.g. windowed HU in [-1, 1]), and its binary outcome.
#[derive(Debug, Clone)]
pub struct Sample {
    pub crop: Volume<f32>,
    pub label: bool,
}

/// Training-time augmentation, drawn independently per sample and step. Crops come from a
/// predicted mask, so their centre is uncertain by a few voxels (shifts), and scanners and
/// contrast phases differ in level and gain (intensity jitter); flips add cheap variety for a
/// small training set.
#[derive(Debug, Clone, PartialEq)]
pub struct Augment {
    /// Flip each axis with probability 1/2.
    pub flip: bool,
    /// Integer shift of up to this many voxels per axis (edge voxels replicated).
    pub max_shift: usize,
    /// Intensities multiplied by a factor drawn from [1 - s, 1 + s].
    pub intensity_scale: f64,
    /// Offset drawn from [-s, s], in the crop's (normalised) units.
    pub intensity_shift: f64,
    /// Added per-voxel Gaussian noise: its standard deviation is drawn per sample from
    /// [0, noise_std] (0 = none), so the network sees the range of scanner noise levels up to
    /// that much above the training scanners', not one fixed level.
    pub noise_std: f64,
}

impl Default for Augment {
    fn default() -> Self {
        Self {
            flip: true,
            max_shift: 2,
            intensity_scale: 0.1,
            intensity_shift: 0.05,
            noise_std: 0.0,
        }
    }
}

impl Augment {
    /// No augmentation.
    pub fn none() -> Self {
        Self {
            flip: false,
            max_shift: 0,
            intensity_scale: 0.0,
            intensity_shift: 0.0,
            noise_std: 0.0,
        }
    }

    fn validate(&self) -> Result<()> {
        for (field, v, max) in [
            ("augment.intensity_scale", self.intensity_scale, 0.5),
            ("augment.intensity_shift", self.intensity_shift, 1.0),
            ("augment.noise_std", self.noise_std, 1.0),
        ] {
            if !(0.0..=max).contains(&v) {
                return Err(cfg_err(field, format!("{v} must be in [0, {max}]")));
            }
        }
        Ok(())
    }
}

/// Fine-tuning hyper-parameters; [`FinetuneConfig::validate`] runs before any work.
#[derive(Debug, Clone, PartialEq)]
pub struct FinetuneConfig {
    pub epochs: usize,
    pub batch_size: usize,
    /// Peak AdamW learning rate.
    pub learning_rate: f64,
    /// Decoupled (AdamW) weight decay.
    pub weight_decay: f64,
    /// Fraction of all steps spent in the linear warmup; then cosine decay to 1% of the peak.
    /// A short warmup keeps the first Adam steps (tiny second-moment estimates) from wrecking
    /// the initialisation.
    pub warmup_fraction: f64,
    /// Weight of the positive class in the loss; `None` = n_neg / n_pos of the training set
    /// (balances the classes as the study's outcome is rare).
    pub pos_weight: Option<f64>,
    pub augment: Augment,
    /// Start each residual block's last batch-norm scale (`bn3.weight`) at 0, so every block
    /// begins as the identity (Goyal et al. 2017; torchvision's `zero_init_residual`): a
    /// 16-block network trained from scratch on ~100 cases converges faster and more stably.
    pub zero_init_residual: bool,
    pub seed: u64,
    /// Where the trainer writes its per-epoch checkpoint (weights, AdamW state, RNG, history),
    /// if anywhere; [`cross_fit`] uses a `fold{k}` folder below it per fold.
    pub checkpoint_dir: Option<PathBuf>,
    /// Continue from the checkpoint in `checkpoint_dir` (same config and samples); under
    /// [`cross_fit`], each fold whose folder holds a trainer state.
    pub resume: bool,
    /// Stop after this many epochs of the schedule (checkpointed; `resume` continues).
    pub stop_after: Option<usize>,
}

impl Default for FinetuneConfig {
    /// The setting recommended for ~100 crops of 1x32^3 with [`finetune_net_config`]: 8 epochs
    /// of batch 4 (200 steps, ~55 CPU-s; on the synthetic task 8 epochs reach a held-out AUC
    /// of 0.94 against 0.95 for 15, at half the cost, which matters under K-fold cross-fitting).
    fn default() -> Self {
        Self {
            epochs: 8,
            batch_size: 4,
            learning_rate: 1e-3,
            weight_decay: 1e-2,
            warmup_fraction: 0.05,
            pos_weight: None,
            augment: Augment::default(),
            zero_init_residual: true,
            seed: 0,
            checkpoint_dir: None,
            resume: false,
            stop_after: None,
        }
    }
}

impl FinetuneConfig {
    /// Checks every field; the error names it.
    pub fn validate(&self) -> Result<()> {
        if self.epochs == 0 {
            return Err(cfg_err("epochs", "must be >= 1"));
        }
        if self.batch_size == 0 {
            return Err(cfg_err("batch_size", "must be >= 1"));
        }
        if !(self.learning_rate > 0.0 && self.learning_rate <= 1.0) {
            return Err(cfg_err(
                "learning_rate",
                format!("{} must be in (0, 1]", self.learning_rate),
            ));
        }
        if !(0.0..1.0).contains(&self.weight_decay) {
            return Err(cfg_err(
                "weight_decay",
                format!("{} must be in [0, 1)", self.weight_decay),
            ));
        }
        if !(0.0..1.0).contains(&self.warmup_fraction) {
            return Err(cfg_err(
                "warmup_fraction",
                format!("{} must be in [0, 1)", self.warmup_fraction),
            ));
        }
        if let Some(w) = self.pos_weight
            && !(w > 0.0 && w.is_finite())
        {
            return Err(cfg_err("pos_weight", format!("{w} must be finite and > 0")));
        }
        self.augment.validate()
    }

    /// Learning rate at optimizer step `step` of `total`.
    fn lr_at(&self, step: usize, total: usize) -> f64 {
        let warmup = (self.warmup_fraction * total as f64).ceil() as usize;
        if step < warmup {
            return self.learning_rate * (step + 1) as f64 / warmup as f64;
        }
        let t = (step - warmup) as f64 / total.saturating_sub(warmup).max(1) as f64;
        let min = self.learning_rate * FINAL_LR_FRACTION;
        min + 0.5 * (self.learning_rate - min) * (1.0 + (std::f64::consts::PI * t.min(1.0)).cos())
    }
}

/// Flat C-order values of a crop, after checking its shape and values.
fn crop_values(index: usize, crop: &Volume<f32>, shape: [usize; 3]) -> Result<Vec<f32>> {
    if crop.shape() != shape {
        return Err(ResNetError::BadSample {
            index,
            reason: format!("crop shape {:?}, expected {shape:?}", crop.shape()),
        });
    }
    if let Some(p) = crop.data.iter().position(|v| !v.is_finite()) {
        return Err(ResNetError::BadSample {
            index,
            reason: format!("non-finite value at flat index {p}"),
        });
    }
    Ok(crop.data.iter().copied().collect())
}

/// Writes one augmented copy of `src` (shape `s`, C order) to the end of `out`.
fn augment_into(src: &[f32], s: [usize; 3], a: &Augment, rng: &mut ChaCha8Rng, out: &mut Vec<f32>) {
    let maps: Vec<Vec<usize>> = (0..3)
        .map(|ax| {
            let n = s[ax] as i64;
            let flip = a.flip && rng.random_bool(0.5);
            let m = a.max_shift as i64;
            let shift = if m > 0 { rng.random_range(-m..=m) } else { 0 };
            (0..n)
                .map(|i| {
                    let j = (i - shift).clamp(0, n - 1);
                    (if flip { n - 1 - j } else { j }) as usize
                })
                .collect()
        })
        .collect();
    let s_ = a.intensity_scale;
    let gain = (if s_ > 0.0 {
        1.0 + rng.random_range(-s_..=s_)
    } else {
        1.0
    }) as f32;
    let o = a.intensity_shift;
    let offset = (if o > 0.0 {
        rng.random_range(-o..=o)
    } else {
        0.0
    }) as f32;
    let noise = (if a.noise_std > 0.0 {
        rng.random_range(0.0..=a.noise_std)
    } else {
        0.0
    }) as f32;
    for &i in &maps[0] {
        for &j in &maps[1] {
            let row = &src[(i * s[1] + j) * s[2]..][..s[2]];
            for &k in &maps[2] {
                let mut v = row[k] * gain + offset;
                if noise > 0.0 {
                    v += noise * rng.sample::<f32, _>(StandardNormal);
                }
                out.push(v);
            }
        }
    }
}

/// MONAI's `ResNet` initialisation, seeded: convolutions Kaiming-normal (fan_out, ReLU), batch
/// norms weight 1 / bias 0 (candle's constant init, kept), `fc` weight PyTorch's default
/// U(+-1/sqrt(fan_in)) and bias 0, convolution biases U(+-1/sqrt(fan_in)). candle's own
/// initialisers draw from an unseeded thread RNG, hence this pass over sorted names.
fn init_monai(varmap: &VarMap, seed: u64) -> Result<()> {
    let data = varmap
        .data()
        .lock()
        .map_err(|_| cfg_err("varmap", "lock poisoned"))?;
    let mut names: Vec<&String> = data.keys().collect();
    names.sort();
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x7e5a_e73d);
    for name in names {
        let var = &data[name];
        let dims = var.dims().to_vec();
        let n: usize = dims.iter().product();
        let vals: Vec<f32> = if name == "fc.bias" {
            vec![0.0; n]
        } else if name == "fc.weight" {
            let b = 1.0 / (dims[1].max(1) as f32).sqrt();
            (0..n).map(|_| rng.random_range(-b..b)).collect()
        } else if dims.len() == 5 && name.ends_with(".weight") {
            let fan_out = (n / dims[1]).max(1) as f32;
            let std = (2.0 / fan_out).sqrt();
            (0..n)
                .map(|_| std * rng.sample::<f32, _>(StandardNormal))
                .collect()
        } else if name.ends_with(".bias")
            && let Some(w) = data.get(&format!("{}.weight", &name[..name.len() - 5]))
            && w.rank() == 5
        {
            let fan_in: usize = w.dims()[1..].iter().product();
            let b = 1.0 / (fan_in.max(1) as f32).sqrt();
            (0..n).map(|_| rng.random_range(-b..b)).collect()
        } else {
            continue;
        };
        var.set(&Tensor::from_vec(vals, dims.as_slice(), var.device())?)?;
    }
    Ok(())
}

/// A fresh, seeded network with a 1-logit head, its VarMap (trainable) and the checked config.
fn seeded_net(
    net_config: ResNetConfig,
    seed: u64,
    zero_init_residual: bool,
) -> Result<(VarMap, ResNet3d)> {
    let mut cfg = net_config;
    cfg.num_classes = Some(1);
    cfg.validate()?;
    if cfg.n_input_channels != 1 {
        return Err(ResNetError::Config(format!(
            "samples are single-channel crops, n_input_channels is {}",
            cfg.n_input_channels
        )));
    }
    let varmap = VarMap::new();
    let net = ResNet3d::new(
        cfg,
        VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu),
    )?;
    init_monai(&varmap, seed)?;
    if zero_init_residual {
        let data = varmap
            .data()
            .lock()
            .map_err(|_| cfg_err("varmap", "lock poisoned"))?;
        for (name, var) in data.iter() {
            if name.ends_with(".bn3.weight") {
                var.set(&var.zeros_like()?)?;
            }
        }
    }
    Ok((varmap, net))
}

/// ResNet50-3D at width 0.25 with MedicalNet's stride-2 stem (`conv1_t_stride = 2`) and a
/// 1-logit head: on 32^3 crops a training step costs a fifth of MONAI's stride-1 stem
/// (0.28 vs 1.6 CPU-s at batch 4), which is what makes K-fold fine-tuning fit the budget.
pub fn finetune_net_config() -> ResNetConfig {
    let mut c = ResNetConfig::resnet50(1, 1).with_widen_factor(0.25);
    c.conv1_t_stride = 2;
    c
}

/// The training loss of fine-tuning: forward in training mode, BCE with logits.
fn finetune_loss(net: &ResNet3d, x: &Tensor, y: &Tensor, pos_weight: f64) -> Result<Tensor> {
    let z = net.forward_t(x, true)?.flatten_all()?;
    Ok(tomofuse_nn3d::bce_with_logits(&z, y, pos_weight)?)
}

/// What AdamW updates: every variable but the batch-norm running statistics, sorted by name.
fn trainable(varmap: &VarMap) -> Result<Vec<(String, Var)>> {
    Ok(trainer::sorted_vars(varmap, |k| !k.contains("running_"))?)
}

fn adamw_params(cfg: &FinetuneConfig) -> ParamsAdamW {
    ParamsAdamW {
        lr: cfg.learning_rate,
        weight_decay: cfg.weight_decay,
        ..Default::default()
    }
}

/// One optimizer step of fine-tuning (forward in training mode, BCE with logits, backward,
/// AdamW): the loss and update [`finetune`] repeats through the shared trainer, public so that
/// benchmarks time this code.
pub struct TrainStep {
    net: ResNet3d,
    opt: AdamW,
}

impl TrainStep {
    /// AdamW over every trainable variable of `varmap` (sorted by name; batch-norm running
    /// statistics excluded), with `cfg`'s learning rate and weight decay.
    pub fn new(net: ResNet3d, varmap: &VarMap, cfg: &FinetuneConfig) -> Result<Self> {
        let vars = trainable(varmap)?.into_iter().map(|(_, v)| v).collect();
        let opt = AdamW::new_adamw(vars, adamw_params(cfg))?;
        Ok(Self { net, opt })
    }

    /// The seeded network of [`finetune`] (1-logit head, MONAI initialisation) and its step.
    pub fn seeded(net_config: ResNetConfig, cfg: &FinetuneConfig) -> Result<(VarMap, Self)> {
        let (varmap, net) = seeded_net(net_config, cfg.seed, cfg.zero_init_residual)?;
        let step = Self::new(net, &varmap, cfg)?;
        Ok((varmap, step))
    }

    /// One step on the batch `x` [B, 1, D, H, W] with labels `y` [B] (0/1) at learning rate
    /// `lr`; returns the loss before the update (not checked for finiteness: the caller
    /// decides).
    pub fn step(&mut self, x: &Tensor, y: &Tensor, lr: f64, pos_weight: f64) -> Result<f32> {
        let loss = finetune_loss(&self.net, x, y, pos_weight)?;
        Ok(trainer::adamw_step(&mut self.opt, &loss, lr)?)
    }

    pub fn net(&self) -> &ResNet3d {
        &self.net
    }
}

/// What the shared trainer runs for fine-tuning: shuffled, augmented batches; no validation
/// (the last epoch is kept).
struct FinetuneTask<'a> {
    net: &'a ResNet3d,
    varmap: &'a VarMap,
    cfg: &'a FinetuneConfig,
    data: Vec<Vec<f32>>,
    labels: Vec<f32>,
    shape: [usize; 3],
    batch: usize,
    per_epoch: usize,
    pos_weight: f64,
    /// Sample order, reshuffled in place every epoch (so carried from epoch to epoch).
    order: Vec<usize>,
}

impl Task for FinetuneTask<'_> {
    type Error = ResNetError;
    type Metrics = ();

    fn varmap(&self) -> &VarMap {
        self.varmap
    }

    fn trainable(&self) -> Result<Vec<(String, Var)>> {
        trainable(self.varmap)
    }

    fn train_epoch(&mut self, steps: &mut Steps<'_>) -> Result<()> {
        let (n, bs, shape) = (self.order.len(), self.batch, self.shape);
        let vox: usize = shape.iter().product();
        self.order.shuffle(steps.rng());
        for b in 0..self.per_epoch {
            let idx = &self.order[b * bs..((b + 1) * bs).min(n)];
            let mut x = Vec::with_capacity(idx.len() * vox);
            for &i in idx {
                augment_into(&self.data[i], shape, &self.cfg.augment, steps.rng(), &mut x);
            }
            let dev = Device::Cpu;
            let x = Tensor::from_vec(x, (idx.len(), 1, shape[0], shape[1], shape[2]), &dev)?;
            let y = Tensor::from_vec(
                idx.iter().map(|&i| self.labels[i]).collect(),
                idx.len(),
                &dev,
            )?;
            let lr = self.cfg.lr_at(steps.step(), steps.total());
            let loss = finetune_loss(self.net, &x, &y, self.pos_weight)?;
            steps.optimise(&loss, lr, idx.len() as f64)?;
        }
        Ok(())
    }

    fn validate(&mut self, _: &mut ()) -> Result<Option<f64>> {
        Ok(None)
    }

    fn loop_state(&self) -> serde_json::Value {
        serde_json::json!(self.order)
    }

    fn set_loop_state(&mut self, state: serde_json::Value) -> Result<()> {
        let order: Vec<usize> = serde_json::from_value(state)
            .map_err(|e| cfg_err("resume", format!("sample order in the checkpoint: {e}")))?;
        let mut sorted = order.clone();
        sorted.sort_unstable();
        if sorted != (0..self.order.len()).collect::<Vec<_>>() {
            return Err(cfg_err(
                "resume",
                format!(
                    "the checkpoint's sample order does not fit {} samples",
                    self.order.len()
                ),
            ));
        }
        self.order = order;
        Ok(())
    }
}

/// Trains `net_config` (its `num_classes` is replaced by a 1-logit `fc`) on `samples` with the
/// shared trainer ([`tomofuse_nn3d::trainer`]) and returns the eval-mode classifier. All crops
/// must share one shape, at least the network's stride per axis; both classes must be present.
pub fn finetune(
    net_config: ResNetConfig,
    samples: &[Sample],
    cfg: &FinetuneConfig,
) -> Result<Classifier> {
    cfg.validate()?;
    let first = samples.first().ok_or(ResNetError::EmptySet)?;
    let shape = first.crop.shape();
    let (varmap, net) = seeded_net(net_config, cfg.seed, cfg.zero_init_residual)?;
    let stride = net.config().total_stride();
    if shape.iter().any(|&d| d < stride) {
        return Err(ResNetError::BadSample {
            index: 0,
            reason: format!("crop shape {shape:?} is smaller than the network stride {stride}"),
        });
    }
    if 2 * cfg.augment.max_shift >= shape.into_iter().min().unwrap_or(0) {
        return Err(cfg_err(
            "augment.max_shift",
            format!(
                "{} must be below half the crop {shape:?}",
                cfg.augment.max_shift
            ),
        ));
    }
    let data = samples
        .iter()
        .enumerate()
        .map(|(i, s)| crop_values(i, &s.crop, shape))
        .collect::<Result<Vec<_>>>()?;
    let labels: Vec<f32> = samples
        .iter()
        .map(|s| f32::from(u8::from(s.label)))
        .collect();
    let positives = samples.iter().filter(|s| s.label).count();
    let negatives = samples.len() - positives;
    if positives == 0 || negatives == 0 {
        return Err(ResNetError::OneClass {
            positives,
            negatives,
        });
    }
    let pos_weight = cfg
        .pos_weight
        .unwrap_or(negatives as f64 / positives as f64);

    let n = samples.len();
    let bs = cfg.batch_size.min(n);
    // A final batch of one sample would give batch norm one crop's statistics: dropped.
    let per_epoch = if bs > 1 && n % bs == 1 {
        n / bs
    } else {
        n.div_ceil(bs)
    };
    let mut task = FinetuneTask {
        net: &net,
        varmap: &varmap,
        cfg,
        data,
        labels,
        shape,
        batch: bs,
        per_epoch,
        pos_weight,
        order: (0..n).collect(),
    };
    let history = trainer::train(
        &mut task,
        &TrainerConfig {
            name: "ResNet-3D fine-tuning".into(),
            epochs: cfg.epochs,
            steps_per_epoch: per_epoch,
            validation_interval: cfg.epochs,
            selection_window: 1,
            adamw: adamw_params(cfg),
            seed: cfg.seed,
            checkpoint_dir: cfg.checkpoint_dir.clone(),
            resume: cfg.resume,
            stop_after: cfg.stop_after,
        },
    )?;
    let mut clf = Classifier::from_varmap(net.config().clone(), &varmap, shape)?;
    clf.train_losses = history.epochs.iter().map(|e| e.train_loss).collect();
    Ok(clf)
}

/// K-fold cross-fitting: classifier `k` is fine-tuned on the samples whose fold is not `k`
/// (fold `k`'s seed is `cfg.seed + k`), so each sample can be scored by a model that never saw
/// its label ([`held_out_logit`]). `fold_of[i]` is sample `i`'s fold, each in `0..k`.
pub fn cross_fit(
    net_config: ResNetConfig,
    samples: &[Sample],
    fold_of: &[usize],
    k: usize,
    cfg: &FinetuneConfig,
) -> Result<Vec<Classifier>> {
    if fold_of.len() != samples.len() {
        return Err(cfg_err(
            "fold_of",
            format!("{} folds for {} samples", fold_of.len(), samples.len()),
        ));
    }
    if let Some(bad) = fold_of.iter().find(|&&f| f >= k) {
        return Err(cfg_err(
            "fold_of",
            format!("fold {bad} is not below k = {k}"),
        ));
    }
    (0..k)
        .map(|fold| {
            let train: Vec<Sample> = samples
                .iter()
                .zip(fold_of)
                .filter(|(_, f)| **f != fold)
                .map(|(s, _)| s.clone())
                .collect();
            log::info!(
                "fine-tuning the ResNet50-3D, fold {}/{k}: {} cases, {} epochs",
                fold + 1,
                train.len(),
                cfg.epochs
            );
            let checkpoint_dir = cfg
                .checkpoint_dir
                .as_ref()
                .map(|d| d.join(format!("fold{fold}")));
            // Resuming continues the folds that have a state (done or interrupted) and starts
            // the others, which the interruption never reached.
            let resume = cfg.resume
                && checkpoint_dir
                    .as_ref()
                    .is_some_and(|d| d.join(trainer::TRAINER_STATE).exists());
            finetune(
                net_config.clone(),
                &train,
                &FinetuneConfig {
                    seed: cfg.seed.wrapping_add(fold as u64),
                    checkpoint_dir,
                    resume,
                    ..cfg.clone()
                },
            )
        })
        .collect()
}

/// The cross-fitted logit of a crop: from the classifier of its fold when it was a training
/// sample (`Some(fold)`), else the mean over all fold classifiers.
pub fn held_out_logit(
    classifiers: &[Classifier],
    fold: Option<usize>,
    crop: &Volume<f32>,
) -> Result<f64> {
    match fold {
        Some(k) => {
            let clf = classifiers
                .get(k)
                .ok_or_else(|| cfg_err("fold", format!("no classifier for fold {k}")))?;
            Ok(f64::from(clf.logit(crop)?))
        }
        None if classifiers.is_empty() => Err(ResNetError::EmptySet),
        None => {
            let mut sum = 0.0;
            for clf in classifiers {
                sum += f64::from(clf.logit(crop)?);
            }
            Ok(sum / classifiers.len() as f64)
        }
    }
}

/// A trained (or seeded, untrained) 1-logit ResNet-3D in eval mode, for crops of one shape.
#[derive(Debug, Clone)]
pub struct Classifier {
    net: ResNet3d,
    /// Detached weights under their MONAI names (what `save` writes).
    weights: HashMap<String, Tensor>,
    crop: [usize; 3],
    train_losses: Vec<f64>,
}

impl Classifier {
    /// The seeded initial network `finetune` starts from (random features, untrained head):
    /// the baseline to compare a fine-tuned classifier with.
    /// MONAI's initialisation (no zeroed residual branches: those would make every crop's
    /// logit nearly the same).
    pub fn untrained(net_config: ResNetConfig, crop: [usize; 3], seed: u64) -> Result<Self> {
        let (varmap, net) = seeded_net(net_config, seed, false)?;
        Self::from_varmap(net.config().clone(), &varmap, crop)
    }

    /// Rebuilds on plain (detached) tensors: no autograd bookkeeping, and the eval-mode
    /// batch-norm folding is computed once and cached.
    fn from_varmap(cfg: ResNetConfig, varmap: &VarMap, crop: [usize; 3]) -> Result<Self> {
        let weights: HashMap<String, Tensor> = varmap
            .data()
            .lock()
            .map_err(|_| cfg_err("varmap", "lock poisoned"))?
            .iter()
            .map(|(k, v)| (k.clone(), v.as_tensor().detach()))
            .collect();
        Self::from_weights(cfg, weights, crop)
    }

    fn from_weights(
        cfg: ResNetConfig,
        weights: HashMap<String, Tensor>,
        crop: [usize; 3],
    ) -> Result<Self> {
        let vb = VarBuilder::from_tensors(weights.clone(), DType::F32, &Device::Cpu);
        let net = ResNet3d::new(cfg, vb)?;
        let stride = net.config().total_stride();
        if crop.iter().any(|&d| d < stride) {
            return Err(ResNetError::TooSmall {
                size: crop.to_vec(),
                stride,
            });
        }
        Ok(Self {
            net,
            weights,
            crop,
            train_losses: Vec::new(),
        })
    }

    /// The network (e.g. for Grad-CAM with `class = 0`).
    pub fn network(&self) -> &ResNet3d {
        &self.net
    }

    /// The crop shape the classifier was trained on (and accepts).
    pub fn crop_shape(&self) -> [usize; 3] {
        self.crop
    }

    /// Mean training loss per epoch (empty for an untrained or loaded classifier).
    pub fn train_losses(&self) -> &[f64] {
        &self.train_losses
    }

    /// Runs `f` on batches of checked crops; `f` gets a [B, 1, D, H, W] tensor.
    fn batched<'a, T: Send>(
        &self,
        crops: impl IntoIterator<Item = &'a Volume<f32>>,
        mut f: impl FnMut(&Tensor, &mut Vec<T>) -> Result<()> + Send,
    ) -> Result<Vec<T>> {
        let crops: Vec<&Volume<f32>> = crops.into_iter().collect();
        let s = self.crop;
        tomofuse_nn3d::on_pool(|| {
            let mut out = Vec::with_capacity(crops.len());
            for (c, chunk) in crops.chunks(EVAL_BATCH).enumerate() {
                let mut x = Vec::with_capacity(chunk.len() * s.iter().product::<usize>());
                for (i, v) in chunk.iter().enumerate() {
                    x.extend(crop_values(c * EVAL_BATCH + i, v, s)?);
                }
                let x = Tensor::from_vec(x, (chunk.len(), 1, s[0], s[1], s[2]), &Device::Cpu)?;
                f(&x, &mut out)?;
            }
            Ok(out)
        })
    }

    /// Eval-mode logits, one per crop (positive class = `label == true`).
    pub fn logits<'a>(&self, crops: impl IntoIterator<Item = &'a Volume<f32>>) -> Result<Vec<f32>> {
        self.batched(crops, |x, out| {
            out.extend(
                self.net
                    .forward_t(x, false)?
                    .flatten_all()?
                    .to_vec1::<f32>()?,
            );
            Ok(())
        })
    }

    pub fn logit(&self, crop: &Volume<f32>) -> Result<f32> {
        Ok(self.logits([crop])?[0])
    }

    /// Pooled penultimate features (the `fc` input, `feature_dim` long), one vector per crop.
    pub fn features_batch<'a>(
        &self,
        crops: impl IntoIterator<Item = &'a Volume<f32>>,
    ) -> Result<Vec<Vec<f32>>> {
        self.batched(crops, |x, out| {
            out.extend(self.net.features(x)?.to_vec2::<f32>()?);
            Ok(())
        })
    }

    pub fn features(&self, crop: &Volume<f32>) -> Result<Vec<f32>> {
        Ok(self.features_batch([crop])?.remove(0))
    }

    /// Writes the state dict as safetensors under MONAI's names (loads into
    /// `monai.networks.nets.resnet50(..., num_classes=1)` with `load_state_dict`), with the
    /// architecture and crop shape in the header metadata for [`Classifier::load`].
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let ck = |msg: String| ResNetError::Checkpoint {
            path: path.display().to_string(),
            msg,
        };
        let mut names: Vec<&String> = self.weights.keys().collect();
        names.sort();
        let mut header = serde_json::Map::new();
        let mut blob: Vec<u8> = Vec::new();
        for name in names {
            let t = &self.weights[name];
            let v = t.flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()?;
            let start = blob.len();
            blob.extend(v.iter().flat_map(|x| x.to_le_bytes()));
            header.insert(
                name.clone(),
                serde_json::json!({
                    "dtype": "F32",
                    "shape": t.dims(),
                    "data_offsets": [start, blob.len()],
                }),
            );
        }
        let c = self.net.config();
        let meta = serde_json::json!({
            "format": "tomofuse-resnet3d classifier",
            "crop": serde_json::to_string(&self.crop).map_err(|e| ck(e.to_string()))?,
            "resnet_config": serde_json::json!({
                "layers": c.layers,
                "block_inplanes": c.block_inplanes,
                "widen_factor": c.widen_factor,
                "n_input_channels": c.n_input_channels,
                "conv1_t_size": c.conv1_t_size,
                "conv1_t_stride": c.conv1_t_stride,
                "no_max_pool": c.no_max_pool,
                "num_classes": c.num_classes,
                "bias_downsample": c.bias_downsample,
                "bn_eps": c.bn_eps,
                "bn_momentum": c.bn_momentum,
            })
            .to_string(),
        });
        header.insert("__metadata__".into(), meta);
        let mut h = serde_json::to_vec(&header).map_err(|e| ck(e.to_string()))?;
        // The safetensors convention pads the header with spaces to 8-byte alignment.
        h.resize(h.len().div_ceil(8) * 8, b' ');
        let mut file = Vec::with_capacity(8 + h.len() + blob.len());
        file.extend((h.len() as u64).to_le_bytes());
        file.extend(h);
        file.extend(blob);
        std::fs::write(path, file).map_err(|e| ck(e.to_string()))
    }

    /// Reads a file written by [`Classifier::save`].
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let ck = |msg: String| ResNetError::Checkpoint {
            path: path.display().to_string(),
            msg,
        };
        let buf = std::fs::read(path).map_err(|e| ck(e.to_string()))?;
        let n = buf
            .get(..8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
            .ok_or_else(|| ck("shorter than a safetensors header".into()))?;
        let header: serde_json::Value = buf
            .get(8..8usize.saturating_add(n as usize))
            .ok_or_else(|| ck("truncated header".into()))
            .and_then(|h| serde_json::from_slice(h).map_err(|e| ck(e.to_string())))?;
        let meta = |key: &str| -> Result<serde_json::Value> {
            let s = header["__metadata__"][key].as_str().ok_or_else(|| {
                ck(format!(
                    "no `{key}` metadata (not saved by Classifier::save)"
                ))
            })?;
            serde_json::from_str(s).map_err(|e| ck(format!("metadata `{key}`: {e}")))
        };
        let crop: [usize; 3] =
            serde_json::from_value(meta("crop")?).map_err(|e| ck(format!("crop: {e}")))?;
        let rc = meta("resnet_config")?;
        let get = |k: &str| -> Result<serde_json::Value> {
            rc.get(k)
                .cloned()
                .ok_or_else(|| ck(format!("resnet_config has no `{k}`")))
        };
        let parse = |k: &str| -> Result<f64> {
            get(k)?
                .as_f64()
                .ok_or_else(|| ck(format!("resnet_config `{k}` is not a number")))
        };
        let de = |e: serde_json::Error| ck(format!("resnet_config: {e}"));
        let cfg = ResNetConfig {
            layers: serde_json::from_value(get("layers")?).map_err(de)?,
            block_inplanes: serde_json::from_value(get("block_inplanes")?).map_err(de)?,
            widen_factor: parse("widen_factor")?,
            n_input_channels: serde_json::from_value(get("n_input_channels")?).map_err(de)?,
            conv1_t_size: serde_json::from_value(get("conv1_t_size")?).map_err(de)?,
            conv1_t_stride: serde_json::from_value(get("conv1_t_stride")?).map_err(de)?,
            no_max_pool: serde_json::from_value(get("no_max_pool")?).map_err(de)?,
            num_classes: serde_json::from_value(get("num_classes")?).map_err(de)?,
            bias_downsample: serde_json::from_value(get("bias_downsample")?).map_err(de)?,
            bn_eps: parse("bn_eps")?,
            bn_momentum: parse("bn_momentum")?,
        };
        cfg.validate()?;
        let weights = candle_core::safetensors::load_buffer(&buf, &Device::Cpu)
            .map_err(|e| ck(e.to_string()))?;
        Self::from_weights(cfg, weights, crop).map_err(|e| match e {
            ResNetError::Candle(c) => ck(c.to_string()),
            e => e,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_warms_up_then_decays() {
        let cfg = FinetuneConfig {
            warmup_fraction: 0.1,
            ..Default::default()
        };
        let lr: Vec<f64> = (0..100).map(|s| cfg.lr_at(s, 100)).collect();
        assert!((lr[0] - 1e-4).abs() < 1e-12, "{}", lr[0]);
        assert!((lr[9] - 1e-3).abs() < 1e-12);
        assert!(lr[10..].windows(2).all(|w| w[1] <= w[0]));
        assert!(lr[99] > 1e-5 && lr[99] < 2e-5, "{}", lr[99]);
    }

    /// A training case is scored by its own fold's model, a held-out case by the mean of
    /// all folds' logits; folds that do not fit the samples are errors, not panics.
    #[test]
    fn held_out_logit_takes_the_cases_fold_or_the_mean() {
        let crop = [32, 32, 32];
        let clfs: Vec<Classifier> = (0..3)
            .map(|k| Classifier::untrained(finetune_net_config(), crop, 10 + k).unwrap())
            .collect();
        let data = (0..32 * 32 * 32)
            .map(|i| (i * 7 % 11) as f32 / 11.0 - 0.5)
            .collect();
        let v = Volume::from_vec_c(crop, data, tomofuse_core::Geometry::default()).unwrap();
        let own: Vec<f64> = clfs
            .iter()
            .map(|c| f64::from(c.logit(&v).unwrap()))
            .collect();
        for (k, want) in own.iter().enumerate() {
            assert_eq!(held_out_logit(&clfs, Some(k), &v).unwrap(), *want);
        }
        let mean = own.iter().sum::<f64>() / 3.0;
        assert!((held_out_logit(&clfs, None, &v).unwrap() - mean).abs() < 1e-12);
        assert!(
            own.windows(2).any(|w| w[0] != w[1]),
            "seeds give distinct models"
        );
        assert!(held_out_logit(&clfs, Some(3), &v).is_err());
        let samples = vec![
            Sample {
                crop: v.clone(),
                label: true
            };
            2
        ];
        let cfg = FinetuneConfig::default();
        let e = cross_fit(finetune_net_config(), &samples, &[0], 2, &cfg).unwrap_err();
        assert!(e.to_string().contains("1 folds for 2 samples"), "{e}");
        let e = cross_fit(finetune_net_config(), &samples, &[0, 2], 2, &cfg).unwrap_err();
        assert!(e.to_string().contains("fold 2 is not below k = 2"), "{e}");
    }

    #[test]
    fn augmentation_flips_and_shifts_with_edge_replication() {
        let s = [2, 3, 4];
        let src: Vec<f32> = (0..24).map(|v| v as f32).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut out = Vec::new();
        augment_into(&src, s, &Augment::none(), &mut rng, &mut out);
        assert_eq!(out, src);
        // Every output value is an input value (no interpolation), and over a few draws some
        // are flipped or shifted.
        let a = Augment {
            max_shift: 1,
            ..Augment::none()
        };
        let mut changed = false;
        for _ in 0..10 {
            out.clear();
            augment_into(
                &src,
                s,
                &Augment {
                    flip: true,
                    ..a.clone()
                },
                &mut rng,
                &mut out,
            );
            assert!(out.iter().all(|v| src.contains(v)));
            changed |= out != src;
        }
        assert!(changed);
    }
}
