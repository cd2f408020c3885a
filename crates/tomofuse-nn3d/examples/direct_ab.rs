//! The direct convolution kernels against the im2col + GEMM path on this machine, interleaved
//! in one process (min of 7 per op): the U-Net's stride-1, stride-2 and transposed
//! convolutions at its top levels, forward and both gradients.
//! Run: cargo run --release -p tomofuse-nn3d --example direct_ab

use std::time::Instant;

use candle_core::{Device, Tensor, Var};
use tomofuse_nn3d::{
    Conv3dConfig, ConvTranspose3dConfig, conv_transpose3d_op, conv3d_op, direct_conv_supported,
    with_direct_conv,
};

/// One convolution to time, by name.
type Op<'a> = (&'a str, Box<dyn Fn() -> candle_core::Result<Tensor> + 'a>);

fn time(f: &dyn Fn()) -> f64 {
    f();
    (0..7)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() -> candle_core::Result<()> {
    if !direct_conv_supported() {
        println!("no AVX-512F here: only the im2col path runs");
        return Ok(());
    }
    let dev = Device::Cpu;
    let var = |shape: &[usize]| Var::from_tensor(&Tensor::randn(0f32, 0.1, shape, &dev)?);
    let x16 = var(&[2, 16, 64, 64, 64])?;
    let x32 = var(&[2, 32, 32, 32, 32])?;
    let w_s1 = var(&[16, 16, 3, 3, 3])?;
    let w_s2 = var(&[32, 16, 3, 3, 3])?;
    let w_t = var(&[32, 16, 3, 3, 3])?;
    let p1 = Conv3dConfig {
        padding: 1,
        ..Default::default()
    };
    let s2 = Conv3dConfig {
        padding: 1,
        stride: 2,
        ..Default::default()
    };
    let t2 = ConvTranspose3dConfig {
        padding: 1,
        output_padding: 1,
        stride: 2,
        ..Default::default()
    };
    let ops: Vec<Op> = vec![
        (
            "conv 16->16 k3 s1, 2x64^3",
            Box::new(|| conv3d_op(x16.as_tensor(), w_s1.as_tensor(), p1)),
        ),
        (
            "conv 16->32 k3 s2, 2x64^3",
            Box::new(|| conv3d_op(x16.as_tensor(), w_s2.as_tensor(), s2)),
        ),
        (
            "convT 32->16 k3 s2, 2x32^3",
            Box::new(|| conv_transpose3d_op(x32.as_tensor(), w_t.as_tensor(), t2)),
        ),
    ];
    println!(
        "{:<30}{:>12}{:>12}{:>12}{:>12}",
        "op", "fwd im2col", "fwd direct", "bwd im2col", "bwd direct"
    );
    for (name, op) in &ops {
        let mut r = [0f64; 4];
        for (i, direct) in [false, true].into_iter().enumerate() {
            r[i] = with_direct_conv(direct, || time(&|| drop(op().unwrap())));
            let y = with_direct_conv(direct, op)?;
            r[2 + i] = with_direct_conv(direct, || time(&|| drop(y.backward().unwrap())));
        }
        println!(
            "{name:<30}{:>12.4}{:>12.4}{:>12.4}{:>12.4}",
            r[0], r[1], r[2], r[3]
        );
    }
    Ok(())
}
