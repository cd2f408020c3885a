//! DICOM CT series from a folder (dicom-rs) and RTSTRUCT contours rasterised to a mask.
//!
//! Slices are grouped by SeriesInstanceUID, sorted by their position along the slice normal
//! (row cosine x column cosine, dotted with ImagePositionPatient), checked for a regular step,
//! decoded in parallel (any transfer syntax dicom-pixeldata supports, incl. JPEG 2000) and
//! rescaled to HU. Errors name the file and the tag; values of identifying tags are never read.

use crate::dtype::DType;
use crate::error::{IoError, Result};
use dicom_core::Tag;
use dicom_dictionary_std::tags;
use dicom_object::{InMemDicomObject, OpenFileOptions};
use dicom_pixeldata::{ConvertOptions, ModalityLutOption, PixelDecoder};
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tomofuse_core::{Geometry, Mask, Space, Volume, check_alloc};

/// One series found in a folder.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesSummary {
    pub uid: String,
    pub modality: String,
    pub n_files: usize,
    /// True when the files carry pixel data (an image series, not an RTSTRUCT or report).
    pub is_image: bool,
}

impl std::fmt::Display for SeriesSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let uid = if self.uid.is_empty() {
            "<no SeriesInstanceUID>"
        } else {
            &self.uid
        };
        write!(
            f,
            "{} ({}, {} file{})",
            uid,
            self.modality,
            self.n_files,
            if self.n_files == 1 { "" } else { "s" }
        )
    }
}

/// What was read besides the voxels.
#[derive(Debug, Clone)]
pub struct DicomMeta {
    pub series_uid: String,
    pub n_slices: usize,
    /// Stored pixel type (before rescale).
    pub dtype: DType,
    pub transfer_syntax: String,
    /// Rescale (slope, intercept) of the first slice.
    pub rescale: (f64, f64),
    pub geometry: Geometry,
    pub shape: [usize; 3],
}

fn tag_name(tag: Tag) -> String {
    let name = match tag {
        tags::SERIES_INSTANCE_UID => "SeriesInstanceUID",
        tags::MODALITY => "Modality",
        tags::ROWS => "Rows",
        tags::COLUMNS => "Columns",
        tags::IMAGE_POSITION_PATIENT => "ImagePositionPatient",
        tags::IMAGE_ORIENTATION_PATIENT => "ImageOrientationPatient",
        tags::PIXEL_SPACING => "PixelSpacing",
        tags::RESCALE_SLOPE => "RescaleSlope",
        tags::RESCALE_INTERCEPT => "RescaleIntercept",
        tags::NUMBER_OF_FRAMES => "NumberOfFrames",
        tags::BITS_ALLOCATED => "BitsAllocated",
        tags::PIXEL_REPRESENTATION => "PixelRepresentation",
        tags::PIXEL_DATA => "PixelData",
        tags::STRUCTURE_SET_ROI_SEQUENCE => "StructureSetROISequence",
        tags::ROI_CONTOUR_SEQUENCE => "ROIContourSequence",
        tags::ROI_NUMBER => "ROINumber",
        tags::ROI_NAME => "ROIName",
        tags::REFERENCED_ROI_NUMBER => "ReferencedROINumber",
        tags::CONTOUR_SEQUENCE => "ContourSequence",
        tags::CONTOUR_DATA => "ContourData",
        tags::CONTOUR_GEOMETRIC_TYPE => "ContourGeometricType",
        _ => "",
    };
    format!("{name} ({:04X},{:04X})", tag.group(), tag.element())
}

fn tag_err(path: &Path, tag: Tag, reason: impl Into<String>) -> IoError {
    IoError::DicomTag {
        path: path.to_path_buf(),
        tag: tag_name(tag),
        reason: reason.into(),
    }
}

fn get_str(obj: &InMemDicomObject, tag: Tag) -> Option<String> {
    let e = obj.element_opt(tag).ok()??;
    let s = e.to_str().ok()?;
    Some(
        s.trim_matches(|c: char| c == '\0' || c.is_whitespace())
            .to_string(),
    )
}

fn get_f64s(path: &Path, obj: &InMemDicomObject, tag: Tag) -> Result<Option<Vec<f64>>> {
    let Some(e) = obj.element_opt(tag).ok().flatten() else {
        return Ok(None);
    };
    let v = e
        .to_multi_float64()
        .map_err(|err| tag_err(path, tag, format!("not numeric: {err}")))?;
    if v.iter().any(|x| !x.is_finite()) {
        return Err(tag_err(path, tag, "non-finite value"));
    }
    Ok(Some(v))
}

fn get_int(path: &Path, obj: &InMemDicomObject, tag: Tag) -> Result<Option<i64>> {
    let Some(e) = obj.element_opt(tag).ok().flatten() else {
        return Ok(None);
    };
    e.to_int::<i64>()
        .map(Some)
        .map_err(|err| tag_err(path, tag, format!("not an integer: {err}")))
}

fn need<T>(path: &Path, tag: Tag, v: Option<T>) -> Result<T> {
    v.ok_or_else(|| tag_err(path, tag, "missing"))
}

/// Header facts of one file (read up to PixelData, without decoding it).
#[derive(Debug, Clone)]
struct FileHdr {
    path: PathBuf,
    series_uid: String,
    modality: String,
    is_image: bool,
    /// The parsed header, kept so that the chosen series' slices are not parsed again.
    header: std::sync::Arc<InMemDicomObject>,
}

fn files_in(dir: &Path) -> Result<Vec<PathBuf>> {
    let rd = std::fs::read_dir(dir).map_err(|e| IoError::io(dir, e))?;
    let mut v: Vec<PathBuf> = rd
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    Ok(v)
}

fn open_header(path: &Path) -> Option<InMemDicomObject> {
    OpenFileOptions::new()
        .read_until(tags::PIXEL_DATA)
        .open_file(path)
        .ok()
        .map(|o| o.into_inner())
}

fn has_dicm_magic(p: &Path) -> bool {
    let Ok(mut f) = std::fs::File::open(p) else {
        return false;
    };
    let mut b = [0u8; 132];
    matches!(crate::nii::read_up_to(&mut f, &mut b), Ok(132)) && &b[128..132] == b"DICM"
}

fn scan(dir: &Path) -> Result<Vec<FileHdr>> {
    let files = files_in(dir)?;
    if files.is_empty() {
        return Err(IoError::NoSeries {
            dir: dir.to_path_buf(),
            reason: "the folder is empty".into(),
        });
    }
    // Files without the DICM preamble are skipped (READMEs, thumbnails); a file that claims to
    // be DICOM but does not parse is an error naming it.
    let hdrs: Vec<Option<FileHdr>> = files
        .par_iter()
        .map(|p| {
            let Some(obj) = open_header(p) else {
                return if has_dicm_magic(p) {
                    Err(IoError::Dicom {
                        path: p.clone(),
                        reason: "has the DICM preamble but its header does not parse (truncated or corrupt)".into(),
                    })
                } else {
                    Ok(None)
                };
            };
            Ok(Some(FileHdr {
                path: p.clone(),
                series_uid: get_str(&obj, tags::SERIES_INSTANCE_UID).unwrap_or_default(),
                modality: get_str(&obj, tags::MODALITY).unwrap_or_default(),
                is_image: obj.element_opt(tags::ROWS).ok().flatten().is_some(),
                header: std::sync::Arc::new(obj),
            }))
        })
        .collect::<Result<_>>()?;
    let hdrs: Vec<FileHdr> = hdrs.into_iter().flatten().collect();
    if hdrs.is_empty() {
        return Err(IoError::NoSeries {
            dir: dir.to_path_buf(),
            reason: format!("none of its {} files is a DICOM Part-10 file", files.len()),
        });
    }
    Ok(hdrs)
}

/// Lists the series in a folder (images and others), sorted by UID.
pub fn list_dicom_series(dir: &Path) -> Result<Vec<SeriesSummary>> {
    let hdrs = scan(dir)?;
    Ok(group(&hdrs)
        .into_iter()
        .map(|(uid, v)| SeriesSummary {
            uid,
            modality: v[0].modality.clone(),
            n_files: v.len(),
            is_image: v.iter().all(|h| h.is_image),
        })
        .collect())
}

fn group(hdrs: &[FileHdr]) -> BTreeMap<String, Vec<FileHdr>> {
    let mut m: BTreeMap<String, Vec<FileHdr>> = BTreeMap::new();
    for h in hdrs {
        m.entry(h.series_uid.clone()).or_default().push(h.clone());
    }
    m
}

/// Geometry facts of one slice.
#[derive(Debug, Clone)]
struct SliceHdr {
    path: PathBuf,
    ipp: [f64; 3],
    iop: [f64; 6],
    ps: [f64; 2],
    rows: usize,
    cols: usize,
    slope: f64,
    inter: f64,
    dtype: DType,
    thickness: Option<f64>,
}

fn slice_hdr(path: &Path, obj: &InMemDicomObject) -> Result<SliceHdr> {
    let ipp = need(
        path,
        tags::IMAGE_POSITION_PATIENT,
        get_f64s(path, obj, tags::IMAGE_POSITION_PATIENT)?,
    )?;
    let iop = need(
        path,
        tags::IMAGE_ORIENTATION_PATIENT,
        get_f64s(path, obj, tags::IMAGE_ORIENTATION_PATIENT)?,
    )?;
    let ps = need(
        path,
        tags::PIXEL_SPACING,
        get_f64s(path, obj, tags::PIXEL_SPACING)?,
    )?;
    if ipp.len() != 3 {
        return Err(tag_err(
            path,
            tags::IMAGE_POSITION_PATIENT,
            format!("expected 3 values, found {}", ipp.len()),
        ));
    }
    if iop.len() != 6 {
        return Err(tag_err(
            path,
            tags::IMAGE_ORIENTATION_PATIENT,
            format!("expected 6 values, found {}", iop.len()),
        ));
    }
    if ps.len() != 2 || ps.iter().any(|&s| s <= 0.0) {
        return Err(tag_err(
            path,
            tags::PIXEL_SPACING,
            format!("expected 2 positive values, found {ps:?}"),
        ));
    }
    let rows = need(path, tags::ROWS, get_int(path, obj, tags::ROWS)?)?;
    let cols = need(path, tags::COLUMNS, get_int(path, obj, tags::COLUMNS)?)?;
    if rows < 1 || cols < 1 {
        return Err(tag_err(
            path,
            tags::ROWS,
            format!("Rows x Columns must be positive, found {rows} x {cols}"),
        ));
    }
    if let Some(n) = get_int(path, obj, tags::NUMBER_OF_FRAMES)?
        && n != 1
    {
        return Err(tag_err(
            path,
            tags::NUMBER_OF_FRAMES,
            format!("multi-frame images ({n} frames) are not supported"),
        ));
    }
    let slope = get_f64s(path, obj, tags::RESCALE_SLOPE)?
        .and_then(|v| v.first().copied())
        .unwrap_or(1.0);
    let inter = get_f64s(path, obj, tags::RESCALE_INTERCEPT)?
        .and_then(|v| v.first().copied())
        .unwrap_or(0.0);
    let bits = get_int(path, obj, tags::BITS_ALLOCATED)?.unwrap_or(16);
    let signed = get_int(path, obj, tags::PIXEL_REPRESENTATION)?.unwrap_or(0) == 1;
    let dtype = match (bits, signed) {
        (8, false) => DType::U8,
        (8, true) => DType::I8,
        (16, false) => DType::U16,
        (16, true) => DType::I16,
        (32, false) => DType::U32,
        (32, true) => DType::I32,
        _ => {
            return Err(tag_err(
                path,
                tags::BITS_ALLOCATED,
                format!("unsupported BitsAllocated {bits}"),
            ));
        }
    };
    let thickness = get_f64s(path, obj, tags::SLICE_THICKNESS)
        .ok()
        .flatten()
        .and_then(|v| v.first().copied());
    Ok(SliceHdr {
        path: path.to_path_buf(),
        ipp: [ipp[0], ipp[1], ipp[2]],
        iop: [iop[0], iop[1], iop[2], iop[3], iop[4], iop[5]],
        ps: [ps[0], ps[1]],
        rows: rows as usize,
        cols: cols as usize,
        slope,
        inter,
        dtype,
        thickness,
    })
}

fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

fn choose_series(
    dir: &Path,
    hdrs: &[FileHdr],
    uid: Option<&str>,
) -> Result<(String, Vec<FileHdr>)> {
    let groups = group(hdrs);
    let summaries = |only_images: bool| -> Vec<String> {
        groups
            .iter()
            .filter(|(_, v)| !only_images || v.iter().all(|h| h.is_image))
            .map(|(u, v)| {
                SeriesSummary {
                    uid: u.clone(),
                    modality: v[0].modality.clone(),
                    n_files: v.len(),
                    is_image: true,
                }
                .to_string()
            })
            .collect()
    };
    if let Some(u) = uid {
        let v = groups.get(u).ok_or_else(|| IoError::SeriesNotFound {
            dir: dir.to_path_buf(),
            uid: u.to_string(),
            available: summaries(false),
        })?;
        let files: Vec<FileHdr> = v.iter().filter(|h| h.is_image).cloned().collect();
        if files.is_empty() {
            return Err(IoError::NoSeries {
                dir: dir.to_path_buf(),
                reason: format!("series {u} has no image files"),
            });
        }
        return Ok((u.to_string(), files));
    }
    let images: Vec<(&String, &Vec<FileHdr>)> = groups
        .iter()
        .filter(|(_, v)| v.iter().any(|h| h.is_image))
        .collect();
    match images.len() {
        0 => Err(IoError::NoSeries {
            dir: dir.to_path_buf(),
            reason: "no file carries image pixel data".into(),
        }),
        1 => {
            let (u, v) = images[0];
            Ok((
                u.clone(),
                v.iter().filter(|h| h.is_image).cloned().collect(),
            ))
        }
        _ => Err(IoError::MultipleSeries {
            dir: dir.to_path_buf(),
            series: summaries(true),
        }),
    }
}

/// Relative tolerance on the slice step (and 0.01 mm absolute) before a series is called irregular.
pub const SLICE_STEP_TOLERANCE: f64 = 0.01;

/// Reads one CT series from `dir` in HU. With several image series in the folder, `series_uid`
/// picks one; without it the error lists them.
pub fn read_dicom_series(dir: &Path, series_uid: Option<&str>) -> Result<(Volume<f32>, DicomMeta)> {
    let hdrs = scan(dir)?;
    let (uid, files) = choose_series(dir, &hdrs, series_uid)?;
    let mut slices: Vec<SliceHdr> = files
        .par_iter()
        .map(|h| slice_hdr(&h.path, &h.header))
        .collect::<Result<_>>()?;
    drop(hdrs);
    let first = slices[0].clone();
    let row = [first.iop[0], first.iop[1], first.iop[2]];
    let col = [first.iop[3], first.iop[4], first.iop[5]];
    let normal = cross(row, col);
    // Row and column cosines must be orthonormal before positions are projected on their
    // normal: parallel cosines give a zero normal, and every slice would look like a duplicate.
    Geometry::new(
        [1.0; 3],
        [0.0; 3],
        [
            [row[0], col[0], normal[0]],
            [row[1], col[1], normal[1]],
            [row[2], col[2], normal[2]],
        ],
        Space::Lps,
    )
    .map_err(|e| tag_err(&first.path, tags::IMAGE_ORIENTATION_PATIENT, e.to_string()))?;
    for s in &slices {
        if s.iop
            .iter()
            .zip(first.iop.iter())
            .any(|(a, b)| (a - b).abs() > 1e-4)
        {
            return Err(tag_err(
                &s.path,
                tags::IMAGE_ORIENTATION_PATIENT,
                format!("differs from {} within the series", first.path.display()),
            ));
        }
        if (s.ps[0] - first.ps[0]).abs() > 1e-4 || (s.ps[1] - first.ps[1]).abs() > 1e-4 {
            return Err(tag_err(
                &s.path,
                tags::PIXEL_SPACING,
                format!("differs from {} within the series", first.path.display()),
            ));
        }
        if s.rows != first.rows || s.cols != first.cols {
            return Err(tag_err(
                &s.path,
                tags::ROWS,
                format!(
                    "Rows x Columns {} x {} differ from {} x {} in {}",
                    s.rows,
                    s.cols,
                    first.rows,
                    first.cols,
                    first.path.display()
                ),
            ));
        }
    }
    slices.sort_by(|a, b| dot(normal, a.ipp).total_cmp(&dot(normal, b.ipp)));
    let pos: Vec<f64> = slices.iter().map(|s| dot(normal, s.ipp)).collect();
    let n = slices.len();
    let dk = if n >= 2 {
        let step = (pos[n - 1] - pos[0]) / (n - 1) as f64;
        for w in 0..n - 1 {
            if (pos[w + 1] - pos[w]).abs() < 1e-4 {
                return Err(IoError::SliceSpacing {
                    dir: dir.to_path_buf(),
                    detail: format!(
                        "{} and {} are at the same position along the normal (duplicate slice? see ImagePositionPatient)",
                        slices[w].path.display(),
                        slices[w + 1].path.display()
                    ),
                });
            }
        }
        // Report the worst step, so a missing slice is named where it is.
        let (w, d) = (0..n - 1)
            .map(|w| (w, pos[w + 1] - pos[w]))
            .max_by(|a, b| (a.1 - step).abs().total_cmp(&(b.1 - step).abs()))
            .unwrap_or((0, step));
        if (d - step).abs() > SLICE_STEP_TOLERANCE * step + 0.01 {
            return Err(IoError::SliceSpacing {
                dir: dir.to_path_buf(),
                detail: format!(
                    "step {:.4} mm between {} and {} differs from the mean step {:.4} mm (missing slice or variable spacing)",
                    d,
                    slices[w].path.display(),
                    slices[w + 1].path.display(),
                    step
                ),
            });
        }
        // Gantry tilt: the slice origins must move along the normal.
        let v = [
            slices[n - 1].ipp[0] - slices[0].ipp[0],
            slices[n - 1].ipp[1] - slices[0].ipp[1],
            slices[n - 1].ipp[2] - slices[0].ipp[2],
        ];
        let along = dot(v, normal);
        let off = ((dot(v, v) - along * along).max(0.0)).sqrt();
        if off > 1e-3 * along.abs().max(1.0) {
            return Err(IoError::SliceSpacing {
                dir: dir.to_path_buf(),
                detail: format!(
                    "ImagePositionPatient moves {off:.3} mm off the slice normal (gantry tilt is not supported)"
                ),
            });
        }
        step
    } else {
        first.thickness.filter(|t| *t > 0.0).unwrap_or(1.0)
    };
    let shape = [first.cols, first.rows, n];
    check_alloc(shape, 4).map_err(|e| IoError::core(dir, e))?;
    let geometry = Geometry::new(
        [first.ps[1], first.ps[0], dk],
        slices[0].ipp,
        [
            [row[0], col[0], normal[0]],
            [row[1], col[1], normal[1]],
            [row[2], col[2], normal[2]],
        ],
        Space::Lps,
    )
    .map_err(|e| tag_err(&first.path, tags::IMAGE_ORIENTATION_PATIENT, e.to_string()))?;

    // Slabs of slices decode in parallel into reused planes; each slab is then laid out (file
    // order -> C layout) in one pass, so nothing the size of the volume exists twice.
    let plane = shape[0] * shape[1];
    let mut data = crate::layout::zeroed_f32(plane * n);
    let mut planes: Vec<Vec<f32>> = (0..DECODE_SLAB.min(n)).map(|_| vec![0f32; plane]).collect();
    for (c, slab) in slices.chunks(DECODE_SLAB).enumerate() {
        planes[..slab.len()]
            .par_iter_mut()
            .zip(slab)
            .try_for_each(|(p, s)| decode_slice(s, p, true))?;
        let refs: Vec<&[f32]> = planes[..slab.len()].iter().map(Vec::as_slice).collect();
        crate::layout::planes_into_c(&refs, c * DECODE_SLAB, shape, &mut data);
    }
    drop(planes);
    let vol = Volume::from_vec_c(shape, data, geometry).map_err(|e| IoError::core(dir, e))?;
    let ts = OpenFileOptions::new()
        .read_until(tags::PIXEL_DATA)
        .open_file(&first.path)
        .map(|o| {
            o.meta()
                .transfer_syntax()
                .trim_end_matches('\0')
                .to_string()
        })
        .unwrap_or_default();
    Ok((
        vol,
        DicomMeta {
            series_uid: uid,
            n_slices: n,
            dtype: first.dtype,
            transfer_syntax: ts,
            rescale: (first.slope, first.inter),
            geometry,
            shape,
        },
    ))
}

/// Slices decoded per slab: enough to keep every thread busy, few enough that the planes stay
/// small next to the volume.
const DECODE_SLAB: usize = 16;

/// Uncompressed little-endian transfer syntaxes (implicit and explicit VR): their PixelData is
/// the stored words themselves, read without dicom-pixeldata's per-value conversion.
const NATIVE_LE: [&str; 2] = ["1.2.840.10008.1.2", "1.2.840.10008.1.2.1"];

/// Decodes slice `s` into `out` (`rows * cols` values, file order), rescaled to HU. With
/// `native`, little-endian uncompressed data are converted straight from the stored words; any
/// other transfer syntax (or `!native`) goes through dicom-pixeldata. Both give the stored value (no masking of bits above
/// BitsStored, as dicom-pixeldata without a modality LUT) times slope plus intercept, in f64.
fn decode_slice(s: &SliceHdr, out: &mut [f32], native: bool) -> Result<()> {
    let err = |reason: String| IoError::Dicom {
        path: s.path.clone(),
        reason,
    };
    let obj = dicom_object::open_file(&s.path).map_err(|e| err(e.to_string()))?;
    let n = s.rows * s.cols;
    let truncated = |found: usize| IoError::Truncated {
        path: s.path.clone(),
        what: "PixelData".into(),
        expected: n as u64,
        found: found as u64,
    };
    let rescale = |v: f64| (v * s.slope + s.inter) as f32;
    let ts = obj.meta().transfer_syntax().trim_end_matches('\0');
    let one_sample = get_int(&s.path, &obj, tags::SAMPLES_PER_PIXEL)?.is_none_or(|v| v == 1);
    if native && NATIVE_LE.contains(&ts) && one_sample {
        let px = obj
            .element(tags::PIXEL_DATA)
            .map_err(|e| tag_err(&s.path, tags::PIXEL_DATA, e.to_string()))?;
        if let Ok(bytes) = px.value().to_bytes() {
            let size = s.dtype.size();
            if bytes.len() < n * size {
                return Err(truncated(bytes.len() / size));
            }
            let b = &bytes[..n * size];
            macro_rules! conv {
                ($t:ty) => {
                    for (o, c) in out.iter_mut().zip(b.chunks_exact(size)) {
                        *o = rescale(<$t>::from_le_bytes(c.try_into().expect("size")) as f64);
                    }
                };
            }
            match s.dtype {
                DType::U8 => conv!(u8),
                DType::I8 => conv!(i8),
                DType::U16 => conv!(u16),
                DType::I16 => conv!(i16),
                DType::U32 => conv!(u32),
                DType::I32 => conv!(i32),
                _ => return Err(err(format!("no native decoding for {}", s.dtype))),
            }
            return Ok(());
        }
    }
    let px = obj.decode_pixel_data().map_err(|e| {
        err(format!(
            "cannot decode PixelData (transfer syntax {ts}): {e}"
        ))
    })?;
    let opts = ConvertOptions::new().with_modality_lut(ModalityLutOption::None);
    let raw: Vec<f64> = px
        .to_vec_with_options(&opts)
        .map_err(|e| err(format!("cannot convert PixelData: {e}")))?;
    if raw.len() < n {
        return Err(truncated(raw.len()));
    }
    for (o, &v) in out.iter_mut().zip(&raw[..n]) {
        *o = rescale(v);
    }
    Ok(())
}

/// ROI names of an RTSTRUCT, in file order.
pub fn list_rtstruct_rois(file: &Path) -> Result<Vec<String>> {
    let obj = open_rtstruct(file)?;
    Ok(roi_table(file, &obj)?.into_iter().map(|(_, n)| n).collect())
}

fn open_rtstruct(file: &Path) -> Result<InMemDicomObject> {
    let obj = dicom_object::open_file(file)
        .map_err(|e| IoError::Dicom {
            path: file.to_path_buf(),
            reason: e.to_string(),
        })?
        .into_inner();
    if obj
        .element_opt(tags::STRUCTURE_SET_ROI_SEQUENCE)
        .ok()
        .flatten()
        .is_none()
    {
        return Err(tag_err(
            file,
            tags::STRUCTURE_SET_ROI_SEQUENCE,
            "missing: not an RTSTRUCT",
        ));
    }
    Ok(obj)
}

fn roi_table(file: &Path, obj: &InMemDicomObject) -> Result<Vec<(i64, String)>> {
    let seq = need(
        file,
        tags::STRUCTURE_SET_ROI_SEQUENCE,
        obj.element_opt(tags::STRUCTURE_SET_ROI_SEQUENCE)
            .ok()
            .flatten(),
    )?;
    let items = seq
        .items()
        .ok_or_else(|| tag_err(file, tags::STRUCTURE_SET_ROI_SEQUENCE, "not a sequence"))?;
    let mut out = Vec::new();
    for it in items {
        let num = need(file, tags::ROI_NUMBER, get_int(file, it, tags::ROI_NUMBER)?)?;
        let name = get_str(it, tags::ROI_NAME).unwrap_or_default();
        out.push((num, name));
    }
    Ok(out)
}

/// Rasterises the CLOSED_PLANAR contours of ROI `roi_name` onto the grid (`reference`,
/// `shape`): each contour goes to its nearest slice along k, voxel centres inside it by the
/// even-odd rule; contours on the same slice combine by XOR so holes stay holes.
pub fn read_rtstruct_mask(
    file: &Path,
    roi_name: &str,
    reference: &Geometry,
    shape: [usize; 3],
) -> Result<Mask> {
    let obj = open_rtstruct(file)?;
    let table = roi_table(file, &obj)?;
    let number = table
        .iter()
        .find(|(_, n)| n == roi_name)
        .or_else(|| {
            table
                .iter()
                .find(|(_, n)| n.trim().eq_ignore_ascii_case(roi_name.trim()))
        })
        .map(|(k, _)| *k)
        .ok_or_else(|| IoError::RoiNotFound {
            path: file.to_path_buf(),
            roi: roi_name.to_string(),
            available: table.iter().map(|(_, n)| n.clone()).collect(),
        })?;
    let mut mask = Mask::filled(shape, 0u8, *reference).map_err(|e| IoError::core(file, e))?;
    let seq = need(
        file,
        tags::ROI_CONTOUR_SEQUENCE,
        obj.element_opt(tags::ROI_CONTOUR_SEQUENCE).ok().flatten(),
    )?;
    let items = seq
        .items()
        .ok_or_else(|| tag_err(file, tags::ROI_CONTOUR_SEQUENCE, "not a sequence"))?;
    let mut n_contours = 0usize;
    let mut off_grid = 0usize;
    for it in items {
        if get_int(file, it, tags::REFERENCED_ROI_NUMBER)? != Some(number) {
            continue;
        }
        let Some(cs) = it.element_opt(tags::CONTOUR_SEQUENCE).ok().flatten() else {
            continue;
        };
        let Some(contours) = cs.items() else { continue };
        for c in contours {
            let kind = get_str(c, tags::CONTOUR_GEOMETRIC_TYPE).unwrap_or_default();
            if kind != "CLOSED_PLANAR" {
                continue;
            }
            let pts = need(
                file,
                tags::CONTOUR_DATA,
                get_f64s(file, c, tags::CONTOUR_DATA)?,
            )?;
            if pts.len() % 3 != 0 {
                return Err(tag_err(
                    file,
                    tags::CONTOUR_DATA,
                    format!("{} values is not a multiple of 3", pts.len()),
                ));
            }
            if pts.len() < 9 {
                continue;
            }
            let poly: Vec<[f64; 3]> = pts
                .chunks_exact(3)
                .map(|p| reference.world_to_index([p[0], p[1], p[2]]))
                .collect();
            let kf = poly.iter().map(|p| p[2]).sum::<f64>() / poly.len() as f64;
            let k = kf.round();
            if !(k >= 0.0 && k < shape[2] as f64) {
                off_grid += 1;
                continue;
            }
            n_contours += 1;
            fill_polygon(&mut mask, k as usize, &poly);
        }
    }
    if n_contours == 0 {
        return Err(tag_err(
            file,
            tags::CONTOUR_SEQUENCE,
            format!(
                "ROI `{roi_name}` has no CLOSED_PLANAR contour on the image grid ({off_grid} lie outside it)"
            ),
        ));
    }
    if off_grid > 0 {
        log::warn!(
            "{}: {off_grid} contours of ROI `{roi_name}` lie outside the image and were skipped",
            file.display()
        );
    }
    Ok(mask)
}

/// XORs the voxel centres inside `poly` (index coordinates; x = i, y = j) into slice `k`.
fn fill_polygon(mask: &mut Mask, k: usize, poly: &[[f64; 3]]) {
    let [ni, nj, _] = mask.shape();
    let ymin = poly.iter().map(|p| p[1]).fold(f64::INFINITY, f64::min);
    let ymax = poly.iter().map(|p| p[1]).fold(f64::NEG_INFINITY, f64::max);
    let j0 = ymin.ceil().max(0.0) as usize;
    let j1 = ymax.floor().min(nj as f64 - 1.0);
    if j1 < 0.0 {
        return;
    }
    let mut xs = Vec::new();
    for j in j0..=(j1 as usize) {
        let y = j as f64;
        xs.clear();
        for e in 0..poly.len() {
            let p = poly[e];
            let q = poly[(e + 1) % poly.len()];
            if (p[1] <= y) != (q[1] <= y) {
                xs.push(p[0] + (y - p[1]) * (q[0] - p[0]) / (q[1] - p[1]));
            }
        }
        xs.sort_by(f64::total_cmp);
        for pair in xs.chunks_exact(2) {
            // Centres i with x0 <= i < x1.
            let a = pair[0].ceil().max(0.0);
            let b = (pair[1].ceil() - 1.0).min(ni as f64 - 1.0);
            if b < a {
                continue;
            }
            for i in (a as usize)..=(b as usize) {
                if let Some(v) = mask.data.get_mut([i, j, k]) {
                    *v ^= 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dicom_write::{DicomSeriesOptions, write_dicom_series};

    /// The native fast path gives exactly dicom-pixeldata's values (the reference decoder), on
    /// uncompressed files with a non-unit rescale slope.
    #[test]
    fn native_words_equal_dicom_pixeldata() {
        let g = Geometry::new(
            [0.7, 0.9, 2.5],
            [-40.0, 25.0, 110.0],
            identity(),
            Space::Lps,
        )
        .expect("grid");
        let shape = [13, 9, 4];
        let mut v = Volume::filled(shape, 0.0f32, g).expect("volume");
        for ((i, j, k), x) in v.data.indexed_iter_mut() {
            // Beyond int16 at slope 1, so the writer chooses a slope.
            *x = -1024.0 + ((977 * i + 131 * j + 7919 * k) % 90_000) as f32;
        }
        let d = tempfile::tempdir().expect("tempdir");
        let opts = DicomSeriesOptions {
            case_id: "case-1".into(),
            uid_seed: 3,
            series_description: "native test".into(),
        };
        write_dicom_series(d.path(), &v, &opts).expect("write");
        let hdrs = scan(d.path()).expect("scan");
        let mut slopes = Vec::new();
        for h in &hdrs {
            let s = slice_hdr(&h.path, &h.header).expect("header");
            let ts = dicom_object::open_file(&h.path).expect("open");
            let ts = ts.meta().transfer_syntax().trim_end_matches('\0');
            assert!(
                NATIVE_LE.contains(&ts),
                "{ts}: the fast path is not exercised"
            );
            let n = s.rows * s.cols;
            let (mut fast, mut slow) = (vec![f32::NAN; n], vec![f32::NAN; n]);
            decode_slice(&s, &mut fast, true).expect("native");
            decode_slice(&s, &mut slow, false).expect("dicom-pixeldata");
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&fast), bits(&slow), "{}", h.path.display());
            slopes.push(s.slope);
        }
        assert!(slopes.iter().all(|&s| s != 1.0), "slopes {slopes:?}");
    }

    fn identity() -> [[f64; 3]; 3] {
        [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    }
}
