//! conv3d forward and backward on 1x16x64^3, 16->16 channels, 3x3x3, padding 1 (3.6 GFLOP per
//! forward): the case measured in DEPENDENCIES.md. Plus the 1x1x1 and transposed paths.
//! Run: CARGO_TARGET_DIR=/work/target-nn cargo bench -p tomofuse-nn3d --bench conv3d

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
    let x =
        Var::from_tensor(&Tensor::randn(0f32, 1.0, (1, 16, 64, 64, 64), &dev).unwrap()).unwrap();
    let w = Var::from_tensor(&Tensor::randn(0f32, 0.1, (16, 16, 3, 3, 3), &dev).unwrap()).unwrap();
    let cfg = Conv3dConfig {
        padding: 1,
        ..Default::default()
    };
    g.bench_function("fwd_1x16x64^3_k3", |b| {
        b.iter(|| black_box(conv3d_op(x.as_tensor(), w.as_tensor(), cfg).unwrap()))
    });
    let y = conv3d_op(x.as_tensor(), w.as_tensor(), cfg).unwrap();
    let gy = Tensor::randn(0f32, 1.0, y.dims(), &dev).unwrap();
    g.bench_function("bwd_1x16x64^3_k3", |b| {
        b.iter(|| black_box((&y * &gy).unwrap().sum_all().unwrap().backward().unwrap()))
    });
    let w1 = Var::from_tensor(&Tensor::randn(0f32, 0.1, (64, 16, 1, 1, 1), &dev).unwrap()).unwrap();
    g.bench_function("fwd_1x16x64^3_k1_to64", |b| {
        b.iter(|| black_box(conv3d_op(x.as_tensor(), w1.as_tensor(), Default::default()).unwrap()))
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
