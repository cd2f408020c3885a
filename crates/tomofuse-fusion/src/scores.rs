//! Clinical severity scores of acute pancreatitis computed from table columns: BISAP (Wu et al.
//! 2008), Ranson at admission (the five admission criteria of Ranson 1974, a common early
//! variant; the 48-hour criteria are not computed) and the modified CT severity index (Mortele
//! et al. 2004).
//!
//! Units: BUN and glucose mg/dL, WBC 10^9/L (= 10^3/mm^3), temperature degrees C, heart rate
//! /min, respiratory rate /min, PaCO2 mmHg, LDH and AST IU/L, age years, bands %. Thresholds are
//! strict inequalities as published ("BUN > 25 mg/dL"). A score is `None` when a criterion it
//! needs cannot be decided from the available values.

use crate::error::{FusionError, Result};
use crate::table::ClinicalTable;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// The values one case contributes; `None` = missing.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Case {
    pub age: Option<f64>,
    pub bun: Option<f64>,
    pub gcs: Option<f64>,
    pub temperature: Option<f64>,
    pub heart_rate: Option<f64>,
    pub resp_rate: Option<f64>,
    pub paco2: Option<f64>,
    pub wbc: Option<f64>,
    pub bands: Option<f64>,
    pub pleural_effusion: Option<bool>,
    pub glucose: Option<f64>,
    pub ldh: Option<f64>,
    pub ast: Option<f64>,
    pub gallstone: Option<bool>,
    /// MCTSI inflammation: 0 normal, 1 intrinsic pancreatic abnormality (+/- peripancreatic fat
    /// inflammation), 2 fluid collection or peripancreatic fat necrosis.
    pub ct_inflammation: Option<f64>,
    /// Percentage of pancreatic necrosis, 0-100.
    pub necrosis_percent: Option<f64>,
    /// Any extrapancreatic complication (pleural effusion, ascites, vascular, parenchymal or
    /// gastrointestinal involvement).
    pub extrapancreatic: Option<bool>,
}

/// Three-valued count: criteria met, and criteria undecidable for missing data.
fn count(criteria: &[Option<bool>]) -> (u8, u8) {
    let met = criteria.iter().filter(|c| **c == Some(true)).count() as u8;
    let unknown = criteria.iter().filter(|c| c.is_none()).count() as u8;
    (met, unknown)
}

fn gt(v: Option<f64>, t: f64) -> Option<bool> {
    v.map(|v| v > t)
}

fn lt(v: Option<f64>, t: f64) -> Option<bool> {
    v.map(|v| v < t)
}

fn or(a: Option<bool>, b: Option<bool>) -> Option<bool> {
    match (a, b) {
        (Some(true), _) | (_, Some(true)) => Some(true),
        (Some(false), Some(false)) => Some(false),
        // One criterion false and the other unknown: only decidable if the known one is enough.
        (Some(false), None) | (None, Some(false)) => Some(false),
        (None, None) => None,
    }
}

/// SIRS: at least two of temperature < 36 or > 38 C; heart rate > 90; respiratory rate > 20 or
/// PaCO2 < 32 mmHg; WBC < 4 or > 12 x 10^9/L or bands > 10 %. A missing alternative within one
/// criterion counts as not met; `None` only if the count could still reach 2 either way.
pub fn sirs(c: &Case) -> Option<bool> {
    let temp = c.temperature.map(|t| !(36.0..=38.0).contains(&t));
    let hr = gt(c.heart_rate, 90.0);
    let resp = or(gt(c.resp_rate, 20.0), lt(c.paco2, 32.0));
    let wbc = or(c.wbc.map(|w| !(4.0..=12.0).contains(&w)), gt(c.bands, 10.0));
    let (met, unknown) = count(&[temp, hr, resp, wbc]);
    if met >= 2 {
        Some(true)
    } else if met + unknown < 2 {
        Some(false)
    } else {
        None
    }
}

/// BISAP (0-5): BUN > 25 mg/dL, GCS < 15, SIRS, age > 60, pleural effusion.
pub fn bisap(c: &Case) -> Option<u8> {
    let items = [
        gt(c.bun, 25.0),
        lt(c.gcs, 15.0),
        sirs(c),
        gt(c.age, 60.0),
        c.pleural_effusion,
    ];
    let (met, unknown) = count(&items);
    (unknown == 0).then_some(met)
}

/// Ranson admission score (0-5). Non-gallstone: age > 55, WBC > 16, glucose > 200, LDH > 350,
/// AST > 250. Gallstone: age > 70, WBC > 18, glucose > 220, LDH > 400, AST > 250.
pub fn ranson_admission(c: &Case) -> Option<u8> {
    let gallstone = c.gallstone?;
    let (age, wbc, glu, ldh) = if gallstone {
        (70.0, 18.0, 220.0, 400.0)
    } else {
        (55.0, 16.0, 200.0, 350.0)
    };
    let items = [
        gt(c.age, age),
        gt(c.wbc, wbc),
        gt(c.glucose, glu),
        gt(c.ldh, ldh),
        gt(c.ast, 250.0),
    ];
    let (met, unknown) = count(&items);
    (unknown == 0).then_some(met)
}

/// MCTSI (0-10): inflammation 0/2/4, necrosis none 0 / <= 30 % 2 / > 30 % 4,
/// extrapancreatic complications 2. `None` for a missing or invalid component.
pub fn mctsi(c: &Case) -> Option<u8> {
    let grade = c.ct_inflammation?;
    let infl = if grade == 0.0 {
        0
    } else if grade == 1.0 {
        2
    } else if grade == 2.0 {
        4
    } else {
        return None;
    };
    let necrosis = c.necrosis_percent?;
    let nec = if !(0.0..=100.0).contains(&necrosis) {
        return None;
    } else if necrosis == 0.0 {
        0
    } else if necrosis <= 30.0 {
        2
    } else {
        4
    };
    let extra = if c.extrapancreatic? { 2 } else { 0 };
    Some(infl + nec + extra)
}

/// Which clinical-table variables hold each input (names as in the table spec). Unset fields
/// are treated as missing for every case.
///
/// Cohorts that record the CT reading as separate findings instead of the MCTSI's own items
/// name them in the `*_finding` fields: the inflammation grade is then 2 with a fluid
/// collection, else 1 with an abnormal pancreas, else 0; extrapancreatic complications are a
/// pleural effusion or ascites. The items' own columns win when both are present.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ScoreColumns {
    pub age: Option<String>,
    pub bun: Option<String>,
    pub gcs: Option<String>,
    pub temperature: Option<String>,
    pub heart_rate: Option<String>,
    pub resp_rate: Option<String>,
    pub paco2: Option<String>,
    pub wbc: Option<String>,
    pub bands: Option<String>,
    pub pleural_effusion: Option<String>,
    pub glucose: Option<String>,
    pub ldh: Option<String>,
    pub ast: Option<String>,
    pub gallstone: Option<String>,
    pub ct_inflammation: Option<String>,
    pub necrosis_percent: Option<String>,
    pub extrapancreatic: Option<String>,
    pub fluid_collection_finding: Option<String>,
    pub pancreas_abnormal_finding: Option<String>,
    pub ascites_finding: Option<String>,
}

impl Default for ScoreColumns {
    /// The conventional names, identical to the field names (no findings).
    fn default() -> Self {
        let s = |n: &str| Some(n.to_string());
        ScoreColumns {
            age: s("age"),
            bun: s("bun"),
            gcs: s("gcs"),
            temperature: s("temperature"),
            heart_rate: s("heart_rate"),
            resp_rate: s("resp_rate"),
            paco2: s("paco2"),
            wbc: s("wbc"),
            bands: s("bands"),
            pleural_effusion: s("pleural_effusion"),
            glucose: s("glucose"),
            ldh: s("ldh"),
            ast: s("ast"),
            gallstone: s("gallstone"),
            ct_inflammation: s("ct_inflammation"),
            necrosis_percent: s("necrosis_percent"),
            extrapancreatic: s("extrapancreatic"),
            fluid_collection_finding: None,
            pancreas_abnormal_finding: None,
            ascites_finding: None,
        }
    }
}

impl ScoreColumns {
    /// The column names of tomofuse's cohort manifests (`tomofuse cohort export`, the
    /// built-in SAP cohort): `temp_c`, `hr`, `rr`, `ct_necrosis_pct` and the CT findings
    /// `ct_fluid_collection`, `ct_pancreas_abnormal`, `ct_ascites`.
    pub fn cohort_manifest() -> Self {
        let s = |n: &str| Some(n.to_string());
        ScoreColumns {
            temperature: s("temp_c"),
            heart_rate: s("hr"),
            resp_rate: s("rr"),
            ct_inflammation: None,
            necrosis_percent: s("ct_necrosis_pct"),
            extrapancreatic: None,
            fluid_collection_finding: s("ct_fluid_collection"),
            pancreas_abnormal_finding: s("ct_pancreas_abnormal"),
            ascites_finding: s("ct_ascites"),
            ..Self::default()
        }
    }

    /// Every column name this mapping reads.
    pub fn names(&self) -> Vec<&str> {
        [
            &self.age,
            &self.bun,
            &self.gcs,
            &self.temperature,
            &self.heart_rate,
            &self.resp_rate,
            &self.paco2,
            &self.wbc,
            &self.bands,
            &self.pleural_effusion,
            &self.glucose,
            &self.ldh,
            &self.ast,
            &self.gallstone,
            &self.ct_inflammation,
            &self.necrosis_percent,
            &self.extrapancreatic,
            &self.fluid_collection_finding,
            &self.pancreas_abnormal_finding,
            &self.ascites_finding,
        ]
        .into_iter()
        .flatten()
        .map(String::as_str)
        .collect()
    }

    /// One case's score inputs, reading each named column through `get` (`None` = missing).
    pub fn case(&self, get: impl Fn(&str) -> Option<f64>) -> Case {
        let g = |name: &Option<String>| name.as_deref().and_then(&get);
        let b = |name: &Option<String>| g(name).map(|v| v != 0.0);
        let pleural_effusion = b(&self.pleural_effusion);
        let ct_inflammation = g(&self.ct_inflammation).or_else(|| {
            match (
                b(&self.fluid_collection_finding),
                b(&self.pancreas_abnormal_finding),
            ) {
                (Some(true), _) => Some(2.0),
                (_, Some(true)) => Some(1.0),
                (Some(false), Some(false)) => Some(0.0),
                _ => None,
            }
        });
        let extrapancreatic = b(&self.extrapancreatic).or_else(|| {
            self.ascites_finding.as_ref()?;
            match (pleural_effusion, b(&self.ascites_finding)) {
                (Some(a), Some(c)) => Some(a || c),
                _ => None,
            }
        });
        Case {
            age: g(&self.age),
            bun: g(&self.bun),
            gcs: g(&self.gcs),
            temperature: g(&self.temperature),
            heart_rate: g(&self.heart_rate),
            resp_rate: g(&self.resp_rate),
            paco2: g(&self.paco2),
            wbc: g(&self.wbc),
            bands: g(&self.bands),
            pleural_effusion,
            glucose: g(&self.glucose),
            ldh: g(&self.ldh),
            ast: g(&self.ast),
            gallstone: b(&self.gallstone),
            ct_inflammation,
            necrosis_percent: g(&self.necrosis_percent),
            extrapancreatic,
        }
    }
}

/// The built-in scores by their report names, in report order.
pub const BUILTIN: [&str; 3] = ["BISAP", "Ranson (admission)", "MCTSI"];

/// A built-in score by its report name (see [`BUILTIN`]); `None` for an unknown name.
pub fn builtin(name: &str) -> Option<fn(&Case) -> Option<u8>> {
    match name {
        "BISAP" => Some(bisap),
        "Ranson (admission)" => Some(ranson_admission),
        "MCTSI" => Some(mctsi),
        _ => None,
    }
}

/// A comparator's name and its value per case.
pub type NamedScores = (String, Vec<f64>);

/// Comparators of `n` cases: each built-in score `scores` names (see [`BUILTIN`]; its inputs
/// read through `cols`) and each column of `columns` used as a score as it is. `get(i, name)`
/// reads case `i`'s numeric column. A comparator that some case lacks an input for cannot be
/// compared on the same cases: it is returned in the second list instead.
pub fn comparators(
    scores: &[String],
    columns: &[String],
    cols: &ScoreColumns,
    n: usize,
    get: impl Fn(usize, &str) -> Option<f64>,
) -> Result<(Vec<NamedScores>, Vec<String>)> {
    let mut out = Vec::new();
    for name in scores {
        let f = builtin(name).ok_or_else(|| FusionError::InvalidArgument {
            name: "scores",
            reason: format!("unknown score {name:?} (built in: {})", BUILTIN.join(", ")),
        })?;
        let v: Vec<f64> = (0..n)
            .map(|i| f(&cols.case(|k| get(i, k))).map_or(f64::NAN, f64::from))
            .collect();
        out.push((name.clone(), v));
    }
    for col in columns {
        out.push((
            col.clone(),
            (0..n).map(|i| get(i, col).unwrap_or(f64::NAN)).collect(),
        ));
    }
    let (complete, missing): (Vec<_>, Vec<_>) = out
        .into_iter()
        .partition(|(_, v)| v.iter().all(|x| x.is_finite()));
    Ok((complete, missing.into_iter().map(|(n, _)| n).collect()))
}

/// Scores per case, in table order.
#[derive(Clone, Debug, Serialize)]
pub struct Scores {
    pub bisap: Vec<Option<u8>>,
    pub ranson_admission: Vec<Option<u8>>,
    pub mctsi: Vec<Option<u8>>,
}

/// Builds the cases from `table` and computes the three scores. A named column missing from
/// the table is an error naming the file and column; absent names (`None`) or columns the
/// table lacks when `strict` is false count as missing values.
pub fn compute(
    table: &ClinicalTable,
    cols: &ScoreColumns,
    strict: bool,
) -> Result<(Vec<Case>, Scores)> {
    let n = table.ids.len();
    let get = |name: &Option<String>| -> Result<Vec<Option<f64>>> {
        match name {
            None => Ok(vec![None; n]),
            Some(name) => match crate::table::variable(table, name) {
                Ok(v) => Ok(v.into_iter().map(|x| (!x.is_nan()).then_some(x)).collect()),
                Err(e) if strict => Err(e),
                Err(_) => Ok(vec![None; n]),
            },
        }
    };
    let mut columns: HashMap<&str, Vec<Option<f64>>> = HashMap::new();
    for name in cols.names() {
        if !columns.contains_key(name) {
            columns.insert(name, get(&Some(name.to_string()))?);
        }
    }
    let cases: Vec<Case> = (0..n)
        .map(|i| cols.case(|name| columns.get(name).and_then(|c| c[i])))
        .collect();
    let scores = Scores {
        bisap: cases.iter().map(bisap).collect(),
        ranson_admission: cases.iter().map(ranson_admission).collect(),
        mctsi: cases.iter().map(mctsi).collect(),
    };
    Ok((cases, scores))
}
