//! Bootstrap: reproducible from the seed, and the fast counting AUC equals a naive AUC
//! recomputed on the very same resampled indices.

mod common;
use common::*;
use tomofuse_metrics::*;

/// Naive Mann-Whitney AUC over all pairs (half credit for ties), independent of the crate.
fn naive_auc(labels: &[bool], scores: &[f64], idx: &[usize]) -> f64 {
    let pos: Vec<f64> = idx
        .iter()
        .filter(|&&i| labels[i])
        .map(|&i| scores[i])
        .collect();
    let neg: Vec<f64> = idx
        .iter()
        .filter(|&&i| !labels[i])
        .map(|&i| scores[i])
        .collect();
    let mut u = 0.0;
    for &p in &pos {
        for &n in &neg {
            u += if p > n {
                1.0
            } else if p == n {
                0.5
            } else {
                0.0
            };
        }
    }
    u / (pos.len() * neg.len()) as f64
}

#[test]
fn fast_replicates_equal_naive_auc_on_same_resamples() {
    let d = dataset(21, 150, 0.35, 0.7, 1);
    let fast = bootstrap_auc_replicates(&d.labels, &d.scores, 300, 42).unwrap();
    let naive = stratified_bootstrap(&d.labels, 300, 42, |idx| {
        naive_auc(&d.labels, &d.scores, idx)
    })
    .unwrap();
    for (b, (f, n)) in fast.iter().zip(&naive).enumerate() {
        assert!((f - n).abs() < 1e-12, "resample {b}: {f} vs {n}");
    }
    // The resamples are stratified: every one has exactly the original class counts.
    let n_pos = d.labels.iter().filter(|&&l| l).count();
    let counts = stratified_bootstrap(&d.labels, 50, 3, |idx| {
        idx.iter().filter(|&&i| d.labels[i]).count() as f64
    })
    .unwrap();
    assert!(counts.iter().all(|&c| c == n_pos as f64));
}

#[test]
fn reproducible_from_seed_and_seed_sensitive() {
    let d = dataset(22, 609, 0.3, 0.8, 2);
    let cfg = BootstrapConfig {
        seed: 123,
        ..Default::default()
    };
    let a = bootstrap_auc(&d.labels, &d.scores, &cfg).unwrap();
    let b = bootstrap_auc(&d.labels, &d.scores, &cfg).unwrap();
    assert_eq!(a.percentile, b.percentile);
    assert_eq!(a.bca, b.bca);
    assert_eq!(a.n_resamples, 2000);
    // Same on a 1-thread pool: no dependence on scheduling.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let c = pool.install(|| bootstrap_auc(&d.labels, &d.scores, &cfg).unwrap());
    assert_eq!(a.percentile, c.percentile);
    let other = bootstrap_auc(&d.labels, &d.scores, &BootstrapConfig { seed: 124, ..cfg }).unwrap();
    assert_ne!(a.percentile, other.percentile);
    // Sanity against DeLong: the bootstrap SE and the DeLong SE agree to ~10 %.
    let dl = delong(&d.labels, &d.scores, 0.95, CiMethod::Plain).unwrap();
    assert!(
        (a.std_error / dl.std_error - 1.0).abs() < 0.1,
        "{} vs {}",
        a.std_error,
        dl.std_error
    );
    assert!(a.percentile.lower < a.estimate && a.estimate < a.percentile.upper);
    assert!(a.bca.lower < a.estimate && a.estimate < a.bca.upper);
}

/// Paired bootstrap of the difference of a model with itself is exactly 0 on every resample.
#[test]
fn paired_difference_of_identical_models_is_zero() {
    let d = dataset(23, 120, 0.4, 0.5, 1);
    let r = bootstrap_auc_difference(&d.labels, &d.scores, &d.scores, &BootstrapConfig::default())
        .unwrap();
    assert_eq!(
        (r.percentile.lower, r.percentile.upper, r.estimate),
        (0.0, 0.0, 0.0)
    );
}

#[test]
fn roc_band_brackets_the_curve() {
    let d = dataset(24, 300, 0.3, 1.0, 2);
    let grid: Vec<f64> = (0..=20).map(|i| i as f64 / 20.0).collect();
    let band =
        bootstrap_roc_band(&d.labels, &d.scores, &grid, &BootstrapConfig::default()).unwrap();
    assert!(
        band.tpr_lower
            .iter()
            .zip(&band.tpr_upper)
            .all(|(l, u)| l <= u)
    );
    assert_eq!(*band.tpr_upper.last().unwrap(), 1.0);
}

/// Draws are uniform within each class: chi-square of the per-case draw counts over 20 000
/// resamples against the uniform expectation (df = class size − 1), threshold p = 1e-6.
#[test]
fn resampling_is_uniform_within_class() {
    let labels: Vec<bool> = (0..23).map(|i| i % 3 == 0).collect();
    let n = labels.len();
    let counts = std::sync::Mutex::new(vec![0u64; n]);
    stratified_bootstrap(&labels, 20_000, 5, |idx| {
        let mut c = counts.lock().unwrap();
        for &i in idx {
            c[i] += 1;
        }
        0.0
    })
    .unwrap();
    let counts = counts.into_inner().unwrap();
    for class in [true, false] {
        let members: Vec<usize> = (0..n).filter(|&i| labels[i] == class).collect();
        let expected = 20_000.0; // each resample draws |class| times from |class| members
        let chi2: f64 = members
            .iter()
            .map(|&i| (counts[i] as f64 - expected).powi(2) / expected)
            .sum();
        let p = special::chi2_sf(chi2, (members.len() - 1) as f64);
        assert!(p > 1e-6, "class {class}: chi2 {chi2} p {p}");
    }
}

#[test]
fn stratified_mean_ci_keeps_each_stratum_and_brackets_the_mean() {
    use tomofuse_metrics::bootstrap::{mean_sd, stratified_mean_ci};
    let cfg = BootstrapConfig {
        n_resamples: 500,
        seed: 3,
        level: 0.95,
    };
    // Values equal to their stratum's label: a stratified replicate always draws 3 ones and
    // 7 zeros, so its mean is exactly 0.3 and the interval collapses on it.
    let labels: Vec<bool> = (0..10).map(|i| i < 3).collect();
    let values: Vec<f64> = labels.iter().map(|&l| f64::from(u8::from(l))).collect();
    let (m, ci) = stratified_mean_ci(&values, &labels, &cfg).unwrap();
    assert!((m - 0.3).abs() < 1e-15);
    assert!((ci.lower - 0.3).abs() < 1e-12 && (ci.upper - 0.3).abs() < 1e-12);
    // Spread within strata: the interval brackets the sample mean and lies inside the range.
    let values: Vec<f64> = (0..10).map(|i| 0.5 + 0.04 * i as f64).collect();
    let (m, ci) = stratified_mean_ci(&values, &labels, &cfg).unwrap();
    assert!((m - 0.68).abs() < 1e-12);
    assert!(ci.lower < m && m < ci.upper && ci.lower >= 0.5 && ci.upper <= 0.86);
    assert!(stratified_mean_ci(&values[..9], &labels, &cfg).is_err());
    assert!(stratified_mean_ci(&values, &[true; 10], &cfg).is_err());
    // Mean and sample SD by hand: 1, 2, 3, 4 -> 2.5 and sqrt(5 / 3).
    let (m, sd) = mean_sd(&[1.0, 2.0, 3.0, 4.0]);
    assert_eq!(m, Some(2.5));
    assert!((sd.unwrap() - (5.0f64 / 3.0).sqrt()).abs() < 1e-15);
    assert_eq!(mean_sd(&[7.0]), (Some(7.0), None));
    assert_eq!(mean_sd(&[]), (None, None));
}
