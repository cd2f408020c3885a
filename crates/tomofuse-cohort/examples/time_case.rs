//! Time to render one case: `cargo run --release -p tomofuse-cohort --example time_case -- sap paper`.
use std::time::Instant;
use tomofuse_cohort::{Profile, builtin};

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let c = builtin(&a[1], Profile::parse(&a[2]).expect("profile"), 1).expect("cohort");
    for i in 0..3 {
        let t = Instant::now();
        let l = c.cases[i].load(None).expect("render");
        println!(
            "case {i}: {:?} in {:.3} s",
            l.image.shape(),
            t.elapsed().as_secs_f64()
        );
    }
}
