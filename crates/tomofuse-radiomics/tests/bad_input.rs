//! Bad input never panics: clear errors for meaningless cases, NaN features with reasons for
//! features that cannot be computed.

use tomofuse_core::{Geometry, Mask, Volume};
use tomofuse_radiomics::{RadiomicsError, Settings, extract};

fn image() -> Volume<f32> {
    let g = Geometry::with_spacing([1.0, 1.0, 2.0]).unwrap();
    let data: Vec<f32> = (0..8 * 8 * 6).map(|i| ((i * 37) % 101) as f32).collect();
    Volume::from_vec_c([8, 8, 6], data, g).unwrap()
}

fn mask_with(voxels: &[[usize; 3]]) -> Mask {
    let mut m = Mask::filled(
        [8, 8, 6],
        0,
        Geometry::with_spacing([1.0, 1.0, 2.0]).unwrap(),
    )
    .unwrap();
    for v in voxels {
        m.data[*v] = 1;
    }
    m
}

fn settings() -> Settings {
    Settings::from_toml(
        "discretisation = { method = \"fixed_bin_number\", n_bins = 8 }",
        "test",
    )
    .unwrap()
}

#[test]
fn empty_mask_is_an_error() {
    let e = extract(&image(), &mask_with(&[]), 1, &settings()).unwrap_err();
    assert!(
        matches!(e, RadiomicsError::EmptyMask { label: 1, .. }),
        "{e}"
    );
}

#[test]
fn absent_label_is_an_error() {
    let e = extract(&image(), &mask_with(&[[2, 2, 2]]), 7, &settings()).unwrap_err();
    assert!(
        matches!(e, RadiomicsError::EmptyMask { label: 7, .. }),
        "{e}"
    );
}

#[test]
fn single_voxel_gives_nan_features_with_reasons() {
    let ex = extract(&image(), &mask_with(&[[3, 3, 3]]), 1, &settings()).unwrap();
    assert!(!ex.features.is_empty());
    for f in &ex.features {
        if !f.value.is_finite() {
            assert!(f.reason.is_some(), "{} NaN without a reason", f.ibsi_tag);
        }
    }
    // One voxel of 2 mm^3; no co-occurring pairs, so GLCM features are NaN.
    assert_eq!(ex.get("morph_vol_approx"), Some(2.0));
    assert!(ex.get("cm_joint_max_3D_comb").is_some_and(f64::is_nan));
    assert!(ex.get("morph_moran_i").is_some_and(f64::is_nan));
}

#[test]
fn geometry_mismatch_names_the_field() {
    let mut m = mask_with(&[[3, 3, 3]]);
    m.geometry.origin[1] += 0.5;
    let e = extract(&image(), &m, 1, &settings()).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("origin") && msg.contains("0.5"), "{msg}");
}

#[test]
fn mask_on_another_grid_is_an_error() {
    // A mask that does not cover the image grid (other shape, shifted far away).
    let g = Geometry::new(
        [1.0, 1.0, 2.0],
        [500.0, 0.0, 0.0],
        Geometry::default().direction,
        tomofuse_core::Space::Lps,
    )
    .unwrap();
    let m = Mask::filled([4, 4, 4], 1, g).unwrap();
    let e = extract(&image(), &m, 1, &settings()).unwrap_err();
    assert!(matches!(e, RadiomicsError::Grid(_)), "{e}");
}

#[test]
fn nan_intensity_inside_the_roi_is_an_error() {
    let mut img = image();
    img.data[[4, 4, 4]] = f32::NAN;
    let e = extract(&img, &mask_with(&[[4, 4, 4], [4, 5, 4]]), 1, &settings()).unwrap_err();
    assert!(
        matches!(
            e,
            RadiomicsError::NonFinite {
                count: 1,
                first: [4, 4, 4]
            }
        ),
        "{e}"
    );
}

#[test]
fn nan_outside_the_roi_is_fine() {
    let mut img = image();
    img.data[[0, 0, 0]] = f32::NAN;
    let vox: Vec<[usize; 3]> = (2..6)
        .flat_map(|i| (2..6).map(move |j| [i, j, 2]))
        .collect();
    let ex = extract(&img, &mask_with(&vox), 1, &settings()).unwrap();
    assert!(ex.get("stat_mean").is_some_and(f64::is_finite));
}

#[test]
fn resegmentation_that_removes_everything_is_an_error() {
    let s = Settings::from_toml(
        "discretisation = { method = \"fixed_bin_size\", bin_width = 5.0 }\n[resegmentation]\nrange = [1000.0, 2000.0]",
        "test",
    )
    .unwrap();
    let e = extract(&image(), &mask_with(&[[3, 3, 3]]), 1, &s).unwrap_err();
    assert!(
        matches!(e, RadiomicsError::EmptyAfterResegmentation { .. }),
        "{e}"
    );
}

#[test]
fn settings_reject_unknown_keys_and_bad_values() {
    let e = Settings::from_toml(
        "discretisation = { method = \"none\" }\nbogus = 1",
        "x.toml",
    )
    .unwrap_err();
    assert!(e.to_string().contains("bogus"), "{e}");
    let e = Settings::from_toml(
        "discretisation = { method = \"fixed_bin_size\", bin_width = -1.0 }",
        "x.toml",
    )
    .unwrap_err();
    assert!(e.to_string().contains("bin_width"), "{e}");
    let e = Settings::from_toml(
        "discretisation = { method = \"none\" }\n[resegmentation]\nrange = [5.0, 1.0]",
        "x.toml",
    )
    .unwrap_err();
    assert!(e.to_string().contains("resegmentation.range"), "{e}");
    assert!(Settings::preset("ibsi-z").is_err());
    for p in Settings::preset_names() {
        Settings::preset(p).unwrap();
    }
}

#[test]
fn discretisation_none_rejects_non_grey_levels() {
    let s = Settings::preset("ibsi-digital-phantom").unwrap();
    let mut img = image();
    img.data[[3, 3, 3]] = 2.5;
    let e = extract(&img, &mask_with(&[[3, 3, 3]]), 1, &s).unwrap_err();
    assert!(matches!(e, RadiomicsError::NotGreyLevels { .. }), "{e}");
}

#[test]
fn provenance_is_recorded_and_stable() {
    let vox: Vec<[usize; 3]> = (2..6)
        .flat_map(|i| (2..6).map(move |j| [i, j, 3]))
        .collect();
    let a = extract(&image(), &mask_with(&vox), 1, &settings()).unwrap();
    let b = extract(&image(), &mask_with(&vox), 1, &settings()).unwrap();
    assert_eq!(a.provenance.image_sha256.len(), 64);
    assert_eq!(a.provenance, b.provenance);
    assert!(a.provenance.settings_toml.contains("fixed_bin_number"));
    // Same input, same numbers (bit for bit, NaN aside).
    for (x, y) in a.features.iter().zip(&b.features) {
        assert!(
            x.value == y.value || (x.value.is_nan() && y.value.is_nan()),
            "{}",
            x.ibsi_tag
        );
    }
}

#[test]
fn absurd_bin_width_is_an_error_not_an_allocation() {
    let s = Settings::from_toml(
        "discretisation = { method = \"fixed_bin_size\", bin_width = 1e-9 }",
        "test",
    )
    .unwrap();
    let vox: Vec<[usize; 3]> = (2..6)
        .flat_map(|i| (2..6).map(move |j| [i, j, 3]))
        .collect();
    let e = extract(&image(), &mask_with(&vox), 1, &s).unwrap_err();
    assert!(e.to_string().contains("grey levels"), "{e}");
}
