//! Clinical tables (CSV or Parquet, read with polars) described by a JSON table spec that
//! follows `data-schemas/clinical-table.schema.json`, feature tables (radiomics, deep features)
//! keyed by case id, and their join into a [`Dataset`].
//!
//! Every value is parsed here rather than by polars' type inference, so a bad cell is reported
//! with its file, column and row, and a missing value stays missing (`NaN`).

use crate::dataset::{Dataset, Modality};
use crate::error::{FusionError, Result};
use polars::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::path::Path;

/// The table spec: which column is what, and each clinical variable's type and unit.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableSpec {
    #[serde(rename = "$schema", default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub id_column: String,
    pub outcome: OutcomeSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split_column: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub centre_column: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_column: Option<String>,
    pub variables: Vec<VariableSpec>,
    /// Columns present in the file that are deliberately not used.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore_columns: Vec<String>,
}

/// The binary outcome: `positive` names the value that means 1; without it the column must hold
/// 0/1, true/false or yes/no.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutcomeSpec {
    pub column: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub positive: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VarType {
    Continuous,
    Integer,
    Binary,
    Categorical,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariableSpec {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: VarType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Allowed values of a categorical variable; one indicator column per level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub levels: Option<Vec<String>>,
    /// Plausible range: values outside it are errors (catches unit mix-ups, e.g. mmol/L vs mg/dL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum: Option<f64>,
}

impl TableSpec {
    /// Reads and checks a spec file.
    pub fn from_path(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| FusionError::Io {
            path: path.display().to_string(),
            source: e,
        })?;
        Self::from_json(&text, &path.display().to_string())
    }

    /// Parses and checks a spec; `origin` names it in errors.
    pub fn from_json(text: &str, origin: &str) -> Result<Self> {
        let spec: TableSpec = serde_json::from_str(text).map_err(|e| FusionError::Spec {
            path: origin.to_string(),
            reason: e.to_string(),
        })?;
        spec.check(origin)?;
        Ok(spec)
    }

    fn check(&self, origin: &str) -> Result<()> {
        let err = |reason: String| FusionError::Spec {
            path: origin.to_string(),
            reason,
        };
        let mut seen = HashSet::new();
        let mut roles: Vec<&str> = vec![&self.id_column, &self.outcome.column];
        roles.extend(self.split_column.as_deref());
        roles.extend(self.centre_column.as_deref());
        roles.extend(self.date_column.as_deref());
        roles.extend(self.variables.iter().map(|v| v.name.as_str()));
        roles.extend(self.ignore_columns.iter().map(String::as_str));
        for r in roles {
            if !seen.insert(r) {
                return Err(err(format!("column `{r}` is named more than once")));
            }
        }
        for v in &self.variables {
            match (v.kind, &v.levels) {
                (VarType::Categorical, None) => {
                    return Err(err(format!(
                        "categorical variable `{}` needs `levels`",
                        v.name
                    )));
                }
                (VarType::Categorical, Some(l)) if l.is_empty() => {
                    return Err(err(format!(
                        "categorical variable `{}` has no levels",
                        v.name
                    )));
                }
                (k, Some(_)) if k != VarType::Categorical => {
                    return Err(err(format!(
                        "`levels` given for non-categorical variable `{}`",
                        v.name
                    )));
                }
                _ => {}
            }
            if let (Some(lo), Some(hi)) = (v.minimum, v.maximum)
                && lo > hi
            {
                return Err(err(format!(
                    "variable `{}`: minimum {lo} > maximum {hi}",
                    v.name
                )));
            }
        }
        Ok(())
    }
}

/// One column as read, before it is interpreted by the spec.
enum RawColumn {
    Num(Vec<Option<f64>>),
    Str(Vec<Option<String>>),
}

/// A table as named columns of raw values.
struct RawTable {
    path: String,
    height: usize,
    names: Vec<String>,
    columns: HashMap<String, RawColumn>,
}

const MISSING_TOKENS: [&str; 6] = ["", "na", "nan", "null", "none", "n/a"];

fn is_missing_token(s: &str) -> bool {
    let t = s.trim();
    MISSING_TOKENS.iter().any(|m| t.eq_ignore_ascii_case(m))
}

/// Every data row of a CSV must have as many fields as the header: the CSV reader pads a short
/// row with missing values, which would turn a dropped comma into silently missing (or
/// shifted) clinical data.
fn check_csv_row_lengths(path: &Path) -> Result<()> {
    let p = path.display().to_string();
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_path(path)
        .map_err(|e| FusionError::Read {
            path: p.clone(),
            reason: e.to_string(),
        })?;
    let n = rdr
        .byte_headers()
        .map_err(|e| FusionError::Read {
            path: p.clone(),
            reason: e.to_string(),
        })?
        .len();
    for rec in rdr.byte_records() {
        let rec = rec.map_err(|e| FusionError::Read {
            path: p.clone(),
            reason: e.to_string(),
        })?;
        let blank = rec.len() == 1 && rec[0].is_empty();
        if rec.len() != n && !blank {
            let line = rec.position().map_or(0, |pos| pos.line());
            return Err(FusionError::Read {
                path: p,
                reason: format!("line {line} has {} field(s), the header has {n}", rec.len()),
            });
        }
    }
    Ok(())
}

fn read_raw(path: &Path) -> Result<RawTable> {
    let p = path.display().to_string();
    let read_err = |e: PolarsError| FusionError::Read {
        path: p.clone(),
        reason: e.to_string(),
    };
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase())
        .unwrap_or_default();
    if !path.exists() {
        return Err(FusionError::Read {
            path: p,
            reason: "file not found".into(),
        });
    }
    if ext == "csv" {
        check_csv_row_lengths(path)?;
    }
    let df = match ext.as_str() {
        // Everything as text: we parse each cell ourselves to report bad cells precisely.
        "csv" => CsvReadOptions::default()
            .with_has_header(true)
            .with_infer_schema_length(Some(0))
            .try_into_reader_with_file_path(Some(path.to_path_buf()))
            .map_err(read_err)?
            .finish()
            .map_err(read_err)?,
        "parquet" | "pq" => {
            let f = std::fs::File::open(path).map_err(|e| FusionError::Io {
                path: p.clone(),
                source: e,
            })?;
            ParquetReader::new(f).finish().map_err(read_err)?
        }
        _ => return Err(FusionError::UnsupportedFormat { path: p }),
    };
    let height = df.height();
    let mut names = Vec::new();
    let mut columns = HashMap::new();
    for c in df.columns() {
        let name = c.name().to_string();
        let dtype = c.dtype().clone();
        let col = if dtype.is_primitive_numeric() || dtype == DataType::Boolean {
            let cast = c.cast(&DataType::Float64).map_err(read_err)?;
            RawColumn::Num(cast.f64().map_err(read_err)?.iter().collect())
        } else {
            let cast = c
                .cast(&DataType::String)
                .map_err(|e| FusionError::ColumnType {
                    path: p.clone(),
                    column: name.clone(),
                    expected: "a number, boolean or text".into(),
                    found: format!("{dtype} ({e})"),
                })?;
            RawColumn::Str(
                cast.str()
                    .map_err(read_err)?
                    .iter()
                    .map(|v| v.and_then(|s| (!is_missing_token(s)).then(|| s.trim().to_string())))
                    .collect(),
            )
        };
        if columns.insert(name.clone(), col).is_some() {
            return Err(FusionError::Read {
                path: p.clone(),
                reason: format!("column `{name}` appears twice in the header"),
            });
        }
        names.push(name);
    }
    Ok(RawTable {
        path: p,
        height,
        names,
        columns,
    })
}

impl RawTable {
    fn take(&mut self, column: &str) -> Result<RawColumn> {
        self.columns
            .remove(column)
            .ok_or_else(|| FusionError::MissingColumn {
                path: self.path.clone(),
                column: column.to_string(),
            })
    }

    /// Case ids as text; missing or duplicate ids are errors.
    fn ids(&mut self, column: &str) -> Result<Vec<String>> {
        let path = self.path.clone();
        let ids: Vec<String> = match self.take(column)? {
            RawColumn::Str(v) => v
                .into_iter()
                .enumerate()
                .map(|(row, s)| {
                    s.ok_or_else(|| FusionError::MissingValue {
                        path: path.clone(),
                        column: column.to_string(),
                        row: row + 1,
                    })
                })
                .collect::<Result<_>>()?,
            RawColumn::Num(v) => v
                .into_iter()
                .enumerate()
                .map(|(row, s)| match s {
                    Some(x) if x.fract() == 0.0 => Ok(format!("{}", x as i64)),
                    Some(x) => Ok(format!("{x}")),
                    None => Err(FusionError::MissingValue {
                        path: path.clone(),
                        column: column.to_string(),
                        row: row + 1,
                    }),
                })
                .collect::<Result<_>>()?,
        };
        let mut first = HashMap::with_capacity(ids.len());
        for (row, id) in ids.iter().enumerate() {
            if let Some(&prev) = first.get(id.as_str()) {
                return Err(FusionError::DuplicateId {
                    path,
                    column: column.to_string(),
                    id: id.clone(),
                    first: prev + 1,
                    second: row + 1,
                });
            }
            first.insert(id.as_str(), row);
        }
        Ok(ids)
    }

    fn text(&mut self, column: &str) -> Result<Vec<Option<String>>> {
        Ok(match self.take(column)? {
            RawColumn::Str(v) => v,
            RawColumn::Num(v) => v.into_iter().map(|x| x.map(|x| format!("{x}"))).collect(),
        })
    }

    /// Numbers; text cells must parse. `row` in errors is 1-based over data rows.
    fn numbers(&mut self, column: &str, expected: &str) -> Result<Vec<Option<f64>>> {
        let path = self.path.clone();
        match self.take(column)? {
            RawColumn::Num(v) => Ok(v),
            RawColumn::Str(v) => v
                .into_iter()
                .enumerate()
                .map(|(row, s)| match s {
                    None => Ok(None),
                    Some(s) => s
                        .parse::<f64>()
                        .map(Some)
                        .map_err(|_| FusionError::TypeMismatch {
                            path: path.clone(),
                            column: column.to_string(),
                            row: row + 1,
                            expected: expected.to_string(),
                            found: s,
                        }),
                })
                .collect(),
        }
    }

    /// 0/1, true/false, yes/no (case-insensitive), or numeric 0/1.
    fn binary(&mut self, column: &str) -> Result<Vec<Option<f64>>> {
        let path = self.path.clone();
        let mismatch = |row: usize, found: String| FusionError::TypeMismatch {
            path: path.clone(),
            column: column.to_string(),
            row: row + 1,
            expected: "a binary value (0/1, true/false, yes/no)".into(),
            found,
        };
        match self.take(column)? {
            RawColumn::Num(v) => v
                .into_iter()
                .enumerate()
                .map(|(row, x)| match x {
                    None => Ok(None),
                    Some(x) if x == 0.0 || x == 1.0 => Ok(Some(x)),
                    Some(x) => Err(mismatch(row, format!("{x}"))),
                })
                .collect(),
            RawColumn::Str(v) => v
                .into_iter()
                .enumerate()
                .map(|(row, s)| match s {
                    None => Ok(None),
                    Some(s) => match s.to_ascii_lowercase().as_str() {
                        "1" | "1.0" | "true" | "yes" | "y" => Ok(Some(1.0)),
                        "0" | "0.0" | "false" | "no" | "n" => Ok(Some(0.0)),
                        _ => Err(mismatch(row, s)),
                    },
                })
                .collect(),
        }
    }
}

pub use tomofuse_core::ClinicalTable;

/// Reads a clinical table from `path` (.csv or .parquet) as described by `spec`. Categorical
/// variables become one 0/1 column per level (`name=level`); everything else one column;
/// missing values are `NaN`. Columns the spec does not name are errors unless listed in
/// `ignore_columns`.
pub fn read_clinical(path: &Path, spec: &TableSpec) -> Result<ClinicalTable> {
    let mut raw = read_raw(path)?;
    let p = raw.path.clone();
    let mut known: HashSet<&str> = HashSet::new();
    known.insert(&spec.id_column);
    known.insert(&spec.outcome.column);
    known.extend(spec.split_column.as_deref());
    known.extend(spec.centre_column.as_deref());
    known.extend(spec.date_column.as_deref());
    known.extend(spec.variables.iter().map(|v| v.name.as_str()));
    known.extend(spec.ignore_columns.iter().map(String::as_str));
    if let Some(c) = raw.names.iter().find(|c| !known.contains(c.as_str())) {
        return Err(FusionError::UnknownColumn {
            path: p,
            column: c.clone(),
        });
    }
    let ids = raw.ids(&spec.id_column)?;
    let outcome = read_outcome(&mut raw, &spec.outcome)?;
    let split = spec
        .split_column
        .as_deref()
        .map(|c| raw.text(c))
        .transpose()?;
    let centre = spec
        .centre_column
        .as_deref()
        .map(|c| raw.text(c))
        .transpose()?;
    let date = spec
        .date_column
        .as_deref()
        .map(|c| raw.text(c))
        .transpose()?;
    for c in &spec.ignore_columns {
        raw.take(c)?;
    }
    let mut names = Vec::new();
    let mut units = Vec::new();
    let mut columns = Vec::new();
    for v in &spec.variables {
        let values = match v.kind {
            VarType::Continuous => raw.numbers(&v.name, "a number")?,
            VarType::Integer => {
                let vals = raw.numbers(&v.name, "an integer")?;
                if let Some((row, x)) = vals
                    .iter()
                    .enumerate()
                    .find_map(|(r, x)| x.filter(|x| x.fract() != 0.0).map(|x| (r, x)))
                {
                    return Err(FusionError::TypeMismatch {
                        path: p,
                        column: v.name.clone(),
                        row: row + 1,
                        expected: "an integer".into(),
                        found: format!("{x}"),
                    });
                }
                vals
            }
            VarType::Binary => raw.binary(&v.name)?,
            VarType::Categorical => {
                let levels = v.levels.clone().unwrap_or_default();
                let text = raw.text(&v.name)?;
                let mut ind = vec![vec![f32::NAN; text.len()]; levels.len()];
                for (row, s) in text.iter().enumerate() {
                    let Some(s) = s else { continue };
                    let Some(k) = levels.iter().position(|l| l == s) else {
                        return Err(FusionError::TypeMismatch {
                            path: p,
                            column: v.name.clone(),
                            row: row + 1,
                            expected: format!("one of {levels:?}"),
                            found: s.clone(),
                        });
                    };
                    for (l, col) in ind.iter_mut().enumerate() {
                        col[row] = if l == k { 1.0 } else { 0.0 };
                    }
                }
                for (l, col) in levels.iter().zip(ind) {
                    names.push(format!("{}={}", v.name, l));
                    units.push(None);
                    columns.push(col);
                }
                continue;
            }
        };
        for (row, x) in values.iter().enumerate() {
            let Some(x) = *x else { continue };
            let below = v.minimum.is_some_and(|lo| x < lo);
            let above = v.maximum.is_some_and(|hi| x > hi);
            if below || above || !x.is_finite() {
                return Err(FusionError::TypeMismatch {
                    path: p,
                    column: v.name.clone(),
                    row: row + 1,
                    expected: format!(
                        "a finite value in [{}, {}]{}",
                        v.minimum.map_or("-inf".into(), |x| x.to_string()),
                        v.maximum.map_or("inf".into(), |x| x.to_string()),
                        v.unit
                            .as_deref()
                            .map(|u| format!(" {u}"))
                            .unwrap_or_default()
                    ),
                    found: format!("{x}"),
                });
            }
        }
        names.push(v.name.clone());
        units.push(v.unit.clone());
        columns.push(
            values
                .into_iter()
                .map(|x| x.map_or(f32::NAN, |x| x as f32))
                .collect(),
        );
    }
    debug_assert_eq!(ids.len(), raw.height);
    Ok(ClinicalTable {
        path: p,
        ids,
        outcome,
        split,
        centre,
        date,
        names,
        units,
        columns,
    })
}

/// A clinical variable by name (as `f64`, `NaN` = missing); a column the table lacks is an
/// error naming the table and the column.
pub fn variable(table: &ClinicalTable, name: &str) -> Result<Vec<f64>> {
    let col = table
        .column(name)
        .ok_or_else(|| FusionError::MissingColumn {
            path: table.path.clone(),
            column: name.to_string(),
        })?;
    Ok(col.iter().map(|&v| v as f64).collect())
}

fn read_outcome(raw: &mut RawTable, spec: &OutcomeSpec) -> Result<Vec<u8>> {
    let path = raw.path.clone();
    let missing = |row: usize| FusionError::MissingValue {
        path: path.clone(),
        column: spec.column.clone(),
        row: row + 1,
    };
    match &spec.positive {
        Some(pos) => raw
            .text(&spec.column)?
            .into_iter()
            .enumerate()
            .map(|(row, s)| {
                let s = s.ok_or_else(|| missing(row))?;
                let is_pos = s == *pos
                    || matches!((s.parse::<f64>(), pos.parse::<f64>()), (Ok(a), Ok(b)) if a == b);
                Ok(u8::from(is_pos))
            })
            .collect(),
        None => raw
            .binary(&spec.column)?
            .into_iter()
            .enumerate()
            .map(|(row, x)| x.map(|x| x as u8).ok_or_else(|| missing(row)))
            .collect(),
    }
}

/// A numeric feature table (radiomics or deep features): one id column, every other column a
/// feature. Missing values are `NaN`.
#[derive(Clone, Debug)]
pub struct FeatureTable {
    pub path: String,
    pub ids: Vec<String>,
    pub names: Vec<String>,
    /// Column-major: `columns[j][i]`.
    pub columns: Vec<Vec<f32>>,
}

impl FeatureTable {
    /// Reads `path` (.csv or .parquet); `id_column` holds the case id; `ignore` lists non-feature
    /// columns to drop (e.g. a label column written by an extractor).
    pub fn read(path: &Path, id_column: &str, ignore: &[String]) -> Result<Self> {
        let mut raw = read_raw(path)?;
        let ids = raw.ids(id_column)?;
        for c in ignore {
            raw.take(c)?;
        }
        let names: Vec<String> = raw
            .names
            .iter()
            .filter(|n| n.as_str() != id_column && !ignore.contains(n))
            .cloned()
            .collect();
        let mut columns = Vec::with_capacity(names.len());
        for n in &names {
            let v = raw.numbers(n, "a number")?;
            columns.push(
                v.into_iter()
                    .map(|x| x.map_or(f32::NAN, |x| x as f32))
                    .collect(),
            );
        }
        Ok(FeatureTable {
            path: raw.path,
            ids,
            names,
            columns,
        })
    }
}

impl FeatureTable {
    /// Writes the table as Parquet (`id_column` first, then one Float32 column per feature) so
    /// that [`FeatureTable::read`] gives it back unchanged.
    pub fn write_parquet(&self, path: &Path, id_column: &str) -> Result<()> {
        let err = |reason: String| FusionError::Write {
            path: path.display().to_string(),
            reason,
        };
        if self.columns.len() != self.names.len()
            || self.columns.iter().any(|c| c.len() != self.ids.len())
        {
            return Err(err(format!(
                "{} ids, {} names and {} columns do not line up",
                self.ids.len(),
                self.names.len(),
                self.columns.len()
            )));
        }
        let mut cols: Vec<Column> = Vec::with_capacity(self.names.len() + 1);
        cols.push(Column::new(id_column.into(), self.ids.clone()));
        for (n, c) in self.names.iter().zip(&self.columns) {
            cols.push(Column::new(n.as_str().into(), c.clone()));
        }
        let mut df = DataFrame::new(self.ids.len(), cols).map_err(|e| err(e.to_string()))?;
        let f = std::fs::File::create(path).map_err(|e| err(e.to_string()))?;
        ParquetWriter::new(f)
            .finish(&mut df)
            .map_err(|e| err(e.to_string()))?;
        Ok(())
    }
}

impl FeatureTable {
    /// A table built in memory, one row per case (`path` names where it comes from in
    /// errors). Every row must have one value per name.
    pub fn from_rows(
        path: &str,
        names: Vec<String>,
        rows: Vec<(String, Vec<f32>)>,
    ) -> Result<Self> {
        let mut columns = vec![Vec::with_capacity(rows.len()); names.len()];
        let mut ids = Vec::with_capacity(rows.len());
        for (id, values) in rows {
            if values.len() != names.len() {
                return Err(FusionError::LengthMismatch {
                    what: format!("{path}: row `{id}`"),
                    got: values.len(),
                    expected: names.len(),
                });
            }
            for (c, v) in columns.iter_mut().zip(values) {
                c.push(v);
            }
            ids.push(id);
        }
        Ok(FeatureTable {
            path: path.into(),
            ids,
            names,
            columns,
        })
    }
}

/// Picks columns by name or prefix, sorted: `include` and `exclude` entries are column names,
/// or prefixes ending in `*` (`*` alone matches every column). A plain name in `include` that
/// no column has is an error naming `key`, so a misspelt clinical variable is never dropped
/// silently.
pub fn select_columns(
    available: &[String],
    include: &[String],
    exclude: &[String],
    key: &'static str,
) -> Result<Vec<String>> {
    let matches = |pat: &str, name: &str| match pat.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => pat == name,
    };
    for pat in include {
        if !pat.ends_with('*') && !available.iter().any(|a| a == pat) {
            return Err(FusionError::InvalidArgument {
                name: key,
                reason: format!(
                    "column `{pat}` is not a numeric column of the cohort (it has: {})",
                    available.join(", ")
                ),
            });
        }
    }
    let mut out: Vec<String> = available
        .iter()
        .filter(|a| include.iter().any(|p| matches(p, a)))
        .filter(|a| !exclude.iter().any(|p| matches(p, a)))
        .cloned()
        .collect();
    out.sort();
    out.dedup();
    Ok(out)
}

/// Joins a clinical table with feature tables by case id. Every clinical case must be present
/// in every feature table; ids a feature table has beyond the clinical table are errors unless
/// `allow_extra_ids`. Feature names must be unique across tables.
pub fn join(
    clinical: &ClinicalTable,
    tables: &[(Modality, &FeatureTable)],
    allow_extra_ids: bool,
) -> Result<Dataset> {
    let n = clinical.ids.len();
    let mut names: Vec<String> = clinical.names.clone();
    let mut modality = vec![Modality::Clinical; names.len()];
    let mut origin: HashMap<String, String> = names
        .iter()
        .map(|n| (n.clone(), clinical.path.clone()))
        .collect();
    let mut cols: Vec<Vec<f32>> = clinical.columns.clone();
    for (m, t) in tables {
        let index: HashMap<&str, usize> = t
            .ids
            .iter()
            .enumerate()
            .map(|(i, id)| (id.as_str(), i))
            .collect();
        let missing: Vec<&String> = clinical
            .ids
            .iter()
            .filter(|id| !index.contains_key(id.as_str()))
            .collect();
        if let Some(first) = missing.first() {
            return Err(FusionError::MissingIds {
                path: t.path.clone(),
                count: missing.len(),
                example: (*first).clone(),
            });
        }
        if !allow_extra_ids {
            let known: HashSet<&str> = clinical.ids.iter().map(String::as_str).collect();
            let extra: Vec<&String> = t
                .ids
                .iter()
                .filter(|id| !known.contains(id.as_str()))
                .collect();
            if let Some(first) = extra.first() {
                return Err(FusionError::ExtraIds {
                    path: t.path.clone(),
                    count: extra.len(),
                    example: (*first).clone(),
                });
            }
        }
        let rows: Vec<usize> = clinical.ids.iter().map(|id| index[id.as_str()]).collect();
        for (name, col) in t.names.iter().zip(&t.columns) {
            if let Some(prev) = origin.get(name) {
                return Err(FusionError::DuplicateFeature {
                    name: name.clone(),
                    first: prev.clone(),
                    second: t.path.clone(),
                });
            }
            origin.insert(name.clone(), t.path.clone());
            names.push(name.clone());
            modality.push(*m);
            cols.push(rows.iter().map(|&r| col[r]).collect());
        }
    }
    let p = names.len();
    let mut x = vec![0f32; n * p];
    for (j, c) in cols.iter().enumerate() {
        for (i, &v) in c.iter().enumerate() {
            x[i * p + j] = v;
        }
    }
    let mut ds = Dataset::new(
        clinical.ids.clone(),
        clinical.outcome.clone(),
        names,
        modality,
        x,
    )?;
    ds.split = clinical.split.clone();
    ds.centre = clinical.centre.clone();
    Ok(ds)
}

#[cfg(test)]
mod selection_tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    /// Names, prefixes and exclusions pick exactly the columns a naive filter picks; a
    /// misspelt name is an error naming the key and the column.
    #[test]
    fn columns_by_name_and_prefix() {
        let cols = names(&[
            "age",
            "bun",
            "ct_ascites",
            "ct_necrosis_pct",
            "lab_crp",
            "lab_wbc",
        ]);
        let all = select_columns(&cols, &names(&["*"]), &names(&["ct_*"]), "k").unwrap();
        assert_eq!(all, names(&["age", "bun", "lab_crp", "lab_wbc"]));
        let some = select_columns(&cols, &names(&["lab_*", "age"]), &names(&["lab_wbc"]), "k");
        assert_eq!(some.unwrap(), names(&["age", "lab_crp"]));
        let e = select_columns(&cols, &names(&["agee"]), &[], "fusion.clinical_columns")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("fusion.clinical_columns") && e.contains("agee"),
            "{e}"
        );
        // A prefix that matches nothing selects nothing (it is a pattern, not a name).
        assert!(
            select_columns(&cols, &names(&["x_*"]), &[], "k")
                .unwrap()
                .is_empty()
        );
    }
}
