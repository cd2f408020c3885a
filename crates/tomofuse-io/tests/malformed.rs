//! A corpus of malformed inputs made here: each must give an error that names the file (or
//! folder) and the field/tag at fault, never a panic.

mod common;

use common::hand_nifti;
use std::io::Write;
use std::path::{Path, PathBuf};
use tomofuse_core::{GeometryTolerance, require_shared};
use tomofuse_io::{IoError, read_image, read_mask, read_rtstruct_mask};

struct Corpus {
    dir: tempfile::TempDir,
    checked: usize,
}

impl Corpus {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
            checked: 0,
        }
    }

    fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    /// Asserts `r` is an error whose message contains every string in `must`.
    fn expect<T: std::fmt::Debug>(&mut self, case: &str, r: Result<T, IoError>, must: &[&str]) {
        let e = match r {
            Ok(v) => panic!("{case}: expected an error, got {v:?}"),
            Err(e) => e.to_string(),
        };
        for m in must {
            assert!(e.contains(m), "{case}: error `{e}` does not mention `{m}`");
        }
        println!("[{case}] {e}");
        self.checked += 1;
    }
}

fn i16_data(n: usize) -> Vec<u8> {
    (0..n as i16).flat_map(|v| v.to_le_bytes()).collect()
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn nifti_with(edit: impl Fn(&mut Vec<u8>)) -> Vec<u8> {
    hand_nifti(4, 16, [4, 3, 2], [1.0, 1.0, 1.0, 2.0], &i16_data(24), edit)
}

fn put_i16(h: &mut [u8], off: usize, v: i16) {
    h[off..off + 2].copy_from_slice(&v.to_le_bytes());
}

fn put_f32(h: &mut [u8], off: usize, v: f32) {
    h[off..off + 4].copy_from_slice(&v.to_le_bytes());
}

#[test]
fn malformed_nifti_files_give_clear_errors() {
    let mut c = Corpus::new();
    let good = nifti_with(|_| {});
    // Sanity: the unmodified file reads.
    read_image(&c.file("good.nii", &good)).unwrap();

    let p = c.file("short_header.nii", &good[..100]);
    c.expect(
        "truncated header",
        read_image(&p),
        &["short_header.nii", "truncated", "header"],
    );
    let p = c.file("short_data.nii", &good[..352 + 20]);
    c.expect(
        "truncated data",
        read_image(&p),
        &["short_data.nii", "truncated", "voxel data"],
    );
    let p = c.file("short_data.nii.gz", &gz(&good[..352 + 20]));
    c.expect(
        "truncated gzip data",
        read_image(&p),
        &["short_data.nii.gz", "truncated"],
    );
    let p = c.file(
        "magic.nii",
        &nifti_with(|h| h[344..348].copy_from_slice(b"XYZ\0")),
    );
    c.expect("wrong magic", read_image(&p), &["magic.nii", "magic"]);
    let p = c.file("text.nii", &[b'a'; 400]);
    c.expect("not a NIfTI", read_image(&p), &["text.nii", "sizeof_hdr"]);
    let p = c.file(
        "nifti2.nii",
        &nifti_with(|h| h[0..4].copy_from_slice(&540i32.to_le_bytes())),
    );
    c.expect("NIfTI-2", read_image(&p), &["nifti2.nii", "NIfTI-2"]);
    let p = c.file(
        "absurd.nii",
        &nifti_with(|h| {
            for n in 1..=3 {
                put_i16(h, 40 + 2 * n, 32000);
            }
        }),
    );
    c.expect(
        "absurd dims",
        read_image(&p),
        &["absurd.nii", "dim", "limit"],
    );
    let p = c.file("negdim.nii", &nifti_with(|h| put_i16(h, 44, -3)));
    c.expect("negative dim", read_image(&p), &["negdim.nii", "dim[2]"]);
    let p = c.file("dim0.nii", &nifti_with(|h| put_i16(h, 40, 0)));
    c.expect("dim[0] = 0", read_image(&p), &["dim0.nii", "dim[0]"]);
    let p = c.file(
        "4d.nii",
        &nifti_with(|h| {
            put_i16(h, 40, 4);
            put_i16(h, 48, 5);
        }),
    );
    c.expect("4D", read_image(&p), &["4d.nii", "dim[4]"]);
    let p = c.file("zero_spacing.nii", &nifti_with(|h| put_f32(h, 80, 0.0)));
    c.expect(
        "zero spacing",
        read_image(&p),
        &["zero_spacing.nii", "pixdim[1]"],
    );
    let p = c.file("neg_spacing.nii", &nifti_with(|h| put_f32(h, 84, -1.0)));
    c.expect(
        "negative spacing",
        read_image(&p),
        &["neg_spacing.nii", "pixdim[2]"],
    );
    let p = c.file("nan_spacing.nii", &nifti_with(|h| put_f32(h, 88, f32::NAN)));
    c.expect(
        "NaN spacing",
        read_image(&p),
        &["nan_spacing.nii", "pixdim[3]"],
    );
    let p = c.file("dtype.nii", &nifti_with(|h| put_i16(h, 70, 1234)));
    c.expect(
        "unknown datatype",
        read_image(&p),
        &["dtype.nii", "datatype", "1234"],
    );
    let p = c.file("complex.nii", &nifti_with(|h| put_i16(h, 70, 32)));
    c.expect(
        "complex datatype",
        read_image(&p),
        &["complex.nii", "datatype"],
    );
    let mut garbage = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];
    garbage.extend((0..500u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    let p = c.file("garbage.nii.gz", &garbage);
    c.expect("gzip garbage", read_image(&p), &["garbage.nii.gz", "gzip"]);
    let p = c.file("vox_offset.nii", &nifti_with(|h| put_f32(h, 108, 1.0e6)));
    c.expect(
        "vox_offset beyond file",
        read_image(&p),
        &["vox_offset.nii", "truncated"],
    );
    let p = c.file("vox_nan.nii", &nifti_with(|h| put_f32(h, 108, f32::NAN)));
    c.expect(
        "vox_offset NaN",
        read_image(&p),
        &["vox_nan.nii", "vox_offset"],
    );
    let p = c.file("sform.nii", &nifti_with(|h| put_i16(h, 254, 1)));
    c.expect("singular sform", read_image(&p), &["sform.nii", "sform"]);
    let p = c.file(
        "sheared.nii",
        &nifti_with(|h| {
            put_i16(h, 254, 1);
            for (r, row) in [
                [1.0f32, 0.5, 0.0, 0.0],
                [0.0, 1.0, 0.0, 0.0],
                [0.0, 0.0, 1.0, 0.0],
            ]
            .iter()
            .enumerate()
            {
                for (k, v) in row.iter().enumerate() {
                    put_f32(h, 280 + 16 * r + 4 * k, *v);
                }
            }
        }),
    );
    c.expect(
        "sheared sform",
        read_image(&p),
        &["sheared.nii", "sform", "orthonormal"],
    );
    let p = c.file(
        "quat.nii",
        &nifti_with(|h| {
            put_i16(h, 252, 1);
            for off in [256, 260, 264] {
                put_f32(h, off, 0.9);
            }
        }),
    );
    c.expect(
        "invalid quaternion",
        read_image(&p),
        &["quat.nii", "quatern"],
    );
    let p = c.file(
        "inter.nii",
        &nifti_with(|h| {
            put_f32(h, 112, 2.0);
            put_f32(h, 116, f32::INFINITY);
        }),
    );
    c.expect("bad scl_inter", read_image(&p), &["inter.nii", "scl_inter"]);
    let p = c.dir.path().join("missing.nii");
    c.expect("missing file", read_image(&p), &["missing.nii"]);
    // Masks: non-integer and out-of-range labels.
    let f32s: Vec<u8> = [0.0f32, 1.0, 0.5, 1.0, 0.0, 0.0, 0.0, 0.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let p = c.file(
        "float_mask.nii",
        &hand_nifti(16, 32, [2, 2, 2], [1.0; 4], &f32s, |_| {}),
    );
    c.expect(
        "non-integer mask",
        read_mask(&p),
        &["float_mask.nii", "0.5", "0..=255"],
    );
    let big: Vec<u8> = [0i16, 300, 0, 0, 0, 0, 0, 0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let p = c.file(
        "big_mask.nii",
        &hand_nifti(4, 16, [2, 2, 2], [1.0; 4], &big, |_| {}),
    );
    c.expect("mask label > 255", read_mask(&p), &["big_mask.nii", "300"]);
    println!("{} malformed NIfTI cases", c.checked);
    assert!(c.checked >= 25);
}

fn nrrd(fields: &str, data: &[u8]) -> Vec<u8> {
    let mut v = format!("NRRD0004\n{fields}\n\n").into_bytes();
    v.extend_from_slice(data);
    v
}

const OK_FIELDS: &str = "type: short\ndimension: 3\nsizes: 4 3 2\nspace: left-posterior-superior\nspace directions: (1,0,0) (0,1,0) (0,0,2)\nspace origin: (0,0,0)\nendian: little\nencoding: raw";

#[test]
fn malformed_nrrd_files_give_clear_errors() {
    let mut c = Corpus::new();
    let data = i16_data(24);
    read_image(&c.file("good.nrrd", &nrrd(OK_FIELDS, &data))).unwrap();
    let cases: &[(&str, &str, &str, &[&str])] = &[
        ("no_sizes.nrrd", "sizes: 4 3 2\n", "", &["sizes", "missing"]),
        (
            "bad_type.nrrd",
            "type: short",
            "type: quaternion",
            &["type", "quaternion"],
        ),
        ("dim4.nrrd", "dimension: 3", "dimension: 4", &["dimension"]),
        (
            "bzip.nrrd",
            "encoding: raw",
            "encoding: bzip2",
            &["encoding", "bzip2"],
        ),
        (
            "dirs.nrrd",
            "(1,0,0) (0,1,0)",
            "(1,0) (0,1,0)",
            &["space directions"],
        ),
        ("zero_dir.nrrd", "(0,0,2)", "(0,0,0)", &["space directions"]),
        (
            "nan_origin.nrrd",
            "space origin: (0,0,0)",
            "space origin: (0,nan,0)",
            &["space origin"],
        ),
        ("neg_size.nrrd", "sizes: 4 3 2", "sizes: 4 -3 2", &["sizes"]),
        (
            "endian.nrrd",
            "endian: little",
            "endian: middle",
            &["endian"],
        ),
        (
            "space.nrrd",
            "space: left-posterior-superior",
            "space: upside-down",
            &["space"],
        ),
    ];
    for (name, from, to, must) in cases {
        let fields = OK_FIELDS.replace(from, to);
        let p = c.file(name, &nrrd(&fields, &data));
        let mut m = vec![*name];
        m.extend_from_slice(must);
        c.expect(name, read_image(&p), &m);
    }
    let p = c.file("zero_spacing.nrrd", &nrrd("type: short\ndimension: 3\nsizes: 4 3 2\nspacings: 1 0 1\nendian: little\nencoding: raw", &data));
    c.expect(
        "zero spacings",
        read_image(&p),
        &["zero_spacing.nrrd", "spacings"],
    );
    let p = c.file("short.nrrd", &nrrd(OK_FIELDS, &data[..30]));
    c.expect(
        "truncated raw",
        read_image(&p),
        &["short.nrrd", "truncated"],
    );
    let p = c.file(
        "gzbad.nrrd",
        &nrrd(
            &OK_FIELDS.replace("encoding: raw", "encoding: gzip"),
            &[0x1f, 0x8b, 8, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
        ),
    );
    c.expect("gzip garbage", read_image(&p), &["gzbad.nrrd"]);
    let p = c.file(
        "detached.nhdr",
        format!("NRRD0004\n{}\ndata file: nowhere.raw\n", OK_FIELDS).as_bytes(),
    );
    c.expect("missing data file", read_image(&p), &["nowhere.raw"]);
    let p = c.file("magic.nrrd", b"NRRX0004\ntype: short\n\n");
    c.expect("bad magic", read_image(&p), &["magic.nrrd", "magic"]);
    println!("{} malformed NRRD cases", c.checked);
    assert!(c.checked >= 15);
}

fn copy_dir(from: &Path, to: &Path, skip: impl Fn(&str) -> bool) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().to_string();
        if !skip(&name) {
            std::fs::copy(e.path(), to.join(&name)).unwrap();
        }
    }
}

#[test]
fn malformed_dicom_inputs_give_clear_errors() {
    let Some(ibsi) = require_shared("reference/ibsi/ct_phantom") else {
        return;
    };
    let Some(j2k) = require_shared("data/ct/totalseg_abdomen/example_ct_dicom") else {
        return;
    };
    let mut c = Corpus::new();
    let img = ibsi.join("dicom/image");
    let root = c.dir.path().to_path_buf();

    let empty = root.join("empty");
    std::fs::create_dir(&empty).unwrap();
    c.expect(
        "empty folder",
        read_image(&empty),
        &["empty", "no DICOM image series", "empty"],
    );

    let notdicom = root.join("notdicom");
    std::fs::create_dir(&notdicom).unwrap();
    std::fs::write(notdicom.join("README.txt"), "hello").unwrap();
    c.expect(
        "no DICOM files",
        read_image(&notdicom),
        &["notdicom", "DICOM Part-10"],
    );

    let mixed = root.join("mixed");
    copy_dir(&img, &mixed, |_| false);
    copy_dir(&j2k, &mixed, |_| false);
    let series = tomofuse_io::list_dicom_series(&mixed).unwrap();
    let ibsi_uid = series.iter().find(|s| s.n_files == 60).unwrap().uid.clone();
    c.expect(
        "mixed series",
        read_image(&mixed),
        &["mixed", "2 DICOM series", &ibsi_uid, "60 files", "20 files"],
    );
    // Picking one by UID works, an unknown UID lists the available ones.
    let (v, _) = tomofuse_io::read_image_series(&mixed, Some(&ibsi_uid)).unwrap();
    assert_eq!(v.shape(), [204, 201, 60]);
    c.expect(
        "unknown UID",
        tomofuse_io::read_image_series(&mixed, Some("1.2.3")),
        &["mixed", "1.2.3", &ibsi_uid],
    );

    let gap = root.join("gap");
    copy_dir(&img, &gap, |n| n == "DCM_IMG_00030.dcm");
    c.expect(
        "missing slice",
        read_image(&gap),
        &["gap", "regular grid", "mean step"],
    );

    let dup = root.join("dup");
    copy_dir(&img, &dup, |_| false);
    std::fs::copy(img.join("DCM_IMG_00010.dcm"), dup.join("zz_copy.dcm")).unwrap();
    c.expect(
        "duplicate slice",
        read_image(&dup),
        &["dup", "same position"],
    );

    let trunc = root.join("trunc");
    copy_dir(&img, &trunc, |_| false);
    let bytes = std::fs::read(img.join("DCM_IMG_00005.dcm")).unwrap();
    std::fs::write(trunc.join("DCM_IMG_00005.dcm"), &bytes[..bytes.len() / 2]).unwrap();
    c.expect(
        "truncated slice",
        read_image(&trunc),
        &["DCM_IMG_00005.dcm"],
    );

    let noipp = root.join("noipp");
    copy_dir(&img, &noipp, |_| false);
    let mut obj = dicom_object::open_file(img.join("DCM_IMG_00007.dcm")).unwrap();
    obj.remove_element(dicom_dictionary_std::tags::IMAGE_POSITION_PATIENT);
    obj.write_to_file(noipp.join("DCM_IMG_00007.dcm")).unwrap();
    c.expect(
        "missing ImagePositionPatient",
        read_image(&noipp),
        &[
            "DCM_IMG_00007.dcm",
            "ImagePositionPatient (0020,0032)",
            "missing",
        ],
    );

    let single = img.join("DCM_IMG_00000.dcm");
    c.expect(
        "single DICOM file",
        read_image(&single),
        &["DCM_IMG_00000.dcm", "folder"],
    );

    // RTSTRUCT: unknown ROI lists the available names.
    let image = read_image(&img).unwrap();
    let rs = ibsi.join("dicom/mask/DCM_RS_00060.dcm");
    c.expect(
        "unknown ROI",
        read_rtstruct_mask(&rs, "PTV-9", &image.geometry, image.shape()),
        &["DCM_RS_00060.dcm", "PTV-9", "GTV-1"],
    );
    c.expect(
        "not an RTSTRUCT",
        read_rtstruct_mask(&single, "GTV-1", &image.geometry, image.shape()),
        &["DCM_IMG_00000.dcm", "StructureSetROISequence"],
    );

    // Image/mask grid mismatch: the IBSI mask against the JPEG 2000 series, and a shifted copy.
    let mask = read_mask(&ibsi.join("nifti/mask.nii.gz")).unwrap();
    let other = read_image(&j2k).unwrap();
    let e = other
        .check_same_grid(&mask, &GeometryTolerance::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("shape mismatch"), "{e}");
    let mut shifted = mask.clone();
    shifted.geometry.origin[2] += 0.5;
    let e = image
        .check_same_grid(&shifted, &GeometryTolerance::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("origin") && e.contains("0.5"), "{e}");
    println!("[grid mismatch] {e}");
    c.checked += 2;
    println!("{} malformed DICOM cases", c.checked);
    assert!(c.checked >= 12);
}
