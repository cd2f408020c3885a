//! Undecimated separable wavelets: the sub-band named by one letter per
//! axis (`L` = low-pass, `H` = high-pass decomposition filter), at any level by the a trous
//! algorithm. Level `N` applies the low-pass filter on every axis `N - 1` times (the `LLL`
//! band of the previous level), inserting a zero between the taps of every filter after each
//! level. Filters are PyWavelets' `dec_lo` / `dec_hi`; an even-length filter gets a trailing
//! zero so its centre is `len / 2`, as in MIRP (an IBSI-2 reference implementation). Rotation
//! invariance pools the sub-band over the right-angle rotations of the whole filter cascade.

use super::conv::{Pass, odd};
use super::laws::pooled_chains;
use super::rotation::{rotate, rotations, unique};
use super::{Dims, WaveletParams, bad, check_fits};
use crate::error::Result;
use ndarray::Array3;

/// Scaling filter (PyWavelets `rec_lo`) of a known orthogonal wavelet.
pub fn scaling_filter(name: &str) -> Option<Vec<f64>> {
    let r2 = std::f64::consts::SQRT_2;
    Some(match name.trim().to_ascii_lowercase().as_str() {
        "haar" | "db1" => vec![1.0 / r2, 1.0 / r2],
        "db2" => {
            let s3 = 3f64.sqrt();
            [1.0 + s3, 3.0 + s3, 3.0 - s3, 1.0 - s3]
                .iter()
                .map(|v| v / (4.0 * r2))
                .collect()
        }
        "db3" => {
            // Closed form (Resnikoff & Wells, table 10.3), scaled to sum sqrt(2).
            let s10 = 10f64.sqrt();
            let q = (5.0 + 2.0 * s10).sqrt();
            [
                1.0 + s10 + q,
                5.0 + s10 + 3.0 * q,
                10.0 - 2.0 * s10 + 2.0 * q,
                10.0 - 2.0 * s10 - 2.0 * q,
                5.0 + s10 - 3.0 * q,
                1.0 + s10 - q,
            ]
            .iter()
            .map(|v| v / (16.0 * r2))
            .collect()
        }
        "coif1" => {
            let s7 = 7f64.sqrt();
            [
                1.0 - s7,
                5.0 + s7,
                14.0 + 2.0 * s7,
                14.0 - 2.0 * s7,
                1.0 - s7,
                -3.0 + s7,
            ]
            .iter()
            .map(|v| v * r2 / 32.0)
            .collect()
        }
        _ => return None,
    })
}

/// Wavelet names [`scaling_filter`] knows.
pub const KNOWN_WAVELETS: &[&str] = &["haar", "db1", "db2", "db3", "coif1"];

/// PyWavelets' decomposition filters (`dec_lo`, `dec_hi`) from the scaling filter `h`:
/// `dec_lo` is `h` reversed and `dec_hi[k] = (-1)^(k+1) h[k]`.
pub fn decomposition_filters(h: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let lo = h.iter().rev().copied().collect();
    let hi = h
        .iter()
        .enumerate()
        .map(|(k, v)| if k % 2 == 0 { -v } else { *v })
        .collect();
    (lo, hi)
}

/// A checked separable wavelet filter.
#[derive(Debug, Clone)]
pub struct Wavelet {
    pub params: WaveletParams,
    main: [Option<Vec<f64>>; 3],
    pre: [Option<Vec<f64>>; 3],
}

/// The a trous upsampling: a zero between consecutive taps.
fn dilate(w: &[f64]) -> Vec<f64> {
    let mut out = vec![0.0; 2 * w.len() - 1];
    for (t, v) in w.iter().enumerate() {
        out[2 * t] = *v;
    }
    out
}

impl Wavelet {
    pub(crate) fn new(p: WaveletParams) -> Result<Self> {
        let h = scaling_filter(&p.wavelet).ok_or_else(|| {
            bad(
                "wavelet",
                format!(
                    "unknown wavelet `{}` (known: {})",
                    p.wavelet,
                    KNOWN_WAVELETS.join(", ")
                ),
            )
        })?;
        let want = if p.dims == Dims::D3 { 3 } else { 2 };
        let bands: Vec<char> = p.bands.trim().to_ascii_uppercase().chars().collect();
        if bands.len() != want || bands.iter().any(|c| !matches!(c, 'L' | 'H')) {
            return Err(bad(
                "bands",
                format!(
                    "`{}`: a {} sub-band is {want} letters L or H, e.g. {}",
                    p.bands,
                    if want == 3 { "3D" } else { "2D" },
                    if want == 3 { "LHL" } else { "LH" }
                ),
            ));
        }
        if !(1..=8).contains(&p.level) {
            return Err(bad("level", format!("must be in 1..=8, found {}", p.level)));
        }
        let (lo, hi) = decomposition_filters(&h);
        let (lo, hi) = (odd(&lo), odd(&hi));
        let main = std::array::from_fn(|ax| {
            bands
                .get(ax)
                .map(|c| if *c == 'L' { lo.clone() } else { hi.clone() })
        });
        let pre = std::array::from_fn(|ax| (ax < want).then(|| lo.clone()));
        Ok(Self {
            params: p,
            main,
            pre,
        })
    }

    pub(crate) fn apply(&self, a: &Array3<f64>) -> Result<Array3<f64>> {
        let p = &self.params;
        let f = p.dims.filtered();
        let final_len = self
            .main
            .iter()
            .flatten()
            .map(|w| w.len())
            .max()
            .unwrap_or(1);
        let final_len = (1..p.level).fold(final_len, |l, _| 2 * l - 1);
        check_fits("level", final_len, a.shape(), f)?;
        let sets: Vec<_> = if p.rotation_invariant {
            unique(
                rotations(p.dims)
                    .into_iter()
                    .map(|r| (rotate(&self.main, r), rotate(&self.pre, r)))
                    .collect(),
            )
        } else {
            vec![(self.main.clone(), self.pre.clone())]
        };
        // Each rotation is a chain of 1D passes: the low-pass cascade of levels 1..N-1, then
        // the sub-band filters; rotations share their common leading passes.
        let order = [2, 1, 0];
        let chains: Vec<Vec<Pass>> = sets
            .into_iter()
            .map(|(mut main, mut pre)| {
                let mut chain = Vec::new();
                for _ in 1..p.level {
                    chain.extend(
                        order
                            .iter()
                            .filter_map(|&ax| pre[ax].clone().map(|w| (ax, w))),
                    );
                    for w in main.iter_mut().chain(pre.iter_mut()).flatten() {
                        *w = dilate(w);
                    }
                }
                chain.extend(
                    order
                        .iter()
                        .filter_map(|&ax| main[ax].clone().map(|w| (ax, w))),
                );
                chain
            })
            .collect();
        Ok(pooled_chains(a, &chains, p.boundary, p.pooling))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaling_filters_are_orthonormal_and_match_pywavelets() {
        for name in KNOWN_WAVELETS {
            let h = scaling_filter(name).unwrap();
            let sum: f64 = h.iter().sum();
            assert!(
                (sum - std::f64::consts::SQRT_2).abs() < 1e-12,
                "{name} sum {sum}"
            );
            for m in (0..h.len()).step_by(2) {
                let dot: f64 = (0..h.len() - m).map(|k| h[k] * h[k + m]).sum();
                let want = if m == 0 { 1.0 } else { 0.0 };
                assert!((dot - want).abs() < 1e-12, "{name} shift {m}: {dot}");
            }
        }
        // PyWavelets db2 dec_lo / dec_hi.
        let (lo, hi) = decomposition_filters(&scaling_filter("db2").unwrap());
        let want_lo = [
            -0.12940952255126037,
            0.2241438680420134,
            0.8365163037378079,
            0.48296291314453416,
        ];
        let want_hi = [
            -0.48296291314453416,
            0.8365163037378079,
            -0.2241438680420134,
            -0.12940952255126037,
        ];
        for k in 0..4 {
            assert!((lo[k] - want_lo[k]).abs() < 1e-15 && (hi[k] - want_hi[k]).abs() < 1e-15);
        }
        // db3 dec_lo[0] and coif1 dec_lo[0] as PyWavelets prints them (its coif1 table agrees
        // with the closed form to about 3e-13).
        let (lo3, _) = decomposition_filters(&scaling_filter("db3").unwrap());
        assert!((lo3[0] - 0.035_226_291_885_709_53).abs() < 1e-14);
        let (lo_c, _) = decomposition_filters(&scaling_filter("coif1").unwrap());
        assert!((lo_c[0] + 0.015_655_728_135_464_54).abs() < 1e-12);
    }
}
