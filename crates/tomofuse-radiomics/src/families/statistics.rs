//! Intensity-based statistical features (IBSI 3.3), on the intensity-mask voxels.

use crate::roi::Roi;
use crate::settings::Settings;
use crate::util::percentile_sorted;
use crate::{Feature, FeatureFamily};

pub struct Statistics;

/// The 18 first-order descriptors shared by the statistics (`stat_`) and intensity
/// histogram (`ih_`) families, in IBSI order: (suffix, value).
pub fn first_order(values: &[f64]) -> Vec<(&'static str, f64)> {
    let n = values.len() as f64;
    let mut sorted = values.to_vec();
    sorted.sort_unstable_by(|a, b| a.total_cmp(b));
    let mean = values.iter().sum::<f64>() / n;
    let m = |p: i32| values.iter().map(|v| (v - mean).powi(p)).sum::<f64>() / n;
    let (m2, m3, m4) = (m(2), m(3), m(4));
    let skew = if m2 > 0.0 {
        m3 / m2.powf(1.5)
    } else {
        f64::NAN
    };
    let kurt = if m2 > 0.0 {
        m4 / (m2 * m2) - 3.0
    } else {
        f64::NAN
    };
    let p = |q: f64| percentile_sorted(&sorted, q);
    let (p10, p25, median, p75, p90) = (p(10.0), p(25.0), p(50.0), p(75.0), p(90.0));
    let min = sorted[0];
    let max = sorted[sorted.len() - 1];
    let mad = values.iter().map(|v| (v - mean).abs()).sum::<f64>() / n;
    let inner: Vec<f64> = values
        .iter()
        .cloned()
        .filter(|&v| v >= p10 && v <= p90)
        .collect();
    let imean = inner.iter().sum::<f64>() / inner.len() as f64;
    let rmad = inner.iter().map(|v| (v - imean).abs()).sum::<f64>() / inner.len() as f64;
    let medad = values.iter().map(|v| (v - median).abs()).sum::<f64>() / n;
    let energy = values.iter().map(|v| v * v).sum::<f64>();
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

impl FeatureFamily for Statistics {
    fn name(&self) -> &'static str {
        "statistics"
    }
    fn enabled(&self, s: &Settings) -> bool {
        s.families.statistics
    }
    fn compute(&self, roi: &Roi, _s: &Settings) -> Vec<Feature> {
        first_order(&roi.values)
            .into_iter()
            .map(|(k, v)| Feature::new("statistics", &format!("stat_{k}"), None, v))
            .collect()
    }
}
