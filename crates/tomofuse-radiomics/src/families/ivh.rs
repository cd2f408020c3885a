//! Intensity-volume histogram features (IBSI 3.5).

use crate::roi::Roi;
use crate::settings::Settings;
use crate::{Feature, FeatureFamily};

pub struct Ivh;

impl FeatureFamily for Ivh {
    fn name(&self) -> &'static str {
        "ivh"
    }
    fn enabled(&self, s: &Settings) -> bool {
        s.families.ivh && s.convention().naming == crate::Naming::Ibsi
    }
    fn compute(&self, roi: &Roi, _s: &Settings) -> Vec<Feature> {
        let fam = "ivh";
        let lv = &roi.ivh;
        let n = lv.voxel_levels.len();
        let nlev = ((lv.max - lv.min) / lv.step).round() as i64 + 1;
        if n == 0 || !(1..=10_000_000).contains(&nlev) {
            return [
                "ivh_v10",
                "ivh_v90",
                "ivh_i10",
                "ivh_i90",
                "ivh_diff_v10_v90",
                "ivh_diff_i10_i90",
            ]
            .iter()
            .map(|t| Feature::failed(fam, t, None, "empty or degenerate IVH level range"))
            .collect();
        }
        let nlev = nlev as usize;
        // counts per level, then nu_i = fraction of voxels with level >= level_i.
        let mut counts = vec![0usize; nlev];
        for &x in &lv.voxel_levels {
            let b = (((x - lv.min) / lv.step).round() as i64).clamp(0, nlev as i64 - 1) as usize;
            counts[b] += 1;
        }
        let mut nu = vec![0f64; nlev];
        let mut acc = 0usize;
        for i in (0..nlev).rev() {
            acc += counts[i];
            nu[i] = acc as f64 / n as f64;
        }
        let level = |i: usize| lv.min + i as f64 * lv.step;
        let span = lv.max - lv.min;
        let gamma = |i: usize| {
            if span > 0.0 {
                (level(i) - lv.min) / span
            } else {
                0.0
            }
        };
        // V_x: volume fraction at the first level whose intensity fraction is >= x.
        let vx = |x: f64| {
            (0..nlev)
                .find(|&i| gamma(i) >= x - 1e-12)
                .map(|i| nu[i])
                .unwrap_or(0.0)
        };
        // I_x: lowest level whose volume fraction is <= x (max + step when none).
        let ix = |x: f64| {
            (0..nlev)
                .find(|&i| nu[i] <= x + 1e-12)
                .map(level)
                .unwrap_or(lv.max + lv.step)
        };
        let (v10, v90, i10, i90) = (vx(0.10), vx(0.90), ix(0.10), ix(0.90));
        // Area under the IVH curve (trapezoids over the intensity fraction).
        let mut auc = 0.0;
        for i in 1..nlev {
            auc += 0.5 * (nu[i] + nu[i - 1]) * (gamma(i) - gamma(i - 1));
        }
        vec![
            Feature::new(fam, "ivh_v10", None, v10),
            Feature::new(fam, "ivh_v90", None, v90),
            Feature::new(fam, "ivh_i10", None, i10),
            Feature::new(fam, "ivh_i90", None, i90),
            Feature::new(fam, "ivh_diff_v10_v90", None, v10 - v90),
            Feature::new(fam, "ivh_diff_i10_i90", None, i10 - i90),
            Feature::new(fam, "ivh_auc", None, auc),
        ]
    }
}
