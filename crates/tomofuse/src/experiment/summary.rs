//! Per-set statistics and report sections shared by both studies: the numbers are computed by
//! tomofuse-metrics; this module only selects cases, calls it, and lays results out.

use super::common::{CasePrediction, Ctx};
use super::report::{Block, Report, overlay_rgb};
use super::rundir::atomic_write;
use anyhow::Result;
use serde::Serialize;
use tomofuse_cohort::Split;
use tomofuse_metrics::{BinaryReport, BinaryReportOptions};

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
    let (dice_mean, dice_sd) = mean_sd(&dice);
    let dice_labels: Vec<bool> = sel
        .iter()
        .filter(|p| p.dice.is_some())
        .map(|p| p.label.unwrap_or(false))
        .collect();
    let dice_ci = if dice.len() >= 2 {
        tomofuse_metrics::stratified_bootstrap(
            &dice_labels,
            opts.bootstrap.n_resamples,
            opts.bootstrap.seed,
            |idx| idx.iter().map(|&i| dice[i]).sum::<f64>() / idx.len() as f64,
        )
        .ok()
        .map(|mut r| {
            r.sort_by(f64::total_cmp);
            let a = (1.0 - opts.bootstrap.level) / 2.0;
            (
                tomofuse_metrics::bootstrap::quantile_sorted(&r, a),
                tomofuse_metrics::bootstrap::quantile_sorted(&r, 1.0 - a),
            )
        })
    } else {
        None
    };
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

fn mean_sd(v: &[f64]) -> (Option<f64>, Option<f64>) {
    if v.is_empty() {
        return (None, None);
    }
    let m = v.iter().sum::<f64>() / v.len() as f64;
    let sd = (v.len() > 1)
        .then(|| (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64).sqrt());
    (Some(m), sd)
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

/// Grad-CAM summary of one case.
#[derive(Debug, Clone, Serialize)]
pub struct CamSummary {
    pub id: String,
    pub label: Option<bool>,
    pub class_probability: Option<f64>,
    pub file: String,
    /// Index of the Grad-CAM maximum.
    pub peak: [usize; 3],
    /// Whether the maximum lies inside the reference segmentation (dilated by one voxel).
    pub peak_in_target: Option<bool>,
}

/// Grad-CAM maps of a few held-out cases: NIfTI on the input grid plus overlays in the report.
pub fn gradcam_examples(
    ctx: &Ctx,
    cohort: &tomofuse_cohort::Cohort,
    model: &tomofuse_unet::TrainedModel,
    preds: &[CasePrediction],
    report: &mut Report,
) -> Vec<CamSummary> {
    if model.config().model.class_head.is_none() {
        return Vec::new();
    }
    let mut out = Vec::new();
    // The first four held-out cases that loaded and were predicted.
    let picks: Vec<usize> = super::common::metas(cohort)
        .into_iter()
        .filter(|m| m.split != Split::Train && preds.iter().any(|p| p.id == m.id))
        .take(4)
        .map(|m| m.pos)
        .collect();
    let mut blocks = Vec::new();
    for pos in picks {
        let c = match super::common::load_one(ctx, cohort, pos) {
            Ok(c) => c,
            Err(e) => {
                ctx.fail(&cohort.cases[pos].id, "gradcam", e);
                continue;
            }
        };
        let cam = match tomofuse_unet::grad_cam(model.model(), &c.input, "bottom", 0) {
            Ok(v) => v,
            Err(e) => {
                ctx.fail(&c.id, "gradcam", e);
                continue;
            }
        };
        let file = format!("gradcam/{}.nii.gz", super::rundir::case_file_name(&c.id));
        let _ = std::fs::create_dir_all(ctx.rd.path("gradcam"));
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
        let (peak, _) =
            cam.data.indexed_iter().fold(
                ((0, 0, 0), f32::MIN),
                |b, (i, &v)| if v > b.1 { (i, v) } else { b },
            );
        let peak = [peak.0, peak.1, peak.2];
        let peak_in_target = c.target.as_ref().map(|t| {
            let s = t.shape();
            (0..27).any(|n| {
                let d = [n % 3, (n / 3) % 3, n / 9];
                let q: Vec<usize> = (0..3)
                    .map(|a| (peak[a] + d[a]).saturating_sub(1).min(s[a] - 1))
                    .collect();
                t.data[[q[0], q[1], q[2]]] != 0
            })
        });
        // Axial slice through the peak (planned grid, as the map): i across, j down.
        let hu = match c.hu_planned() {
            Ok(v) => v,
            Err(e) => {
                ctx.fail(&c.id, "gradcam", e);
                continue;
            }
        };
        let sh = hu.shape();
        let k = peak[2];
        let (w, h) = (sh[0], sh[1]);
        let mut ct = Vec::with_capacity(w * h);
        let mut heat = Vec::with_capacity(w * h);
        let mut cont = Vec::with_capacity(w * h);
        for j in 0..h {
            for i in 0..w {
                ct.push(hu.data[[i, j, k]]);
                heat.push(cam.data[[i, j, k]]);
                cont.push(c.target.as_ref().is_some_and(|t| t.data[[i, j, k]] != 0));
            }
        }
        let p = preds
            .iter()
            .find(|p| p.id == c.id)
            .and_then(|p| p.class_probability);
        blocks.push(Block::Image {
            caption: format!(
                "Grad-CAM, case {} (label {}, p = {}), axial slice k = {k} through the map's peak; green = reference sinus contour",
                c.id,
                c.label.map(|b| if b { "positive" } else { "negative" }).unwrap_or("unknown"),
                f3(p)
            ),
            width: w,
            height: h,
            rgb: overlay_rgb(&ct, Some(&heat), Some(&cont), w, h, (-1000.0, 1000.0)),
        });
        out.push(CamSummary {
            id: c.id.clone(),
            label: c.label,
            class_probability: p,
            file,
            peak,
            peak_in_target,
        });
    }
    if !blocks.is_empty() {
        report.push(Block::Heading("Grad-CAM".into()));
        let inside = out
            .iter()
            .filter(|c| c.peak_in_target == Some(true))
            .count();
        report.push(Block::Paragraph(format!(
            "Grad-CAM of the class logit at the bottleneck; the peak lies in (or next to) the reference sinus region in {inside} of {} cases shown. Maps are saved as NIfTI on the input geometry.",
            out.len()
        )));
        for b in blocks {
            report.push(b);
        }
    }
    out
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
