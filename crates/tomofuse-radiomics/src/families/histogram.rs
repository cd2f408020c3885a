//! Intensity histogram features (IBSI 3.4), on the discretised grey levels.

use super::statistics::first_order;
use crate::roi::Roi;
use crate::settings::Settings;
use crate::util::entropy2;
use crate::{Feature, FeatureFamily};

pub struct Histogram;

/// Fractions of the intensity-mask voxels per grey level present (levels in order).
pub fn grey_level_probabilities(roi: &Roi) -> Vec<f64> {
    let ng = roi.ng.max(1);
    let mut hist = vec![0f64; ng];
    for (g, m) in roi.gl.iter().zip(&roi.int_mask) {
        if *m {
            hist[(*g as usize).clamp(1, ng) - 1] += 1.0;
        }
    }
    let n = roi.values.len() as f64;
    hist.into_iter()
        .filter(|&h| h > 0.0)
        .map(|h| h / n)
        .collect()
}

impl FeatureFamily for Histogram {
    fn name(&self) -> &'static str {
        "histogram"
    }
    fn enabled(&self, s: &Settings) -> bool {
        // PyRadiomics has no histogram class (its entropy and uniformity are firstorder).
        s.families.histogram && s.convention().naming == crate::Naming::Ibsi
    }
    fn compute(&self, roi: &Roi, _s: &Settings) -> Vec<Feature> {
        let fam = "histogram";
        let g: Vec<f64> = roi
            .gl
            .iter()
            .zip(&roi.int_mask)
            .filter(|(_, m)| **m)
            .map(|(g, _)| *g as f64)
            .collect();
        let n = g.len() as f64;
        let ng = roi.ng.max(1);
        let mut hist = vec![0f64; ng];
        for &x in &g {
            let b = (x as usize).clamp(1, ng) - 1;
            hist[b] += 1.0;
        }
        let fo = first_order(&g);
        let mut out: Vec<Feature> = Vec::new();
        let mut push = |k: &str, v: f64| out.push(Feature::new(fam, &format!("ih_{k}"), None, v));
        for (k, v) in fo.iter().take(9) {
            push(k, *v);
        }
        // Mode: most frequent grey level; ties go to the lowest.
        let mut mode = 1usize;
        for (i, &h) in hist.iter().enumerate() {
            if h > hist[mode - 1] {
                mode = i + 1;
            }
        }
        push("mode", mode as f64);
        for (k, v) in fo.iter().skip(9).take(7) {
            push(k, *v);
        }
        let p = hist.iter().map(|h| h / n);
        push("entropy", entropy2(p.clone()));
        push("uniformity", p.map(|x| x * x).sum());
        // Histogram gradient: forward/backward difference at the ends, central inside.
        let grad: Vec<f64> = (0..ng)
            .map(|i| {
                if ng == 1 {
                    0.0
                } else if i == 0 {
                    hist[1] - hist[0]
                } else if i == ng - 1 {
                    hist[i] - hist[i - 1]
                } else {
                    (hist[i + 1] - hist[i - 1]) / 2.0
                }
            })
            .collect();
        let (mut imax, mut imin) = (0, 0);
        for i in 0..ng {
            if grad[i] > grad[imax] {
                imax = i;
            }
            if grad[i] < grad[imin] {
                imin = i;
            }
        }
        push("max_grad", grad[imax]);
        push("max_grad_g", (imax + 1) as f64);
        push("min_grad", grad[imin]);
        push("min_grad_g", (imin + 1) as f64);
        out
    }
}
