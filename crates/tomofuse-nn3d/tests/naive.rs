//! conv3d (and its two gradients) against a naive f64 loop, for configurations the PyTorch
//! files do not cover: groups, 1x1x1 (the no-im2col path), 1x1x1 with stride, a volume large
//! enough to be split into several depth tiles, the fused stride-1 backward (both gradients
//! from gy's column tiles) on odd shapes, and non-cubic kernels (the unfused paths). Plus
//! bad-input errors.

use candle_core::{Device, Tensor, Var};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tomofuse_nn3d::{Conv3dConfig, conv3d_op, direct_conv_supported, with_direct_conv};

#[derive(Clone, Copy)]
struct Case {
    n: usize,
    cin: usize,
    cout: usize,
    /// kernel size per axis (D, H, W)
    k: [usize; 3],
    i: [usize; 3],
    cfg: Conv3dConfig,
}

fn rand_vec(rng: &mut ChaCha8Rng, len: usize) -> Vec<f32> {
    (0..len).map(|_| rng.random_range(-1.0f32..1.0)).collect()
}

/// Returns (y, gx, gw) in f64 for loss = sum(y * gy).
fn naive(c: &Case, x: &[f32], w: &[f32], gy: &[f32], o: [usize; 3]) -> [Vec<f64>; 3] {
    let g = c.cfg.groups;
    let (cin_g, cout_g, k) = (c.cin / g, c.cout / g, c.k);
    let (s, p, dl) = (
        c.cfg.stride as isize,
        c.cfg.padding as isize,
        c.cfg.dilation as isize,
    );
    let si = c.i[0] * c.i[1] * c.i[2];
    let so = o[0] * o[1] * o[2];
    let mut y = vec![0f64; c.n * c.cout * so];
    let mut gx = vec![0f64; x.len()];
    let mut gw = vec![0f64; w.len()];
    for n in 0..c.n {
        for co in 0..c.cout {
            let gr = co / cout_g;
            for od in 0..o[0] {
                for oh in 0..o[1] {
                    for ow in 0..o[2] {
                        let yi = (n * c.cout + co) * so + (od * o[1] + oh) * o[2] + ow;
                        for ci in 0..cin_g {
                            let cx = gr * cin_g + ci;
                            for a in 0..k[0] {
                                for b in 0..k[1] {
                                    for e in 0..k[2] {
                                        let id = od as isize * s - p + a as isize * dl;
                                        let ih = oh as isize * s - p + b as isize * dl;
                                        let iw = ow as isize * s - p + e as isize * dl;
                                        if id < 0
                                            || ih < 0
                                            || iw < 0
                                            || id >= c.i[0] as isize
                                            || ih >= c.i[1] as isize
                                            || iw >= c.i[2] as isize
                                        {
                                            continue;
                                        }
                                        let xi = (n * c.cin + cx) * si
                                            + (id as usize * c.i[1] + ih as usize) * c.i[2]
                                            + iw as usize;
                                        let wi =
                                            (((co * cin_g + ci) * k[0] + a) * k[1] + b) * k[2] + e;
                                        y[yi] += x[xi] as f64 * w[wi] as f64;
                                        gx[xi] += w[wi] as f64 * gy[yi] as f64;
                                        gw[wi] += x[xi] as f64 * gy[yi] as f64;
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    [y, gx, gw]
}

fn assert_close(what: &str, got: &Tensor, want: &[f64]) {
    let g: Vec<f32> = got.flatten_all().unwrap().to_vec1().unwrap();
    assert_eq!(g.len(), want.len(), "{what}: length");
    let scale = want.iter().fold(0f64, |m, v| m.max(v.abs())).max(1e-30);
    let err = g
        .iter()
        .zip(want)
        .fold(0f64, |m, (a, b)| m.max((*a as f64 - b).abs()));
    assert!(
        err <= 1e-5 * scale,
        "{what}: max abs error {err}, scale {scale}"
    );
}

/// Checks the case on the im2col path and, where the machine has it, on the direct path.
fn run(c: Case, seed: u64) {
    with_direct_conv(false, || run_once(c, seed));
    if direct_conv_supported() {
        with_direct_conv(true, || run_once(c, seed));
    } else {
        eprintln!("direct conv path not checked: this CPU lacks AVX-512F");
    }
}

fn run_once(c: Case, seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let dev = Device::Cpu;
    let xs = [c.n, c.cin, c.i[0], c.i[1], c.i[2]];
    let ws = [c.cout, c.cin / c.cfg.groups, c.k[0], c.k[1], c.k[2]];
    let xv = rand_vec(&mut rng, xs.iter().product());
    let wv = rand_vec(&mut rng, ws.iter().product());
    let x = Var::from_vec(xv.clone(), &xs, &dev).unwrap();
    let w = Var::from_vec(wv.clone(), &ws, &dev).unwrap();
    let y = conv3d_op(x.as_tensor(), w.as_tensor(), c.cfg).unwrap();
    let d = y.dims().to_vec();
    let o = [d[2], d[3], d[4]];
    let gyv = rand_vec(&mut rng, d.iter().product());
    let gy = Tensor::from_vec(gyv.clone(), d.as_slice(), &dev).unwrap();
    let [ry, rgx, rgw] = naive(&c, &xv, &wv, &gyv, o);
    assert_close("forward", &y, &ry);
    let grads = (&y * &gy).unwrap().sum_all().unwrap().backward().unwrap();
    assert_close("grad x", grads.get(x.as_tensor()).unwrap(), &rgx);
    assert_close("grad w", grads.get(w.as_tensor()).unwrap(), &rgw);
}

#[test]
fn grouped_strided_dilated() {
    let cfg = Conv3dConfig {
        padding: 1,
        stride: 2,
        dilation: 2,
        groups: 2,
    };
    run(
        Case {
            n: 2,
            cin: 4,
            cout: 6,
            k: [3; 3],
            i: [9, 8, 7],
            cfg,
        },
        1,
    );
}

#[test]
fn pointwise() {
    run(
        Case {
            n: 2,
            cin: 5,
            cout: 3,
            k: [1; 3],
            i: [4, 5, 6],
            cfg: Conv3dConfig::default(),
        },
        2,
    );
}

#[test]
fn pointwise_strided_grouped() {
    let cfg = Conv3dConfig {
        stride: 2,
        groups: 3,
        ..Default::default()
    };
    run(
        Case {
            n: 1,
            cin: 6,
            cout: 9,
            k: [1; 3],
            i: [5, 6, 7],
            cfg,
        },
        3,
    );
}

#[test]
fn several_depth_tiles() {
    // 8 channels x 27 taps x 64-wide rows: 18 output rows per column tile, 320 rows, so 18
    // tiles run in parallel (the last one partial).
    let cfg = Conv3dConfig {
        padding: 1,
        ..Default::default()
    };
    run(
        Case {
            n: 1,
            cin: 8,
            cout: 3,
            k: [3; 3],
            i: [5, 64, 64],
            cfg,
        },
        4,
    );
}

#[test]
fn strided_several_tiles() {
    // stride 2: the gradient against x goes through GEMM + col2im, here over 3 row tiles.
    let cfg = Conv3dConfig {
        padding: 1,
        stride: 2,
        ..Default::default()
    };
    run(
        Case {
            n: 1,
            cin: 8,
            cout: 3,
            k: [3; 3],
            i: [6, 64, 64],
            cfg,
        },
        5,
    );
}

/// (batch, in and out channels, kernel, input size, padding, dilation, groups).
type CaseRow = (
    usize,
    usize,
    usize,
    [usize; 3],
    [usize; 3],
    usize,
    usize,
    usize,
);

/// Runs each row at `stride`, seeded `seed0 + row index`.
fn run_cases(cases: &[CaseRow], stride: usize, seed0: u64) {
    for (seed, &(n, cin, cout, k, i, padding, dilation, groups)) in cases.iter().enumerate() {
        let cfg = Conv3dConfig {
            padding,
            dilation,
            groups,
            stride,
        };
        run(
            Case {
                n,
                cin,
                cout,
                k,
                i,
                cfg,
            },
            seed0 + seed as u64,
        );
    }
}

/// Stride 1, cubic kernel, both gradients: the fused backward (`kernel_bwd_fused`).
#[test]
fn fused_backward_odd_shapes() {
    let cases = [
        // groups, dilation (reach 4 > padding 1), batch 2
        (2, 4, 6, [3; 3], [7, 6, 9], 1, 2, 2),
        // no padding (the transposed form pads by the whole reach)
        (2, 3, 5, [3; 3], [5, 7, 6], 0, 1, 1),
        // even kernel: the output is one larger than the input
        (2, 2, 3, [2; 3], [4, 5, 3], 1, 1, 1),
        // dilation with padding equal to the reach
        (1, 3, 2, [3; 3], [6, 5, 7], 2, 1, 1),
        // 5x5x5, groups 3
        (2, 6, 3, [5; 3], [6, 7, 8], 2, 1, 3),
    ];
    run_cases(&cases, 1, 10);
}

/// The direct kernels' edges: runs that cross rows, planes and the whole volume, partial
/// vectors, padding wider than the reach, no padding (rows shrink, so runs stay in a row),
/// non-cubic kernels (the weight gradient's row of 3), the 7x7x7 stem, channel counts that
/// leave remainder register blocks, groups and batches.
#[test]
fn direct_kernel_edges() {
    let cases = [
        // whole-volume runs over a volume smaller than one vector, odd channel counts
        (2, 3, 13, [3; 3], [2, 3, 4], 1, 1, 1),
        // rows of 17: runs cross rows, partial vectors
        (1, 5, 9, [3; 3], [3, 4, 17], 1, 1, 1),
        // no padding: rows shrink, runs stay in a row
        (1, 4, 6, [3; 3], [5, 7, 19], 0, 1, 1),
        // padding wider than the reach: the output grows
        (1, 2, 3, [3; 3], [4, 5, 6], 2, 1, 1),
        // dilation 2 with "same" padding, groups 2, batch 2
        (2, 4, 10, [3; 3], [6, 7, 9], 2, 2, 2),
        // non-cubic kernel with rows of 3 (direct weight gradient, GEMM input gradient)
        (2, 3, 5, [1, 5, 3], [4, 9, 8], 1, 1, 1),
        // the 7x7x7 stem shape
        (1, 1, 4, [7; 3], [9, 8, 10], 3, 1, 1),
    ];
    run_cases(&cases, 1, 40);
}

/// Stride 2 on the direct kernels (the input split into even and odd columns): odd widths
/// (the odd half one shorter), no padding, dilation, an even kernel, groups and batches.
#[test]
fn direct_kernel_stride_two() {
    let cases = [
        (2, 3, 10, [3; 3], [7, 8, 11], 1, 1, 1),
        (1, 4, 6, [3; 3], [6, 9, 9], 0, 1, 2),
        (1, 2, 3, [3; 3], [9, 7, 13], 2, 2, 1),
        (2, 2, 4, [2; 3], [6, 6, 7], 0, 1, 1),
        (1, 3, 6, [1, 3, 3], [5, 6, 35], 1, 1, 1),
    ];
    run_cases(&cases, 2, 60);
}

/// Non-cubic kernels take the unfused paths (GEMM + col2im for the input gradient).
#[test]
fn non_cubic_kernels() {
    let cases = [
        (2, 3, 4, [3, 1, 3], [5, 6, 7], 1, 1, 1),
        (1, 4, 2, [1, 3, 2], [6, 5, 4], 0, 2, 2),
        (2, 2, 4, [2, 3, 1], [7, 6, 5], 1, 1, 2),
    ];
    for (seed, (n, cin, cout, k, i, padding, stride, groups)) in cases.into_iter().enumerate() {
        let cfg = Conv3dConfig {
            padding,
            stride,
            groups,
            dilation: 1,
        };
        run(
            Case {
                n,
                cin,
                cout,
                k,
                i,
                cfg,
            },
            20 + seed as u64,
        );
    }
}

/// The fused backward over many parallel tiles, batch 2, groups 2: matches the naive loop and
/// is bit-identical from run to run (weight-gradient partials summed in a fixed order).
#[test]
fn fused_backward_parallel_tiles_deterministic() {
    let c = Case {
        n: 2,
        cin: 6,
        cout: 10,
        k: [3; 3],
        i: [4, 48, 40],
        cfg: Conv3dConfig {
            padding: 1,
            groups: 2,
            ..Default::default()
        },
    };
    run(c, 30);
    let mut rng = ChaCha8Rng::seed_from_u64(31);
    let dev = Device::Cpu;
    let xs = [c.n, c.cin, c.i[0], c.i[1], c.i[2]];
    let ws = [c.cout, c.cin / c.cfg.groups, 3, 3, 3];
    let x = Var::from_vec(rand_vec(&mut rng, xs.iter().product()), &xs, &dev).unwrap();
    let w = Var::from_vec(rand_vec(&mut rng, ws.iter().product()), &ws, &dev).unwrap();
    let grads = || {
        let g = conv3d_op(x.as_tensor(), w.as_tensor(), c.cfg)
            .unwrap()
            .backward()
            .unwrap();
        let v = |t: &Tensor| -> Vec<f32> {
            g.get(t).unwrap().flatten_all().unwrap().to_vec1().unwrap()
        };
        (v(x.as_tensor()), v(w.as_tensor()))
    };
    let first = grads();
    for _ in 0..3 {
        assert!(grads() == first, "gradients differ between runs");
    }
}

#[test]
fn bad_inputs_give_errors() {
    let dev = Device::Cpu;
    let w = Tensor::zeros((4, 3, 3, 3, 3), candle_core::DType::F32, &dev).unwrap();
    // wrong channel count
    let x = Tensor::zeros((1, 2, 5, 5, 5), candle_core::DType::F32, &dev).unwrap();
    let e = conv3d_op(&x, &w, Conv3dConfig::default()).unwrap_err();
    assert!(e.to_string().contains("expected 3 channels"), "{e}");
    // too small for the kernel
    let x = Tensor::zeros((1, 3, 2, 5, 5), candle_core::DType::F32, &dev).unwrap();
    let e = conv3d_op(&x, &w, Conv3dConfig::default()).unwrap_err();
    assert!(e.to_string().contains("too small"), "{e}");
    // wrong rank
    let x = Tensor::zeros((3, 5, 5, 5), candle_core::DType::F32, &dev).unwrap();
    let e = conv3d_op(&x, &w, Conv3dConfig::default()).unwrap_err();
    assert!(e.to_string().contains("rank-5"), "{e}");
    // wrong dtype
    let x = Tensor::zeros((1, 3, 5, 5, 5), candle_core::DType::F64, &dev).unwrap();
    let e = conv3d_op(&x, &w, Conv3dConfig::default()).unwrap_err();
    assert!(e.to_string().contains("only f32"), "{e}");
    // NaN
    let x = Tensor::new(&[f32::NAN, 1.0], &dev)
        .unwrap()
        .reshape((1, 1, 1, 1, 2))
        .unwrap();
    let e = tomofuse_nn3d::check_input(&x, Some(1)).unwrap_err();
    assert!(e.to_string().contains("non-finite"), "{e}");
}

#[test]
fn instance_norm_without_affine_standardises_each_plane() {
    // Analytic property: every (n, c) plane comes out with mean 0 and variance var/(var+eps).
    use candle_nn::{VarBuilder, VarMap};
    let map = VarMap::new();
    let vb = VarBuilder::from_varmap(&map, candle_core::DType::F32, &Device::Cpu);
    let norm = tomofuse_nn3d::instance_norm3d(3, 1e-5, false, vb).unwrap();
    assert!(map.all_vars().is_empty(), "no parameters without affine");
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let v: Vec<f32> = (0..2 * 3 * 60)
        .map(|_| rng.random_range(2.0f32..5.0))
        .collect();
    let x = Tensor::from_vec(v.clone(), (2, 3, 3, 4, 5), &Device::Cpu).unwrap();
    let y: Vec<f32> = norm
        .forward(&x)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    for p in 0..6 {
        let xs: Vec<f64> = v[p * 60..(p + 1) * 60].iter().map(|&a| a as f64).collect();
        let m = xs.iter().sum::<f64>() / 60.0;
        let var = xs.iter().map(|a| (a - m).powi(2)).sum::<f64>() / 60.0;
        for (i, &a) in xs.iter().enumerate() {
            let want = (a - m) / (var + 1e-5).sqrt();
            assert!(
                (y[p * 60 + i] as f64 - want).abs() < 1e-5,
                "plane {p} voxel {i}"
            );
        }
    }
}

#[test]
fn fused_bias_relu_and_add_relu_match_candle_ops() {
    // Forward and gradients of the fused ops against candle's own broadcast_add / relu / add
    // around the (PyTorch-validated) conv3d_op.
    use tomofuse_nn3d::{add_relu, conv3d_bias_relu_op};
    let dev = Device::Cpu;
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let mut var = |shape: &[usize]| {
        Var::from_vec(rand_vec(&mut rng, shape.iter().product()), shape, &dev).unwrap()
    };
    let x = var(&[2, 3, 6, 7, 8]);
    let w = var(&[4, 3, 3, 3, 3]);
    let b = var(&[4]);
    let r = var(&[2, 4, 6, 7, 8]);
    let cfg = Conv3dConfig {
        padding: 1,
        ..Default::default()
    };
    let fused = add_relu(
        &conv3d_bias_relu_op(x.as_tensor(), w.as_tensor(), b.as_tensor(), cfg).unwrap(),
        r.as_tensor(),
    )
    .unwrap();
    let plain = (conv3d_op(x.as_tensor(), w.as_tensor(), cfg)
        .unwrap()
        .broadcast_add(&b.as_tensor().reshape((1, 4, 1, 1, 1)).unwrap())
        .unwrap()
        .relu()
        .unwrap()
        + r.as_tensor())
    .unwrap()
    .relu()
    .unwrap();
    let to64 = |t: &Tensor| -> Vec<f64> {
        t.flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap()
            .iter()
            .map(|&v| v as f64)
            .collect()
    };
    assert_close("forward", &fused, &to64(&plain));
    let gy = Tensor::randn(0f32, 1.0, fused.dims(), &dev).unwrap();
    let g1 = (&fused * &gy)
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    let g2 = (&plain * &gy)
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    for (name, v) in [("x", &x), ("w", &w), ("b", &b), ("r", &r)] {
        let want = to64(g2.get(v.as_tensor()).unwrap());
        assert_close(name, g1.get(v.as_tensor()).unwrap(), &want);
    }
}
