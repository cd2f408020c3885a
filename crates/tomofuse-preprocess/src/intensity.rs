//! Intensity transforms: clip/window, percentile clipping, z-score and min-max normalisation,
//! each optionally restricted to a mask for the statistics (the whole volume is transformed).

use crate::error::{PreprocessError, Result};
use rayon::prelude::*;
use tomofuse_core::{GeometryTolerance, Mask, Volume};

fn bad(name: &'static str, reason: String) -> PreprocessError {
    PreprocessError::InvalidArgument { name, reason }
}

/// Clips values to `[lo, hi]`.
pub fn clip(vol: &Volume<f32>, lo: f32, hi: f32) -> Result<Volume<f32>> {
    if !(lo.is_finite() && hi.is_finite() && lo <= hi) {
        return Err(bad(
            "clip",
            format!("need finite lo <= hi, got [{lo}, {hi}]"),
        ));
    }
    let mut out = vol.clone();
    out.data.par_mapv_inplace(|v| v.clamp(lo, hi));
    Ok(out)
}

/// HU window given as centre/width (e.g. lung -600/1500): clips to `[c - w/2, c + w/2]`.
pub fn window(vol: &Volume<f32>, center: f32, width: f32) -> Result<Volume<f32>> {
    if !(width.is_finite() && width > 0.0) {
        return Err(bad(
            "window width",
            format!("{width} must be finite and > 0"),
        ));
    }
    clip(vol, center - width / 2.0, center + width / 2.0)
}

/// Values used for statistics: the whole volume, or voxels where `mask != 0`.
fn sample(vol: &Volume<f32>, mask: Option<&Mask>) -> Result<Vec<f32>> {
    match mask {
        None => Ok(vol.data.iter().copied().collect()),
        Some(m) => {
            vol.check_same_grid(m, &GeometryTolerance::default())?;
            let v: Vec<f32> = vol
                .data
                .iter()
                .zip(m.data.iter())
                .filter(|(_, m)| **m != 0)
                .map(|(v, _)| *v)
                .collect();
            if v.is_empty() {
                return Err(PreprocessError::EmptyMask {
                    what: "intensity statistics",
                });
            }
            Ok(v)
        }
    }
}

/// Percentile with linear interpolation between order statistics (numpy's default method).
pub fn percentile(values: &mut [f32], p: f64) -> Result<f32> {
    if !(0.0..=100.0).contains(&p) {
        return Err(bad("percentile", format!("{p} is not in [0, 100]")));
    }
    if values.is_empty() {
        return Err(PreprocessError::EmptyMask { what: "percentile" });
    }
    values.par_sort_unstable_by(f32::total_cmp);
    let pos = p / 100.0 * (values.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = (lo + 1).min(values.len() - 1);
    let f = pos - lo as f64;
    Ok((f64::from(values[lo]) * (1.0 - f) + f64::from(values[hi]) * f) as f32)
}

/// Clips to the `[p_lo, p_hi]` percentiles (of the masked voxels when a mask is given).
pub fn percentile_clip(
    vol: &Volume<f32>,
    mask: Option<&Mask>,
    p_lo: f64,
    p_hi: f64,
) -> Result<Volume<f32>> {
    if p_lo > p_hi {
        return Err(bad("percentile", format!("lower {p_lo} > upper {p_hi}")));
    }
    let mut s = sample(vol, mask)?;
    let lo = percentile(&mut s, p_lo)?;
    let hi = percentile(&mut s, p_hi)?;
    clip(vol, lo, hi)
}

/// Mean and population standard deviation, accumulated in f64.
pub fn mean_std(values: &[f32]) -> (f64, f64) {
    let n = values.len().max(1) as f64;
    let mean = values.par_iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let var = values
        .par_iter()
        .map(|&v| (f64::from(v) - mean).powi(2))
        .sum::<f64>()
        / n;
    (mean, var.sqrt())
}

/// `(v - mean) / std` with statistics from the mask (or the whole volume).
pub fn zscore(vol: &Volume<f32>, mask: Option<&Mask>) -> Result<Volume<f32>> {
    let s = sample(vol, mask)?;
    let (mean, std) = mean_std(&s);
    if !(std > 0.0 && std.is_finite()) {
        return Err(bad(
            "zscore",
            format!("standard deviation is {std}: constant or non-finite input"),
        ));
    }
    let mut out = vol.clone();
    out.data
        .par_mapv_inplace(|v| ((f64::from(v) - mean) / std) as f32);
    Ok(out)
}

/// Linear map of `[min, max]` (of the mask or the volume) onto `[lo, hi]`.
pub fn minmax(vol: &Volume<f32>, mask: Option<&Mask>, lo: f32, hi: f32) -> Result<Volume<f32>> {
    let s = sample(vol, mask)?;
    let mn = s.par_iter().copied().reduce(|| f32::INFINITY, f32::min);
    let mx = s.par_iter().copied().reduce(|| f32::NEG_INFINITY, f32::max);
    if mx.partial_cmp(&mn) != Some(std::cmp::Ordering::Greater) {
        return Err(bad(
            "minmax",
            format!("range [{mn}, {mx}] is empty: constant input"),
        ));
    }
    let scale = (f64::from(hi) - f64::from(lo)) / (f64::from(mx) - f64::from(mn));
    let mut out = vol.clone();
    out.data
        .par_mapv_inplace(|v| (f64::from(lo) + (f64::from(v) - f64::from(mn)) * scale) as f32);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tomofuse_core::Geometry;

    fn vol(v: Vec<f32>) -> Volume<f32> {
        Volume::from_vec_c([1, 1, v.len()], v, Geometry::default()).unwrap()
    }

    /// numpy.percentile([1, 2, 3, 4, 10], [10, 50, 90]) = [1.4, 3.0, 7.6]
    #[test]
    fn percentiles_match_numpy() {
        let mut v = vec![10.0, 2.0, 3.0, 1.0, 4.0];
        assert!((percentile(&mut v, 10.0).unwrap() - 1.4).abs() < 1e-6);
        assert!((percentile(&mut v, 50.0).unwrap() - 3.0).abs() < 1e-6);
        assert!((percentile(&mut v, 90.0).unwrap() - 7.6).abs() < 1e-5);
    }

    #[test]
    fn normalisations() {
        let v = vol(vec![1.0, 2.0, 3.0, 4.0]);
        let z = zscore(&v, None).unwrap();
        // population std of 1..4 = sqrt(1.25)
        assert!((z.data[[0, 0, 0]] - (-1.5 / 1.25f32.sqrt())).abs() < 1e-6);
        let m = minmax(&v, None, 0.0, 1.0).unwrap();
        assert_eq!(
            m.data.iter().copied().collect::<Vec<_>>(),
            vec![0.0, 1.0 / 3.0, 2.0 / 3.0, 1.0]
        );
        let mask = Volume::from_vec_c([1, 1, 4], vec![0u8, 1, 1, 0], Geometry::default()).unwrap();
        let m = minmax(&v, Some(&mask), 0.0, 1.0).unwrap();
        assert_eq!(m.data[[0, 0, 3]], 2.0);
        let w = window(&v, 2.5, 1.0).unwrap();
        assert_eq!(
            w.data.iter().copied().collect::<Vec<_>>(),
            vec![2.0, 2.0, 3.0, 3.0]
        );
        assert!(zscore(&vol(vec![1.0, 1.0]), None).is_err());
        let empty = Volume::from_vec_c([1, 1, 4], vec![0u8; 4], Geometry::default()).unwrap();
        assert!(matches!(
            zscore(&v, Some(&empty)),
            Err(PreprocessError::EmptyMask { .. })
        ));
    }
}
