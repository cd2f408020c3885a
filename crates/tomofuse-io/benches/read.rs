//! Read speed of the shared CT data: gzip NRRD (512x512x48), the IBSI DICOM series (60 slices,
//! uncompressed) and the JPEG 2000 series (20 x 512x512). Skips when ../shared is absent.

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use tomofuse_core::shared_path;

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("read");
    g.sample_size(10);
    for (name, rel) in [
        (
            "nrrd_gzip_lung1_512x512x48",
            "data/ct/pyradiomics_lung/lung1_image.nrrd",
        ),
        (
            "nifti_gz_cranium_256x256x108",
            "data/ct/invesalius_head/cranium_ct.nii.gz",
        ),
        (
            "dicom_ibsi_60_slices",
            "reference/ibsi/ct_phantom/dicom/image",
        ),
        (
            "dicom_jpeg2000_20x512x512",
            "data/ct/totalseg_abdomen/example_ct_dicom",
        ),
    ] {
        let Some(p) = shared_path(rel) else { continue };
        g.bench_function(name, |b| {
            b.iter(|| black_box(tomofuse_io::read_image(&p).unwrap()))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
