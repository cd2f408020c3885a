//! Writing a CT volume as a DICOM series (one CT Image Storage file per slice, explicit VR
//! little endian, 16-bit signed pixels with a HU rescale).
//!
//! This exists so that test cohorts (`tomofuse cohort export --format dicom`) exercise the
//! same path as a hospital export: a folder of slices sorted by position, an image grid in
//! LPS, and masks stored beside it in another orientation. Only synthetic, non-identifying
//! attributes are written; the patient name and id are the case id the caller gives.

use crate::error::{IoError, Result};
use dicom_core::{DataElement, PrimitiveValue, VR, dicom_value};
use dicom_dictionary_std::{tags, uids};
use dicom_object::InMemDicomObject;
use dicom_object::meta::FileMetaTableBuilder;
use std::path::{Path, PathBuf};
use tomofuse_core::Volume;

/// What identifies the written series.
#[derive(Debug, Clone)]
pub struct DicomSeriesOptions {
    /// Written as PatientID and PatientName (a study code, never a real identifier).
    pub case_id: String,
    /// Seeds the UIDs (`2.25.<128-bit number>`), so the same export gives the same UIDs.
    pub uid_seed: u64,
    pub series_description: String,
}

/// 128-bit FNV-1a of the seed and a label: deterministic UID material.
fn fnv128(seed: u64, label: &str) -> u128 {
    const OFFSET: u128 = 0x6c62272e07bb014262b821756295c58d;
    const PRIME: u128 = 0x0000000001000000000000000000013B;
    let mut h = OFFSET;
    for b in seed.to_le_bytes().iter().chain(label.as_bytes()) {
        h ^= u128::from(*b);
        h = h.wrapping_mul(PRIME);
    }
    h
}

/// A UID under the `2.25` root (an integer form of a UUID, ISO/IEC 9834-8), at most 64 chars.
fn uid(seed: u64, label: &str) -> String {
    format!("2.25.{}", fnv128(seed, label))
}

/// A decimal string as DS holds it (at most 16 characters).
fn ds_text(v: f64) -> String {
    let mut s = format!("{v:.6}");
    while s.len() > 16 {
        s.pop();
    }
    s
}

/// The value a reader gets back from [`ds_text`].
fn ds_round(v: f64) -> f64 {
    ds_text(v).parse().unwrap_or(v)
}

fn ds(values: &[f64]) -> PrimitiveValue {
    PrimitiveValue::Strs(values.iter().map(|v| ds_text(*v)).collect())
}

/// Writes `vol` (HU) as `dir/slice-NNNN.dcm`, one file per index `k`. Rows run along index
/// axis 1 and columns along axis 0, so ImageOrientationPatient is (direction of axis 0,
/// direction of axis 1) and each slice's ImagePositionPatient is the world position of its
/// voxel (0, 0, k). Values are rounded to whole HU when they fit int16 (slope 1); otherwise a
/// slope spreads the range over int16. Returns the files in slice order.
pub fn write_dicom_series(
    dir: &Path,
    vol: &Volume<f32>,
    opts: &DicomSeriesOptions,
) -> Result<Vec<PathBuf>> {
    let io = |e: std::io::Error| IoError::Io {
        path: dir.to_path_buf(),
        error: e,
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    let [n0, n1, n2] = vol.shape();
    if n0 > usize::from(u16::MAX) || n1 > usize::from(u16::MAX) {
        return Err(IoError::Dicom {
            path: dir.to_path_buf(),
            reason: format!("a slice of {n0} x {n1} pixels exceeds DICOM's 65535 rows/columns"),
        });
    }
    let (lo, hi) = vol
        .data
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    if !(lo.is_finite() && hi.is_finite()) {
        return Err(IoError::Dicom {
            path: dir.to_path_buf(),
            reason: "the volume has non-finite values".into(),
        });
    }
    let (slope, intercept) = if lo >= -32768.0 && hi <= 32767.0 {
        (1.0f64, 0.0f64)
    } else {
        // Rounded as stored, so quantising with them is what a reader undoes.
        let s = ds_round((f64::from(hi) - f64::from(lo)) / 65535.0 * (1.0 + 1e-6));
        (s, ds_round(f64::from(lo) + 32768.0 * s))
    };
    let g = &vol.geometry;
    let d = g.direction;
    let iop = [d[0][0], d[1][0], d[2][0], d[0][1], d[1][1], d[2][1]];
    let study = uid(opts.uid_seed, &format!("study/{}", opts.case_id));
    let series = uid(opts.uid_seed, &format!("series/{}", opts.case_id));
    let frame = uid(opts.uid_seed, &format!("frame/{}", opts.case_id));
    let mut files = Vec::with_capacity(n2);
    for k in 0..n2 {
        let mut pixels = Vec::with_capacity(n0 * n1);
        for j in 0..n1 {
            for i in 0..n0 {
                let v = (f64::from(vol.data[[i, j, k]]) - intercept) / slope;
                pixels.push(v.round().clamp(-32768.0, 32767.0) as i16);
            }
        }
        let ipp = g.index_to_world([0.0, 0.0, k as f64]);
        let sop = uid(opts.uid_seed, &format!("sop/{}/{k}", opts.case_id));
        let obj = InMemDicomObject::from_element_iter([
            DataElement::new(tags::SOP_CLASS_UID, VR::UI, uids::CT_IMAGE_STORAGE),
            DataElement::new(tags::SOP_INSTANCE_UID, VR::UI, sop.as_str()),
            DataElement::new(tags::STUDY_INSTANCE_UID, VR::UI, study.as_str()),
            DataElement::new(tags::SERIES_INSTANCE_UID, VR::UI, series.as_str()),
            DataElement::new(tags::FRAME_OF_REFERENCE_UID, VR::UI, frame.as_str()),
            DataElement::new(tags::MODALITY, VR::CS, "CT"),
            DataElement::new(tags::PATIENT_NAME, VR::PN, opts.case_id.as_str()),
            DataElement::new(tags::PATIENT_ID, VR::LO, opts.case_id.as_str()),
            DataElement::new(
                tags::SERIES_DESCRIPTION,
                VR::LO,
                opts.series_description.as_str(),
            ),
            DataElement::new(tags::INSTANCE_NUMBER, VR::IS, (k + 1).to_string()),
            DataElement::new(tags::IMAGE_POSITION_PATIENT, VR::DS, ds(&ipp)),
            DataElement::new(tags::IMAGE_ORIENTATION_PATIENT, VR::DS, ds(&iop)),
            // Row spacing (between rows: axis 1), then column spacing (axis 0).
            DataElement::new(
                tags::PIXEL_SPACING,
                VR::DS,
                ds(&[g.spacing[1], g.spacing[0]]),
            ),
            DataElement::new(tags::SLICE_THICKNESS, VR::DS, ds(&[g.spacing[2]])),
            DataElement::new(tags::ROWS, VR::US, dicom_value!(U16, [n1 as u16])),
            DataElement::new(tags::COLUMNS, VR::US, dicom_value!(U16, [n0 as u16])),
            DataElement::new(tags::SAMPLES_PER_PIXEL, VR::US, dicom_value!(U16, [1])),
            DataElement::new(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, "MONOCHROME2"),
            DataElement::new(tags::BITS_ALLOCATED, VR::US, dicom_value!(U16, [16])),
            DataElement::new(tags::BITS_STORED, VR::US, dicom_value!(U16, [16])),
            DataElement::new(tags::HIGH_BIT, VR::US, dicom_value!(U16, [15])),
            DataElement::new(tags::PIXEL_REPRESENTATION, VR::US, dicom_value!(U16, [1])),
            DataElement::new(tags::RESCALE_INTERCEPT, VR::DS, ds(&[intercept])),
            DataElement::new(tags::RESCALE_SLOPE, VR::DS, ds(&[slope])),
            DataElement::new(tags::RESCALE_TYPE, VR::LO, "HU"),
            DataElement::new(tags::PIXEL_DATA, VR::OW, PrimitiveValue::I16(pixels.into())),
        ]);
        let file = dir.join(format!("slice-{k:04}.dcm"));
        let bad = |reason: String| IoError::Dicom {
            path: file.clone(),
            reason,
        };
        let obj = obj
            .with_meta(FileMetaTableBuilder::new().transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN))
            .map_err(|e| bad(e.to_string()))?;
        obj.write_to_file(&file).map_err(|e| bad(e.to_string()))?;
        files.push(file);
    }
    Ok(files)
}
