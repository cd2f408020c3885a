//! Times the fused instance-norm + PReLU forward and backward on one tensor shape.
//! `cargo run --release -p tomofuse-nn3d --example norm_time -- [n c s reps]`
/// The product binary's allocator (crates/tomofuse-cli/src/main.rs), so that times match it.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use candle_core::{Device, Tensor, Var};
use std::time::Instant;

fn main() -> Result<(), String> {
    tomofuse_nn3d::on_pool(|| run().map_err(|e| e.to_string()))
}

fn run() -> candle_core::Result<()> {
    let a: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|s| s.parse().ok())
        .collect();
    let (n, c, s, reps) = (
        *a.first().unwrap_or(&2),
        *a.get(1).unwrap_or(&16),
        *a.get(2).unwrap_or(&32),
        *a.get(3).unwrap_or(&20),
    );
    let x = Var::from_tensor(&Tensor::randn(0f32, 1.0, (n, c, s, s, s), &Device::Cpu)?)?;
    let slope = Var::from_tensor(&Tensor::new(&[0.25f32], &Device::Cpu)?)?;
    let gy = Tensor::randn(0f32, 1.0, (n, c, s, s, s), &Device::Cpu)?;
    let (mut f, mut b) = (f64::MAX, f64::MAX);
    for _ in 0..reps {
        let t = Instant::now();
        let y = tomofuse_nn3d::instance_norm_prelu(x.as_tensor(), slope.as_tensor(), 1e-5)?;
        f = f.min(t.elapsed().as_secs_f64());
        let loss = (y * &gy)?.sum_all()?;
        let t = Instant::now();
        let _g = loss.backward()?;
        b = b.min(t.elapsed().as_secs_f64());
    }
    let el = (n * c * s * s * s) as f64;
    println!(
        "{n}x{c}x{s}^3: forward {:.2} ms ({:.2} ns/elt), backward incl. mul/sum grads {:.2} ms ({:.2} ns/elt)",
        f * 1e3,
        f * 1e9 / el,
        b * 1e3,
        b * 1e9 / el
    );
    Ok(())
}
