//! The one training loop of the networks: epochs, validation every few epochs, best-epoch
//! selection over a trailing window with a weight snapshot, a divergence check, per-epoch
//! timing and progress logging, and checkpoint/resume.
//!
//! A network implements [`Task`]: one epoch's optimisation steps (each loss handed to
//! [`Steps::optimise`], which owns the optimiser and the divergence check) and, optionally, a
//! validation score. Everything else lives here, so the U-Net and the ResNet cannot drift apart
//! in how they pick an epoch or resume.
//!
//! Resume is exact: the checkpoint holds the weights (batch-norm statistics included), the AdamW
//! moments and step count, the loop's RNG position, the task's own loop state, the best
//! snapshot and the history, so an interrupted and resumed run ends bit for bit where an
//! uninterrupted one does.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::{Device, Tensor, Var};
use candle_nn::{Optimizer, ParamsAdamW, VarMap};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::Nn3dError;
use crate::optim::AdamW;

/// The weights written after every epoch (what a resumed run starts from).
pub const LAST_WEIGHTS: &str = "last.safetensors";
/// The weights of the best epoch so far.
pub const BEST_WEIGHTS: &str = "best.safetensors";
/// The optimiser's moments, one tensor per parameter name.
pub const OPTIMISER_STATE: &str = "trainer-adamw.safetensors";
/// Step counts, RNG position, best score, loop state and history.
pub const TRAINER_STATE: &str = "trainer-state.json";

/// How the loop runs; the network's own hyper-parameters stay in its config.
#[derive(Debug, Clone)]
pub struct TrainerConfig {
    /// Names the network in progress messages.
    pub name: String,
    /// Epochs of the schedule.
    pub epochs: usize,
    /// Optimiser steps per epoch (the schedule's length is `epochs * steps_per_epoch`).
    pub steps_per_epoch: usize,
    /// Validate every this many epochs and after the last one.
    pub validation_interval: usize,
    /// The selection score is the mean validation score of this many trailing validated epochs.
    pub selection_window: usize,
    /// AdamW hyper-parameters (the learning rate is set per step by the task).
    pub adamw: ParamsAdamW,
    /// Seeds the RNG the task draws batches and augmentations from.
    pub seed: u64,
    /// Writes [`LAST_WEIGHTS`], [`BEST_WEIGHTS`], [`OPTIMISER_STATE`] and [`TRAINER_STATE`]
    /// here after every epoch.
    pub checkpoint_dir: Option<PathBuf>,
    /// Continue from the state in `checkpoint_dir` instead of starting afresh.
    pub resume: bool,
    /// Stop (checkpointed) after this many epochs of the schedule, e.g. to fit a time slot;
    /// `resume` continues. `None` runs to `epochs`.
    pub stop_after: Option<usize>,
}

/// One epoch of the history: the trainer's numbers and the network's own `metrics`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord<M> {
    pub epoch: usize,
    /// Learning rate of the epoch's last step.
    pub lr: f64,
    /// Mean training loss of the epoch's steps (weighted as the task says).
    pub train_loss: f64,
    /// The task's validation score (None when the epoch was not validated).
    pub val_score: Option<f64>,
    /// Mean of `val_score` over the selection window (this epoch included).
    pub selection_score: Option<f64>,
    /// Wall-clock seconds of the epoch, validation included.
    pub seconds: f64,
    pub metrics: M,
}

/// The per-epoch records and which epoch's weights the network holds at the end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct History<M> {
    pub epochs: Vec<EpochRecord<M>>,
    /// Epoch (0-based) whose weights were kept: the best selection score, or the last epoch
    /// without validation.
    pub best_epoch: usize,
}

/// What a network supplies to [`train`].
pub trait Task: Send {
    /// The network's error type; the trainer's errors (divergence, checkpoint) convert into it.
    type Error: From<Nn3dError> + From<candle_core::Error> + Send;
    /// The network's own per-epoch numbers (loss parts, validation metrics) for the history.
    type Metrics: Clone + Serialize + DeserializeOwned + Send;

    /// Every weight of the network (snapshots, checkpoints).
    fn varmap(&self) -> &VarMap;

    /// The variables AdamW updates, by name (the name keys their moments in a checkpoint).
    fn trainable(&self) -> Result<Vec<(String, Var)>, Self::Error>;

    /// Runs one epoch's optimisation steps, each through [`Steps::optimise`], and returns the
    /// epoch's metrics.
    fn train_epoch(&mut self, steps: &mut Steps<'_>) -> Result<Self::Metrics, Self::Error>;

    /// Validates the current weights into `metrics` and returns the score to maximise; `None`
    /// when there is nothing to validate on (the last epoch is kept).
    fn validate(&mut self, metrics: &mut Self::Metrics) -> Result<Option<f64>, Self::Error>;

    /// Writes the current weights to `path` in the network's checkpoint format (it must hold
    /// every variable of [`Task::varmap`] under its name).
    fn save(&self, path: &Path) -> Result<(), Self::Error> {
        self.varmap().save(path)?;
        Ok(())
    }

    /// State the task's epochs carry from one to the next besides the weights and the RNG
    /// (e.g. an order that is reshuffled in place), for the checkpoint.
    fn loop_state(&self) -> serde_json::Value {
        serde_json::Value::Null
    }

    /// Restores what [`Task::loop_state`] returned.
    fn set_loop_state(&mut self, _state: serde_json::Value) -> Result<(), Self::Error> {
        Ok(())
    }

    /// The epoch's metrics in the progress message (after the loss).
    fn describe(&self, _metrics: &Self::Metrics) -> String {
        String::new()
    }
}

/// The optimiser, RNG and step counter one epoch of a [`Task`] works with.
pub struct Steps<'a> {
    opt: &'a mut AdamW,
    rng: &'a mut ChaCha8Rng,
    epoch: usize,
    step: &'a mut usize,
    total: usize,
    lr: f64,
    loss_sum: f64,
    weight_sum: f64,
    taken: usize,
}

impl Steps<'_> {
    /// The RNG batches and augmentations are drawn from (checkpointed with the weights).
    pub fn rng(&mut self) -> &mut ChaCha8Rng {
        self.rng
    }

    /// Index of the next step over the whole schedule (for learning-rate schedules).
    pub fn step(&self) -> usize {
        *self.step
    }

    /// Steps in the whole schedule.
    pub fn total(&self) -> usize {
        self.total
    }

    pub fn epoch(&self) -> usize {
        self.epoch
    }

    /// One optimiser step on `loss` at learning rate `lr`: a non-finite loss is an error
    /// naming the epoch, the step and the loss (nothing is updated), otherwise backward and
    /// AdamW. `weight` is the loss's weight in the epoch's mean (e.g. the batch size).
    /// Returns the loss.
    pub fn optimise(&mut self, loss: &Tensor, lr: f64, weight: f64) -> Result<f32, Nn3dError> {
        let l = adamw_step(self.opt, loss, lr)?;
        if !l.is_finite() {
            return Err(Nn3dError::Diverged {
                epoch: self.epoch,
                step: *self.step,
                loss: l,
            });
        }
        self.lr = lr;
        self.loss_sum += f64::from(l) * weight;
        self.weight_sum += weight;
        self.taken += 1;
        *self.step += 1;
        Ok(l)
    }
}

/// One optimiser step on `loss` at learning rate `lr`: backward and AdamW when the loss is
/// finite, nothing otherwise (the caller decides what a non-finite loss means). Returns the
/// loss. [`Steps::optimise`] and the networks' benchmark steps share it.
pub fn adamw_step(opt: &mut AdamW, loss: &Tensor, lr: f64) -> Result<f32, Nn3dError> {
    opt.set_learning_rate(lr);
    let l = loss.to_scalar::<f32>()?;
    if l.is_finite() {
        opt.step(&loss.backward()?)?;
    }
    Ok(l)
}

/// Where the generator is: seed, stream and word position restore it exactly.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct RngState {
    seed: [u8; 32],
    stream: u64,
    /// u128 as decimal text (JSON numbers stop at 64 bits in many readers).
    word_pos: String,
}

impl RngState {
    fn of(rng: &ChaCha8Rng) -> Self {
        Self {
            seed: rng.get_seed(),
            stream: rng.get_stream(),
            word_pos: rng.get_word_pos().to_string(),
        }
    }

    fn restore(&self) -> Option<ChaCha8Rng> {
        let mut rng = ChaCha8Rng::from_seed(self.seed);
        rng.set_stream(self.stream);
        rng.set_word_pos(self.word_pos.parse().ok()?);
        Some(rng)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct State<M> {
    /// The schedule the state belongs to (resuming another one is an error).
    epochs: usize,
    steps_per_epoch: usize,
    epochs_done: usize,
    step: usize,
    optimiser_steps: usize,
    rng: RngState,
    best_score: Option<f64>,
    loop_state: serde_json::Value,
    history: History<M>,
    /// The folder (in the checkpoint directory) holding this epoch's weight and optimiser
    /// files until they are moved into place; see [`publish`].
    #[serde(default)]
    staged: Option<String>,
}

/// Prefix of the per-epoch staging folders.
const STAGING: &str = "pending-epoch-";

/// Moves every file of the staging folder `stage` into `dir` (one atomic rename each) and
/// removes the folder. Idempotent: a file already moved is simply no longer there.
///
/// Why: the weights, the optimiser moments and the state must change together. Each epoch's
/// files are first written into their own staging folder, then the state naming that folder is
/// written atomically (the commit), then the files are moved into place. A crash before the
/// commit leaves the previous epoch's files and state; a crash after it is completed by the
/// next resume, which moves what is left. So a resume never sees weights one epoch newer than
/// the state.
fn publish(dir: &Path, stage: &Path) -> Result<(), Nn3dError> {
    if !stage.exists() {
        return Ok(());
    }
    for entry in std::fs::read_dir(stage).map_err(|e| ck_err(stage, e))? {
        let entry = entry.map_err(|e| ck_err(stage, e))?;
        let to = dir.join(entry.file_name());
        std::fs::rename(entry.path(), &to).map_err(|e| ck_err(&to, e))?;
    }
    std::fs::remove_dir(stage).map_err(|e| ck_err(stage, e))?;
    sync(dir)
}

/// Removes every staging folder left in `dir`: an epoch that crashed before its commit.
fn clear_staging(dir: &Path) -> Result<(), Nn3dError> {
    for entry in std::fs::read_dir(dir).map_err(|e| ck_err(dir, e))? {
        let entry = entry.map_err(|e| ck_err(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(STAGING) {
            std::fs::remove_dir_all(entry.path()).map_err(|e| ck_err(&entry.path(), e))?;
        }
    }
    Ok(())
}

fn ck_err(path: &Path, reason: impl std::fmt::Display) -> Nn3dError {
    Nn3dError::Checkpoint {
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

fn lock(varmap: &VarMap) -> Result<std::sync::MutexGuard<'_, HashMap<String, Var>>, Nn3dError> {
    varmap.data().lock().map_err(|_| Nn3dError::Config {
        what: "varmap",
        msg: "lock poisoned".into(),
    })
}

/// Every variable of `varmap` whose name `keep` accepts, sorted by name: what a [`Task`]
/// hands to the optimiser, in an order that does not depend on the map's hashing.
pub fn sorted_vars(
    varmap: &VarMap,
    keep: impl Fn(&str) -> bool,
) -> Result<Vec<(String, Var)>, Nn3dError> {
    let data = lock(varmap)?;
    let mut named: Vec<(String, Var)> = data
        .iter()
        .filter(|(k, _)| keep(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(named)
}

fn snapshot(varmap: &VarMap) -> Result<Vec<(String, Tensor)>, Nn3dError> {
    let data = lock(varmap)?;
    let mut v = Vec::with_capacity(data.len());
    for (k, var) in data.iter() {
        v.push((k.clone(), var.as_tensor().copy()?));
    }
    Ok(v)
}

fn restore(varmap: &VarMap, snap: &[(String, Tensor)]) -> Result<(), Nn3dError> {
    let data = lock(varmap)?;
    for (k, t) in snap {
        if let Some(var) = data.get(k) {
            var.set(t)?;
        }
    }
    Ok(())
}

/// Reads a safetensors file holding every variable of `varmap`.
fn read_weights(varmap: &VarMap, path: &Path) -> Result<Vec<(String, Tensor)>, Nn3dError> {
    let mut file =
        candle_core::safetensors::load(path, &Device::Cpu).map_err(|e| ck_err(path, e))?;
    let data = lock(varmap)?;
    let mut names: Vec<&String> = data.keys().collect();
    names.sort();
    names
        .into_iter()
        .map(|k| {
            let t = file
                .remove(k)
                .ok_or_else(|| ck_err(path, format!("no tensor `{k}`")))?;
            Ok((k.clone(), t))
        })
        .collect()
}

fn write_optimiser(path: &Path, names: &[String], opt: &AdamW) -> Result<(), Nn3dError> {
    let moments = opt.moments()?;
    let mut map = HashMap::with_capacity(names.len());
    for (name, mv) in names.iter().zip(moments) {
        let n = mv.len();
        map.insert(name.clone(), Tensor::from_vec(mv, n, &Device::Cpu)?);
    }
    candle_core::safetensors::save(&map, path).map_err(|e| ck_err(path, e))
}

fn read_optimiser(
    path: &Path,
    names: &[String],
    opt: &mut AdamW,
    steps: usize,
) -> Result<(), Nn3dError> {
    let mut file =
        candle_core::safetensors::load(path, &Device::Cpu).map_err(|e| ck_err(path, e))?;
    let moments = names
        .iter()
        .map(|k| {
            file.remove(k)
                .ok_or_else(|| ck_err(path, format!("no moments for `{k}`")))?
                .to_vec1::<f32>()
                .map_err(|e| ck_err(path, e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    opt.set_state(steps, &moments).map_err(|e| ck_err(path, e))
}

/// Writes `bytes` via a temporary file, so an interrupted write leaves the old state; the
/// file's bytes reach the device before the rename, and the rename before this returns.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Nn3dError> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).map_err(|e| ck_err(path, e))?;
    sync(&tmp)?;
    std::fs::rename(&tmp, path).map_err(|e| ck_err(path, e))?;
    sync(path.parent().unwrap_or(Path::new(".")))
}

/// Flushes a file's bytes, or a folder's entries (renames, new files), to the device: without
/// it the order of the commit protocol holds for a killed process but not for a power cut,
/// where the page cache may reach the disk in any order.
fn sync(path: &Path) -> Result<(), Nn3dError> {
    let p = if path.as_os_str().is_empty() {
        Path::new(".")
    } else {
        path
    };
    std::fs::File::open(p)
        .and_then(|f| f.sync_all())
        .map_err(|e| ck_err(p, format!("fsync: {e}")))
}

fn check_config(cfg: &TrainerConfig) -> Result<(), Nn3dError> {
    let bad = |msg: &str| Nn3dError::Config {
        what: "trainer",
        msg: msg.into(),
    };
    if cfg.epochs == 0 || cfg.steps_per_epoch == 0 {
        return Err(bad("epochs and steps_per_epoch must be >= 1"));
    }
    if cfg.validation_interval == 0 || cfg.selection_window == 0 {
        return Err(bad("validation_interval and selection_window must be >= 1"));
    }
    if cfg.resume && cfg.checkpoint_dir.is_none() {
        return Err(bad("resume needs a checkpoint_dir"));
    }
    Ok(())
}

/// Trains `task` for `cfg.epochs` (or up to `cfg.stop_after`) and leaves the weights of the
/// best epoch in its VarMap: the highest selection score among validated epochs (the first on
/// ties), or the last epoch when the task does not validate. The loop runs on rayon's pool
/// ([`crate::on_pool`]).
pub fn train<T: Task>(task: &mut T, cfg: &TrainerConfig) -> Result<History<T::Metrics>, T::Error> {
    crate::on_pool(|| train_on_pool(task, cfg))
}

fn train_on_pool<T: Task>(
    task: &mut T,
    cfg: &TrainerConfig,
) -> Result<History<T::Metrics>, T::Error> {
    check_config(cfg)?;
    let named: Vec<(String, Var)> = task
        .trainable()?
        .into_iter()
        .filter(|(_, v)| v.dtype().is_float())
        .collect();
    let names: Vec<String> = named.iter().map(|(k, _)| k.clone()).collect();
    let mut opt = AdamW::new_adamw(
        named.into_iter().map(|(_, v)| v).collect(),
        cfg.adamw.clone(),
    )?;
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let total = cfg.epochs * cfg.steps_per_epoch;
    let mut step = 0usize;
    let mut history = History {
        epochs: Vec::with_capacity(cfg.epochs),
        best_epoch: 0,
    };
    let mut best: Option<(f64, Vec<(String, Tensor)>)> = None;
    let mut start = 0;
    if let Some(dir) = &cfg.checkpoint_dir {
        std::fs::create_dir_all(dir).map_err(|e| ck_err(dir, e))?;
        if !cfg.resume {
            clear_staging(dir)?;
        }
    }
    if cfg.resume
        && let Some(dir) = &cfg.checkpoint_dir
    {
        let path = dir.join(TRAINER_STATE);
        let text = std::fs::read_to_string(&path).map_err(|e| ck_err(&path, e))?;
        let state: State<T::Metrics> = serde_json::from_str(&text).map_err(|e| ck_err(&path, e))?;
        // Finish moving the committed epoch's files into place (a crash after the commit),
        // and drop an epoch's files that were never committed.
        if let Some(stage) = &state.staged {
            publish(dir, &dir.join(stage))?;
        }
        clear_staging(dir)?;
        if (state.epochs, state.steps_per_epoch) != (cfg.epochs, cfg.steps_per_epoch) {
            return Err(ck_err(
                &path,
                format!(
                    "written for {} epochs of {} steps, resumed with {} of {}",
                    state.epochs, state.steps_per_epoch, cfg.epochs, cfg.steps_per_epoch
                ),
            )
            .into());
        }
        let weights = read_weights(task.varmap(), &dir.join(LAST_WEIGHTS))?;
        restore(task.varmap(), &weights)?;
        read_optimiser(
            &dir.join(OPTIMISER_STATE),
            &names,
            &mut opt,
            state.optimiser_steps,
        )?;
        rng = state
            .rng
            .restore()
            .ok_or_else(|| ck_err(&path, "unreadable RNG word position"))?;
        if let Some(score) = state.best_score {
            best = Some((score, read_weights(task.varmap(), &dir.join(BEST_WEIGHTS))?));
        }
        task.set_loop_state(state.loop_state)?;
        step = state.step;
        start = state.epochs_done;
        history = state.history;
        log::info!(
            "{}: resuming after epoch {start}/{} from {}",
            cfg.name,
            cfg.epochs,
            dir.display()
        );
    }
    let end = cfg.stop_after.map_or(cfg.epochs, |s| s.min(cfg.epochs));
    for epoch in start..end {
        let t0 = Instant::now();
        let mut steps = Steps {
            opt: &mut opt,
            rng: &mut rng,
            epoch,
            step: &mut step,
            total,
            lr: cfg.adamw.lr,
            loss_sum: 0.0,
            weight_sum: 0.0,
            taken: 0,
        };
        let mut metrics = task.train_epoch(&mut steps)?;
        let (lr, loss_sum, weight_sum, taken) =
            (steps.lr, steps.loss_sum, steps.weight_sum, steps.taken);
        if taken != cfg.steps_per_epoch {
            return Err(Nn3dError::Config {
                what: "trainer",
                msg: format!(
                    "epoch {epoch} took {taken} steps, the schedule has {}",
                    cfg.steps_per_epoch
                ),
            }
            .into());
        }
        let validate_now = (epoch + 1) % cfg.validation_interval == 0 || epoch + 1 == cfg.epochs;
        let val_score = if validate_now {
            task.validate(&mut metrics)?
        } else {
            None
        };
        let mut new_best = false;
        let mut rec = EpochRecord {
            epoch,
            lr,
            train_loss: loss_sum / weight_sum,
            val_score,
            selection_score: None,
            seconds: 0.0,
            metrics,
        };
        if let Some(score) = val_score {
            // Trailing mean over the window of validated epochs (this one included).
            let recent: Vec<f64> = history
                .epochs
                .iter()
                .rev()
                .filter_map(|e| e.val_score)
                .take(cfg.selection_window - 1)
                .chain(Some(score))
                .collect();
            let sel = recent.iter().sum::<f64>() / recent.len() as f64;
            rec.selection_score = Some(sel);
            if best.as_ref().is_none_or(|(b, _)| sel > *b) {
                best = Some((sel, snapshot(task.varmap())?));
                history.best_epoch = epoch;
                new_best = true;
            }
        } else if best.is_none() {
            // Nothing validated (yet): the weights are the latest epoch's.
            history.best_epoch = epoch;
        }
        rec.seconds = t0.elapsed().as_secs_f64();
        let opt_score = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.3}"));
        log::info!(
            "{} epoch {}/{}: loss {:.4}{}, selection score {}, lr {:.2e}, {:.1} s",
            cfg.name,
            epoch + 1,
            cfg.epochs,
            rec.train_loss,
            task.describe(&rec.metrics),
            opt_score(rec.selection_score),
            rec.lr,
            rec.seconds
        );
        history.epochs.push(rec);
        if let Some(dir) = &cfg.checkpoint_dir {
            let stage_name = format!("{STAGING}{epoch:05}");
            let stage = dir.join(&stage_name);
            if stage.exists() {
                std::fs::remove_dir_all(&stage).map_err(|e| ck_err(&stage, e))?;
            }
            std::fs::create_dir_all(&stage).map_err(|e| ck_err(&stage, e))?;
            if new_best {
                task.save(&stage.join(BEST_WEIGHTS))?;
            }
            task.save(&stage.join(LAST_WEIGHTS))?;
            write_optimiser(&stage.join(OPTIMISER_STATE), &names, &opt)?;
            // The staged files are on the device before the state that commits them.
            for entry in std::fs::read_dir(&stage).map_err(|e| ck_err(&stage, e))? {
                sync(&entry.map_err(|e| ck_err(&stage, e))?.path())?;
            }
            sync(&stage)?;
            sync(dir)?;
            let state = State {
                epochs: cfg.epochs,
                steps_per_epoch: cfg.steps_per_epoch,
                epochs_done: epoch + 1,
                step,
                optimiser_steps: opt.step_count(),
                rng: RngState::of(&rng),
                best_score: best.as_ref().map(|(s, _)| *s),
                loop_state: task.loop_state(),
                history: history.clone(),
                staged: Some(stage_name),
            };
            let path = dir.join(TRAINER_STATE);
            let json = serde_json::to_vec_pretty(&state).map_err(|e| ck_err(&path, e))?;
            write_atomic(&path, &json)?;
            publish(dir, &stage)?;
        }
    }
    if let Some((_, snap)) = best {
        restore(task.varmap(), &snap)?;
    }
    Ok(history)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::DType;
    use candle_nn::{Init, VarBuilder};
    use rand::Rng;
    use rand::seq::SliceRandom;

    /// Least squares for w in y = w . x on 6 fixed points, batches of 2 drawn from the loop
    /// RNG in an order reshuffled in place every epoch (loop state, as the ResNet's).
    struct Toy {
        varmap: VarMap,
        w: Var,
        order: Vec<usize>,
        /// Validation scores to return, by epoch (None: no validation set).
        scores: Option<Vec<f64>>,
        /// Inject a NaN into the loss at (epoch, step within the epoch).
        nan_at: Option<(usize, usize)>,
        /// The weights after each epoch's training.
        after: Vec<Vec<f32>>,
        /// Whether each epoch ran on a thread of rayon's pool.
        on_pool: Vec<bool>,
    }

    const X: [[f32; 3]; 6] = [
        [1.0, 0.0, 0.5],
        [0.0, 1.0, -1.0],
        [1.0, 1.0, 0.0],
        [-1.0, 0.5, 2.0],
        [0.3, -0.7, 1.0],
        [2.0, 0.1, -0.4],
    ];

    impl Toy {
        fn new(scores: Option<Vec<f64>>) -> Self {
            let varmap = VarMap::new();
            let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
            vb.get_with_hints(3, "w", Init::Const(0.1)).unwrap();
            let w = varmap.data().lock().unwrap()["w"].clone();
            Self {
                varmap,
                w,
                order: (0..6).collect(),
                scores,
                nan_at: None,
                after: Vec::new(),
                on_pool: Vec::new(),
            }
        }

        fn weights(&self) -> Vec<f32> {
            self.w.as_tensor().to_vec1().unwrap()
        }
    }

    impl Task for Toy {
        type Error = Nn3dError;
        type Metrics = Option<f64>;

        fn varmap(&self) -> &VarMap {
            &self.varmap
        }

        fn trainable(&self) -> Result<Vec<(String, Var)>, Nn3dError> {
            Ok(vec![("w".into(), self.w.clone())])
        }

        fn train_epoch(&mut self, steps: &mut Steps<'_>) -> Result<Option<f64>, Nn3dError> {
            self.on_pool.push(rayon::current_thread_index().is_some());
            self.order.shuffle(steps.rng());
            for b in 0..3 {
                let jitter: f32 = steps.rng().random_range(-0.1..0.1);
                let idx = &self.order[2 * b..2 * b + 2];
                let x: Vec<f32> = idx.iter().flat_map(|&i| X[i]).collect();
                let y: Vec<f32> = idx
                    .iter()
                    .map(|&i| X[i][0] - 2.0 * X[i][1] + 0.5 * X[i][2] + jitter)
                    .collect();
                let x = Tensor::from_vec(x, (2, 3), &Device::Cpu)?;
                let y = Tensor::from_vec(y, 2, &Device::Cpu)?;
                let pred = x.broadcast_mul(&self.w.as_tensor().unsqueeze(0)?)?.sum(1)?;
                let mut loss = (pred - y)?.sqr()?.mean_all()?;
                if self.nan_at == Some((steps.epoch(), b)) {
                    loss = (loss * f64::NAN)?;
                }
                let lr = 0.05 / (1.0 + steps.step() as f64);
                steps.optimise(&loss, lr, 2.0)?;
            }
            self.after.push(self.weights());
            Ok(None)
        }

        fn validate(&mut self, metrics: &mut Option<f64>) -> Result<Option<f64>, Nn3dError> {
            let epoch = self.after.len() - 1;
            let s = self.scores.as_ref().map(|s| s[epoch]);
            *metrics = s;
            Ok(s)
        }

        fn loop_state(&self) -> serde_json::Value {
            serde_json::json!(self.order)
        }

        fn set_loop_state(&mut self, state: serde_json::Value) -> Result<(), Nn3dError> {
            self.order = serde_json::from_value(state).map_err(|e| Nn3dError::Config {
                what: "toy",
                msg: e.to_string(),
            })?;
            Ok(())
        }
    }

    fn config(epochs: usize) -> TrainerConfig {
        TrainerConfig {
            name: "toy".into(),
            epochs,
            steps_per_epoch: 3,
            validation_interval: 1,
            selection_window: 1,
            adamw: ParamsAdamW {
                lr: 0.05,
                weight_decay: 0.01,
                ..Default::default()
            },
            seed: 9,
            checkpoint_dir: None,
            resume: false,
            stop_after: None,
        }
    }

    fn without_seconds<M>(mut h: History<M>) -> History<M> {
        for e in &mut h.epochs {
            e.seconds = 0.0;
        }
        h
    }

    /// Called from a thread outside rayon's pool (the test thread), every epoch still runs on
    /// one of the pool's threads.
    #[test]
    fn epochs_run_on_the_pool() {
        assert!(
            rayon::current_thread_index().is_none(),
            "test thread is a rayon worker"
        );
        let mut toy = Toy::new(None);
        train(&mut toy, &config(3)).unwrap();
        assert_eq!(toy.on_pool, vec![true; 3]);
        // Already on a worker: runs in place, same weights as from outside.
        let mut again = Toy::new(None);
        crate::on_pool(|| train(&mut again, &config(3))).unwrap();
        assert_eq!(again.on_pool, vec![true; 3]);
        assert_eq!(again.after, toy.after);
    }

    /// Stopping after 2 of 5 epochs and resuming ends with the same weights, bit for bit,
    /// and the same history as one uninterrupted run (the best epoch's snapshot included).
    #[test]
    fn resumed_run_matches_an_uninterrupted_one() {
        let scores = vec![0.2, 0.6, 0.3, 0.5, 0.4];
        let dir = tempfile::tempdir().unwrap();
        let mut full = Toy::new(Some(scores.clone()));
        let cfg = TrainerConfig {
            checkpoint_dir: Some(dir.path().join("full")),
            ..config(5)
        };
        std::fs::create_dir_all(dir.path().join("full")).unwrap();
        let h_full = train(&mut full, &cfg).unwrap();

        let part_dir = dir.path().join("part");
        std::fs::create_dir_all(&part_dir).unwrap();
        let cfg = TrainerConfig {
            checkpoint_dir: Some(part_dir.clone()),
            stop_after: Some(2),
            ..config(5)
        };
        let mut first = Toy::new(Some(scores.clone()));
        let h_first = train(&mut first, &cfg).unwrap();
        assert_eq!(h_first.epochs.len(), 2);
        // A fresh task (initial weights, unshuffled order) continues from the checkpoint.
        let mut second = Toy::new(Some(scores));
        second.after = first.after.clone();
        let cfg = TrainerConfig {
            resume: true,
            stop_after: None,
            ..cfg
        };
        let h_resumed = train(&mut second, &cfg).unwrap();

        assert_eq!(without_seconds(h_resumed), without_seconds(h_full.clone()));
        assert_eq!(h_full.best_epoch, 1);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&second.weights()), bits(&full.weights()));
        assert_eq!(bits(&full.weights()), bits(&full.after[1]));
        // The last epoch's weights (before the best was restored) agree too.
        for name in [LAST_WEIGHTS, OPTIMISER_STATE] {
            let a = std::fs::read(dir.path().join("full").join(name)).unwrap();
            let b = std::fs::read(part_dir.join(name)).unwrap();
            assert_eq!(a, b, "{name}");
        }
        assert_eq!(second.after.len(), 5);
        for (a, b) in full.after.iter().zip(&second.after) {
            assert_eq!(bits(a), bits(b));
        }
    }

    /// The checkpoint is consistent whatever moment a crash hits: (a) after epoch 2's state
    /// was committed but before its files were moved into place (the top level still holds
    /// epoch 1's files), and (b) while epoch 3's files were being staged (a partial staging
    /// folder, no commit). Resuming from either ends bit for bit as the uninterrupted run.
    #[test]
    fn resume_survives_a_crash_at_either_side_of_the_commit() {
        let scores = vec![0.2, 0.6, 0.3, 0.5, 0.4];
        let dir = tempfile::tempdir().unwrap();
        let run = |name: &str, stop: Option<usize>, resume: bool, after: Vec<Vec<f32>>| {
            let mut toy = Toy::new(Some(scores.clone()));
            // The toy's validation scores follow its own epoch count.
            toy.after = after;
            let cfg = TrainerConfig {
                checkpoint_dir: Some(dir.path().join(name)),
                stop_after: stop,
                resume,
                ..config(5)
            };
            let h = train(&mut toy, &cfg).unwrap();
            (toy, h)
        };
        let (full, h_full) = run("full", None, false, vec![]);
        run("one", Some(1), false, vec![]);
        let (first, _) = run("crash", Some(2), false, vec![]);
        let crash = dir.path().join("crash");
        let one = dir.path().join("one");
        // (a) Epoch 2 (index 1) committed: its files back into the staging folder its state
        // names, the top level holding epoch 1's, as if the moves had not happened.
        let stage = crash.join(format!("{STAGING}00001"));
        std::fs::create_dir_all(&stage).unwrap();
        for f in [LAST_WEIGHTS, OPTIMISER_STATE, BEST_WEIGHTS] {
            std::fs::rename(crash.join(f), stage.join(f)).unwrap();
            std::fs::copy(one.join(f), crash.join(f)).unwrap();
        }
        // (b) A half-written staging folder of epoch 3 (index 2), never committed.
        let partial = crash.join(format!("{STAGING}00002"));
        std::fs::create_dir_all(&partial).unwrap();
        std::fs::write(partial.join(LAST_WEIGHTS), b"half a file").unwrap();
        let (resumed, h_resumed) = run("crash", None, true, first.after.clone());
        assert_eq!(without_seconds(h_resumed), without_seconds(h_full));
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&resumed.weights()), bits(&full.weights()));
        // (The state file differs only in the epochs' seconds; the history is compared above.)
        for f in [LAST_WEIGHTS, OPTIMISER_STATE, BEST_WEIGHTS] {
            let a = std::fs::read(dir.path().join("full").join(f)).unwrap();
            let b = std::fs::read(crash.join(f)).unwrap();
            assert!(a == b, "{f} differs");
        }
        let left: Vec<_> = std::fs::read_dir(&crash)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(STAGING))
            .collect();
        assert!(left.is_empty(), "staging folders left: {left:?}");
    }

    /// A resumed schedule of another length is refused rather than silently mixed.
    #[test]
    fn resume_checks_the_schedule() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = TrainerConfig {
            checkpoint_dir: Some(dir.path().to_path_buf()),
            stop_after: Some(1),
            ..config(3)
        };
        train(&mut Toy::new(None), &cfg).unwrap();
        let cfg = TrainerConfig {
            resume: true,
            ..config(4)
        };
        let cfg = TrainerConfig {
            checkpoint_dir: Some(dir.path().to_path_buf()),
            ..cfg
        };
        let e = train(&mut Toy::new(None), &cfg).unwrap_err();
        assert!(e.to_string().contains("written for 3 epochs"), "{e}");
    }

    /// A NaN loss in epoch 2 (third step) stops training with an error naming epoch, step and
    /// loss, and the weights are those before that step.
    #[test]
    fn nan_loss_stops_with_the_divergence_error() {
        let mut toy = Toy::new(None);
        toy.nan_at = Some((2, 2));
        let e = train(&mut toy, &config(4)).unwrap_err();
        match &e {
            Nn3dError::Diverged { epoch, step, loss } => {
                assert_eq!((*epoch, *step), (2, 2 * 3 + 2));
                assert!(loss.is_nan());
            }
            other => panic!("expected Diverged, got {other}"),
        }
        assert!(e.to_string().contains("epoch 2"), "{e}");
        assert!(e.to_string().contains("NaN"), "{e}");
        assert!(toy.weights().iter().all(|v| v.is_finite()));
    }

    /// Scores 0.50, 0.90, 0.40, 0.80, 0.85 with a window of 2: selection scores 0.50, 0.70,
    /// 0.65, 0.60, 0.825, so epoch 4 (not epoch 1, the best single score). Validating every
    /// second epoch (1, 3 and the last, 4) with the same window: 0.90, (0.90+0.80)/2 = 0.85,
    /// (0.80+0.85)/2 = 0.825, so epoch 1. Without validation the last epoch is kept.
    #[test]
    fn best_epoch_is_the_hand_computed_one() {
        let scores = vec![0.5, 0.9, 0.4, 0.8, 0.85];
        let cfg = TrainerConfig {
            selection_window: 2,
            ..config(5)
        };
        let mut toy = Toy::new(Some(scores.clone()));
        let h = train(&mut toy, &cfg).unwrap();
        let sel: Vec<f64> = h
            .epochs
            .iter()
            .map(|e| e.selection_score.unwrap())
            .collect();
        let want = [0.5, 0.7, 0.65, 0.6, 0.825];
        for (s, w) in sel.iter().zip(want) {
            assert!((s - w).abs() < 1e-12, "{sel:?}");
        }
        assert_eq!(h.best_epoch, 4);
        assert_eq!(toy.weights(), toy.after[4]);

        let mut toy = Toy::new(Some(scores.clone()));
        let h = train(
            &mut toy,
            &TrainerConfig {
                validation_interval: 2,
                ..cfg.clone()
            },
        )
        .unwrap();
        let validated: Vec<usize> = h
            .epochs
            .iter()
            .filter(|e| e.val_score.is_some())
            .map(|e| e.epoch)
            .collect();
        assert_eq!(validated, [1, 3, 4]);
        let sel: Vec<f64> = h.epochs.iter().filter_map(|e| e.selection_score).collect();
        for (s, w) in sel.iter().zip([0.9, 0.85, 0.825]) {
            assert!((s - w).abs() < 1e-12, "{sel:?}");
        }
        assert_eq!(h.best_epoch, 1);
        assert_eq!(toy.weights(), toy.after[1]);
        assert_ne!(toy.after[1], toy.after[4]);

        let mut toy = Toy::new(None);
        let h = train(&mut toy, &cfg).unwrap();
        assert_eq!(h.best_epoch, 4);
        assert_eq!(toy.weights(), toy.after[4]);
        assert!(h.epochs.iter().all(|e| e.seconds >= 0.0 && e.lr > 0.0));
    }
}
