//! Times an extraction from a PyRadiomics parameter file:
//! `radiomics_params_time PARAMS.yaml IMAGE MASK [REPEATS]`; prints the feature count and the
//! median wall time in seconds (used by benches/python/radiomics_params_speed.py). Times the
//! extraction only (inputs read once), as the Python side does.

use std::time::Instant;
use tomofuse_radiomics::{extract, settings::pyradiomics_params};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        return Err("usage: radiomics_params_time PARAMS.yaml IMAGE MASK [REPEATS]".into());
    }
    let params = pyradiomics_params::from_file(args[1].as_ref())?;
    let image = tomofuse_io::read_image(args[2].as_ref())?;
    let mask = tomofuse_io::read_mask(args[3].as_ref())?;
    let reps: usize = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(3);
    let mut times = Vec::new();
    let mut n = 0;
    for _ in 0..reps.max(1) {
        let t = Instant::now();
        let ex = extract(&image, &mask, params.label, &params.settings)?;
        times.push(t.elapsed().as_secs_f64());
        n = ex.features.len();
    }
    times.sort_by(f64::total_cmp);
    println!("features {n} median_s {:.4}", times[times.len() / 2]);
    Ok(())
}
