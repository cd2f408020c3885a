//! Image types: `original` alone reproduces `extract` without image types byte for byte;
//! filtered image types are cut from the whole filtered image with the ROI resegmented on
//! the original intensities; output rows and columns carry the image type; the
//! `ibsi-c-filtered` preset on the IBSI CT phantom (count and time printed).

use tomofuse_core::{Geometry, Mask, Volume};
use tomofuse_radiomics::{Extraction, Settings, extract, output};

/// A 24 x 22 x 14 image of integer "HU" with structure and a blob-shaped ROI (label 1)
/// plus another label, anisotropic voxels.
fn synthetic() -> (Volume<f32>, Mask) {
    let g = Geometry::with_spacing([0.8, 0.9, 2.5]).unwrap();
    let shape = [24, 22, 14];
    let mut img = Vec::new();
    let mut msk = Vec::new();
    for i in 0..shape[0] {
        for j in 0..shape[1] {
            for k in 0..shape[2] {
                let (x, y, z) = (i as f64, j as f64, k as f64);
                let v = 40.0 * (x * 0.7).sin() + 25.0 * (y * 0.45 + z).cos() + 3.0 * x - 2.0 * z
                    + ((i * 7 + j * 13 + k * 5) % 11) as f64;
                img.push(v.round() as f32);
                let r2 = ((x - 11.0) / 7.0).powi(2)
                    + ((y - 10.0) / 6.0).powi(2)
                    + ((z - 7.0) / 4.0).powi(2);
                msk.push(if r2 <= 1.0 {
                    1
                } else if r2 <= 1.4 {
                    2
                } else {
                    0
                });
            }
        }
    }
    (
        Volume::from_vec_c(shape, img, g).unwrap(),
        Volume::from_vec_c(shape, msk, g).unwrap(),
    )
}

/// Every field equal, values bit for bit (NaN included), and identical CSVs.
fn assert_identical(a: &Extraction, b: &Extraction) {
    assert_eq!(a.features.len(), b.features.len());
    for (x, y) in a.features.iter().zip(&b.features) {
        assert_eq!(
            (&x.family, &x.name, &x.ibsi_code, &x.ibsi_tag, &x.reason),
            (&y.family, &y.name, &y.ibsi_code, &y.ibsi_tag, &y.reason)
        );
        assert_eq!(x.value.to_bits(), y.value.to_bits(), "{}", x.ibsi_tag);
        assert_eq!(x.image_type, "original");
        assert_eq!(y.image_type, "original");
    }
    let (ca, cb) = (
        vec![("c".to_string(), a.clone())],
        vec![("c".to_string(), b.clone())],
    );
    assert_eq!(output::long_csv(&ca), output::long_csv(&cb));
    assert_eq!(output::wide_csv(&ca), output::wide_csv(&cb));
}

fn with_original_only(s: &Settings) -> Settings {
    let text = format!("{}\n[[image_types]]\nname = \"original\"\n", s.to_toml());
    Settings::from_toml(&text, "original only").unwrap()
}

#[test]
fn original_only_gives_byte_identical_features_on_a_synthetic_case() {
    let (image, mask) = synthetic();
    for preset in ["ibsi-a", "ibsi-b", "ibsi-c", "pyradiomics-default"] {
        let s = Settings::preset(preset).unwrap();
        assert!(s.image_types.is_empty());
        let plain = extract(&image, &mask, 1, &s).unwrap();
        let typed = extract(&image, &mask, 1, &with_original_only(&s)).unwrap();
        assert_identical(&plain, &typed);
        // No image types: the provenance TOML is as before (no `image_types` key).
        assert!(!plain.provenance.settings_toml.contains("image_types"));
    }
}

#[test]
fn original_only_gives_byte_identical_features_on_the_ibsi_ct_phantom() {
    let Some(dir) = tomofuse_core::require_shared("reference/ibsi") else {
        return;
    };
    let image = tomofuse_io::read_image(&dir.join("ct_phantom/nifti/image.nii.gz"))
        .unwrap()
        .map(|v| v.round());
    let mask = tomofuse_io::read_mask(&dir.join("ct_phantom/nifti/mask.nii.gz")).unwrap();
    let s = Settings::preset("ibsi-c").unwrap();
    let plain = extract(&image, &mask, 1, &s).unwrap();
    let typed = extract(&image, &mask, 1, &with_original_only(&s)).unwrap();
    assert_identical(&plain, &typed);
}

#[test]
fn filtered_types_use_the_whole_filtered_image_and_the_original_roi() {
    let (image, mask) = synthetic();
    let s = Settings::from_toml(
        "discretisation = { method = \"fixed_bin_size\", bin_width = 10.0 }\n\
         [resegmentation]\nrange = [-30.0, 1000.0]\n\
         [[image_types]]\nname = \"original\"\n\
         [[image_types]]\nfilter = \"log\"\nsigma_mm = [1.0, 2.0]\nboundary = \"nearest\"\n\
         [[image_types]]\nfilter = \"wavelet\"\nwavelet = \"coif1\"\nsubbands = [\"LLH\", \"HHH\"]\n\
         discretisation = { method = \"fixed_bin_number\", n_bins = 16 }\n",
        "test",
    )
    .unwrap();
    let ex = extract(&image, &mask, 1, &s).unwrap();
    let types = s.image_types().unwrap();
    let names: Vec<&str> = types.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "original",
            "log-sigma-1-0-mm-3D",
            "log-sigma-2-0-mm-3D",
            "wavelet-coif1-LLH",
            "wavelet-coif1-HHH"
        ]
    );
    // Reference: filter the whole image, take the voxels of the ROI that pass the
    // resegmentation range on the original intensities.
    for t in &types[1..] {
        let f = t.filter.as_ref().unwrap();
        let resp = f.apply(&image).unwrap();
        let vals: Vec<f64> = resp
            .data
            .iter()
            .zip(mask.data.iter().zip(image.data.iter()))
            .filter(|(_, (m, v))| **m == 1 && (-30.0..=1000.0).contains(*v))
            .map(|(r, _)| *r as f64)
            .collect();
        let want = tomofuse_radiomics::families::statistics::first_order(&vals);
        for (k, v) in want {
            let ours = ex.get_in(&t.name, &format!("stat_{k}")).unwrap();
            // The library keeps the response in f64; the reference went through f32.
            assert!(
                (ours - v).abs() <= 1e-5 * v.abs().max(1.0),
                "{} stat_{k}: {ours} vs {v}",
                t.name
            );
        }
        let fam = |family: &str| {
            ex.features
                .iter()
                .any(|x| x.image_type == t.name && x.family == family)
        };
        assert!(!fam("morphology") && !fam("ivh"), "{}", t.name);
        assert!(fam("glcm") && fam("histogram") && fam("local_intensity"));
    }
    // Morphology and IVH once, on the original.
    assert!(
        ex.features
            .iter()
            .filter(|x| x.family == "morphology" || x.family == "ivh")
            .all(|x| x.image_type == "original")
    );
    // The original equals an extraction without image types.
    let mut plain_s = s.clone();
    plain_s.image_types.clear();
    let plain = extract(&image, &mask, 1, &plain_s).unwrap();
    let orig: Vec<_> = ex
        .features
        .iter()
        .filter(|f| f.image_type == "original")
        .cloned()
        .collect();
    assert_identical(
        &plain,
        &Extraction {
            features: orig,
            provenance: plain.provenance.clone(),
        },
    );
    // The CSVs carry the image type.
    let cases = vec![("case 1".to_string(), ex.clone())];
    let long = output::long_csv(&cases);
    assert!(long.starts_with("case_id,image_type,family,feature,"));
    assert!(long.contains("\ncase 1,wavelet-coif1-HHH,statistics,"));
    let wide = output::wide_csv(&cases);
    let header: Vec<&str> = wide.lines().next().unwrap().split(',').collect();
    assert!(header.contains(&"stat_mean"));
    assert!(header.contains(&"log-sigma-2-0-mm-3D_stat_mean"));
    assert_eq!(
        header.len(),
        ex.features.len() + 1,
        "column names are unique"
    );
    // The provenance records the image types; it parses back to the same settings.
    let back = Settings::from_toml(&ex.provenance.settings_toml, "provenance").unwrap();
    assert_eq!(back, s);
}

#[test]
fn a_filter_that_does_not_fit_the_image_is_an_error_naming_the_image_type() {
    let (image, mask) = synthetic();
    let s = Settings::from_toml(
        "discretisation = { method = \"fixed_bin_size\", bin_width = 10.0 }\n\
         [[image_types]]\nfilter = \"mean\"\nsupport = 31\n",
        "test",
    )
    .unwrap();
    let e = extract(&image, &mask, 1, &s).unwrap_err().to_string();
    assert!(e.contains("image type `mean-31-3D`"), "{e}");
    // Too many grey levels for the response's range: the error names the type too.
    let s = Settings::from_toml(
        "discretisation = { method = \"fixed_bin_size\", bin_width = 10.0 }\n\
         [[image_types]]\nfilter = \"log\"\nsigma_mm = 1.0\n\
         discretisation = { method = \"fixed_bin_size\", bin_width = 1e-9 }\n",
        "test",
    )
    .unwrap();
    let e = extract(&image, &mask, 1, &s).unwrap_err().to_string();
    assert!(
        e.contains("`discretisation`") && e.contains("image type `log-sigma-1-0-mm-3D`"),
        "{e}"
    );
}

/// The shipped `ibsi-c-filtered` preset on the IBSI CT phantom: feature count per image
/// type and wall time (printed; the count is asserted).
#[test]
fn ibsi_c_filtered_preset_on_the_ct_phantom() {
    let Some(dir) = tomofuse_core::require_shared("reference/ibsi") else {
        return;
    };
    let image = tomofuse_io::read_image(&dir.join("ct_phantom/nifti/image.nii.gz"))
        .unwrap()
        .map(|v| v.round());
    let mask = tomofuse_io::read_mask(&dir.join("ct_phantom/nifti/mask.nii.gz")).unwrap();
    let s = Settings::preset("ibsi-c-filtered").unwrap();
    let t = std::time::Instant::now();
    let ex = extract(&image, &mask, 1, &s).unwrap();
    let secs = t.elapsed().as_secs_f64();
    let types = s.image_types().unwrap();
    assert_eq!(types.len(), 12, "original + 3 LoG + 8 wavelet sub-bands");
    for t in &types {
        let n = ex
            .features
            .iter()
            .filter(|f| f.image_type == t.name)
            .count();
        let nan = ex
            .features
            .iter()
            .filter(|f| f.image_type == t.name && f.value.is_nan())
            .count();
        println!("{:<24} {n:>4} features ({nan} NaN)", t.name);
    }
    println!(
        "ibsi-c-filtered: {} features in {secs:.1} s on {} rayon threads",
        ex.features.len(),
        rayon::current_num_threads()
    );
    // The original is exactly the ibsi-c extraction.
    let c = extract(&image, &mask, 1, &Settings::preset("ibsi-c").unwrap()).unwrap();
    let orig = ex
        .features
        .iter()
        .filter(|f| f.image_type == "original")
        .count();
    assert_eq!(orig, c.features.len());
    // 215 on the original (every IBSI family, 3D texture), 179 on each response map (no
    // morphology, no IVH).
    assert_eq!(orig, 215);
    assert_eq!(ex.features.len(), 215 + 11 * 179);
}
