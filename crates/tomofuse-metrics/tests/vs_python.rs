//! Cross-checks against scikit-learn, scipy, statsmodels and the reference fast DeLong
//! (benches/python/metrics_sklearn.py, metrics_delong.py).

mod common;
use common::*;
use serde_json::json;
use tomofuse_metrics::*;

/// Datasets: different sizes, prevalences and tie densities (scores rounded to 0-3 decimals).
fn datasets() -> Vec<(Dataset, f64)> {
    vec![
        (dataset(1, 200, 0.3, 1.0, 1), 0.4),
        (dataset(2, 609, 0.25, 0.8, 2), 0.3),
        (dataset(3, 57, 0.5, 0.3, 0), 0.0),
        (dataset(4, 1000, 0.1, 1.5, 3), 0.9),
        (dataset(5, 31, 0.4, 2.0, 1), -0.2),
    ]
}

#[test]
fn auc_roc_brier_confusion_calibration_equal_sklearn() {
    let Some(py) = tomofuse_core::python_with(&["sklearn", "numpy", "scipy", "statsmodels"]) else {
        return;
    };
    let ds = datasets();
    let cases: Vec<_> = ds
        .iter()
        .map(|(d, t)| {
            json!({"labels": d.labels.iter().map(|&l| l as u8).collect::<Vec<_>>(),
                   "scores": d.scores, "probs": d.probs, "threshold": t})
        })
        .collect();
    let wilson_in = [
        (0u64, 10u64, 0.95),
        (10, 10, 0.95),
        (7, 23, 0.95),
        (150, 609, 0.9),
        (1, 2, 0.99),
    ];
    let chi2_in = [
        (3.2, 8.0),
        (15.5, 8.0),
        (0.01, 1.0),
        (80.0, 8.0),
        (200.0, 3.0),
    ];
    let ppf_in = vec![1e-12, 0.001, 0.025, 0.3, 0.5, 0.975, 0.999999];
    let out = run_python(
        &py,
        "metrics_sklearn.py",
        &json!({"cases": cases, "wilson": wilson_in.iter().map(|w| json!([w.0, w.1, w.2])).collect::<Vec<_>>(),
                "chi2": chi2_in.iter().map(|c| json!([c.0, c.1])).collect::<Vec<_>>(), "ppf": ppf_in}),
    );
    for (k, ((d, t), r)) in ds.iter().zip(out["cases"].as_array().unwrap()).enumerate() {
        assert_close(
            auc(&d.labels, &d.scores).unwrap(),
            r["auc"].as_f64().unwrap(),
            1e-12,
            &format!("auc case {k}"),
        );
        for (drop, key) in [(false, "roc_full"), (true, "roc_drop")] {
            let roc = roc_curve(&d.labels, &d.scores, drop).unwrap();
            assert_all_close(
                &roc.fpr,
                &f64s(&r[key]["fpr"]),
                1e-12,
                &format!("{key} fpr case {k}"),
            );
            assert_all_close(
                &roc.tpr,
                &f64s(&r[key]["tpr"]),
                1e-12,
                &format!("{key} tpr case {k}"),
            );
            assert_all_close(
                &roc.thresholds[1..],
                &f64s(&r[key]["thresholds"]),
                0.0,
                &format!("{key} thr case {k}"),
            );
            assert!(r[key]["first_is_inf"].as_bool().unwrap() && roc.thresholds[0].is_infinite());
        }
        assert_close(
            brier(&d.labels, &d.probs).unwrap(),
            r["brier"].as_f64().unwrap(),
            1e-12,
            "brier",
        );
        let cm = ConfusionMatrix::from_scores(&d.labels, &d.scores, *t)
            .unwrap()
            .as_sklearn();
        let rc: Vec<Vec<u64>> = serde_json::from_value(r["confusion"].clone()).unwrap();
        assert_eq!(
            vec![cm[0].to_vec(), cm[1].to_vec()],
            rc,
            "confusion case {k}"
        );
        for (strategy, key) in [
            (BinStrategy::Uniform, "calib_uniform"),
            (BinStrategy::Quantile, "calib_quantile"),
        ] {
            let bins = calibration_curve(&d.labels, &d.probs, 10, strategy).unwrap();
            let pt: Vec<f64> = bins.iter().map(|b| b.observed_fraction).collect();
            let pp: Vec<f64> = bins.iter().map(|b| b.mean_predicted).collect();
            assert_all_close(
                &pt,
                &f64s(&r[key]["prob_true"]),
                1e-12,
                &format!("{key} case {k}"),
            );
            assert_all_close(
                &pp,
                &f64s(&r[key]["prob_pred"]),
                1e-12,
                &format!("{key} case {k}"),
            );
        }
        let fit = calibration_fit(&d.labels, &d.probs).unwrap();
        assert_close(
            fit.intercept,
            r["calibration"]["intercept"].as_f64().unwrap(),
            1e-7,
            "calibration intercept",
        );
        assert_close(
            fit.slope,
            r["calibration"]["slope"].as_f64().unwrap(),
            1e-7,
            "calibration slope",
        );
        assert_close(
            fit.slope_fit_intercept,
            r["calibration"]["slope_fit_intercept"].as_f64().unwrap(),
            1e-7,
            "calibration slope-fit intercept",
        );
        let hl = hosmer_lemeshow(&d.labels, &d.probs, 10).unwrap();
        assert_close(
            hl.statistic,
            r["hl"]["statistic"].as_f64().unwrap(),
            1e-10,
            "HL statistic",
        );
        assert_eq!(hl.df as u64, r["hl"]["df"].as_u64().unwrap());
        assert_close(
            hl.p_value,
            r["hl"]["p_value"].as_f64().unwrap(),
            1e-10,
            "HL p-value",
        );
    }
    for ((k, n, lvl), r) in wilson_in.iter().zip(out["wilson"].as_array().unwrap()) {
        let w = wilson(*k, *n, *lvl).unwrap().unwrap();
        let r = f64s(r);
        assert_close(w.lower, r[0], 1e-12, &format!("wilson lower {k}/{n}"));
        assert_close(w.upper, r[1], 1e-12, &format!("wilson upper {k}/{n}"));
    }
    for ((x, df), r) in chi2_in.iter().zip(f64s(&out["chi2"])) {
        let ours = special::chi2_sf(*x, *df);
        assert!(
            ((ours - r) / r).abs() < 1e-10,
            "chi2.sf({x}, {df}): {ours} vs {r}"
        );
    }
    for (p, r) in ppf_in.iter().zip(f64s(&out["ppf"])) {
        assert_close(special::norm_ppf(*p), r, 1e-12, &format!("norm.ppf({p})"));
    }
}

#[test]
fn delong_equals_reference_fast_delong() {
    let Some(py) = tomofuse_core::python_with(&["numpy", "scipy"]) else {
        return;
    };
    // Second model: a noisier, tie-heavy score on the same cases.
    let ds: Vec<(Dataset, Vec<f64>)> = datasets()
        .into_iter()
        .map(|(d, _)| {
            let other = dataset(99, d.labels.len(), 0.3, 0.5, 0);
            let s2: Vec<f64> = d
                .scores
                .iter()
                .zip(&other.scores)
                .map(|(a, b)| ((a + 2.0 * b) * 2.0).round() / 2.0)
                .collect();
            (d, s2)
        })
        .collect();
    let cases: Vec<_> = ds
        .iter()
        .map(|(d, s2)| {
            json!({"labels": d.labels.iter().map(|&l| l as u8).collect::<Vec<_>>(), "scores1": d.scores, "scores2": s2})
        })
        .collect();
    let out = run_python(&py, "metrics_delong.py", &json!({ "cases": cases }));
    for (k, ((d, s2), r)) in ds.iter().zip(out["cases"].as_array().unwrap()).enumerate() {
        let (aucs, cov) = delong_covariance(&d.labels, &[&d.scores, s2]).unwrap();
        let raucs = f64s(&r["aucs"]);
        assert_all_close(&aucs, &raucs, 1e-12, &format!("delong aucs case {k}"));
        let rcov: Vec<Vec<f64>> = serde_json::from_value(r["cov"].clone()).unwrap();
        for i in 0..2 {
            for j in 0..2 {
                assert!(
                    (cov[i][j] - rcov[i][j]).abs() < 1e-9 * rcov[i][j].abs().max(1e-3),
                    "cov[{i}][{j}] case {k}: {} vs {}",
                    cov[i][j],
                    rcov[i][j]
                );
            }
        }
        let t = delong_paired(&d.labels, &d.scores, s2, 0.95).unwrap();
        assert!(
            (t.z.abs() - r["z"].as_f64().unwrap()).abs() < 1e-9,
            "z case {k}: {} vs {}",
            t.z,
            r["z"]
        );
        assert!(
            (t.p_value - r["p"].as_f64().unwrap()).abs() < 1e-9,
            "p case {k}: {} vs {}",
            t.p_value,
            r["p"]
        );
        let one = delong(&d.labels, &d.scores, 0.95, CiMethod::Plain).unwrap();
        assert!((one.variance - rcov[0][0]).abs() < 1e-9 * rcov[0][0].max(1e-3));
    }
}

/// BCa and percentile intervals equal scipy.stats.bootstrap's BCa code applied to our
/// replicates (two-sample AUC statistic, scipy's own jackknife).
#[test]
fn bca_equals_scipy() {
    let Some(py) = tomofuse_core::python_with(&["numpy", "scipy"]) else {
        return;
    };
    for (seed, n, decimals) in [(41u64, 120usize, 1i32), (42, 80, 2)] {
        let d = dataset(seed, n, 0.4, 0.9, decimals);
        let cfg = BootstrapConfig {
            n_resamples: 999,
            seed,
            level: 0.9,
        };
        let ci = bootstrap_auc(&d.labels, &d.scores, &cfg).unwrap();
        let reps =
            bootstrap_auc_replicates(&d.labels, &d.scores, cfg.n_resamples, cfg.seed).unwrap();
        let r = run_python(
            &py,
            "metrics_bca.py",
            &json!({"labels": d.labels, "scores": d.scores, "replicates": reps, "level": cfg.level}),
        );
        assert_close(
            ci.bca.lower,
            r["lower"].as_f64().unwrap(),
            1e-12,
            "BCa lower",
        );
        assert_close(
            ci.bca.upper,
            r["upper"].as_f64().unwrap(),
            1e-12,
            "BCa upper",
        );
        let p = f64s(&r["percentile"]);
        assert_close(ci.percentile.lower, p[0], 1e-12, "percentile lower");
        assert_close(ci.percentile.upper, p[1], 1e-12, "percentile upper");
    }
}
