//! Clinical scores against cases worked out by hand from the published criteria
//! (shared/docs/CLINICAL.md: BISAP, Wu et al. 2008; Ranson 1974 admission criteria; MCTSI,
//! Mortele et al. 2004). Each expected value is derived in the comment next to it.

use tomofuse_fusion::scores::{Case, ScoreColumns, bisap, compute, mctsi, ranson_admission, sirs};
use tomofuse_fusion::table::{TableSpec, read_clinical};

fn base() -> Case {
    Case {
        age: Some(40.0),
        bun: Some(10.0),
        gcs: Some(15.0),
        temperature: Some(37.0),
        heart_rate: Some(80.0),
        resp_rate: Some(16.0),
        paco2: Some(40.0),
        wbc: Some(8.0),
        bands: Some(0.0),
        pleural_effusion: Some(false),
        glucose: Some(100.0),
        ldh: Some(200.0),
        ast: Some(30.0),
        gallstone: Some(false),
        ct_inflammation: Some(0.0),
        necrosis_percent: Some(0.0),
        extrapancreatic: Some(false),
    }
}

#[test]
fn bisap_hand_computed() {
    // BUN 30 > 25 (1); GCS 15 not < 15 (0); T 38.5 > 38 and HR 100 > 90 -> SIRS (1);
    // age 65 > 60 (1); pleural effusion (1): BISAP 4.
    let a = Case {
        age: Some(65.0),
        bun: Some(30.0),
        temperature: Some(38.5),
        heart_rate: Some(100.0),
        pleural_effusion: Some(true),
        ..base()
    };
    assert_eq!(sirs(&a), Some(true));
    assert_eq!(bisap(&a), Some(4));

    // Every value exactly on a threshold (criteria are strict): age 60, BUN 25, T 38, HR 90,
    // RR 20, PaCO2 32, WBC 12: nothing met, BISAP 0, no SIRS.
    let b = Case {
        age: Some(60.0),
        bun: Some(25.0),
        temperature: Some(38.0),
        heart_rate: Some(90.0),
        resp_rate: Some(20.0),
        paco2: Some(32.0),
        wbc: Some(12.0),
        ..base()
    };
    assert_eq!(sirs(&b), Some(false));
    assert_eq!(bisap(&b), Some(0));

    // GCS 14 (1); T 35.5 < 36, RR 22 > 20, WBC 3.5 < 4 -> SIRS (1); age 45, BUN 10: BISAP 2.
    let c = Case {
        age: Some(45.0),
        gcs: Some(14.0),
        temperature: Some(35.5),
        resp_rate: Some(22.0),
        wbc: Some(3.5),
        ..base()
    };
    assert_eq!(bisap(&c), Some(2));

    // SIRS through the alternatives: PaCO2 30 < 32 (respiratory) and bands 12 % > 10 % (WBC).
    let d = Case {
        paco2: Some(30.0),
        bands: Some(12.0),
        ..base()
    };
    assert_eq!(sirs(&d), Some(true));
    // A single SIRS criterion (HR 95) is not SIRS.
    let e = Case {
        heart_rate: Some(95.0),
        ..base()
    };
    assert_eq!(sirs(&e), Some(false));
}

#[test]
fn missing_values_make_scores_undecidable_only_when_they_matter() {
    let mut c = base();
    c.bun = None;
    assert_eq!(bisap(&c), None, "BUN unknown: BISAP undecidable");
    // Two SIRS criteria met, the other two unknown: SIRS is decided.
    let s = Case {
        temperature: Some(39.0),
        heart_rate: Some(120.0),
        resp_rate: None,
        paco2: None,
        wbc: None,
        bands: None,
        ..base()
    };
    assert_eq!(sirs(&s), Some(true));
    // One met, two unknown: could be either.
    let s = Case {
        temperature: Some(39.0),
        resp_rate: None,
        paco2: None,
        wbc: None,
        bands: None,
        ..base()
    };
    assert_eq!(sirs(&s), None);
    let mut r = base();
    r.gallstone = None;
    assert_eq!(
        ranson_admission(&r),
        None,
        "aetiology decides the thresholds"
    );
}

#[test]
fn ranson_admission_hand_computed() {
    // Non-gallstone: age 56 > 55 (1), WBC 16.5 > 16 (1), glucose 210 > 200 (1),
    // LDH 340 not > 350 (0), AST 260 > 250 (1): 4.
    let v = Case {
        age: Some(56.0),
        wbc: Some(16.5),
        glucose: Some(210.0),
        ldh: Some(340.0),
        ast: Some(260.0),
        ..base()
    };
    assert_eq!(ranson_admission(&v), Some(4));
    // The same values with gallstone pancreatitis: age > 70 no, WBC > 18 no, glucose > 220 no,
    // LDH > 400 no, AST > 250 yes: 1.
    let g = Case {
        gallstone: Some(true),
        ..v.clone()
    };
    assert_eq!(ranson_admission(&g), Some(1));
    // Non-gallstone thresholds exactly: 0.
    let t = Case {
        age: Some(55.0),
        wbc: Some(16.0),
        glucose: Some(200.0),
        ldh: Some(350.0),
        ast: Some(250.0),
        ..base()
    };
    assert_eq!(ranson_admission(&t), Some(0));
    // Gallstone, all just above: 5.
    let h = Case {
        gallstone: Some(true),
        age: Some(71.0),
        wbc: Some(18.1),
        glucose: Some(221.0),
        ldh: Some(401.0),
        ast: Some(251.0),
        ..base()
    };
    assert_eq!(ranson_admission(&h), Some(5));
}

#[test]
fn mctsi_hand_computed() {
    // Collection (4) + necrosis 40 % > 30 % (4) + extrapancreatic (2) = 10 (severe).
    let a = Case {
        ct_inflammation: Some(2.0),
        necrosis_percent: Some(40.0),
        extrapancreatic: Some(true),
        ..base()
    };
    assert_eq!(mctsi(&a), Some(10));
    // Intrinsic abnormality (2) + necrosis exactly 30 % (2) + none (0) = 4 (moderate).
    let b = Case {
        ct_inflammation: Some(1.0),
        necrosis_percent: Some(30.0),
        ..base()
    };
    assert_eq!(mctsi(&b), Some(4));
    // Normal pancreas, no necrosis, pleural effusion only: 2 (mild).
    let c = Case {
        extrapancreatic: Some(true),
        ..base()
    };
    assert_eq!(mctsi(&c), Some(2));
    // Invalid grade 3 -> undefined rather than a wrong number.
    let d = Case {
        ct_inflammation: Some(3.0),
        ..base()
    };
    assert_eq!(mctsi(&d), None);
}

#[test]
fn scores_from_a_table_file() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("sap.csv");
    // Row 1 = case A of bisap_hand_computed plus Ranson/MCTSI inputs; row 2 has a missing BUN.
    std::fs::write(
        &csv,
        "id,sap,age,bun,gcs,temperature,heart_rate,resp_rate,paco2,wbc,pleural_effusion,glucose,ldh,ast,gallstone,ct_inflammation,necrosis_percent,extrapancreatic\n\
         p1,1,65,30,15,38.5,100,16,40,17,yes,250,400,260,no,2,40,yes\n\
         p2,0,40,,15,37,80,16,40,8,no,100,200,30,no,0,0,no\n",
    )
    .unwrap();
    let spec = TableSpec::from_json(
        r#"{"id_column":"id","outcome":{"column":"sap"},"variables":[
            {"name":"age","type":"continuous","unit":"years"},
            {"name":"bun","type":"continuous","unit":"mg/dL"},
            {"name":"gcs","type":"integer"},
            {"name":"temperature","type":"continuous","unit":"Cel"},
            {"name":"heart_rate","type":"continuous","unit":"/min"},
            {"name":"resp_rate","type":"continuous","unit":"/min"},
            {"name":"paco2","type":"continuous","unit":"mm[Hg]"},
            {"name":"wbc","type":"continuous","unit":"10*9/L"},
            {"name":"pleural_effusion","type":"binary"},
            {"name":"glucose","type":"continuous","unit":"mg/dL"},
            {"name":"ldh","type":"continuous","unit":"U/L"},
            {"name":"ast","type":"continuous","unit":"U/L"},
            {"name":"gallstone","type":"binary"},
            {"name":"ct_inflammation","type":"integer"},
            {"name":"necrosis_percent","type":"continuous","unit":"%"},
            {"name":"extrapancreatic","type":"binary"}]}"#,
        "inline",
    )
    .unwrap();
    let t = read_clinical(&csv, &spec).unwrap();
    let cols = ScoreColumns {
        bands: None,
        ..ScoreColumns::default()
    };
    let (_, s) = compute(&t, &cols, true).unwrap();
    // p1: BISAP 4 (as case A). Ranson non-gallstone: age 65 > 55, WBC 17 > 16, glucose 250 >
    // 200, LDH 400 > 350, AST 260 > 250: 5. MCTSI 4 + 4 + 2 = 10.
    // p2: BUN missing -> BISAP None; Ranson 0; MCTSI 0.
    assert_eq!(s.bisap, vec![Some(4), None]);
    assert_eq!(s.ranson_admission, vec![Some(5), Some(0)]);
    assert_eq!(s.mctsi, vec![Some(10), Some(0)]);
    // Strict mode: a named column the table lacks is an error naming file and column.
    let err = compute(&t, &ScoreColumns::default(), true)
        .unwrap_err()
        .to_string();
    assert!(err.contains("sap.csv") && err.contains("bands"), "{err}");
}
