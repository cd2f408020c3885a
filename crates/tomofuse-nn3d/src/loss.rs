//! The losses both networks share, in their overflow-free forms.

use candle_core::{Result, Tensor};

/// `softplus(x) = log(1 + exp(x))`, as `relu(x) + log(1 + exp(-|x|))` so no `exp` overflows.
pub fn softplus(x: &Tensor) -> Result<Tensor> {
    x.relu()? + (x.abs()?.neg()?.exp()? + 1.0)?.log()?
}

/// Mean binary cross-entropy with logits `z` against 0/1 targets `y`, positives weighted by
/// `pos_weight` (PyTorch's `BCEWithLogitsLoss(pos_weight=...)`):
/// `pos_weight * y * softplus(-z) + (1 - y) * softplus(z)`.
pub fn bce_with_logits(z: &Tensor, y: &Tensor, pos_weight: f64) -> Result<Tensor> {
    let pos = (y * softplus(&z.neg()?)?)?;
    let neg = ((1.0 - y)? * softplus(z)?)?;
    ((pos * pos_weight)? + neg)?.mean_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn softplus_and_bce_match_the_formulas_without_overflow() {
        let xs = [-800.0f32, -20.0, -1.5, 0.0, 0.3, 20.0, 800.0];
        let x = Tensor::new(&xs, &Device::Cpu).unwrap();
        let sp = softplus(&x).unwrap().to_vec1::<f32>().unwrap();
        for (v, &xi) in sp.iter().zip(&xs) {
            let naive = (1.0 + (xi as f64).exp()).ln();
            let want = if naive.is_finite() { naive } else { xi as f64 };
            assert!(
                (*v as f64 - want).abs() <= 1e-6 * want.abs().max(1.0),
                "{xi}: {v} vs {want}"
            );
        }
        let z = [-2.0f32, 0.5, 3.0, -0.1];
        let y = [0.0f32, 1.0, 1.0, 0.0];
        let pw = 2.5;
        let got = bce_with_logits(
            &Tensor::new(&z, &Device::Cpu).unwrap(),
            &Tensor::new(&y, &Device::Cpu).unwrap(),
            pw,
        )
        .unwrap()
        .to_scalar::<f32>()
        .unwrap() as f64;
        let want: f64 = z
            .iter()
            .zip(&y)
            .map(|(&z, &y)| {
                let p = 1.0 / (1.0 + (-(z as f64)).exp());
                -(pw * y as f64 * p.ln() + (1.0 - y as f64) * (1.0 - p).ln())
            })
            .sum::<f64>()
            / 4.0;
        assert!((got - want).abs() < 1e-6, "{got} vs {want}");
    }
}
