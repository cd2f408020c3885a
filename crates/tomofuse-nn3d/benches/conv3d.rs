//! conv3d forward and backward (both gradients, `y.backward()` as PyTorch's
//! `y.backward(ones)`) at several sizes: 16->16 3x3x3 padding 1 on 1x16x32^3 and 1x16x64^3
//! (3.6 GFLOP per forward: the case of benches/python/torch_speed.py), 32->32 on 1x32x32^3,
//! and the strided 16->32 3x3x3 stride 2 on 1x16x64^3 (a U-Net down step, the unfused
//! backward). Plus the 1x1x1 and transposed paths.
//! Run: CARGO_TARGET_DIR=/work/target-conv cargo bench -p tomofuse-nn3d --bench conv3d

use candle_core::{Device, Tensor, Var};
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use tomofuse_nn3d::{
    Conv3dConfig, ConvTranspose3dConfig, conv_transpose3d_op, conv3d_op, upsample_trilinear3d,
};

fn bench(c: &mut Criterion) {
    let dev = Device::Cpu;
    let mut g = c.benchmark_group("conv3d");
    g.sample_size(10);
    // (name, cin, cout, size, stride)
    let cases = [
        ("16to16_k3_32^3", 16, 16, 32, 1),
        ("16to16_k3_64^3", 16, 16, 64, 1),
        ("32to32_k3_32^3", 32, 32, 32, 1),
        ("16to32_k3s2_64^3", 16, 32, 64, 2),
    ];
    for (name, cin, cout, size, stride) in cases {
        let x =
            Var::from_tensor(&Tensor::randn(0f32, 1.0, (1, cin, size, size, size), &dev).unwrap())
                .unwrap();
        let w = Var::from_tensor(&Tensor::randn(0f32, 0.1, (cout, cin, 3, 3, 3), &dev).unwrap())
            .unwrap();
        let cfg = Conv3dConfig {
            padding: 1,
            stride,
            ..Default::default()
        };
        g.bench_function(format!("fwd_{name}"), |b| {
            b.iter(|| black_box(conv3d_op(x.as_tensor(), w.as_tensor(), cfg).unwrap()))
        });
        let y = conv3d_op(x.as_tensor(), w.as_tensor(), cfg).unwrap();
        g.bench_function(format!("bwd_{name}"), |b| {
            b.iter(|| black_box(y.backward().unwrap()))
        });
    }
    let x = Tensor::randn(0f32, 1.0, (1, 16, 64, 64, 64), &dev).unwrap();
    let w1 = Var::from_tensor(&Tensor::randn(0f32, 0.1, (64, 16, 1, 1, 1), &dev).unwrap()).unwrap();
    g.bench_function("fwd_1x16x64^3_k1_to64", |b| {
        b.iter(|| black_box(conv3d_op(&x, w1.as_tensor(), Default::default()).unwrap()))
    });
    let wt = Var::from_tensor(&Tensor::randn(0f32, 0.1, (16, 8, 2, 2, 2), &dev).unwrap()).unwrap();
    let xs = Tensor::randn(0f32, 1.0, (1, 16, 32, 32, 32), &dev).unwrap();
    let tcfg = ConvTranspose3dConfig {
        stride: 2,
        ..Default::default()
    };
    g.bench_function("convT_fwd_1x16x32^3_k2s2", |b| {
        b.iter(|| black_box(conv_transpose3d_op(&xs, wt.as_tensor(), tcfg).unwrap()))
    });
    g.bench_function("trilinear_x2_1x16x32^3", |b| {
        b.iter(|| black_box(upsample_trilinear3d(&xs, [64, 64, 64]).unwrap()))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
