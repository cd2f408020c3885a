//! The same test bodies run on the CPU and, with the `cuda` feature, on CUDA (one macro, as
//! candle does). Each body resamples synthetic CT-like volumes on its device and compares with
//! a naive reference written from the definitions (per voxel, f64) and with the CPU path:
//! max abs difference <= 1e-3 HU. Without a GPU the CUDA variants say so and skip. The NVRTC
//! test compiles every kernel to PTX whenever libnvrtc is loadable; with
//! TOMOFUSE_REQUIRE_NVRTC=1 (CI) a missing libnvrtc fails instead of skipping.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tomofuse_core::{Geometry, Space, Volume};
use tomofuse_preprocess::resample::{
    Device, GridMode, Interp, ResampleOptions, bspline_coefficients, output_grid, resample_on,
    resample_with,
};

/// Grids avoid exact half-voxel ties, where nearest neighbour depends on the last bit.
/// Smooth anatomy plus noise, in HU, 37x41x23 with anisotropic spacing and a flipped axis.
fn phantom(seed: u64) -> Volume<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let shape = [37, 41, 23];
    let mut v = Vec::with_capacity(shape.iter().product());
    for i in 0..shape[0] {
        for j in 0..shape[1] {
            for k in 0..shape[2] {
                let r = ((i as f64 - 18.0).powi(2)
                    + (j as f64 - 20.0).powi(2)
                    + (2.0 * k as f64 - 22.0).powi(2))
                .sqrt();
                let base = if r < 12.0 { 40.0 } else { -1000.0 } + 30.0 * (0.3 * i as f64).sin();
                v.push((base + rng.random_range(-20.0..20.0)) as f32);
            }
        }
    }
    let g = Geometry::new(
        [0.8, 0.7, 2.5],
        [-10.0, 5.0, 30.0],
        [[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, 1.0]],
        Space::Lps,
    )
    .unwrap();
    Volume::from_vec_c(shape, v, g).unwrap()
}

fn rotated_grid(v: &Volume<f32>) -> (Geometry, [usize; 3]) {
    let a = 0.3f64;
    let d0 = v.geometry.direction;
    let r = [
        [a.cos(), -a.sin(), 0.0],
        [a.sin(), a.cos(), 0.0],
        [0.0, 0.0, 1.0],
    ];
    let mut d = [[0.0; 3]; 3];
    for i in 0..3 {
        for j in 0..3 {
            for k in 0..3 {
                d[i][j] += r[i][k] * d0[k][j];
            }
        }
    }
    let origin = v.geometry.index_to_world([-2.13, 3.07, 1.37]);
    (
        Geometry::new([1.1, 0.9, 1.3], origin, d, Space::Lps).unwrap(),
        [30, 35, 40],
    )
}

/// Direct per-voxel reference from the definitions (ITK semantics) in f64.
fn naive(v: &Volume<f32>, g: &Geometry, shape: [usize; 3], interp: Interp) -> Vec<f64> {
    let coef = bspline_coefficients(&v.data);
    let n = v.shape();
    let mut out = Vec::new();
    for i in 0..shape[0] {
        for j in 0..shape[1] {
            for k in 0..shape[2] {
                let c = v
                    .geometry
                    .world_to_index(g.index_to_world([i as f64, j as f64, k as f64]));
                if (0..3).any(|a| !(c[a] >= -0.5 && c[a] < n[a] as f64 - 0.5)) {
                    out.push(0.0);
                    continue;
                }
                let val = match interp {
                    Interp::Nearest => {
                        let idx = [0, 1, 2].map(|a| ((c[a] + 0.5).floor() as usize).min(n[a] - 1));
                        f64::from(v.data[idx])
                    }
                    Interp::Linear => {
                        let cc = [0, 1, 2].map(|a| c[a].clamp(0.0, (n[a] - 1) as f64));
                        let mut acc = 0.0;
                        for corner in 0..8 {
                            let mut w = 1.0;
                            let mut idx = [0usize; 3];
                            for a in 0..3 {
                                let f = cc[a].floor();
                                let hi = corner >> a & 1 == 1;
                                idx[a] = ((f as usize) + usize::from(hi)).min(n[a] - 1);
                                w *= if hi { cc[a] - f } else { 1.0 - (cc[a] - f) };
                            }
                            acc += w * f64::from(v.data[idx]);
                        }
                        acc
                    }
                    Interp::BSpline => {
                        // Cubic B-spline kernel beta3 with whole-sample mirror extension.
                        let beta = |x: f64| {
                            let x = x.abs();
                            if x < 1.0 {
                                2.0 / 3.0 - x * x + x * x * x / 2.0
                            } else if x < 2.0 {
                                (2.0 - x).powi(3) / 6.0
                            } else {
                                0.0
                            }
                        };
                        let mirror = |m: i64, len: usize| -> usize {
                            let l2 = 2 * len as i64 - 2;
                            let mut m = m.rem_euclid(l2.max(1));
                            if m >= len as i64 {
                                m = l2 - m;
                            }
                            m as usize
                        };
                        let base = c.map(|x| x.floor() as i64);
                        let mut acc = 0.0;
                        for x in base[0] - 1..=base[0] + 2 {
                            for y in base[1] - 1..=base[1] + 2 {
                                for z in base[2] - 1..=base[2] + 2 {
                                    let w = beta(c[0] - x as f64)
                                        * beta(c[1] - y as f64)
                                        * beta(c[2] - z as f64);
                                    acc += w * f64::from(
                                        coef[[mirror(x, n[0]), mirror(y, n[1]), mirror(z, n[2])]],
                                    );
                                }
                            }
                        }
                        acc
                    }
                };
                out.push(val);
            }
        }
    }
    out
}

fn max_diff(a: &Volume<f32>, b: &[f64]) -> f64 {
    a.data
        .iter()
        .zip(b)
        .map(|(x, y)| (f64::from(*x) - y).abs())
        .fold(0.0, f64::max)
}

fn check_all_interps(device: Device, grid: (Geometry, [usize; 3]), v: &Volume<f32>) {
    let (g, shape) = grid;
    for interp in [Interp::Nearest, Interp::Linear, Interp::BSpline] {
        let opts = ResampleOptions::new(interp);
        let out = resample_on(v, &g, shape, &opts, device).unwrap();
        let cpu = resample_with(v, &g, shape, &opts).unwrap();
        let reference = naive(v, &g, shape, interp);
        let d_ref = max_diff(&out, &reference);
        let d_cpu = max_diff(
            &out,
            &cpu.data.iter().map(|&x| f64::from(x)).collect::<Vec<_>>(),
        );
        let bad: Vec<usize> = (0..reference.len())
            .filter(|&x| (f64::from(out.data.as_slice().unwrap()[x]) - reference[x]).abs() > 1e-3)
            .collect();
        if let Some(&x) = bad.first() {
            println!(
                "{} bad, first flat {x} ({:?}): ours {} ref {}",
                bad.len(),
                [
                    x / (shape[1] * shape[2]),
                    x / shape[2] % shape[1],
                    x % shape[2]
                ],
                out.data.as_slice().unwrap()[x],
                reference[x]
            );
        }
        println!(
            "{device:?} {interp:?}: max |device - naive| = {d_ref:.3e}, max |device - cpu| = {d_cpu:.3e}"
        );
        assert!(
            d_ref <= 1e-3,
            "{device:?} {interp:?}: {d_ref} HU from the naive reference"
        );
        assert!(
            d_cpu <= 1e-3,
            "{device:?} {interp:?}: {d_cpu} HU from the CPU path"
        );
        if interp == Interp::Nearest {
            assert_eq!(d_ref, 0.0);
        }
    }
}

fn axis_aligned(device: Device) {
    let v = phantom(1);
    for grid in [GridMode::Itk, GridMode::Ibsi] {
        check_all_interps(
            device,
            output_grid(&v.geometry, v.shape(), [0.61, 1.13, 1.07], grid).unwrap(),
            &v,
        );
    }
}

fn rotated(device: Device) {
    let v = phantom(2);
    check_all_interps(device, rotated_grid(&v), &v);
}

fn bad_input(device: Device) {
    let mut v = phantom(3);
    let (g, shape) = rotated_grid(&v);
    let far = Geometry::new([1.0; 3], [1e5, 0.0, 0.0], g.direction, Space::Lps).unwrap();
    let e = resample_on(
        &v,
        &far,
        shape,
        &ResampleOptions::new(Interp::Linear),
        device,
    )
    .unwrap_err();
    assert!(e.to_string().contains("does not overlap"), "{e}");
    v.data[[3, 4, 5]] = f32::NAN;
    let e = resample_on(&v, &g, shape, &ResampleOptions::new(Interp::Linear), device).unwrap_err();
    assert!(
        e.to_string().contains("non-finite") && e.to_string().contains("[3, 4, 5]"),
        "{e}"
    );
    let mut bad = g;
    bad.spacing[1] = -1.0;
    let e = resample_on(
        &v,
        &bad,
        shape,
        &ResampleOptions::new(Interp::Linear),
        device,
    )
    .unwrap_err();
    assert!(e.to_string().contains("spacing"), "{e}");
}

/// Defines `<name>::cpu` and (feature `cuda`) `<name>::cuda` running the same body; the CUDA
/// one skips visibly when no GPU is present. (Modules and functions live in different
/// namespaces, so the module can share the body's name.)
macro_rules! test_device {
    ($name:ident) => {
        mod $name {
            #[test]
            fn cpu() {
                super::$name(tomofuse_preprocess::resample::Device::Cpu);
            }

            #[cfg(feature = "cuda")]
            #[test]
            fn cuda() {
                match tomofuse_preprocess::cuda::device_count() {
                    Ok(_) => super::$name(tomofuse_preprocess::resample::Device::Cuda(0)),
                    Err(e) => tomofuse_core::report_skip(&format!("no GPU here: {e}")),
                }
            }
        }
    };
}

test_device!(axis_aligned);
test_device!(rotated);
test_device!(bad_input);

#[cfg(feature = "cuda")]
#[test]
fn cuda_nvrtc_compiles_every_kernel() {
    use tomofuse_preprocess::cuda;
    if !cuda::nvrtc_available() {
        if std::env::var("TOMOFUSE_REQUIRE_NVRTC").is_ok_and(|v| v == "1") {
            panic!(
                "TOMOFUSE_REQUIRE_NVRTC=1 but libnvrtc cannot be loaded: put site-packages/nvidia/cuda_nvrtc/lib on LD_LIBRARY_PATH"
            );
        }
        tomofuse_core::report_skip(
            "libnvrtc not found; set LD_LIBRARY_PATH to the nvidia-cuda-nvrtc-cu12 lib folder to compile the kernels",
        );
        return;
    }
    let ptx = cuda::compile_kernels().unwrap().to_src();
    for name in cuda::KERNEL_NAMES {
        assert!(
            ptx.contains(&format!(".entry {name}")),
            "kernel {name} missing from the PTX"
        );
    }
    println!(
        "NVRTC compiled {} kernels to {} bytes of PTX",
        cuda::KERNEL_NAMES.len(),
        ptx.len()
    );
}

#[test]
fn cuda_without_feature_or_device_is_an_error() {
    let v = phantom(4);
    let (g, shape) = rotated_grid(&v);
    let r = resample_on(
        &v,
        &g,
        shape,
        &ResampleOptions::new(Interp::Linear),
        Device::Cuda(0),
    );
    // Without the feature: always the "built without" error. With it: the "no CUDA device"
    // error exactly when the driver reports none, and a result equal to the CPU's otherwise.
    #[cfg(not(feature = "cuda"))]
    {
        let e = r.expect_err("Device::Cuda without the `cuda` feature must be an error");
        assert!(e.to_string().contains("without the `cuda` feature"), "{e}");
    }
    #[cfg(feature = "cuda")]
    match tomofuse_preprocess::cuda::device_count() {
        Err(_) => {
            let e = r.expect_err("Device::Cuda without a GPU must be an error");
            assert!(e.to_string().contains("no CUDA device"), "{e}");
        }
        Ok(_) => {
            let gpu = r.expect("Device::Cuda with a GPU");
            let cpu = resample_on(
                &v,
                &g,
                shape,
                &ResampleOptions::new(Interp::Linear),
                Device::Cpu,
            )
            .unwrap();
            let max = gpu
                .data
                .iter()
                .zip(cpu.data.iter())
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(max < 1e-3, "GPU and CPU differ by {max}");
        }
    }
}
