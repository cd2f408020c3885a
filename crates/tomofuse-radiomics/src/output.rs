//! CSV output: wide (one row per case, one column per feature) or long (one row per
//! feature). Provenance goes to a JSON sidecar written by the caller. Features of a filtered
//! image type carry its name: an `image_type` column in the long format, a
//! `<image_type>_` prefix of the column name in the wide format (none for `original`).

use crate::Extraction;
use std::fmt::Write as _;

/// Quotes a CSV field when needed.
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn num(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_string()
    } else {
        format!("{v}")
    }
}

/// Long format: `case_id,image_type,family,feature,ibsi_code,ibsi_tag,value,reason`.
pub fn long_csv(cases: &[(String, Extraction)]) -> String {
    let mut s = String::from("case_id,image_type,family,feature,ibsi_code,ibsi_tag,value,reason\n");
    for (id, ex) in cases {
        for f in &ex.features {
            let _ = writeln!(
                s,
                "{},{},{},{},{},{},{},{}",
                csv_field(id),
                csv_field(&f.image_type),
                csv_field(&f.family),
                csv_field(&f.name),
                csv_field(&f.ibsi_code),
                csv_field(&f.ibsi_tag),
                num(f.value),
                csv_field(f.reason.as_deref().unwrap_or(""))
            );
        }
    }
    s
}

/// Wide format: `case_id` then one column per feature ([`crate::Feature::column`]: the IBSI
/// tag, prefixed by the image type unless `original`), union over cases, first-seen order.
pub fn wide_csv(cases: &[(String, Extraction)]) -> String {
    let mut tags: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (_, ex) in cases {
        for f in &ex.features {
            let c = f.column();
            if seen.insert(c.clone()) {
                tags.push(c);
            }
        }
    }
    let mut s = String::from("case_id");
    for t in &tags {
        s.push(',');
        s.push_str(&csv_field(t));
    }
    s.push('\n');
    for (id, ex) in cases {
        s.push_str(&csv_field(id));
        let map: std::collections::HashMap<String, f64> =
            ex.features.iter().map(|f| (f.column(), f.value)).collect();
        for t in &tags {
            s.push(',');
            s.push_str(&map.get(t.as_str()).map(|v| num(*v)).unwrap_or_default());
        }
        s.push('\n');
    }
    s
}
