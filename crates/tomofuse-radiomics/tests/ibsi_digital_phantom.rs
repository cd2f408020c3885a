//! IBSI digital phantom: every feature with a reference value must match (target 100%).

mod common;

use tomofuse_radiomics::{Settings, extract};

#[test]
fn digital_phantom_matches_every_ibsi_reference_value() {
    let Some(dir) = tomofuse_core::require_shared("reference/ibsi") else {
        return;
    };
    let image = tomofuse_io::read_image(&dir.join("digital_phantom/image.nii.gz")).unwrap();
    let mask = tomofuse_io::read_mask(&dir.join("digital_phantom/mask.nii.gz")).unwrap();
    let settings = Settings::preset("ibsi-digital-phantom").unwrap();
    let ex = extract(&image, &mask, 1, &settings).unwrap();
    let refs = common::read_reference(
        &dir.join("reference_values/ibsi_1_reference_values_digital_phantom.csv"),
    );
    assert!(
        refs.len() > 400,
        "reference table too short: {}",
        refs.len()
    );
    let rows = common::compare(&ex, &refs, &[]);
    let (pass, total) = common::report("digital_phantom", &rows);
    assert_eq!(
        pass,
        total,
        "{} of {total} digital-phantom features fail",
        total - pass
    );
}
