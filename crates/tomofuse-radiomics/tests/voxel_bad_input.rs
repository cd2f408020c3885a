//! Voxel maps on bad input: clear errors naming the field, never a panic; and the maps'
//! layout (input grid, NaN exactly outside the ROI).

use tomofuse_core::{Geometry, Volume};
use tomofuse_radiomics::voxel::{VoxelParams, feature_names, voxel_maps};

fn case(shape: [usize; 3]) -> (Volume<f32>, Volume<u8>) {
    let g = Geometry::with_spacing([0.7, 0.7, 2.5]).unwrap();
    let n = shape.iter().product::<usize>();
    let img: Vec<f32> = (0..n).map(|i| ((i * 37) % 211) as f32 - 100.0).collect();
    let mut msk = vec![0u8; n];
    // A 3x3x2 block in the middle.
    for i in 1..4 {
        for j in 1..4 {
            for k in 1..3 {
                msk[(i * shape[1] + j) * shape[2] + k] = 1;
            }
        }
    }
    (
        Volume::from_vec_c(shape, img, g).unwrap(),
        Volume::from_vec_c(shape, msk, g).unwrap(),
    )
}

fn err(image: &Volume<f32>, mask: &Volume<u8>, p: &VoxelParams, f: &[&str]) -> String {
    let f: Vec<String> = f.iter().map(|s| s.to_string()).collect();
    voxel_maps(image, mask, p, &f).unwrap_err().to_string()
}

#[test]
fn radius_zero_and_radius_larger_than_the_image_are_errors() {
    let (image, mask) = case([5, 5, 4]);
    let p0 = VoxelParams {
        kernel_radius: 0,
        ..VoxelParams::default()
    };
    let e = err(&image, &mask, &p0, &["all"]);
    assert!(e.contains("kernel_radius") && e.contains(">= 1"), "{e}");
    let big = VoxelParams {
        kernel_radius: 5,
        ..VoxelParams::default()
    };
    let e = err(&image, &mask, &big, &["all"]);
    assert!(
        e.contains("kernel_radius") && e.contains("[5, 5, 4]"),
        "{e}"
    );
}

#[test]
fn empty_roi_and_unknown_feature_are_errors() {
    let (image, mask) = case([5, 5, 4]);
    let p = VoxelParams {
        label: 7,
        ..VoxelParams::default()
    };
    let e = err(&image, &mask, &p, &["glcm"]);
    assert!(e.contains("label 7"), "{e}");
    let e = err(&image, &mask, &VoxelParams::default(), &["glcm_Contrst"]);
    assert!(e.contains("features") && e.contains("glcm_Contrst"), "{e}");
    let e = err(&image, &mask, &VoxelParams::default(), &[]);
    assert!(e.contains("features"), "{e}");
}

#[test]
fn grid_mismatch_is_an_error() {
    let (image, _) = case([5, 5, 4]);
    let (_, other) = case([5, 5, 5]);
    let e = err(&image, &other, &VoxelParams::default(), &["all"]);
    assert!(e.contains("grid"), "{e}");
}

#[test]
fn maps_are_on_the_input_grid_and_nan_exactly_outside_the_roi() {
    let (image, mask) = case([6, 5, 4]);
    let maps = voxel_maps(
        &image,
        &mask,
        &VoxelParams::default(),
        &["firstorder_Mean".to_string(), "ngtdm".to_string()],
    )
    .unwrap();
    assert_eq!(maps.len(), 6);
    assert_eq!(maps[0].0, "firstorder_Mean");
    assert!(feature_names().contains(&maps[1].0));
    let (_, mean) = &maps[0];
    assert_eq!(mean.shape(), image.shape());
    assert_eq!(mean.geometry, image.geometry);
    for ((ix, &m), &v) in mask.data.indexed_iter().zip(mean.data.iter()) {
        assert_eq!(m == 1, v.is_finite(), "voxel {ix:?}");
        if m == 1 {
            // Masked kernel: the mean of the ROI voxels of the 3x3x3 box, computed here.
            let (i, j, k) = ix;
            let (mut s, mut n) = (0.0f64, 0);
            for a in i.saturating_sub(1)..=(i + 1).min(5) {
                for b in j.saturating_sub(1)..=(j + 1).min(4) {
                    for c in k.saturating_sub(1)..=(k + 1).min(3) {
                        if mask.data[[a, b, c]] == 1 {
                            s += image.data[[a, b, c]] as f64;
                            n += 1;
                        }
                    }
                }
            }
            let want = s / n as f64;
            assert!(
                (v as f64 - want).abs() <= 1e-4 * want.abs().max(1.0),
                "{ix:?}: {v} vs {want}"
            );
        }
    }
}
