//! Sliding-window inference against full-volume inference and a naive weight sum.

mod common;

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use ndarray::{Array3, Array4};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tomofuse_unet::sliding::weight_sum;
use tomofuse_unet::{
    SlidingWindowConfig, Unet, gaussian_importance, sliding_window, window_starts,
};

fn random_image(shape: [usize; 3], seed: u64) -> Array4<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Array4::from_shape_fn((1, shape[0], shape[1], shape[2]), |_| {
        rng.random_range(-2.0..2.0)
    })
}

/// A per-voxel "network": [sigmoid(2x + 1), 1 - sigmoid(2x + 1)] and a class value = mean(x).
fn pointwise(x: &Tensor) -> tomofuse_unet::Result<(Tensor, Option<Tensor>)> {
    let s = candle_nn::ops::sigmoid(&((x * 2.0)? + 1.0)?)?;
    let one_m = (s.neg()? + 1.0)?;
    Ok((Tensor::cat(&[&s, &one_m], 1)?, None))
}

#[test]
fn pointwise_model_sliding_equals_full_volume() {
    let shape = [40, 37, 50];
    let img = random_image(shape, 1);
    for (gaussian, overlap) in [(true, 0.5), (false, 0.25), (true, 0.0)] {
        let cfg = SlidingWindowConfig {
            roi: [16, 16, 16],
            overlap,
            sigma_scale: 0.125,
            gaussian,
            batch: 3,
        };
        let out = sliding_window(&img, &cfg, pointwise).unwrap();
        assert_eq!(out.map.shape(), &[2, 40, 37, 50]);
        let mut max_err = 0.0f32;
        for ((c, i, j, k), &v) in out.map.indexed_iter() {
            let x = img[[0, i, j, k]] as f64;
            let s = 1.0 / (1.0 + (-(2.0 * x + 1.0)).exp());
            let want = if c == 0 { s } else { 1.0 - s } as f32;
            max_err = max_err.max((v - want).abs());
        }
        assert!(
            max_err < 1e-5,
            "gaussian {gaussian} overlap {overlap}: max error {max_err}"
        );
    }
}

#[test]
fn volume_smaller_than_window_is_padded_and_cropped() {
    let img = random_image([10, 20, 7], 2);
    let cfg = SlidingWindowConfig {
        roi: [16, 16, 16],
        ..SlidingWindowConfig::default()
    };
    let out = sliding_window(&img, &cfg, pointwise).unwrap();
    assert_eq!(out.map.shape(), &[2, 10, 20, 7]);
    let x = img[[0, 3, 15, 6]] as f64;
    let s = (1.0 / (1.0 + (-(2.0 * x + 1.0)).exp())) as f32;
    assert!((out.map[[0, 3, 15, 6]] - s).abs() < 1e-6);
}

#[test]
fn constant_model_gives_constant_output_and_mean_extra() {
    let img = random_image([33, 20, 41], 3);
    let cfg = SlidingWindowConfig {
        roi: [16, 16, 16],
        overlap: 0.5,
        ..SlidingWindowConfig::default()
    };
    let out = sliding_window(&img, &cfg, |x| {
        let b = x.dim(0)?;
        let y = Tensor::full(0.37f32, (b, 1, 16, 16, 16), &Device::Cpu)?;
        let e = Tensor::full(1.5f32, (b, 2), &Device::Cpu)?;
        Ok((y, Some(e)))
    })
    .unwrap();
    for &v in out.map.iter() {
        assert!((v - 0.37).abs() < 1e-6, "{v}");
    }
    assert_eq!(out.extra.unwrap(), vec![1.5, 1.5]);
}

#[test]
fn window_starts_cover_and_end_flush() {
    assert_eq!(window_starts(50, 16, 0.5), vec![0, 8, 16, 24, 32, 34]);
    assert_eq!(window_starts(16, 16, 0.5), vec![0]);
    assert_eq!(window_starts(10, 16, 0.5), vec![0]);
    assert_eq!(window_starts(33, 16, 0.0), vec![0, 16, 17]);
}

#[test]
fn gaussian_weights_match_formula_and_sum_correctly() {
    let roi = [16, 12, 9];
    let sigma_scale = 0.125;
    let g = gaussian_importance(roi, sigma_scale);
    // Independent formula: product of 1D Gaussians, centre (n-1)/2, sigma n/8, max 1.
    let f = |idx: [usize; 3]| -> f64 {
        (0..3)
            .map(|a| {
                let c = (roi[a] as f64 - 1.0) / 2.0;
                let s = roi[a] as f64 * sigma_scale;
                (-(idx[a] as f64 - c).powi(2) / (2.0 * s * s)).exp()
            })
            .product::<f64>()
    };
    let norm = f([7, 5, 4]).max(f([8, 6, 4])); // the grid's maximum is at a centre voxel
    let gmax = (0..roi[0])
        .flat_map(|i| (0..roi[1]).flat_map(move |j| (0..roi[2]).map(move |k| [i, j, k])))
        .map(f)
        .fold(0.0, f64::max);
    assert!((norm - gmax).abs() < 1e-12);
    for ((i, j, k), &v) in g.indexed_iter() {
        let want = f([i, j, k]) / gmax;
        assert!((v as f64 - want).abs() < 1e-6, "{i} {j} {k}: {v} vs {want}");
    }
    // The blend normaliser equals a naive sum over the windows covering each voxel.
    let shape = [30, 25, 20];
    let cfg = SlidingWindowConfig {
        roi,
        overlap: 0.5,
        sigma_scale,
        gaussian: true,
        batch: 1,
    };
    let ws = weight_sum(shape, &cfg);
    let mut naive = Array3::<f64>::zeros(shape);
    let starts: Vec<Vec<usize>> = (0..3)
        .map(|a| window_starts(shape[a], roi[a], 0.5))
        .collect();
    for &a in &starts[0] {
        for &b in &starts[1] {
            for &c in &starts[2] {
                for i in 0..roi[0] {
                    for j in 0..roi[1] {
                        for k in 0..roi[2] {
                            naive[[a + i, b + j, c + k]] += f([i, j, k]) / gmax;
                        }
                    }
                }
            }
        }
    }
    for (w, n) in ws.iter().zip(naive.iter()) {
        assert!(*n > 0.0, "a voxel is not covered");
        assert!((*w as f64 - n).abs() < 1e-4 * n.max(1.0), "{w} vs {n}");
    }
}

#[test]
fn unet_sliding_with_one_window_equals_direct_forward() {
    let cfg = common::tiny_config(true);
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    let net = Unet::new(&cfg, vb).unwrap();
    tomofuse_unet::train::init_weights(&varmap, 3).unwrap();
    let img = random_image([16, 16, 16], 4);
    let x = Tensor::from_vec(
        img.iter().cloned().collect::<Vec<_>>(),
        (1, 1, 16, 16, 16),
        &Device::Cpu,
    )
    .unwrap();
    let direct = net.forward_t(&x, false).unwrap();
    let direct_p = candle_nn::ops::softmax(&direct.seg_logits, 1)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let sw = SlidingWindowConfig {
        roi: [16, 16, 16],
        ..SlidingWindowConfig::default()
    };
    let out = sliding_window(&img, &sw, |w| {
        let o = net.forward_t(w, false)?;
        Ok((candle_nn::ops::softmax(&o.seg_logits, 1)?, o.class_logits))
    })
    .unwrap();
    for (a, b) in out.map.iter().zip(direct_p.iter()) {
        assert!((a - b).abs() < 1e-6);
    }
    let cl = direct
        .class_logits
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    assert!((out.extra.unwrap()[0] - cl[0]).abs() < 1e-6);
}
