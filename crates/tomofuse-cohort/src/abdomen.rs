//! Synthetic abdominal CT cohort (severe acute pancreatitis, multimodal study). Mechanism and
//! parameters are documented in docs/cohorts.md; the equations below are the reference.

use crate::case::{Case, ClinicalValue, Cohort, Loaded, Source, Study};
use crate::date::Date;
use crate::error::Result;
use crate::render::{Canvas, Pose, Shape, smooth_field};
use crate::synth::{Profile, Spec, check_grid, normal, rng, sigmoid};
use rand::Rng;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Mask labels of the abdominal cohort. The segmentation target is {1, 2} (the whole gland).
pub const LABEL_PANCREAS: u8 = 1;
pub const LABEL_NECROSIS: u8 = 2;
pub const LABEL_FLUID: u8 = 3;

/// Centre names; [`AbdomenConfig::centre_weights`] gives their shares.
pub const CENTRES: [&str; 3] = ["A", "B", "C"];

/// Clinical columns by origin, so a model can be restricted to one modality.
/// `labs`: admission vital signs and laboratory values; `demographics`; `report`: the
/// radiologist's reading of the admission CT (used by MCTSI and BISAP's effusion point).
pub const LAB_COLUMNS: [&str; 14] = [
    "temp_c",
    "hr",
    "rr",
    "wbc",
    "bun",
    "crp",
    "calcium",
    "glucose",
    "ldh",
    "ast",
    "triglycerides",
    "hematocrit",
    "lipase",
    "gcs",
];
pub const DEMOGRAPHIC_COLUMNS: [&str; 5] = ["age", "male", "bmi", "gallstone", "etiology"];
pub const REPORT_COLUMNS: [&str; 5] = [
    "pleural_effusion",
    "ct_pancreas_abnormal",
    "ct_fluid_collection",
    "ct_necrosis_pct",
    "ct_ascites",
];

/// Parameters of the abdominal cohort. [`AbdomenConfig::profile`] gives the presets.
#[derive(Debug, Clone, PartialEq)]
pub struct AbdomenConfig {
    pub n_cases: usize,
    pub shape: [usize; 3],
    pub fov_mm: [f64; 3],
    pub seed: u64,
    /// Share of cases from each of [`CENTRES`] (normalised).
    pub centre_weights: [f64; 3],
    /// Outcome threshold on the latent severity score (sets the SAP prevalence: about 31% at 1.2).
    pub threshold: f64,
    pub start: Date,
    pub end: Date,
}

impl AbdomenConfig {
    pub fn profile(p: Profile, seed: u64) -> Self {
        let (n_cases, shape) = match p {
            Profile::Tiny => (24, [32, 32, 24]),
            Profile::Default => (240, [48, 48, 40]),
            Profile::Paper => (609, [96, 96, 80]),
        };
        Self {
            n_cases,
            shape,
            fov_mm: [320.0, 260.0, 160.0],
            seed,
            centre_weights: [0.45, 0.30, 0.25],
            threshold: 1.2,
            start: Date::from_ymd(2016, 1, 1).expect("valid date"),
            end: Date::from_ymd(2023, 12, 31).expect("valid date"),
        }
    }
}

/// One abdominal case: latent variables (for the oracle and tests) and rendering parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct AbdomenSpec {
    pub shape: [usize; 3],
    pub fov_mm: [f64; 3],
    pub pose: Pose,
    pub render_seed: u64,
    pub render_stream: u64,
    pub noise_sd: f32,
    pub hu_offset: f32,
    pub blur: f32,
    /// Body size factor and subcutaneous fat thickness (mm).
    pub body: f32,
    pub fat_mm: f32,
    /// Contrast enhancement factor (bolus timing, cardiac output).
    pub contrast: f32,
    pub pancreas_scale: f32,
    /// Oedema in [0, 1]: swelling, lower and heterogeneous attenuation, fat stranding.
    pub oedema: f32,
    /// Necrotic fraction of the gland (0 = none); the necrotic segment starts at `necrosis_t0`
    /// along the gland (0 = head, 1 = tail).
    pub necrosis: f32,
    pub necrosis_t0: f32,
    /// Peripancreatic fluid collection size in [0, 1] (0 = none).
    pub fluid: f32,
    /// Pleural effusion depth (fraction of the lung base), right and left.
    pub effusion: [f32; 2],
    pub ascites: f32,
    /// Latent local (image) and systemic severity, and the outcome.
    pub s_img: f64,
    pub s_sys: f64,
    pub severe: bool,
}

/// Pancreas centreline (quadratic Bezier, head -> tail) and radius profile, anatomical mm.
fn pancreas_tube(scale: f32, swell: f32, t0: f32, t1: f32) -> Shape {
    let p0 = [-38.0f32, 8.0, -14.0];
    let p1 = [10.0f32, -8.0, 2.0];
    let p2 = [75.0f32, 38.0, 12.0];
    let n = 48;
    let mut pts = Vec::new();
    let mut r = Vec::new();
    for s in 0..=n {
        let t = s as f32 / n as f32;
        if t < t0 || t > t1 {
            continue;
        }
        let u = 1.0 - t;
        let p = [0, 1, 2].map(|a| u * u * p0[a] + 2.0 * u * t * p1[a] + t * t * p2[a]);
        pts.push(p);
        r.push((14.0 - 10.0 * t + 4.0 * t * t) * scale * swell);
    }
    Shape::Tube { pts, r }
}

impl AbdomenSpec {
    pub fn render(&self) -> Result<Loaded> {
        let mut c = Canvas::new(self.shape, self.fov_mm, &self.pose, -1000.0)?;
        let mut r = rng(self.render_seed, self.render_stream);
        let field = smooth_field(&mut r, self.shape, 1.2);
        let field2 = smooth_field(&mut r, self.shape, 2.5);
        let k = self.contrast;
        let b = self.body;
        let full = [-400.0f32, 400.0];
        let cyl = |cx: f32, cy: f32, rx: f32, ry: f32| Shape::Cylinder {
            c: [cx, cy],
            r: [rx, ry],
            z: full,
        };
        // Body: subcutaneous fat, abdominal wall muscle, visceral fat.
        c.paint(&cyl(0.0, 15.0, 150.0 * b, 115.0 * b), -100.0, None);
        let wall = [150.0 * b - self.fat_mm, 115.0 * b - self.fat_mm];
        c.paint(&cyl(0.0, 15.0, wall[0], wall[1]), 45.0, None);
        c.paint(
            &cyl(0.0, 15.0, wall[0] - 12.0, wall[1] - 12.0),
            -100.0,
            None,
        );
        // Lung bases with pleural effusion (dependent: posterior), before the diaphragm organs.
        for (side, sx) in [(0usize, -1.0f32), (1, 1.0)] {
            let (lc, lr) = ([75.0 * sx, 40.0, 110.0], [62.0, 60.0, 55.0]);
            c.paint(&Shape::ell(lc, lr), -850.0, None);
            let e = self.effusion[side];
            if e > 0.0 {
                let eff = Shape::ell(lc, lr).and(Shape::Half {
                    n: [0.0, 1.0, 0.0],
                    d: lc[1] + lr[1] - 2.0 * lr[1] * e,
                });
                c.paint(&eff, 12.0, None);
            }
        }
        // Muscles and spine.
        for sx in [-1.0f32, 1.0] {
            c.paint(&cyl(35.0 * sx, 90.0, 22.0, 18.0), 50.0, None);
            c.paint(&cyl(28.0 * sx, 58.0, 12.0, 12.0), 50.0, None);
        }
        c.paint(&cyl(0.0, 62.0, 18.0, 16.0), 700.0, None);
        c.paint(&cyl(0.0, 62.0, 15.0, 13.0), 250.0, None);
        c.paint(&cyl(0.0, 95.0, 10.0, 12.0), 500.0, None);
        c.paint(&cyl(0.0, 84.0, 7.0, 6.0), 20.0, None);
        // Vessels.
        c.paint(&cyl(10.0, 34.0, 11.0, 11.0), 170.0 * k, None);
        c.paint(&cyl(-22.0, 34.0, 12.0, 9.0), 130.0 * k, None);
        // Solid organs.
        let liver = Shape::ell([-80.0, 10.0, 35.0], [70.0, 75.0, 70.0]);
        if self.ascites > 0.0 {
            let shell = Shape::ell(
                [-80.0, 10.0, 35.0],
                [70.0, 75.0, 70.0].map(|x| x + 6.0 + 10.0 * self.ascites),
            );
            c.paint(
                &shell.and(Shape::Half {
                    n: [-1.0, 0.0, 0.0],
                    d: 40.0,
                }),
                8.0,
                None,
            );
        }
        c.paint_with(&liver, None, |i, _| 105.0 * k + 6.0 * field2[i]);
        c.paint(
            &Shape::ell([88.0, 45.0, 35.0], [28.0, 40.0, 45.0]),
            115.0 * k,
            None,
        );
        for sx in [-1.0f32, 1.0] {
            c.paint(
                &Shape::ell([70.0 * sx, 55.0, -25.0], [25.0, 22.0, 45.0]),
                160.0 * k,
                None,
            );
            c.paint(
                &Shape::ell([62.0 * sx, 55.0, -25.0], [9.0, 8.0, 20.0]),
                20.0,
                None,
            );
        }
        // Stomach: wall, fluid, anterior gas bubble; two bowel loops.
        let st_c = [55.0, -45.0, 40.0];
        let st_r = [45.0, 32.0, 40.0];
        c.paint(&Shape::ell(st_c, st_r), 50.0, None);
        c.paint(&Shape::scaled(st_c, st_r, 0.85), 15.0, None);
        let gas = Shape::scaled(st_c, st_r, 0.85).and(Shape::Half {
            n: [0.0, -1.0, 0.0],
            d: 55.0,
        });
        c.paint(&gas, -950.0, None);
        for (bc, br) in [
            ([-20.0f32, -55.0, -45.0], [30.0f32, 18.0, 18.0]),
            ([40.0, -50.0, -50.0], [25.0, 15.0, 15.0]),
        ] {
            c.paint(&Shape::ell(bc, br), 30.0, None);
            c.paint(&Shape::scaled(bc, br, 0.6), -900.0, None);
        }
        // Peripancreatic fat stranding: fat around the gland gets denser.
        let swell = 1.0 + 0.4 * self.oedema;
        let gland = pancreas_tube(self.pancreas_scale, swell, 0.0, 1.0);
        if self.oedema > 0.05 {
            let halo = pancreas_tube(self.pancreas_scale, swell + 0.9 * self.oedema, 0.0, 1.0);
            let s = self.oedema;
            c.modify(&halo, |old| if old < -50.0 { old + 75.0 * s } else { old });
        }
        // Peripancreatic fluid (lesser sac and left anterior pararenal space).
        if self.fluid > 0.0 {
            let f = 0.5 + self.fluid;
            c.paint(
                &Shape::ell([15.0, -16.0, 5.0], [26.0 * f, 9.0 * f, 16.0 * f]),
                15.0,
                Some(LABEL_FLUID),
            );
            c.paint(
                &Shape::ell([55.0, 18.0, 0.0], [18.0 * f, 8.0 * f, 20.0 * f]),
                15.0,
                Some(LABEL_FLUID),
            );
        }
        // The gland: enhancing parenchyma, lower and heterogeneous with oedema.
        let ed = self.oedema;
        c.paint_with(&gland, Some(LABEL_PANCREAS), |i, _| {
            110.0 * k - 45.0 * ed + 35.0 * ed * field[i] + 6.0 * field2[i]
        });
        if self.necrosis > 0.0 {
            let t1 = (self.necrosis_t0 + self.necrosis).min(1.0);
            let seg = pancreas_tube(self.pancreas_scale, swell * 1.3, self.necrosis_t0, t1);
            c.paint_with(&gland.clone().and(seg), Some(LABEL_NECROSIS), |i, _| {
                25.0 + 6.0 * field[i]
            });
        }
        c.blur(self.blur);
        c.noise(&mut r, self.noise_sd, self.hu_offset);
        c.finish()
    }
}

/// Generates the abdominal cohort. Images are rendered lazily ([`Source::Synthetic`]); call
/// [`Cohort::materialize`] to render them all in parallel.
pub fn abdomen_cohort(cfg: &AbdomenConfig) -> Result<Cohort> {
    check_grid(cfg.n_cases, cfg.shape, cfg.fov_mm)?;
    let wsum: f64 = cfg.centre_weights.iter().sum();
    if cfg
        .centre_weights
        .iter()
        .any(|w| !w.is_finite() || *w < 0.0)
        || wsum <= 0.0
    {
        return Err(crate::CohortError::Config {
            field: "centre_weights",
            reason: format!(
                "{:?}: need non-negative weights with a positive sum",
                cfg.centre_weights
            ),
        });
    }
    let mut g = rng(cfg.seed, 0);
    let span = (cfg.end.days() - cfg.start.days()).max(0);
    let mut cases = Vec::with_capacity(cfg.n_cases);
    for i in 0..cfg.n_cases {
        // Centre and its scanner.
        let u: f64 = g.random::<f64>() * wsum;
        let centre = if u < cfg.centre_weights[0] {
            0
        } else if u < cfg.centre_weights[0] + cfg.centre_weights[1] {
            1
        } else {
            2
        };
        let date = Date::from_days(cfg.start.days() + g.random_range(0..=span));
        // Demographics and aetiology.
        let age = normal(&mut g, 52.0, 15.0).clamp(18.0, 95.0).round();
        let age_z = (age - 52.0) / 15.0;
        let etiology = {
            let v: f64 = g.random();
            if v < 0.45 {
                "gallstone"
            } else if v < 0.75 {
                "alcohol"
            } else if v < 0.87 {
                "hypertriglyceridemia"
            } else {
                "other"
            }
        };
        let male = g.random_bool(if etiology == "alcohol" { 0.85 } else { 0.5 });
        let bmi = normal(&mut g, 26.0, 4.0).clamp(16.0, 50.0);
        let ln_tg = if etiology == "hypertriglyceridemia" {
            normal(&mut g, 1200f64.ln(), 0.5)
        } else {
            normal(&mut g, 150f64.ln(), 0.45)
        };
        // Latent severity: local (pancreatic injury) and systemic, correlated (rho = 0.25).
        let centre_shift = [0.0, 0.1, 0.15][centre];
        let tg_term = 0.5 * (ln_tg - 150f64.ln());
        let z1 = normal(&mut g, 0.0, 1.0);
        let z2 = normal(&mut g, 0.0, 1.0);
        let s_img = z1 + centre_shift;
        let s_sys = 0.25 * z1 + (1.0f64 - 0.0625).sqrt() * z2 + centre_shift;
        let lp = s_img + s_sys + tg_term + 0.2 * age_z;
        let severe = lp + normal(&mut g, 0.0, 0.8) > cfg.threshold;
        // Imaging manifestations of the local severity: oedema (texture, attenuation,
        // swelling) tracks it closely; necrosis and collections are coarser and noisier.
        let oedema = sigmoid(1.2 * s_img + normal(&mut g, 0.0, 0.4));
        let necrosis = if s_img + normal(&mut g, 0.0, 1.0) > 1.3 {
            (0.1 + 0.15 * (s_img - 0.5) + normal(&mut g, 0.0, 0.1)).clamp(0.05, 0.8)
        } else {
            0.0
        };
        let necrosis_t0 = g.random_range(0.0..(1.0 - necrosis).max(0.01));
        let fluid = if s_img + normal(&mut g, 0.0, 1.0) > 0.6 {
            (0.3 + 0.3 * s_img + normal(&mut g, 0.0, 0.15)).clamp(0.1, 1.0)
        } else {
            0.0
        };
        let eff_drive = 0.6 * s_sys + 0.3 * s_img + normal(&mut g, 0.0, 0.7);
        let effusion = if eff_drive > 1.1 {
            let d = (0.15 + 0.15 * (eff_drive - 1.1)).min(0.6);
            // Left-sided or bilateral.
            if g.random_bool(0.5) {
                [d * 0.7, d]
            } else {
                [0.0, d]
            }
        } else {
            [0.0, 0.0]
        };
        let ascites = if s_img + s_sys + normal(&mut g, 0.0, 0.7) > 2.2 {
            g.random_range(0.3..1.0)
        } else {
            0.0
        };
        // Systemic signs and laboratory values at admission.
        let sys = s_sys;
        let temp = normal(&mut g, 37.0 + 0.4 * sys, 0.5);
        let hr = normal(&mut g, 88.0 + 8.0 * sys, 10.0).max(40.0);
        let rr = normal(&mut g, 18.0 + 2.0 * sys, 2.5).max(8.0);
        let wbc = normal(&mut g, 11f64.ln() + 0.18 * sys, 0.25).exp();
        let bun = normal(&mut g, 14f64.ln() + 0.25 * sys + 0.1 * age_z, 0.3).exp();
        let crp = normal(&mut g, 60f64.ln() + 0.3 * s_img + 0.3 * sys, 0.6).exp();
        let calcium = normal(&mut g, 9.0 - 0.25 * sys - 0.1 * s_img, 0.4);
        let glucose = normal(&mut g, 130f64.ln() + 0.12 * sys, 0.25).exp();
        let ldh = normal(&mut g, 280f64.ln() + 0.15 * s_img + 0.15 * sys, 0.3).exp();
        let ast_base = if etiology == "gallstone" {
            140f64
        } else {
            60.0
        };
        let ast = normal(&mut g, ast_base.ln() + 0.2 * sys, 0.6).exp();
        let hct = normal(&mut g, 42.0 + 1.5 * sys, 4.0);
        let lipase = normal(&mut g, 1500f64.ln(), 0.7).exp();
        let gcs = if sys + normal(&mut g, 0.0, 0.7) > 1.6 {
            15 - g.random_range(1..=4)
        } else {
            15
        };
        // The report reading now draws from its own stream (below); this draw of the main
        // stream stays so that every later variable, and so every cohort of a given seed, is
        // the same as before the reading model changed.
        if necrosis > 0.0 {
            let _ = normal(&mut g, 0.0, 8.0);
        }
        // Scanner of the centre (after all latent draws, so the mechanism is centre-blind).
        let (nsd, off, blur) = [(12.0, 0.0, 0.5), (18.0, 6.0, 0.7), (24.0, -8.0, 0.6)][centre];
        let deg = std::f64::consts::PI / 180.0;
        let pose = Pose {
            angles: [0, 1, 2].map(|_| normal(&mut g, 0.0, 2.0 * deg).clamp(-6.0 * deg, 6.0 * deg)),
            scale: normal(&mut g, 1.0, 0.04).clamp(0.9, 1.1),
            shift: [
                normal(&mut g, 0.0, 6.0),
                normal(&mut g, 0.0, 6.0),
                normal(&mut g, 0.0, 5.0),
            ],
        };
        let spec = AbdomenSpec {
            shape: cfg.shape,
            fov_mm: cfg.fov_mm,
            pose,
            render_seed: cfg.seed,
            render_stream: i as u64 + 1,
            noise_sd: nsd * g.random_range(0.85f32..1.15),
            hu_offset: off + normal(&mut g, 0.0, 3.0) as f32,
            blur,
            body: ((bmi / 26.0).sqrt() as f32).clamp(0.8, 1.15),
            fat_mm: (10.0 + 1.2 * (bmi - 20.0)).clamp(5.0, 40.0) as f32,
            contrast: normal(&mut g, 1.0, 0.05).clamp(0.85, 1.15) as f32,
            pancreas_scale: normal(&mut g, 1.0, 0.08).clamp(0.8, 1.2) as f32,
            oedema: oedema as f32,
            necrosis: necrosis as f32,
            necrosis_t0: necrosis_t0 as f32,
            fluid: fluid as f32,
            effusion: effusion.map(|x| x as f32),
            ascites: ascites as f32,
            s_img,
            s_sys,
            severe,
        };
        // Radiology report of the admission CT (MCTSI inputs), drawn from a stream of its own
        // so the reading changes neither the image nor any other case. Admission CT is early:
        // necrosis is often not yet demarcated (seen in 60% of the cases that have it), small
        // collections and ascites are missed, and readers disagree on mild oedema.
        let mut gr = rng(cfg.seed, (1u64 << 32) + i as u64);
        let necrosis_seen = necrosis > 0.0 && gr.random_bool(0.6);
        let necrosis_pct = if necrosis_seen {
            (100.0 * necrosis + normal(&mut gr, 0.0, 15.0))
                .clamp(5.0, 100.0)
                .round()
        } else {
            0.0
        };
        let fluid_seen = if fluid > 0.0 {
            gr.random_bool(0.85)
        } else {
            gr.random_bool(0.05)
        };
        let ascites_seen = ascites > 0.0 && gr.random_bool(0.8);
        let pancreas_abnormal = oedema + normal(&mut gr, 0.0, 0.12) > 0.5 || necrosis_seen;
        let spec = Arc::new(Spec::Abdomen(spec));
        let mut clinical = BTreeMap::new();
        let mut put = |k: &str, v: f64| {
            clinical.insert(k.to_string(), ClinicalValue::Num(v));
        };
        let b = |x: bool| f64::from(u8::from(x));
        let r1 = |x: f64| (x * 10.0).round() / 10.0;
        put("age", age);
        put("male", b(male));
        put("bmi", r1(bmi));
        put("gallstone", b(etiology == "gallstone"));
        put("temp_c", r1(temp));
        put("hr", hr.round());
        put("rr", rr.round());
        put("wbc", r1(wbc));
        put("bun", r1(bun));
        put("crp", crp.round());
        put("calcium", (calcium * 100.0).round() / 100.0);
        put("glucose", glucose.round());
        put("ldh", ldh.round());
        put("ast", ast.round());
        put("triglycerides", ln_tg.exp().round());
        put("hematocrit", r1(hct));
        put("lipase", lipase.round());
        put("gcs", f64::from(gcs));
        put(
            "pleural_effusion",
            b(effusion[0] > 0.0 || effusion[1] > 0.0),
        );
        put("ct_pancreas_abnormal", b(pancreas_abnormal));
        put("ct_fluid_collection", b(fluid_seen));
        put("ct_necrosis_pct", necrosis_pct);
        put("ct_ascites", b(ascites_seen));
        clinical.insert("etiology".into(), ClinicalValue::Text(etiology.into()));
        cases.push(Case {
            id: format!("sap-{i:04}"),
            source: Source::Synthetic(spec.clone()),
            truth: Some(spec),
            label: Some(severe),
            split: None,
            centre: Some(CENTRES[centre].into()),
            date: Some(date),
            clinical,
        });
    }
    let mut label_names = BTreeMap::new();
    label_names.insert(LABEL_PANCREAS, "pancreas".to_string());
    label_names.insert(LABEL_NECROSIS, "pancreatic_necrosis".to_string());
    label_names.insert(LABEL_FLUID, "peripancreatic_fluid".to_string());
    Ok(Cohort {
        name: "synthetic-sap".into(),
        study: Study::Abdomen,
        cases,
        target_labels: vec![LABEL_PANCREAS, LABEL_NECROSIS],
        label_names,
    })
}

/// The abdominal spec behind a synthetic case.
pub fn abdomen_spec(case: &Case) -> Option<&AbdomenSpec> {
    match case.truth.as_deref() {
        Some(Spec::Abdomen(x)) => Some(x),
        _ => None,
    }
}
