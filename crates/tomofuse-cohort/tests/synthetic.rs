//! Checks of the synthetic generators themselves: determinism, label/geometry consistency,
//! class balance, and that the documented signal is present (AUC well above 0.5, below 1)
//! with the documented ordering (fused > single modality > clinical scores). References are
//! analytic values and naive implementations in tests/common.

mod common;

use common::{auc, logistic_scores};
use tomofuse_cohort::{
    AbdomenConfig, Cohort, Profile, SINUS_UNITS, SinusConfig, Source, Split, abdomen_cohort,
    abdomen_spec, builtin, scores, sinus_cohort, sinus_spec,
};

fn rendered(study: &str, profile: Profile, seed: u64) -> Cohort {
    let mut c = builtin(study, profile, seed).unwrap();
    c.materialize().unwrap();
    c
}

fn loaded(c: &tomofuse_cohort::Case) -> &tomofuse_cohort::Loaded {
    match &c.source {
        Source::Memory(l) => l,
        _ => panic!("not materialised"),
    }
}

fn bits(c: &Cohort) -> Vec<(Vec<u32>, Vec<u8>)> {
    c.cases
        .iter()
        .map(|x| {
            let l = loaded(x);
            (
                l.image.data.iter().map(|v| v.to_bits()).collect(),
                l.mask.as_ref().unwrap().data.iter().copied().collect(),
            )
        })
        .collect()
}

#[test]
fn same_seed_identical_bytes_different_seed_differs() {
    for study in ["sinus", "sap"] {
        let a = rendered(study, Profile::Tiny, 11);
        let b = rendered(study, Profile::Tiny, 11);
        let c = rendered(study, Profile::Tiny, 12);
        assert_eq!(
            bits(&a),
            bits(&b),
            "{study}: same seed must give identical bytes"
        );
        let same_geom = a
            .cases
            .iter()
            .zip(&b.cases)
            .all(|(x, y)| loaded(x).image.geometry == loaded(y).image.geometry);
        assert!(same_geom);
        for (x, y) in a.cases.iter().zip(&b.cases) {
            assert_eq!(
                (&x.id, x.label, x.date, &x.clinical, &x.centre),
                (&y.id, y.label, y.date, &y.clinical, &y.centre)
            );
        }
        let ba = bits(&a);
        let bc = bits(&c);
        let differing = ba.iter().zip(&bc).filter(|(x, y)| x.0 != y.0).count();
        assert_eq!(
            differing,
            a.len(),
            "{study}: every image must change with the seed"
        );
        assert!(
            a.cases
                .iter()
                .zip(&c.cases)
                .any(|(x, y)| x.clinical != y.clinical)
        );
        // Rendering one case alone (sequential) equals the parallel materialisation.
        let lazy = builtin(study, Profile::Tiny, 11).unwrap();
        let one = lazy.cases[3].load(None).unwrap();
        assert_eq!(one.image.data, loaded(&a.cases[3]).image.data);
    }
}

#[test]
fn sinus_labels_match_generating_geometry() {
    let c = rendered("sinus", Profile::Default, 3);
    let mut measured = Vec::new();
    let mut truth = Vec::new();
    for case in &c.cases {
        let l = loaded(case);
        let m = l.mask.as_ref().unwrap();
        l.image.check_same_grid(m, &Default::default()).unwrap();
        let spec = sinus_spec(case).unwrap();
        for (u, name) in SINUS_UNITS.iter().enumerate() {
            let lab = u as u8 + 1;
            let vals: Vec<f32> = l
                .image
                .data
                .iter()
                .zip(m.data.iter())
                .filter(|(_, k)| **k == lab)
                .map(|(v, _)| *v)
                .collect();
            assert!(!vals.is_empty(), "{}: unit {name} has no voxel", case.id);
            // Opacified share = voxels denser than -400 HU (midway air/soft tissue).
            let frac = vals.iter().filter(|&&v| v > -400.0).count() as f64 / vals.len() as f64;
            measured.push(frac);
            truth.push(spec.opacification[u] as f64);
            if spec.opacification[u] == 0.0 && vals.len() > 30 {
                // Median: edge voxels are blurred with the bony walls.
                let mut v = vals.clone();
                v.sort_by(f32::total_cmp);
                let med = v[v.len() / 2];
                assert!(
                    med < -500.0,
                    "{}: clear {name} has median {med} HU",
                    case.id
                );
            }
        }
        // Labels are only the ten units.
        assert!(m.data.iter().all(|&v| v <= 10));
    }
    let r = pearson(&measured, &truth);
    assert!(r > 0.9, "image opacification vs generator: r = {r}");
}

#[test]
fn sinus_signal_present_but_not_trivial() {
    // Latent predominance: class separation 1.6 SD -> analytic AUC Phi(1.6 / sqrt 2) = 0.871.
    let mut cfg = SinusConfig::profile(Profile::Default, 5);
    cfg.n_cases = 4000;
    let c = sinus_cohort(&cfg).unwrap();
    let y: Vec<bool> = c.cases.iter().map(|x| x.label.unwrap()).collect();
    let pi: Vec<f64> = c
        .cases
        .iter()
        .map(|x| sinus_spec(x).unwrap().predominance)
        .collect();
    let a = auc(&pi, &y);
    assert!((a - 0.871).abs() < 0.02, "latent AUC {a}");
    let pos = y.iter().filter(|&&v| v).count();
    assert_eq!(pos, 2000, "exact class balance");
    // Lund-Mackay E/M ratio (clinical reading of the CT) is informative, weaker than the latent.
    let em: Vec<f64> = c
        .cases
        .iter()
        .map(|x| x.num("e_m_ratio").unwrap())
        .collect();
    let a_em = auc(&em, &y);
    assert!(a_em > 0.7 && a_em < a, "E/M AUC {a_em}");
    // Temporal external set: about 17% of dates fall on or after the cut-off.
    let ext = c
        .cases
        .iter()
        .filter(|x| x.date.unwrap() >= cfg.external_from)
        .count() as f64
        / 4000.0;
    assert!((0.13..0.21).contains(&ext), "external share {ext}");

    // The same signal measured on rendered images (hand-computed statistic: log ratio of
    // ethmoid to maxillary opacified share, measured with the label mask).
    let c = rendered("sinus", Profile::Default, 5);
    let y: Vec<bool> = c.cases.iter().map(|x| x.label.unwrap()).collect();
    let stat: Vec<f64> = c
        .cases
        .iter()
        .map(|case| {
            let l = loaded(case);
            let m = l.mask.as_ref().unwrap();
            let share = |labs: &[u8]| {
                let (mut n, mut o) = (0usize, 0usize);
                for (v, k) in l.image.data.iter().zip(m.data.iter()) {
                    if labs.contains(k) {
                        n += 1;
                        o += usize::from(*v > -400.0);
                    }
                }
                o as f64 / n.max(1) as f64
            };
            ((share(&[3, 4, 5, 6]) + 0.05) / (share(&[1, 2]) + 0.05)).ln()
        })
        .collect();
    let a_img = auc(&stat, &y);
    assert!(a_img > 0.65 && a_img < 0.99, "image statistic AUC {a_img}");
}

fn sap_tables(c: &Cohort) -> (Vec<bool>, Vec<Vec<f64>>, Vec<Vec<f64>>) {
    let y: Vec<bool> = c.cases.iter().map(|x| x.label.unwrap()).collect();
    let cols = [
        "temp_c",
        "hr",
        "rr",
        "wbc",
        "bun",
        "crp",
        "calcium",
        "glucose",
        "ldh",
        "ast",
        "triglycerides",
        "hematocrit",
        "gcs",
        "age",
    ];
    let labs = c
        .cases
        .iter()
        .map(|x| cols.iter().map(|k| x.num(k).unwrap()).collect())
        .collect();
    let img = c
        .cases
        .iter()
        .map(|x| {
            let s = abdomen_spec(x).unwrap();
            vec![
                s.oedema as f64,
                s.necrosis as f64,
                s.fluid as f64,
                (s.effusion[0] + s.effusion[1]) as f64,
                s.ascites as f64,
            ]
        })
        .collect();
    (y, labs, img)
}

#[test]
fn sap_fusion_beats_single_modalities_and_scores() {
    let mut cfg = AbdomenConfig::profile(Profile::Default, 9);
    cfg.n_cases = 4000;
    let c = abdomen_cohort(&cfg).unwrap();
    let (y, labs, img) = sap_tables(&c);
    let prev = y.iter().filter(|&&v| v).count() as f64 / y.len() as f64;
    assert!((0.22..0.40).contains(&prev), "SAP prevalence {prev}");
    let both: Vec<Vec<f64>> = labs
        .iter()
        .zip(&img)
        .map(|(a, b)| [a.clone(), b.clone()].concat())
        .collect();
    let train: Vec<bool> = (0..y.len()).map(|i| i % 2 == 0).collect();
    let test_auc = |s: &[f64]| {
        let (ss, yy): (Vec<f64>, Vec<bool>) = s
            .iter()
            .zip(&y)
            .zip(&train)
            .filter(|(_, t)| !**t)
            .map(|((a, b), _)| (*a, *b))
            .unzip();
        auc(&ss, &yy)
    };
    let a_lab = test_auc(&logistic_scores(&labs, &y, &train));
    let a_img = test_auc(&logistic_scores(&img, &y, &train));
    let a_fus = test_auc(&logistic_scores(&both, &y, &train));
    eprintln!("logistic test AUC: labs {a_lab:.3}, image {a_img:.3}, fused {a_fus:.3}");
    assert!(a_fus < 0.97, "fusion must not be trivial: {a_fus}");
    assert!(
        a_fus > a_lab + 0.02 && a_fus > a_img + 0.02,
        "fused {a_fus} vs labs {a_lab}, image {a_img}"
    );
    assert!(a_lab > 0.7 && a_img > 0.7, "labs {a_lab}, image {a_img}");
    for (name, f) in [
        (
            "BISAP",
            scores::case_bisap as fn(&tomofuse_cohort::Case) -> Option<u8>,
        ),
        ("Ranson", scores::case_ranson),
        ("MCTSI", scores::case_mctsi),
    ] {
        let s: Vec<f64> = c.cases.iter().map(|x| f(x).unwrap() as f64).collect();
        let a = test_auc(&s);
        eprintln!("{name}: test AUC {a:.3}");
        assert!(
            a > 0.6 && a < a_fus - 0.05,
            "{name} AUC {a} (fused {a_fus})"
        );
    }
    // Every centre is represented; centre-C (the external centre) is about a quarter.
    let share_c = c
        .cases
        .iter()
        .filter(|x| x.centre.as_deref() == Some("C"))
        .count() as f64
        / 4000.0;
    assert!((0.2..0.3).contains(&share_c), "centre-C share {share_c}");
}

#[test]
fn sap_images_carry_the_local_severity() {
    let c = rendered("sap", Profile::Default, 2);
    let y: Vec<bool> = c.cases.iter().map(|x| x.label.unwrap()).collect();
    let mut mean_hu = Vec::new();
    let mut s_img_high = Vec::new();
    let mut nec_meas = Vec::new();
    let mut nec_true = Vec::new();
    for case in &c.cases {
        let l = loaded(case);
        let m = l.mask.as_ref().unwrap();
        l.image.check_same_grid(m, &Default::default()).unwrap();
        let target = c.target(m);
        let n = target.count_nonzero();
        assert!(n > 20, "{}: pancreas has {n} voxels", case.id);
        let s: f64 = l
            .image
            .data
            .iter()
            .zip(target.data.iter())
            .filter(|(_, t)| **t == 1)
            .map(|(v, _)| *v as f64)
            .sum();
        mean_hu.push(-s / n as f64);
        let necrotic = m.data.iter().filter(|&&v| v == 2).count();
        nec_meas.push(necrotic as f64 / n as f64);
        nec_true.push(abdomen_spec(case).unwrap().necrosis as f64);
        s_img_high.push(abdomen_spec(case).unwrap().s_img > 0.5);
        assert!(m.data.iter().all(|&v| v <= 3));
    }
    // A crude hand-computed statistic (minus the mean HU of the gland) already separates high
    // from low local severity, and the outcome (which also depends on systemic severity).
    let a_local = auc(&mean_hu, &s_img_high);
    assert!(
        a_local > 0.7 && a_local < 0.99,
        "AUC of (minus) mean gland HU for local severity: {a_local}"
    );
    let a = auc(&mean_hu, &y);
    assert!(
        a > 0.6 && a < a_local,
        "AUC of (minus) mean gland HU for SAP: {a}"
    );
    let r = pearson(&nec_meas, &nec_true);
    assert!(r > 0.8, "necrosis share mask vs generator r = {r}");
}

#[test]
fn tiny_profiles_have_both_classes_and_splits_work() {
    for seed in 0..20 {
        for study in ["sinus", "sap"] {
            let mut c = builtin(study, Profile::Tiny, seed).unwrap();
            let (neg, pos, unl) = c.outcome_counts();
            assert!(
                pos >= 3 && neg >= 3 && unl == 0,
                "{study} seed {seed}: {pos}/{neg}"
            );
            c.assign_splits(0.2, None, &["C"], seed, false).unwrap();
            assert!(c.cases.iter().all(|x| x.split.is_some()));
            for x in &c.cases {
                if x.centre.as_deref() == Some("C") {
                    assert_eq!(x.split, Some(Split::External));
                }
            }
        }
    }
    // Stratified 8:2 with a temporal external set.
    let mut c = builtin("sinus", Profile::Paper, 1).unwrap();
    let cut = SinusConfig::profile(Profile::Paper, 1).external_from;
    c.assign_splits(0.2, Some(cut), &[], 1, false).unwrap();
    let count = |s: Split, l: bool| {
        c.cases
            .iter()
            .filter(|x| x.split == Some(s) && x.label == Some(l))
            .count()
    };
    let ext = count(Split::External, true) + count(Split::External, false);
    assert!((25..65).contains(&ext), "external {ext} of 257");
    for l in [true, false] {
        let (v, t) = (
            count(Split::Validation, l) as f64,
            count(Split::Train, l) as f64,
        );
        assert!(
            (v / (v + t) - 0.2).abs() < 0.02,
            "validation share of class {l}: {}",
            v / (v + t)
        );
    }
    assert!(c.cases.iter().all(|x| x.date.is_some()));
    assert!(
        c.cases
            .iter()
            .filter(|x| x.split == Some(Split::External))
            .all(|x| x.date.unwrap() >= cut)
    );
}

#[test]
fn bad_parameters_are_errors() {
    let mut cfg = SinusConfig::profile(Profile::Tiny, 1);
    cfg.shape = [4, 32, 32];
    assert!(sinus_cohort(&cfg).is_err());
    let mut cfg = AbdomenConfig::profile(Profile::Tiny, 1);
    cfg.n_cases = 0;
    assert!(abdomen_cohort(&cfg).is_err());
    cfg.n_cases = 2;
    cfg.shape = [100_000, 100_000, 100];
    assert!(abdomen_cohort(&cfg).is_err());
    assert!(builtin("knee", Profile::Tiny, 1).is_err());
}

fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
    cov / (va * vb).sqrt()
}
