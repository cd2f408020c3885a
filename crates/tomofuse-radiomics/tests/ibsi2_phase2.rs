//! IBSI-2 phase 2 through the library path: the filters of `phase2/configs.csv` become
//! `[[image_types]]` of a settings file per processing configuration (A = 2D, B = 3D,
//! `phase2/processing.md`), `extract` computes the 18 intensity statistics of every response
//! inside the resegmented ROI, and they are compared with the consensus values
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
    let (rows, counts) = common::ibsi2::phase2(&dir, &ct);
    for (c, n) in &counts {
        println!("config {c}: {n} ROI voxels after processing and resegmentation");
    }
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

/// Wall time of each phase-2 filter on the processed CT phantom (A: 204 x 201 x 60,
/// B: 200 x 197 x 180 voxels), filtering only, on the grid the library's ROI is cut from.
/// Not asserted; run on demand:
/// `cargo test -p tomofuse-radiomics --test ibsi2_phase2 -- --ignored --nocapture`.
#[test]
#[ignore = "timing only; run on demand"]
fn ibsi2_phase2_filter_timing() {
    let Some(dir) = tomofuse_core::require_shared("reference/ibsi2") else {
        return;
    };
    let Some(ct) = tomofuse_core::require_shared("reference/ibsi/ct_phantom") else {
        return;
    };
    let rows = common::ibsi2::read_csv(&dir.join("phase2/configs.csv"));
    let (image, mask) = common::ibsi2::ct_phantom(&ct);
    let threads = rayon::current_num_threads();
    let mut total = 0.0;
    for config in ['A', 'B'] {
        let settings = tomofuse_radiomics::Settings::from_toml(
            &common::ibsi2::phase2_settings(config, ""),
            "phase 2",
        )
        .unwrap();
        let (_, grid) =
            tomofuse_radiomics::roi::Roi::build_on_grid(&image, &mask, 1, &settings).unwrap();
        for row in rows.iter().filter(|r| {
            r["processing_config"].starts_with(config)
                && r["has_reference_values"] == "yes"
                && r["filter"] != "none"
        }) {
            let f = common::ibsi2::filter_from_config(row)
                .unwrap()
                .check()
                .unwrap();
            let t = std::time::Instant::now();
            let out = f.apply(&grid).unwrap();
            let s = t.elapsed().as_secs_f64();
            total += s;
            assert_eq!(out.shape(), grid.shape());
            println!(
                "{:<5} {:<22} {:?}: {s:.2} s",
                row["filter_id"],
                row["filter"],
                grid.shape()
            );
        }
    }
    println!("phase-2 filter set: {total:.1} s on {threads} rayon threads");
}
