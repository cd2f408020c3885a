//! Writes one rendered case as raw little-endian f32 image + u8 mask (for looking at it):
//! `cargo run --release -p tomofuse-cohort --example dump_case -- sinus|sap PROFILE INDEX OUT_PREFIX`.
use tomofuse_cohort::{Profile, builtin};

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let c = builtin(&a[1], Profile::parse(&a[2]).expect("profile"), 1).expect("cohort");
    let case = &c.cases[a[3].parse::<usize>().expect("index")];
    let l = case.load(None).expect("render");
    let img: Vec<u8> = l.image.data.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(format!("{}.f32", a[4]), img).expect("write");
    std::fs::write(
        format!("{}.u8", a[4]),
        l.mask
            .expect("mask")
            .data
            .iter()
            .copied()
            .collect::<Vec<u8>>(),
    )
    .expect("write");
    println!(
        "{:?} label={:?} clinical={:?}",
        l.image.shape(),
        case.label,
        case.clinical
    );
}
