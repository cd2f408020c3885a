//! Synthetic sinus CT cohort (CRSwNP endotype, MTLNet study). Mechanism and parameters are
//! documented in docs/cohorts.md; the equations below are the reference.

use crate::case::{Case, ClinicalValue, Cohort, Loaded, Source, Study};
use crate::date::Date;
use crate::error::Result;
use crate::render::{Canvas, Pose, Shape};
use crate::synth::{Profile, Spec, check_grid, normal, rng, sigmoid};
use rand::Rng;
use rand::seq::SliceRandom;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The ten Lund-Mackay sinus units; mask label = index + 1. `_r` = patient right (LPS -x).
pub const SINUS_UNITS: [&str; 10] = [
    "maxillary_r",
    "maxillary_l",
    "ant_ethmoid_r",
    "ant_ethmoid_l",
    "post_ethmoid_r",
    "post_ethmoid_l",
    "frontal_r",
    "frontal_l",
    "sphenoid_r",
    "sphenoid_l",
];

/// Unit centres (right side; left mirrors x) and radii, anatomical mm.
const UNIT_GEOM: [([f32; 3], [f32; 3]); 5] = [
    ([-30.0, -15.0, -20.0], [13.0, 17.0, 16.0]), // maxillary
    ([-11.0, -25.0, 10.0], [7.0, 10.0, 9.0]),    // anterior ethmoid
    ([-11.0, -5.0, 10.0], [7.0, 9.0, 9.0]),      // posterior ethmoid
    ([-12.0, -45.0, 40.0], [9.0, 6.0, 10.0]),    // frontal
    ([-8.0, 15.0, 0.0], [7.0, 10.0, 10.0]),      // sphenoid
];

/// Parameters of the sinus cohort. [`SinusConfig::profile`] gives the presets.
#[derive(Debug, Clone, PartialEq)]
pub struct SinusConfig {
    pub n_cases: usize,
    pub shape: [usize; 3],
    pub fov_mm: [f64; 3],
    pub seed: u64,
    /// Share of the eosinophilic endotype (exact: round(n * share) cases).
    pub eos_fraction: f64,
    /// Class separation of the latent predominance (SD units): oracle AUC = Phi(delta / sqrt 2).
    pub separation: f64,
    /// Acquisition dates are uniform in [start, end]; cases from `external_from` on form the
    /// temporal external test set (and come from the upgraded scanner).
    pub start: Date,
    pub end: Date,
    pub external_from: Date,
}

impl SinusConfig {
    pub fn profile(p: Profile, seed: u64) -> Self {
        let (n_cases, s) = match p {
            Profile::Tiny => (20, 32),
            Profile::Default => (80, 48),
            Profile::Paper => (257, 96),
        };
        Self {
            n_cases,
            shape: [s; 3],
            fov_mm: [150.0; 3],
            seed,
            eos_fraction: 0.5,
            separation: 1.6,
            start: Date::from_ymd(2017, 1, 1).expect("valid date"),
            end: Date::from_ymd(2023, 12, 31).expect("valid date"),
            // ~17% of a uniform 2017-2023 window, as 44/257 in the study.
            external_from: Date::from_ymd(2022, 10, 15).expect("valid date"),
        }
    }
}

/// One sinus case: latent variables (kept for the oracle and tests) and rendering parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct SinusSpec {
    pub shape: [usize; 3],
    pub fov_mm: [f64; 3],
    pub pose: Pose,
    pub render_seed: u64,
    pub render_stream: u64,
    pub bone_hu: f32,
    pub mucosa_hu: f32,
    pub noise_sd: f32,
    pub hu_offset: f32,
    pub blur: f32,
    /// Opacified volume fraction of each unit of [`SINUS_UNITS`].
    pub opacification: [f32; 10],
    /// Ostiomeatal complex occluded (right, left).
    pub omc_occluded: [bool; 2],
    pub eosinophilic: bool,
    /// Latent ethmoid-vs-maxillary predominance.
    pub predominance: f64,
    /// Latent disease burden in (0, 1).
    pub burden: f64,
}

/// Lund-Mackay unit score from an opacified fraction: 0 clear (< 5%), 2 complete (> 95%), else 1.
pub fn lm_unit_score(fraction: f64) -> u8 {
    if fraction < 0.05 {
        0
    } else if fraction > 0.95 {
        2
    } else {
        1
    }
}

impl SinusSpec {
    /// Lund-Mackay total (0-24) from the generating opacification and OMC state.
    pub fn lund_mackay(&self) -> u8 {
        let units: u8 = self
            .opacification
            .iter()
            .map(|&o| lm_unit_score(o as f64))
            .sum();
        units
            + self
                .omc_occluded
                .iter()
                .map(|&o| if o { 2 } else { 0 })
                .sum::<u8>()
    }

    /// Ethmoid (anterior + posterior, both sides) over maxillary (both sides) Lund-Mackay
    /// points, with 0.5 added to the denominator so a clear maxillary does not divide by zero.
    pub fn e_m_ratio(&self) -> f64 {
        let s = |i: usize| lm_unit_score(self.opacification[i] as f64) as f64;
        (s(2) + s(3) + s(4) + s(5)) / (s(0) + s(1) + 0.5)
    }

    pub fn render(&self) -> Result<Loaded> {
        let mut c = Canvas::new(self.shape, self.fov_mm, &self.pose, -1000.0)?;
        let bone = self.bone_hu;
        let soft = 40.0;
        // Head, skull, soft tissue below the brain, brain in its bony shell.
        let head_c = [0.0, 25.0, 25.0];
        let head_r = [78.0, 100.0, 95.0];
        c.paint(&Shape::ell(head_c, head_r), soft, None);
        c.paint(&Shape::ell(head_c, [73.0, 95.0, 90.0]), bone, None);
        c.paint(&Shape::ell(head_c, [67.0, 89.0, 84.0]), soft, None);
        c.paint(
            &Shape::ell([0.0, 45.0, 55.0], [66.0, 79.0, 59.0]),
            bone,
            None,
        );
        c.paint(
            &Shape::ell([0.0, 45.0, 55.0], [62.0, 75.0, 55.0]),
            35.0,
            None,
        );
        // Facial skeleton (mixed bone), skull base holding the sphenoid, nasopharynx.
        c.paint(
            &Shape::ell([0.0, -12.0, -2.0], [50.0, 40.0, 45.0]),
            0.5 * bone,
            None,
        );
        c.paint(
            &Shape::ell([0.0, 12.0, 0.0], [30.0, 22.0, 16.0]),
            bone,
            None,
        );
        c.paint(
            &Shape::ell([0.0, 32.0, -28.0], [10.0, 9.0, 12.0]),
            -1000.0,
            None,
        );
        // Orbits: fat with the globe.
        for sx in [-1.0f32, 1.0] {
            c.paint(
                &Shape::ell([35.0 * sx, -25.0, 15.0], [15.0, 22.0, 15.0]),
                -80.0,
                None,
            );
            c.paint(
                &Shape::ell([35.0 * sx, -36.0, 15.0], [11.0, 11.0, 11.0]),
                20.0,
                None,
            );
        }
        // Nasal cavity, septum, turbinates, ostiomeatal complexes.
        c.paint(
            &Shape::ell([0.0, -15.0, -5.0], [9.0, 32.0, 25.0]),
            -1000.0,
            None,
        );
        c.paint(
            &Shape::ell([0.0, -15.0, -5.0], [1.2, 30.0, 23.0]),
            0.6 * bone,
            None,
        );
        for (side, sx) in [(0usize, -1.0f32), (1, 1.0)] {
            c.paint(
                &Shape::ell([6.0 * sx, -15.0, -18.0], [3.0, 22.0, 5.0]),
                soft,
                None,
            );
            c.paint(
                &Shape::ell([5.0 * sx, -15.0, -3.0], [2.5, 18.0, 4.0]),
                soft,
                None,
            );
            let omc = if self.omc_occluded[side] {
                self.mucosa_hu
            } else {
                -1000.0
            };
            c.paint(
                &Shape::ell([16.0 * sx, -20.0, -6.0], [3.0, 5.0, 4.0]),
                omc,
                None,
            );
        }
        // Sinus units: the whole cavity carries the label; mucosa lines it up to the opacified
        // fraction o (inner air ellipsoid scaled by (1 - o)^(1/3) keeps exactly 1 - o of it).
        for (u, name) in SINUS_UNITS.iter().enumerate() {
            let (cr, r) = UNIT_GEOM[u / 2];
            let sx = if name.ends_with("_r") { 1.0 } else { -1.0 };
            let centre = [cr[0] * sx, cr[1], cr[2]];
            let label = Some(u as u8 + 1);
            let o = self.opacification[u].clamp(0.0, 1.0);
            let cavity = Shape::ell(centre, r);
            if o <= 0.0 {
                c.paint(&cavity, -1000.0, label);
                continue;
            }
            c.paint(&cavity, self.mucosa_hu, label);
            let rho = (1.0 - o).cbrt();
            if rho > 0.0 {
                // The air pocket sits towards the roof (mucosa is thicker on the floor).
                let lift = (1.0 - rho) * r[2] * 0.3;
                let inner = Shape::scaled([centre[0], centre[1], centre[2] + lift], r, rho)
                    .and(cavity.clone());
                c.paint(&inner, -1000.0, None);
            }
        }
        c.blur(self.blur);
        let mut r = rng(self.render_seed, self.render_stream);
        c.noise(&mut r, self.noise_sd, self.hu_offset);
        c.finish()
    }
}

/// Generates the sinus cohort. Images are rendered lazily ([`Source::Synthetic`]); call
/// [`Cohort::materialize`] to render them all in parallel.
pub fn sinus_cohort(cfg: &SinusConfig) -> Result<Cohort> {
    check_grid(cfg.n_cases, cfg.shape, cfg.fov_mm)?;
    if !(0.0..=1.0).contains(&cfg.eos_fraction) || !cfg.separation.is_finite() {
        return Err(crate::CohortError::Config {
            field: "eos_fraction/separation",
            reason: format!("{} / {}", cfg.eos_fraction, cfg.separation),
        });
    }
    let mut g = rng(cfg.seed, 0);
    let span = (cfg.end.days() - cfg.start.days()).max(0);
    // Exactly round(n * eos_fraction) eosinophilic cases, in random order, so that even a tiny
    // cohort has both classes.
    let n_eos = (cfg.n_cases as f64 * cfg.eos_fraction).round() as usize;
    let mut endotypes: Vec<bool> = (0..cfg.n_cases).map(|i| i < n_eos).collect();
    endotypes.shuffle(&mut g);
    let mut cases = Vec::with_capacity(cfg.n_cases);
    for (i, &e) in endotypes.iter().enumerate() {
        let ef = f64::from(u8::from(e));
        let date = Date::from_days(cfg.start.days() + g.random_range(0..=span));
        let late = date >= cfg.external_from;
        // Latent mechanism (docs/cohorts.md, "Sinus CT").
        let pi = cfg.separation * (ef - 0.5) + normal(&mut g, 0.0, 1.0);
        let burden = sigmoid(normal(&mut g, 0.3 + 0.4 * ef, 0.7));
        let asym = normal(&mut g, 0.0, 0.1 + 0.3 * (1.0 - ef));
        let side = [(1.0 - asym).clamp(0.1, 1.9), (1.0 + asym).clamp(0.1, 1.9)];
        let weights = [
            2.0 * sigmoid(-pi),
            2.0 * sigmoid(pi),
            2.0 * sigmoid(pi),
            1.6 * sigmoid(pi - 0.5),
            1.2 * sigmoid(pi - 1.0),
        ];
        let mut opac = [0f32; 10];
        for (u, o) in opac.iter_mut().enumerate() {
            let v = burden * weights[u / 2] * side[u % 2] + normal(&mut g, 0.0, 0.06);
            // Values below 3% read as clear on CT.
            *o = if v < 0.03 { 0.0 } else { v.min(1.0) as f32 };
        }
        let omc =
            [0, 1].map(|s| opac[s] as f64 + opac[2 + s] as f64 + normal(&mut g, 0.0, 0.2) > 1.1);
        let deg = std::f64::consts::PI / 180.0;
        let pose = Pose {
            angles: [0, 1, 2].map(|_| normal(&mut g, 0.0, 3.0 * deg).clamp(-8.0 * deg, 8.0 * deg)),
            scale: normal(&mut g, 1.0, 0.05).clamp(0.88, 1.12),
            shift: [0, 1, 2].map(|_| normal(&mut g, 0.0, 4.0)),
        };
        let spec = SinusSpec {
            shape: cfg.shape,
            fov_mm: cfg.fov_mm,
            pose,
            render_seed: cfg.seed,
            render_stream: i as u64 + 1,
            bone_hu: g.random_range(700.0..1500.0),
            mucosa_hu: g.random_range(20.0..60.0),
            noise_sd: g.random_range(15.0..30.0) * if late { 0.8 } else { 1.0 },
            hu_offset: normal(&mut g, 0.0, 5.0) as f32,
            blur: if late { 0.45 } else { 0.6 },
            opacification: opac,
            omc_occluded: omc,
            eosinophilic: e,
            predominance: pi,
            burden,
        };
        // Clinical variables (not used by the image model; available for fusion baselines).
        let mut clinical = BTreeMap::new();
        let age = normal(&mut g, 45.0, 13.0).clamp(18.0, 80.0).round();
        let male = g.random_bool(0.6);
        let asthma = g.random_bool(0.1 + 0.25 * ef);
        let eos_pct = normal(&mut g, 2.0f64.ln() + 0.8 * ef, 0.6).exp();
        let num = |v: f64| ClinicalValue::Num(v);
        clinical.insert("age".into(), num(age));
        clinical.insert("male".into(), num(f64::from(u8::from(male))));
        clinical.insert("asthma".into(), num(f64::from(u8::from(asthma))));
        clinical.insert("blood_eos_pct".into(), num((eos_pct * 10.0).round() / 10.0));
        clinical.insert("lund_mackay".into(), num(spec.lund_mackay() as f64));
        clinical.insert("e_m_ratio".into(), num(spec.e_m_ratio()));
        let spec = Arc::new(Spec::Sinus(spec));
        cases.push(Case {
            id: format!("sinus-{i:04}"),
            source: Source::Synthetic(spec.clone()),
            truth: Some(spec),
            label: Some(e),
            split: None,
            centre: Some(if late { "scanner-B" } else { "scanner-A" }.into()),
            date: Some(date),
            clinical,
        });
    }
    let mut label_names = BTreeMap::new();
    for (u, n) in SINUS_UNITS.iter().enumerate() {
        label_names.insert(u as u8 + 1, n.to_string());
    }
    Ok(Cohort {
        name: "synthetic-sinus".into(),
        study: Study::Sinus,
        cases,
        target_labels: (1..=10).collect(),
        label_names,
    })
}

/// The sinus spec behind a synthetic case.
pub fn sinus_spec(case: &Case) -> Option<&SinusSpec> {
    match case.truth.as_deref() {
        Some(Spec::Sinus(x)) => Some(x),
        _ => None,
    }
}
