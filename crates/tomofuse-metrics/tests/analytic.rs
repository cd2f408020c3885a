//! Checks against independent naive computations and analytic identities.

mod common;
use common::*;
use ndarray::Array2;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use tomofuse_metrics::*;

fn naive_auc(labels: &[bool], scores: &[f64]) -> f64 {
    let mut u = 0.0;
    let mut pairs = 0.0;
    for (i, &li) in labels.iter().enumerate() {
        for (j, &lj) in labels.iter().enumerate() {
            if li && !lj {
                pairs += 1.0;
                u += if scores[i] > scores[j] {
                    1.0
                } else if scores[i] == scores[j] {
                    0.5
                } else {
                    0.0
                };
            }
        }
    }
    u / pairs
}

/// Youden threshold equals a brute-force search over every distinct score.
#[test]
fn youden_equals_bruteforce() {
    for seed in 0..5 {
        let d = dataset(100 + seed, 150, 0.35, 0.8, 1);
        let mut cands = d.scores.clone();
        cands.sort_by(|a, b| b.partial_cmp(a).unwrap());
        cands.dedup();
        let (mut best_t, mut best_j) = (f64::NAN, f64::NEG_INFINITY);
        for &t in &cands {
            let cm = ConfusionMatrix::from_scores(&d.labels, &d.scores, t).unwrap();
            let j = cm.tp as f64 / (cm.tp + cm.fn_) as f64 + cm.tn as f64 / (cm.tn + cm.fp) as f64
                - 1.0;
            if j > best_j + 1e-15 {
                best_j = j;
                best_t = t;
            }
        }
        let (t, j) = youden_threshold(&d.labels, &d.scores).unwrap();
        assert_eq!(t, best_t, "seed {seed}");
        assert!((j - best_j).abs() < 1e-12);
    }
}

/// Permutation importance: a feature the model ignores has exactly zero drop; the used
/// feature's drops equal a naive AUC recomputed on the documented shuffle.
#[test]
fn permutation_importance_matches_naive() {
    let d = dataset(200, 120, 0.4, 1.0, 2);
    let n = d.labels.len();
    let x = Array2::from_shape_fn((n, 3), |(i, j)| match j {
        0 => d.scores[i],
        1 => (i % 7) as f64,
        _ => d.probs[i],
    });
    // Model: uses feature 0 only.
    let imp = permutation_importance(x.view(), &d.labels, 4, 9, |m| m.column(0).to_vec()).unwrap();
    assert_eq!(imp.len(), 3);
    assert!(imp[1].drops.iter().chain(&imp[2].drops).all(|&v| v == 0.0));
    let base = naive_auc(&d.labels, &d.scores);
    for r in 0..4 {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        rng.set_stream(r as u64); // feature 0: stream 0 * n_repeats + r
        let mut col = d.scores.clone();
        col.shuffle(&mut rng);
        let expected = base - naive_auc(&d.labels, &col);
        assert!((imp[0].drops[r] - expected).abs() < 1e-12, "repeat {r}");
    }
    assert!(imp[0].mean_drop > 0.1, "{:?}", imp[0]);
}

/// Logit DeLong CI is symmetric on the logit scale with half-width z·SE/(AUC(1−AUC)); the
/// plain CI is AUC ± z·SE.
#[test]
fn delong_ci_forms() {
    let d = dataset(300, 200, 0.3, 1.2, 2);
    let plain = delong(&d.labels, &d.scores, 0.95, CiMethod::Plain).unwrap();
    let logit = delong(&d.labels, &d.scores, 0.95, CiMethod::Logit).unwrap();
    let z = 1.959_963_984_540_054;
    let a = plain.auc;
    assert!((plain.ci.upper - (a + z * plain.std_error)).abs() < 1e-12);
    let lg = |p: f64| (p / (1.0 - p)).ln();
    assert!((lg(logit.ci.lower) + lg(logit.ci.upper) - 2.0 * lg(a)).abs() < 1e-9);
    assert!((lg(logit.ci.upper) - lg(a) - z * logit.std_error / (a * (1.0 - a))).abs() < 1e-9);
    assert!((naive_auc(&d.labels, &d.scores) - a).abs() < 1e-12);
}

/// Threshold metrics follow from the confusion matrix; undefined proportions are None.
#[test]
fn threshold_metrics_definitions() {
    let labels = [true, true, true, false, false, false, false];
    let scores = [0.9, 0.6, 0.2, 0.7, 0.3, 0.1, 0.05];
    let m = threshold_metrics(&labels, &scores, 0.5, 0.95).unwrap();
    assert_eq!(
        (
            m.confusion.tp,
            m.confusion.fn_,
            m.confusion.fp,
            m.confusion.tn
        ),
        (2, 1, 1, 3)
    );
    assert_eq!(m.sensitivity.unwrap().estimate, 2.0 / 3.0);
    assert_eq!(m.specificity.unwrap().estimate, 0.75);
    assert_eq!(m.ppv.unwrap().estimate, 2.0 / 3.0);
    assert_eq!(m.npv.unwrap().estimate, 0.75);
    assert_eq!(m.f1.unwrap(), 4.0 / 6.0);
    let none = threshold_metrics(&labels, &scores, 2.0, 0.95).unwrap();
    assert!(none.ppv.is_none());
    assert_eq!(none.sensitivity.unwrap().estimate, 0.0);
}

/// Full report: probability parts present for probabilities, absent (with a note) otherwise;
/// invalid input is a typed error.
#[test]
fn binary_report_sections_and_errors() {
    let d = dataset(400, 300, 0.3, 1.0, 3);
    let opts = BinaryReportOptions {
        bootstrap: BootstrapConfig {
            n_resamples: 200,
            ..Default::default()
        },
        ..Default::default()
    };
    let r = binary_report(&d.labels, &d.probs, Some(&d.scores), &opts).unwrap();
    assert!(r.probability.is_some() && r.comparison.is_some());
    let r2 = binary_report(&d.labels, &d.scores, None, &opts).unwrap();
    assert!(r2.probability.is_none() && r2.notes.iter().any(|n| n.contains("not probabilities")));
    let mut bad = d.probs.clone();
    bad[5] = f64::NAN;
    assert!(matches!(
        binary_report(&d.labels, &bad, None, &opts),
        Err(MetricsError::NonFinite { index: 5, .. })
    ));
    assert!(matches!(
        binary_report(&d.labels[..10], &d.probs, None, &opts),
        Err(MetricsError::LengthMismatch { .. })
    ));
    assert!(matches!(
        brier(&[true], &[1.5]),
        Err(MetricsError::OutOfRange { index: 0, .. })
    ));
}
