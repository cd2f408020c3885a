//! Seeded weight initialisation shared by the networks: one implementation, so a U-Net and a
//! ResNet built with the same seed are initialised by the same rule.

use candle_core::{Result, Tensor};
use candle_nn::VarMap;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Every weight of rank >= 2 (and the bias beside it) drawn from U(-1/sqrt(fan_in),
/// 1/sqrt(fan_in)), PyTorch's default for convolutions and linear layers, in sorted variable
/// order from one ChaCha8 stream seeded by `seed`: the same seed gives the same network on any
/// machine and thread count. Norm parameters (rank 1 without a weight matrix) keep their values.
pub fn init_uniform_fan_in(varmap: &VarMap, seed: u64) -> Result<()> {
    let data = varmap
        .data()
        .lock()
        .map_err(|_| candle_core::Error::Msg("varmap lock poisoned".into()))?;
    let mut names: Vec<&String> = data.keys().collect();
    names.sort();
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_1417);
    for name in names {
        let var = &data[name];
        let dims = var.dims().to_vec();
        let weight_dims = if let Some(stem) = name.strip_suffix(".bias") {
            data.get(&format!("{stem}.weight"))
                .map(|v| v.dims().to_vec())
                .filter(|d| d.len() >= 2)
        } else if dims.len() >= 2 && name.ends_with(".weight") {
            Some(dims.clone())
        } else {
            None
        };
        let Some(wd) = weight_dims else { continue };
        let fan_in: usize = wd[1..].iter().product();
        let bound = 1.0 / (fan_in.max(1) as f64).sqrt();
        let n: usize = dims.iter().product();
        let vals: Vec<f32> = (0..n)
            .map(|_| rng.random_range(-bound..bound) as f32)
            .collect();
        var.set(&Tensor::from_vec(vals, dims.as_slice(), var.device())?)?;
    }
    Ok(())
}
