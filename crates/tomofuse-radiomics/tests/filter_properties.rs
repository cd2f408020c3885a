//! Properties of the IBSI-2 filters that need no reference data: a 2D filter is the same
//! filter applied to each slice alone, and a rotation-invariant filter commutes with a
//! right-angle rotation of the image.

use ndarray::{Array3, Axis, s};
use tomofuse_radiomics::filters::{
    Boundary, Dims, FilterParams, GaborParams, LawsParams, LogParams, Plane, Pooling, WaveletParams,
};

/// A deterministic pseudo-random volume.
fn noise(shape: (usize, usize, usize)) -> Array3<f64> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    Array3::from_shape_fn(shape, |_| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % 1000) as f64 / 10.0
    })
}

fn max_diff(a: &Array3<f64>, b: &Array3<f64>) -> f64 {
    (a - b).mapv(f64::abs).fold(0.0, |m: f64, &v| m.max(v))
}

#[test]
fn a_2d_filter_is_the_filter_of_each_slice_alone() {
    let img = noise((20, 17, 4));
    let filters = [
        FilterParams::Log(LogParams {
            sigma_mm: 2.0,
            truncate: 4.0,
            dims: Dims::D2,
            boundary: Boundary::Mirror,
            riesz: None,
        }),
        FilterParams::Gabor(GaborParams {
            sigma_mm: 3.0,
            lambda_mm: 2.0,
            gamma: 1.5,
            thetas: vec![0.0, 0.7],
            planes: vec![Plane::Axial],
            boundary: Boundary::Nearest,
        }),
        FilterParams::Wavelet(WaveletParams {
            wavelet: "db3".into(),
            bands: "HL".into(),
            level: 2,
            rotation_invariant: true,
            pooling: Pooling::Mean,
            dims: Dims::D2,
            boundary: Boundary::Periodic,
        }),
    ];
    for f in filters {
        let f = f.check().unwrap();
        let whole = f.apply_array(&img, [1.0, 1.0, 3.0]).unwrap();
        for k in 0..img.len_of(Axis(2)) {
            let one = img.slice(s![.., .., k..k + 1]).to_owned();
            let alone = f.apply_array(&one, [1.0, 1.0, 3.0]).unwrap();
            let d = max_diff(&alone, &whole.slice(s![.., .., k..k + 1]).to_owned());
            assert!(d < 1e-9, "{f:?} slice {k}: {d}");
        }
    }
}

/// 90 degrees about k: (i, j, k) -> (j, n - 1 - i, k) on a cube.
fn rot90(a: &Array3<f64>) -> Array3<f64> {
    let mut r = a.view().permuted_axes([1, 0, 2]).to_owned();
    r.invert_axis(Axis(1));
    r
}

#[test]
fn rotation_invariant_laws_commute_with_a_right_angle_rotation() {
    let img = noise((15, 15, 15));
    let f = FilterParams::Laws(LawsParams {
        kernel: "E5L5S5".into(),
        rotation_invariant: true,
        pooling: Pooling::Max,
        energy_delta: Some(2),
        dims: Dims::D3,
        boundary: Boundary::Zero,
    })
    .check()
    .unwrap();
    let a = rot90(&f.apply_array(&img, [1.0; 3]).unwrap());
    let b = f.apply_array(&rot90(&img), [1.0; 3]).unwrap();
    assert!(max_diff(&a, &b) < 1e-9, "{}", max_diff(&a, &b));
    // Without rotation invariance the E5 (antisymmetric) axis changes place: it does not.
    let g = FilterParams::Laws(LawsParams {
        kernel: "E5L5S5".into(),
        rotation_invariant: false,
        pooling: Pooling::Max,
        energy_delta: None,
        dims: Dims::D3,
        boundary: Boundary::Zero,
    })
    .check()
    .unwrap();
    let a = rot90(&g.apply_array(&img, [1.0; 3]).unwrap());
    let b = g.apply_array(&rot90(&img), [1.0; 3]).unwrap();
    assert!(max_diff(&a, &b) > 1.0);
}
