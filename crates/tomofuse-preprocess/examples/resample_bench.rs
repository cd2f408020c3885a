//! Times tomofuse's CPU resampling of one image for benches/python/resample_speed.py.
//! Usage: resample_bench IMAGE SX,SY,SZ [REPEATS]. Prints `interp seconds shape` per line
//! (best of REPEATS; reading the file is not timed). Threads: RAYON_NUM_THREADS.

use std::time::Instant;
use tomofuse_preprocess::resample::{GridMode, Interp, resample_to_spacing};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        return Err("usage: resample_bench IMAGE SX,SY,SZ [REPEATS]".into());
    }
    let vol = tomofuse_io::read_image(std::path::Path::new(&args[1]))?;
    let sp: Vec<f64> = args[2]
        .split(',')
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let spacing: [f64; 3] = sp.try_into().map_err(|_| "spacing needs 3 numbers")?;
    let repeats: usize = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(3);
    for (name, interp) in [
        ("nearest", Interp::Nearest),
        ("linear", Interp::Linear),
        ("bspline", Interp::BSpline),
    ] {
        let mut best = f64::INFINITY;
        let mut shape = [0; 3];
        for _ in 0..repeats {
            let t = Instant::now();
            let out = resample_to_spacing(&vol, spacing, interp, GridMode::Itk)?;
            best = best.min(t.elapsed().as_secs_f64());
            shape = out.shape();
        }
        println!("{name} {best:.4} {}x{}x{}", shape[0], shape[1], shape[2]);
    }
    Ok(())
}
