//! The direct convolution kernels against im2col + GEMM on the ResNet50-3D (w 0.25)
//! fine-tuning step's 3x3x3 layers and its 7x7x7 stem (batch 4, 32^3 input), forward and
//! backward, min of 30 each: where the direct kernels stop paying (`MIN_OUTPUTS` in
//! conv/direct.rs). The stem's input takes no gradient, as in training.
//! Run: cargo run --release -p tomofuse-nn3d --example tiny_ab

/// The product binary's allocator (crates/tomofuse-cli/src/main.rs), so that times match it.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use candle_core::{Device, Tensor, Var};
use std::time::Instant;
use tomofuse_nn3d::{Conv3dConfig, conv3d_op, direct_conv_supported, with_direct_conv};

fn main() -> Result<(), String> {
    if !direct_conv_supported() {
        println!("no AVX-512F here: only the im2col path runs");
        return Ok(());
    }
    tomofuse_nn3d::on_pool(|| run().map_err(|e| e.to_string()))
}

fn run() -> candle_core::Result<()> {
    let dev = Device::Cpu;
    // (n, cin, cout, size, k, stride)
    let cases = [
        (4, 1, 16, 32, 7, 2),
        (4, 16, 16, 8, 3, 1),
        (4, 32, 32, 8, 3, 2),
        (4, 32, 32, 4, 3, 1),
        (4, 64, 64, 4, 3, 2),
        (4, 64, 64, 2, 3, 1),
        (4, 128, 128, 2, 3, 2),
        (4, 128, 128, 1, 3, 1),
    ];
    for (n, ci, co, s, k, st) in cases {
        let x = Var::from_tensor(&Tensor::randn(0f32, 1.0, (n, ci, s, s, s), &dev)?)?;
        let xt = if ci == 1 {
            x.as_tensor().detach()
        } else {
            x.as_tensor().clone()
        };
        let w = Var::from_tensor(&Tensor::randn(0f32, 0.1, (co, ci, k, k, k), &dev)?)?;
        let cfg = Conv3dConfig {
            padding: k / 2,
            stride: st,
            ..Default::default()
        };
        let mut line = format!("n{n} {ci}->{co} {s}^3 k{k} s{st}:");
        for direct in [false, true] {
            let (mut f, mut b) = (f64::MAX, f64::MAX);
            with_direct_conv(direct, || -> candle_core::Result<()> {
                for _ in 0..30 {
                    let t = Instant::now();
                    let y = conv3d_op(&xt, w.as_tensor(), cfg)?;
                    f = f.min(t.elapsed().as_secs_f64());
                    let l = y.sum_all()?;
                    let t = Instant::now();
                    let _ = l.backward()?;
                    b = b.min(t.elapsed().as_secs_f64());
                }
                Ok(())
            })?;
            line += &format!(
                "  {} fwd {:.3} ms bwd {:.3} ms",
                if direct { "direct" } else { "im2col" },
                f * 1e3,
                b * 1e3
            );
        }
        println!("{line}");
    }
    Ok(())
}
