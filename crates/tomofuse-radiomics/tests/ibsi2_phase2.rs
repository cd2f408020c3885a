//! IBSI-2 phase 2: the filters applied to the IBSI CT phantom after the phase-2 processing
//! (configurations A = 2D and B = 3D, `phase2/processing.md`), then the 18 intensity
//! statistics of the response inside the resegmented ROI, compared with the consensus values
//! (`phase2/reference_values.csv`). Target: at least 95% of the 323 values within tolerance.

mod common;

const TARGET: f64 = 0.95;

#[test]
fn ibsi2_phase2_filtered_statistics_match_the_consensus() {
    let Some(dir) = tomofuse_core::require_shared("reference/ibsi2") else {
        return;
    };
    let Some(ct) = tomofuse_core::require_shared("reference/ibsi/ct_phantom") else {
        return;
    };
    let rows = common::ibsi2::phase2(&dir, &ct);
    let (mut pass, mut total) = (0, 0);
    println!("{:<6} {:<22} {:>5} {:>6}", "id", "filter", "pass", "total");
    for r in &rows {
        match &r.values {
            Ok(v) => {
                let p = v.iter().filter(|x| x.pass).count();
                println!("{:<6} {:<22} {p:>5} {:>6}", r.filter_id, r.filter, v.len());
                for x in v.iter().filter(|x| !x.pass) {
                    println!(
                        "       miss {:<12} ours {:>14.6} ref {:>12} tol {}",
                        x.tag, x.ours, x.reference, x.tolerance
                    );
                }
                pass += p;
                total += v.len();
            }
            Err(why) => println!("{:<6} {:<22} {why}", r.filter_id, r.filter),
        }
    }
    let frac = pass as f64 / total as f64;
    println!("IBSI-2 phase 2: {pass}/{total} = {:.1}%", 100.0 * frac);
    assert_eq!(total, 323, "323 phase-2 reference values");
    assert!(
        frac >= TARGET,
        "phase 2: {pass}/{total} = {:.1}% < {:.0}%",
        100.0 * frac,
        100.0 * TARGET
    );
}
