//! NIfTI-1 reading and writing.
//!
//! The header is parsed by the `nifti` crate, then validated here field by field *before* any
//! voxel buffer is allocated (through `check_alloc`), so a hostile header is an error that names
//! the file and the field. The affine follows nibabel's `get_best_affine`: sform when
//! `sform_code != 0`, else qform when `qform_code != 0`, else the Analyze-style base affine
//! (x flipped, centred). Voxel data go through `layout` (one converting pass, no per-element
//! reader); the writer emits the same header bytes the `nifti` crate's writer did, sform and
//! qform both set.

use crate::dtype::DType;
use crate::error::{IoError, Result};
use crate::layout::{Grid, ParGzWriter, ReadFail, read_volume, write_file_order};
use flate2::Compression;
use flate2::bufread::MultiGzDecoder;
use nifti::NiftiHeader;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use tomofuse_core::{Geometry, Space, Volume, check_alloc};

/// NIfTI header size in bytes.
const NIFTI1_SIZE: usize = 348;

/// Which transform the geometry came from (nibabel's choice).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AffineSource {
    Sform,
    Qform,
    /// Neither code set: pixdim only, Analyze-style centred, x flipped.
    Base,
}

impl AffineSource {
    pub fn name(self) -> &'static str {
        match self {
            AffineSource::Sform => "sform",
            AffineSource::Qform => "qform",
            AffineSource::Base => "pixdim",
        }
    }
}

/// A validated NIfTI-1 header.
#[derive(Debug, Clone)]
pub struct NiftiMeta {
    pub header: NiftiHeader,
    pub dtype: DType,
    pub shape: [usize; 3],
    pub vox_offset: u64,
    pub big_endian: bool,
    /// `(slope, inter)` when scaling applies (nibabel: slope finite and non-zero).
    pub scale: Option<(f64, f64)>,
    pub affine_source: AffineSource,
    /// nibabel's `img.affine` (RAS).
    pub affine_ras: [[f64; 4]; 4],
    pub geometry: Geometry,
    /// Where the voxel data lives (the same file, or the `.img` of a `.hdr`/`.img` pair).
    pub data_path: PathBuf,
    /// 348 (NIfTI-1) or 540 (NIfTI-2).
    pub header_size: u64,
}

pub(crate) fn is_gzip(path: &Path) -> Result<bool> {
    let mut f = File::open(path).map_err(|e| IoError::io(path, e))?;
    let mut m = [0u8; 2];
    let n = read_up_to(&mut f, &mut m).map_err(|e| IoError::io(path, e))?;
    Ok(n == 2 && m == [0x1f, 0x8b])
}

/// Opens a file, transparently gunzipping it when it starts with the gzip magic.
pub(crate) fn open_maybe_gz(path: &Path) -> Result<(Box<dyn Read + Send>, bool)> {
    let gz = is_gzip(path)?;
    let f = File::open(path).map_err(|e| IoError::io(path, e))?;
    let r = BufReader::with_capacity(1 << 20, f);
    if gz {
        Ok((Box::new(MultiGzDecoder::new(r)), true))
    } else {
        Ok((Box::new(r), false))
    }
}

/// Reads until `buf` is full or EOF; returns the bytes read.
pub(crate) fn read_up_to<R: Read + ?Sized>(r: &mut R, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

pub(crate) fn stream_err(path: &Path, gz: bool, e: std::io::Error) -> IoError {
    if gz {
        IoError::Gzip {
            path: path.to_path_buf(),
            reason: e.to_string(),
        }
    } else {
        IoError::io(path, e)
    }
}

fn nifti_dtype(code: i16) -> Option<DType> {
    Some(match code {
        2 => DType::U8,
        4 => DType::I16,
        8 => DType::I32,
        16 => DType::F32,
        64 => DType::F64,
        256 => DType::I8,
        512 => DType::U16,
        768 => DType::U32,
        1024 => DType::I64,
        1280 => DType::U64,
        _ => return None,
    })
}

/// NIfTI-2 header size in bytes.
const NIFTI2_SIZE: usize = 540;

/// Parses and validates a NIfTI-1 (348-byte) or NIfTI-2 (540-byte) header from the start of
/// `bytes`. Never panics on any input.
pub fn parse_header(path: &Path, bytes: &[u8]) -> Result<NiftiMeta> {
    if bytes.len() < 4 {
        return Err(IoError::Truncated {
            path: path.to_path_buf(),
            what: "NIfTI header".into(),
            expected: NIFTI1_SIZE as u64,
            found: bytes.len() as u64,
        });
    }
    let le = i32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    let be = i32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    if le == 540 || be == 540 {
        return parse_nifti2(path, bytes, be == 540);
    }
    if le != 348 && be != 348 {
        return Err(IoError::field(
            path,
            "sizeof_hdr",
            format!("expected 348 (NIfTI-1) or 540 (NIfTI-2), found {le}: not a NIfTI file"),
        ));
    }
    if bytes.len() < NIFTI1_SIZE {
        return Err(IoError::Truncated {
            path: path.to_path_buf(),
            what: "NIfTI-1 header".into(),
            expected: NIFTI1_SIZE as u64,
            found: bytes.len() as u64,
        });
    }
    let magic = &bytes[344..348];
    if magic != b"n+1\0" && magic != b"ni1\0" {
        return Err(IoError::field(
            path,
            "magic",
            format!(
                "expected \"n+1\" or \"ni1\", found {:?}",
                String::from_utf8_lossy(magic)
            ),
        ));
    }
    let header = NiftiHeader::from_reader(&bytes[..NIFTI1_SIZE])
        .map_err(|e| IoError::field(path, "header", e.to_string()))?;
    let big_endian = be == 348;
    let mut dims = [0i64; 8];
    for (d, &h) in dims.iter_mut().zip(header.dim.iter()) {
        // i16 on disk; the crate reads u16.
        *d = h as i16 as i64;
    }
    let vo = header.vox_offset as f64;
    validate(
        path,
        header,
        dims,
        vo,
        big_endian,
        magic == b"ni1\0",
        NIFTI1_SIZE as u64,
    )
}

/// NIfTI-2: the same fields widened to 64 bits (the `nifti` crate reads NIfTI-1 only). They are
/// carried in a `NiftiHeader` (f32 fields) for validation; dims and vox_offset stay 64-bit.
fn parse_nifti2(path: &Path, b: &[u8], big: bool) -> Result<NiftiMeta> {
    if b.len() < NIFTI2_SIZE {
        return Err(IoError::Truncated {
            path: path.to_path_buf(),
            what: "NIfTI-2 header".into(),
            expected: NIFTI2_SIZE as u64,
            found: b.len() as u64,
        });
    }
    let magic = &b[4..12];
    let pair = match magic {
        b"n+2\0\r\n\x1a\n" => false,
        b"ni2\0\r\n\x1a\n" => true,
        _ => {
            return Err(IoError::field(
                path,
                "magic",
                format!(
                    "expected \"n+2\" (NIfTI-2), found {:?}",
                    String::from_utf8_lossy(magic)
                ),
            ));
        }
    };
    let arr = |o: usize, n: usize| -> [u8; 8] {
        let mut a = [0u8; 8];
        a[..n].copy_from_slice(&b[o..o + n]);
        a
    };
    let i16_ = |o: usize| {
        let a = arr(o, 2);
        if big {
            i16::from_be_bytes([a[0], a[1]])
        } else {
            i16::from_le_bytes([a[0], a[1]])
        }
    };
    let i32_ = |o: usize| {
        let a = arr(o, 4);
        let a4 = [a[0], a[1], a[2], a[3]];
        if big {
            i32::from_be_bytes(a4)
        } else {
            i32::from_le_bytes(a4)
        }
    };
    let i64_ = |o: usize| {
        if big {
            i64::from_be_bytes(arr(o, 8))
        } else {
            i64::from_le_bytes(arr(o, 8))
        }
    };
    let f64_ = |o: usize| {
        if big {
            f64::from_be_bytes(arr(o, 8))
        } else {
            f64::from_le_bytes(arr(o, 8))
        }
    };
    let mut dims = [0i64; 8];
    for (n, d) in dims.iter_mut().enumerate() {
        *d = i64_(16 + 8 * n);
    }
    let mut h = NiftiHeader {
        datatype: i16_(12),
        bitpix: i16_(14),
        scl_slope: f64_(176) as f32,
        scl_inter: f64_(184) as f32,
        qform_code: i32_(344).clamp(i16::MIN as i32, i16::MAX as i32) as i16,
        sform_code: i32_(348).clamp(i16::MIN as i32, i16::MAX as i32) as i16,
        quatern_b: f64_(352) as f32,
        quatern_c: f64_(360) as f32,
        quatern_d: f64_(368) as f32,
        quatern_x: f64_(376) as f32,
        quatern_y: f64_(384) as f32,
        quatern_z: f64_(392) as f32,
        ..NiftiHeader::default()
    };
    for (n, p) in h.pixdim.iter_mut().enumerate() {
        *p = f64_(104 + 8 * n) as f32;
    }
    for (r, row) in [&mut h.srow_x, &mut h.srow_y, &mut h.srow_z]
        .into_iter()
        .enumerate()
    {
        for (c, v) in row.iter_mut().enumerate() {
            *v = f64_(400 + 32 * r + 8 * c) as f32;
        }
    }
    let vo = i64_(168) as f64;
    validate(path, h, dims, vo, big, pair, NIFTI2_SIZE as u64)
}

fn validate(
    path: &Path,
    h: NiftiHeader,
    dim: [i64; 8],
    vo: f64,
    big_endian: bool,
    pair: bool,
    header_size: u64,
) -> Result<NiftiMeta> {
    let ndim = dim[0];
    if !(1..=7).contains(&ndim) {
        return Err(IoError::field(
            path,
            "dim[0]",
            format!("number of dimensions must be 1..=7, found {ndim}"),
        ));
    }
    for (n, &d) in dim.iter().enumerate().take(ndim as usize + 1).skip(1) {
        if d < 1 {
            return Err(IoError::field(
                path,
                &format!("dim[{n}]"),
                format!("must be >= 1, found {d}"),
            ));
        }
    }
    for (n, &d) in dim.iter().enumerate().take(ndim as usize + 1).skip(4) {
        if d != 1 {
            return Err(IoError::Unsupported {
                path: path.to_path_buf(),
                what: format!("dim[{n}]"),
                reason: format!("only 3D images are supported, dim[{n}] = {d}"),
            });
        }
    }
    let mut shape = [1usize; 3];
    for (a, s) in shape.iter_mut().enumerate() {
        if (a as i64) < ndim {
            *s = dim[a + 1] as usize;
        }
    }
    let dtype = nifti_dtype(h.datatype).ok_or_else(|| {
        IoError::field(
            path,
            "datatype",
            format!("unknown or unsupported NIfTI datatype code {} (supported: 2, 4, 8, 16, 64, 256, 512, 768, 1024, 1280)", h.datatype),
        )
    })?;
    for a in 1..=3 {
        let p = h.pixdim[a];
        if !(p.is_finite() && p > 0.0) {
            return Err(IoError::field(
                path,
                &format!("pixdim[{a}]"),
                format!("voxel size must be finite and > 0, found {p}"),
            ));
        }
    }
    if !vo.is_finite() || vo < 0.0 || vo.fract() != 0.0 || vo > 1.0e9 {
        return Err(IoError::field(
            path,
            "vox_offset",
            format!("must be a non-negative integer, found {vo}"),
        ));
    }
    let vox_offset = vo as u64;
    if !pair && vox_offset < header_size {
        return Err(IoError::field(
            path,
            "vox_offset",
            format!(
                "must be >= {header_size} (the header size) in a single-file NIfTI, found {vox_offset}"
            ),
        ));
    }
    // nibabel: slope 0 or non-finite means "no scaling"; a valid slope with a bad intercept is an error.
    let (slope, inter) = (h.scl_slope as f64, h.scl_inter as f64);
    let scale = if slope == 0.0 || !slope.is_finite() {
        None
    } else if !inter.is_finite() {
        return Err(IoError::field(
            path,
            "scl_inter",
            format!("valid scl_slope {slope} but non-finite intercept {inter}"),
        ));
    } else if slope == 1.0 && inter == 0.0 {
        None
    } else {
        Some((slope, inter))
    };
    // Refuse before any allocation: the f32 output and the raw buffer.
    check_alloc(shape, 4).map_err(|e| IoError::field(path, "dim", e.to_string()))?;
    check_alloc(shape, dtype.size()).map_err(|e| IoError::field(path, "dim", e.to_string()))?;

    let (affine_ras, affine_source) = best_affine(path, &h, shape)?;
    let geometry = Geometry::from_affine(&affine_ras, Space::Ras).map_err(|e| {
        let field = match affine_source {
            AffineSource::Sform => "srow_x/srow_y/srow_z (sform)",
            AffineSource::Qform => "quatern_*/qoffset_* (qform)",
            AffineSource::Base => "pixdim",
        };
        IoError::field(path, field, e.to_string())
    })?;
    let data_path = if pair {
        img_path(path)?
    } else {
        path.to_path_buf()
    };
    Ok(NiftiMeta {
        header: h,
        dtype,
        shape,
        vox_offset,
        big_endian,
        scale,
        affine_source,
        affine_ras,
        geometry,
        data_path,
        header_size,
    })
}

/// The `.img` partner of a `.hdr` (a NIfTI-1 pair, magic "ni1").
fn img_path(hdr: &Path) -> Result<PathBuf> {
    let s = hdr.to_string_lossy();
    let cands: Vec<PathBuf> = if let Some(stem) = s.strip_suffix(".hdr.gz") {
        vec![
            PathBuf::from(format!("{stem}.img.gz")),
            PathBuf::from(format!("{stem}.img")),
        ]
    } else if let Some(stem) = s.strip_suffix(".hdr") {
        vec![
            PathBuf::from(format!("{stem}.img")),
            PathBuf::from(format!("{stem}.img.gz")),
        ]
    } else {
        return Err(IoError::field(
            hdr,
            "magic",
            "\"ni1\" (header/image pair) but the file is not a .hdr",
        ));
    };
    cands
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or_else(|| IoError::UnknownFormat {
            path: hdr.to_path_buf(),
            reason: format!(
                "image file of the header/image pair not found (looked for {})",
                cands[0].display()
            ),
        })
}

/// nibabel's `Nifti1Header.get_best_affine()`.
fn best_affine(
    path: &Path,
    h: &NiftiHeader,
    shape: [usize; 3],
) -> Result<([[f64; 4]; 4], AffineSource)> {
    if h.sform_code != 0 {
        let rows = [h.srow_x, h.srow_y, h.srow_z];
        let mut a = [[0.0; 4]; 4];
        for r in 0..3 {
            for c in 0..4 {
                a[r][c] = rows[r][c] as f64;
            }
        }
        a[3][3] = 1.0;
        if a.iter().flatten().any(|v| !v.is_finite()) {
            return Err(IoError::field(
                path,
                "srow_x/srow_y/srow_z (sform)",
                "non-finite entry",
            ));
        }
        return Ok((a, AffineSource::Sform));
    }
    let px = [h.pixdim[1] as f64, h.pixdim[2] as f64, h.pixdim[3] as f64];
    if h.qform_code != 0 {
        let (b, c, d) = (h.quatern_b as f64, h.quatern_c as f64, h.quatern_d as f64);
        let bcd = [b, c, d];
        if bcd.iter().any(|v| !v.is_finite()) {
            return Err(IoError::field(
                path,
                "quatern_b/c/d",
                "non-finite quaternion",
            ));
        }
        let w2 = 1.0 - (b * b + c * c + d * d);
        // nibabel's fillpositive threshold for float32 headers.
        let thresh = -(f32::EPSILON as f64) * 3.0;
        let a = if w2 < 0.0 {
            if w2 < thresh {
                return Err(IoError::field(
                    path,
                    "quatern_b/c/d",
                    format!("b^2+c^2+d^2 = {} exceeds 1", 1.0 - w2),
                ));
            }
            0.0
        } else {
            w2.sqrt()
        };
        let r = quat2mat(a, b, c, d);
        // nibabel fixes pixdim[0] to 1 when it is neither 1 nor -1.
        let qfac = if h.pixdim[0] == -1.0 { -1.0 } else { 1.0 };
        let vox = [px[0], px[1], px[2] * qfac];
        let off = [h.quatern_x as f64, h.quatern_y as f64, h.quatern_z as f64];
        if off.iter().any(|v| !v.is_finite()) {
            return Err(IoError::field(path, "qoffset_x/y/z", "non-finite offset"));
        }
        let mut m = [[0.0; 4]; 4];
        for i in 0..3 {
            for j in 0..3 {
                m[i][j] = r[i][j] * vox[j];
            }
            m[i][3] = off[i];
        }
        m[3][3] = 1.0;
        return Ok((m, AffineSource::Qform));
    }
    // nibabel shape_zoom_affine(shape, zooms, x_flip=True).
    let z = [-px[0], px[1], px[2]];
    let mut m = [[0.0; 4]; 4];
    for i in 0..3 {
        m[i][i] = z[i];
        m[i][3] = -((shape[i] as f64 - 1.0) / 2.0) * z[i];
    }
    m[3][3] = 1.0;
    Ok((m, AffineSource::Base))
}

/// Rotation matrix of the unit quaternion (w, x, y, z), as nibabel's `quat2mat`.
fn quat2mat(w: f64, x: f64, y: f64, z: f64) -> [[f64; 3]; 3] {
    let nq = w * w + x * x + y * y + z * z;
    if nq < f64::EPSILON {
        return [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
    }
    let s = 2.0 / nq;
    let (xs, ys, zs) = (x * s, y * s, z * s);
    let (wx, wy, wz) = (w * xs, w * ys, w * zs);
    let (xx, xy, xz) = (x * xs, x * ys, x * zs);
    let (yy, yz, zz) = (y * ys, y * zs, z * zs);
    [
        [1.0 - (yy + zz), xy - wz, xz + wy],
        [xy + wz, 1.0 - (xx + zz), yz - wx],
        [xz - wy, yz + wx, 1.0 - (xx + yy)],
    ]
}

/// Quaternion (b, c, d) with a >= 0 of a proper rotation (nifti1_io `nifti_mat44_to_quatern`).
fn mat2quat(r: &[[f64; 3]; 3]) -> [f64; 3] {
    let (r11, r12, r13) = (r[0][0], r[0][1], r[0][2]);
    let (r21, r22, r23) = (r[1][0], r[1][1], r[1][2]);
    let (r31, r32, r33) = (r[2][0], r[2][1], r[2][2]);
    let trace1 = r11 + r22 + r33 + 1.0;
    let (a, b, c, d);
    if trace1 > 0.5 {
        let aa = 0.5 * a_sqrt(trace1);
        a = aa;
        b = 0.25 * (r32 - r23) / aa;
        c = 0.25 * (r13 - r31) / aa;
        d = 0.25 * (r21 - r12) / aa;
    } else {
        let xd = 1.0 + r11 - (r22 + r33);
        let yd = 1.0 + r22 - (r11 + r33);
        let zd = 1.0 + r33 - (r11 + r22);
        if xd > 1.0 {
            let bb = 0.5 * a_sqrt(xd);
            b = bb;
            c = 0.25 * (r12 + r21) / bb;
            d = 0.25 * (r13 + r31) / bb;
            a = 0.25 * (r32 - r23) / bb;
        } else if yd > 1.0 {
            let cc = 0.5 * a_sqrt(yd);
            c = cc;
            b = 0.25 * (r12 + r21) / cc;
            d = 0.25 * (r23 + r32) / cc;
            a = 0.25 * (r13 - r31) / cc;
        } else {
            let dd = 0.5 * a_sqrt(zd);
            d = dd;
            b = 0.25 * (r13 + r31) / dd;
            c = 0.25 * (r23 + r32) / dd;
            a = 0.25 * (r21 - r12) / dd;
        }
    }
    if a < 0.0 { [-b, -c, -d] } else { [b, c, d] }
}

fn a_sqrt(v: f64) -> f64 {
    v.max(0.0).sqrt()
}

/// Reads and validates only the header (cheap: 348 bytes, gunzipped when needed).
pub fn read_header(path: &Path) -> Result<NiftiMeta> {
    let (mut r, gz) = open_maybe_gz(path)?;
    let mut buf = [0u8; NIFTI2_SIZE];
    let n = read_up_to(&mut r, &mut buf).map_err(|e| stream_err(path, gz, e))?;
    parse_header(path, &buf[..n])
}

/// Largest ratio of decompressed to compressed size deflate can reach (~1032:1), with margin.
/// A gzip file claiming more voxels than it could hold is read the cautious way: the buffer
/// grows only as data arrives, so a tiny file with a huge `dim` fails before a huge allocation.
pub(crate) const GZIP_MAX_RATIO: u64 = 1100;

/// Reads a NIfTI-1/NIfTI-2 image as f32 with `scl_slope`/`scl_inter` applied.
///
/// The data are read once, in slabs, and converted (byte order, type, scaling, file order to C
/// layout) in a single pass while the next slab is read or inflated.
pub fn read_nifti(path: &Path) -> Result<(Volume<f32>, NiftiMeta)> {
    let (mut r, gz) = open_maybe_gz(path)?;
    let mut buf = [0u8; NIFTI2_SIZE];
    let n = read_up_to(&mut r, &mut buf).map_err(|e| stream_err(path, gz, e))?;
    let meta = parse_header(path, &buf[..n])?;
    let nvox = meta.shape.iter().product::<usize>() as u64;
    let nbytes = nvox * meta.dtype.size() as u64;
    let same_file = meta.data_path == path;
    let dpath = meta.data_path.clone();
    let data_gz = if same_file { gz } else { is_gzip(&dpath)? };
    let grid = Grid {
        shape: meta.shape,
        big_endian: meta.big_endian,
        scale: meta.scale,
    };
    let truncated = |found: u64| IoError::Truncated {
        path: dpath.clone(),
        what: format!("voxel data ({} voxels of {})", nvox, meta.dtype),
        expected: meta.vox_offset + nbytes,
        found: meta.vox_offset + found,
    };
    let vals = if !data_gz {
        drop(r);
        // Uncompressed: the file length is known, so check before allocating, then read the
        // data region straight from the file.
        let mut f = File::open(&dpath).map_err(|e| IoError::io(&dpath, e))?;
        let len = f.metadata().map_err(|e| IoError::io(&dpath, e))?.len();
        if len < meta.vox_offset + nbytes {
            return Err(IoError::Truncated {
                path: dpath,
                what: format!(
                    "voxel data ({} x {} at vox_offset {})",
                    nvox, meta.dtype, meta.vox_offset
                ),
                expected: meta.vox_offset + nbytes,
                found: len,
            });
        }
        f.seek(SeekFrom::Start(meta.vox_offset))
            .map_err(|e| IoError::io(&dpath, e))?;
        match read_volume(f, meta.dtype, &grid) {
            Ok(v) => v,
            Err(ReadFail::Short(got)) => return Err(truncated(got)),
            Err(ReadFail::Io(e)) => return Err(IoError::io(&dpath, e)),
        }
    } else {
        let (mut data_r, skip): (Box<dyn Read + Send>, u64) = if same_file {
            // Bytes read past the header belong to the extensions/data: put them back in front.
            let hs = (meta.header_size as usize).min(n);
            let rest = buf[hs..n].to_vec();
            (
                Box::new(std::io::Cursor::new(rest).chain(r)),
                meta.vox_offset - meta.header_size,
            )
        } else {
            drop(r);
            (open_maybe_gz(&dpath)?.0, meta.vox_offset)
        };
        let skipped = std::io::copy(&mut (&mut data_r).take(skip), &mut std::io::sink())
            .map_err(|e| stream_err(&dpath, true, e))?;
        if skipped < skip {
            return Err(IoError::Truncated {
                path: dpath,
                what: "header extensions up to vox_offset".into(),
                expected: meta.vox_offset,
                found: if same_file { meta.header_size } else { 0 } + skipped,
            });
        }
        let compressed = std::fs::metadata(&dpath)
            .map_err(|e| IoError::io(&dpath, e))?
            .len();
        if nbytes <= compressed.saturating_mul(GZIP_MAX_RATIO) {
            match read_volume(data_r, meta.dtype, &grid) {
                Ok(v) => v,
                Err(ReadFail::Short(got)) => return Err(truncated(got)),
                Err(ReadFail::Io(e)) => return Err(stream_err(&dpath, true, e)),
            }
        } else {
            let mut bytes = Vec::with_capacity(nbytes.min(64 << 20) as usize);
            data_r
                .take(nbytes)
                .read_to_end(&mut bytes)
                .map_err(|e| stream_err(&dpath, true, e))?;
            if (bytes.len() as u64) < nbytes {
                return Err(truncated(bytes.len() as u64));
            }
            read_volume(bytes.as_slice(), meta.dtype, &grid)
                .map_err(|_| truncated(bytes.len() as u64))?
        }
    };
    let vol =
        Volume::from_vec_c(meta.shape, vals, meta.geometry).map_err(|e| IoError::core(path, e))?;
    Ok((vol, meta))
}

/// Element types [`write_nifti`] can store.
pub trait NiftiElement: nifti::DataElement + bytemuck::Pod + Copy + Send + Sync + 'static {
    /// Stored type.
    const DTYPE: DType;
}

macro_rules! elem {
    ($t:ty, $d:expr) => {
        impl NiftiElement for $t {
            const DTYPE: DType = $d;
        }
    };
}
elem!(u8, DType::U8);
elem!(i8, DType::I8);
elem!(i16, DType::I16);
elem!(u16, DType::U16);
elem!(i32, DType::I32);
elem!(u32, DType::U32);
elem!(f32, DType::F32);
elem!(f64, DType::F64);

/// `NIFTI_XFORM_SCANNER_ANAT`: tomofuse coordinates are scanner (DICOM patient) coordinates.
pub const XFORM_SCANNER_ANAT: i16 = 1;

/// Builds the header written by [`write_nifti`]: sform and qform both encode the RAS affine
/// of `geometry`, both with code 1 (scanner anatomical), units mm, no scaling.
pub fn header_for(geometry: &Geometry) -> NiftiHeader {
    let aff = geometry.affine(Space::Ras);
    let dir = geometry.direction_in(Space::Ras);
    let det = dir[0][0] * (dir[1][1] * dir[2][2] - dir[1][2] * dir[2][1])
        - dir[0][1] * (dir[1][0] * dir[2][2] - dir[1][2] * dir[2][0])
        + dir[0][2] * (dir[1][0] * dir[2][1] - dir[1][1] * dir[2][0]);
    let qfac = if det < 0.0 { -1.0 } else { 1.0 };
    let mut r = dir;
    for row in r.iter_mut() {
        row[2] *= qfac;
    }
    let [b, c, d] = mat2quat(&r);
    let mut h = NiftiHeader {
        sform_code: XFORM_SCANNER_ANAT,
        qform_code: XFORM_SCANNER_ANAT,
        xyzt_units: 2, // NIFTI_UNITS_MM
        quatern_b: b as f32,
        quatern_c: c as f32,
        quatern_d: d as f32,
        quatern_x: aff[0][3] as f32,
        quatern_y: aff[1][3] as f32,
        quatern_z: aff[2][3] as f32,
        scl_slope: 1.0,
        scl_inter: 0.0,
        ..NiftiHeader::default()
    };
    h.pixdim = [
        qfac as f32,
        geometry.spacing[0] as f32,
        geometry.spacing[1] as f32,
        geometry.spacing[2] as f32,
        1.0,
        1.0,
        1.0,
        1.0,
    ];
    let f = |r: usize| {
        [
            aff[r][0] as f32,
            aff[r][1] as f32,
            aff[r][2] as f32,
            aff[r][3] as f32,
        ]
    };
    h.srow_x = f(0);
    h.srow_y = f(1);
    h.srow_z = f(2);
    let mut descrip = b"tomofuse".to_vec();
    descrip.resize(80, 0);
    h.descrip = descrip;
    h
}

/// NIfTI-1 datatype code of a stored type.
fn nifti_code(d: DType) -> i16 {
    match d {
        DType::U8 => 2,
        DType::I16 => 4,
        DType::I32 => 8,
        DType::F32 => 16,
        DType::F64 => 64,
        DType::I8 => 256,
        DType::U16 => 512,
        DType::U32 => 768,
        DType::I64 => 1024,
        DType::U64 => 1280,
    }
}

/// Offset of the voxel data in a written file: the 348-byte header plus the 4-byte extender.
const WRITE_VOX_OFFSET: usize = 352;

/// The 352 bytes [`write_nifti`] puts before the data: `h` (from [`header_for`]) with the
/// fields the `nifti` crate's writer set from the data (dim, datatype, bitpix, vox_offset,
/// scaling, magic), field by field in its order, little-endian, then a zero extender (no
/// extensions). Byte-identical to what tomofuse wrote through that crate.
fn header_bytes(h: &NiftiHeader, shape: [usize; 3], dtype: DType) -> Vec<u8> {
    let mut b = Vec::with_capacity(WRITE_VOX_OFFSET);
    let i16_ = |b: &mut Vec<u8>, v: i16| b.extend_from_slice(&v.to_le_bytes());
    let i32_ = |b: &mut Vec<u8>, v: i32| b.extend_from_slice(&v.to_le_bytes());
    let f32_ = |b: &mut Vec<u8>, v: f32| b.extend_from_slice(&v.to_le_bytes());
    i32_(&mut b, 348);
    b.extend_from_slice(&h.data_type);
    b.extend_from_slice(&h.db_name);
    i32_(&mut b, h.extents);
    i16_(&mut b, h.session_error);
    b.push(h.regular);
    b.push(h.dim_info);
    for d in [3, shape[0], shape[1], shape[2], 1, 1, 1, 1] {
        b.extend_from_slice(&(d as u16).to_le_bytes());
    }
    for v in [h.intent_p1, h.intent_p2, h.intent_p3] {
        f32_(&mut b, v);
    }
    i16_(&mut b, h.intent_code);
    i16_(&mut b, nifti_code(dtype));
    i16_(&mut b, (dtype.size() * 8) as i16);
    i16_(&mut b, h.slice_start);
    for v in h.pixdim {
        f32_(&mut b, v);
    }
    f32_(&mut b, WRITE_VOX_OFFSET as f32);
    f32_(&mut b, 1.0); // scl_slope
    f32_(&mut b, 0.0); // scl_inter
    i16_(&mut b, h.slice_end);
    b.push(h.slice_code);
    b.push(h.xyzt_units);
    for v in [h.cal_max, h.cal_min, h.slice_duration, h.toffset] {
        f32_(&mut b, v);
    }
    i32_(&mut b, h.glmax);
    i32_(&mut b, h.glmin);
    let mut descrip = h.descrip.clone();
    descrip.resize(80, 0);
    b.extend_from_slice(&descrip);
    b.extend_from_slice(&h.aux_file);
    i16_(&mut b, h.qform_code);
    i16_(&mut b, h.sform_code);
    for v in [
        h.quatern_b,
        h.quatern_c,
        h.quatern_d,
        h.quatern_x,
        h.quatern_y,
        h.quatern_z,
    ] {
        f32_(&mut b, v);
    }
    for v in h.srow_x.iter().chain(&h.srow_y).chain(&h.srow_z) {
        f32_(&mut b, *v);
    }
    b.extend_from_slice(&h.intent_name);
    b.extend_from_slice(b"n+1\0");
    debug_assert_eq!(b.len(), 348);
    b.extend_from_slice(&[0; 4]);
    b
}

/// Deflate level of `.nii.gz` output. zlib-rs level 3 writes CT files within ~2% of the size
/// SimpleITK writes (level 1, used before, is a different, much weaker strategy in zlib-rs:
/// +43% size), at ~1.3 s per 84 MB int16 on one core.
const GZIP_LEVEL: Compression = Compression::new(3);

/// Writes `vol` as NIfTI-1 (`.nii`, or gzip-compressed `.nii.gz`), sform and qform both set.
///
/// The data go out in file order straight from the volume, one transposing pass per slab;
/// `.nii.gz` is deflated in 1 MiB blocks on all rayon threads into one standard gzip member.
pub fn write_nifti<T: NiftiElement>(path: &Path, vol: &Volume<T>) -> Result<()> {
    write_nifti_with(path, vol, true, &|x| x)
}

/// Writes `vol`'s values converted by `conv` to the stored type `T`, in the same pass that
/// puts them in file order (no converted copy of the volume). `map`: an uncompressed file may
/// be written through a memory map (`false`: always through a buffer, the fallback where
/// blocks cannot be reserved; tested to give the same bytes).
fn write_nifti_with<S: Copy + Send + Sync, T: NiftiElement>(
    path: &Path,
    vol: &Volume<S>,
    map: bool,
    conv: &(impl Fn(S) -> T + Sync),
) -> Result<()> {
    let name = path.to_string_lossy();
    let gz = name.ends_with(".nii.gz");
    if !(name.ends_with(".nii") || gz) {
        return Err(IoError::Write {
            path: path.to_path_buf(),
            reason: "the output name must end in .nii or .nii.gz".into(),
        });
    }
    vol.geometry
        .validate()
        .map_err(|e| IoError::core(path, e))?;
    let shape = vol.shape();
    if let Some(d) = shape.iter().find(|&&d| d > i16::MAX as usize) {
        return Err(IoError::Write {
            path: path.to_path_buf(),
            reason: format!("dimension {d} exceeds NIfTI-1's limit of {}", i16::MAX),
        });
    }
    let header = header_bytes(&header_for(&vol.geometry), shape, T::DTYPE);
    let data = vol.data.as_standard_layout();
    let data = data.as_slice().expect("standard layout is contiguous");
    let err = |e: std::io::Error| IoError::Write {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let file = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .map_err(err)?;
    if gz {
        let mut w = ParGzWriter::new(BufWriter::with_capacity(1 << 20, file), GZIP_LEVEL);
        w.write_all(&header).map_err(err)?;
        write_file_order(data, shape, conv, |b| w.write_all(b)).map_err(err)?;
        w.finish().map_err(err)?;
    } else {
        #[cfg(target_os = "linux")]
        if map && write_mapped(&file, &header, data, shape, conv).map_err(err)? {
            return Ok(());
        }
        let mut w = BufWriter::with_capacity(1 << 20, file);
        w.write_all(&header).map_err(err)?;
        write_file_order(data, shape, conv, |b| w.write_all(b)).map_err(err)?;
        w.flush().map_err(err)?;
    }
    Ok(())
}

/// Writes an f32 volume as NIfTI in the stored type `dtype`: integers are rounded to the
/// nearest value and saturate at the type's range (f32 -> int `as` casts saturate), floats are
/// kept; 64-bit integers are written as float32, which holds every value such images carry.
/// For commands that keep their input's type (SimpleITK keeps the pixel type too).
pub fn write_nifti_as(path: &Path, vol: &Volume<f32>, dtype: DType) -> Result<()> {
    match dtype {
        DType::U8 => write_nifti_with(path, vol, true, &|x: f32| x.round() as u8),
        DType::I8 => write_nifti_with(path, vol, true, &|x: f32| x.round() as i8),
        DType::I16 => write_nifti_with(path, vol, true, &|x: f32| x.round() as i16),
        DType::U16 => write_nifti_with(path, vol, true, &|x: f32| x.round() as u16),
        DType::I32 => write_nifti_with(path, vol, true, &|x: f32| x.round() as i32),
        DType::U32 => write_nifti_with(path, vol, true, &|x: f32| x.round() as u32),
        DType::F64 => write_nifti_with(path, vol, true, &|x: f32| x as f64),
        DType::F32 | DType::I64 | DType::U64 => write_nifti(path, vol),
    }
}

/// Writes an uncompressed NIfTI through a shared memory map of the (new, empty) `file`: the
/// blocks are reserved first, so a full disk is an error here rather than a SIGBUS on a page
/// fault, and the transposing pass then fills the page cache from all rayon threads (one
/// `write` call copies on one thread: 1.4-1.6x SimpleITK's time for 84 MB, benches/README.md).
/// `Ok(false)`: this file system cannot reserve blocks (or the data would be misaligned), and
/// nothing was written; the caller writes through a buffer instead.
#[cfg(target_os = "linux")]
fn write_mapped<S: Copy + Sync, T: NiftiElement>(
    file: &File,
    header: &[u8],
    data: &[S],
    shape: [usize; 3],
    conv: &(impl Fn(S) -> T + Sync),
) -> std::io::Result<bool> {
    use std::os::fd::AsRawFd;
    let len = header.len() + data.len() * std::mem::size_of::<T>();
    if data.is_empty() || !header.len().is_multiple_of(std::mem::align_of::<T>()) {
        return Ok(false);
    }
    // SAFETY: plain syscall on a descriptor we own; returns an errno value, never sets errno.
    let r = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, len as libc::off_t) };
    match r {
        0 => {}
        libc::EOPNOTSUPP | libc::ENOSYS | libc::EINVAL => return Ok(false),
        e => return Err(std::io::Error::from_raw_os_error(e)),
    }
    // SAFETY: `file` was just created (truncated) by us and reserved to `len` bytes; the map is
    // private to this call. Another process truncating the file while we write would fault
    // (SIGBUS), as with any memory-mapped writer; nothing in tomofuse does that.
    let mut map = unsafe { memmap2::MmapOptions::new().len(len).map_mut(file)? };
    let (head, body) = map.split_at_mut(header.len());
    head.copy_from_slice(header);
    // The map is page-aligned and the header a multiple of T's alignment (checked above).
    let body: &mut [T] = bytemuck::cast_slice_mut(body);
    crate::layout::gather_file_order(data, shape, body, conv);
    // Dropping the map leaves the pages dirty in the page cache, as `write` would: no msync,
    // which would wait for the disk.
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The memory-mapped writer and the buffered fallback write the same bytes, for each
    /// element size and for a shape whose slab does not divide the slice count.
    #[test]
    fn mapped_and_buffered_writes_are_identical() {
        let g = Geometry::new(
            [0.7, 0.8, 2.5],
            [1.0, -2.0, 3.0],
            [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
            Space::Lps,
        )
        .unwrap();
        let d = tempfile::tempdir().unwrap();
        let shape = [301, 257, 67];
        let v = Volume::from_vec_c(
            shape,
            (0..301 * 257 * 67)
                .map(|x| (x % 65_521) as f32 - 3000.0)
                .collect(),
            g,
        )
        .unwrap();
        fn both<T: NiftiElement>(d: &Path, v: &Volume<T>) {
            let (a, b) = (d.join("a.nii"), d.join("b.nii"));
            write_nifti_with(&a, v, true, &|x| x).unwrap();
            write_nifti_with(&b, v, false, &|x| x).unwrap();
            let (a, b) = (std::fs::read(a).unwrap(), std::fs::read(b).unwrap());
            assert_eq!(a.len(), 352 + v.data.len() * std::mem::size_of::<T>());
            assert!(a == b, "{}", std::any::type_name::<T>());
        }
        both(d.path(), &v);
        both(d.path(), &v.map(|&x| x as i16));
        both(d.path(), &v.map(|&x| x as u8));
        both(d.path(), &v.map(|&x| x as f64));
        // Converting while writing gives the bytes of the converted volume, mapped, buffered
        // and gzipped.
        let frac = v.map(|&x| x * 0.37 - 0.5);
        for (name, dtype) in [("i16", DType::I16), ("u8", DType::U8), ("f64", DType::F64)] {
            for ext in ["nii", "nii.gz"] {
                let (a, b) = (
                    d.path().join(format!("a.{ext}")),
                    d.path().join(format!("b.{ext}")),
                );
                write_nifti_as(&a, &frac, dtype).unwrap();
                match dtype {
                    DType::I16 => write_nifti(&b, &frac.map(|&x| x.round() as i16)),
                    DType::U8 => write_nifti(&b, &frac.map(|&x| x.round() as u8)),
                    _ => write_nifti(&b, &frac.map(|&x| x as f64)),
                }
                .unwrap();
                let (a, b) = (std::fs::read(a).unwrap(), std::fs::read(b).unwrap());
                assert!(a == b, "{name} .{ext}");
            }
        }
        let (a, b) = (d.path().join("a.nii"), d.path().join("b.nii"));
        write_nifti_with(&a, &frac, true, &|x: f32| x.round() as i16).unwrap();
        write_nifti_with(&b, &frac, false, &|x: f32| x.round() as i16).unwrap();
        assert!(std::fs::read(a).unwrap() == std::fs::read(b).unwrap());
    }

    #[test]
    fn quaternion_round_trip() {
        // A rotation about an oblique axis; mat2quat then quat2mat must give it back.
        let (t, u) = (0.3f64, [1.0f64, 2.0, 2.0]);
        let n = (u[0] * u[0] + u[1] * u[1] + u[2] * u[2]).sqrt();
        let (x, y, z) = (u[0] / n, u[1] / n, u[2] / n);
        let (w, s) = ((t / 2.0).cos(), (t / 2.0).sin());
        let r = quat2mat(w, x * s, y * s, z * s);
        let q = mat2quat(&r);
        assert!(
            (q[0] - x * s).abs() < 1e-12
                && (q[1] - y * s).abs() < 1e-12
                && (q[2] - z * s).abs() < 1e-12
        );
    }
}
