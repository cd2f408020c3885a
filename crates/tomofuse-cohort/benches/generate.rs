//! Rendering speed of one synthetic case at the default profile size.
use criterion::{Criterion, criterion_group, criterion_main};
use tomofuse_cohort::{Profile, builtin};

fn bench(c: &mut Criterion) {
    for study in ["sinus", "sap"] {
        let cohort = builtin(study, Profile::Default, 1).expect("cohort");
        let case = cohort.cases[0].clone();
        c.bench_function(&format!("render_{study}_default"), |b| {
            b.iter(|| case.load(None).expect("render"))
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
