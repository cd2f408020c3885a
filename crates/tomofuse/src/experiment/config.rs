//! Experiment configuration: TOML with unknown keys rejected, validated before any work.
//! Described by data-schemas/experiment-config.schema.json.

use anyhow::{Context, Result, bail, ensure};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// Which published design an experiment reproduces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Study {
    /// Sinus CT: multitask U-Net, segmentation + eosinophilic endotype.
    Crswnp,
    /// Abdominal CT: pancreas U-Net -> radiomics + ResNet50-3D + clinical -> XGBoost.
    Sap,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentConfig {
    pub experiment: ExperimentSection,
    pub cohort: CohortSection,
    pub split: SplitSection,
    /// Required (a study says where its segmentation comes from), though every key in it
    /// has a default.
    pub segmentation: SegmentationSection,
    #[serde(default)]
    pub radiomics: Option<RadiomicsSection>,
    #[serde(default)]
    pub deep_features: Option<DeepFeaturesSection>,
    #[serde(default)]
    pub fusion: Option<FusionSection>,
    pub stats: StatsSection,
    /// Named overrides selected with `--profile`: cohort size profile plus a few knobs.
    #[serde(default)]
    pub profiles: BTreeMap<String, ProfileOverride>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentSection {
    pub name: String,
    pub study: Study,
    pub seed: u64,
    #[serde(default)]
    pub description: String,
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
}

fn default_profile() -> String {
    "default".into()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitSection {
    /// `random-temporal` (stratified random train/validation + cases after a date as external
    /// test) or `by-centre` (train/validation on some centres, test on the others).
    pub kind: String,
    pub validation_fraction: f64,
    #[serde(default)]
    pub external_after: Option<String>,
    #[serde(default)]
    pub test_centres: Vec<String>,
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

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RadiomicsSection {
    /// A shipped preset (`ibsi-a` .. `ibsi-e`) or a path to a settings TOML.
    pub preset: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeepFeaturesSection {
    /// ResNet50-3D width factor (1.0 = 2048 features, 0.25 = 512).
    pub widen_factor: f64,
    /// Size of the crop around the (predicted) organ fed to the network.
    pub crop: [usize; 3],
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
        let s = &self.split;
        if let Some(d) = &s.external_after {
            tomofuse_cohort::Date::parse(d)
                .with_context(|| format!("split.external_after = {d:?} is not a valid date"))?;
        }
        ensure!(
            matches!(s.kind.as_str(), "random-temporal" | "by-centre"),
            "split.kind must be `random-temporal` or `by-centre`, got `{}`",
            s.kind
        );
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
        if g.source == SegmentationSource::Reference && e.study == Study::Crswnp {
            bail!(
                "segmentation.source = \"reference\": study `crswnp` classifies with the multitask network's own output; use `train` or `checkpoint`"
            );
        }
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
        ensure!(
            self.stats.bootstrap >= 100,
            "stats.bootstrap must be >= 100"
        );
        ensure!(
            self.stats.ci_level > 0.5 && self.stats.ci_level < 1.0,
            "stats.ci_level must be in (0.5, 1)"
        );
        if e.study == Study::Sap {
            ensure!(
                self.radiomics.is_some() && self.fusion.is_some(),
                "study = sap needs [radiomics] and [fusion] sections ([deep_features] is optional)"
            );
            let f = self.fusion.as_ref().expect("checked");
            ensure!(f.cv_folds >= 2, "fusion.cv_folds must be >= 2");
            ensure!(f.max_features >= 1, "fusion.max_features must be >= 1");
            ensure!(f.n_estimators >= 1, "fusion.n_estimators must be >= 1");
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
        }
        Ok(())
    }
}
