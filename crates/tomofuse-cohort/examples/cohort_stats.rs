//! Generation times and signal checks of the built-in cohorts:
//! `cargo run --release -p tomofuse-cohort --example cohort_stats -- [tiny|default|paper] [seed]`.
#[path = "../tests/common/mod.rs"]
mod common;

use common::{auc, logistic_scores};
use std::time::Instant;
use tomofuse_cohort::{
    AbdomenConfig, Profile, SinusConfig, abdomen_cohort, abdomen_spec, scores, sinus_cohort,
    sinus_spec,
};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let profile =
        Profile::parse(args.get(1).map(String::as_str).unwrap_or("default")).expect("profile");
    let seed: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1);
    for study in ["sinus", "sap"] {
        let t = Instant::now();
        // Optional third argument: number of cases; with it the images are not rendered
        // (latent/clinical signal only, for large-n checks of the mechanism).
        let n: Option<usize> = args.get(3).and_then(|s| s.parse().ok());
        let c = if study == "sinus" {
            let mut cfg = SinusConfig::profile(profile, seed);
            cfg.n_cases = n.unwrap_or(cfg.n_cases);
            sinus_cohort(&cfg)
        } else {
            let mut cfg = AbdomenConfig::profile(profile, seed);
            cfg.n_cases = n.unwrap_or(cfg.n_cases);
            abdomen_cohort(&cfg)
        }
        .expect("cohort");
        let t_spec = t.elapsed();
        let t = Instant::now();
        if n.is_none() {
            // Render every case in parallel and drop it (the statistics below use the
            // generating variables and the clinical table only).
            use rayon::prelude::*;
            c.cases
                .par_iter()
                .try_for_each(|x| x.load(None).map(|_| ()))
                .expect("render");
        }
        let t_render = t.elapsed();
        let (neg, pos, _) = c.outcome_counts();
        let shape = match c.cases[0].truth.as_deref() {
            Some(tomofuse_cohort::Spec::Sinus(s)) => s.shape,
            Some(tomofuse_cohort::Spec::Abdomen(s)) => s.shape,
            None => [0; 3],
        };
        println!(
            "{study}: {} cases of {shape:?}, {pos} positive / {neg} negative; specs {:.3} s, render {:.2} s ({} threads)",
            c.len(),
            t_spec.as_secs_f64(),
            t_render.as_secs_f64(),
            rayon::current_num_threads()
        );
        let y: Vec<bool> = c.cases.iter().map(|x| x.label.unwrap_or(false)).collect();
        if study == "sinus" {
            let pi: Vec<f64> = c
                .cases
                .iter()
                .map(|x| sinus_spec(x).unwrap().predominance)
                .collect();
            println!("  AUC latent predominance {:.3}", auc(&pi, &y));
            let em: Vec<f64> = c
                .cases
                .iter()
                .map(|x| x.num("e_m_ratio").unwrap())
                .collect();
            println!("  AUC Lund-Mackay E/M ratio {:.3}", auc(&em, &y));
        } else {
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
            let labs: Vec<Vec<f64>> = c
                .cases
                .iter()
                .map(|x| cols.iter().map(|k| x.num(k).unwrap()).collect())
                .collect();
            let img: Vec<Vec<f64>> = c
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
            let both: Vec<Vec<f64>> = labs
                .iter()
                .zip(&img)
                .map(|(a, b)| [a.clone(), b.clone()].concat())
                .collect();
            let train: Vec<bool> = (0..c.len()).map(|i| i % 2 == 0).collect();
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
            println!(
                "  test AUC: labs {:.3}, image {:.3}, fused {:.3}",
                test_auc(&logistic_scores(&labs, &y, &train)),
                test_auc(&logistic_scores(&img, &y, &train)),
                test_auc(&logistic_scores(&both, &y, &train))
            );
            let sc = |f: fn(&tomofuse_cohort::Case) -> Option<u8>| -> Vec<f64> {
                c.cases.iter().map(|x| f(x).unwrap() as f64).collect()
            };
            println!(
                "  test AUC: BISAP {:.3}, Ranson {:.3}, MCTSI {:.3}",
                test_auc(&sc(scores::case_bisap)),
                test_auc(&sc(scores::case_ranson)),
                test_auc(&sc(scores::case_mctsi))
            );
            let lat: Vec<f64> = c
                .cases
                .iter()
                .map(|x| {
                    let s = abdomen_spec(x).unwrap();
                    s.s_img + s.s_sys
                })
                .collect();
            println!("  AUC latent s_img + s_sys {:.3}", auc(&lat, &y));
        }
    }
}
