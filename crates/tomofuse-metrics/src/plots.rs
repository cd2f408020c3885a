//! Plots (feature `plots`): ROC with bootstrap band, calibration curve, decision curve,
//! confusion matrix, SHAP beeswarm and waterfall. The file extension picks the backend:
//! `.svg` (SVGBackend) or `.png` (BitMapBackend).
//!
//! Text is laid out and rasterised by plotters' `ab_glyph` feature with DejaVu Sans embedded in
//! the binary (`fonts/`, Bitstream Vera licence): no fontconfig, freetype or system font at
//! build or run time, and the same glyphs on every machine.

use crate::bootstrap::{RocBand, quantile_sorted};
use crate::calibration::{CalibrationBin, DecisionPoint};
use crate::classification::ConfusionMatrix;
use crate::error::{MetricsError, Result};
use crate::roc::Roc;
use ndarray::ArrayView2;
use plotters::coord::Shift;
use plotters::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::Path;

type DrawResult = std::result::Result<(), Box<dyn std::error::Error>>;

pub(crate) const FONT: &str = "sans-serif";

/// Registers the embedded font under the family name every plot uses (once per process).
pub(crate) fn register_fonts() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // The bytes are a valid TrueType file compiled into the crate; the unit test
        // `embedded_font_renders_text` checks it.
        let _ = plotters::style::register_font(
            FONT,
            FontStyle::Normal,
            include_bytes!("../fonts/DejaVuSans.ttf"),
        );
    });
}

/// Render with the backend chosen by the extension of `path`.
macro_rules! render {
    ($path:expr, $size:expr, $draw:expr) => {{
        register_fonts();
        let path: &Path = $path;
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(|e| e.to_ascii_lowercase());
        let res: DrawResult = match ext.as_deref() {
            Some("svg") => {
                let root = SVGBackend::new(path, $size).into_drawing_area();
                $draw(&root).and_then(|_| root.present().map_err(|e| e.into()))
            }
            Some("png") => {
                let root = BitMapBackend::new(path, $size).into_drawing_area();
                $draw(&root).and_then(|_| root.present().map_err(|e| e.into()))
            }
            _ => {
                return Err(MetricsError::Plot {
                    path: path.display().to_string(),
                    reason: "unsupported extension (use .svg or .png)".into(),
                });
            }
        };
        res.map_err(|e| MetricsError::Plot {
            path: path.display().to_string(),
            reason: e.to_string(),
        })
    }};
}

/// ROC curve(s) with an optional pointwise bootstrap band. `curves` are (label, ROC) pairs.
pub fn plot_roc(path: &Path, curves: &[(String, &Roc)], band: Option<&RocBand>) -> Result<()> {
    render!(
        path,
        (640, 600),
        |root: &DrawingArea<_, Shift>| -> DrawResult {
            root.fill(&WHITE)?;
            let mut chart = ChartBuilder::on(root)
                .caption("ROC curve", (FONT, 24))
                .margin(15)
                .x_label_area_size(45)
                .y_label_area_size(55)
                .build_cartesian_2d(0f64..1f64, 0f64..1f64)?;
            chart
                .configure_mesh()
                .x_desc("1 - specificity")
                .y_desc("Sensitivity")
                .label_style((FONT, 14))
                .draw()?;
            if let Some(b) = band {
                let mut pts: Vec<(f64, f64)> = b
                    .fpr
                    .iter()
                    .copied()
                    .zip(b.tpr_upper.iter().copied())
                    .collect();
                pts.extend(b.fpr.iter().copied().zip(b.tpr_lower.iter().copied()).rev());
                chart
                    .draw_series(std::iter::once(Polygon::new(pts, BLUE.mix(0.18).filled())))?
                    .label(format!("{:.0}% bootstrap band", b.level * 100.0))
                    .legend(|(x, y)| {
                        Rectangle::new([(x, y - 5), (x + 18, y + 5)], BLUE.mix(0.18).filled())
                    });
            }
            chart.draw_series(LineSeries::new([(0.0, 0.0), (1.0, 1.0)], BLACK.mix(0.4)))?;
            for (k, (label, roc)) in curves.iter().enumerate() {
                let color = Palette99::pick(k).to_rgba();
                let style = ShapeStyle::from(color).stroke_width(2);
                chart
                    .draw_series(LineSeries::new(
                        roc.fpr.iter().copied().zip(roc.tpr.iter().copied()),
                        style,
                    ))?
                    .label(label.clone())
                    .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], style));
            }
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::LowerRight)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .label_font((FONT, 14))
                .draw()?;
            Ok(())
        }
    )
}

/// Binned calibration curve against the diagonal; marker area grows with the bin count.
pub fn plot_calibration(path: &Path, bins: &[CalibrationBin]) -> Result<()> {
    let max_n = bins.iter().map(|b| b.count).max().unwrap_or(1).max(1) as f64;
    render!(
        path,
        (640, 600),
        |root: &DrawingArea<_, Shift>| -> DrawResult {
            root.fill(&WHITE)?;
            let mut chart = ChartBuilder::on(root)
                .caption("Calibration", (FONT, 24))
                .margin(15)
                .x_label_area_size(45)
                .y_label_area_size(55)
                .build_cartesian_2d(0f64..1f64, 0f64..1f64)?;
            chart
                .configure_mesh()
                .x_desc("Predicted probability")
                .y_desc("Observed fraction")
                .label_style((FONT, 14))
                .draw()?;
            chart.draw_series(LineSeries::new([(0.0, 0.0), (1.0, 1.0)], BLACK.mix(0.4)))?;
            let pts: Vec<(f64, f64)> = bins
                .iter()
                .map(|b| (b.mean_predicted, b.observed_fraction))
                .collect();
            chart.draw_series(LineSeries::new(
                pts.clone(),
                ShapeStyle::from(&BLUE).stroke_width(2),
            ))?;
            chart.draw_series(bins.iter().map(|b| {
                let r = 3.0 + 7.0 * (b.count as f64 / max_n).sqrt();
                Circle::new(
                    (b.mean_predicted, b.observed_fraction),
                    r as i32,
                    BLUE.filled(),
                )
            }))?;
            Ok(())
        }
    )
}

/// Distribution of a value per group (e.g. Dice per set): box (quartiles, median, whiskers at
/// the extremes within 1.5 IQR) with every value as a jittered point (seeded, so the figure is
/// reproducible). Non-finite values are left out; a group may be empty.
pub fn plot_distributions(
    path: &Path,
    groups: &[(String, Vec<f64>)],
    y_label: &str,
    y_range: (f64, f64),
) -> Result<()> {
    if groups.iter().all(|(_, v)| v.iter().all(|x| !x.is_finite())) {
        return Err(MetricsError::Empty {
            what: "distribution plot",
        });
    }
    let k = groups.len();
    render!(
        path,
        (640, 480),
        |root: &DrawingArea<_, Shift>| -> DrawResult {
            root.fill(&WHITE)?;
            let mut chart = ChartBuilder::on(root)
                .caption(y_label, (FONT, 24))
                .margin(15)
                .x_label_area_size(45)
                .y_label_area_size(55)
                .build_cartesian_2d(-0.5f64..(k as f64 - 0.5), y_range.0..y_range.1)?;
            chart
                .configure_mesh()
                .disable_x_mesh()
                .x_labels(k.max(1))
                .x_label_formatter(&|x| {
                    let i = x.round();
                    if (x - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < k {
                        groups[i as usize].0.clone()
                    } else {
                        String::new()
                    }
                })
                .y_desc(y_label)
                .label_style((FONT, 14))
                .draw()?;
            let mut rng = ChaCha8Rng::seed_from_u64(7);
            for (g, (_, vals)) in groups.iter().enumerate() {
                let mut v: Vec<f64> = vals.iter().copied().filter(|x| x.is_finite()).collect();
                if v.is_empty() {
                    continue;
                }
                v.sort_by(f64::total_cmp);
                let x = g as f64;
                let (q1, med, q3) = (
                    quantile_sorted(&v, 0.25),
                    quantile_sorted(&v, 0.5),
                    quantile_sorted(&v, 0.75),
                );
                let iqr = q3 - q1;
                let lo = v
                    .iter()
                    .copied()
                    .find(|&y| y >= q1 - 1.5 * iqr)
                    .unwrap_or(q1);
                let hi = v
                    .iter()
                    .rev()
                    .copied()
                    .find(|&y| y <= q3 + 1.5 * iqr)
                    .unwrap_or(q3);
                let color = Palette99::pick(g).to_rgba();
                chart.draw_series(std::iter::once(Rectangle::new(
                    [(x - 0.25, q1), (x + 0.25, q3)],
                    color.mix(0.25).filled(),
                )))?;
                chart.draw_series(std::iter::once(Rectangle::new(
                    [(x - 0.25, q1), (x + 0.25, q3)],
                    ShapeStyle::from(color).stroke_width(1),
                )))?;
                for seg in [
                    [(x - 0.25, med), (x + 0.25, med)],
                    [(x, q3), (x, hi)],
                    [(x, q1), (x, lo)],
                    [(x - 0.1, hi), (x + 0.1, hi)],
                    [(x - 0.1, lo), (x + 0.1, lo)],
                ] {
                    chart.draw_series(LineSeries::new(
                        seg,
                        ShapeStyle::from(BLACK).stroke_width(2),
                    ))?;
                }
                chart.draw_series(v.iter().map(|&y| {
                    let dx: f64 = rng.random_range(-0.18..0.18);
                    Circle::new((x + dx, y), 2, BLACK.mix(0.6).filled())
                }))?;
            }
            Ok(())
        }
    )
}

/// Decision curve: net benefit of the model, treat-all and treat-none.
pub fn plot_decision_curve(path: &Path, points: &[DecisionPoint]) -> Result<()> {
    if points.is_empty() {
        return Err(MetricsError::Empty {
            what: "decision curve",
        });
    }
    let ymax = points
        .iter()
        .map(|p| p.model.max(p.treat_all))
        .fold(0.0f64, f64::max)
        .max(0.01)
        * 1.1;
    let ymin = -0.05 * ymax.max(0.2);
    let (x0, x1) = (points[0].threshold, points[points.len() - 1].threshold);
    render!(
        path,
        (700, 560),
        |root: &DrawingArea<_, Shift>| -> DrawResult {
            root.fill(&WHITE)?;
            let mut chart = ChartBuilder::on(root)
                .caption("Decision curve", (FONT, 24))
                .margin(15)
                .x_label_area_size(45)
                .y_label_area_size(60)
                .build_cartesian_2d(x0..x1, ymin..ymax)?;
            chart
                .configure_mesh()
                .x_desc("Threshold probability")
                .y_desc("Net benefit")
                .label_style((FONT, 14))
                .draw()?;
            let clamp = |v: f64| v.clamp(ymin, ymax);
            type Pick = fn(&DecisionPoint) -> f64;
            let series: [(&str, RGBColor, Pick); 3] = [
                ("Model", BLUE, |p| p.model),
                ("Treat all", RED, |p| p.treat_all),
                ("Treat none", BLACK, |p| p.treat_none),
            ];
            for (name, color, f) in series.iter() {
                let style = ShapeStyle::from(color).stroke_width(2);
                chart
                    .draw_series(LineSeries::new(
                        points.iter().map(|p| (p.threshold, clamp(f(p)))),
                        style,
                    ))?
                    .label(*name)
                    .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], style));
            }
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .label_font((FONT, 14))
                .draw()?;
            Ok(())
        }
    )
}

/// 2×2 confusion matrix, rows = actual, columns = predicted, shaded by count.
pub fn plot_confusion_matrix(path: &Path, cm: &ConfusionMatrix, threshold: f64) -> Result<()> {
    let cells = [[cm.tn, cm.fp], [cm.fn_, cm.tp]];
    let max = cells.iter().flatten().copied().max().unwrap_or(1).max(1) as f64;
    render!(
        path,
        (520, 500),
        |root: &DrawingArea<_, Shift>| -> DrawResult {
            root.fill(&WHITE)?;
            let title = format!("Confusion matrix (score >= {threshold:.4})");
            root.draw(&Text::new(title, (20, 15), (FONT, 20).into_font()))?;
            let (ox, oy, cell) = (150i32, 110i32, 160i32);
            let names = ["negative", "positive"];
            for r in 0..2 {
                for (c, &v) in cells[r].iter().enumerate() {
                    let shade = 0.1 + 0.8 * v as f64 / max;
                    let (x, y) = (ox + c as i32 * cell, oy + r as i32 * cell);
                    root.draw(&Rectangle::new(
                        [(x, y), (x + cell, y + cell)],
                        BLUE.mix(shade).filled(),
                    ))?;
                    root.draw(&Rectangle::new([(x, y), (x + cell, y + cell)], BLACK))?;
                    let color = if shade > 0.5 { &WHITE } else { &BLACK };
                    root.draw(&Text::new(
                        v.to_string(),
                        (x + cell / 2 - 12, y + cell / 2 - 12),
                        (FONT, 26).into_font().color(color),
                    ))?;
                }
                root.draw(&Text::new(
                    format!("actual {}", names[r]),
                    (10, oy + r as i32 * cell + cell / 2 - 8),
                    (FONT, 15).into_font(),
                ))?;
                root.draw(&Text::new(
                    format!("predicted {}", names[r]),
                    (ox + r as i32 * cell + 20, oy - 25),
                    (FONT, 15).into_font(),
                ))?;
            }
            Ok(())
        }
    )
}

/// Features ordered by mean |SHAP|, most important first, at most `max_display`.
fn top_features(shap: &ArrayView2<f64>, max_display: usize) -> Vec<usize> {
    let mut imp: Vec<(usize, f64)> = (0..shap.ncols())
        .map(|j| {
            (
                j,
                shap.column(j).iter().map(|v| v.abs()).sum::<f64>() / shap.nrows().max(1) as f64,
            )
        })
        .collect();
    imp.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    imp.into_iter().take(max_display).map(|(j, _)| j).collect()
}

fn check_shap(shap: &ArrayView2<f64>, features: &ArrayView2<f64>, names: &[String]) -> Result<()> {
    if shap.is_empty() {
        return Err(MetricsError::Empty {
            what: "SHAP values",
        });
    }
    if shap.dim() != features.dim() {
        return Err(MetricsError::InvalidArgument {
            name: "features",
            reason: format!(
                "shape {:?} differs from SHAP values {:?}",
                features.dim(),
                shap.dim()
            ),
        });
    }
    if names.len() != shap.ncols() {
        return Err(MetricsError::LengthMismatch {
            left: "feature names",
            left_len: names.len(),
            right: "SHAP columns",
            right_len: shap.ncols(),
        });
    }
    Ok(())
}

/// Blue (low) to red (high) colour for a feature value scaled to [0, 1]; grey for missing.
fn value_color(t: f64) -> RGBColor {
    if !t.is_finite() {
        return RGBColor(160, 160, 160);
    }
    let t = t.clamp(0.0, 1.0);
    RGBColor(
        (30.0 + 225.0 * t) as u8,
        (60.0 + 20.0 * (1.0 - (2.0 * t - 1.0).abs())) as u8,
        (255.0 - 225.0 * t) as u8,
    )
}

/// SHAP beeswarm: one row per feature (top `max_display` by mean |SHAP|), one dot per case at
/// its SHAP value, coloured by the feature value (blue low, red high, scaled by the 5-95th
/// percentiles like the shap package). `shap` and `features` are cases × features; NaN
/// feature values (missing) are grey. Vertical jitter is seeded (reproducible files).
pub fn plot_shap_beeswarm(
    path: &Path,
    shap: ArrayView2<f64>,
    features: ArrayView2<f64>,
    names: &[String],
    max_display: usize,
) -> Result<()> {
    check_shap(&shap, &features, names)?;
    if let Some(((i, j), &v)) = shap.indexed_iter().find(|(_, v)| !v.is_finite()) {
        return Err(MetricsError::NonFinite {
            what: "SHAP values",
            index: i * shap.ncols() + j,
            value: v,
        });
    }
    let top = top_features(&shap, max_display.max(1));
    let k = top.len();
    let xmax = shap.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-12) * 1.05;
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut dots = Vec::new();
    for (row, &j) in top.iter().enumerate() {
        let mut vals: Vec<f64> = features
            .column(j)
            .iter()
            .copied()
            .filter(|v| v.is_finite())
            .collect();
        vals.sort_by(f64::total_cmp);
        let lo = crate::bootstrap::quantile_sorted(&vals, 0.05);
        let hi = crate::bootstrap::quantile_sorted(&vals, 0.95);
        let y = (k - 1 - row) as f64;
        for i in 0..shap.nrows() {
            let fv = features[[i, j]];
            let t = if !fv.is_finite() {
                f64::NAN
            } else if hi > lo {
                (fv - lo) / (hi - lo)
            } else {
                0.5
            };
            dots.push((
                shap[[i, j]],
                y + rng.random_range(-0.3..0.3),
                value_color(t),
            ));
        }
    }
    let labels: Vec<String> = top.iter().rev().map(|&j| names[j].clone()).collect();
    let height = (120 + 34 * k as u32).max(300);
    render!(
        path,
        (820, height),
        |root: &DrawingArea<_, Shift>| -> DrawResult {
            root.fill(&WHITE)?;
            let mut chart = ChartBuilder::on(root)
                .caption(
                    "SHAP values (colour: feature value, blue low / red high)",
                    (FONT, 18),
                )
                .margin(15)
                .x_label_area_size(45)
                .y_label_area_size(190)
                .build_cartesian_2d(-xmax..xmax, -0.6f64..k as f64 - 0.4)?;
            chart
                .configure_mesh()
                .x_desc("SHAP value (impact on model output)")
                .y_label_formatter(&|_| String::new())
                .label_style((FONT, 13))
                .disable_y_mesh()
                .draw()?;
            row_labels(root, &chart, -xmax, &labels)?;
            chart.draw_series(LineSeries::new(
                [(0.0, -0.6), (0.0, k as f64 - 0.4)],
                BLACK.mix(0.5),
            ))?;
            chart.draw_series(
                dots.iter()
                    .map(|&(x, y, c)| Circle::new((x, y), 3, c.filled())),
            )?;
            Ok(())
        }
    )
}

/// SHAP waterfall of one case: from the base value E[f(x)] through the `max_display − 1`
/// largest contributions (the rest summed as one bar) to f(x) = base + Σ SHAP.
pub fn plot_shap_waterfall(
    path: &Path,
    base_value: f64,
    shap_row: &[f64],
    feature_row: &[f64],
    names: &[String],
    max_display: usize,
) -> Result<()> {
    if shap_row.is_empty() {
        return Err(MetricsError::Empty {
            what: "SHAP values",
        });
    }
    if shap_row.len() != feature_row.len() || shap_row.len() != names.len() {
        return Err(MetricsError::LengthMismatch {
            left: "SHAP values",
            left_len: shap_row.len(),
            right: if shap_row.len() != feature_row.len() {
                "feature values"
            } else {
                "feature names"
            },
            right_len: if shap_row.len() != feature_row.len() {
                feature_row.len()
            } else {
                names.len()
            },
        });
    }
    crate::error::check_finite(shap_row, "SHAP values")?;
    let mut order: Vec<usize> = (0..shap_row.len()).collect();
    order.sort_by(|&a, &b| {
        shap_row[b]
            .abs()
            .total_cmp(&shap_row[a].abs())
            .then(a.cmp(&b))
    });
    let shown = max_display.max(2) - 1;
    let mut bars: Vec<(String, f64)> = order
        .iter()
        .take(shown)
        .map(|&j| (format!("{} = {:.4}", names[j], feature_row[j]), shap_row[j]))
        .collect();
    if order.len() > shown {
        let rest: f64 = order[shown..].iter().map(|&j| shap_row[j]).sum();
        bars.push((format!("{} other features", order.len() - shown), rest));
    }
    // Draw from the bottom (base value) up: the last bar is applied first.
    bars.reverse();
    let mut cum = base_value;
    let mut rects = Vec::new();
    let (mut lo, mut hi) = (base_value, base_value);
    for (i, (_, v)) in bars.iter().enumerate() {
        rects.push((i as f64, cum, cum + v, *v));
        cum += v;
        lo = lo.min(cum);
        hi = hi.max(cum);
    }
    let pad = (hi - lo).max(1e-9) * 0.15;
    let k = bars.len();
    let labels: Vec<String> = bars.iter().map(|b| b.0.clone()).collect();
    let height = (140 + 34 * k as u32).max(300);
    let fx = cum;
    render!(
        path,
        (860, height),
        |root: &DrawingArea<_, Shift>| -> DrawResult {
            root.fill(&WHITE)?;
            let mut chart = ChartBuilder::on(root)
                .caption(
                    format!("SHAP waterfall: E[f(x)] = {base_value:.4}, f(x) = {fx:.4}"),
                    (FONT, 18),
                )
                .margin(15)
                .x_label_area_size(45)
                .y_label_area_size(230)
                .build_cartesian_2d((lo - pad)..(hi + pad), -0.6f64..k as f64 - 0.4)?;
            chart
                .configure_mesh()
                .x_desc("Model output (margin)")
                .y_label_formatter(&|_| String::new())
                .label_style((FONT, 13))
                .disable_y_mesh()
                .draw()?;
            row_labels(root, &chart, lo - pad, &labels)?;
            for &(y, a, b, v) in &rects {
                let color = if v >= 0.0 {
                    RGBColor(230, 30, 80)
                } else {
                    RGBColor(30, 136, 229)
                };
                chart.draw_series(std::iter::once(Rectangle::new(
                    [(a, y - 0.35), (b, y + 0.35)],
                    color.filled(),
                )))?;
                chart.draw_series(std::iter::once(Text::new(
                    format!("{v:+.3}"),
                    (a.max(b), y + 0.15),
                    (FONT, 12).into_font(),
                )))?;
            }
            chart.draw_series(LineSeries::new(
                [(base_value, -0.6), (base_value, k as f64 - 0.4)],
                BLACK.mix(0.4),
            ))?;
            Ok(())
        }
    )
}

/// Row names right-aligned left of the plot area at y = 0, 1, … (a numeric y axis with the
/// names drawn by hand, so rows can be jittered and bars sized in data units).
fn row_labels<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    chart: &ChartContext<
        '_,
        DB,
        Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
    >,
    x_left: f64,
    labels: &[String],
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let font: TextStyle = (FONT, 13).into();
    for (i, label) in labels.iter().enumerate() {
        let (px, py) = chart.backend_coord(&(x_left, i as f64));
        let (w, h) = root.estimate_text_size(label, &font)?;
        root.draw(&Text::new(
            label.clone(),
            (px - w as i32 - 10, py - h as i32 / 2),
            font.clone(),
        ))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The embedded font lays out text: wider for longer strings, and a PNG with a caption
    /// has more dark pixels than the same PNG without one.
    #[test]
    fn embedded_font_renders_text() {
        register_fonts();
        let font = FontDesc::new(FontFamily::Name(FONT), 20.0, FontStyle::Normal);
        let (w1, h1) = font.box_size("AUC").unwrap();
        let (w2, _) = font.box_size("AUC 0.863 (0.80-0.92)").unwrap();
        assert!(w1 > 10 && h1 > 10 && w2 > 3 * w1, "{w1}x{h1}, {w2}");
        let dark = |text: Option<&str>| -> usize {
            let mut buf = vec![255u8; 200 * 60 * 3];
            {
                let root = BitMapBackend::with_buffer(&mut buf, (200, 60)).into_drawing_area();
                if let Some(t) = text {
                    root.draw(&Text::new(t, (5, 5), (FONT, 30).into_font()))
                        .unwrap();
                }
                root.present().unwrap();
            }
            buf.iter().filter(|&&v| v < 128).count()
        };
        assert_eq!(dark(None), 0);
        assert!(dark(Some("ROC")) > 100, "no glyph pixels drawn");
    }
}
