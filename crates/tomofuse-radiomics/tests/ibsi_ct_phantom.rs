//! IBSI CT phantom, configurations A-E: >= 98% of the features with a reference value must
//! be within the IBSI tolerance (image-processing diagnostics rows are not features and are
//! not counted). Each test prints its count and lists the failures.

mod common;

use tomofuse_radiomics::{Settings, extract};

const TARGET: f64 = 0.98;

fn run_config(letter: char) {
    let Some(dir) = tomofuse_core::require_shared("reference/ibsi") else {
        return;
    };
    let image = tomofuse_io::read_image(&dir.join("ct_phantom/nifti/image.nii.gz")).unwrap();
    // IBSI: convert to float and round to the nearest integer before processing.
    let image = image.map(|v| v.round());
    let mask = tomofuse_io::read_mask(&dir.join("ct_phantom/nifti/mask.nii.gz")).unwrap();
    let lower = letter.to_ascii_lowercase();
    let settings = Settings::preset(&format!("ibsi-{lower}")).unwrap();
    let ex = extract(&image, &mask, 1, &settings).unwrap();
    let refs = common::read_reference(&dir.join(format!(
        "reference_values/ibsi_1_reference_values_config_{letter}.csv"
    )));
    assert!(
        refs.len() > 200,
        "reference table too short: {}",
        refs.len()
    );
    let rows = common::compare(&ex, &refs, &["Diagnostics"]);
    let (pass, total) = common::report(&format!("config_{letter}"), &rows);
    let frac = pass as f64 / total as f64;
    println!(
        "IBSI CT phantom config {letter}: {pass}/{total} = {:.1}%",
        100.0 * frac
    );
    assert!(
        frac >= TARGET,
        "config {letter}: {pass}/{total} = {:.1}% < {:.0}%",
        100.0 * frac,
        100.0 * TARGET
    );
}

#[test]
fn ct_phantom_config_a() {
    run_config('A');
}

#[test]
fn ct_phantom_config_b() {
    run_config('B');
}

#[test]
fn ct_phantom_config_c() {
    run_config('C');
}

#[test]
fn ct_phantom_config_d() {
    run_config('D');
}

#[test]
fn ct_phantom_config_e() {
    run_config('E');
}
