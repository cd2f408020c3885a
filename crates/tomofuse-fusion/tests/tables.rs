//! Clinical/feature tables: CSV and Parquet reading, the join, and clear errors on bad input
//! (each names the file and the column). The spec schema is checked with Python's
//! `jsonschema` as an independent validator.

use polars::prelude::*;
use std::path::Path;
use tomofuse_fusion::synth::{SynthConfig, generate, write_tables};
use tomofuse_fusion::table::{FeatureTable, TableSpec, join, read_clinical};
use tomofuse_fusion::{FusionError, Modality, XgbModel, XgbParams, check_two_classes};

const SPEC: &str = r#"{
  "id_column": "id",
  "outcome": {"column": "sap", "positive": "severe"},
  "split_column": "split",
  "centre_column": "centre",
  "date_column": "admitted",
  "variables": [
    {"name": "age", "type": "continuous", "unit": "years", "minimum": 0, "maximum": 120},
    {"name": "sex", "type": "categorical", "levels": ["F", "M"]},
    {"name": "effusion", "type": "binary"},
    {"name": "gcs", "type": "integer"}
  ]
}"#;

fn spec() -> TableSpec {
    TableSpec::from_json(SPEC, "inline spec").unwrap()
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

const GOOD: &str = "id,sap,split,centre,admitted,age,sex,effusion,gcs\n\
a,severe,train,A,2021-01-02,70,M,yes,15\n\
b,mild,train,A,2021-02-03,,F,no,14\n\
c,severe,test,B,2021-03-04,55.5,,1,\n\
d,mild,test,B,,30,M,0,15\n";

#[test]
fn reads_csv_with_types_units_and_missing_values() {
    let dir = tempfile::tempdir().unwrap();
    let t = read_clinical(&write(dir.path(), "c.csv", GOOD), &spec()).unwrap();
    assert_eq!(t.ids, ["a", "b", "c", "d"]);
    assert_eq!(t.outcome, [1, 0, 1, 0]);
    assert_eq!(t.names, ["age", "sex=F", "sex=M", "effusion", "gcs"]);
    assert_eq!(t.units[0].as_deref(), Some("years"));
    let age = &t.columns[0];
    assert_eq!((age[0], age[2], age[3]), (70.0, 55.5, 30.0));
    assert!(age[1].is_nan(), "missing stays missing");
    assert_eq!(t.columns[1][..2], [0.0, 1.0]);
    assert!(
        t.columns[1][2].is_nan() && t.columns[2][2].is_nan(),
        "missing category: NaN indicators"
    );
    assert_eq!(t.columns[3], [1.0, 0.0, 1.0, 0.0]);
    assert!(t.columns[4][2].is_nan());
    assert_eq!(t.split.as_ref().unwrap()[2].as_deref(), Some("test"));
    assert_eq!(t.date.as_ref().unwrap()[3], None);
}

#[test]
fn reads_parquet() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.parquet");
    let mut df = df!(
        "id" => ["a", "b", "c"],
        "sap" => ["severe", "mild", "mild"],
        "split" => ["train", "train", "test"],
        "centre" => ["A", "A", "B"],
        "admitted" => ["2021-01-02", "2021-01-03", "2021-01-04"],
        "age" => [Some(70.0f64), None, Some(41.0)],
        "sex" => [Some("M"), Some("F"), None],
        "effusion" => [true, false, true],
        "gcs" => [Some(15i64), Some(13), None]
    )
    .unwrap();
    ParquetWriter::new(std::fs::File::create(&path).unwrap())
        .finish(&mut df)
        .unwrap();
    let t = read_clinical(&path, &spec()).unwrap();
    assert_eq!(t.outcome, [1, 0, 0]);
    assert_eq!(t.columns[0][0], 70.0);
    assert!(t.columns[0][1].is_nan());
    assert_eq!(t.columns[3], [1.0, 0.0, 1.0]);
    assert_eq!(t.columns[4][1], 13.0);
    assert!(t.columns[4][2].is_nan());
}

#[test]
fn synthetic_tables_round_trip_through_files_and_join() {
    let cohort = generate(&SynthConfig {
        n_cases: 60,
        n_radiomics: 12,
        n_deep: 8,
        ..SynthConfig::default()
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let paths = write_tables(&cohort.data, dir.path()).unwrap();
    let spec = TableSpec::from_path(&paths.spec).unwrap();
    let clin = read_clinical(&paths.clinical, &spec).unwrap();
    let rad = FeatureTable::read(&paths.radiomics, "case_id", &[]).unwrap();
    let deep = FeatureTable::read(&paths.deep, "case_id", &[]).unwrap();
    let ds = join(
        &clin,
        &[(Modality::Radiomics, &rad), (Modality::Deep, &deep)],
        false,
    )
    .unwrap();
    let orig = &cohort.data;
    assert_eq!(ds.ids, orig.ids);
    assert_eq!(ds.y, orig.y);
    assert_eq!(ds.names, orig.names);
    assert_eq!(ds.modality, orig.modality);
    let same =
        ds.x.iter()
            .zip(&orig.x)
            .all(|(a, b)| a == b || (a.is_nan() && b.is_nan()));
    assert!(
        same,
        "values (and missing positions) survive the CSV round trip exactly"
    );
    assert!(
        orig.x.iter().any(|v| v.is_nan()),
        "the cohort has missing values to carry"
    );
    assert_eq!(ds.split, orig.split);
}

fn err_of(r: Result<impl std::fmt::Debug, FusionError>) -> String {
    r.unwrap_err().to_string()
}

#[test]
fn bad_inputs_give_errors_naming_file_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let s = spec();
    let header = "id,sap,split,centre,admitted,age,sex,effusion,gcs\n";

    let dup = write(
        d,
        "dup.csv",
        &format!("{header}a,severe,train,A,,70,M,1,15\na,mild,train,A,,60,F,0,15\n"),
    );
    let e = err_of(read_clinical(&dup, &s));
    assert!(
        e.contains("dup.csv") && e.contains("`id`") && e.contains("`a`"),
        "{e}"
    );

    let unknown = write(
        d,
        "unknown.csv",
        "id,sap,split,centre,admitted,age,sex,effusion,gcs,lipase\na,severe,train,A,,70,M,1,15,300\n",
    );
    let e = err_of(read_clinical(&unknown, &s));
    assert!(e.contains("unknown.csv") && e.contains("lipase"), "{e}");

    let missing_col = write(
        d,
        "nogcs.csv",
        "id,sap,split,centre,admitted,age,sex,effusion\na,severe,train,A,,70,M,1\n",
    );
    let e = err_of(read_clinical(&missing_col, &s));
    assert!(e.contains("nogcs.csv") && e.contains("gcs"), "{e}");

    let text_in_number = write(
        d,
        "age.csv",
        &format!("{header}a,severe,train,A,,seventy,M,1,15\n"),
    );
    let e = err_of(read_clinical(&text_in_number, &s));
    assert!(
        e.contains("age.csv")
            && e.contains("`age`")
            && e.contains("seventy")
            && e.contains("row 1"),
        "{e}"
    );

    let frac_int = write(
        d,
        "gcs.csv",
        &format!("{header}a,severe,train,A,,70,M,1,14.5\n"),
    );
    let e = err_of(read_clinical(&frac_int, &s));
    assert!(
        e.contains("gcs.csv") && e.contains("`gcs`") && e.contains("integer"),
        "{e}"
    );

    let bad_bin = write(
        d,
        "eff.csv",
        &format!("{header}a,severe,train,A,,70,M,maybe,15\n"),
    );
    let e = err_of(read_clinical(&bad_bin, &s));
    assert!(
        e.contains("eff.csv") && e.contains("`effusion`") && e.contains("maybe"),
        "{e}"
    );

    let bad_level = write(
        d,
        "sex.csv",
        &format!("{header}a,severe,train,A,,70,X,1,15\n"),
    );
    let e = err_of(read_clinical(&bad_level, &s));
    assert!(
        e.contains("sex.csv") && e.contains("`sex`") && e.contains("\"F\""),
        "{e}"
    );

    let out_of_range = write(
        d,
        "range.csv",
        &format!("{header}a,severe,train,A,,700,M,1,15\n"),
    );
    let e = err_of(read_clinical(&out_of_range, &s));
    assert!(
        e.contains("range.csv") && e.contains("`age`") && e.contains("700"),
        "{e}"
    );

    let no_outcome = write(d, "y.csv", &format!("{header}a,,train,A,,70,M,1,15\n"));
    let e = err_of(read_clinical(&no_outcome, &s));
    assert!(e.contains("y.csv") && e.contains("`sap`"), "{e}");

    // Feature tables: a text cell, a duplicate id, ids missing relative to the clinical table.
    let clin = read_clinical(&write(d, "ok.csv", GOOD), &s).unwrap();
    let rad_text = write(d, "rad_text.csv", "id,f1\na,1\nb,x\nc,3\nd,4\n");
    let e = err_of(FeatureTable::read(&rad_text, "id", &[]));
    assert!(
        e.contains("rad_text.csv") && e.contains("`f1`") && e.contains("row 2"),
        "{e}"
    );
    let rad_dup = write(d, "rad_dup.csv", "id,f1\na,1\na,2\n");
    let e = err_of(FeatureTable::read(&rad_dup, "id", &[]));
    assert!(e.contains("rad_dup.csv") && e.contains("`a`"), "{e}");
    let rad_short =
        FeatureTable::read(&write(d, "rad_short.csv", "id,f1\na,1\nb,2\n"), "id", &[]).unwrap();
    let e = err_of(join(&clin, &[(Modality::Radiomics, &rad_short)], false));
    assert!(
        e.contains("rad_short.csv") && e.contains("2 case id"),
        "{e}"
    );
    let rad_extra = FeatureTable::read(
        &write(d, "rad_extra.csv", "id,f1\na,1\nb,2\nc,3\nd,4\nz,5\n"),
        "id",
        &[],
    )
    .unwrap();
    let e = err_of(join(&clin, &[(Modality::Radiomics, &rad_extra)], false));
    assert!(e.contains("rad_extra.csv") && e.contains("`z`"), "{e}");
    assert!(join(&clin, &[(Modality::Radiomics, &rad_extra)], true).is_ok());
    let clash = FeatureTable::read(
        &write(d, "clash.csv", "id,age\na,1\nb,2\nc,3\nd,4\n"),
        "id",
        &[],
    )
    .unwrap();
    let e = err_of(join(&clin, &[(Modality::Deep, &clash)], false));
    assert!(e.contains("clash.csv") && e.contains("`age`"), "{e}");

    // Spec errors: unknown key, categorical without levels.
    let e = err_of(TableSpec::from_json(
        r#"{"id_column":"id","outcome":{"column":"y"},"variables":[],"colour":1}"#,
        "s.json",
    ));
    assert!(e.contains("s.json") && e.contains("colour"), "{e}");
    let e = err_of(TableSpec::from_json(
        r#"{"id_column":"id","outcome":{"column":"y"},"variables":[{"name":"sex","type":"categorical"}]}"#,
        "s.json",
    ));
    assert!(e.contains("sex") && e.contains("levels"), "{e}");
    let e = err_of(read_clinical(&d.join("absent.csv"), &s));
    assert!(e.contains("absent.csv"), "{e}");
    let e = err_of(read_clinical(&write(d, "t.txt", "x"), &s));
    assert!(e.contains("t.txt"), "{e}");
}

#[test]
fn single_class_outcome_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let all_mild = GOOD.replace("severe", "mild");
    let path = write(dir.path(), "mild.csv", &all_mild);
    let t = read_clinical(&path, &spec()).unwrap();
    let e = check_two_classes(&t.outcome, &t.path)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("mild.csv") && e.contains("single-class") && e.contains("0 positive"),
        "{e}"
    );
    let x = vec![1.0f32; 4];
    let names = vec!["f".to_string()];
    let m = tomofuse_fusion::Matrix::new(&x, 4, 1).unwrap();
    let e = XgbModel::train(m, &[0, 0, 0, 0], &names, &XgbParams::default(), None)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("single-class"), "{e}");
}

/// The spec files we write and accept validate against data-schemas/clinical-table.schema.json
/// with Python's jsonschema, and a spec the Rust reader rejects is rejected there too.
#[test]
fn specs_agree_with_the_json_schema() {
    let Some(py) = tomofuse_core::python_with(&["jsonschema"]) else {
        return;
    };
    let schema = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../data-schemas/clinical-table.schema.json"
    );
    let dir = tempfile::tempdir().unwrap();
    let cohort = generate(&SynthConfig {
        n_cases: 30,
        n_radiomics: 6,
        n_deep: 4,
        ..SynthConfig::default()
    })
    .unwrap();
    let paths = write_tables(&cohort.data, dir.path()).unwrap();
    let good = write(dir.path(), "good.json", SPEC);
    let bad_key = r#"{"id_column":"id","outcome":{"column":"y"},"variables":[],"colour":1}"#;
    let bad_cat = r#"{"id_column":"id","outcome":{"column":"y"},"variables":[{"name":"sex","type":"categorical"}]}"#;
    let bad_type =
        r#"{"id_column":"id","outcome":{"column":"y"},"variables":[{"name":"a","type":"float"}]}"#;
    let bads: Vec<_> = [bad_key, bad_cat, bad_type]
        .iter()
        .enumerate()
        .map(|(i, t)| {
            assert!(
                TableSpec::from_json(t, "bad").is_err(),
                "Rust must reject bad spec {i}"
            );
            write(dir.path(), &format!("bad{i}.json"), t)
        })
        .collect();
    let code = "import json,sys,jsonschema\n\
        s=json.load(open(sys.argv[1]))\n\
        v=jsonschema.Draft202012Validator(s)\n\
        for f in sys.argv[2:]:\n    \
            ok=v.is_valid(json.load(open(f)))\n    \
            print(('valid ' if ok else 'invalid ')+f)\n";
    let mut cmd = std::process::Command::new(py);
    cmd.args(["-c", code, schema]).arg(&paths.spec).arg(&good);
    for b in &bads {
        cmd.arg(b);
    }
    let out = cmd.output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    println!("{text}{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5, "{text}");
    assert!(
        lines[0].starts_with("valid ") && lines[1].starts_with("valid "),
        "{text}"
    );
    assert!(
        lines[2..].iter().all(|l| l.starts_with("invalid ")),
        "{text}"
    );
}

#[test]
fn feature_table_parquet_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let t = FeatureTable {
        path: "mem".into(),
        ids: vec!["a".into(), "b".into(), "c".into()],
        names: vec!["rad_x".into(), "deep_0001".into()],
        columns: vec![vec![1.5, f32::NAN, -3.25], vec![0.0, 1e-7, 7.0]],
    };
    let p = dir.path().join("f.parquet");
    t.write_parquet(&p, "case_id").unwrap();
    let back = FeatureTable::read(&p, "case_id", &[]).unwrap();
    assert_eq!(back.ids, t.ids);
    assert_eq!(back.names, t.names);
    for (a, b) in back.columns.iter().zip(&t.columns) {
        for (x, y) in a.iter().zip(b) {
            assert!(x == y || (x.is_nan() && y.is_nan()), "{x} vs {y}");
        }
    }
    // Ragged input is an error naming the file, not a panic.
    let bad = FeatureTable {
        columns: vec![vec![1.0]],
        ..t.clone()
    };
    let e = bad.write_parquet(&p, "case_id").unwrap_err().to_string();
    assert!(e.contains("f.parquet"), "{e}");
}
