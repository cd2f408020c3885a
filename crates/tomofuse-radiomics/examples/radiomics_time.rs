//! Times a full extraction: `radiomics_time IMAGE MASK PRESET [REPEATS]`; prints the
//! feature count and the median wall time in seconds (used by benches/python/radiomics_speed.py).

use std::time::Instant;
use tomofuse_radiomics::{Settings, extract};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        return Err("usage: radiomics_time IMAGE MASK PRESET [REPEATS]".into());
    }
    let image = tomofuse_io::read_image(args[1].as_ref())?.map(|v| v.round());
    let mask = tomofuse_io::read_mask(args[2].as_ref())?;
    let mut settings = Settings::preset(&args[3])?;
    // PyRadiomics has no Moran's I / Geary's C: switch them off for a like-for-like timing.
    if std::env::var_os("RADIOMICS_NO_MORAN").is_some() {
        settings.families.moran_geary = false;
    }
    // Resegmentation range "lo,hi" (e.g. for the `pyradiomics-default` preset on the phantom).
    if let Ok(r) = std::env::var("RADIOMICS_RESEG_RANGE") {
        let v: Vec<f64> = r.split(',').filter_map(|x| x.trim().parse().ok()).collect();
        if let [lo, hi] = v[..] {
            settings.resegmentation.range = Some([lo, hi]);
        }
    }
    let reps: usize = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(5);
    let mut times = Vec::new();
    let mut n = 0;
    for _ in 0..reps.max(1) {
        let t = Instant::now();
        let ex = extract(&image, &mask, 1, &settings)?;
        times.push(t.elapsed().as_secs_f64());
        n = ex.features.len();
    }
    times.sort_by(f64::total_cmp);
    if std::env::var_os("RADIOMICS_TIME_FAMILIES").is_some() {
        let t = Instant::now();
        let roi = tomofuse_radiomics::roi::Roi::build(&image, &mask, 1, &settings)?;
        eprintln!("roi {:.4}", t.elapsed().as_secs_f64());
        for fam in tomofuse_radiomics::all_families() {
            let t = Instant::now();
            let _ = fam.compute(&roi, &settings);
            eprintln!("{} {:.4}", fam.name(), t.elapsed().as_secs_f64());
        }
    }
    println!("features {n} median_s {:.4}", times[times.len() / 2]);
    Ok(())
}
