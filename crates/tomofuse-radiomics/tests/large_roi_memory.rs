//! Memory of the zone families on a large ROI: GLSZM and GLDZM (2D, 2.5D and 3D) on a
//! synthetic 512x512x300 ROI whose one half is a single flat zone of ~39 M voxels (a dense
//! grey-level x zone-size matrix would need Ng x 39 M cells) and whose other half is noise
//! (millions of small zones). The test measures its own peak resident memory (VmHWM) and
//! asserts it stays under the measured figure plus 10%:
//!
//! ```text
//! cargo test -p tomofuse-radiomics --test large_roi_memory -- --ignored --nocapture
//! ```

use tomofuse_core::{Geometry, Mask, Volume};
use tomofuse_radiomics::{Settings, extract};

#[test]
#[ignore = "slow: 78.6 M voxel ROI, ~1-2 min and several GiB; run by hand with /usr/bin/time -v"]
fn glszm_gldzm_on_512x512x300_roi_stay_bounded() {
    let shape = [512, 512, 300];
    let g = Geometry::with_spacing([0.8, 0.8, 1.0]).unwrap();
    let mut img = Volume::filled(shape, 0.0f32, g).unwrap();
    let mut state = 12345u64;
    for ((i, _, _), v) in img.data.indexed_iter_mut() {
        if i < 256 {
            *v = 100.0;
        } else {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            *v = ((state >> 33) % 32) as f32 * 10.0;
        }
    }
    let msk = Mask::filled(shape, 1, g).unwrap();
    let s = Settings::from_toml(
        r#"
discretisation = { method = "fixed_bin_size", bin_width = 10.0 }
[families]
morphology = false
local_intensity = false
statistics = false
histogram = false
ivh = false
glcm = false
glrlm = false
ngtdm = false
ngldm = false
moran_geary = false
"#,
        "large",
    )
    .unwrap();
    let t = std::time::Instant::now();
    let ex = extract(&img, &msk, 1, &s).unwrap();
    println!(
        "{} features in {:.1} s",
        ex.features.len(),
        t.elapsed().as_secs_f64()
    );
    // The flat half is one 3D zone of 256*512*300 voxels: the largest-zone emphasis must see it.
    let lze = ex.get("szm_lze_3D").unwrap();
    assert!(lze.is_finite() && lze > 1e6, "szm_lze_3D = {lze}");
    for f in &ex.features {
        assert!(f.value.is_finite(), "{} is NaN: {:?}", f.ibsi_tag, f.reason);
    }
    // Peak resident memory of this test process (the kernel's high-water mark), against the
    // bound: the inputs themselves (image f32 + mask u8 + the discretised copy) are ~0.8 GB;
    // a dense grey-level x zone-size matrix would need Ng x 39 M cells (~10 GB at Ng = 32).
    let peak_mb = peak_rss_mb().expect("VmHWM in /proc/self/status");
    println!("peak RSS {peak_mb:.0} MB (bound {PEAK_BOUND_MB} MB)");
    assert!(
        peak_mb <= PEAK_BOUND_MB,
        "peak RSS {peak_mb:.0} MB above {PEAK_BOUND_MB} MB"
    );
}

/// Measured peak of this test: 4330 MB (VmHWM, 2026-12-06, 2 threads; the dense matrix would
/// need ~10 GB), plus 10% for allocator and thread-count variation.
const PEAK_BOUND_MB: f64 = PEAK_MEASURED_MB * 1.1;
const PEAK_MEASURED_MB: f64 = 4330.0;

/// The process's peak resident set size (Linux `VmHWM`), in MB.
fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}
