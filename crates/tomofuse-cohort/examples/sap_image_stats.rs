//! Image statistics of the rendered SAP cohort vs the latent local severity and the outcome.
#[path = "../tests/common/mod.rs"]
mod common;
use tomofuse_cohort::{Profile, Source, abdomen_spec, builtin};

fn main() {
    let seed: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    let mut c = builtin("sap", Profile::Default, seed).expect("cohort");
    c.materialize().expect("render");
    let y: Vec<bool> = c.cases.iter().map(|x| x.label.unwrap_or(false)).collect();
    let mut stats: Vec<Vec<f64>> = vec![Vec::new(); 4];
    let mut simg = Vec::new();
    for case in &c.cases {
        let Source::Memory(l) = &case.source else {
            panic!()
        };
        let t = c.target(l.mask.as_ref().unwrap());
        let vals: Vec<f64> = l
            .image
            .data
            .iter()
            .zip(t.data.iter())
            .filter(|(_, m)| **m == 1)
            .map(|(v, _)| *v as f64)
            .collect();
        let n = vals.len() as f64;
        let mean = vals.iter().sum::<f64>() / n;
        let sd = (vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
        stats[0].push(-mean);
        stats[1].push(n);
        stats[2].push(vals.iter().filter(|&&v| v < 60.0).count() as f64 / n);
        stats[3].push(sd);
        simg.push(abdomen_spec(case).unwrap().s_img);
    }
    for (name, s) in ["-mean", "volume", "frac<60", "sd"].iter().zip(&stats) {
        let hi: Vec<bool> = simg.iter().map(|&v| v > 0.5).collect();
        println!(
            "{name}: AUC outcome {:.3}, AUC s_img>0.5 {:.3}",
            common::auc(s, &y),
            common::auc(s, &hi)
        );
    }
}
