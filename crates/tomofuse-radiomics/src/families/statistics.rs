//! Intensity-based statistical features (IBSI 3.3), on the intensity-mask voxels.

use super::histogram::grey_level_probabilities;
use crate::roi::Roi;
use crate::settings::{Convention, Naming, Settings};
use crate::util::percentiles;
use crate::{Feature, FeatureFamily};

pub struct Statistics;

/// The 18 first-order descriptors shared by the statistics (`stat_`) and intensity
/// histogram (`ih_`) families, in IBSI order: (suffix, value).
pub fn first_order(values: &[f64]) -> Vec<(&'static str, f64)> {
    first_order_with(values, &Convention::IBSI)
}

/// [`first_order`] under a convention: kurtosis with or without the `- 3`, and for a flat
/// ROI NaN (IBSI) or 0 (PyRadiomics) skewness and kurtosis.
pub fn first_order_with(values: &[f64], conv: &Convention) -> Vec<(&'static str, f64)> {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let [p10, p25, median, p75, p90]: [f64; 5] =
        percentiles(values, &[10.0, 25.0, 50.0, 75.0, 90.0])
            .try_into()
            .expect("five percentiles");
    // One pass for the sums that need only the mean and the median: each accumulator adds
    // the same terms in the same order as a pass of its own (same values), but the
    // independent additions overlap instead of waiting on one another.
    // (-0.0: where `Iterator::sum` of floats starts.)
    let (mut s2, mut s3, mut s4) = (-0.0f64, -0.0f64, -0.0f64);
    let (mut sad, mut smed, mut energy) = (-0.0f64, -0.0f64, -0.0f64);
    let (mut min, mut max) = (f64::INFINITY, f64::NEG_INFINITY);
    for &v in values {
        let d = v - mean;
        s2 += d.powi(2);
        s3 += d.powi(3);
        s4 += d.powi(4);
        sad += d.abs();
        smed += (v - median).abs();
        energy += v * v;
        min = f64::min(min, v);
        max = f64::max(max, v);
    }
    let (m2, m3, m4) = (s2 / n, s3 / n, s4 / n);
    let flat = if conv.pyradiomics_degenerate {
        0.0
    } else {
        f64::NAN
    };
    let skew = if m2 > 0.0 { m3 / m2.powf(1.5) } else { flat };
    let excess = if conv.excess_kurtosis { 3.0 } else { 0.0 };
    let kurt = if m2 > 0.0 {
        m4 / (m2 * m2) - excess
    } else {
        flat
    };
    let mad = sad / n;
    let inner: Vec<f64> = values
        .iter()
        .cloned()
        .filter(|&v| v >= p10 && v <= p90)
        .collect();
    let imean = inner.iter().sum::<f64>() / inner.len() as f64;
    let rmad = inner.iter().map(|v| (v - imean).abs()).sum::<f64>() / inner.len() as f64;
    let medad = smed / n;
    vec![
        ("mean", mean),
        ("var", m2),
        ("skew", skew),
        ("kurt", kurt),
        ("median", median),
        ("min", min),
        ("p10", p10),
        ("p90", p90),
        ("max", max),
        ("iqr", p75 - p25),
        ("range", max - min),
        ("mad", mad),
        ("rmad", rmad),
        ("medad", medad),
        ("cov", m2.sqrt() / mean),
        ("qcod", (p75 - p25) / (p75 + p25)),
        ("energy", energy),
        ("rms", (energy / n).sqrt()),
    ]
}

/// PyRadiomics' firstorder features, in its output order.
pub const PYRADIOMICS_FIRSTORDER: [&str; 18] = [
    "Energy",
    "TotalEnergy",
    "Entropy",
    "Minimum",
    "10Percentile",
    "90Percentile",
    "Maximum",
    "Mean",
    "Median",
    "InterquartileRange",
    "Range",
    "MeanAbsoluteDeviation",
    "RobustMeanAbsoluteDeviation",
    "RootMeanSquared",
    "Skewness",
    "Kurtosis",
    "Variance",
    "Uniformity",
];

impl FeatureFamily for Statistics {
    fn name(&self) -> &'static str {
        "statistics"
    }
    fn enabled(&self, s: &Settings) -> bool {
        s.families.statistics
    }
    fn compute(&self, roi: &Roi, s: &Settings) -> Vec<Feature> {
        let conv = s.convention();
        let fo = first_order_with(&roi.values, &conv);
        if conv.naming == Naming::Ibsi {
            return fo
                .into_iter()
                .map(|(k, v)| Feature::new("statistics", &format!("stat_{k}"), None, v))
                .collect();
        }
        // PyRadiomics' firstorder class: these statistics, energies of the shifted
        // intensities, and the entropy and uniformity of the grey-level histogram.
        let get = |k: &str| fo.iter().find(|(n, _)| *n == k).map_or(f64::NAN, |x| x.1);
        let shift = conv.voxel_array_shift;
        let energy: f64 = roi.values.iter().map(|v| (v + shift).powi(2)).sum();
        let voxvol = roi.spacing.iter().product::<f64>();
        let p = grey_level_probabilities(roi);
        let n = roi.values.len() as f64;
        let c = "firstorder";
        let f = |name: &str, base: &str, v: f64| Feature::pyradiomics(c, name, base, None, v);
        vec![
            f(
                "Energy",
                if shift == 0.0 { "stat_energy" } else { "" },
                energy,
            ),
            f("TotalEnergy", "", energy * voxvol),
            f("Entropy", "ih_entropy", conv.entropy(p.iter().cloned())),
            f("Minimum", "stat_min", get("min")),
            f("10Percentile", "stat_p10", get("p10")),
            f("90Percentile", "stat_p90", get("p90")),
            f("Maximum", "stat_max", get("max")),
            f("Mean", "stat_mean", get("mean")),
            f("Median", "stat_median", get("median")),
            f("InterquartileRange", "stat_iqr", get("iqr")),
            f("Range", "stat_range", get("range")),
            f("MeanAbsoluteDeviation", "stat_mad", get("mad")),
            f("RobustMeanAbsoluteDeviation", "stat_rmad", get("rmad")),
            f(
                "RootMeanSquared",
                if shift == 0.0 { "stat_rms" } else { "" },
                (energy / n).sqrt(),
            ),
            f("Skewness", "stat_skew", get("skew")),
            // Not IBSI's kurtosis (no `- 3`): no IBSI code.
            f("Kurtosis", "", get("kurt")),
            f("Variance", "stat_var", get("var")),
            f("Uniformity", "ih_uniformity", p.iter().map(|q| q * q).sum()),
        ]
    }
}
