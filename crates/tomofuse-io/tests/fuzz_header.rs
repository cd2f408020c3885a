//! Property tests fuzzing the NIfTI header parser and reader: random bytes and mutated valid
//! files must give `Ok` or an `IoError`, never a panic. Cases: `PROPTEST_CASES` (default 512
//! here, so CI stays fast; run with e.g. `PROPTEST_CASES=200000` for a long session).

mod common;

use common::hand_nifti;
use proptest::prelude::*;
use std::path::Path;
use tomofuse_io::nii::parse_header;

fn valid() -> Vec<u8> {
    let data: Vec<u8> = (0..24i16).flat_map(|v| v.to_le_bytes()).collect();
    hand_nifti(4, 16, [4, 3, 2], [1.0, 1.0, 1.0, 2.0], &data, |h| {
        h[252..254].copy_from_slice(&1i16.to_le_bytes()); // qform_code
        h[254..256].copy_from_slice(&1i16.to_le_bytes()); // sform_code
        for (r, off) in [280usize, 296, 312].iter().enumerate() {
            let v = [
                if r == 0 { 1.0f32 } else { 0.0 },
                if r == 1 { 1.0 } else { 0.0 },
                if r == 2 { 2.0 } else { 0.0 },
                0.0,
            ];
            for (k, x) in v.iter().enumerate() {
                h[off + 4 * k..off + 4 * k + 4].copy_from_slice(&x.to_le_bytes());
            }
        }
    })
}

/// Offsets of the fields a reader interprets (dim, datatype, bitpix, pixdim, vox_offset, scl,
/// qform/sform codes, quaternion, offsets, srow, magic).
const FIELDS: &[usize] = &[
    0, 40, 42, 44, 46, 48, 70, 72, 76, 80, 84, 88, 108, 112, 116, 252, 254, 256, 260, 264, 268,
    272, 276, 280, 284, 296, 312, 344,
];

fn special_f32() -> impl Strategy<Value = f32> {
    prop_oneof![
        Just(f32::NAN),
        Just(f32::INFINITY),
        Just(f32::NEG_INFINITY),
        Just(0.0f32),
        Just(-1.0f32),
        Just(1.0e30f32),
        Just(-0.0f32),
        any::<f32>(),
    ]
}

fn special_i16() -> impl Strategy<Value = i16> {
    prop_oneof![
        Just(0i16),
        Just(-1),
        Just(1),
        Just(7),
        Just(8),
        Just(i16::MAX),
        Just(i16::MIN),
        any::<i16>()
    ]
}

#[derive(Debug, Clone)]
enum Mutation {
    Byte(usize, u8),
    F32(usize, f32),
    I16(usize, i16),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (0usize..400, any::<u8>()).prop_map(|(o, b)| Mutation::Byte(o, b)),
        (prop::sample::select(FIELDS), special_f32()).prop_map(|(o, v)| Mutation::F32(o, v)),
        (prop::sample::select(FIELDS), special_i16()).prop_map(|(o, v)| Mutation::I16(o, v)),
    ]
}

fn apply(bytes: &mut [u8], m: &Mutation) {
    match *m {
        Mutation::Byte(o, b) => {
            if let Some(x) = bytes.get_mut(o) {
                *x = b;
            }
        }
        Mutation::F32(o, v) => {
            if o + 4 <= bytes.len() {
                bytes[o..o + 4].copy_from_slice(&v.to_le_bytes());
            }
        }
        Mutation::I16(o, v) => {
            if o + 2 <= bytes.len() {
                bytes[o..o + 2].copy_from_slice(&v.to_le_bytes());
            }
        }
    }
}

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(512);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..800)) {
        let _ = parse_header(Path::new("fuzz.nii"), &bytes);
    }

    #[test]
    fn mutated_headers_never_panic(muts in prop::collection::vec(mutation(), 1..8)) {
        let mut b = valid();
        for m in &muts {
            apply(&mut b, m);
        }
        let _ = parse_header(Path::new("fuzz.nii"), &b);
    }

    #[test]
    fn mutated_files_read_or_fail_cleanly(muts in prop::collection::vec(mutation(), 1..6), cut in 0usize..500, gz in any::<bool>()) {
        let mut b = valid();
        for m in &muts {
            apply(&mut b, m);
        }
        b.truncate(cut.max(1).min(b.len()));
        let dir = tempfile::tempdir().unwrap();
        let p = if gz {
            use std::io::Write;
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(&b).unwrap();
            let p = dir.path().join("f.nii.gz");
            std::fs::write(&p, e.finish().unwrap()).unwrap();
            p
        } else {
            let p = dir.path().join("f.nii");
            std::fs::write(&p, &b).unwrap();
            p
        };
        if let Err(e) = tomofuse_io::read_image(&p) {
            // Every error names the file.
            prop_assert!(e.to_string().contains("f.nii"), "{}", e);
        }
    }
}
