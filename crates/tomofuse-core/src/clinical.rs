//! Clinical data as every crate sees it: one cell type ([`ClinicalValue`], what a manifest or
//! a generator gives per case) and one table type ([`ClinicalTable`], column-major numbers with
//! ids, outcome, split and centre). The cohort crate produces both; the fusion crate reads a
//! table from a file by a typed spec, joins it with feature tables and maps its columns to
//! clinical scores. Both use the same type, so a cohort's clinical columns reach a model
//! without a copy of the table logic in the orchestrator.

use crate::error::{CoreError, Result};
use std::collections::BTreeMap;
use std::fmt;

/// One clinical variable: a number (booleans are 0/1), free text, or missing.
#[derive(Debug, Clone, PartialEq)]
pub enum ClinicalValue {
    Num(f64),
    Text(String),
    Missing,
}

impl ClinicalValue {
    /// Parses a CSV cell: empty / `NA` / `NaN` -> missing, a finite number -> number,
    /// `true`/`false`/`yes`/`no` -> 1/0, anything else -> text.
    pub fn parse(cell: &str) -> Self {
        let t = cell.trim();
        if t.is_empty() || t.eq_ignore_ascii_case("na") || t.eq_ignore_ascii_case("nan") {
            return Self::Missing;
        }
        if let Ok(v) = t.parse::<f64>() {
            return if v.is_finite() {
                Self::Num(v)
            } else {
                Self::Missing
            };
        }
        match t.to_ascii_lowercase().as_str() {
            "true" | "yes" => Self::Num(1.0),
            "false" | "no" => Self::Num(0.0),
            _ => Self::Text(t.to_string()),
        }
    }

    /// The number, if this is one.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Self::Num(v) => Some(*v),
            _ => None,
        }
    }
}

impl fmt::Display for ClinicalValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // Shortest representation that parses back to the same f64.
            Self::Num(v) => write!(f, "{v}"),
            Self::Text(s) => f.write_str(s),
            Self::Missing => Ok(()),
        }
    }
}

/// One case's clinical row, borrowed from wherever the case lives.
#[derive(Debug, Clone, Copy)]
pub struct ClinicalRecord<'a> {
    pub id: &'a str,
    /// The outcome; a table row needs one.
    pub label: Option<bool>,
    pub split: Option<&'a str>,
    pub centre: Option<&'a str>,
    pub values: &'a BTreeMap<String, ClinicalValue>,
}

/// A clinical table: one row per case, numeric columns (categorical variables as one 0/1
/// column per level, `name=level`), missing values `NaN`.
#[derive(Clone, Debug, PartialEq)]
pub struct ClinicalTable {
    /// Where the table came from (a file path, or a description), for error messages.
    pub path: String,
    pub ids: Vec<String>,
    pub outcome: Vec<u8>,
    pub split: Option<Vec<Option<String>>>,
    pub centre: Option<Vec<Option<String>>>,
    pub date: Option<Vec<Option<String>>>,
    pub names: Vec<String>,
    pub units: Vec<Option<String>>,
    /// Column-major: `columns[j][i]`.
    pub columns: Vec<Vec<f32>>,
}

impl ClinicalTable {
    /// The numeric columns of `records`: present as a number in at least one record and never
    /// as text, sorted by name.
    pub fn numeric_columns(records: &[ClinicalRecord]) -> Vec<String> {
        let mut seen: BTreeMap<&str, bool> = BTreeMap::new();
        for r in records {
            for (k, v) in r.values {
                let numeric = seen.entry(k.as_str()).or_insert(true);
                *numeric &= !matches!(v, ClinicalValue::Text(_));
            }
        }
        seen.into_iter()
            .filter(|&(k, numeric)| {
                numeric
                    && records
                        .iter()
                        .any(|r| r.values.get(k).is_some_and(|v| v.as_f64().is_some()))
            })
            .map(|(k, _)| k.to_string())
            .collect()
    }

    /// The table of `records` over `columns` (each named `prefix` + column), in record order.
    /// A record without an outcome, or a text value in a requested column, is an error naming
    /// the case and the column; a column a record lacks is missing (`NaN`).
    pub fn from_records(
        source: &str,
        records: &[ClinicalRecord],
        columns: &[String],
        prefix: &str,
    ) -> Result<Self> {
        let err = |id: &str, column: &str, reason: String| CoreError::Clinical {
            source_name: source.to_string(),
            detail: format!("case `{id}`, column `{column}`: {reason}"),
        };
        let mut outcome = Vec::with_capacity(records.len());
        for r in records {
            let label = r
                .label
                .ok_or_else(|| err(r.id, "outcome", "no outcome".into()))?;
            outcome.push(u8::from(label));
        }
        let mut data = Vec::with_capacity(columns.len());
        for c in columns {
            let mut col = Vec::with_capacity(records.len());
            for r in records {
                col.push(match r.values.get(c) {
                    Some(ClinicalValue::Num(v)) => *v as f32,
                    Some(ClinicalValue::Missing) | None => f32::NAN,
                    Some(ClinicalValue::Text(t)) => {
                        return Err(err(r.id, c, format!("`{t}` is not a number")));
                    }
                });
            }
            data.push(col);
        }
        Ok(Self {
            path: source.to_string(),
            ids: records.iter().map(|r| r.id.to_string()).collect(),
            outcome,
            split: Some(
                records
                    .iter()
                    .map(|r| r.split.map(str::to_string))
                    .collect(),
            ),
            centre: Some(
                records
                    .iter()
                    .map(|r| r.centre.map(str::to_string))
                    .collect(),
            ),
            date: None,
            names: columns.iter().map(|c| format!("{prefix}{c}")).collect(),
            units: vec![None; columns.len()],
            columns: data,
        })
    }

    /// The values of column `name`, if the table has it.
    pub fn column(&self, name: &str) -> Option<&[f32]> {
        self.names
            .iter()
            .position(|n| n == name)
            .map(|j| self.columns[j].as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(cells: &[(&str, &str)]) -> BTreeMap<String, ClinicalValue> {
        cells
            .iter()
            .map(|(k, v)| (k.to_string(), ClinicalValue::parse(v)))
            .collect()
    }

    #[test]
    fn cells_parse_as_documented() {
        assert_eq!(ClinicalValue::parse(" 3.5 "), ClinicalValue::Num(3.5));
        assert_eq!(ClinicalValue::parse("yes"), ClinicalValue::Num(1.0));
        assert_eq!(ClinicalValue::parse("FALSE"), ClinicalValue::Num(0.0));
        assert_eq!(ClinicalValue::parse("NA"), ClinicalValue::Missing);
        assert_eq!(ClinicalValue::parse("inf"), ClinicalValue::Missing);
        assert_eq!(ClinicalValue::parse("m"), ClinicalValue::Text("m".into()));
        assert_eq!(ClinicalValue::Num(0.1).to_string().parse::<f64>(), Ok(0.1));
    }

    #[test]
    fn records_become_a_column_major_table() {
        let a = values(&[("age", "61"), ("sex", "m"), ("crp", "")]);
        let b = values(&[("age", "47"), ("sex", "f"), ("crp", "120.5")]);
        let c = values(&[("age", "NA")]);
        let rec = |id, values, label| ClinicalRecord {
            id,
            label,
            split: Some("train"),
            centre: Some("A"),
            values,
        };
        let records = [
            rec("a", &a, Some(true)),
            rec("b", &b, Some(false)),
            rec("c", &c, Some(false)),
        ];
        // `sex` is text, so not numeric; `crp` is numeric though missing in a and absent in c.
        let numeric = ClinicalTable::numeric_columns(&records);
        assert_eq!(numeric, ["age", "crp"]);
        let t = ClinicalTable::from_records("cohort", &records, &numeric, "clin_").unwrap();
        assert_eq!(t.ids, ["a", "b", "c"]);
        assert_eq!(t.outcome, [1, 0, 0]);
        assert_eq!(t.names, ["clin_age", "clin_crp"]);
        let age = t.column("clin_age").unwrap();
        assert_eq!(&age[..2], &[61.0, 47.0]);
        assert!(age[2].is_nan());
        let crp = t.column("clin_crp").unwrap();
        assert!(crp[0].is_nan() && crp[1] == 120.5 && crp[2].is_nan());
        assert_eq!(t.centre.as_ref().unwrap()[1].as_deref(), Some("A"));

        let e = ClinicalTable::from_records("cohort", &records, &["sex".into()], "")
            .unwrap_err()
            .to_string();
        assert_eq!(e, "cohort: case `a`, column `sex`: `m` is not a number");
        let unlabelled = [rec("u", &a, None)];
        let e = ClinicalTable::from_records("m.csv", &unlabelled, &[], "")
            .unwrap_err()
            .to_string();
        assert!(e.contains("case `u`") && e.contains("no outcome"), "{e}");
    }
}
