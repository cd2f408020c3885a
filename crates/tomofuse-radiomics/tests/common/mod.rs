//! Shared helpers for the IBSI reference tests: reading the official reference CSVs and
//! comparing feature values with the IBSI rule.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::Path;
use tomofuse_radiomics::Extraction;

pub mod csv;
pub mod ibsi2;

pub use csv::split_csv;

/// One row of an IBSI reference table.
#[derive(Debug, Clone)]
pub struct RefRow {
    pub family: String,
    pub feature: String,
    pub tag: String,
    pub value: f64,
    pub tolerance: f64,
}

/// Rows with a reference value (blank ones are dropped). Handles the BOM and quoted
/// fields spanning lines.
pub fn read_reference(path: &Path) -> Vec<RefRow> {
    let text = std::fs::read_to_string(path).expect("reference CSV readable");
    let text = text.trim_start_matches('\u{feff}');
    // Join physical lines while inside quotes.
    let mut records = Vec::new();
    let mut buf = String::new();
    for line in text.lines() {
        if !buf.is_empty() {
            buf.push(' ');
        }
        buf.push_str(line);
        if buf.matches('"').count().is_multiple_of(2) {
            records.push(std::mem::take(&mut buf));
        }
    }
    let header = split_csv(&records[0]);
    let col = |name: &str| {
        header
            .iter()
            .position(|h| h.trim() == name)
            .expect("column")
    };
    let (cf, cfe, cv, ct, ctag) = (
        col("family"),
        col("feature"),
        col("reference value"),
        col("tolerance"),
        col("tag"),
    );
    records[1..]
        .iter()
        .filter_map(|r| {
            let f = split_csv(r);
            let value: f64 = f.get(cv)?.trim().parse().ok()?;
            Some(RefRow {
                family: f.get(cf)?.trim().to_string(),
                feature: f.get(cfe)?.trim().to_string(),
                tag: f.get(ctag)?.trim().to_string(),
                value,
                tolerance: f.get(ct)?.trim().parse().unwrap_or(0.0),
            })
        })
        .collect()
}

/// Rounds to `sig` significant digits.
pub fn round_sig(x: f64, sig: i32) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    let d = sig - 1 - x.abs().log10().floor() as i32;
    let f = 10f64.powi(d);
    (x * f).round() / f
}

/// IBSI check: within the tolerance, or equal after rounding to 3 significant digits (the
/// precision of the reference values).
pub fn passes(ours: f64, r: &RefRow) -> bool {
    if !ours.is_finite() {
        return false;
    }
    let eps = 1e-9 * r.value.abs().max(1e-12);
    (ours - r.value).abs() <= r.tolerance + eps || (round_sig(ours, 3) - r.value).abs() <= eps
}

/// One compared row.
#[derive(Debug, Clone)]
pub struct Compared {
    pub row: RefRow,
    pub code: String,
    pub ours: f64,
    pub pass: bool,
}

/// Compares every reference row whose tag starts with one of `prefixes` (all when empty)
/// with the extraction. Missing features count as failures.
pub fn compare(ex: &Extraction, refs: &[RefRow], skip_prefixes: &[&str]) -> Vec<Compared> {
    let map: HashMap<&str, (f64, &str)> = ex
        .features
        .iter()
        .map(|f| (f.ibsi_tag.as_str(), (f.value, f.ibsi_code.as_str())))
        .collect();
    refs.iter()
        .filter(|r| !skip_prefixes.iter().any(|p| r.family.starts_with(p)))
        .map(|r| {
            let (ours, code) = map.get(r.tag.as_str()).cloned().unwrap_or((f64::NAN, ""));
            Compared {
                row: r.clone(),
                code: code.to_string(),
                ours,
                pass: passes(ours, r),
            }
        })
        .collect()
}

/// Prints the failures and the pass count; writes a CSV report under the cargo target
/// temp dir (docs/ibsi.md is generated from these by the ignored `generate_ibsi_doc` test).
pub fn report(name: &str, rows: &[Compared]) -> (usize, usize) {
    let pass = rows.iter().filter(|c| c.pass).count();
    for c in rows.iter().filter(|c| !c.pass) {
        eprintln!(
            "FAIL {name} {}: ours {} ref {} tol {}",
            c.row.tag, c.ours, c.row.value, c.row.tolerance
        );
    }
    eprintln!(
        "{name}: {pass}/{} features within IBSI tolerance",
        rows.len()
    );
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ibsi-report");
    let _ = std::fs::create_dir_all(&dir);
    let mut s = String::from("tag,ibsi_code,ours,reference,tolerance,pass\n");
    for c in rows {
        s.push_str(&format!(
            "{},{},{},{},{},{}\n",
            c.row.tag, c.code, c.ours, c.row.value, c.row.tolerance, c.pass
        ));
    }
    let _ = std::fs::write(dir.join(format!("{name}.csv")), s);
    (pass, rows.len())
}
