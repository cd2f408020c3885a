//! `tomofuse inspect PATH [--json]`: shape, geometry (LPS and nibabel's RAS affine), stored dtype
//! and statistics of the scaled values of a NIfTI/NRRD file or a DICOM series folder.

use anyhow::Context;
use serde_json::json;
use std::path::PathBuf;
use tomofuse_core::Space;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// NIfTI (.nii/.nii.gz), NRRD (.nrrd/.nhdr) file, or a folder holding one DICOM series.
    pub path: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// SeriesInstanceUID to pick when the DICOM folder holds several series.
    #[arg(long)]
    pub series_uid: Option<String>,
}

/// min, max, mean and sum (f64) of the values.
fn stats(v: &[f32]) -> (f64, f64, f64, f64) {
    let (mut lo, mut hi, mut sum) = (f64::INFINITY, f64::NEG_INFINITY, 0.0f64);
    for &x in v {
        let x = x as f64;
        lo = lo.min(x);
        hi = hi.max(x);
        sum += x;
    }
    (lo, hi, sum / v.len().max(1) as f64, sum)
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let (vol, info) = tomofuse_io::read_image_series(&a.path, a.series_uid.as_deref())
        .with_context(|| format!("cannot read image {}", a.path.display()))?;
    let g = vol.geometry;
    let values = vol
        .data
        .as_slice_memory_order()
        .map(|s| s.to_vec())
        .unwrap_or_else(|| vol.data.iter().copied().collect());
    let (min, max, mean, sum) = stats(&values);
    let codes: String = g.axis_codes(Space::Ras).iter().collect();
    if a.json {
        let details: serde_json::Map<String, serde_json::Value> = info
            .details
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        let out = json!({
            "path": a.path.display().to_string(),
            "format": info.format.name(),
            "shape": vol.shape(),
            "spacing": g.spacing,
            "origin": g.origin,
            "direction": g.direction,
            "space": "LPS",
            "affine_ras": info.affine_ras,
            "orientation": codes,
            "dtype": info.dtype.name(),
            "scale": info.scale.map(|(s, i)| json!({"slope": s, "intercept": i})),
            "min": min,
            "max": max,
            "mean": mean,
            "sum": sum,
            "details": details,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!("{} ({})", a.path.display(), info.format.name());
        println!("  shape        {:?}  (i, j, k)", vol.shape());
        println!(
            "  dtype        {}{}",
            info.dtype,
            info.scale
                .map(|(s, i)| format!("  scaled by {s} x + {i}"))
                .unwrap_or_default()
        );
        println!("  spacing      {:?} mm", g.spacing);
        println!("  origin       {:?} (LPS mm)", g.origin);
        println!(
            "  direction    {:?} (LPS, columns = index axes)",
            g.direction
        );
        println!("  orientation  {codes} (RAS axis codes, as nibabel aff2axcodes)");
        println!("  affine_ras");
        for r in info.affine_ras {
            println!(
                "    [{:>12.6} {:>12.6} {:>12.6} {:>12.6}]",
                r[0], r[1], r[2], r[3]
            );
        }
        println!("  min {min}  max {max}  mean {mean:.6}  sum {sum}");
        for (k, v) in &info.details {
            println!("  {k}: {v}");
        }
    }
    Ok(())
}
