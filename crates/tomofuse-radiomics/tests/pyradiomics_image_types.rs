//! PyRadiomics parameter files and image types against PyRadiomics 3.0.1 itself: the
//! parameter file `tests/data/pyradiomics_params_filters.yaml` (Original, Wavelet, Square,
//! SquareRoot, Logarithm, Exponential, Gradient; every default class) read by
//! `settings::pyradiomics_params` and extracted on the shared PyRadiomics cases, compared with
//! the values PyRadiomics computed from the same file (`tests/data/pyradiomics_params_filters.csv.gz`,
//! written by `benches/python/radiomics_pyrad_params.py`). Every key PyRadiomics reports must
//! be present; >= 98% of the values must be within 1e-4 relative. The per-image-type figures
//! are printed (docs/radiomics-pyradiomics.md states them).

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::Path;
use tomofuse_radiomics::settings::pyradiomics_params;

fn reference() -> HashMap<String, Vec<(String, f64)>> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/pyradiomics_params_filters.csv.gz");
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(&path).unwrap())
        .read_to_string(&mut text)
        .unwrap();
    let mut out: HashMap<String, Vec<(String, f64)>> = HashMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#')).skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        out.entry(f[0].to_string())
            .or_default()
            .push((f[1].to_string(), f[2].parse().unwrap()));
    }
    out
}

#[test]
fn parameter_file_image_types_match_pyradiomics() {
    let Some(lung) = tomofuse_core::require_shared("data/ct/pyradiomics_lung") else {
        return;
    };
    let Some(images) = tomofuse_core::require_shared("reference/pyradiomics/images") else {
        return;
    };
    let params = pyradiomics_params::from_file(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/pyradiomics_params_filters.yaml"),
    )
    .unwrap();
    let reference = reference();
    // image type -> (within 1e-4, total)
    let mut per_type: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let (mut ok, mut total) = (0usize, 0usize);
    for (case, dir) in [
        ("lung1", &lung),
        ("lung2", &lung),
        ("brain1", &images),
        ("brain2", &images),
        ("breast1", &images),
    ] {
        let img = tomofuse_io::read_image(&dir.join(format!("{case}_image.nrrd"))).unwrap();
        let msk = tomofuse_io::read_mask(&dir.join(format!("{case}_label.nrrd"))).unwrap();
        let ex = tomofuse_radiomics::extract(&img, &msk, params.label, &params.settings).unwrap();
        let ours: HashMap<String, f64> =
            ex.features.iter().map(|f| (f.column(), f.value)).collect();
        let want = &reference[case];
        assert!(!want.is_empty(), "{case}: no reference values");
        for (key, w) in want {
            let got = ours.get(key).copied().unwrap_or(f64::NAN);
            let rel = (got - w).abs() / w.abs().max(1e-300);
            let pass = rel <= 1e-4 || (*w == 0.0 && got.abs() < 1e-12);
            let image_type = key.split('_').next().unwrap().to_string();
            let e = per_type.entry(image_type).or_default();
            e.1 += 1;
            total += 1;
            if pass {
                e.0 += 1;
                ok += 1;
            } else {
                println!("FAIL {case} {key}: ours {got} vs PyRadiomics {w} (rel {rel:.2e})");
            }
        }
        assert_eq!(
            ours.len(),
            want.len(),
            "{case}: tomofuse and PyRadiomics report different key counts"
        );
    }
    for (t, (a, b)) in &per_type {
        println!("  {t}: {a}/{b} ({:.1}%)", 100.0 * *a as f64 / *b as f64);
    }
    let pct = 100.0 * ok as f64 / total as f64;
    println!(
        "PyRadiomics parameter file, 5 cases: {ok}/{total} values within 1e-4 relative ({pct:.1}%)"
    );
    assert!(pct >= 98.0, "{ok}/{total} = {pct:.1}% < 98%");
}
