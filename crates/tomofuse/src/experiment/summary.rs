//! Per-set statistics and report sections shared by both studies: the numbers are computed by
//! tomofuse-metrics; this module only selects cases, calls it, and lays results out.

use super::common::{CasePrediction, Ctx};
use super::networks::SegmentationModel;
use super::report::{Block, Report};
use super::rundir::atomic_write;
use anyhow::Result;
use serde::Serialize;
use tomofuse_cohort::Split;
use tomofuse_metrics::{BinaryReport, BinaryReportOptions, localisation};

/// Statistics of one set (train / validation / external or test).
#[derive(Debug, Clone, Serialize)]
pub struct SetSummary {
    pub set: String,
    pub n: usize,
    pub n_positive: usize,
    pub dice_mean: Option<f64>,
    pub dice_sd: Option<f64>,
    /// Percentile bootstrap CI of the mean Dice (resampling cases).
    pub dice_ci: Option<(f64, f64)>,
    pub hd95_median_mm: Option<f64>,
    pub classification: Option<BinaryReport>,
    pub notes: Vec<String>,
}

/// Per-case predictions as CSV at `rel` in the run directory.
/// Per-case table: split, centre, outcome, class probability and segmentation metrics, then one
/// column per entry of `scores` (a model's or clinical score's name as in `metrics.json`,
/// keyed by case id; blank where a case has none).
pub fn write_predictions_csv(
    ctx: &Ctx,
    preds: &[CasePrediction],
    rel: &str,
    scores: &[(String, std::collections::BTreeMap<String, f64>)],
) -> Result<()> {
    let mut s = String::from(
        "case_id,split,centre,label,class_probability,dice,hd95_mm,assd_mm,predicted_volume_ml,mask_file",
    );
    for (name, _) in scores {
        s.push(',');
        s.push_str(&tomofuse_radiomics::output::csv_field(name));
    }
    s.push('\n');
    let o = |v: Option<f64>| v.map(|x| format!("{x}")).unwrap_or_default();
    for p in preds {
        s.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{}",
            p.id,
            p.split,
            p.centre.as_deref().unwrap_or(""),
            p.label.map(|b| u8::from(b).to_string()).unwrap_or_default(),
            o(p.class_probability),
            o(p.dice),
            o(p.hd95_mm),
            o(p.assd_mm),
            p.predicted_volume_ml,
            p.mask_file
        ));
        for (_, by_id) in scores {
            s.push(',');
            s.push_str(&o(by_id.get(&p.id).copied().filter(|v| v.is_finite())));
        }
        s.push('\n');
    }
    atomic_write(&ctx.rd.path(rel), s.as_bytes())
}

fn labelled_scores(preds: &[CasePrediction], split: Split) -> (Vec<bool>, Vec<f64>) {
    preds
        .iter()
        .filter(|p| p.split == split.as_str())
        .filter_map(|p| Some((p.label?, p.class_probability?)))
        .unzip()
}

/// Youden-optimal threshold of the class probability on one set, if it has both classes.
pub fn youden_on(preds: &[CasePrediction], split: Split) -> Option<f64> {
    let (y, s) = labelled_scores(preds, split);
    tomofuse_metrics::youden_threshold(&y, &s)
        .ok()
        .map(|(t, _)| t)
}

pub fn summarise_set(
    preds: &[CasePrediction],
    split: Split,
    opts: &BinaryReportOptions,
) -> SetSummary {
    let sel: Vec<&CasePrediction> = preds.iter().filter(|p| p.split == split.as_str()).collect();
    let mut notes = Vec::new();
    let dice: Vec<f64> = sel.iter().filter_map(|p| p.dice).collect();
    let (dice_mean, dice_sd) = tomofuse_metrics::mean_sd(&dice);
    let dice_labels: Vec<bool> = sel
        .iter()
        .filter(|p| p.dice.is_some())
        .map(|p| p.label.unwrap_or(false))
        .collect();
    let dice_ci = tomofuse_metrics::stratified_mean_ci(&dice, &dice_labels, &opts.bootstrap)
        .ok()
        .map(|(_, ci)| (ci.lower, ci.upper));
    let mut hd: Vec<f64> = sel.iter().filter_map(|p| p.hd95_mm).collect();
    hd.sort_by(f64::total_cmp);
    let hd95_median_mm = (!hd.is_empty()).then(|| hd[hd.len() / 2]);
    let (y, s) = labelled_scores(preds, split);
    let classification = if s.is_empty() {
        None
    } else {
        match tomofuse_metrics::binary_report(&y, &s, None, opts) {
            Ok(r) => Some(r),
            Err(e) => {
                notes.push(format!("classification statistics unavailable: {e}"));
                None
            }
        }
    };
    SetSummary {
        set: split.as_str().into(),
        n: sel.len(),
        n_positive: sel.iter().filter(|p| p.label == Some(true)).count(),
        dice_mean,
        dice_sd,
        dice_ci,
        hd95_median_mm,
        classification,
        notes,
    }
}

pub fn f3(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.3}")).unwrap_or_else(|| "-".into())
}

fn pct(p: &Option<tomofuse_metrics::Proportion>) -> String {
    p.as_ref()
        .map(|p| {
            format!(
                "{:.1}% ({}/{}; {:.1}-{:.1})",
                100.0 * p.estimate,
                p.successes,
                p.trials,
                100.0 * p.lower,
                100.0 * p.upper
            )
        })
        .unwrap_or_else(|| "-".into())
}

/// Segmentation table (Dice per set) plus training curve summary.
pub fn seg_report(
    report: &mut Report,
    seg: Option<&super::common::SegStage>,
    sets: &[SetSummary],
    preds: &[CasePrediction],
    title: &str,
) {
    report.push(Block::Heading(title.into()));
    report.push(Block::Paragraph(match seg {
        Some(seg) => format!(
            "U-Net trained on {} cases ({} validation) in {:.0} s; best epoch {} of {}.",
            seg.n_train,
            seg.n_val,
            seg.seconds,
            seg.history.best_epoch + 1,
            seg.history.epochs.len()
        ),
        None => "No U-Net was trained in this run (segmentation.source = reference or checkpoint)."
            .into(),
    }));
    let rows = sets
        .iter()
        .map(|s| {
            vec![
                s.set.clone(),
                s.n.to_string(),
                format!("{} ± {}", f3(s.dice_mean), f3(s.dice_sd)),
                s.dice_ci
                    .map(|(a, b)| format!("{a:.3}-{b:.3}"))
                    .unwrap_or_else(|| "-".into()),
                s.hd95_median_mm
                    .map(|v| format!("{v:.1}"))
                    .unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    let groups: Vec<(String, Vec<f64>)> = sets
        .iter()
        .map(|s| {
            let v = preds
                .iter()
                .filter(|p| p.split == s.set)
                .filter_map(|p| p.dice)
                .collect();
            (s.set.clone(), v)
        })
        .collect();
    let dice_svg = super::plots::dice_svg(&groups);
    report.push(Block::Table {
        caption: "Segmentation (predicted vs reference mask)".into(),
        header: vec![
            "set".into(),
            "n".into(),
            "Dice mean ± SD".into(),
            "Dice 95% CI (bootstrap)".into(),
            "HD95 median (mm)".into(),
        ],
        rows,
    });
    if let Some(svg) = dice_svg {
        report.push(Block::Svg {
            caption: "Dice per case, by set (box: quartiles and median; whiskers: 1.5 IQR)".into(),
            svg,
        });
    }
    let Some(seg) = seg else {
        return;
    };
    let rows = seg
        .history
        .epochs
        .iter()
        .map(|e| {
            vec![
                (e.epoch + 1).to_string(),
                format!("{:.2e}", e.lr),
                format!("{:.4}", e.train_loss),
                f3(e.val_dice),
                f3(e.val_auc),
            ]
        })
        .collect();
    report.push(Block::Table {
        caption: "Training history".into(),
        header: vec![
            "epoch".into(),
            "lr".into(),
            "train loss".into(),
            "val Dice".into(),
            "val AUC".into(),
        ],
        rows,
    });
}

/// Classification table as in the study (AUC with CIs, sensitivity, specificity) and
/// confusion matrices.
pub fn class_report(report: &mut Report, sets: &[SetSummary], what: &str, thr: Option<f64>) {
    report.push(Block::Paragraph(format!(
        "Classification of {what}. Operating threshold: Youden-optimal on the validation set ({}), applied unchanged to the other sets.",
        f3(thr)
    )));
    let mut rows = Vec::new();
    for s in sets {
        let Some(c) = &s.classification else {
            rows.push(vec![
                s.set.clone(),
                s.n.to_string(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
            ]);
            continue;
        };
        rows.push(vec![
            s.set.clone(),
            format!("{} ({}+ / {}-)", c.n, c.n_positive, c.n_negative),
            format!(
                "{:.3} ({:.3}-{:.3})",
                c.auc, c.auc_bootstrap.percentile.lower, c.auc_bootstrap.percentile.upper
            ),
            format!("{:.3}-{:.3}", c.auc_delong.ci.lower, c.auc_delong.ci.upper),
            pct(&c.threshold_metrics.sensitivity),
            pct(&c.threshold_metrics.specificity),
            pct(&c.threshold_metrics.accuracy),
        ]);
    }
    report.push(Block::Table {
        caption: format!("Classification: {what}"),
        header: vec![
            "set".into(),
            "n".into(),
            "AUC (95% CI, bootstrap)".into(),
            "AUC 95% CI (DeLong)".into(),
            "sensitivity (95% Wilson CI)".into(),
            "specificity".into(),
            "accuracy".into(),
        ],
        rows,
    });
    for s in sets {
        if let Some(c) = &s.classification {
            let m = &c.threshold_metrics.confusion;
            report.push(Block::Table {
                caption: format!(
                    "Confusion matrix, {} (threshold {:.3})",
                    s.set, c.threshold_metrics.threshold
                ),
                header: vec!["".into(), "predicted +".into(), "predicted -".into()],
                rows: vec![
                    vec!["actual +".into(), m.tp.to_string(), m.fn_.to_string()],
                    vec!["actual -".into(), m.fp.to_string(), m.tn.to_string()],
                ],
            });
            if let Some(svg) = super::plots::roc_svg(c, &format!("ROC, {} set", s.set)) {
                report.push(Block::Svg {
                    caption: format!("ROC curve of the {} set with its 95% bootstrap band", s.set),
                    svg,
                });
            }
            if s.set == "external" {
                for b in
                    super::plots::probability_svgs(c, "the class probability on the external set")
                {
                    report.push(b);
                }
            }
        }
    }
}

/// Grad-CAM of one external positive case.
#[derive(Debug, Clone, Serialize)]
pub struct CamSummary {
    pub id: String,
    pub label: Option<bool>,
    pub class_probability: Option<f64>,
    /// The map at [`GradCamResults::layer`], NIfTI on the input grid.
    pub file: String,
    /// Index of the map's maximum (None when no voxel has positive evidence).
    pub peak: Option<[usize; 3]>,
    /// Whether the maximum lies in the reference target dilated by one voxel.
    pub peak_in_target: Option<bool>,
    /// Whether it lies in the reference target itself.
    pub peak_in_target_strict: Option<bool>,
    /// Share of the volume the dilated target covers: the hit rate of a peak placed at random.
    pub dilated_target_fraction: Option<f64>,
    /// `peak_in_target` of the map at every encoder layer, for comparison.
    pub peak_in_target_by_layer: std::collections::BTreeMap<String, Option<bool>>,
}

/// How often the Grad-CAM peak at one layer falls in the target, over the external positives.
#[derive(Debug, Clone, Serialize)]
pub struct LayerHits {
    pub layer: String,
    /// Grid the layer's activation has for these inputs (the map's resolution).
    pub grid: [usize; 3],
    pub n_cases: usize,
    pub n_peak_in_target: usize,
    pub fraction: Option<f64>,
}

/// Grad-CAM over every external-set positive: the layer, where peaks fall, per-case maps.
#[derive(Debug, Clone, Serialize)]
pub struct GradCamResults {
    /// The layer the maps are computed at ([`SegmentationModel::localising_layer`]).
    pub layer: String,
    /// What counts as "in the target".
    pub target_region: String,
    /// External positives with a reference mask and a map.
    pub n_cases: usize,
    pub n_peak_in_target: usize,
    /// n_peak_in_target / n_cases with its 95% Wilson interval.
    pub peak_in_target: Option<tomofuse_metrics::Proportion>,
    pub n_peak_in_target_strict: usize,
    /// Mean share of the volume the dilated target covers (chance level of a random peak).
    pub chance_fraction: Option<f64>,
    /// The same count at every encoder layer and the bottleneck.
    pub by_layer: Vec<LayerHits>,
    pub cases: Vec<CamSummary>,
}

/// How many shown cases get three-plane overlays in the report (the count covers all).
const CAM_CASES_SHOWN: usize = 4;

/// Grad-CAM of the class logit for every external-set positive at the layer
/// [`SegmentationModel::localising_layer`] picks (NIfTI on the input grid), the fraction
/// whose peak falls in the reference target (dilated by one voxel), the same at every other
/// encoder layer, and three-plane overlays of the first few cases in the report.
pub fn gradcam_report(
    ctx: &Ctx,
    cohort: &tomofuse_cohort::Cohort,
    model: &dyn SegmentationModel,
    preds: &[CasePrediction],
    report: &mut Report,
    target_name: &str,
) -> Option<GradCamResults> {
    if !model.has_class_head() {
        return None;
    }
    let layer = model.localising_layer();
    let layers = model.cam_layers();
    let picks: Vec<usize> = super::common::metas(cohort)
        .into_iter()
        .filter(|m| {
            m.split == Split::External
                && m.label == Some(true)
                && preds.iter().any(|p| p.id == m.id)
        })
        .map(|m| m.pos)
        .collect();
    let [lo, hi] = ctx.cfg.segmentation.hu_window;
    let mut cases = Vec::new();
    let mut grids: std::collections::BTreeMap<String, [usize; 3]> = Default::default();
    let mut figures = Vec::new();
    let _ = std::fs::create_dir_all(ctx.rd.path("gradcam"));
    for pos in picks {
        let c = match super::common::load_one(ctx, cohort, pos) {
            Ok(c) => c,
            Err(e) => {
                ctx.fail(&cohort.cases[pos].id, "gradcam", e);
                continue;
            }
        };
        let mut by_layer = std::collections::BTreeMap::new();
        let mut main = None;
        for l in &layers {
            match model.grad_cam(&c.input, l, 0) {
                Ok(cam) => {
                    let pk = localisation::peak(&cam);
                    let hit = c
                        .target
                        .as_ref()
                        .map(|t| pk.is_some_and(|p| localisation::within(t, p, 1)));
                    by_layer.insert(l.clone(), hit);
                    grids
                        .entry(l.clone())
                        .or_insert_with(|| model.layer_grid(l, c.input.shape()));
                    if *l == layer {
                        main = Some((cam, pk, hit));
                    }
                }
                Err(e) => {
                    ctx.fail(&c.id, "gradcam", format!("layer {l}: {e}"));
                }
            }
        }
        let Some((cam, peak, hit)) = main else {
            continue;
        };
        let file = format!("gradcam/{}.nii.gz", super::rundir::case_file_name(&c.id));
        // Written on the case's original grid, like its predicted mask.
        let written = c
            .grid
            .probability_to_original(&cam)
            .map_err(anyhow::Error::from)
            .and_then(|m| Ok(tomofuse_io::write_nifti(&ctx.rd.path(&file), &m)?));
        if let Err(e) = written {
            ctx.fail(&c.id, "gradcam", e);
            continue;
        }
        // The overlays are drawn on the planned grid, where the map and the target are.
        let hu = match c.hu_planned() {
            Ok(v) => v,
            Err(e) => {
                ctx.fail(&c.id, "gradcam", e);
                continue;
            }
        };
        let p = preds
            .iter()
            .find(|p| p.id == c.id)
            .and_then(|p| p.class_probability);
        let strict = c
            .target
            .as_ref()
            .map(|t| peak.is_some_and(|q| localisation::within(t, q, 0)));
        if figures.len() < CAM_CASES_SHOWN
            && let Some(at) = peak
        {
            let verdict = match hit {
                Some(true) => format!("in or next to the {target_name}"),
                Some(false) => format!("outside the {target_name}"),
                None => "no reference mask".into(),
            };
            if let Some(b) = super::plots::orthogonal_slices(
                &format!("gradcam-{}", c.id),
                format!(
                    "Grad-CAM ({layer}), case {} (positive, p = {}): axial, coronal and sagittal slices through the map's peak (white cross, voxel {at:?}; {verdict}); green = reference {target_name} outline",
                    c.id,
                    f3(p)
                ),
                &hu,
                Some(&cam),
                c.target.as_ref(),
                at,
                (lo as f32, hi as f32),
            ) {
                figures.push(b);
            }
        }
        cases.push(CamSummary {
            id: c.id.clone(),
            label: c.label,
            class_probability: p,
            file,
            peak,
            peak_in_target: hit,
            peak_in_target_strict: strict,
            dilated_target_fraction: c
                .target
                .as_ref()
                .map(|t| localisation::dilated_fraction(t, 1)),
            peak_in_target_by_layer: by_layer,
        });
    }
    let counted: Vec<&CamSummary> = cases
        .iter()
        .filter(|c| c.peak_in_target.is_some())
        .collect();
    let n = counted.len();
    let hits = counted
        .iter()
        .filter(|c| c.peak_in_target == Some(true))
        .count();
    let strict = counted
        .iter()
        .filter(|c| c.peak_in_target_strict == Some(true))
        .count();
    let chance = (n > 0).then(|| {
        counted
            .iter()
            .filter_map(|c| c.dilated_target_fraction)
            .sum::<f64>()
            / n as f64
    });
    let by_layer: Vec<LayerHits> = layers
        .iter()
        .map(|l| {
            let v: Vec<bool> = cases
                .iter()
                .filter_map(|c| c.peak_in_target_by_layer.get(l).copied().flatten())
                .collect();
            let k = v.iter().filter(|&&b| b).count();
            LayerHits {
                layer: l.clone(),
                grid: grids.get(l).copied().unwrap_or_default(),
                n_cases: v.len(),
                n_peak_in_target: k,
                fraction: (!v.is_empty()).then(|| k as f64 / v.len() as f64),
            }
        })
        .collect();
    let prop = tomofuse_metrics::wilson(hits as u64, n as u64, 0.95)
        .ok()
        .flatten();
    let region =
        format!("the reference {target_name} mask dilated by one voxel (26-neighbourhood)");
    report.push(Block::Heading("Grad-CAM".into()));
    report.push(Block::Paragraph(format!(
        "Grad-CAM of the class logit at layer `{layer}`: {}. Over all {n} external-set positives with a reference mask, the map's peak lies in {region} in {hits} of {n} cases ({}); strictly inside the mask in {strict} of {n}. A peak placed at random would land there in {} of cases on average (the dilated mask's share of the volume). Maps are saved as NIfTI on the input geometry (gradcam/).",
        model.localising_layer_why(),
        prop.as_ref()
            .map(|p| format!(
                "{:.1}%, 95% Wilson CI {:.1}-{:.1}%",
                100.0 * p.estimate,
                100.0 * p.lower,
                100.0 * p.upper
            ))
            .unwrap_or_else(|| "-".into()),
        chance
            .map(|c| format!("{:.1}%", 100.0 * c))
            .unwrap_or_else(|| "-".into()),
    )));
    report.push(Block::Table {
        caption: format!(
            "Grad-CAM peak in {region}, external positives, by layer (the report uses `{layer}`)"
        ),
        header: vec![
            "layer".into(),
            "map grid".into(),
            "peak in target".into(),
            "fraction".into(),
        ],
        rows: by_layer
            .iter()
            .map(|h| {
                vec![
                    h.layer.clone(),
                    format!("{}x{}x{}", h.grid[0], h.grid[1], h.grid[2]),
                    format!("{} / {}", h.n_peak_in_target, h.n_cases),
                    h.fraction
                        .map(|f| format!("{:.1}%", 100.0 * f))
                        .unwrap_or_else(|| "-".into()),
                ]
            })
            .collect(),
    });
    for b in figures {
        report.push(b);
    }
    Some(GradCamResults {
        layer,
        target_region: region,
        n_cases: n,
        n_peak_in_target: hits,
        peak_in_target: prop,
        n_peak_in_target_strict: strict,
        chance_fraction: chance,
        by_layer,
        cases,
    })
}

/// 3D reconstruction: surface meshes (PLY, LPS mm, as 3D Slicer reads them) of the predicted
/// segmentation of the held-out cases; returns the files written.
pub fn write_meshes(ctx: &Ctx, preds: &[CasePrediction]) -> Vec<String> {
    let mut files = Vec::new();
    for p in preds.iter().filter(|p| p.split != "train") {
        let m = match super::common::predicted_mask(ctx, p) {
            Ok(m) => m,
            Err(e) => {
                ctx.fail(&p.id, "mesh", e);
                continue;
            }
        };
        let Some(mesh) = tomofuse_radiomics::mesh::surface_mesh(&m, 1) else {
            continue;
        };
        let file = format!("meshes/{}.ply", super::rundir::case_file_name(&p.id));
        let _ = std::fs::create_dir_all(ctx.rd.path("meshes"));
        match tomofuse_io::write_ply(&ctx.rd.path(&file), &mesh.vertices, &mesh.triangles) {
            Ok(()) => files.push(file),
            Err(e) => ctx.fail(&p.id, "mesh", e),
        }
    }
    files
}

/// The 3D reconstruction in the report: surface meshes of every held-out predicted mask
/// (`meshes/*.ply`, [`write_meshes`]) and renderings of one representative case, the external
/// (else held-out) case of median Dice, predicted and reference surfaces in one frame.
/// Returns the mesh files written.
pub fn reconstruction_report(
    ctx: &Ctx,
    cohort: &tomofuse_cohort::Cohort,
    preds: &[CasePrediction],
    report: &mut Report,
    organ: &str,
    colour: [u8; 3],
) -> Vec<String> {
    let files = write_meshes(ctx, preds);
    let median_dice = |split: Option<&str>| -> Option<&CasePrediction> {
        let mut c: Vec<&CasePrediction> = preds
            .iter()
            .filter(|p| p.split != "train" && split.is_none_or(|s| p.split == s))
            .filter(|p| p.dice.is_some() && p.predicted_volume_ml > 0.0)
            .collect();
        c.sort_by(|a, b| a.dice.unwrap_or(0.0).total_cmp(&b.dice.unwrap_or(0.0)));
        c.get(c.len() / 2).copied()
    };
    report.push(Block::Heading(format!("3D reconstruction ({organ})")));
    report.push(Block::Paragraph(format!(
        "{} surface meshes of the predicted {organ} segmentation (held-out cases) in meshes/*.ply (LPS millimetres; 3D Slicer opens them directly).",
        files.len()
    )));
    let (p, among) = match median_dice(Some("external")) {
        Some(p) => (p, "external set"),
        None => match median_dice(None) {
            Some(p) => (p, "held-out cases"),
            None => return files,
        },
    };
    let predicted = match super::common::predicted_mask(ctx, p) {
        Ok(m) => tomofuse_radiomics::mesh::surface_mesh(&m, 1),
        Err(e) => {
            ctx.fail(&p.id, "mesh", e);
            None
        }
    };
    let Some(predicted) = predicted else {
        return files;
    };
    let reference = super::common::metas(cohort)
        .into_iter()
        .find(|m| m.id == p.id)
        .and_then(|m| super::common::load_one(ctx, cohort, m.pos).ok())
        .and_then(|c| c.target_original)
        .and_then(|t| tomofuse_radiomics::mesh::surface_mesh(&t, 1));
    let mut meshes = vec![("predicted", &predicted, colour)];
    if let Some(r) = &reference {
        meshes.push(("reference", r, [150, 150, 150]));
    }
    let caption = format!(
        "3D reconstruction of the predicted {organ} segmentation, case {} (Dice {}, the median of the {among}){}: orthographic views from the front (patient's left on the right), from the patient's left and from above, Lambert shading with the light at the viewer",
        p.id,
        f3(p.dice),
        if reference.is_some() {
            "; below, the reference mask's surface in the same frame"
        } else {
            ""
        }
    );
    for b in super::plots::mesh_views(&format!("mesh-{}", p.id), caption, &meshes) {
        report.push(b);
    }
    if let Some(b) = super::plots::mesh_viewer(&format!("mesh3d-{}", p.id), organ, &meshes) {
        report.push(b);
    }
    files
}
