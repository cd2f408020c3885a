//! Experiment planning for real cohorts (nnU-Net's fingerprint -> plan idea).
//!
//! Real CT cohorts mix spacings (0.6 to 5 mm), storage orientations (LPS, RAS, feet-first) and
//! scanners. A network trained on native grids sees each organ at a different size and
//! orientation. [`Plan::from_fingerprints`] looks at the training cases once (spacing, shape,
//! orientation, foreground intensities), chooses ONE target spacing, ONE canonical orientation
//! and ONE intensity normalisation; [`Plan::grid`] gives every case its planned grid, and
//! [`PlannedGrid`] carries images and masks there and network outputs back to the case's
//! original grid, where masks and metrics live.
//!
//! When a case's grid already is the planned grid (same orientation and spacing), nothing is
//! interpolated: the planned volume is the original one, bit for bit.

use crate::error::{PreprocessError, Result};
use crate::intensity;
use crate::resample::{GridMode, Interp, MaskInterp, ResampleOptions};
use crate::spatial::GridPlan;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tomofuse_core::{Geometry, GeometryTolerance, Mask, Space, Volume};

/// Version of the `plan.json` layout.
pub const PLAN_VERSION: u32 = 1;

/// How the target spacing is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TargetSpacing {
    /// Per-axis median of the training cases' spacings (after reorientation), as nnU-Net's
    /// default for roughly isotropic data.
    Median,
    /// Isotropic at the median over the training cases of each case's finest spacing: keeps
    /// the in-plane detail of series with thick slices and gives patches the same physical
    /// extent on every axis (a per-axis median of thick slices can leave the median case
    /// fewer planned slices than a patch has).
    Isotropic,
    /// A fixed spacing in mm along the canonical axes.
    Fixed([f64; 3]),
}

/// How intensities are normalised for the networks.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NormalisationKind {
    /// A fixed HU window mapped linearly to [-1, 1] (clipped outside).
    Window { lo: f64, hi: f64 },
    /// nnU-Net's CT scheme: clip to the training foreground's percentiles, then z-score with
    /// the foreground's mean and SD.
    ForegroundZscore {
        lower_percentile: f64,
        upper_percentile: f64,
    },
}

/// Unchecked planning settings, as a config states them; [`PlanParams::check`] validates.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanParams {
    pub target_spacing: TargetSpacing,
    /// Axis codes in LPS space every planned grid points to, e.g. "LPS" (ITK's identity
    /// direction for axis-aligned scans) or "RAS".
    pub orientation: String,
    pub normalisation: NormalisationKind,
    /// Interpolator for images carried onto the planned grid (masks: linear + 0.5 threshold).
    pub image_interp: Interp,
    /// Foreground voxels sampled per case for the intensity statistics (evenly strided).
    pub foreground_samples: usize,
}

impl Default for PlanParams {
    fn default() -> Self {
        Self {
            target_spacing: TargetSpacing::Median,
            orientation: "LPS".into(),
            normalisation: NormalisationKind::Window {
                lo: -160.0,
                hi: 240.0,
            },
            image_interp: Interp::Linear,
            foreground_samples: 10_000,
        }
    }
}

/// Planning settings that passed [`PlanParams::check`].
#[derive(Debug, Clone, PartialEq)]
pub struct PlanSettings(PlanParams);

impl PlanSettings {
    pub fn params(&self) -> &PlanParams {
        &self.0
    }
}

fn invalid(name: &'static str, reason: String) -> PreprocessError {
    PreprocessError::InvalidArgument { name, reason }
}

impl PlanParams {
    /// Validates every field: spacing finite and > 0, orientation three distinct LPS/RAS axis
    /// codes, window lo < hi, percentiles 0 <= lower < upper <= 100, samples >= 1.
    pub fn check(self) -> Result<PlanSettings> {
        if let TargetSpacing::Fixed(s) = self.target_spacing
            && s.iter().any(|v| !v.is_finite() || *v <= 0.0)
        {
            return Err(invalid(
                "target_spacing",
                format!("{s:?}: every component must be finite and > 0 mm"),
            ));
        }
        Volume::filled([1, 1, 1], 0u8, Geometry::default())?
            .reorient(&self.orientation, Space::Lps)
            .map_err(|e| invalid("orientation", format!("`{}`: {e}", self.orientation)))?;
        match self.normalisation {
            NormalisationKind::Window { lo, hi } => {
                if !(lo.is_finite() && hi.is_finite() && lo < hi) {
                    return Err(invalid(
                        "normalisation",
                        format!("window [{lo}, {hi}] must be finite with lo < hi"),
                    ));
                }
            }
            NormalisationKind::ForegroundZscore {
                lower_percentile: a,
                upper_percentile: b,
            } => {
                if !(0.0 <= a && a < b && b <= 100.0) {
                    return Err(invalid(
                        "normalisation",
                        format!(
                            "foreground percentiles [{a}, {b}] must satisfy 0 <= lower < upper <= 100"
                        ),
                    ));
                }
            }
        }
        if self.foreground_samples == 0 {
            return Err(invalid("foreground_samples", "must be >= 1".into()));
        }
        Ok(PlanSettings(self))
    }
}

/// What one training case contributes to the plan.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseFingerprint {
    /// Spacing along the canonical axes (mm).
    pub spacing: [f64; 3],
    /// Shape along the canonical axes.
    pub shape: [usize; 3],
    /// The case's own storage orientation (axis codes in LPS space).
    pub orientation: String,
    /// Evenly strided sample of the intensities inside the mask (empty without a mask).
    pub foreground: Vec<f32>,
}

impl CaseFingerprint {
    /// Fingerprints a case; `mask` must be on the image's grid.
    pub fn of(image: &Volume<f32>, mask: Option<&Mask>, settings: &PlanSettings) -> Result<Self> {
        let p = settings.params();
        let canon = GridPlan::from_volume(image).reorient(&p.orientation, Space::Lps)?;
        let orientation: String = image.geometry.axis_codes(Space::Lps).iter().collect();
        let mut foreground = Vec::new();
        if let Some(m) = mask {
            if m.shape() != image.shape() {
                return Err(invalid(
                    "mask",
                    format!(
                        "shape {:?} differs from the image's {:?}",
                        m.shape(),
                        image.shape()
                    ),
                ));
            }
            let n = m.count_nonzero();
            let stride = n.div_ceil(p.foreground_samples).max(1);
            foreground = image
                .data
                .iter()
                .zip(m.data.iter())
                .filter(|(_, m)| **m != 0)
                .step_by(stride)
                .map(|(v, _)| *v)
                .collect();
        }
        Ok(Self {
            spacing: canon.geometry.spacing,
            shape: canon.shape,
            orientation,
            foreground,
        })
    }
}

/// Intensity statistics of the training foreground.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ForegroundStats {
    pub n_voxels: usize,
    pub mean: f64,
    pub sd: f64,
    pub p00_5: f64,
    pub p50: f64,
    pub p99_5: f64,
}

/// The normalisation a plan applies: `x -> clip(x, lo, hi)`, then `(x - shift) * scale`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Normalisation {
    pub kind: NormalisationKind,
    pub clip_lo: f64,
    pub clip_hi: f64,
    pub shift: f64,
    pub scale: f64,
}

impl Normalisation {
    /// Network units per HU (e.g. to express a noise SD given in HU).
    pub fn per_hu(&self) -> f64 {
        self.scale
    }

    /// Applies the normalisation voxel by voxel. A window is evaluated as
    /// `2 (x - lo) / (hi - lo) - 1` in f32, the form tomofuse always used: networks train
    /// chaotically, so a one-ulp difference in the input would change every trained weight.
    pub fn apply(&self, vol: &Volume<f32>) -> Result<Volume<f32>> {
        let (lo, hi) = (self.clip_lo as f32, self.clip_hi as f32);
        let clipped = intensity::clip(vol, lo, hi)?;
        Ok(match self.kind {
            NormalisationKind::Window { .. } => clipped.map(|&x| 2.0 * (x - lo) / (hi - lo) - 1.0),
            NormalisationKind::ForegroundZscore { .. } => {
                let (shift, scale) = (self.shift as f32, self.scale as f32);
                clipped.map(|&x| (x - shift) * scale)
            }
        })
    }
}

/// Summary of the training cases' grids.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GridSummary {
    pub spacing_min: [f64; 3],
    pub spacing_median: [f64; 3],
    pub spacing_max: [f64; 3],
    pub shape_median: [usize; 3],
    /// How many cases were stored in each orientation.
    pub orientations: BTreeMap<String, usize>,
}

/// A plan: written as `plan.json` in the run directory and applied to every case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub version: u32,
    pub n_cases: usize,
    pub orientation: String,
    pub target_spacing: [f64; 3],
    pub image_interp: String,
    pub normalisation: Normalisation,
    pub grids: GridSummary,
    pub foreground: Option<ForegroundStats>,
}

fn median_f64(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

impl Plan {
    /// Chooses the target grid and normalisation from the training cases' fingerprints.
    pub fn from_fingerprints(settings: &PlanSettings, cases: &[CaseFingerprint]) -> Result<Self> {
        let p = settings.params();
        if cases.is_empty() {
            return Err(invalid(
                "cases",
                "planning needs at least one training case".into(),
            ));
        }
        let axis =
            |f: &dyn Fn(&CaseFingerprint) -> f64| -> Vec<f64> { cases.iter().map(f).collect() };
        let mut spacing_median = [0.0; 3];
        let mut spacing_min = [0.0; 3];
        let mut spacing_max = [0.0; 3];
        let mut shape_median = [0usize; 3];
        for a in 0..3 {
            let s = axis(&|c| c.spacing[a]);
            spacing_min[a] = s.iter().copied().fold(f64::INFINITY, f64::min);
            spacing_max[a] = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            spacing_median[a] = median_f64(s);
            shape_median[a] = median_f64(axis(&|c| c.shape[a] as f64)).round() as usize;
        }
        let mut orientations = BTreeMap::new();
        for c in cases {
            *orientations.entry(c.orientation.clone()).or_insert(0) += 1;
        }
        let target_spacing = match p.target_spacing {
            TargetSpacing::Median => spacing_median,
            TargetSpacing::Isotropic => {
                let finest = median_f64(axis(&|c| {
                    c.spacing.iter().copied().fold(f64::INFINITY, f64::min)
                }));
                [finest; 3]
            }
            TargetSpacing::Fixed(s) => s,
        };
        let mut fg: Vec<f32> = cases
            .iter()
            .flat_map(|c| c.foreground.iter().copied())
            .collect();
        let foreground = if fg.is_empty() {
            None
        } else {
            let (mean, sd) = intensity::mean_std(&fg);
            Some(ForegroundStats {
                n_voxels: fg.len(),
                mean,
                sd,
                p00_5: f64::from(intensity::percentile(&mut fg, 0.5)?),
                p50: f64::from(intensity::percentile(&mut fg, 50.0)?),
                p99_5: f64::from(intensity::percentile(&mut fg, 99.5)?),
            })
        };
        let normalisation = match p.normalisation {
            NormalisationKind::Window { lo, hi } => Normalisation {
                kind: p.normalisation,
                clip_lo: lo,
                clip_hi: hi,
                // (x - lo) * 2 / (hi - lo) - 1 = (x - (lo + hi) / 2) * 2 / (hi - lo)
                shift: 0.5 * (lo + hi),
                scale: 2.0 / (hi - lo),
            },
            NormalisationKind::ForegroundZscore {
                lower_percentile,
                upper_percentile,
            } => {
                let st = foreground.ok_or_else(|| {
                    invalid(
                        "normalisation",
                        "foreground-zscore needs training cases with masks".into(),
                    )
                })?;
                let lo = f64::from(intensity::percentile(&mut fg, lower_percentile)?);
                let hi = f64::from(intensity::percentile(&mut fg, upper_percentile)?);
                if st.sd.is_nan() || st.sd <= 0.0 {
                    return Err(invalid(
                        "normalisation",
                        "the training foreground has zero intensity spread".into(),
                    ));
                }
                Normalisation {
                    kind: p.normalisation,
                    clip_lo: lo,
                    clip_hi: hi,
                    shift: st.mean,
                    scale: 1.0 / st.sd,
                }
            }
        };
        Ok(Self {
            version: PLAN_VERSION,
            n_cases: cases.len(),
            orientation: p.orientation.clone(),
            target_spacing,
            image_interp: format!("{:?}", p.image_interp).to_lowercase(),
            normalisation,
            grids: GridSummary {
                spacing_min,
                spacing_median,
                spacing_max,
                shape_median,
                orientations,
            },
            foreground,
        })
    }

    fn interp(&self) -> Result<Interp> {
        self.image_interp.parse()
    }

    /// The planned grid of a case stored on (`geometry`, `shape`): reoriented to the plan's
    /// orientation (exact), then respaced to the target spacing with voxel centres aligned
    /// (IBSI grid), unless the spacing already matches.
    pub fn grid(&self, geometry: &Geometry, shape: [usize; 3]) -> Result<PlannedGrid> {
        let original = GridPlan {
            geometry: *geometry,
            shape,
        };
        let mut planned = original.reorient(&self.orientation, Space::Lps)?;
        let same_spacing = (0..3).all(|a| {
            (planned.geometry.spacing[a] - self.target_spacing[a]).abs()
                <= 1e-6 * self.target_spacing[a]
        });
        if !same_spacing {
            planned = planned.respace(self.target_spacing, GridMode::Ibsi)?;
        }
        let identity = planned.shape == shape
            && planned
                .geometry
                .compare(geometry, &GeometryTolerance::default())
                .is_ok();
        Ok(PlannedGrid {
            original,
            planned,
            identity,
            interp: self.interp()?,
            normalisation: self.normalisation,
        })
    }
}

/// One case's original and planned grids.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlannedGrid {
    pub original: GridPlan,
    pub planned: GridPlan,
    /// The planned grid is the original one: nothing is interpolated either way.
    pub identity: bool,
    interp: Interp,
    normalisation: Normalisation,
}

impl PlannedGrid {
    /// The image on the planned grid, in HU (not normalised).
    pub fn image(&self, image: &Volume<f32>) -> Result<Volume<f32>> {
        if self.identity {
            return Ok(image.clone());
        }
        let mut opts = ResampleOptions::new(self.interp);
        // Outside the original field of view: the image's minimum (air), not 0 HU (water).
        opts.default_value = image.data.iter().copied().fold(f32::INFINITY, f32::min);
        self.planned.apply(image, &opts)
    }

    /// The network input: the image on the planned grid, normalised.
    pub fn input(&self, image: &Volume<f32>) -> Result<Volume<f32>> {
        self.normalisation.apply(&self.image(image)?)
    }

    /// A mask (on the original grid, or any grid) carried onto the planned grid: exact when
    /// only the orientation changes, linear + 0.5 threshold when respacing.
    pub fn mask(&self, mask: &Mask) -> Result<Mask> {
        if self.identity
            && mask.shape() == self.original.shape
            && mask
                .geometry
                .compare(&self.original.geometry, &GeometryTolerance::default())
                .is_ok()
        {
            return Ok(mask.clone());
        }
        let spacing_kept = (0..3).all(|a| {
            let s = self.planned.geometry.spacing[a];
            mask.geometry
                .spacing
                .iter()
                .any(|m| (m - s).abs() <= 1e-6 * s)
        });
        let how = if spacing_kept {
            MaskInterp::Nearest
        } else {
            MaskInterp::LinearThreshold(0.5)
        };
        self.planned.apply_mask(mask, how)
    }

    /// A probability map on the planned grid carried back to the original grid (linear).
    pub fn probability_to_original(&self, prob: &Volume<f32>) -> Result<Volume<f32>> {
        self.check_planned(prob.shape())?;
        if self.identity {
            return Ok(prob.clone());
        }
        self.original
            .apply(prob, &ResampleOptions::new(Interp::Linear))
    }

    /// A foreground probability on the planned grid as a mask on the original grid:
    /// resampled linearly, then `> 0.5` (the two-class arg-max).
    pub fn mask_to_original(&self, prob: &Volume<f32>) -> Result<Mask> {
        let p = self.probability_to_original(prob)?;
        Ok(p.map(|&x| u8::from(x > 0.5)))
    }

    fn check_planned(&self, shape: [usize; 3]) -> Result<()> {
        if shape != self.planned.shape {
            return Err(invalid(
                "planned volume",
                format!(
                    "shape {shape:?} is not the planned grid's {:?}",
                    self.planned.shape
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lps(spacing: [f64; 3]) -> Geometry {
        Geometry::new(
            spacing,
            [0.0; 3],
            [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
            Space::Lps,
        )
        .unwrap()
    }

    fn settings(n: NormalisationKind, t: TargetSpacing) -> PlanSettings {
        PlanParams {
            target_spacing: t,
            normalisation: n,
            ..PlanParams::default()
        }
        .check()
        .unwrap()
    }

    /// A ball of radius `r` mm centred in the grid, intensity `fg` inside and -1000 outside.
    fn ball(g: Geometry, shape: [usize; 3], r: f64, fg: f32) -> (Volume<f32>, Mask) {
        let c = g.index_to_world([
            (shape[0] - 1) as f64 / 2.0,
            (shape[1] - 1) as f64 / 2.0,
            (shape[2] - 1) as f64 / 2.0,
        ]);
        let mut img = Volume::filled(shape, -1000.0f32, g).unwrap();
        let mut m = Volume::filled(shape, 0u8, g).unwrap();
        for i in 0..shape[0] {
            for j in 0..shape[1] {
                for k in 0..shape[2] {
                    let w = g.index_to_world([i as f64, j as f64, k as f64]);
                    let d2: f64 = (0..3).map(|a| (w[a] - c[a]).powi(2)).sum();
                    if d2 <= r * r {
                        img.data[[i, j, k]] = fg;
                        m.data[[i, j, k]] = 1;
                    }
                }
            }
        }
        (img, m)
    }

    #[test]
    fn bad_settings_name_the_field() {
        let e = PlanParams {
            target_spacing: TargetSpacing::Fixed([1.0, 0.0, 1.0]),
            ..PlanParams::default()
        }
        .check()
        .unwrap_err()
        .to_string();
        assert!(e.contains("target_spacing") && e.contains("> 0"), "{e}");
        let e = PlanParams {
            orientation: "LLS".into(),
            ..PlanParams::default()
        }
        .check()
        .unwrap_err()
        .to_string();
        assert!(e.contains("orientation"), "{e}");
        let e = PlanParams {
            normalisation: NormalisationKind::ForegroundZscore {
                lower_percentile: 99.0,
                upper_percentile: 1.0,
            },
            ..PlanParams::default()
        }
        .check()
        .unwrap_err()
        .to_string();
        assert!(e.contains("percentiles"), "{e}");
    }

    /// Median spacing over cases stored in different orientations and spacings, read along
    /// the canonical axes; the orientation census counts each storage order.
    #[test]
    fn fingerprint_median_and_orientations() {
        let s = settings(
            NormalisationKind::Window {
                lo: -100.0,
                hi: 100.0,
            },
            TargetSpacing::Median,
        );
        let mut fps = Vec::new();
        for (sp, flip) in [
            ([1.0, 1.0, 3.0], false),
            ([0.8, 0.8, 2.0], true),
            ([1.2, 1.2, 5.0], false),
        ] {
            let g = lps(sp);
            let (img, m) = ball(g, [12, 12, 8], 4.0, 40.0);
            let img = if flip {
                // Stored RAS-like: first two axes reversed.
                img.reorient("RAS", Space::Ras).unwrap()
            } else {
                img
            };
            let m = if flip {
                m.reorient("RAS", Space::Ras).unwrap()
            } else {
                m
            };
            fps.push(CaseFingerprint::of(&img, Some(&m), &s).unwrap());
        }
        let plan = Plan::from_fingerprints(&s, &fps).unwrap();
        assert_eq!(plan.target_spacing, [1.0, 1.0, 3.0]);
        assert_eq!(plan.grids.spacing_min, [0.8, 0.8, 2.0]);
        // Isotropic: the median of the cases' finest spacings (1.0, 0.8, 1.2) on every axis.
        let iso = PlanParams {
            target_spacing: TargetSpacing::Isotropic,
            ..s.params().clone()
        }
        .check()
        .unwrap();
        let p_iso = Plan::from_fingerprints(&iso, &fps).unwrap();
        assert_eq!(p_iso.target_spacing, [1.0, 1.0, 1.0]);
        assert_eq!(plan.grids.orientations.get("LPS"), Some(&2));
        assert_eq!(plan.grids.orientations.get("RAS"), Some(&1));
        let fg = plan.foreground.unwrap();
        assert_eq!((fg.p00_5, fg.p50, fg.p99_5), (40.0, 40.0, 40.0));
        // Window: lo -> -1, hi -> +1.
        let n = plan.normalisation;
        assert!(((-100.0 - n.shift) * n.scale + 1.0).abs() < 1e-12);
        assert!(((100.0 - n.shift) * n.scale - 1.0).abs() < 1e-12);
    }

    /// Foreground z-score: clip bounds are the percentiles of the pooled foreground samples,
    /// shift and scale its mean and SD (checked against a direct computation).
    #[test]
    fn foreground_zscore_matches_direct_statistics() {
        let s = settings(
            NormalisationKind::ForegroundZscore {
                lower_percentile: 0.5,
                upper_percentile: 99.5,
            },
            TargetSpacing::Median,
        );
        let g = lps([1.0; 3]);
        let (mut img, m) = ball(g, [16, 16, 16], 6.0, 0.0);
        let mut vals = Vec::new();
        let mut x = 0.0f32;
        for (v, mm) in img.data.iter_mut().zip(m.data.iter()) {
            if *mm != 0 {
                x += 1.0;
                *v = x;
                vals.push(x as f64);
            }
        }
        let fp = CaseFingerprint::of(&img, Some(&m), &s).unwrap();
        assert_eq!(fp.foreground.len(), vals.len());
        let plan = Plan::from_fingerprints(&s, &[fp]).unwrap();
        let n = vals.len() as f64;
        let mean = vals.iter().sum::<f64>() / n;
        let sd = (vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
        let nz = plan.normalisation;
        assert!((nz.shift - mean).abs() < 1e-9 && (nz.scale - 1.0 / sd).abs() < 1e-9);
        assert!(nz.clip_lo < nz.clip_hi && nz.clip_lo >= 1.0 && nz.clip_hi <= n);
    }

    /// A case already on the plan's grid is passed through untouched, bit for bit.
    #[test]
    fn identity_plan_is_exact() {
        let s = settings(
            NormalisationKind::Window {
                lo: -160.0,
                hi: 240.0,
            },
            TargetSpacing::Median,
        );
        let g = lps([2.0, 2.0, 4.0]);
        let (img, m) = ball(g, [10, 10, 6], 5.0, 50.0);
        let plan = Plan::from_fingerprints(&s, &[CaseFingerprint::of(&img, Some(&m), &s).unwrap()])
            .unwrap();
        let grid = plan.grid(&img.geometry, img.shape()).unwrap();
        assert!(grid.identity);
        assert_eq!(grid.image(&img).unwrap().data, img.data);
        assert_eq!(grid.mask(&m).unwrap().data, m.data);
        let direct = intensity::clip(&img, -160.0, 240.0)
            .unwrap()
            .map(|&x| 2.0 * (x + 160.0) / 400.0 - 1.0);
        // Bit for bit: the window form networks were always trained on.
        assert_eq!(grid.input(&img).unwrap().data, direct.data);
    }

    /// A flipped, coarser case is planned to LPS at the target spacing; its mask goes there and
    /// a probability map made from the planned mask comes back onto the original grid close to
    /// the original mask (Dice > 0.9 for a 6 mm ball), and the planned grid covers the ball.
    #[test]
    fn round_trip_through_a_resampled_plan() {
        let s = settings(
            NormalisationKind::Window {
                lo: -160.0,
                hi: 240.0,
            },
            TargetSpacing::Fixed([1.0, 1.0, 1.0]),
        );
        let g = lps([1.5, 1.5, 2.5]);
        let (img, m) = ball(g, [16, 16, 10], 6.0, 50.0);
        let img = img.reorient("RAS", Space::Ras).unwrap();
        let m = m.reorient("RAS", Space::Ras).unwrap();
        let plan = Plan::from_fingerprints(&s, &[CaseFingerprint::of(&img, Some(&m), &s).unwrap()])
            .unwrap();
        let grid = plan.grid(&img.geometry, img.shape()).unwrap();
        assert!(!grid.identity);
        assert_eq!(grid.planned.geometry.spacing, [1.0, 1.0, 1.0]);
        let codes: String = grid
            .planned
            .geometry
            .axis_codes(Space::Lps)
            .iter()
            .collect();
        assert_eq!(codes, "LPS");
        let pm = grid.mask(&m).unwrap();
        // Ball volume 4/3 pi 6^3 = 904.8 mm^3 = voxels at 1 mm.
        let v = pm.count_nonzero() as f64;
        assert!((v - 904.8).abs() / 904.8 < 0.15, "{v}");
        let prob = pm.map(|&x| f32::from(x));
        let back = grid.mask_to_original(&prob).unwrap();
        assert_eq!(back.shape(), m.shape());
        let inter = back
            .data
            .iter()
            .zip(m.data.iter())
            .filter(|(a, b)| **a != 0 && **b != 0)
            .count() as f64;
        let dice = 2.0 * inter / (back.count_nonzero() + m.count_nonzero()) as f64;
        assert!(dice > 0.9, "{dice}");
        let e = grid.mask_to_original(&img).unwrap_err().to_string();
        assert!(e.contains("planned grid"), "{e}");
    }
}
