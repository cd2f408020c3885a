//! The orchestrator's network traits on `tomofuse-unet` and `tomofuse-resnet3d`: plain data
//! in, the crates' own types and functions, plain data out. Nothing is decided here.

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use tomofuse::experiment::networks::{
    DeepClassifier, DeepExtractor, DeepSample, EpochRecord, FinetuneSpec, History, Networks,
    NormKind, SegCase, SegPrediction, SegTrainSpec, SegmentationModel,
};
use tomofuse_core::Volume;
use tomofuse_resnet3d::ResNet3d;
use tomofuse_resnet3d::train::{self as ft, Classifier};
use tomofuse_unet::{TrainedModel, gradcam};

/// The U-Net and the ResNet50-3D, on candle's CPU backend.
pub struct CandleNetworks;

/// The U-Net training configuration of `spec`: its fields, the crate's defaults for the rest.
fn train_config(spec: &SegTrainSpec) -> tomofuse_unet::TrainConfig {
    let SegTrainSpec {
        model,
        patch,
        batch_size,
        epochs,
        steps_per_epoch,
        lr,
        min_lr,
        warmup_steps,
        class_loss_weight,
        window_roi,
        window_overlap,
        checkpoint_dir,
        resume,
        class_balanced_batches,
        selection_window,
        validation_interval,
    } = spec.clone();
    tomofuse_unet::TrainConfig {
        model: tomofuse_unet::UnetConfig {
            in_channels: model.in_channels,
            out_channels: model.out_channels,
            channels: model.channels,
            strides: model.strides,
            num_res_units: model.num_res_units,
            norm: match model.norm {
                NormKind::Instance => tomofuse_unet::NormKind::Instance,
                NormKind::Batch => tomofuse_unet::NormKind::Batch,
            },
            class_head: model.class_head.map(|h| tomofuse_unet::ClassHeadConfig {
                hidden: h.hidden,
                num_classes: h.num_classes,
            }),
        },
        patch,
        batch_size,
        epochs,
        steps_per_epoch,
        lr,
        min_lr,
        warmup_steps,
        class_loss_weight,
        sliding: tomofuse_unet::SlidingWindowConfig {
            roi: window_roi,
            overlap: window_overlap,
            ..Default::default()
        },
        resume: resume
            && checkpoint_dir
                .as_ref()
                .is_some_and(|d| d.join(tomofuse_nn3d::trainer::TRAINER_STATE).exists()),
        checkpoint_dir,
        class_balanced_batches,
        selection_window,
        validation_interval,
        ..Default::default()
    }
}

fn finetune_config(spec: &FinetuneSpec) -> ft::FinetuneConfig {
    ft::FinetuneConfig {
        epochs: spec.epochs,
        seed: spec.seed,
        augment: ft::Augment {
            noise_std: spec.noise_std,
            ..Default::default()
        },
        checkpoint_dir: spec.checkpoint_dir.clone(),
        resume: spec.resume,
        ..Default::default()
    }
}

fn history(h: tomofuse_unet::History) -> History {
    History {
        epochs: h.epochs.into_iter().map(epoch_record).collect(),
        best_epoch: h.best_epoch,
    }
}

fn epoch_record(r: tomofuse_unet::EpochRecord) -> EpochRecord {
    // Destructured so that a new field in the U-Net's record fails to compile here.
    let tomofuse_unet::EpochRecord {
        epoch,
        lr,
        train_loss,
        train_seg_loss,
        train_class_loss,
        val_dice,
        val_auc,
        val_class_loss,
        val_score,
        selection_score,
        // Timing stays out of the study's record: metrics.json must be the same for the same
        // config and seed (the progress log has each epoch's seconds).
        seconds: _,
    } = r;
    EpochRecord {
        epoch,
        lr,
        train_loss,
        train_seg_loss,
        train_class_loss,
        val_dice,
        val_auc,
        val_class_loss,
        val_score,
        selection_score,
    }
}

fn case(c: SegCase) -> tomofuse_unet::Case {
    tomofuse_unet::Case {
        image: c.image,
        mask: c.mask,
        label: c.label,
    }
}

impl Networks for CandleNetworks {
    fn segmentation_key(&self, spec: &SegTrainSpec) -> Result<String> {
        Ok(serde_json::to_string(&train_config(spec))?)
    }

    fn train_segmentation(
        &self,
        spec: &SegTrainSpec,
        train: Vec<SegCase>,
        val: Vec<SegCase>,
        seed: u64,
    ) -> Result<(Box<dyn SegmentationModel>, History)> {
        let train: Vec<_> = train.into_iter().map(case).collect();
        let val: Vec<_> = val.into_iter().map(case).collect();
        let (model, h) = tomofuse_unet::train(&train_config(spec), &train, &val, seed)?;
        Ok((Box::new(Unet(model)), history(h)))
    }

    fn load_segmentation(&self, path: &Path) -> Result<Box<dyn SegmentationModel>> {
        Ok(Box::new(Unet(TrainedModel::load(path)?)))
    }

    fn seeded_extractor(&self, widen_factor: f64, seed: u64) -> Result<Box<dyn DeepExtractor>> {
        Ok(Box::new(Extractor(ResNet3d::seeded_extractor(
            widen_factor,
            seed,
        )?)))
    }

    fn finetune_key(&self, spec: &FinetuneSpec) -> String {
        // Where checkpoints go is no part of what is trained.
        format!(
            "{:?}",
            finetune_config(&FinetuneSpec {
                checkpoint_dir: None,
                resume: false,
                ..spec.clone()
            })
        )
    }

    fn cross_fit(
        &self,
        spec: &FinetuneSpec,
        samples: Vec<DeepSample>,
        fold_of: &[usize],
        folds: usize,
    ) -> Result<Box<dyn DeepClassifier>> {
        let samples: Vec<ft::Sample> = samples
            .into_iter()
            .map(|s| ft::Sample {
                crop: s.crop,
                label: s.label,
            })
            .collect();
        let classifiers = ft::cross_fit(
            ft::finetune_net_config(),
            &samples,
            fold_of,
            folds,
            &finetune_config(spec),
        )?;
        Ok(Box::new(Folds(classifiers)))
    }

    fn load_classifier(&self, files: &[PathBuf]) -> Result<Box<dyn DeepClassifier>> {
        // Each load error names its file.
        let classifiers = files
            .iter()
            .map(Classifier::load)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Box::new(Folds(classifiers)))
    }
}

/// A trained multitask U-Net.
struct Unet(TrainedModel);

impl SegmentationModel for Unet {
    fn predict(&self, image: &Volume<f32>) -> Result<SegPrediction> {
        let p = self.0.predict(image)?;
        Ok(SegPrediction {
            probability: p.probability,
            mask: p.mask,
            class_probability: p.class_probability,
        })
    }

    fn save(&self, path: &Path) -> Result<()> {
        Ok(self.0.save(path)?)
    }

    fn has_class_head(&self) -> bool {
        self.0.config().model.class_head.is_some()
    }

    fn cam_layers(&self) -> Vec<String> {
        gradcam::class_path_layers(&self.0.config().model)
    }

    fn localising_layer(&self) -> String {
        gradcam::localising_layer(&self.0.config().model)
    }

    fn localising_layer_why(&self) -> &'static str {
        gradcam::LOCALISING_LAYER_WHY
    }

    fn layer_grid(&self, layer: &str, shape: [usize; 3]) -> [usize; 3] {
        gradcam::layer_grid(&self.0.config().model, layer, shape)
    }

    fn grad_cam(
        &self,
        image: &Volume<f32>,
        layer: &str,
        class_index: usize,
    ) -> Result<Volume<f32>> {
        Ok(tomofuse_unet::grad_cam(
            self.0.model(),
            image,
            layer,
            class_index,
        )?)
    }
}

/// A seeded, untrained ResNet50-3D feature extractor.
struct Extractor(ResNet3d);

impl DeepExtractor for Extractor {
    fn volume_features(&self, volume: &Volume<f32>) -> Result<Vec<f32>> {
        Ok(self.0.volume_features(volume)?)
    }
}

/// Cross-fitted ResNet50-3D classifiers, one per fold.
struct Folds(Vec<Classifier>);

impl Folds {
    fn fold(&self, fold: usize) -> Result<&Classifier> {
        self.0
            .get(fold)
            .with_context(|| format!("no classifier for fold {fold} of {}", self.0.len()))
    }
}

impl DeepClassifier for Folds {
    fn folds(&self) -> usize {
        self.0.len()
    }

    fn save_fold(&self, fold: usize, path: &Path) -> Result<()> {
        Ok(self.fold(fold)?.save(path)?)
    }

    fn train_losses(&self, fold: usize) -> &[f64] {
        self.0.get(fold).map_or(&[], |c| c.train_losses())
    }

    fn held_out_logit(&self, fold: Option<usize>, crop: &Volume<f32>) -> Result<f64> {
        Ok(ft::held_out_logit(&self.0, fold, crop)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Run directories store the U-Net's `History` (segmentation stage, `metrics.json`) and read
    /// it back as the orchestrator's: the two must write the same JSON.
    #[test]
    fn history_mirror_has_the_same_json() {
        let record = tomofuse_unet::EpochRecord {
            epoch: 3,
            lr: 1e-3,
            train_loss: 0.5,
            train_seg_loss: 0.25,
            train_class_loss: 0.125,
            val_dice: Some(0.75),
            val_auc: None,
            val_class_loss: Some(0.625),
            val_score: Some(0.75),
            selection_score: None,
            seconds: 0.0,
        };
        let h = tomofuse_unet::History {
            epochs: vec![record],
            best_epoch: 0,
        };
        let mut unet: serde_json::Value = serde_json::to_value(&h).unwrap();
        let mirror = history(h);
        // The same JSON but for the epoch's seconds, which the mirror leaves out.
        assert_eq!(
            unet["epochs"][0].as_object_mut().unwrap().remove("seconds"),
            Some(serde_json::json!(0.0))
        );
        assert_eq!(serde_json::to_value(&mirror).unwrap(), unet);
        assert_eq!(serde_json::from_value::<History>(unet).unwrap(), mirror);
    }
}
