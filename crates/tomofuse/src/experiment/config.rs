//! Experiment configuration: TOML with unknown keys rejected, validated before any work.
//! Described by data-schemas/experiment-config.schema.json.

use anyhow::{Context, Result, bail, ensure};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentConfig {
    pub experiment: ExperimentSection,
    pub cohort: CohortSection,
    pub split: SplitSection,
    /// Required (a study says where its segmentation comes from), though every key in it
    /// has a default.
    pub segmentation: SegmentationSection,
    /// How cases are planned for the networks (target spacing, orientation, normalisation).
    #[serde(default)]
    pub plan: PlanSection,
    #[serde(default)]
    pub radiomics: Option<RadiomicsSection>,
    #[serde(default)]
    pub deep_features: Option<DeepFeaturesSection>,
    #[serde(default)]
    pub fusion: Option<FusionSection>,
    /// Scores the models are compared with (default: the study's built-in ones).
    #[serde(default)]
    pub comparisons: ComparisonsSection,
    pub stats: StatsSection,
    /// Named overrides selected with `--profile`: cohort size profile plus a few knobs.
    #[serde(default)]
    pub profiles: BTreeMap<String, ProfileOverride>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentSection {
    pub name: String,
    pub seed: u64,
    #[serde(default)]
    pub description: String,
    /// What the segmentation delineates, as the report names it (`pancreas`, `sinus region`).
    #[serde(default = "default_target")]
    pub target: String,
    /// What the outcome label means, as the report names it (`SAP`, `eosinophilic CRSwNP`).
    #[serde(default = "default_outcome")]
    pub outcome: String,
}

fn default_target() -> String {
    "target".into()
}

fn default_outcome() -> String {
    "outcome".into()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CohortSection {
    /// `synthetic` (built in, no files) or `manifest` (a CSV describing real cases).
    pub source: String,
    /// Path of the manifest CSV when `source = "manifest"` (relative to the config file).
    #[serde(default)]
    pub manifest: Option<String>,
    /// Synthetic size profile: `tiny`, `default` or `paper`.
    #[serde(default = "default_profile")]
    pub profile: String,
    /// The built-in generator of a synthetic cohort: `abdomen` (pancreas, SAP outcome and
    /// clinical indicators) or `sinus` (sinus region, eosinophilic CRSwNP). Used when
    /// `source = "synthetic"` (also by `tomofuse cohort export --config`).
    #[serde(default)]
    pub generator: Option<String>,
    /// Mask labels that make up the target region (segmentation, radiomics ROI, crops, Dice).
    /// Default: the built-in generator's own, or every non-zero label of a manifest's masks.
    /// A study's masks often carry more than its target (SAP's: 1 pancreas, 2 necrosis, 3
    /// peripancreatic fluid; the target is 1 and 2).
    #[serde(default)]
    pub target_labels: Option<Vec<u8>>,
}

fn default_profile() -> String {
    "default".into()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitSection {
    /// `random-temporal` (stratified random train/validation + cases after a date as external
    /// test), `by-centre` (train/validation on some centres, test on the others), `k-fold`
    /// (the models are evaluated by stratified `folds`-fold cross-validation over every case)
    /// or `leave-one-group-out` (each value of `group_column` held out in turn).
    pub kind: String,
    pub validation_fraction: f64,
    #[serde(default)]
    pub external_after: Option<String>,
    #[serde(default)]
    pub test_centres: Vec<String>,
    /// With `kind = "k-fold"`: the number of folds (default 5).
    #[serde(default)]
    pub folds: Option<usize>,
    /// With `kind = "leave-one-group-out"`: the grouping column (default `centre`; any
    /// manifest column).
    #[serde(default)]
    pub group_column: Option<String>,
}

/// How the models are evaluated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Evaluation {
    /// Fitted on the training and validation cases, tested on the external ones.
    HeldOut,
    /// Stratified k-fold cross-validation over every labelled case.
    KFold(usize),
    /// Each value of the named column held out in turn.
    LeaveOneGroupOut(String),
}

impl SplitSection {
    /// The model evaluation this split asks for (after [`ExperimentConfig::validate`]).
    pub fn evaluation(&self) -> Evaluation {
        match self.kind.as_str() {
            "k-fold" => Evaluation::KFold(self.folds.unwrap_or(5)),
            "leave-one-group-out" => Evaluation::LeaveOneGroupOut(
                self.group_column.clone().unwrap_or_else(|| "centre".into()),
            ),
            _ => Evaluation::HeldOut,
        }
    }
}

/// Where a study's segmentation comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SegmentationSource {
    /// Train the (multitask) U-Net on the training split and predict every case.
    #[default]
    Train,
    /// Use each case's own mask (the manifest's `mask` column, or the synthetic ground truth)
    /// as it is: no network is trained or run.
    Reference,
    /// Predict with a U-Net trained earlier: `segmentation.checkpoint` names its safetensors
    /// file, or a run directory holding `models/unet.safetensors`.
    Checkpoint,
}

/// Every key has a default (the SAP design's network), so a study that uses no network
/// (`source = "reference"`) needs only `source`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SegmentationSection {
    /// `train` (default), `reference` or `checkpoint`.
    #[serde(default)]
    pub source: SegmentationSource,
    /// With `source = "checkpoint"`: a `.safetensors` U-Net saved by tomofuse, or a run
    /// directory (its `models/unet.safetensors`); relative to the config file.
    #[serde(default)]
    pub checkpoint: Option<String>,
    pub channels: Vec<usize>,
    pub res_units: usize,
    pub epochs: usize,
    pub steps_per_epoch: usize,
    pub patch: [usize; 3],
    pub batch_size: usize,
    pub learning_rate: f64,
    /// HU window mapped linearly to [-1, 1] for the network input (clipped outside).
    pub hu_window: [f64; 2],
    /// Multitask: train the classification head on the bottleneck (MTLNet).
    pub class_head: bool,
    /// Weight of the classification loss in the joint loss.
    #[serde(default = "half")]
    pub class_loss_weight: f64,
    /// Hidden width of the class head's MLP (0 = one linear layer).
    #[serde(default = "thirty_two")]
    pub class_hidden: usize,
    /// Batches drawn with equal numbers of each class (the class head sees both classes in
    /// every step even when one is rare).
    #[serde(default = "yes")]
    pub class_balanced_batches: bool,
    /// Best epoch chosen by the validation score averaged over this many trailing epochs
    /// (a small validation set makes single-epoch scores noisy).
    #[serde(default = "three")]
    pub selection_window: usize,
    /// Validate every this many epochs (and after the last): full-volume sliding-window
    /// validation dominates an epoch on large images.
    #[serde(default = "one")]
    pub validation_interval: usize,
}

impl Default for SegmentationSection {
    fn default() -> Self {
        Self {
            source: SegmentationSource::Train,
            checkpoint: None,
            channels: vec![8, 16, 32, 64],
            res_units: 1,
            epochs: 20,
            steps_per_epoch: 25,
            patch: [32, 32, 32],
            batch_size: 2,
            learning_rate: 0.002,
            hu_window: [-160.0, 240.0],
            class_head: false,
            class_loss_weight: half(),
            class_hidden: thirty_two(),
            class_balanced_batches: yes(),
            selection_window: three(),
            validation_interval: one(),
        }
    }
}

fn one() -> usize {
    1
}

fn half() -> f64 {
    0.5
}

fn thirty_two() -> usize {
    32
}

fn yes() -> bool {
    true
}

/// A target spacing: `"median"` of the training cases, or `[x, y, z]` mm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SpacingChoice {
    Named(String),
    Fixed([f64; 3]),
}

/// The fingerprint -> plan step for the networks (`plan.json` in the run directory). Every
/// key has a default; a cohort already on one grid in the canonical orientation (the built-in
/// ones) plans to itself, so nothing is interpolated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PlanSection {
    /// `"median"` per axis (default), `"isotropic"` (the median of each training case's finest
    /// spacing, on every axis) or `[x, y, z]` in mm along the canonical axes.
    pub target_spacing: SpacingChoice,
    /// Axis codes (LPS space) of every planned grid: `LPS` (default, ITK's identity) or e.g. `RAS`.
    pub orientation: String,
    /// `window` (default: `segmentation.hu_window` to [-1, 1]) or `foreground-zscore` (clip
    /// to the training foreground's `foreground_percentiles`, z-score with its mean and SD).
    pub normalisation: String,
    pub foreground_percentiles: [f64; 2],
    /// Interpolator for images onto the planned grid: `linear` (default) or `bspline`.
    pub image_interp: String,
}

impl Default for PlanSection {
    fn default() -> Self {
        Self {
            target_spacing: SpacingChoice::Named("median".into()),
            orientation: "LPS".into(),
            normalisation: "window".into(),
            foreground_percentiles: [0.5, 99.5],
            image_interp: "linear".into(),
        }
    }
}

impl ExperimentConfig {
    /// The checked planning settings (`[plan]` plus `segmentation.hu_window`); each error
    /// names its `plan.*` key.
    pub fn plan_settings(&self) -> Result<tomofuse_preprocess::plan::PlanSettings> {
        use tomofuse_preprocess::plan::{NormalisationKind, PlanParams, TargetSpacing};
        let p = &self.plan;
        let target_spacing = match &p.target_spacing {
            SpacingChoice::Named(n) if n == "median" => TargetSpacing::Median,
            SpacingChoice::Named(n) if n == "isotropic" => TargetSpacing::Isotropic,
            SpacingChoice::Named(n) => {
                bail!(
                    "plan.target_spacing = {n:?}: use \"median\", \"isotropic\" or [x, y, z] in mm"
                )
            }
            SpacingChoice::Fixed(s) => TargetSpacing::Fixed(*s),
        };
        let [lo, hi] = self.segmentation.hu_window;
        let normalisation = match p.normalisation.as_str() {
            "window" => NormalisationKind::Window { lo, hi },
            "foreground-zscore" => NormalisationKind::ForegroundZscore {
                lower_percentile: p.foreground_percentiles[0],
                upper_percentile: p.foreground_percentiles[1],
            },
            other => {
                bail!("plan.normalisation = {other:?}: use \"window\" or \"foreground-zscore\"")
            }
        };
        let image_interp = p
            .image_interp
            .parse()
            .with_context(|| format!("plan.image_interp = {:?}", p.image_interp))?;
        let params = PlanParams {
            target_spacing,
            orientation: p.orientation.clone(),
            normalisation,
            image_interp,
            ..PlanParams::default()
        };
        params.check().map_err(|e| match e {
            tomofuse_preprocess::PreprocessError::InvalidArgument { name, reason } => {
                anyhow::anyhow!("plan.{name} = {reason}")
            }
            other => anyhow::Error::new(other).context("[plan]"),
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RadiomicsSection {
    /// A shipped preset (`ibsi-a` .. `ibsi-e`) or a path to a settings TOML.
    pub preset: String,
    /// Axis codes in LPS space (`"LPS"`: ITK's identity) every case's image and mask are
    /// turned to before extraction (exact: axes permuted and flipped). A cohort stored in
    /// mixed orientations then has its directional features (wavelet sub-bands) along the
    /// same anatomical axes in every case. Overrides the preset's setting; unset: the preset's
    /// (every shipped preset keeps the stored grid, as PyRadiomics does).
    #[serde(default)]
    pub orientation: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeepFeaturesSection {
    /// ResNet50-3D width factor (1.0 = 2048 features, 0.25 = 512).
    pub widen_factor: f64,
    /// Voxels of the crop around the (predicted) organ fed to the network.
    pub crop: [usize; 3],
    /// Physical size (mm) of that crop on the planned grid, resampled to `crop` voxels: the
    /// same organ region at any spacing. Without it the crop is `crop` planned voxels.
    #[serde(default)]
    pub crop_mm: Option<[f64; 3]>,
    /// Epochs of supervised fine-tuning of the ResNet50-3D on the training cases (K-fold
    /// cross-fitted `deep_score`); 0 keeps only the features of the seeded random network.
    #[serde(default)]
    pub finetune_epochs: usize,
    /// Folds of the cross-fitting: each training case's score comes from the model that did
    /// not see it; held-out cases get the mean logit of all fold models.
    #[serde(default = "three")]
    pub folds: usize,
    /// Scanner-noise augmentation while fine-tuning: Gaussian noise whose SD (HU) is drawn per
    /// sample from [0, this], so a test centre with a noisier scanner is not out of
    /// distribution. 0 = none.
    #[serde(default)]
    pub augment_noise_hu: f64,
}

fn three() -> usize {
    3
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FusionSection {
    pub cv_folds: usize,
    /// Upper bound on the features each model selects.
    pub max_features: usize,
    /// `joint` (one selection over all modalities) or `per-modality` (the fused model takes the
    /// union of the single-modality selections).
    #[serde(default)]
    pub fused_selection: tomofuse_fusion::FusedSelection,
    pub n_estimators: usize,
    pub max_depth: usize,
    pub learning_rate: f64,
    /// Clinical model inputs among the cohort's numeric columns: names, or prefixes ending in
    /// `*` (`["*"]`, the default, takes every numeric column).
    #[serde(default = "every_column")]
    pub clinical_columns: Vec<String>,
    /// Columns left out of the clinical inputs (names or `prefix*`): by default the CT reading
    /// (`ct_*`) the MCTSI comparator is computed from, a comparator and not a model input.
    #[serde(default = "ct_reading")]
    pub clinical_exclude: Vec<String>,
}

fn every_column() -> Vec<String> {
    vec!["*".into()]
}

fn ct_reading() -> Vec<String> {
    vec!["ct_*".into()]
}

/// What the models are compared with on the test set.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ComparisonsSection {
    /// Built-in clinical scores computed from the cohort's columns (SAP: `BISAP`,
    /// `Ranson (admission)`, `MCTSI`).
    pub scores: Vec<String>,
    /// Cohort columns used as scores as they are (e.g. an APACHE II recorded in the manifest).
    pub columns: Vec<String>,
}

impl Default for ComparisonsSection {
    fn default() -> Self {
        Self {
            scores: tomofuse_fusion::scores::BUILTIN
                .iter()
                .map(|s| s.to_string())
                .collect(),
            columns: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatsSection {
    pub bootstrap: usize,
    pub ci_level: f64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileOverride {
    #[serde(default)]
    pub epochs: Option<usize>,
    #[serde(default)]
    pub steps_per_epoch: Option<usize>,
    #[serde(default)]
    pub bootstrap: Option<usize>,
    #[serde(default)]
    pub patch: Option<[usize; 3]>,
    #[serde(default)]
    pub channels: Option<Vec<usize>>,
    /// Overrides `deep_features.finetune_epochs`.
    #[serde(default)]
    pub finetune_epochs: Option<usize>,
    /// Overrides `segmentation.validation_interval`.
    #[serde(default)]
    pub validation_interval: Option<usize>,
    /// Overrides `radiomics.preset` (e.g. the unfiltered preset for a smoke-test profile).
    #[serde(default)]
    pub radiomics_preset: Option<String>,
}

impl ExperimentConfig {
    /// Reads, parses (unknown keys are errors) and validates a config file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read experiment config {}", path.display()))?;
        let cfg: Self = toml::from_str(&text)
            .with_context(|| format!("invalid experiment config {}", path.display()))?;
        cfg.validate()
            .with_context(|| format!("invalid experiment config {}", path.display()))?;
        // Every profile must be usable, not only the one a run happens to select.
        cfg.clone()
            .with_profile(&cfg.cohort.profile)
            .with_context(|| {
                format!(
                    "invalid experiment config {}: cohort.profile",
                    path.display()
                )
            })?;
        for name in cfg.profiles.keys() {
            cfg.clone().with_profile(name).with_context(|| {
                format!(
                    "invalid experiment config {}: [profiles.{name}]",
                    path.display()
                )
            })?;
        }
        Ok(cfg)
    }

    /// Applies `--manifest FILE`: the cohort becomes that manifest (an absolute path, so it
    /// does not depend on the config's folder).
    pub fn with_manifest(mut self, manifest: &Path) -> Result<Self> {
        let abs = std::fs::canonicalize(manifest)
            .with_context(|| format!("--manifest {}: cannot open it", manifest.display()))?;
        self.cohort.source = "manifest".into();
        self.cohort.manifest = Some(abs.display().to_string());
        Ok(self)
    }

    /// Applies `--profile NAME`: the cohort size profile and the config's own overrides.
    pub fn with_profile(mut self, name: &str) -> Result<Self> {
        ensure!(
            ["tiny", "default", "paper"].contains(&name) || self.profiles.contains_key(name),
            "unknown profile `{name}`: use tiny, default, paper or one of [profiles.*]"
        );
        self.cohort.profile = name.to_string();
        if let Some(o) = self.profiles.get(name).cloned() {
            if let Some(v) = o.epochs {
                self.segmentation.epochs = v;
            }
            if let Some(v) = o.steps_per_epoch {
                self.segmentation.steps_per_epoch = v;
            }
            if let Some(v) = o.bootstrap {
                self.stats.bootstrap = v;
            }
            if let Some(v) = o.patch {
                self.segmentation.patch = v;
            }
            if let Some(v) = o.channels {
                self.segmentation.channels = v;
            }
            if let Some(v) = o.validation_interval {
                self.segmentation.validation_interval = v;
            }
            if let (Some(v), Some(d)) = (o.finetune_epochs, self.deep_features.as_mut()) {
                d.finetune_epochs = v;
            }
            if let Some(v) = o.radiomics_preset {
                let r = self.radiomics.as_mut().with_context(|| {
                    format!(
                        "[profiles.{name}] radiomics_preset: the config has no [radiomics] section"
                    )
                })?;
                r.preset = v;
            }
        }
        self.validate()?;
        Ok(self)
    }

    /// Checks every hyper-parameter before any work starts (checked-params pattern).
    pub fn validate(&self) -> Result<()> {
        let e = &self.experiment;
        ensure!(!e.name.trim().is_empty(), "experiment.name is empty");
        ensure!(
            matches!(self.cohort.source.as_str(), "synthetic" | "manifest"),
            "cohort.source must be `synthetic` or `manifest`, got `{}`",
            self.cohort.source
        );
        if self.cohort.source == "manifest" && self.cohort.manifest.is_none() {
            bail!("cohort.source = \"manifest\" needs cohort.manifest = \"path.csv\"");
        }
        if let Some(t) = &self.cohort.target_labels {
            ensure!(
                !t.is_empty() && t.iter().all(|&l| l > 0),
                "cohort.target_labels = {t:?}: give one or more labels in 1..=255 (0 is background)"
            );
            let mut u = t.clone();
            u.sort_unstable();
            u.dedup();
            ensure!(
                u.len() == t.len(),
                "cohort.target_labels = {t:?}: a label is listed twice"
            );
        }
        if let Some(o) = self.radiomics.as_ref().and_then(|r| r.orientation.as_ref()) {
            // The same check extraction makes, before any stage runs.
            tomofuse_core::check_axis_codes(o)
                .with_context(|| format!("radiomics.orientation = {o:?}"))?;
        }
        let s = &self.split;
        if let Some(d) = &s.external_after {
            tomofuse_cohort::Date::parse(d)
                .with_context(|| format!("split.external_after = {d:?} is not a valid date"))?;
        }
        ensure!(
            matches!(
                s.kind.as_str(),
                "random-temporal" | "by-centre" | "k-fold" | "leave-one-group-out"
            ),
            "split.kind must be `random-temporal`, `by-centre`, `k-fold` or `leave-one-group-out`, got `{}`",
            s.kind
        );
        if self.cohort.source == "synthetic" {
            match self.cohort.generator.as_deref() {
                Some("abdomen" | "sinus") => {}
                Some(other) => bail!(
                    "cohort.generator = {other:?}: the built-in generators are \"abdomen\" and \"sinus\""
                ),
                None => bail!(
                    "cohort.source = \"synthetic\" needs cohort.generator = \"abdomen\" or \"sinus\""
                ),
            }
        }
        if let Some(k) = s.folds {
            ensure!(
                s.kind == "k-fold",
                "split.folds = {k} is only used with split.kind = \"k-fold\" (kind is {:?})",
                s.kind
            );
            ensure!(
                (2..=20).contains(&k),
                "split.folds = {k}: must be in [2, 20]"
            );
        }
        if let Some(c) = &s.group_column {
            ensure!(
                s.kind == "leave-one-group-out",
                "split.group_column = {c:?} is only used with split.kind = \"leave-one-group-out\" (kind is {:?})",
                s.kind
            );
        }
        let cross_validated = matches!(s.kind.as_str(), "k-fold" | "leave-one-group-out");
        if cross_validated {
            ensure!(
                self.fusion.is_some(),
                "split.kind = {:?} cross-validates the [fusion] models: the config has no [fusion] section",
                s.kind
            );
            ensure!(
                self.segmentation.source != SegmentationSource::Train,
                "split.kind = {:?}: a U-Net trained once would have seen the held-out folds' masks; use segmentation.source = \"reference\" or \"checkpoint\" (a network trained on other cases)",
                s.kind
            );
        }
        ensure!(
            s.validation_fraction > 0.0 && s.validation_fraction < 1.0,
            "split.validation_fraction must be in (0, 1), got {}",
            s.validation_fraction
        );
        if s.kind == "by-centre" {
            ensure!(
                !s.test_centres.is_empty(),
                "split.kind = by-centre needs split.test_centres"
            );
        }
        let g = &self.segmentation;
        match (g.source, &g.checkpoint) {
            (SegmentationSource::Checkpoint, None) => bail!(
                "segmentation.source = \"checkpoint\" needs segmentation.checkpoint = \"path/to/unet.safetensors\" (or a run directory)"
            ),
            (SegmentationSource::Train | SegmentationSource::Reference, Some(c)) => bail!(
                "segmentation.checkpoint = {c:?} is only used with segmentation.source = \"checkpoint\" (source is {:?})",
                g.source
            ),
            _ => {}
        }
        if g.source == SegmentationSource::Reference && g.class_head {
            bail!(
                "segmentation.class_head = true classifies with the network's own output, but segmentation.source = \"reference\" runs no network; use `train` or `checkpoint`, or class_head = false"
            );
        }
        if g.class_head && cross_validated {
            bail!(
                "segmentation.class_head = true is evaluated on the held-out split; split.kind = {:?} is for the [fusion] models",
                s.kind
            );
        }
        ensure!(
            g.class_head || self.fusion.is_some(),
            "nothing to predict: set segmentation.class_head = true (the network classifies) or add a [fusion] section (models on radiomics, deep and clinical features)"
        );
        ensure!(
            g.channels.len() >= 2,
            "segmentation.channels needs at least 2 levels"
        );
        ensure!(
            g.channels.iter().all(|&c| c > 0),
            "segmentation.channels must be > 0"
        );
        ensure!(g.epochs > 0, "segmentation.epochs must be > 0");
        ensure!(
            g.steps_per_epoch > 0,
            "segmentation.steps_per_epoch must be > 0"
        );
        ensure!(g.batch_size > 0, "segmentation.batch_size must be > 0");
        ensure!(
            (1..=50).contains(&g.selection_window),
            "segmentation.selection_window must be in [1, 50], got {}",
            g.selection_window
        );
        ensure!(
            (1..=1000).contains(&g.validation_interval),
            "segmentation.validation_interval must be in [1, 1000], got {}",
            g.validation_interval
        );
        ensure!(
            g.class_hidden <= 4096,
            "segmentation.class_hidden must be <= 4096, got {}",
            g.class_hidden
        );
        let stride = 1usize << (g.channels.len() - 1);
        ensure!(
            g.patch.iter().all(|&p| p >= stride && p % stride == 0),
            "segmentation.patch {:?} must be multiples of the network's total stride {stride}",
            g.patch
        );
        ensure!(
            g.learning_rate > 0.0 && g.learning_rate < 1.0,
            "segmentation.learning_rate must be in (0, 1)"
        );
        ensure!(
            g.hu_window[0] < g.hu_window[1] && g.hu_window.iter().all(|v| v.is_finite()),
            "segmentation.hu_window must be [low, high] with low < high, got {:?}",
            g.hu_window
        );
        ensure!(
            (0.0..=10.0).contains(&g.class_loss_weight),
            "segmentation.class_loss_weight must be in [0, 10]"
        );
        // After hu_window: the window plan takes it.
        self.plan_settings()?;
        ensure!(
            self.stats.bootstrap >= 100,
            "stats.bootstrap must be >= 100"
        );
        ensure!(
            self.stats.ci_level > 0.5 && self.stats.ci_level < 1.0,
            "stats.ci_level must be in (0.5, 1)"
        );
        if let Some(f) = &self.fusion {
            ensure!(f.cv_folds >= 2, "fusion.cv_folds must be >= 2");
            ensure!(f.max_features >= 1, "fusion.max_features must be >= 1");
            ensure!(f.n_estimators >= 1, "fusion.n_estimators must be >= 1");
            ensure!(
                !f.clinical_columns.is_empty(),
                "fusion.clinical_columns is empty: name columns, `prefix*`, or `*` for all"
            );
        }
        for name in &self.comparisons.scores {
            ensure!(
                tomofuse_fusion::scores::builtin(name).is_some(),
                "comparisons.scores: unknown score {name:?} (built in: {})",
                tomofuse_fusion::scores::BUILTIN.join(", ")
            );
        }
        if let Some(d) = &self.deep_features {
            ensure!(
                d.widen_factor > 0.0 && d.widen_factor <= 2.0,
                "deep_features.widen_factor must be in (0, 2]"
            );
            ensure!(
                d.finetune_epochs <= 1000,
                "deep_features.finetune_epochs must be <= 1000"
            );
            ensure!(
                (2..=10).contains(&d.folds),
                "deep_features.folds must be in [2, 10]"
            );
            ensure!(
                d.augment_noise_hu.is_finite() && (0.0..=200.0).contains(&d.augment_noise_hu),
                "deep_features.augment_noise_hu must be in [0, 200] HU"
            );
            ensure!(
                d.crop.iter().all(|&c| (16..=256).contains(&c)),
                "deep_features.crop must be 16..256 voxels per axis (the network's stride is 16)"
            );
            if let Some(mm) = d.crop_mm {
                ensure!(
                    mm.iter().all(|v| v.is_finite() && *v > 0.0),
                    "deep_features.crop_mm = {mm:?}: every component must be finite and > 0 mm"
                );
            }
        }
        Ok(())
    }
}
