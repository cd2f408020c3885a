//! Times the IBSI-2 phase-2 set through the library path the `ibsi2_phase2` test checks: the
//! filter ids of `phase2/configs.csv` with reference values (18: 1.A-9.B) become the
//! `[[image_types]]` of one settings file per processing configuration (A: 2D on the original
//! grid; B: 3D after interpolation to 1 mm), and one `extract` per configuration computes the
//! 18 intensity statistics of every response. Prints JSON: per configuration the extraction
//! time (median of REPEATS) and the pre-processing alone (ROI and grid); per filter id the
//! filter alone on the grid (one run); the number of values within the consensus tolerance;
//! the peak RSS of the process and of each configuration's extraction alone (the peak is
//! reset before it through `/proc/self/clear_refs`; NaN where that is not possible).
//!
//! `ibsi2_phase2_time [SHARED_DIR] [REPEATS]` (SHARED_DIR default: `$TOMOFUSE_SHARED`).

// The phase-2 reading code of the tests (`tests/common`), without their report writer.
#[path = "../tests/common/csv.rs"]
mod csv;
#[path = "../tests/common/ibsi2.rs"]
#[allow(dead_code)]
mod ibsi2;
use csv::split_csv;

use std::time::Instant;
use tomofuse_radiomics::{Settings, extract, roi::Roi};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let shared = args
        .get(1)
        .cloned()
        .or_else(|| std::env::var("TOMOFUSE_SHARED").ok())
        .ok_or("usage: ibsi2_phase2_time [SHARED_DIR] [REPEATS] (or set TOMOFUSE_SHARED)")?;
    let reps: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1);
    let shared = std::path::Path::new(&shared);
    let dir = shared.join("reference/ibsi2");
    let ct = shared.join("reference/ibsi/ct_phantom");
    for p in [&dir, &ct] {
        if !p.is_dir() {
            return Err(format!("{} is not a directory", p.display()).into());
        }
    }
    let refs = ibsi2::phase2_reference(&dir);
    let rows = ibsi2::read_csv(&dir.join("phase2/configs.csv"));
    let (image, mask) = ibsi2::ct_phantom(&ct);
    let (mut pass, mut total, mut total_s) = (0usize, 0usize, 0.0);
    let mut configs = Vec::new();
    let mut filters = Vec::new();
    for config in ['A', 'B'] {
        let mut ids = Vec::new();
        let mut tables = String::new();
        for row in rows.iter().filter(|r| {
            r["processing_config"].starts_with(config) && refs.contains_key(&r["filter_id"])
        }) {
            let t = ibsi2::image_type_table(row)
                .map_err(|e| format!("filter id {}: {e}", row["filter_id"]))?;
            tables.push_str("[[image_types]]\n");
            tables.push_str(&t);
            ids.push(row["filter_id"].clone());
        }
        let settings = Settings::from_toml(
            &ibsi2::phase2_settings(config, &tables),
            &format!("phase-2 configuration {config}"),
        )?;
        let types = settings.image_types()?;
        // Pre-processing alone (interpolation for B, crop, resegmentation).
        let t = Instant::now();
        let (_, grid) = Roi::build_on_grid(&image, &mask, 1, &settings)?;
        let prep_s = t.elapsed().as_secs_f64();
        let a = grid.data.mapv(|v| v as f64);
        for (id, ty) in ids.iter().zip(&types) {
            let Some(f) = &ty.filter else {
                filters.push(format!(
                    "{{\"id\": \"{id}\", \"image_type\": \"{}\", \"filter_s\": 0.0}}",
                    ty.name
                ));
                continue;
            };
            let t = Instant::now();
            let _ = f.apply_array(&a, grid.geometry.spacing)?;
            filters.push(format!(
                "{{\"id\": \"{id}\", \"image_type\": \"{}\", \"grid\": {:?}, \"filter_s\": {:.4}}}",
                ty.name,
                grid.shape(),
                t.elapsed().as_secs_f64()
            ));
        }
        drop((a, grid));
        // The extraction's own peak: reset the process' peak RSS (Linux: clear_refs 5).
        let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
        let mut times = Vec::new();
        let mut ex = None;
        for _ in 0..reps.max(1) {
            let t = Instant::now();
            ex = Some(extract(&image, &mask, 1, &settings)?);
            times.push(t.elapsed().as_secs_f64());
        }
        times.sort_by(f64::total_cmp);
        let med = times[times.len() / 2];
        total_s += med;
        let ex = ex.expect("at least one run");
        for (id, ty) in ids.iter().zip(&types) {
            for (tag, reference, tol) in &refs[id] {
                let ours = ex.get_in(&ty.name, tag).unwrap_or(f64::NAN);
                total += 1;
                if (ours - reference).abs() <= tol + 1e-9 * reference.abs() {
                    pass += 1;
                }
            }
        }
        configs.push(format!(
            "{{\"config\": \"{config}\", \"filter_ids\": {}, \"preprocess_s\": {prep_s:.4}, \"extract_s\": {med:.4}, \"extract_peak_rss_mb\": {:.1}}}",
            ids.len(),
            if reset { peak_rss_mb() } else { f64::NAN }
        ));
    }
    println!(
        "{{\"threads\": {}, \"extract_total_s\": {total_s:.4}, \"within_tolerance\": {pass}, \"values\": {total}, \"peak_rss_mb\": {:.1},\n \"configs\": [{}],\n \"filters\": [\n  {}\n ]}}",
        rayon::current_num_threads(),
        peak_rss_mb(),
        configs.join(", "),
        filters.join(",\n  ")
    );
    Ok(())
}

/// Peak resident set size of this process (VmHWM), in MB; NaN where /proc is missing.
fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}
