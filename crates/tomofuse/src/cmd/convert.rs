//! `tomofuse convert IN OUT`: DICOM/NRRD/NIfTI to NIfTI; with `--rtstruct FILE --roi NAME`, the
//! ROI rasterised on IN's grid is written instead (uint8 0/1).

use anyhow::{Context, bail};
use std::path::PathBuf;
use tomofuse_io::{read_image_series, read_rtstruct_mask, write_nifti, write_nifti_as};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Input: NIfTI/NRRD file or DICOM series folder (the reference grid for --rtstruct).
    pub input: PathBuf,
    /// Output NIfTI (.nii or .nii.gz).
    pub output: PathBuf,
    /// RTSTRUCT file whose ROI is rasterised onto the input grid.
    #[arg(long, requires = "roi")]
    pub rtstruct: Option<PathBuf>,
    /// ROI name in the RTSTRUCT (StructureSetROISequence ROIName).
    #[arg(long, requires = "rtstruct")]
    pub roi: Option<String>,
    /// SeriesInstanceUID to pick when the DICOM folder holds several series.
    #[arg(long)]
    pub series_uid: Option<String>,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let (vol, info) = read_image_series(&a.input, a.series_uid.as_deref())
        .with_context(|| format!("cannot read {}", a.input.display()))?;
    if let (Some(rs), Some(roi)) = (&a.rtstruct, &a.roi) {
        let mask = read_rtstruct_mask(rs, roi, &vol.geometry, vol.shape())
            .with_context(|| format!("cannot rasterise ROI `{roi}`"))?;
        write_nifti(&a.output, &mask)?;
        log::info!(
            "wrote {} ({} voxels in ROI `{roi}`)",
            a.output.display(),
            mask.count_nonzero()
        );
        return Ok(());
    }
    if a.rtstruct.is_some() != a.roi.is_some() {
        bail!("--rtstruct and --roi go together");
    }
    // Keep the stored type when values were not scaled; scaled integers (DICOM HU) go to int16
    // when they fit, anything else to float32.
    let target = info.kept_dtype(&vol, false);
    write_nifti_as(&a.output, &vol, target)?;
    log::info!(
        "wrote {} ({}, shape {:?})",
        a.output.display(),
        target,
        vol.shape()
    );
    Ok(())
}
