//! `orientation`: a case stored in another orientation (axes permuted and flipped, the same
//! voxels in space) gives the features of the canonical one once both are turned to the same
//! axis codes; without the setting the directional wavelet sub-bands differ. The reference is
//! the extraction of the canonical volume itself.

use ndarray::Array3;
use tomofuse_core::{Geometry, Space, Volume};
use tomofuse_radiomics::{Settings, extract};

/// A textured blob: smooth ramps along each axis plus a deterministic hash texture, so the
/// sub-bands of different directions see different signals.
fn case() -> (Volume<f32>, Volume<u8>) {
    let shape = [20, 24, 18];
    let img = Array3::from_shape_fn(shape, |(i, j, k)| {
        let h = ((i * 73 + j * 151 + k * 37) % 97) as f32;
        -200.0 + 12.0 * i as f32 + 5.0 * j as f32 - 3.0 * k as f32 + 4.0 * h
    });
    let mask = Array3::from_shape_fn(shape, |(i, j, k)| {
        let d = |x: usize, c: f64, r: f64| ((x as f64 - c) / r).powi(2);
        u8::from(d(i, 9.5, 7.0) + d(j, 11.0, 9.0) + d(k, 8.5, 7.0) <= 1.0)
    });
    let g = Geometry {
        spacing: [1.5, 2.5, 3.0],
        origin: [-10.0, 20.0, 5.0],
        ..Default::default()
    };
    (Volume::new(img, g).unwrap(), Volume::new(mask, g).unwrap())
}

fn features(img: &Volume<f32>, mask: &Volume<u8>, s: &Settings) -> Vec<(String, f64)> {
    extract(img, mask, 1, s)
        .unwrap()
        .features
        .into_iter()
        .map(|f| (f.column(), f.value))
        .collect()
}

fn settings(orientation: Option<&str>) -> Settings {
    let mut s = Settings::preset("ibsi-c-filtered").unwrap();
    s.orientation = orientation.map(str::to_string);
    s
}

#[test]
fn a_reoriented_copy_gives_the_canonical_features() {
    let (img, mask) = case();
    // Stored right-anterior-inferior with the axes permuted, as a feet-first series might be.
    let (img2, mask2) = (
        img.reorient("ARI", Space::Lps).unwrap(),
        mask.reorient("ARI", Space::Lps).unwrap(),
    );
    assert_ne!(
        img2.shape(),
        img.shape(),
        "the copy must have permuted axes"
    );
    let want = features(&img, &mask, &settings(None));
    let got = features(&img2, &mask2, &settings(Some("LPS")));
    assert_eq!(want.len(), got.len());
    let mut worst = (0.0f64, String::new());
    for ((n1, a), (n2, b)) in want.iter().zip(&got) {
        assert_eq!(n1, n2);
        if a.is_nan() && b.is_nan() {
            continue;
        }
        let rel = (a - b).abs() / a.abs().max(1e-9);
        if rel > worst.0 {
            worst = (rel, n1.clone());
        }
    }
    assert!(worst.0 <= 1e-9, "largest relative difference {worst:?}");

    // Without the setting, the directional sub-bands follow the storage axes and differ.
    let stored = features(&img2, &mask2, &settings(None));
    let differing: Vec<&String> = want
        .iter()
        .zip(&stored)
        .filter(|((n, a), (_, b))| n.contains("wavelet") && (a - b).abs() > 1e-6 * a.abs())
        .map(|((n, _), _)| n)
        .collect();
    assert!(
        differing.len() > 10,
        "only {} wavelet features depend on the storage orientation",
        differing.len()
    );
}

#[test]
fn bad_orientation_codes_name_the_field() {
    let (img, mask) = case();
    for codes in ["LPX", "LLS", "LP"] {
        let e = extract(&img, &mask, 1, &settings(Some(codes)))
            .unwrap_err()
            .to_string();
        assert!(e.contains("orientation") && e.contains(codes), "{e}");
    }
}
