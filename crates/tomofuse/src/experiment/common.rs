//! Pipeline steps shared by both studies: cohort loading and checking, splits, network input,
//! U-Net training (cached) and per-case prediction. Each step calls into the crates; the
//! orchestrator only decides order, caching and what happens to a failing case.

use super::config::{ExperimentConfig, SegmentationSource};
use super::networks::{
    ClassHeadSpec, History, Networks, NormKind, SegCase, SegTrainSpec, SegmentationModel, UnetSpec,
};
use super::rundir::{CaseOutcome, RunDir, sha256_hex};
use anyhow::{Context, Result, bail};
use rayon::prelude::*;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use tomofuse_cohort::{ClinicalValue, Cohort, NiftiIo, Profile, Split};
use tomofuse_core::{Mask, Volume};
use tomofuse_preprocess::plan::{CaseFingerprint, Plan, PlannedGrid};

/// The code behind cached stage results (see [`Ctx::key`]).
const CODE_ID: &str = concat!(env!("CARGO_PKG_VERSION"), "+", env!("TOMOFUSE_GIT_COMMIT"));

/// A case the pipeline could not process: reported and skipped, never fatal for the cohort.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    pub case_id: String,
    pub stage: String,
    pub reason: String,
}

/// One shard of a cohort run: cases at cohort positions `p` with `p % count == index`
/// (round robin over the cohort order, so heavy and light cases spread evenly).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    pub fn new(index: usize, count: usize) -> Result<Self> {
        if count == 0 || index >= count {
            bail!("shard {index}/{count}: need 0 <= I < N and N >= 1");
        }
        Ok(Self { index, count })
    }

    pub fn contains(&self, pos: usize) -> bool {
        pos % self.count == self.index
    }

    /// File-name tag, e.g. `002-of-007`.
    pub fn tag(&self) -> String {
        format!("{:03}-of-{:03}", self.index, self.count)
    }
}

/// The shard a process was asked to run, before the run directory says how many there are:
/// the index (from `--shard`, or the scheduler's task id) and a count only when the caller
/// named one. The count itself is fixed when the run directory is prepared (`run.json`), so
/// any subset of array tasks can be submitted or resubmitted (`--array=0,2`, then `--array=1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardRequest {
    pub index: usize,
    pub count: Option<usize>,
    /// Where the index came from (`--shard 2`, `SLURM_ARRAY_TASK_ID=2`, ...), for messages.
    pub origin: String,
}

impl ShardRequest {
    /// Parses `I` or `I/N` (0-based I).
    pub fn parse(text: &str) -> Result<Self> {
        let (i, n) = match text.split_once('/') {
            Some((i, n)) => (i, Some(n)),
            None => (text, None),
        };
        let index: usize = i.trim().parse().with_context(|| {
            format!("--shard `{text}`: shard index `{i}` is not a number (expected I or I/N, e.g. 2 or 2/4)")
        })?;
        let count = n
            .map(|n| {
                n.trim()
                    .parse::<usize>()
                    .with_context(|| format!("--shard `{text}`: shard count `{n}` is not a number"))
            })
            .transpose()?;
        if let Some(n) = count {
            Shard::new(index, n).with_context(|| format!("--shard `{text}`"))?;
        }
        Ok(Self {
            index,
            count,
            origin: format!("--shard {text}"),
        })
    }

    /// The shard of an array job, when the scheduler says so: a Slurm array task's own id
    /// (`SLURM_ARRAY_TASK_ID`; the array's range, count and minimum are ignored, so
    /// `--array=0,2` and a rerun of `--array=1` each compute their own shard), or a
    /// Kubernetes Indexed Job's `JOB_COMPLETION_INDEX` (with `TOMOFUSE_SHARD_COUNT`, if set,
    /// checked against the run directory).
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Option<Self>> {
        let num = |k: &str| -> Result<Option<usize>> {
            get(k)
                .map(|v| {
                    v.trim()
                        .parse::<usize>()
                        .with_context(|| format!("environment variable {k}=`{v}` is not a number"))
                })
                .transpose()
        };
        if let Some(id) = num("SLURM_ARRAY_TASK_ID")? {
            return Ok(Some(Self {
                index: id,
                count: None,
                origin: format!("SLURM_ARRAY_TASK_ID={id}"),
            }));
        }
        if let Some(index) = num("JOB_COMPLETION_INDEX")? {
            return Ok(Some(Self {
                index,
                count: num("TOMOFUSE_SHARD_COUNT")?,
                origin: format!("JOB_COMPLETION_INDEX={index}"),
            }));
        }
        Ok(None)
    }

    /// The shard against the count the run directory was prepared for (`run.json`'s
    /// `shards`); any disagreement is an error before any work.
    pub fn resolve(&self, prepared: Option<usize>, run_json: &std::path::Path) -> Result<Shard> {
        let Some(n) = prepared else {
            bail!(
                "{}: {} does not fix a number of shards: prepare the run directory with `tomofuse run CONFIG --out DIR --until models --shards N` (docs/scale-out.md)",
                self.origin,
                run_json.display()
            );
        };
        if let Some(c) = self.count
            && c != n
        {
            bail!(
                "{}: the shard count {c} disagrees with {} (`shards` = {n}); drop the count (`--shard {}`) or prepare a new run directory",
                self.origin,
                run_json.display(),
                self.index
            );
        }
        if self.index >= n {
            bail!(
                "{}: shard index {} is outside 0..{} ({} was prepared with `--shards {n}`); submit array tasks 0-{}",
                self.origin,
                self.index,
                n - 1,
                run_json.display(),
                n - 1
            );
        }
        Shard::new(self.index, n)
    }
}

/// Which part of a run this process does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Everything in one process.
    Full,
    /// Train (or load) the models the shards share, then stop: the step before a sharded run.
    UntilModels,
    /// The per-case stages of one shard, then stop.
    Shard(Shard),
    /// The cohort-level stages over what the shards left; computes no case.
    Merge,
}

/// Shared state of one run.
pub struct Ctx<'a> {
    pub cfg: &'a ExperimentConfig,
    pub rd: &'a RunDir,
    /// Folder that relative paths of the config (manifest, checkpoint) are resolved against.
    pub config_dir: &'a Path,
    pub failures: Mutex<Vec<Failure>>,
    /// Hash of the cohort's identity (ids, labels, splits, source) for stage keys.
    pub cohort_key: String,
    pub mode: Mode,
    /// Recompute cases whose stored outcome is a failure (e.g. after fixing an input file).
    pub retry_failed: bool,
    /// The cohort's plan, set once by [`plan_stage`] before any per-case stage.
    pub plan: std::sync::OnceLock<Plan>,
    /// The networks the study trains, loads and runs.
    pub nets: &'a dyn Networks,
}

impl Ctx<'_> {
    /// The plan every case is carried to the networks with.
    pub fn plan(&self) -> Result<&Plan> {
        self.plan
            .get()
            .context("internal: the plan stage has not run before a per-case stage")
    }

    pub fn fail(&self, case_id: &str, stage: &str, reason: impl std::fmt::Display) {
        let reason = format!("{reason:#}");
        log::warn!("case {case_id}: {stage} failed, skipped: {reason}");
        self.record(case_id, stage, reason);
    }

    fn record(&self, case_id: &str, stage: &str, reason: String) {
        if let Ok(mut f) = self.failures.lock() {
            f.push(Failure {
                case_id: case_id.into(),
                stage: stage.into(),
                reason,
            });
        }
    }

    /// Stage key: config section + seed + cohort + upstream keys + the code that computes it
    /// (version and git commit), so a rerun after an upgrade never reuses an older build's
    /// cached results. Uncommitted edits (`-dirty`) are not distinguished.
    pub fn key<T: Serialize>(&self, section: &T, upstream: &[&str]) -> String {
        self.key_json(serde_json::to_string(section).unwrap_or_default(), upstream)
    }

    /// [`Ctx::key`] of a section already serialised as JSON.
    pub fn key_json(&self, section: String, upstream: &[&str]) -> String {
        let mut s = section;
        s.push_str(CODE_ID);
        // Every stage after planning sees planned volumes.
        if let Some(p) = self.plan.get() {
            s.push_str(&serde_json::to_string(p).unwrap_or_default());
        }
        s.push_str(&self.cfg.experiment.seed.to_string());
        s.push_str(&self.cohort_key);
        for u in upstream {
            s.push_str(u);
        }
        sha256_hex(s.as_bytes())
    }

    /// A cohort-level model stage ([`RunDir::stage`]). Shards and the merge step never fit
    /// models: they must find the stage finished by an earlier `--until models` (or full) run.
    pub fn model_stage<T, F>(
        &self,
        stage: &str,
        what: &str,
        key: &str,
        compute: F,
    ) -> Result<(T, bool)>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Result<T>,
    {
        if matches!(self.mode, Mode::Shard(_) | Mode::Merge) && !self.rd.stage_done(stage, key) {
            bail!(
                "no {what} for this config in {}: run `tomofuse run CONFIG --out {} --until models` before the shards (docs/scale-out.md)",
                self.rd.root.display(),
                self.rd.root.display()
            );
        }
        self.rd.stage(stage, key, compute)
    }

    /// Whether this process handles the case at cohort position `pos`.
    pub fn selects(&self, pos: usize) -> bool {
        match self.mode {
            Mode::Shard(s) => s.contains(pos),
            _ => true,
        }
    }
}

/// What the pipeline needs to know about a case without its pixels.
#[derive(Debug, Clone)]
pub struct CaseMeta {
    /// Position in the cohort (the shard partition and every output follow this order).
    pub pos: usize,
    pub id: String,
    pub split: Split,
    pub label: Option<bool>,
    pub centre: Option<String>,
    pub clinical: BTreeMap<String, ClinicalValue>,
}

impl CaseMeta {
    /// The case's row of the clinical table the models are fitted on.
    pub fn clinical_record(&self) -> tomofuse_core::ClinicalRecord<'_> {
        tomofuse_core::ClinicalRecord {
            id: &self.id,
            label: self.label,
            split: Some(self.split.as_str()),
            centre: self.centre.as_deref(),
            values: &self.clinical,
        }
    }
}

pub fn metas(cohort: &Cohort) -> Vec<CaseMeta> {
    cohort
        .cases
        .iter()
        .enumerate()
        .map(|(pos, c)| CaseMeta {
            pos,
            id: c.id.clone(),
            split: c.split.unwrap_or(Split::Train),
            label: c.label,
            centre: c.centre.clone(),
            clinical: c.clinical.clone(),
        })
        .collect()
}

/// Runs one per-case stage over the cases this process handles, in cohort order. Each case's
/// outcome is stored on its own (`cases/<stage>/<id>.json`, atomically), so an interrupted
/// run or shard redoes only unfinished cases and the merge step finds every case's result.
/// A case that fails is stored as a failure with its reason and skipped; a result that cannot
/// be saved (disk full) is a failure of this run only and is retried by the next one.
pub fn per_case<T, F>(
    ctx: &Ctx,
    metas: &[CaseMeta],
    stage: &str,
    key: &str,
    mut compute: F,
) -> Result<Vec<(usize, T)>>
where
    T: Serialize + DeserializeOwned,
    F: FnMut(&CaseMeta) -> Result<T>,
{
    let sel: Vec<&CaseMeta> = metas.iter().filter(|m| ctx.selects(m.pos)).collect();
    let total = sel.len();
    let (mut cached, mut computed, mut failed) = (0usize, 0usize, 0usize);
    let mut missing = Vec::new();
    let mut out = Vec::with_capacity(total);
    let t0 = std::time::Instant::now();
    let mut last_log = t0;
    for (done, m) in sel.into_iter().enumerate() {
        match ctx.rd.case_cached::<T>(stage, &m.id, key) {
            Some(CaseOutcome::Ok(v)) => {
                cached += 1;
                out.push((m.pos, v));
                continue;
            }
            Some(CaseOutcome::Failed(reason)) if !ctx.retry_failed => {
                log::info!("case {}: {stage} failed in an earlier run: {reason}", m.id);
                failed += 1;
                ctx.record(&m.id, stage, reason);
                continue;
            }
            _ => {}
        }
        if ctx.mode == Mode::Merge {
            missing.push(m.id.clone());
            continue;
        }
        match compute(m) {
            Ok(v) => match ctx.rd.case_store(stage, &m.id, key, CaseOutcome::Ok(&v)) {
                Ok(()) => {
                    computed += 1;
                    out.push((m.pos, v));
                }
                Err(e) => {
                    failed += 1;
                    ctx.fail(&m.id, stage, format!("result not saved: {e:#}"));
                }
            },
            Err(e) => {
                failed += 1;
                let reason = format!("{e:#}");
                if let Err(w) =
                    ctx.rd
                        .case_store::<&T>(stage, &m.id, key, CaseOutcome::Failed(reason.clone()))
                {
                    log::warn!("case {}: cannot record the failure: {w:#}", m.id);
                }
                ctx.fail(&m.id, stage, reason);
            }
        }
        if last_log.elapsed().as_secs_f64() > 10.0 {
            last_log = std::time::Instant::now();
            log::info!(
                "stage {stage}: {}/{total} cases ({:.0} s)",
                done + 1,
                t0.elapsed().as_secs_f64()
            );
        }
    }
    if !missing.is_empty() {
        bail!(
            "stage {stage}: {} case(s) have no stored result ({}{}); did every shard finish?",
            missing.len(),
            missing[..missing.len().min(5)].join(", "),
            if missing.len() > 5 { ", ..." } else { "" }
        );
    }
    log::info!(
        "stage {stage}: {total} cases: {cached} cached, {computed} computed, {failed} failed ({:.1} s)",
        t0.elapsed().as_secs_f64()
    );
    Ok(out)
}

/// Loads the cohort named by the config: built-in synthetic (generated from the seed) or a
/// manifest of real cases (relative to the config's folder).
pub fn load_cohort(cfg: &ExperimentConfig, config_dir: &Path) -> Result<Cohort> {
    let mut cohort = load_cohort_as_is(cfg, config_dir)?;
    if let Some(t) = &cfg.cohort.target_labels {
        cohort.target_labels = t.clone();
    }
    Ok(cohort)
}

fn load_cohort_as_is(cfg: &ExperimentConfig, config_dir: &Path) -> Result<Cohort> {
    match cfg.cohort.source.as_str() {
        "synthetic" => {
            let profile = Profile::parse(&cfg.cohort.profile)?;
            let generator = cfg.cohort.generator.as_deref().unwrap_or_default();
            Ok(tomofuse_cohort::builtin(
                generator,
                profile,
                cfg.experiment.seed,
            )?)
        }
        "manifest" => {
            let rel = cfg.cohort.manifest.as_deref().unwrap_or_default();
            let path = config_dir.join(rel);
            let report = tomofuse_cohort::validate_cohort(&path, &NiftiIo);
            if report.n_ok == 0 {
                bail!("no usable case in {}:\n{report}", path.display());
            }
            if !report.is_ok() {
                log::warn!("cohort problems (failing cases are skipped):\n{report}");
            }
            for p in report
                .problems
                .iter()
                .filter(|p| p.severity == tomofuse_cohort::Severity::Note)
            {
                log::info!(
                    "case {}: {}",
                    p.case_id.as_deref().unwrap_or("?"),
                    p.message
                );
            }
            Ok(tomofuse_cohort::read_manifest(&path)?)
        }
        other => bail!("unknown cohort.source `{other}`"),
    }
}

/// Assigns splits as the config says; manifest splits are kept when present.
pub fn assign_splits(cfg: &ExperimentConfig, cohort: &mut Cohort) -> Result<()> {
    let s = &cfg.split;
    let ext_date = s
        .external_after
        .as_deref()
        .map(tomofuse_cohort::Date::parse)
        .transpose()
        .context("split.external_after")?;
    let centres: Vec<&str> = s.test_centres.iter().map(String::as_str).collect();
    cohort.assign_splits(
        s.validation_fraction,
        if s.kind == "random-temporal" {
            ext_date
        } else {
            None
        },
        if s.kind == "by-centre" { &centres } else { &[] },
        cfg.experiment.seed ^ 0x5EED_5B17,
        false,
    )?;
    Ok(())
}

/// A hash of what identifies the cohort, so cached stages are invalidated when it changes.
pub fn cohort_key(cohort: &Cohort, cfg: &ExperimentConfig) -> String {
    let mut s = format!(
        "{}|{}|{}|{:?}|",
        cohort.name, cfg.cohort.source, cfg.cohort.profile, cohort.target_labels
    );
    for c in &cohort.cases {
        s.push_str(&format!(
            "{}:{:?}:{:?}:{:?};",
            c.id,
            c.label,
            c.split,
            c.date.map(|d| d.days())
        ));
    }
    sha256_hex(s.as_bytes())
}

/// A loaded case: its original image and mask, and both on the plan's grid for the networks.
pub struct Prepared {
    pub id: String,
    pub split: Split,
    pub label: Option<bool>,
    pub centre: Option<String>,
    /// The image in HU, original grid.
    pub hu: Volume<f32>,
    /// The case's original and planned grids (maps outputs back).
    pub grid: PlannedGrid,
    /// Network input: the image on the planned grid, normalised as planned.
    pub input: Volume<f32>,
    /// Binary segmentation target on the planned grid (None when the case has no mask).
    pub target: Option<Mask>,
    /// The same target on the original grid (segmentation metrics are computed here).
    pub target_original: Option<Mask>,
}

impl Prepared {
    /// The HU image on the planned grid (the original one when the plan is the identity).
    pub fn hu_planned(&self) -> Result<Volume<f32>> {
        Ok(self.grid.image(&self.hu)?)
    }
}

/// Reads one case (rendering a synthetic one): the image must be finite and the mask on the
/// image grid (up to a signed axis permutation, which the cohort crate undoes).
fn load_raw(cohort: &Cohort, pos: usize) -> Result<(Volume<f32>, Option<Mask>)> {
    let c = cohort
        .cases
        .get(pos)
        .with_context(|| format!("no case at position {pos}"))?;
    let loaded = c.load(Some(&NiftiIo))?;
    let n = loaded.image.data.iter().filter(|v| !v.is_finite()).count();
    if n > 0 {
        bail!("{n} non-finite voxels in the image");
    }
    let target = loaded.mask.as_ref().map(|m| cohort.target(m));
    if let Some(t) = &target {
        loaded
            .image
            .same_grid_default(t)
            .context("mask is not on the image grid")?;
    }
    Ok((loaded.image, target))
}

/// Loads one case and carries it onto the plan's grid.
pub fn load_one(ctx: &Ctx, cohort: &Cohort, pos: usize) -> Result<Prepared> {
    let (hu, target_original) = load_raw(cohort, pos)?;
    let c = &cohort.cases[pos];
    let grid = ctx.plan()?.grid(&hu.geometry, hu.shape())?;
    let input = grid.input(&hu).context("planned network input")?;
    let target = target_original
        .as_ref()
        .map(|t| grid.mask(t))
        .transpose()
        .context("mask onto the planned grid")?;
    Ok(Prepared {
        id: c.id.clone(),
        split: c.split.unwrap_or(Split::Train),
        label: c.label,
        centre: c.centre.clone(),
        hu,
        grid,
        input,
        target,
        target_original,
    })
}

/// Plans the cohort from its training cases (train and validation splits): their spacings,
/// shapes, orientations and foreground intensities give the target grid and normalisation
/// (`tomofuse_preprocess::plan`). Cohort-level and cached like a model; written as
/// `plan.json` in the run directory. A training case that cannot be read is left out here
/// (its per-case stages report it).
pub fn plan_stage(ctx: &Ctx, cohort: &Cohort) -> Result<Plan> {
    let settings = ctx.cfg.plan_settings()?;
    let key = ctx.key(&(&ctx.cfg.plan, ctx.cfg.segmentation.hu_window), &[]);
    let (plan, _) = ctx.model_stage("plan", "plan (plan.json)", &key, || {
        let train: Vec<usize> = metas(cohort)
            .into_iter()
            .filter(|m| matches!(m.split, Split::Train | Split::Validation))
            .map(|m| m.pos)
            .collect();
        let fps: Vec<CaseFingerprint> = train
            .par_iter()
            .filter_map(|&pos| {
                let r = load_raw(cohort, pos).and_then(|(img, mask)| {
                    Ok(CaseFingerprint::of(&img, mask.as_ref(), &settings)?)
                });
                match r {
                    Ok(f) => Some(f),
                    Err(e) => {
                        log::warn!("case {}: left out of the plan: {e:#}", cohort.cases[pos].id);
                        None
                    }
                }
            })
            .collect();
        let plan = Plan::from_fingerprints(&settings, &fps)?;
        log::info!(
            "plan from {} training cases: spacing {:?} mm ({}), orientation {}, normalisation {:?}",
            plan.n_cases,
            plan.target_spacing,
            if plan.target_spacing == plan.grids.spacing_median {
                "median"
            } else {
                "configured"
            },
            plan.orientation,
            plan.normalisation.kind
        );
        Ok(plan)
    })?;
    if !matches!(ctx.mode, Mode::Shard(_)) {
        super::rundir::write_json(&ctx.rd.path("plan.json"), &plan)?;
    }
    let g = &ctx.cfg.segmentation;
    if g.source == SegmentationSource::Train {
        // The median case's extent in planned voxels: a patch larger than it along an axis is
        // mostly padding there, which the class head in particular learns poorly from.
        let planned: Vec<f64> = (0..3)
            .map(|a| {
                plan.grids.shape_median[a] as f64 * plan.grids.spacing_median[a]
                    / plan.target_spacing[a]
            })
            .collect();
        if (0..3).any(|a| planned[a] < g.patch[a] as f64) {
            log::warn!(
                "plan: the median case spans {planned:.0?} planned voxels, less than segmentation.patch {:?} along some axis, so patches are partly padding; a finer [plan] target_spacing (the planned spacing is {:?} mm) or a smaller patch keeps them inside the anatomy",
                g.patch,
                plan.target_spacing
            );
        }
    }
    Ok(plan)
}

/// Loads the cases `want` selects, in parallel. A case that cannot be loaded is logged and left
/// out here; the per-case stages record it as a failure with its reason.
pub fn prepare(
    ctx: &Ctx,
    cohort: &Cohort,
    want: impl Fn(&CaseMeta) -> bool + Sync,
) -> Vec<Prepared> {
    let ms = metas(cohort);
    let out: Vec<Option<Prepared>> = ms
        .par_iter()
        .filter(|m| want(m))
        .map(|m| match load_one(ctx, cohort, m.pos) {
            Ok(p) => Some(p),
            Err(e) => {
                log::warn!("case {}: not loaded: {e:#}", m.id);
                None
            }
        })
        .collect();
    out.into_iter().flatten().collect()
}

/// The U-Net training settings derived from the experiment config.
pub fn train_config(cfg: &ExperimentConfig, rd: &RunDir) -> SegTrainSpec {
    let s = &cfg.segmentation;
    let total = s.epochs * s.steps_per_epoch;
    SegTrainSpec {
        model: UnetSpec {
            in_channels: 1,
            out_channels: 2,
            channels: s.channels.clone(),
            strides: vec![2; s.channels.len() - 1],
            num_res_units: s.res_units,
            norm: NormKind::Instance,
            class_head: s.class_head.then_some(ClassHeadSpec {
                hidden: s.class_hidden,
                num_classes: 1,
            }),
        },
        patch: s.patch,
        batch_size: s.batch_size,
        epochs: s.epochs,
        steps_per_epoch: s.steps_per_epoch,
        lr: s.learning_rate,
        min_lr: s.learning_rate * 0.01,
        warmup_steps: (total / 10).clamp(1, 50),
        class_loss_weight: if s.class_head {
            s.class_loss_weight
        } else {
            0.0
        },
        window_roi: s.patch,
        window_overlap: 0.25,
        checkpoint_dir: Some(rd.path("models/unet")),
        resume: false,
        class_balanced_batches: s.class_balanced_batches,
        selection_window: s.selection_window,
        validation_interval: s.validation_interval,
    }
}

/// The stage key an epoch checkpoint folder was written for.
const CHECKPOINT_KEY: &str = "stage-key.txt";

/// Whether the training checkpoint folder `dir` belongs to the stage keyed `key` (an
/// interrupted training of it may continue there). Otherwise the folder's checkpoints, written
/// for another key, are removed (a kill before the new training's first epoch must not leave
/// them to be resumed under the new key), the folder is marked for `key`, and training starts
/// afresh.
pub(crate) fn resume_training(dir: &Path, key: &str) -> Result<bool> {
    let key_file = dir.join(CHECKPOINT_KEY);
    if std::fs::read_to_string(&key_file).is_ok_and(|k| k == key) {
        return Ok(true);
    }
    if dir.exists() {
        std::fs::remove_dir_all(dir)
            .with_context(|| format!("cannot clear the old checkpoints in {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    super::rundir::atomic_write(&key_file, key.as_bytes())?;
    Ok(false)
}

/// What the segmentation stage leaves behind.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SegStage {
    pub checkpoint: String,
    pub history: History,
    pub n_train: usize,
    pub n_val: usize,
    pub seconds: f64,
}

/// Trains the U-Net on the training split (validation split picks the best epoch), or loads the
/// checkpoint of an identical earlier run. Shards and the merge step never train: the model
/// must come from an earlier `--until models` (or full) run into the same directory.
pub fn segmentation_stage(
    ctx: &Ctx,
    cohort: &Cohort,
) -> Result<(Box<dyn SegmentationModel>, SegStage, String)> {
    let mut tc = train_config(ctx.cfg, ctx.rd);
    // The key leaves out where checkpoints go, so a moved or copied run directory keeps its
    // trained model.
    let key = ctx.key_json(
        ctx.nets.segmentation_key(&SegTrainSpec {
            checkpoint_dir: None,
            resume: false,
            ..tc.clone()
        })?,
        &[],
    );
    let (stage, cached) =
        ctx.model_stage("segmentation", "trained segmentation model", &key, || {
            let cases = prepare(ctx, cohort, |m| {
                matches!(m.split, Split::Train | Split::Validation)
            });
            let to_case = |p: &Prepared| -> Option<SegCase> {
                p.target.as_ref().map(|t| SegCase {
                    image: p.input.clone(),
                    mask: t.clone(),
                    label: p.label,
                })
            };
            let train: Vec<_> = cases
                .iter()
                .filter(|c| c.split == Split::Train)
                .filter_map(to_case)
                .collect();
            let val: Vec<_> = cases
                .iter()
                .filter(|c| c.split == Split::Validation)
                .filter_map(to_case)
                .collect();
            drop(cases);
            if train.is_empty() {
                bail!("no training case with a mask");
            }
            log::info!(
                "training the U-Net on {} cases ({} validation), {} epochs x {} steps",
                train.len(),
                val.len(),
                tc.epochs,
                tc.steps_per_epoch
            );
            // An interrupted training of this same stage (same key) continues from its last
            // epoch's checkpoint; anything else starts afresh.
            tc.resume = resume_training(&ctx.rd.path("models/unet"), &key)?;
            let t0 = std::time::Instant::now();
            let (n_train, n_val) = (train.len(), val.len());
            let (model, history) =
                ctx.nets
                    .train_segmentation(&tc, train, val, ctx.cfg.experiment.seed)?;
            let ckpt = ctx.rd.path("models/unet.safetensors");
            model.save(&ckpt)?;
            Ok(SegStage {
                checkpoint: "models/unet.safetensors".into(),
                history,
                n_train,
                n_val,
                seconds: t0.elapsed().as_secs_f64(),
            })
        })?;
    let model = ctx
        .nets
        .load_segmentation(&ctx.rd.path(&stage.checkpoint))
        .with_context(|| format!("cannot load checkpoint {}", stage.checkpoint))?;
    if cached {
        log::info!("U-Net loaded from {}", stage.checkpoint);
    }
    Ok((model, stage, key))
}

/// The segmentation a study runs on: a U-Net (trained here or loaded from a checkpoint), or
/// the cases' own masks (`segmentation.source`).
pub struct Segmentation {
    pub model: Option<Box<dyn SegmentationModel>>,
    /// The training record, when the U-Net was trained in this run.
    pub stage: Option<SegStage>,
    /// Stage key the per-case stages downstream depend on.
    pub key: String,
}

/// Builds what `segmentation.source` asks for: `train` trains (or reuses) the U-Net,
/// `checkpoint` loads one trained earlier, `reference` uses no network.
pub fn segmentation_source(ctx: &Ctx, cohort: &Cohort) -> Result<Segmentation> {
    let g = &ctx.cfg.segmentation;
    match g.source {
        SegmentationSource::Train => {
            let (model, stage, key) = segmentation_stage(ctx, cohort)?;
            Ok(Segmentation {
                model: Some(model),
                stage: Some(stage),
                key,
            })
        }
        SegmentationSource::Reference => Ok(Segmentation {
            model: None,
            stage: None,
            key: ctx.key(&"reference-masks", &[]),
        }),
        SegmentationSource::Checkpoint => {
            let rel = g.checkpoint.as_deref().unwrap_or_default();
            let mut path = ctx.config_dir.join(rel);
            if path.is_dir() {
                path = path.join("models/unet.safetensors");
            }
            let hash = super::rundir::hash_path(&path).with_context(|| {
                format!(
                    "segmentation.checkpoint = {rel:?}: no U-Net checkpoint at {}",
                    path.display()
                )
            })?;
            let model = ctx.nets.load_segmentation(&path).with_context(|| {
                format!(
                    "segmentation.checkpoint = {rel:?}: {} is not a tomofuse U-Net checkpoint",
                    path.display()
                )
            })?;
            log::info!("U-Net loaded from checkpoint {}", path.display());
            Ok(Segmentation {
                model: Some(model),
                stage: None,
                key: ctx.key(&("checkpoint", hash), &[]),
            })
        }
    }
}

/// Every case's segmentation: predicted by the U-Net, or (`reference`) the case's own mask
/// written as its mask file, so the stages downstream read masks the same way either way.
pub fn segment_stage(
    ctx: &Ctx,
    cohort: &Cohort,
    metas: &[CaseMeta],
    seg: &Segmentation,
) -> Result<Vec<CasePrediction>> {
    if let Some(model) = &seg.model {
        return predict_stage(ctx, cohort, metas, model.as_ref(), &seg.key);
    }
    let key = ctx.key(&"reference-mask", &[&seg.key]);
    std::fs::create_dir_all(ctx.rd.path("masks"))?;
    let preds = per_case(ctx, metas, "predict", &key, |m| {
        let c = load_one(ctx, cohort, m.pos)?;
        let mask = c
            .target_original
            .as_ref()
            .context("segmentation.source = \"reference\" but the case has no mask")?;
        if mask.count_nonzero() == 0 {
            bail!("segmentation.source = \"reference\": the case's mask is empty");
        }
        let mask_file = format!("masks/{}.nii.gz", super::rundir::case_file_name(&c.id));
        super::rundir::atomic_write_with(&ctx.rd.path(&mask_file), |tmp| {
            Ok(tomofuse_io::write_nifti(tmp, mask)?)
        })?;
        let sp = mask.geometry.spacing;
        Ok(CasePrediction {
            id: c.id.clone(),
            split: c.split.as_str().into(),
            label: c.label,
            centre: c.centre.clone(),
            class_probability: None,
            dice: None,
            hd95_mm: None,
            assd_mm: None,
            predicted_volume_ml: mask.count_nonzero() as f64 * sp[0] * sp[1] * sp[2] / 1000.0,
            mask_file,
        })
    })?;
    Ok(preds.into_iter().map(|(_, p)| p).collect())
}

/// One case's segmentation (and class) prediction.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CasePrediction {
    pub id: String,
    pub split: String,
    pub label: Option<bool>,
    pub centre: Option<String>,
    pub class_probability: Option<f64>,
    pub dice: Option<f64>,
    pub hd95_mm: Option<f64>,
    pub assd_mm: Option<f64>,
    pub predicted_volume_ml: f64,
    pub mask_file: String,
}

/// Predicts every case this process handles with the trained model, writes the predicted masks
/// (NIfTI, the input's geometry) and computes segmentation metrics against the target where
/// there is one. Results are in cohort order.
pub fn predict_stage(
    ctx: &Ctx,
    cohort: &Cohort,
    metas: &[CaseMeta],
    model: &dyn SegmentationModel,
    upstream: &str,
) -> Result<Vec<CasePrediction>> {
    let key = ctx.key(&"predict", &[upstream]);
    std::fs::create_dir_all(ctx.rd.path("masks"))?;
    let preds = per_case(ctx, metas, "predict", &key, |m| {
        let c = load_one(ctx, cohort, m.pos)?;
        predict_one(ctx, model, &c)
    })?;
    Ok(preds.into_iter().map(|(_, p)| p).collect())
}

/// The predicted mask of a case, read back from the run directory.
pub fn predicted_mask(ctx: &Ctx, p: &CasePrediction) -> Result<Mask> {
    Ok(tomofuse_io::read_mask(&ctx.rd.path(&p.mask_file))?)
}

/// Predicts on the planned grid and writes the mask on the case's original grid (the
/// foreground probability resampled back, then `> 0.5`), where the metrics are computed.
fn predict_one(ctx: &Ctx, model: &dyn SegmentationModel, c: &Prepared) -> Result<CasePrediction> {
    let pred = model.predict(&c.input)?;
    let mask = if c.grid.identity {
        pred.mask
    } else {
        c.grid
            .mask_to_original(&pred.probability)
            .context("predicted mask back onto the original grid")?
    };
    let mask_file = format!("masks/{}.nii.gz", super::rundir::case_file_name(&c.id));
    let path = ctx.rd.path(&mask_file);
    super::rundir::atomic_write_with(&path, |tmp| Ok(tomofuse_io::write_nifti(tmp, &mask)?))?;
    let sp = mask.geometry.spacing;
    let voxel_ml = sp[0] * sp[1] * sp[2] / 1000.0;
    let (mut dice, mut hd95, mut assd) = (None, None, None);
    if let Some(t) = &c.target_original {
        dice = Some(tomofuse_metrics::dice(mask.data.view(), t.data.view())?);
        // Surface distances are undefined when either mask is empty: reported as missing.
        if mask.count_nonzero() > 0 && t.count_nonzero() > 0 {
            let m = tomofuse_metrics::segmentation_metrics_masks(&mask, t)?;
            hd95 = Some(m.hd95).filter(|v| v.is_finite());
            assd = Some(m.assd).filter(|v| v.is_finite());
        }
    }
    Ok(CasePrediction {
        id: c.id.clone(),
        split: c.split.as_str().into(),
        label: c.label,
        centre: c.centre.clone(),
        class_probability: pred.class_probability.map(f64::from),
        dice,
        hd95_mm: hd95,
        assd_mm: assd,
        predicted_volume_ml: mask.count_nonzero() as f64 * voxel_ml,
        mask_file,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A checkpoint folder written for another stage key is cleared before it is marked for
    /// the new key, so a run killed before its first epoch cannot resume the old training.
    #[test]
    fn checkpoints_of_another_key_are_never_resumed() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("unet");
        assert!(
            !resume_training(&dir, "key-a").unwrap(),
            "a new folder starts afresh"
        );
        std::fs::write(dir.join("trainer-state.json"), "{}").unwrap();
        assert!(
            resume_training(&dir, "key-a").unwrap(),
            "same key: continue"
        );
        assert!(dir.join("trainer-state.json").exists());
        assert!(
            !resume_training(&dir, "key-b").unwrap(),
            "another key starts afresh"
        );
        assert!(
            !dir.join("trainer-state.json").exists(),
            "old state left behind"
        );
        assert!(resume_training(&dir, "key-b").unwrap());
    }

    #[test]
    fn shards_partition_the_cohort() {
        for n in [1usize, 3, 7] {
            let mut seen = [0u8; 100];
            for i in 0..n {
                let s = Shard::new(i, n).unwrap();
                for (pos, c) in seen.iter_mut().enumerate() {
                    if s.contains(pos) {
                        *c += 1;
                    }
                }
            }
            assert!(seen.iter().all(|&c| c == 1), "N = {n}");
        }
    }

    #[test]
    fn shard_from_scheduler_environment() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(a, _)| *a == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(ShardRequest::from_env(env(&[])).unwrap(), None);
        // Slurm `--array=0,2`: task 2 is shard 2 whatever the array's count and minimum.
        let s = ShardRequest::from_env(env(&[
            ("SLURM_ARRAY_TASK_ID", "2"),
            ("SLURM_ARRAY_TASK_MIN", "0"),
            ("SLURM_ARRAY_TASK_COUNT", "2"),
        ]))
        .unwrap()
        .unwrap();
        let run_json = std::path::Path::new("run.json");
        assert_eq!(
            s.resolve(Some(3), run_json).unwrap(),
            Shard { index: 2, count: 3 }
        );
        // A rerun of one task (`--array=7`) is shard 7, not 0 of 1.
        let s = ShardRequest::from_env(env(&[
            ("SLURM_ARRAY_TASK_ID", "7"),
            ("SLURM_ARRAY_TASK_MIN", "7"),
            ("SLURM_ARRAY_TASK_COUNT", "1"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(
            s.resolve(Some(32), run_json).unwrap(),
            Shard {
                index: 7,
                count: 32
            }
        );
        let e = s.resolve(Some(4), run_json).unwrap_err().to_string();
        assert!(
            e.contains("SLURM_ARRAY_TASK_ID=7") && e.contains("outside 0..3"),
            "{e}"
        );
        let e = s.resolve(None, run_json).unwrap_err().to_string();
        assert!(e.contains("--shards N"), "{e}");
        let k = ShardRequest::from_env(env(&[
            ("JOB_COMPLETION_INDEX", "0"),
            ("TOMOFUSE_SHARD_COUNT", "5"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(
            k.resolve(Some(5), run_json).unwrap(),
            Shard { index: 0, count: 5 }
        );
        let e = k.resolve(Some(4), run_json).unwrap_err().to_string();
        assert!(
            e.contains("disagrees") && e.contains("JOB_COMPLETION_INDEX"),
            "{e}"
        );
        assert!(ShardRequest::from_env(env(&[("SLURM_ARRAY_TASK_ID", "x")])).is_err());
    }

    #[test]
    fn shard_request_parse() {
        let r = ShardRequest::parse("2").unwrap();
        assert_eq!((r.index, r.count), (2, None));
        let r = ShardRequest::parse("2/4").unwrap();
        assert_eq!((r.index, r.count), (2, Some(4)));
        let e = r
            .resolve(Some(3), std::path::Path::new("run.json"))
            .unwrap_err();
        assert!(e.to_string().contains("disagrees"), "{e}");
        for bad in ["4/4", "x", "1/0", "-1", "1/two"] {
            assert!(ShardRequest::parse(bad).is_err(), "{bad} accepted");
        }
    }
}
