//! Times voxel maps: `voxel_time IMAGE MASK LABEL RADIUS MASKED FEATURES [REPEATS]`
//! (`MASKED` true|false, `FEATURES` e.g. `all` or `glcm`); prints JSON with the map count,
//! the ROI voxel count, the median wall time in seconds and the peak resident memory
//! (VmHWM, MB). Used by benches/python/voxel_speed.py.

use std::time::Instant;
use tomofuse_radiomics::voxel::{VoxelParams, voxel_maps};

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

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 7 {
        return Err("usage: voxel_time IMAGE MASK LABEL RADIUS MASKED FEATURES [REPEATS]".into());
    }
    let image = tomofuse_io::read_image(args[1].as_ref())?;
    let mask = tomofuse_io::read_mask(args[2].as_ref())?;
    let params = VoxelParams {
        label: args[3].parse()?,
        kernel_radius: args[4].parse()?,
        masked_kernel: args[5].parse()?,
        ..VoxelParams::default()
    };
    let features: Vec<String> = args[6].split(',').map(str::to_string).collect();
    let reps: usize = args.get(7).and_then(|s| s.parse().ok()).unwrap_or(3);
    let roi = mask.data.iter().filter(|&&m| m == params.label).count();
    let mut times = Vec::new();
    let mut n = 0;
    for _ in 0..reps.max(1) {
        let t = Instant::now();
        let maps = voxel_maps(&image, &mask, &params, &features)?;
        times.push(t.elapsed().as_secs_f64());
        n = maps.len();
    }
    times.sort_by(f64::total_cmp);
    println!(
        "{{\"maps\": {n}, \"roi_voxels\": {roi}, \"seconds\": {}, \"peak_rss_mb\": {:.1}, \"threads\": {}}}",
        times[times.len() / 2],
        peak_rss_mb(),
        rayon::current_num_threads()
    );
    Ok(())
}
