//! A seeded synthetic cohort with a known signal, for tests and demos: a few informative
//! clinical, radiomic and deep features among hundreds of noise features.
//!
//! Generating model: three independent latent scores, one per modality, each the scaled sum of
//! that modality's informative features; `logit P(y=1) = b0 + beta * (z_clinical + z_radiomics +
//! z_deep)`. Each modality alone carries a third of the signal, so a model that fuses them must
//! beat every single-modality model, and a selector must find the informative columns. With the
//! defaults an oracle knowing the latent scores reaches an AUC near 0.9 (not 1: the outcome is
//! drawn, as CLINICAL.md asks of a realistic cohort).

use crate::dataset::{Dataset, Modality};
use crate::error::{FusionError, Result};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

#[derive(Clone, Debug)]
pub struct SynthConfig {
    pub n_cases: usize,
    pub n_clinical_noise: usize,
    pub n_radiomics: usize,
    pub n_deep: usize,
    /// Informative features per modality.
    pub n_informative: usize,
    /// Log-odds per unit of each latent score.
    pub beta: f64,
    /// Intercept (sets the prevalence; -1.2 gives about 30 %).
    pub intercept: f64,
    /// Fraction of missing values in two of the clinical variables.
    pub missing_fraction: f64,
    /// Fraction of cases labelled "test" (stratified).
    pub test_fraction: f64,
    pub seed: u64,
}

impl Default for SynthConfig {
    fn default() -> Self {
        SynthConfig {
            n_cases: 600,
            n_clinical_noise: 12,
            n_radiomics: 200,
            n_deep: 128,
            n_informative: 3,
            beta: 1.3,
            intercept: -1.2,
            missing_fraction: 0.05,
            test_fraction: 0.3,
            seed: 7,
        }
    }
}

/// The cohort plus the ground truth.
pub struct SynthCohort {
    pub data: Dataset,
    /// Names of the features that carry the signal.
    pub informative: Vec<String>,
    /// The true linear predictor per case (for an oracle AUC).
    pub true_logit: Vec<f64>,
}

fn normal(rng: &mut ChaCha8Rng) -> f64 {
    StandardNormal.sample(rng)
}

/// Generates the cohort. Same config -> same numbers.
pub fn generate(cfg: &SynthConfig) -> Result<SynthCohort> {
    if cfg.n_cases < 20 || cfg.n_informative == 0 {
        return Err(FusionError::InvalidArgument {
            name: "synth",
            reason: "need at least 20 cases and 1 informative feature".into(),
        });
    }
    if cfg.n_radiomics < cfg.n_informative + 2 || cfg.n_deep < cfg.n_informative {
        return Err(FusionError::InvalidArgument {
            name: "synth",
            reason: "fewer image features than informative ones".into(),
        });
    }
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let n = cfg.n_cases;
    let k = cfg.n_informative;
    let scale = 1.0 / (k as f64).sqrt();

    let mut names: Vec<String> = Vec::new();
    let mut modality: Vec<Modality> = Vec::new();
    let mut cols: Vec<Vec<f32>> = Vec::new();
    let mut informative = Vec::new();
    let mut z = vec![0.0f64; n];

    // Clinical: informative variables in clinical units (monotone maps of standard normals),
    // a noisy binary proxy and noise variables.
    type UnitMap = fn(f64) -> f64;
    let clin_inf: Vec<(&str, UnitMap)> = vec![
        ("age", |c| (55.0 + 15.0 * c).clamp(18.0, 98.0)),
        ("bun", |c| (18.0 * (0.35 * c).exp()).max(1.0)),
        ("triglycerides", |c| 150.0 * (0.6 * c).exp()),
        ("crp", |c| 80.0 * (0.5 * c).exp()),
        ("hematocrit", |c| 42.0 + 4.0 * c),
    ];
    let mut clin_latent = vec![0.0f64; n];
    for (idx, (name, map)) in clin_inf.iter().cycle().take(k).enumerate() {
        let mut col = Vec::with_capacity(n);
        for zi in clin_latent.iter_mut() {
            let c = normal(&mut rng);
            *zi += scale * c;
            col.push(map(c) as f32);
        }
        let name = if idx < clin_inf.len() {
            name.to_string()
        } else {
            format!("{name}_{idx}")
        };
        informative.push(name.clone());
        names.push(name);
        modality.push(Modality::Clinical);
        cols.push(col);
    }
    // A binary proxy of the clinical latent (like pleural effusion): informative but coarse.
    let effusion: Vec<f32> = clin_latent
        .iter()
        .map(|&c| {
            if c + 0.8 * normal(&mut rng) > 0.9 {
                1.0
            } else {
                0.0
            }
        })
        .collect();
    names.push("pleural_effusion".into());
    modality.push(Modality::Clinical);
    cols.push(effusion);
    for i in 0..cfg.n_clinical_noise {
        let col: Vec<f32> = if i % 4 == 0 {
            (0..n)
                .map(|_| if rng.random::<f64>() < 0.5 { 1.0 } else { 0.0 })
                .collect()
        } else {
            (0..n)
                .map(|_| (100.0 + 20.0 * normal(&mut rng)) as f32)
                .collect()
        };
        names.push(format!("clin_noise_{i:02}"));
        modality.push(Modality::Clinical);
        cols.push(col);
    }
    for (zi, c) in z.iter_mut().zip(&clin_latent) {
        *zi += c;
    }

    // Image modalities: informative columns at seeded positions among noise; noise comes in
    // correlated clusters (as radiomic features do) plus one constant column.
    for (m, p, prefix) in [
        (Modality::Radiomics, cfg.n_radiomics, "rad"),
        (Modality::Deep, cfg.n_deep, "deep"),
    ] {
        let mut positions: Vec<usize> = (0..p).collect();
        positions.shuffle(&mut rng);
        let inf_pos: Vec<usize> = positions[..k].to_vec();
        let constant_pos = if m == Modality::Radiomics {
            Some(positions[k])
        } else {
            None
        };
        let mut cluster = vec![0.0f64; n];
        let mut latent = vec![0.0f64; n];
        for j in 0..p {
            let name = format!("{prefix}_{j:03}");
            let col: Vec<f32> = if inf_pos.contains(&j) {
                informative.push(name.clone());
                (0..n)
                    .map(|i| {
                        let v = normal(&mut rng);
                        latent[i] += scale * v;
                        v as f32
                    })
                    .collect()
            } else if Some(j) == constant_pos {
                vec![1.0; n]
            } else {
                if j % 5 == 0 {
                    for c in cluster.iter_mut() {
                        *c = normal(&mut rng);
                    }
                }
                (0..n)
                    .map(|i| (cluster[i] + 0.3 * normal(&mut rng)) as f32)
                    .collect()
            };
            names.push(name);
            modality.push(m);
            cols.push(col);
        }
        for (zi, l) in z.iter_mut().zip(&latent) {
            *zi += l;
        }
    }

    // Missing values in two clinical variables (never the outcome).
    for j in [1usize, 2].into_iter().filter(|&j| j < k) {
        for v in cols[j].iter_mut() {
            if rng.random::<f64>() < cfg.missing_fraction {
                *v = f32::NAN;
            }
        }
    }

    let true_logit: Vec<f64> = z.iter().map(|zi| cfg.intercept + cfg.beta * zi).collect();
    let y: Vec<u8> = true_logit
        .iter()
        .map(|&l| u8::from(rng.random::<f64>() < 1.0 / (1.0 + (-l).exp())))
        .collect();

    let p = names.len();
    let mut x = vec![0f32; n * p];
    for (j, c) in cols.iter().enumerate() {
        for (i, &v) in c.iter().enumerate() {
            x[i * p + j] = v;
        }
    }
    let ids: Vec<String> = (0..n).map(|i| format!("case_{i:04}")).collect();
    let split = stratified_labels(&y, cfg.test_fraction, &mut rng);
    let mut data = Dataset::new(ids, y, names, modality, x)?;
    data.split = Some(split.into_iter().map(Some).collect());
    Ok(SynthCohort {
        data,
        informative,
        true_logit,
    })
}

fn stratified_labels(y: &[u8], test_fraction: f64, rng: &mut ChaCha8Rng) -> Vec<String> {
    let mut out = vec!["train".to_string(); y.len()];
    for class in [0u8, 1] {
        let mut idx: Vec<usize> = (0..y.len()).filter(|&i| y[i] == class).collect();
        idx.shuffle(rng);
        let n_test = (idx.len() as f64 * test_fraction).round() as usize;
        for &i in &idx[..n_test] {
            out[i] = "test".into();
        }
    }
    out
}

/// Paths of the files [`write_tables`] writes.
pub struct TablePaths {
    pub clinical: PathBuf,
    pub spec: PathBuf,
    pub radiomics: PathBuf,
    pub deep: PathBuf,
}

/// Writes the cohort as the files a user would have: `clinical.csv` with its table spec
/// `clinical.spec.json`, `radiomics.csv` and `deep.csv` (missing values as empty cells).
pub fn write_tables(data: &Dataset, dir: &Path) -> Result<TablePaths> {
    let io = |path: &Path, e: std::io::Error| FusionError::Io {
        path: path.display().to_string(),
        source: e,
    };
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let paths = TablePaths {
        clinical: dir.join("clinical.csv"),
        spec: dir.join("clinical.spec.json"),
        radiomics: dir.join("radiomics.csv"),
        deep: dir.join("deep.csv"),
    };
    let fmt = |v: f32| {
        if v.is_nan() {
            String::new()
        } else {
            format!("{v}")
        }
    };
    for (m, path) in [
        (Modality::Clinical, &paths.clinical),
        (Modality::Radiomics, &paths.radiomics),
        (Modality::Deep, &paths.deep),
    ] {
        let cols = data.columns_of(m);
        let mut s = String::from("case_id");
        if m == Modality::Clinical {
            s.push_str(",sap,split");
        }
        for &j in &cols {
            s.push(',');
            s.push_str(&data.names[j]);
        }
        s.push('\n');
        for i in 0..data.n_rows() {
            s.push_str(&data.ids[i]);
            if m == Modality::Clinical {
                let split = data
                    .split
                    .as_ref()
                    .and_then(|v| v[i].clone())
                    .unwrap_or_default();
                let _ = write!(s, ",{},{}", data.y[i], split);
            }
            for &j in &cols {
                s.push(',');
                s.push_str(&fmt(data.get(i, j)));
            }
            s.push('\n');
        }
        std::fs::write(path, s).map_err(|e| io(path, e))?;
    }
    let variables: Vec<serde_json::Value> = data
        .columns_of(Modality::Clinical)
        .into_iter()
        .map(|j| {
            let name = &data.names[j];
            let binary = data
                .column(j, &data.all_rows())
                .iter()
                .all(|&v| v.is_nan() || v == 0.0 || v == 1.0);
            let unit = match name.as_str() {
                "age" => Some("years"),
                "bun" => Some("mg/dL"),
                "triglycerides" => Some("mg/dL"),
                "crp" => Some("mg/L"),
                "hematocrit" => Some("%"),
                _ => None,
            };
            let mut v = serde_json::json!({
                "name": name,
                "type": if binary { "binary" } else { "continuous" },
            });
            if let Some(u) = unit {
                v["unit"] = u.into();
            }
            v
        })
        .collect();
    let spec = serde_json::json!({
        "$schema": "../data-schemas/clinical-table.schema.json",
        "description": "Synthetic SAP cohort (tomofuse_fusion::synth)",
        "id_column": "case_id",
        "outcome": {"column": "sap", "description": "severe acute pancreatitis (persistent organ failure > 48 h)"},
        "split_column": "split",
        "variables": variables,
    });
    let text = serde_json::to_string_pretty(&spec).map_err(|e| FusionError::Spec {
        path: paths.spec.display().to_string(),
        reason: e.to_string(),
    })?;
    std::fs::write(&paths.spec, text).map_err(|e| io(&paths.spec, e))?;
    Ok(paths)
}
