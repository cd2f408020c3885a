//! The work of `tomofuse radiomics --image I --mask M --preset P --out F` (read image and mask,
//! sha256 of both files, extract, write the wide CSV) in plain Rust, timed, so the Python
//! extractor's overhead can be measured without building the full CLI (which pulls candle,
//! polars and xgboost). Usage: `radiomics_timing IMAGE MASK PRESET OUT.csv [REPEATS]`.

use std::path::Path;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a: Vec<String> = std::env::args().collect();
    if a.len() < 5 {
        return Err("usage: radiomics_timing IMAGE MASK PRESET OUT.csv [REPEATS]".into());
    }
    let repeats: usize = a.get(5).map(|s| s.parse()).transpose()?.unwrap_or(3);
    let settings = tomofuse_radiomics::Settings::preset(&a[3])?;
    let (image, mask) = (Path::new(&a[1]), Path::new(&a[2]));
    for r in 0..repeats {
        let t = Instant::now();
        let img = tomofuse_io::read_image(image)?;
        let msk = tomofuse_io::read_mask(mask)?;
        let hashes = (
            tomofuse_radiomics::sha256_file(image)?,
            tomofuse_radiomics::sha256_file(mask)?,
        );
        let ex = tomofuse_radiomics::extract_with_hashes(&img, &msk, 1, &settings, Some(hashes))?;
        let csv = tomofuse_radiomics::output::wide_csv(&[("case".to_string(), ex)]);
        std::fs::write(&a[4], csv)?;
        println!("run {r}: {:.3} s", t.elapsed().as_secs_f64());
    }
    Ok(())
}
