//! Stratified bootstrap confidence intervals (percentile and BCa), seeded and reproducible.
//!
//! Resampling is stratified by outcome (n₁ positives drawn from the positives, n₀ negatives
//! from the negatives, with replacement), so every resample has both classes and the AUC is
//! always defined. Resample `b` uses `ChaCha8Rng::seed_from_u64(seed)` on stream `b`: the
//! replicates do not depend on the thread count or scheduling.
//!
//! The AUC path never re-sorts: scores are grouped by distinct value once, a resample only adds
//! multiplicities to the groups, and its AUC is one pass over the groups (O(n) per resample).

use crate::delong::placements;
use crate::error::{MetricsError, Result, check_scores, check_two_classes};
use crate::roc::{TieGroups, auc_from_counts};
use crate::special::{norm_cdf, norm_ppf};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::Serialize;

/// Number of resamples used when the caller has no reason to choose another.
pub const DEFAULT_RESAMPLES: usize = 2000;

/// Bootstrap settings.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct BootstrapConfig {
    pub n_resamples: usize,
    pub seed: u64,
    /// Two-sided confidence level, e.g. 0.95.
    pub level: f64,
}

impl Default for BootstrapConfig {
    fn default() -> Self {
        BootstrapConfig {
            n_resamples: DEFAULT_RESAMPLES,
            seed: 0,
            level: 0.95,
        }
    }
}

impl BootstrapConfig {
    fn check(&self) -> Result<()> {
        if self.n_resamples < 2 {
            return Err(MetricsError::InvalidArgument {
                name: "n_resamples",
                reason: format!("{} (need at least 2)", self.n_resamples),
            });
        }
        check_level(self.level)
    }
}

pub(crate) fn check_level(level: f64) -> Result<()> {
    if !(level > 0.0 && level < 1.0) {
        return Err(MetricsError::InvalidArgument {
            name: "level",
            reason: format!("{level} (must be in (0, 1))"),
        });
    }
    Ok(())
}

/// A two-sided interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Interval {
    pub lower: f64,
    pub upper: f64,
}

/// A bootstrap CI of one statistic.
#[derive(Debug, Clone, Serialize)]
pub struct BootstrapCi {
    pub estimate: f64,
    /// Standard deviation of the replicates (ddof = 1).
    pub std_error: f64,
    pub percentile: Interval,
    /// Bias-corrected and accelerated (Efron 1987); acceleration from the leave-one-out
    /// jackknife.
    pub bca: Interval,
    pub n_resamples: usize,
    pub seed: u64,
    pub level: f64,
}

/// The RNG of resample `b`: one ChaCha8 stream per resample.
#[inline]
fn resample_rng(seed: u64, b: usize) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(b as u64);
    rng
}

/// Uniform integer in 0..range from a 32-bit word (Lemire's multiply-shift with rejection, so
/// exactly uniform); `rng` supplies the rare redraws.
#[inline]
fn bounded(mut x: u32, range: u32, rng: &mut ChaCha8Rng) -> u32 {
    let mut m = x as u64 * range as u64;
    let mut l = m as u32;
    if l < range {
        let t = range.wrapping_neg() % range;
        while l < t {
            x = rng.next_u32();
            m = x as u64 * range as u64;
            l = m as u32;
        }
    }
    (m >> 32) as u32
}

/// Uniform integer in 0..range (range <= 2¹⁶) from a 16-bit word, same method as [`bounded`].
#[inline]
fn bounded16(mut x: u16, range: u32, rng: &mut ChaCha8Rng) -> u32 {
    let mut m = x as u32 * range;
    let mut l = m as u16 as u32;
    if l < range {
        let t = (1u32 << 16) % range;
        while l < t {
            x = rng.next_u32() as u16;
            m = x as u32 * range;
            l = m as u16 as u32;
        }
    }
    m >> 16
}

/// Draws `n_pos` positive and `n_neg` negative indices for resample `b` into `buf` (positives
/// first, as indices into the positive / negative lists). Classes of at most 2¹⁶ cases use
/// 16 random bits per draw (half the ChaCha output, the dominant cost).
#[inline]
fn draw(seed: u64, b: usize, n_pos: usize, n_neg: usize, buf: &mut Vec<u32>) {
    let mut rng = resample_rng(seed, b);
    let n = n_pos + n_neg;
    buf.resize(n, 0);
    if n_pos.max(n_neg) <= 1 << 16 {
        // Random u16 words live in a tail of ceil(n/2) u32 after the n outputs; two branch-free
        // loops (one per class) map them to indices, then the tail is cut off again.
        let half = n.div_ceil(2);
        buf.resize(n + half, 0);
        let (out, tail) = buf.split_at_mut(n);
        rng.fill_bytes(bytemuck_u32(tail));
        let rnd = as_u16(tail);
        map_class16(&mut out[..n_pos], &rnd[..n_pos], n_pos as u32, &mut rng);
        map_class16(&mut out[n_pos..], &rnd[n_pos..n], n_neg as u32, &mut rng);
        buf.truncate(n);
    } else {
        rng.fill_bytes(bytemuck_u32(buf));
        for x in buf[..n_pos].iter_mut() {
            *x = bounded(*x, n_pos as u32, &mut rng);
        }
        for x in buf[n_pos..].iter_mut() {
            *x = bounded(*x, n_neg as u32, &mut rng);
        }
    }
}

/// Map 16-bit words to indices in 0..range: a branch-free multiply-shift pass that only flags
/// rejections, then (rarely) a second pass redrawing the flagged entries in order. Same
/// result as calling [`bounded16`] on each word in turn.
#[inline]
fn map_class16(out: &mut [u32], rnd: &[u16], range: u32, rng: &mut ChaCha8Rng) {
    let t = (1u32 << 16) % range;
    let mut reject = false;
    for (o, &x) in out.iter_mut().zip(rnd) {
        let m = x as u32 * range;
        reject |= (m & 0xffff) < t;
        *o = m >> 16;
    }
    if reject {
        for (o, &x) in out.iter_mut().zip(rnd) {
            if ((x as u32 * range) & 0xffff) < t {
                *o = bounded16(x, range, rng);
            }
        }
    }
}

/// View u32 words as u16 halves (native order).
fn as_u16(buf: &[u32]) -> &[u16] {
    // SAFETY: u16 has no invalid bit patterns and alignment 2 <= 4; the view covers exactly the
    // same memory, immutably, for the borrow's lifetime.
    unsafe { std::slice::from_raw_parts(buf.as_ptr() as *const u16, buf.len() * 2) }
}

/// View a u32 buffer as bytes for `fill_bytes` (the words are then read back in native order;
/// only their uniformity matters, and the result is the same on every little-endian machine).
fn bytemuck_u32(buf: &mut [u32]) -> &mut [u8] {
    // SAFETY: u32 has no invalid bit patterns and alignment 4 >= 1; the byte slice covers
    // exactly the same memory and borrows it mutably for its lifetime.
    unsafe { std::slice::from_raw_parts_mut(buf.as_mut_ptr() as *mut u8, buf.len() * 4) }
}

/// Per model: tie-group id of the k-th positive and the k-th negative.
struct Prepared {
    pos_group: Vec<u32>,
    neg_group: Vec<u32>,
    n_groups: usize,
}

fn prepare(labels: &[bool], scores: &[f64]) -> Prepared {
    let g = TieGroups::new(labels, scores);
    let mut pos_group = Vec::new();
    let mut neg_group = Vec::new();
    for (i, &l) in labels.iter().enumerate() {
        if l {
            pos_group.push(g.group_of[i]);
        } else {
            neg_group.push(g.group_of[i]);
        }
    }
    Prepared {
        pos_group,
        neg_group,
        n_groups: g.values.len(),
    }
}

/// Bootstrap AUC replicates of several models on the same resamples (paired), `[model][b]`.
fn auc_replicates_multi(
    labels: &[bool],
    models: &[&[f64]],
    n_resamples: usize,
    seed: u64,
) -> Result<Vec<Vec<f64>>> {
    for s in models {
        check_scores(labels, s, "scores")?;
    }
    let (n_pos, n_neg) = check_two_classes(labels)?;
    let prepared: Vec<Prepared> = models.iter().map(|s| prepare(labels, s)).collect();
    let per_resample: Vec<Vec<f64>> = (0..n_resamples)
        .into_par_iter()
        .map_init(
            || {
                let counts: Vec<(Vec<u32>, Vec<u32>)> = prepared
                    .iter()
                    .map(|p| (vec![0u32; p.n_groups], vec![0u32; p.n_groups]))
                    .collect();
                (Vec::<u32>::new(), counts)
            },
            |(buf, counts), b| {
                draw(seed, b, n_pos, n_neg, buf);
                prepared
                    .iter()
                    .zip(counts.iter_mut())
                    .map(|(p, (cp, cn))| {
                        cp.fill(0);
                        cn.fill(0);
                        // Indices come from `bounded` and are < n_pos / n_neg by construction.
                        for &k in &buf[..n_pos] {
                            cp[p.pos_group[k as usize] as usize] += 1;
                        }
                        for &k in &buf[n_pos..] {
                            cn[p.neg_group[k as usize] as usize] += 1;
                        }
                        auc_from_counts(cp, cn)
                    })
                    .collect()
            },
        )
        .collect();
    Ok((0..models.len())
        .map(|m| per_resample.iter().map(|r| r[m]).collect())
        .collect())
}

/// Stratified bootstrap replicates of the AUC (resample order, reproducible from `seed`).
pub fn bootstrap_auc_replicates(
    labels: &[bool],
    scores: &[f64],
    n_resamples: usize,
    seed: u64,
) -> Result<Vec<f64>> {
    Ok(auc_replicates_multi(labels, &[scores], n_resamples, seed)?.remove(0))
}

/// Leave-one-out jackknife AUCs per stratum from the DeLong placement values (O(n)): removing
/// positive i gives (n₁·AUC − V10ᵢ)/(n₁ − 1), removing negative j gives (n₀·AUC − V01ⱼ)/(n₀ − 1).
/// Returns [positives' values, negatives' values].
fn jackknife_auc(labels: &[bool], scores: &[f64]) -> Vec<Vec<f64>> {
    let (auc, v_pos, v_neg) = placements(labels, scores);
    let (n1, n0) = (v_pos.len() as f64, v_neg.len() as f64);
    let pos = if n1 > 1.0 {
        v_pos.iter().map(|v| (n1 * auc - v) / (n1 - 1.0)).collect()
    } else {
        Vec::new()
    };
    let neg = if n0 > 1.0 {
        v_neg.iter().map(|v| (n0 * auc - v) / (n0 - 1.0)).collect()
    } else {
        Vec::new()
    };
    vec![pos, neg]
}

/// Stratified bootstrap CI of the AUC (percentile and BCa).
pub fn bootstrap_auc(
    labels: &[bool],
    scores: &[f64],
    cfg: &BootstrapConfig,
) -> Result<BootstrapCi> {
    cfg.check()?;
    let estimate = crate::roc::auc(labels, scores)?;
    let reps = bootstrap_auc_replicates(labels, scores, cfg.n_resamples, cfg.seed)?;
    let jack = jackknife_auc(labels, scores);
    Ok(summarise(estimate, reps, &jack, cfg))
}

/// Paired stratified bootstrap CI of AUC₁ − AUC₂ (both models scored on the same resamples).
pub fn bootstrap_auc_difference(
    labels: &[bool],
    scores1: &[f64],
    scores2: &[f64],
    cfg: &BootstrapConfig,
) -> Result<BootstrapCi> {
    cfg.check()?;
    let est = crate::roc::auc(labels, scores1)? - crate::roc::auc(labels, scores2)?;
    let mut reps = auc_replicates_multi(labels, &[scores1, scores2], cfg.n_resamples, cfg.seed)?;
    let r2 = reps.pop().unwrap_or_default();
    let r1 = reps.pop().unwrap_or_default();
    let diff: Vec<f64> = r1.iter().zip(&r2).map(|(a, b)| a - b).collect();
    let j1 = jackknife_auc(labels, scores1);
    let j2 = jackknife_auc(labels, scores2);
    let jack: Vec<Vec<f64>> = j1
        .iter()
        .zip(&j2)
        .map(|(a, b)| a.iter().zip(b).map(|(x, y)| x - y).collect())
        .collect();
    Ok(summarise(est, diff, &jack, cfg))
}

/// Generic stratified bootstrap of any statistic: `stat` receives the resampled observation
/// indices (positives first, then negatives) and returns the statistic.
pub fn stratified_bootstrap<F>(
    labels: &[bool],
    n_resamples: usize,
    seed: u64,
    stat: F,
) -> Result<Vec<f64>>
where
    F: Fn(&[usize]) -> f64 + Sync,
{
    if labels.is_empty() {
        return Err(MetricsError::Empty { what: "labels" });
    }
    let (n_pos, n_neg) = check_two_classes(labels)?;
    let pos: Vec<usize> = (0..labels.len()).filter(|&i| labels[i]).collect();
    let neg: Vec<usize> = (0..labels.len()).filter(|&i| !labels[i]).collect();
    Ok((0..n_resamples)
        .into_par_iter()
        .map_init(
            || (Vec::<u32>::new(), Vec::<usize>::new()),
            |(buf, idx), b| {
                draw(seed, b, n_pos, n_neg, buf);
                idx.clear();
                idx.extend(buf[..n_pos].iter().map(|&k| pos[k as usize]));
                idx.extend(buf[n_pos..].iter().map(|&k| neg[k as usize]));
                stat(idx)
            },
        )
        .collect())
}

/// Mean of `values` with the percentile interval of a bootstrap stratified by `labels`
/// (positives and negatives resampled separately, as the AUC's CIs are, so every replicate
/// keeps the set's class balance). Errors on fewer than two values or a single class.
pub fn stratified_mean_ci(
    values: &[f64],
    labels: &[bool],
    cfg: &BootstrapConfig,
) -> Result<(f64, Interval)> {
    if values.len() != labels.len() {
        return Err(MetricsError::LengthMismatch {
            left: "values",
            left_len: values.len(),
            right: "labels",
            right_len: labels.len(),
        });
    }
    if values.len() < 2 {
        return Err(MetricsError::Empty {
            what: "values (a bootstrap needs at least two)",
        });
    }
    let mean = |idx: &[usize]| idx.iter().map(|&i| values[i]).sum::<f64>() / idx.len() as f64;
    let mut r = stratified_bootstrap(labels, cfg.n_resamples, cfg.seed, mean)?;
    r.sort_by(f64::total_cmp);
    let a = (1.0 - cfg.level) / 2.0;
    let all: Vec<usize> = (0..values.len()).collect();
    Ok((
        mean(&all),
        Interval {
            lower: quantile_sorted(&r, a),
            upper: quantile_sorted(&r, 1.0 - a),
        },
    ))
}

/// Mean and sample standard deviation (n - 1); None for the mean of nothing and for the SD
/// of fewer than two values.
pub fn mean_sd(v: &[f64]) -> (Option<f64>, Option<f64>) {
    if v.is_empty() {
        return (None, None);
    }
    let m = v.iter().sum::<f64>() / v.len() as f64;
    let sd = (v.len() > 1)
        .then(|| (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64).sqrt());
    (Some(m), sd)
}

/// Percentile, BCa and standard error from replicates and the leave-one-out jackknife values
/// of each stratum (one inner vector per resampled group; a single group for an unstratified
/// bootstrap).
pub fn summarise(
    estimate: f64,
    replicates: Vec<f64>,
    jackknife: &[Vec<f64>],
    cfg: &BootstrapConfig,
) -> BootstrapCi {
    let mut sorted = replicates;
    sorted.sort_unstable_by(f64::total_cmp);
    let alpha = (1.0 - cfg.level) / 2.0;
    let percentile = Interval {
        lower: quantile_sorted(&sorted, alpha),
        upper: quantile_sorted(&sorted, 1.0 - alpha),
    };
    let bca = bca_interval(estimate, &sorted, jackknife, cfg.level);
    let n = sorted.len() as f64;
    let mean = sorted.iter().sum::<f64>() / n;
    let std_error = (sorted.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    BootstrapCi {
        estimate,
        std_error,
        percentile,
        bca,
        n_resamples: cfg.n_resamples,
        seed: cfg.seed,
        level: cfg.level,
    }
}

/// Quantile of sorted data with linear interpolation (numpy's default `method="linear"`).
pub fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let h = (sorted.len() - 1) as f64 * q.clamp(0.0, 1.0);
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

/// BCa interval (Efron & Tibshirani 1993, 14.3 and 15.36). Bias correction
/// z₀ = Φ⁻¹((#{θ* < θ̂} + #{θ* ≤ θ̂}) / 2B) (ties half, as `scipy.stats.bootstrap`), clamped to
/// [1/2B, 1 − 1/2B] so a degenerate distribution still gives a finite interval. Acceleration
/// from the per-stratum jackknife exactly as scipy's multi-sample BCa:
/// Uⱼᵢ = (nⱼ − 1)(θ̄ⱼ − θⱼᵢ), a = Σⱼ Σᵢ Uⱼᵢ³/nⱼ³ / (6 (Σⱼ Σᵢ Uⱼᵢ²/nⱼ²)^{3/2}).
pub fn bca_interval(estimate: f64, sorted: &[f64], jackknife: &[Vec<f64>], level: f64) -> Interval {
    let b = sorted.len() as f64;
    let below = sorted.partition_point(|&x| x < estimate) as f64;
    let at_or_below = sorted.partition_point(|&x| x <= estimate) as f64;
    let prop = ((below + at_or_below) / (2.0 * b)).clamp(0.5 / b, 1.0 - 0.5 / b);
    let z0 = norm_ppf(prop);
    let (mut num, mut den) = (0.0, 0.0);
    for stratum in jackknife.iter().filter(|s| s.len() > 1) {
        let n = stratum.len() as f64;
        let m = stratum.iter().sum::<f64>() / n;
        for &t in stratum {
            let u = (n - 1.0) * (m - t);
            num += u * u * u / (n * n * n);
            den += u * u / (n * n);
        }
    }
    let a = if den > 0.0 {
        num / (6.0 * den.powf(1.5))
    } else {
        0.0
    };
    let alpha = (1.0 - level) / 2.0;
    let adj = |q: f64| {
        let z = norm_ppf(q);
        norm_cdf(z0 + (z0 + z) / (1.0 - a * (z0 + z)))
    };
    Interval {
        lower: quantile_sorted(sorted, adj(alpha)),
        upper: quantile_sorted(sorted, adj(1.0 - alpha)),
    }
}

/// Pointwise bootstrap band of the ROC curve: TPR at each `fpr_grid` value (step-function
/// ROC, the highest TPR reached at FPR ≤ x), percentile interval per grid point.
#[derive(Debug, Clone, Serialize)]
pub struct RocBand {
    pub fpr: Vec<f64>,
    pub tpr_lower: Vec<f64>,
    pub tpr_upper: Vec<f64>,
    pub level: f64,
}

/// Bootstrap band of sensitivity at fixed specificities (pROC's `ci.se` idea), on the same
/// seeded stratified resamples as [`bootstrap_auc`].
pub fn bootstrap_roc_band(
    labels: &[bool],
    scores: &[f64],
    fpr_grid: &[f64],
    cfg: &BootstrapConfig,
) -> Result<RocBand> {
    cfg.check()?;
    check_scores(labels, scores, "scores")?;
    let (n_pos, n_neg) = check_two_classes(labels)?;
    if fpr_grid.is_empty() {
        return Err(MetricsError::Empty { what: "fpr_grid" });
    }
    if let Some(i) = (0..fpr_grid.len())
        .find(|&i| !(0.0..=1.0).contains(&fpr_grid[i]) || (i > 0 && fpr_grid[i] < fpr_grid[i - 1]))
    {
        return Err(MetricsError::InvalidArgument {
            name: "fpr_grid",
            reason: format!(
                "value {} at index {i}: must be ascending within [0, 1]",
                fpr_grid[i]
            ),
        });
    }
    let p = prepare(labels, scores);
    let curves: Vec<Vec<f64>> = (0..cfg.n_resamples)
        .into_par_iter()
        .map_init(
            || {
                (
                    Vec::<u32>::new(),
                    vec![0u32; p.n_groups],
                    vec![0u32; p.n_groups],
                )
            },
            |(buf, cp, cn), b| {
                draw(cfg.seed, b, n_pos, n_neg, buf);
                cp.fill(0);
                cn.fill(0);
                for &k in &buf[..n_pos] {
                    cp[p.pos_group[k as usize] as usize] += 1;
                }
                for &k in &buf[n_pos..] {
                    cn[p.neg_group[k as usize] as usize] += 1;
                }
                // Walk thresholds from high to low; record the best TPR with FPR <= grid[i].
                let mut out = vec![0.0; fpr_grid.len()];
                let (mut tp, mut fp) = (0u32, 0u32);
                let mut pts = Vec::with_capacity(p.n_groups + 1);
                pts.push((0.0, 0.0));
                for g in (0..p.n_groups).rev() {
                    tp += cp[g];
                    fp += cn[g];
                    pts.push((fp as f64 / n_neg as f64, tp as f64 / n_pos as f64));
                }
                let mut j = 0;
                for (i, &x) in fpr_grid.iter().enumerate() {
                    while j + 1 < pts.len() && pts[j + 1].0 <= x {
                        j += 1;
                    }
                    out[i] = pts[j].1;
                }
                out
            },
        )
        .collect();
    let alpha = (1.0 - cfg.level) / 2.0;
    let mut lo = Vec::with_capacity(fpr_grid.len());
    let mut hi = Vec::with_capacity(fpr_grid.len());
    let mut col = Vec::with_capacity(cfg.n_resamples);
    for i in 0..fpr_grid.len() {
        col.clear();
        col.extend(curves.iter().map(|c| c[i]));
        col.sort_unstable_by(f64::total_cmp);
        lo.push(quantile_sorted(&col, alpha));
        hi.push(quantile_sorted(&col, 1.0 - alpha));
    }
    Ok(RocBand {
        fpr: fpr_grid.to_vec(),
        tpr_lower: lo,
        tpr_upper: hi,
        level: cfg.level,
    })
}
