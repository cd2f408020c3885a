//! Figures for the report: drawn by tomofuse-metrics' plotting functions into
//! `figures/*.svg` in the run directory, then inlined into `report.html`.

use super::report::Block;
use ndarray::Array2;
use std::path::{Path, PathBuf};
use tomofuse_fusion::{Dataset, Shap};
use tomofuse_metrics::BinaryReport;
use tomofuse_metrics::plots as mp;

/// Where figures go: set once per run.
static FIG_DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

pub fn set_dir(dir: &Path) {
    let _ = std::fs::create_dir_all(dir);
    let _ = FIG_DIR.set(dir.to_path_buf());
}

fn slug(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

/// Draws with `f` into `figures/<name>.svg` and returns the SVG text (None, logged, when the
/// figure cannot be drawn: a missing figure never fails a run).
fn draw(name: &str, f: impl FnOnce(&Path) -> tomofuse_metrics::Result<()>) -> Option<String> {
    let dir = FIG_DIR.get()?;
    let path = dir.join(format!("{}.svg", slug(name)));
    match f(&path)
        .map_err(anyhow::Error::from)
        .and_then(|_| Ok(std::fs::read_to_string(&path)?))
    {
        Ok(svg) => Some(svg),
        Err(e) => {
            log::warn!("figure {name} not drawn: {e:#}");
            None
        }
    }
}

pub fn roc_svg(r: &BinaryReport, title: &str) -> Option<String> {
    draw(title, |p| {
        mp::plot_roc(
            p,
            &[(format!("AUC {:.3}", r.auc), &r.roc)],
            Some(&r.roc_band),
        )
    })
}

/// Calibration and decision curves of a probability score; `what` names the model and set
/// (e.g. "the fused model on the test centre").
pub fn probability_svgs(r: &BinaryReport, what: &str) -> Vec<Block> {
    let Some(pm) = &r.probability else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Some(svg) = draw(&format!("calibration {what}"), |p| {
        mp::plot_calibration(p, &pm.calibration_curve)
    }) {
        out.push(Block::Svg {
            caption: format!("Calibration curve (binned) of {what}"),
            svg,
        });
    }
    if let Some(svg) = draw(&format!("decision curve {what}"), |p| {
        mp::plot_decision_curve(p, &pm.decision_curve)
    }) {
        out.push(Block::Svg {
            caption: format!("Decision curve: net benefit of {what} vs treat-all and treat-none"),
            svg,
        });
    }
    out
}

/// Per-case Dice by set (box plot with every case as a point).
pub fn dice_svg(groups: &[(String, Vec<f64>)]) -> Option<String> {
    draw("dice-distribution", |p| {
        mp::plot_distributions(p, groups, "Dice", (0.0, 1.0))
    })
}

/// SHAP beeswarm over the test cases and waterfalls of the highest- and lowest-risk cases.
pub fn shap_svgs(shap: &Shap, ds: &Dataset, rows: &[usize], cols: &[usize]) -> Vec<Block> {
    let n = shap.n_rows;
    let p = shap.n_features();
    let values = Array2::from_shape_vec((n, p), shap.values.clone()).ok();
    let feats: Vec<f64> = rows
        .iter()
        .flat_map(|&i| cols.iter().map(move |&j| ds.get(i, j) as f64))
        .collect();
    let features = Array2::from_shape_vec((n, p), feats).ok();
    let mut out = Vec::new();
    if let (Some(v), Some(f)) = (&values, &features)
        && let Some(svg) = draw("shap-beeswarm", |path| {
            mp::plot_shap_beeswarm(path, v.view(), f.view(), &shap.feature_names, 15)
        })
    {
        out.push(Block::Svg {
            caption: "SHAP beeswarm of the fused model on the test centre".into(),
            svg,
        });
    }
    if n == 0 {
        return out;
    }
    let hi = (0..n)
        .max_by(|&a, &b| shap.margin[a].total_cmp(&shap.margin[b]))
        .unwrap_or(0);
    let lo = (0..n)
        .min_by(|&a, &b| shap.margin[a].total_cmp(&shap.margin[b]))
        .unwrap_or(0);
    for (tag, i) in [("highest", hi), ("lowest", lo)] {
        let frow: Vec<f64> = cols.iter().map(|&j| ds.get(rows[i], j) as f64).collect();
        if let Some(svg) = draw(&format!("shap-waterfall-{}", ds.ids[rows[i]]), |path| {
            mp::plot_shap_waterfall(
                path,
                shap.bias[i],
                shap.row(i),
                &frow,
                &shap.feature_names,
                10,
            )
        }) {
            out.push(Block::Svg {
                caption: format!(
                    "SHAP waterfall of case {} ({tag} predicted risk on the test centre)",
                    ds.ids[rows[i]]
                ),
                svg,
            });
        }
    }
    out
}

/// Draws with `f` into `figures/<name>.png` and returns it as a report image (None, logged,
/// when it cannot be drawn: a missing figure never fails a run).
fn draw_png(
    name: &str,
    caption: String,
    f: impl FnOnce(&Path) -> tomofuse_metrics::Result<(u32, u32)>,
) -> Option<Block> {
    let dir = FIG_DIR.get()?;
    let path = dir.join(format!("{}.png", slug(name)));
    match f(&path)
        .map_err(anyhow::Error::from)
        .and_then(|wh| Ok((wh, std::fs::read(&path)?)))
    {
        Ok(((width, height), png)) => Some(Block::Image {
            caption,
            png,
            width,
            height,
        }),
        Err(e) => {
            log::warn!("figure {name} not drawn: {e:#}");
            None
        }
    }
}

/// Pixel size the orthogonal-slice panels are drawn at: the volume's largest physical extent
/// spans `SLICE_PANEL_PX` pixels (so a panel is at least that size along its longer side when
/// the volume is roughly cubic).
pub const SLICE_PANEL_PX: f64 = 288.0;

/// Axial, coronal and sagittal slices through `at` side by side
/// ([`tomofuse_metrics::render::orthogonal_panels`]) as a report image.
pub fn orthogonal_slices(
    name: &str,
    caption: String,
    hu: &tomofuse_core::Volume<f32>,
    heat: Option<&tomofuse_core::Volume<f32>>,
    mask: Option<&tomofuse_core::Mask>,
    at: [usize; 3],
    window: (f32, f32),
) -> Option<Block> {
    use tomofuse_metrics::render::{orthogonal_panels, write_panels_png};
    let panels = match orthogonal_panels(hu, heat, mask, at, window, SLICE_PANEL_PX) {
        Ok(p) => p,
        Err(e) => {
            log::warn!("figure {name} not drawn: {e}");
            return None;
        }
    };
    draw_png(name, caption, |p| write_panels_png(p, &panels))
}

/// Side of each rendered view of a mesh (pixels).
pub const MESH_VIEW_PX: usize = 256;

/// Anterior, left lateral and superior renderings of each mesh (one row of three views per
/// mesh, all in one frame fitted to every mesh so their scales and positions compare).
pub fn mesh_views(
    name: &str,
    caption: String,
    meshes: &[(&str, &tomofuse_radiomics::mesh::SurfaceMesh, [u8; 3])],
) -> Vec<Block> {
    use tomofuse_metrics::render::{Frame, LPS_VIEWS, render_mesh, write_panels_png};
    let all: Vec<[f64; 3]> = meshes
        .iter()
        .flat_map(|(_, m, _)| m.vertices.iter().copied())
        .collect();
    let frame = match Frame::fit(&all, MESH_VIEW_PX) {
        Ok(f) => f,
        Err(e) => {
            log::warn!("figure {name} not drawn: {e}");
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for (k, (label, m, colour)) in meshes.iter().enumerate() {
        let mut panels = Vec::new();
        for v in &LPS_VIEWS {
            match render_mesh(&m.vertices, &m.triangles, v, &frame, MESH_VIEW_PX, *colour) {
                Ok(img) => panels.push((format!("{label}, {}", v.name), img)),
                Err(e) => {
                    log::warn!("figure {name} not drawn: {e}");
                    return out;
                }
            }
        }
        let cap = if k == 0 {
            caption.clone()
        } else {
            format!("{label} (same frame as above)")
        };
        if let Some(b) = draw_png(&format!("{name}-{label}"), cap, |p| {
            write_panels_png(p, &panels)
        }) {
            out.push(b);
        }
    }
    out
}

/// Side of the interactive 3D view (pixels).
pub const MESH_VIEWER_PX: usize = 480;

/// The same meshes as [`mesh_views`] in one interactive view (drag to rotate, wheel to zoom,
/// a checkbox per mesh); `None`, with a warning, when they cannot be embedded.
pub fn mesh_viewer(
    id: &str,
    organ: &str,
    meshes: &[(&str, &tomofuse_radiomics::mesh::SurfaceMesh, [u8; 3])],
) -> Option<Block> {
    use tomofuse_metrics::viewer::{ViewerMesh, mesh_viewer_html};
    let views: Vec<ViewerMesh> = meshes
        .iter()
        .map(|(label, m, colour)| ViewerMesh {
            label,
            vertices: &m.vertices,
            triangles: &m.triangles,
            colour: *colour,
        })
        .collect();
    match mesh_viewer_html(id, &views, MESH_VIEWER_PX) {
        Ok(html) => Some(Block::Html {
            caption: format!(
                "Interactive 3D view of the same {organ} surfaces (drag to rotate, wheel to zoom, tick boxes to show or hide a surface); it starts from the front, patient's left on the right. Self-contained: no network access needed"
            ),
            html,
        }),
        Err(e) => {
            log::warn!("interactive 3D view {id} not drawn: {e}");
            None
        }
    }
}
