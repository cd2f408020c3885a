//! Real cohorts through a CSV manifest: reading (every problem reported with its line and
//! column), whole-cohort validation before any work, and writing a cohort to a folder as
//! image/mask files plus a manifest, so the same pipeline runs on files.
//!
//! Columns: `case_id` and `image` are required; `mask`, `outcome`, `split`, `centre`, `date`
//! are optional; every other column is a clinical variable. Relative paths are relative to the
//! manifest's folder. Schema: data-schemas/cohort-manifest.schema.json.

use crate::case::{Case, ClinicalValue, Cohort, ImageIo, MaskGrid, Source, Split, Study};
use crate::date::Date;
use crate::error::{CohortError, Result};
use rayon::prelude::*;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

/// Columns with a fixed meaning; all others are clinical variables.
pub const RESERVED_COLUMNS: [&str; 7] = [
    "case_id", "image", "mask", "outcome", "split", "centre", "date",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
    /// Not a problem: something validation did on the user's behalf and wants them to know
    /// (e.g. a mask reoriented onto its image grid).
    Note,
}

/// One problem found in a manifest or a case, located as precisely as possible.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub severity: Severity,
    /// 1-based line of the manifest (the header is line 1).
    pub line: Option<u64>,
    pub case_id: Option<String>,
    pub column: Option<String>,
    pub message: String,
}

impl Problem {
    fn error(
        line: Option<u64>,
        case_id: Option<&str>,
        column: Option<&str>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            severity: Severity::Error,
            line,
            case_id: case_id.map(str::to_string),
            column: column.map(str::to_string),
            message: message.into(),
        }
    }

    fn warning(
        line: Option<u64>,
        case_id: Option<&str>,
        column: Option<&str>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::error(line, case_id, column, message)
        }
    }

    fn note(
        line: Option<u64>,
        case_id: Option<&str>,
        column: Option<&str>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            severity: Severity::Note,
            ..Self::error(line, case_id, column, message)
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        })?;
        if let Some(l) = self.line {
            write!(f, ", line {l}")?;
        }
        if let Some(c) = &self.case_id {
            write!(f, ", case `{c}`")?;
        }
        if let Some(c) = &self.column {
            write!(f, ", column `{c}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// One problem per line, for error messages.
pub fn format_problems(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("  {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A parsed manifest: the cohort, the manifest line of each case, and the problems found.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub path: PathBuf,
    pub cohort: Cohort,
    /// Manifest line of each case (same order as `cohort.cases`).
    pub lines: Vec<u64>,
    pub problems: Vec<Problem>,
}

/// Parses a manifest, collecting row-level problems instead of stopping at the first. Only an
/// unreadable file or a missing required column is an `Err`.
pub fn parse_manifest(path: &Path) -> Result<Manifest> {
    let text = std::fs::read(path).map_err(|source| CohortError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .comment(Some(b'#'))
        .from_reader(text.as_slice());
    let header: Vec<String> = match rdr.headers() {
        Ok(h) => h.iter().map(|s| s.trim().to_string()).collect(),
        Err(e) => {
            return Err(CohortError::Manifest {
                path: path.to_path_buf(),
                problems: vec![Problem::error(
                    Some(1),
                    None,
                    None,
                    format!("unreadable header: {e}"),
                )],
            });
        }
    };
    let col = |name: &str| header.iter().position(|h| h == name);
    for req in ["case_id", "image"] {
        if col(req).is_none() {
            return Err(CohortError::MissingColumn {
                path: path.to_path_buf(),
                column: if req == "case_id" { "case_id" } else { "image" },
                header: header.join(","),
            });
        }
    }
    let mut problems = Vec::new();
    let mut seen_cols = BTreeSet::new();
    for (i, h) in header.iter().enumerate() {
        if h.is_empty() {
            problems.push(Problem::error(
                Some(1),
                None,
                None,
                format!("header column {} has no name", i + 1),
            ));
        } else if !seen_cols.insert(h.clone()) {
            problems.push(Problem::error(
                Some(1),
                None,
                Some(h),
                "duplicate column name",
            ));
        }
    }
    let clinical_cols: Vec<(usize, &String)> = header
        .iter()
        .enumerate()
        .filter(|(_, h)| !h.is_empty() && !RESERVED_COLUMNS.contains(&h.as_str()))
        .collect();
    let mut cases = Vec::new();
    let mut lines = Vec::new();
    let mut first_line: HashMap<String, u64> = HashMap::new();
    let mut kinds: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for rec in rdr.records() {
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map(|p| p.line());
                problems.push(Problem::error(
                    line,
                    None,
                    None,
                    format!("unreadable row: {e}"),
                ));
                continue;
            }
        };
        let line = rec.position().map(|p| p.line());
        if rec.iter().all(|f| f.is_empty()) {
            continue;
        }
        if rec.len() != header.len() {
            problems.push(Problem::error(
                line,
                None,
                None,
                if rec.len() < header.len() {
                    format!(
                        "row has {} fields, header has {} (no value for: {})",
                        rec.len(),
                        header.len(),
                        header[rec.len()..].join(", ")
                    )
                } else {
                    format!("row has {} fields, header has {}", rec.len(), header.len())
                },
            ));
            continue;
        }
        let get = |name: &str| col(name).and_then(|i| rec.get(i)).unwrap_or("");
        let id = get("case_id").to_string();
        let idr = Some(id.as_str()).filter(|s| !s.is_empty());
        if id.is_empty() {
            problems.push(Problem::error(line, None, Some("case_id"), "empty case id"));
        } else if let Some(prev) = first_line.get(&id) {
            problems.push(Problem::error(
                line,
                idr,
                Some("case_id"),
                format!("duplicate case id (first on line {prev})"),
            ));
        } else if let Some(l) = line {
            first_line.insert(id.clone(), l);
        }
        let resolve = |s: &str| {
            let p = PathBuf::from(s);
            if p.is_absolute() { p } else { base.join(p) }
        };
        let image = get("image");
        if image.is_empty() {
            problems.push(Problem::error(line, idr, Some("image"), "empty image path"));
        }
        let mask = Some(get("mask")).filter(|s| !s.is_empty()).map(resolve);
        let label = match get("outcome").to_ascii_lowercase().as_str() {
            "" | "na" => None,
            "1" | "true" | "yes" => Some(true),
            "0" | "false" | "no" => Some(false),
            other => {
                problems.push(Problem::error(
                    line,
                    idr,
                    Some("outcome"),
                    format!("`{other}` is not 0/1/true/false/yes/no (or empty for unknown)"),
                ));
                None
            }
        };
        let split = match get("split") {
            "" => None,
            s => Split::parse(s).or_else(|| {
                problems.push(Problem::error(
                    line,
                    idr,
                    Some("split"),
                    format!("`{s}` is not train/validation/test/external"),
                ));
                None
            }),
        };
        let date = match get("date") {
            "" => None,
            s => Date::parse(s)
                .map_err(|e| problems.push(Problem::error(line, idr, Some("date"), e.to_string())))
                .ok(),
        };
        let centre = Some(get("centre"))
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        let mut clinical = BTreeMap::new();
        for &(i, name) in &clinical_cols {
            let v = ClinicalValue::parse(rec.get(i).unwrap_or(""));
            let k = kinds.entry(name.as_str()).or_default();
            match v {
                ClinicalValue::Num(_) => k.0 += 1,
                ClinicalValue::Text(_) => k.1 += 1,
                ClinicalValue::Missing => {}
            }
            clinical.insert(name.clone(), v);
        }
        cases.push(Case {
            id,
            source: Source::Files {
                image: resolve(image),
                mask,
            },
            label,
            split,
            centre,
            date,
            clinical,
            truth: None,
        });
        lines.push(line.unwrap_or(0));
    }
    for (name, (nums, texts)) in kinds {
        if nums > 0 && texts > 0 {
            problems.push(Problem::warning(
                None,
                None,
                Some(name),
                format!(
                    "mixes {nums} numeric and {texts} text values; text is treated as categorical"
                ),
            ));
        }
    }
    if cases.is_empty() {
        problems.push(Problem::error(None, None, None, "manifest has no cases"));
    }
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "manifest".into());
    Ok(Manifest {
        path: path.to_path_buf(),
        cohort: Cohort {
            name,
            study: Study::Manifest,
            cases,
            target_labels: Vec::new(),
            label_names: BTreeMap::new(),
        },
        lines,
        problems,
    })
}

/// Reads a manifest into a cohort; any error-level problem fails with all of them listed.
pub fn read_manifest(path: &Path) -> Result<Cohort> {
    let m = parse_manifest(path)?;
    let errors: Vec<Problem> = m
        .problems
        .into_iter()
        .filter(|p| p.severity == Severity::Error)
        .collect();
    if errors.is_empty() {
        Ok(m.cohort)
    } else {
        Err(CohortError::Manifest {
            path: path.to_path_buf(),
            problems: errors,
        })
    }
}

/// Result of validating a cohort: every problem found, and what was counted.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub source: String,
    pub n_cases: usize,
    /// Cases whose image (and mask, if any) loaded and passed every per-case check.
    pub n_ok: usize,
    pub n_negative: usize,
    pub n_positive: usize,
    pub n_unlabelled: usize,
    pub problems: Vec<Problem>,
}

impl Report {
    /// True when no error-level problem was found (warnings allowed).
    pub fn is_ok(&self) -> bool {
        !self.problems.iter().any(|p| p.severity == Severity::Error)
    }

    pub fn n_errors(&self) -> usize {
        self.problems
            .iter()
            .filter(|p| p.severity == Severity::Error)
            .count()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}: {} cases, {} passed all checks; outcome: {} positive, {} negative, {} unknown",
            self.source,
            self.n_cases,
            self.n_ok,
            self.n_positive,
            self.n_negative,
            self.n_unlabelled
        )?;
        let count = |s: Severity| self.problems.iter().filter(|p| p.severity == s).count();
        write!(
            f,
            "{} error(s), {} warning(s)",
            self.n_errors(),
            count(Severity::Warning)
        )?;
        match count(Severity::Note) {
            0 => writeln!(f)?,
            n => writeln!(f, ", {n} note(s)")?,
        }
        for p in &self.problems {
            writeln!(f, "  {p}")?;
        }
        Ok(())
    }
}

/// Validates a manifest and every case in it before any work: the manifest's own problems
/// plus everything [`check_cohort`] finds. Never fails: an unreadable manifest is a problem.
pub fn validate_cohort(manifest: &Path, io: &dyn ImageIo) -> Report {
    match parse_manifest(manifest) {
        Ok(m) => {
            let mut r = check_cohort(&m.cohort, Some(&m.lines), io);
            r.source = manifest.display().to_string();
            let mut all = m.problems;
            all.append(&mut r.problems);
            r.problems = all;
            r
        }
        Err(e) => Report {
            source: manifest.display().to_string(),
            problems: vec![Problem::error(None, None, None, e.to_string())],
            ..Report::default()
        },
    }
}

/// [`validate_cohort`] on files read by tomofuse-io (NIfTI, NRRD, DICOM folders).
#[cfg(feature = "io")]
pub fn validate_manifest_files(manifest: &Path) -> Report {
    validate_cohort(manifest, &crate::io::NiftiIo)
}

/// Checks every case of a cohort (in parallel): image readable, finite, not constant; mask
/// readable, on the image's grid, non-empty and holding a target label; then cohort-level
/// checks: duplicate ids, outcome balance overall and per split.
pub fn check_cohort(cohort: &Cohort, lines: Option<&[u64]>, io: &dyn ImageIo) -> Report {
    let per_case: Vec<Vec<Problem>> = cohort
        .cases
        .par_iter()
        .enumerate()
        .map(|(i, c)| {
            let line = lines.and_then(|l| l.get(i).copied());
            let id = Some(c.id.as_str());
            let mut ps = Vec::new();
            let (loaded, grid) = match c.load_with_grid(Some(io)) {
                Ok(l) => l,
                Err(e) => {
                    let col = match &e {
                        CohortError::Image { path, .. } | CohortError::Read { path, .. }
                            if matches!(&c.source, Source::Files { mask: Some(m), .. } if m == path) =>
                        {
                            "mask"
                        }
                        _ => "image",
                    };
                    ps.push(Problem::error(line, id, Some(col), e.to_string()));
                    return ps;
                }
            };
            let img = &loaded.image;
            let bad = img.data.iter().filter(|v| !v.is_finite()).count();
            if bad > 0 {
                ps.push(Problem::error(line, id, Some("image"), format!("{bad} voxel(s) are NaN or infinite")));
            }
            let (mn, mx) = img
                .data
                .iter()
                .filter(|v| v.is_finite())
                .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
            if mn == mx {
                ps.push(Problem::warning(line, id, Some("image"), format!("image is constant ({mn})")));
            }
            if let Some(m) = &loaded.mask {
                let (mask_path, image_path) = match &c.source {
                    Source::Files { image, mask } => (
                        mask.as_deref().map(|p| p.display().to_string()).unwrap_or_default(),
                        image.display().to_string(),
                    ),
                    _ => ("mask".into(), "image".into()),
                };
                match &grid {
                    MaskGrid::Same => {}
                    MaskGrid::Reoriented { .. } => ps.push(Problem::note(
                        line,
                        id,
                        Some("mask"),
                        format!("{mask_path} reoriented onto the grid of {image_path}: {grid}"),
                    )),
                    MaskGrid::Mismatch(e) => ps.push(Problem::error(
                        line,
                        id,
                        Some("mask"),
                        format!("{mask_path} does not match the grid of {image_path}: {e}"),
                    )),
                }
                let mut present = [false; 256];
                for &v in &m.data {
                    present[v as usize] = true;
                }
                let labels: Vec<u8> = (1..=255u8).filter(|&l| present[l as usize]).collect();
                if labels.is_empty() {
                    ps.push(Problem::error(line, id, Some("mask"), "mask has no labelled voxel"));
                } else if !cohort.target_labels.is_empty() && !cohort.target_labels.iter().any(|t| present[*t as usize]) {
                    ps.push(Problem::error(
                        line,
                        id,
                        Some("mask"),
                        format!("none of the target labels {:?} is present (found {labels:?})", cohort.target_labels),
                    ));
                }
            }
            ps
        })
        .collect();
    let mut problems = Vec::new();
    let mut n_ok = 0;
    for ps in per_case {
        if !ps.iter().any(|p| p.severity == Severity::Error) {
            n_ok += 1;
        }
        problems.extend(ps);
    }
    // Duplicate ids (manifests already report them with lines; this covers any cohort).
    if lines.is_none() {
        let mut seen = BTreeSet::new();
        for c in &cohort.cases {
            if !seen.insert(&c.id) {
                problems.push(Problem::error(
                    None,
                    Some(&c.id),
                    Some("case_id"),
                    "duplicate case id",
                ));
            }
        }
    }
    let (neg, pos, unl) = cohort.outcome_counts();
    if pos + neg > 0 {
        if pos == 0 || neg == 0 {
            problems.push(Problem::error(
                None,
                None,
                Some("outcome"),
                format!("only one outcome class present ({pos} positive, {neg} negative): no model can be trained or evaluated"),
            ));
        } else {
            let minority = pos.min(neg) as f64 / (pos + neg) as f64;
            if minority < 0.1 {
                problems.push(Problem::warning(
                    None,
                    None,
                    Some("outcome"),
                    format!("strong imbalance: minority class is {:.1}% ({pos} positive, {neg} negative)", 100.0 * minority),
                ));
            }
        }
        if unl > 0 {
            problems.push(Problem::warning(
                None,
                None,
                Some("outcome"),
                format!("{unl} case(s) have no outcome"),
            ));
        }
        let mut per_split: BTreeMap<Split, (usize, usize)> = BTreeMap::new();
        for c in &cohort.cases {
            if let (Some(s), Some(l)) = (c.split, c.label) {
                let e = per_split.entry(s).or_default();
                if l { e.1 += 1 } else { e.0 += 1 }
            }
        }
        for (s, (n, p)) in per_split {
            if n == 0 || p == 0 {
                problems.push(Problem::warning(
                    None,
                    None,
                    Some("split"),
                    format!("split `{s}` has only one outcome class ({p} positive, {n} negative): its AUC is undefined"),
                ));
            }
        }
    }
    Report {
        source: cohort.name.clone(),
        n_cases: cohort.len(),
        n_ok,
        n_negative: neg,
        n_positive: pos,
        n_unlabelled: unl,
        problems,
    }
}

/// Writes every case of `cohort` to `dir` as `images/<id>.nii.gz` (+ `masks/<id>.nii.gz`) and a
/// `manifest.csv` referencing them (relative paths). Cases are rendered/loaded and written in
/// parallel; the manifest is written last, atomically (temp file + rename), so a folder with a
/// manifest is complete. Returns the manifest path.
pub fn write_cohort(cohort: &Cohort, dir: &Path, io: &dyn ImageIo) -> Result<PathBuf> {
    write_cohort_mapped(cohort, dir, io, None, |_, l| Ok((l, ()))).map(|(p, _)| p)
}

/// What was written for one case: the image's geometry and shape, and what the case mapping
/// returned.
pub(crate) type Written<X> = (tomofuse_core::Geometry, [usize; 3], X);

/// [`write_cohort`] with each loaded case passed through `f` before it is written (e.g. moved
/// onto another grid by [`crate::export`]). Returns the manifest path and, per case, the
/// written image's geometry and shape with what `f` returned.
pub(crate) fn write_cohort_mapped<X, F>(
    cohort: &Cohort,
    dir: &Path,
    io: &dyn ImageIo,
    dicom_uid_seed: Option<u64>,
    f: F,
) -> Result<(PathBuf, Vec<Written<X>>)>
where
    X: Send,
    F: Fn(&Case, crate::case::Loaded) -> Result<(crate::case::Loaded, X)> + Sync,
{
    for sub in ["images", "masks"] {
        let d = dir.join(sub);
        std::fs::create_dir_all(&d).map_err(|source| CohortError::Write {
            path: d.clone(),
            source,
        })?;
    }
    for c in &cohort.cases {
        let ok = !c.id.is_empty()
            && c.id
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch))
            && !c.id.starts_with('.');
        if !ok {
            return Err(CohortError::Case {
                id: c.id.clone(),
                reason: "case id is not a safe file name (use letters, digits, '-', '_', '.')"
                    .into(),
            });
        }
    }
    let written: Vec<(bool, Written<X>)> = cohort
        .cases
        .par_iter()
        .map(|c| {
            let (l, x) = f(c, c.load(Some(io))?)?;
            match dicom_uid_seed {
                Some(seed) => {
                    io.write_image_dicom(&dir.join("images").join(&c.id), &l.image, &c.id, seed)?
                }
                None => io.write_image(
                    &dir.join("images").join(format!("{}.nii.gz", c.id)),
                    &l.image,
                )?,
            }
            if let Some(m) = &l.mask {
                io.write_mask(&dir.join("masks").join(format!("{}.nii.gz", c.id)), m)?;
            }
            Ok((l.mask.is_some(), (l.image.geometry, l.image.shape(), x)))
        })
        .collect::<Result<_>>()?;
    let (has_mask, info): (Vec<bool>, Vec<_>) = written.into_iter().unzip();
    let clin = cohort.clinical_columns();
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<String> = RESERVED_COLUMNS.iter().map(|s| s.to_string()).collect();
    header.extend(clin.iter().cloned());
    let csv_err = |e: csv::Error| CohortError::Write {
        path: dir.join("manifest.csv"),
        source: std::io::Error::other(e),
    };
    w.write_record(&header).map_err(csv_err)?;
    for (c, &m) in cohort.cases.iter().zip(&has_mask) {
        let mut row = vec![
            c.id.clone(),
            match dicom_uid_seed {
                Some(_) => format!("images/{}", c.id),
                None => format!("images/{}.nii.gz", c.id),
            },
            if m {
                format!("masks/{}.nii.gz", c.id)
            } else {
                String::new()
            },
            c.label
                .map(|l| if l { "1" } else { "0" }.to_string())
                .unwrap_or_default(),
            c.split.map(|s| s.to_string()).unwrap_or_default(),
            c.centre.clone().unwrap_or_default(),
            c.date.map(|d| d.to_string()).unwrap_or_default(),
        ];
        row.extend(
            clin.iter()
                .map(|k| c.clinical.get(k).map(|v| v.to_string()).unwrap_or_default()),
        );
        w.write_record(&row).map_err(csv_err)?;
    }
    let bytes = w.into_inner().map_err(|e| CohortError::Write {
        path: dir.join("manifest.csv"),
        source: std::io::Error::other(e.to_string()),
    })?;
    let path = dir.join("manifest.csv");
    let tmp = dir.join(".manifest.csv.tmp");
    std::fs::write(&tmp, bytes).map_err(|source| CohortError::Write {
        path: tmp.clone(),
        source,
    })?;
    std::fs::rename(&tmp, &path).map_err(|source| CohortError::Write {
        path: path.clone(),
        source,
    })?;
    Ok((path, info))
}
