//! Plots render to SVG and PNG without error and produce non-trivial files (feature `plots`).
#![cfg(feature = "plots")]

mod common;
use common::*;
use ndarray::Array2;
use tomofuse_metrics::plots::*;
use tomofuse_metrics::*;

#[test]
fn all_plots_render_svg_and_png() {
    let d = dataset(31, 300, 0.3, 1.0, 2);
    let dir = tempfile::tempdir().unwrap();
    let roc = roc_curve(&d.labels, &d.scores, true).unwrap();
    let grid: Vec<f64> = (0..=50).map(|i| i as f64 / 50.0).collect();
    let band =
        bootstrap_roc_band(&d.labels, &d.scores, &grid, &BootstrapConfig::default()).unwrap();
    let bins = calibration_curve(&d.labels, &d.probs, 10, BinStrategy::Uniform).unwrap();
    let thr: Vec<f64> = (1..100).map(|i| i as f64 / 100.0).collect();
    let dc = decision_curve(&d.labels, &d.probs, &thr).unwrap();
    let cm = ConfusionMatrix::from_scores(&d.labels, &d.scores, 0.5).unwrap();
    let (n, p) = (60, 8);
    let feats = Array2::from_shape_fn((n, p), |(i, j)| ((i * 7 + j * 13) % 17) as f64);
    let shap = Array2::from_shape_fn((n, p), |(i, j)| {
        (feats[[i, j]] - 8.0) * 0.01 * (j + 1) as f64
    });
    let names: Vec<String> = (0..p).map(|j| format!("feature_{j}")).collect();
    for ext in ["svg", "png"] {
        let f = |name: &str| dir.path().join(format!("{name}.{ext}"));
        plot_roc(&f("roc"), &[("model".to_string(), &roc)], Some(&band)).unwrap();
        plot_calibration(&f("calibration"), &bins).unwrap();
        plot_decision_curve(&f("decision"), &dc).unwrap();
        plot_confusion_matrix(&f("confusion"), &cm, 0.5).unwrap();
        plot_shap_beeswarm(&f("beeswarm"), shap.view(), feats.view(), &names, 6).unwrap();
        let row: Vec<f64> = shap.row(3).to_vec();
        let frow: Vec<f64> = feats.row(3).to_vec();
        plot_shap_waterfall(&f("waterfall"), -0.4, &row, &frow, &names, 5).unwrap();
        for name in [
            "roc",
            "calibration",
            "decision",
            "confusion",
            "beeswarm",
            "waterfall",
        ] {
            let len = std::fs::metadata(f(name)).unwrap().len();
            assert!(len > 2000, "{name}.{ext} is only {len} bytes");
        }
    }
    // SVG carries the text labels (axis descriptions), proving text layout worked.
    let svg = std::fs::read_to_string(dir.path().join("roc.svg")).unwrap();
    assert!(svg.contains("Sensitivity"));
    assert!(matches!(
        plot_roc(
            &dir.path().join("roc.pdf"),
            &[("m".to_string(), &roc)],
            None
        ),
        Err(MetricsError::Plot { .. })
    ));
    if let Ok(keep) = std::env::var("TOMOFUSE_KEEP_PLOTS") {
        for e in std::fs::read_dir(dir.path()).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), std::path::Path::new(&keep).join(e.file_name())).unwrap();
        }
    }
}

/// The distribution plot draws one marker per finite value (NaN left out), labels the groups,
/// and refuses data with no finite value.
#[test]
fn distribution_plot_draws_every_value() {
    let dir = tempfile::tempdir().unwrap();
    let groups = vec![
        ("train".to_string(), vec![0.80, 0.85, 0.9, 0.7, f64::NAN]),
        ("validation".to_string(), vec![0.6, 0.95]),
        ("external".to_string(), vec![]),
    ];
    let path = dir.path().join("dice.svg");
    plot_distributions(&path, &groups, "Dice", (0.0, 1.0)).unwrap();
    let svg = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        svg.matches("<circle").count(),
        6,
        "one point per finite value"
    );
    for g in ["train", "validation", "external"] {
        assert!(svg.contains(g), "group label {g} missing");
    }
    let empty = vec![("a".to_string(), vec![f64::NAN])];
    assert!(plot_distributions(&dir.path().join("e.svg"), &empty, "Dice", (0.0, 1.0)).is_err());
}
