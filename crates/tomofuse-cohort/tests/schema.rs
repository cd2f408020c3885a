//! The JSON Schema of the manifest and the Rust reader agree: rows written by `write_cohort`
//! validate with the reference Python `jsonschema`, and on a bad manifest both flag the same
//! (line, column) cells.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use tomofuse_cohort::{MemoryIo, Profile, Severity, builtin, parse_manifest, write_cohort};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn python_flags(py: &str, manifest: &Path) -> (BTreeSet<(u64, String)>, usize) {
    let out = Command::new(py)
        .arg(root().join("benches/python/check_manifest_schema.py"))
        .arg(root().join("data-schemas/cohort-manifest.schema.json"))
        .arg(manifest)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut flags = BTreeSet::new();
    let mut rows = 0;
    for l in text.lines() {
        if let Some(n) = l.strip_prefix("rows ") {
            rows = n.parse().unwrap();
        } else {
            let mut f = l.split('\t');
            let line: u64 = f.next().unwrap().parse().unwrap();
            flags.insert((line, f.next().unwrap().to_string()));
        }
    }
    (flags, rows)
}

#[test]
fn schema_and_reader_agree() {
    let Some(py) = tomofuse_core::python_with(&["jsonschema"]) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut c = builtin("sap", Profile::Tiny, 2).unwrap();
    c.cases.truncate(6);
    c.assign_splits(0.3, None, &["C"], 2, false).unwrap();
    let manifest = write_cohort(&c, dir.path(), &MemoryIo::new()).unwrap();
    let (flags, rows) = python_flags(&py, &manifest);
    assert_eq!(rows, 6);
    assert!(
        flags.is_empty(),
        "written manifest violates the schema: {flags:?}"
    );

    let bad = dir.path().join("bad.csv");
    std::fs::write(
        &bad,
        "case_id,image,outcome,split,date,age\n\
         a,a.nii,1,train,2020-01-01,50\n\
         b,b.nii,maybe,train,2020-01-01,50\n\
         c,c.nii,0,holdout,2020-01-01,50\n\
         d,d.nii,TRUE,VAL,2020/01/01,50\n\
         ,e.nii,0,External,20200101,NA\n",
    )
    .unwrap();
    let (py_flags, rows) = python_flags(&py, &bad);
    assert_eq!(rows, 5);
    let m = parse_manifest(&bad).unwrap();
    let rust_flags: BTreeSet<(u64, String)> = m
        .problems
        .iter()
        .filter(|p| p.severity == Severity::Error)
        .map(|p| (p.line.unwrap(), p.column.clone().unwrap_or_default()))
        .collect();
    let expected: BTreeSet<(u64, String)> =
        [(3, "outcome"), (4, "split"), (5, "date"), (6, "case_id")]
            .into_iter()
            .map(|(l, c)| (l, c.to_string()))
            .collect();
    assert_eq!(py_flags, expected, "jsonschema");
    assert_eq!(rust_flags, expected, "tomofuse reader");
}
