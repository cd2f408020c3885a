//! Times an extraction from a PyRadiomics parameter file:
//! `radiomics_params_time PARAMS.yaml IMAGE MASK [REPEATS] [--breakdown]`; prints the feature
//! count, the median wall time in seconds, the peak RSS and the median CPU time of all threads
//! (used by
//! benches/python/radiomics_params_speed.py). Times the extraction only (inputs read once), as
//! the Python side does.
//!
//! `--breakdown` also prints, on one thread and in sequence, where the time goes: reading,
//! ROI build (crop, discretisation), volume hashes, per image type the filter response, the
//! crop and discretisation of the response, and per feature family. The wavelet bands are
//! one decomposition: its time is on the first band's row.

use std::time::Instant;
use tomofuse_radiomics::{extract, settings::pyradiomics_params};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let breakdown = args.iter().any(|a| a == "--breakdown");
    let args: Vec<&String> = args.iter().filter(|a| *a != "--breakdown").collect();
    if args.len() < 4 {
        return Err(
            "usage: radiomics_params_time PARAMS.yaml IMAGE MASK [REPEATS] [--breakdown]".into(),
        );
    }
    let params = pyradiomics_params::from_file(args[1].as_ref())?;
    let t = Instant::now();
    let image = tomofuse_io::read_image(args[2].as_ref())?;
    let mask = tomofuse_io::read_mask(args[3].as_ref())?;
    let read_s = t.elapsed().as_secs_f64();
    let reps: usize = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(3);
    let mut times = Vec::new();
    let mut cpu = Vec::new();
    let mut n = 0;
    for _ in 0..reps.max(1) {
        let c = cpu_s();
        let t = Instant::now();
        let ex = extract(&image, &mask, params.label, &params.settings)?;
        times.push(t.elapsed().as_secs_f64());
        cpu.push(cpu_s() - c);
        n = ex.features.len();
    }
    times.sort_by(f64::total_cmp);
    cpu.sort_by(f64::total_cmp);
    println!(
        "features {n} median_s {:.4} peak_rss_mb {:.1} cpu_median_s {:.4}",
        times[times.len() / 2],
        peak_rss_mb(),
        cpu[cpu.len() / 2]
    );
    if breakdown {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build()?;
        pool.install(|| breakdown_json(&image, &mask, &params, read_s))
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// CPU time of all threads of this process so far (the sum of `/proc/self/task/*/schedstat`,
/// nanoseconds on CPU), in seconds; NaN where /proc is missing. Less sensitive to other
/// processes' load than the wall time.
fn cpu_s() -> f64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return f64::NAN;
    };
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .sum::<f64>()
        / 1e9
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

fn breakdown_json(
    image: &tomofuse_core::Volume<f32>,
    mask: &tomofuse_core::Mask,
    params: &pyradiomics_params::ParamsFile,
    read_s: f64,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    use tomofuse_radiomics::pyradiomics_image::{self, PyradImage};
    use tomofuse_radiomics::{families, roi::Roi};
    let s = &params.settings;
    let mut fam_s: std::collections::BTreeMap<String, f64> = Default::default();
    let t = Instant::now();
    let _ = (
        tomofuse_radiomics::sha256_volume(image),
        tomofuse_radiomics::sha256_volume(mask),
    );
    let hash_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let (roi, grid) = Roi::build_on_grid(image, mask, params.label, s)?;
    let roi_s = t.elapsed().as_secs_f64();
    let types = s.image_types()?;
    let t = Instant::now();
    let a = grid.data.mapv(|v| v as f64);
    let to_f64_s = t.elapsed().as_secs_f64();
    let bx = roi.grid_box();
    // The bands of the wavelet decomposition are computed together (as `extract` does).
    let bands: Vec<_> = types
        .iter()
        .filter_map(|t| match &t.pyradiomics {
            Some(PyradImage::Wavelet { band, .. }) => Some(*band),
            _ => None,
        })
        .collect();
    let mut wavelet_maps = Vec::new();
    let mut rows = Vec::new();
    for ty in &types {
        let (filter_s, crop_s, r) = match &ty.pyradiomics {
            None => (0.0, 0.0, roi.clone()),
            Some(op) => {
                let t = Instant::now();
                let resp = match op {
                    PyradImage::Wavelet {
                        wavelet,
                        approximations,
                        ..
                    } => {
                        if wavelet_maps.is_empty() {
                            wavelet_maps = pyradiomics_image::wavelet_bands(
                                &a,
                                wavelet,
                                *approximations,
                                &bands,
                                bx,
                            )?;
                            wavelet_maps.reverse();
                        }
                        wavelet_maps.pop().ok_or("one wavelet decomposition")?
                    }
                    _ => op.apply_box(&a, grid.geometry.spacing, bx)?,
                };
                let f = t.elapsed().as_secs_f64();
                let t = Instant::now();
                let r = roi.with_image(roi.crop_from(&resp, bx.lo), &ty.settings)?;
                (f, t.elapsed().as_secs_f64(), r)
            }
        };
        let mut feat_s = 0.0;
        for fam in families::all() {
            if fam.enabled(&ty.settings) {
                let t = Instant::now();
                let _ = fam.compute(&r, &ty.settings);
                let dt = t.elapsed().as_secs_f64();
                feat_s += dt;
                *fam_s.entry(fam.name().to_string()).or_default() += dt;
            }
        }
        rows.push(format!(
            "{{\"image_type\": \"{}\", \"filter_s\": {filter_s:.5}, \"crop_discretise_s\": {crop_s:.5}, \"features_s\": {feat_s:.5}}}",
            ty.name
        ));
    }
    let fams: Vec<String> = fam_s
        .iter()
        .map(|(k, v)| format!("\"{k}\": {v:.5}"))
        .collect();
    println!(
        "{{\"roi_voxels\": {}, \"crop_dims_zyx\": {:?}, \"read_s\": {read_s:.5}, \"hash_s\": {hash_s:.5}, \"roi_build_s\": {roi_s:.5}, \"to_f64_s\": {to_f64_s:.5}, \"families_s\": {{{}}}, \"image_types\": [\n  {}\n]}}",
        roi.n_int(),
        roi.dims,
        fams.join(", "),
        rows.join(",\n  ")
    );
    Ok(())
}
