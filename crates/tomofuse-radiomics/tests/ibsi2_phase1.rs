//! IBSI-2 phase 1: every filter configuration with an official reference response map is
//! run on its digital phantom and compared voxel by voxel; every voxel must be within the
//! IBSI tolerance (1% of the reference map's range, `tolerance_abs` in `configs.csv`).

mod common;

#[test]
fn ibsi2_phase1_response_maps_match_the_reference() {
    let Some(dir) = tomofuse_core::require_shared("reference/ibsi2") else {
        return;
    };
    let rows = common::ibsi2::phase1(&dir);
    assert_eq!(rows.len(), 36, "phase-1 configs.csv should list 36 tests");
    println!(
        "{:<8} {:<32} {:>14} {:>14}  pass",
        "test", "filter", "max |error|", "tolerance"
    );
    let mut failed = Vec::new();
    let mut with_map = 0;
    for r in &rows {
        match &r.result {
            Ok((err, tol, pass)) => {
                with_map += 1;
                println!(
                    "{:<8} {:<32} {err:>14.6} {tol:>14.6}  {}",
                    r.test_id,
                    r.filter,
                    if *pass { "yes" } else { "NO" }
                );
                if !pass {
                    failed.push(r.test_id.clone());
                }
            }
            Err(why) if why == "no reference map" => {
                println!(
                    "{:<8} {:<32} {:>14} {:>14}  -",
                    r.test_id, r.filter, "no reference map", ""
                );
            }
            Err(why) => {
                with_map += 1;
                println!("{:<8} {:<32} error: {why}", r.test_id, r.filter);
                failed.push(r.test_id.clone());
            }
        }
    }
    println!(
        "{}/{with_map} tests with a reference map pass",
        with_map - failed.len()
    );
    assert_eq!(with_map, 33, "33 tests have a reference map");
    assert!(
        failed.is_empty(),
        "failing IBSI-2 phase-1 tests: {failed:?}"
    );
}
