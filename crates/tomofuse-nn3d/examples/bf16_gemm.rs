//! Does bf16 pay on this CPU? Times candle's matmul in f32 and in bf16 at the GEMM shapes of
//! the U-Net's 3D convolutions (im2col: `[c_out, c_in * 27] x [c_in * 27, voxels]`), plus the
//! f32 -> bf16 conversion a bf16 activation store would add per layer. Median of N runs.
//!
//! `cargo run --release -p tomofuse-nn3d --example bf16_gemm -- [N]`

use candle_core::{DType, Device, Tensor};
use std::time::Instant;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn time<F: FnMut() -> candle_core::Result<()>>(n: usize, mut f: F) -> candle_core::Result<f64> {
    f()?;
    let mut t = Vec::with_capacity(n);
    for _ in 0..n {
        let s = Instant::now();
        f()?;
        t.push(s.elapsed().as_secs_f64());
    }
    Ok(median(t))
}

fn main() -> candle_core::Result<()> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let dev = Device::Cpu;
    println!(
        "| GEMM (c_out x k) * (k x voxels) | f32 s | bf16 s | bf16 / f32 | f32 -> bf16 of the input s |"
    );
    println!("|---|---|---|---|---|");
    for (c_out, c_in, side) in [
        (16usize, 16usize, 32usize),
        (16, 16, 64),
        (32, 32, 32),
        (64, 64, 16),
    ] {
        let k = c_in * 27;
        let vox = side * side * side;
        let w = Tensor::randn(0f32, 1.0, (c_out, k), &dev)?;
        let x = Tensor::randn(0f32, 1.0, (k, vox), &dev)?;
        let (wb, xb) = (w.to_dtype(DType::BF16)?, x.to_dtype(DType::BF16)?);
        let f32_s = time(n, || w.matmul(&x).map(|_| ()))?;
        let bf16_s = time(n, || wb.matmul(&xb).map(|_| ()))?;
        let conv_s = time(n, || x.to_dtype(DType::BF16).map(|_| ()))?;
        // Same product in both precisions: the bf16 result's relative error, for the record.
        let y = w.matmul(&x)?;
        let yb = wb.matmul(&xb)?.to_dtype(DType::F32)?;
        let rel = ((y.clone() - yb)?.abs()?.max_all()?.to_scalar::<f32>()?)
            / y.abs()?.max_all()?.to_scalar::<f32>()?;
        println!(
            "| {c_out} x {k} * {k} x {vox} ({c_in}->{c_out}, {side}^3) | {f32_s:.4} | {bf16_s:.4} | {:.2} | {conv_s:.4} |  (max rel. diff {rel:.1e})",
            bf16_s / f32_s
        );
    }
    Ok(())
}
