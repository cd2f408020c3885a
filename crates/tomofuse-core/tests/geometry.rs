//! Geometry and reorientation checked against analytic results.

use ndarray::Array3;
use proptest::prelude::*;
use tomofuse_core::{CoreError, Geometry, GeometryTolerance, Space, Volume};

fn rot_z(theta: f64) -> [[f64; 3]; 3] {
    let (s, c) = theta.sin_cos();
    [[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]
}

#[test]
fn ras_affine_flips_x_and_y_only() {
    // A NIfTI with affine diag(-3.2, -3.2, -1.5) (vtk_headsq per SOURCE.md) is L,P,I.
    let aff = [
        [-3.2, 0.0, 0.0, 10.0],
        [0.0, -3.2, 0.0, 20.0],
        [0.0, 0.0, -1.5, 30.0],
        [0.0, 0.0, 0.0, 1.0],
    ];
    let g = Geometry::from_affine(&aff, Space::Ras).unwrap();
    assert_eq!(g.axis_codes(Space::Ras), ['L', 'P', 'I']);
    // Same directions named in LPS.
    assert_eq!(g.axis_codes(Space::Lps), ['L', 'P', 'I']);
    assert_eq!(g.spacing, [3.2, 3.2, 1.5]);
    // Stored in LPS: x and y of the origin negated, z kept.
    assert_eq!(g.origin, [-10.0, -20.0, 30.0]);
    assert_eq!(g.affine(Space::Ras), aff);
    // World position of voxel (1,2,3) in RAS = affine * idx.
    let w = g.index_to_world([1.0, 2.0, 3.0]);
    let ras = [-w[0], -w[1], w[2]];
    assert_eq!(ras, [10.0 - 3.2, 20.0 - 6.4, 30.0 - 4.5]);
}

#[test]
fn invalid_fields_are_rejected_with_the_field_named() {
    let e = Geometry::new(
        [1.0, 0.0, 1.0],
        [0.0; 3],
        [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
        Space::Lps,
    )
    .unwrap_err();
    assert!(matches!(e, CoreError::InvalidSpacing { .. }), "{e}");
    let e = Geometry::new([1.0, -2.0, 1.0], [0.0; 3], rot_z(0.0), Space::Lps).unwrap_err();
    assert!(e.to_string().contains("spacing"));
    let e = Geometry::new([1.0; 3], [f64::NAN, 0.0, 0.0], rot_z(0.0), Space::Lps).unwrap_err();
    assert!(matches!(e, CoreError::InvalidOrigin { .. }));
    let sheared = [[1.0, 0.5, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
    let e = Geometry::new([1.0; 3], [0.0; 3], sheared, Space::Lps).unwrap_err();
    assert!(e.to_string().contains("orthonormal"), "{e}");
    let singular = [[1.0, 1.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 1.0]];
    assert!(Geometry::new([1.0; 3], [0.0; 3], singular, Space::Lps).is_err());
}

#[test]
fn compare_names_field_and_difference() {
    let a = Geometry::new([1.0, 1.0, 2.5], [0.0, 0.0, 0.0], rot_z(0.0), Space::Lps).unwrap();
    let mut b = a;
    b.origin[2] += 0.25;
    let e = a.compare(&b, &GeometryTolerance::default()).unwrap_err();
    match e {
        CoreError::GeometryMismatch {
            field, max_diff, ..
        } => {
            assert_eq!(field, "origin");
            assert!((max_diff - 0.25).abs() < 1e-12);
        }
        other => panic!("unexpected {other}"),
    }
    let mut c = a;
    c.spacing[0] = 1.01;
    let e = a.compare(&c, &GeometryTolerance::default()).unwrap_err();
    assert!(e.to_string().contains("`spacing`"), "{e}");
    assert!(a.compare(&a, &GeometryTolerance::default()).is_ok());
}

#[test]
fn reorient_to_ras_matches_hand_permutation() {
    // Axes: i -> A (posterior negative), j -> L, k -> I. Build data v[i,j,k] = 100i + 10j + k.
    let dir_lps = [[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, -1.0]];
    let g = Geometry::new([2.0, 3.0, 4.0], [5.0, 6.0, 7.0], dir_lps, Space::Lps).unwrap();
    let data = Array3::from_shape_fn((2, 3, 4), |(i, j, k)| (100 * i + 10 * j + k) as f32);
    let v = Volume::new(data, g).unwrap();
    assert_eq!(g.axis_codes(Space::Ras), ['A', 'L', 'I']);
    let r = v.reorient("RAS", Space::Ras).unwrap();
    assert_eq!(r.geometry.axis_codes(Space::Ras), ['R', 'A', 'S']);
    assert_eq!(r.shape(), [3, 2, 4]);
    assert_eq!(r.geometry.spacing, [3.0, 2.0, 4.0]);
    // Every voxel keeps its world position.
    for ((a, b, c), &val) in r.data.indexed_iter() {
        let w_new = r.geometry.index_to_world([a as f64, b as f64, c as f64]);
        let (i, j, k) = (
            (val as usize) / 100,
            (val as usize / 10) % 10,
            (val as usize) % 10,
        );
        let w_old = v.geometry.index_to_world([i as f64, j as f64, k as f64]);
        for d in 0..3 {
            assert!((w_new[d] - w_old[d]).abs() < 1e-9, "{w_new:?} vs {w_old:?}");
        }
    }
    // And back to the original orientation gives the original volume.
    let back = r.reorient("ALI", Space::Ras).unwrap();
    assert_eq!(back.data, v.data);
    back.check_same_grid(&v, &GeometryTolerance::default())
        .unwrap();
}

#[test]
fn bad_orientation_codes() {
    let v = Volume::filled([2, 2, 2], 0u8, Geometry::default()).unwrap();
    assert!(v.reorient("RRS", Space::Ras).is_err());
    assert!(v.reorient("XYZ", Space::Ras).is_err());
    assert!(v.reorient("RA", Space::Ras).is_err());
}

#[test]
fn file_order_constructor_transposes() {
    // File order: i fastest. Element at (i,j,k) is at i + ni*(j + nj*k).
    let shape = [3, 2, 2];
    let flat: Vec<i16> = (0..12).collect();
    let v = Volume::from_vec_f(shape, flat.clone(), Geometry::default()).unwrap();
    assert_eq!(v.data[[2, 1, 0]], 2 + 3);
    assert_eq!(v.data[[1, 0, 1]], 1 + 6);
    assert_eq!(v.to_vec_f(), flat);
    assert!(Volume::from_vec_f([3, 2, 3], flat, Geometry::default()).is_err());
}

#[test]
fn empty_and_huge_volumes_are_errors() {
    assert!(matches!(
        Volume::filled([0, 2, 2], 0f32, Geometry::default()),
        Err(CoreError::Empty { .. })
    ));
    assert!(matches!(
        Volume::filled([1 << 20, 1 << 20, 1 << 20], 0f32, Geometry::default()),
        Err(CoreError::AllocationLimit { .. })
    ));
}

proptest! {
    #[test]
    fn index_world_round_trip(theta in -3.1f64..3.1, sx in 0.1f64..5.0, sz in 0.1f64..5.0,
                              ox in -500f64..500.0, i in -10f64..300.0, k in -10f64..300.0) {
        let g = Geometry::new([sx, sx * 1.3, sz], [ox, -ox, 0.5 * ox], rot_z(theta), Space::Ras).unwrap();
        let w = g.index_to_world([i, 7.0, k]);
        let back = g.world_to_index(w);
        prop_assert!((back[0] - i).abs() < 1e-8 && (back[1] - 7.0).abs() < 1e-8 && (back[2] - k).abs() < 1e-8);
        // Affine round trip through both spaces.
        let tight = GeometryTolerance { spacing: 1e-9, origin: 1e-9, direction: 1e-9 };
        for space in [Space::Ras, Space::Lps] {
            let g2 = Geometry::from_affine(&g.affine(space), space).unwrap();
            let same = g.compare(&g2, &tight).is_ok();
            prop_assert!(same);
        }
    }
}
