//! `tomofuse resample`: resample an image (or a label mask) to a spacing or onto a reference
//! image's grid, on the CPU or a CUDA GPU.

use anyhow::{Context, Result, bail};
use std::path::PathBuf;
use tomofuse_preprocess::resample::{
    Device, GridMode, Interp, MaskInterp, ResampleOptions, output_grid, resample_mask, resample_on,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum InterpArg {
    Nearest,
    Linear,
    Bspline,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GridArg {
    /// Origin kept, size = round(n * old / new) (SimpleITK recipe).
    Itk,
    /// Grid centred on the original, size = ceil(n * old / new) (IBSI).
    Ibsi,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DtypeArg {
    /// float32 (interpolated values kept as they are).
    Float32,
    /// The input's stored type (int16 stays int16: half the bytes), values rounded to the
    /// nearest and saturated at the type's range; rescaled input (DICOM HU) as int16 when it
    /// fits, else float32. SimpleITK's Resample keeps the pixel type too.
    Input,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DeviceArg {
    Cpu,
    Cuda,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Input image: NIfTI, NRRD or a DICOM series folder.
    pub input: PathBuf,
    /// Output NIfTI (.nii or .nii.gz).
    pub output: PathBuf,
    /// Target spacing in mm as X,Y,Z (index axes i,j,k). Required unless --reference is given.
    #[arg(long, value_parser = parse_spacing)]
    pub spacing: Option<[f64; 3]>,
    /// Interpolator (bspline = cubic B-spline with prefilter, as SimpleITK's sitkBSpline).
    #[arg(long, value_enum, default_value = "linear")]
    pub interp: InterpArg,
    /// Output grid convention for --spacing.
    #[arg(long, value_enum, default_value = "itk")]
    pub grid: GridArg,
    /// Resample onto this image's grid (geometry and shape) instead of --spacing.
    #[arg(long, conflicts_with_all = ["spacing", "grid"])]
    pub reference: Option<PathBuf>,
    /// Where to run.
    #[arg(long, value_enum, default_value = "cpu")]
    pub device: DeviceArg,
    /// CUDA device ordinal with --device cuda.
    #[arg(long, default_value_t = 0)]
    pub gpu: usize,
    /// The input is a label mask, written as uint8: nearest keeps labels; linear interpolates
    /// each label's indicator and takes the arg-max with the background, ties to the lower
    /// label (SimpleITK's sitkLabelLinear; a binary mask becomes linear > 0.5).
    #[arg(long)]
    pub mask: bool,
    /// Round intensities to integers after interpolation (IBSI).
    #[arg(long)]
    pub round: bool,
    /// Stored type of the written image (not with --mask, which writes uint8).
    #[arg(long, value_enum, default_value = "float32", conflicts_with = "mask")]
    pub dtype: DtypeArg,
    /// Value of output voxels outside the input grid.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub default_value: f32,
}

fn parse_spacing(s: &str) -> std::result::Result<[f64; 3], String> {
    let v: Vec<f64> = s
        .split(',')
        .map(|x| x.trim().parse::<f64>().map_err(|e| format!("`{x}`: {e}")))
        .collect::<std::result::Result<_, _>>()?;
    let arr: [f64; 3] = v
        .try_into()
        .map_err(|_| format!("expected three numbers X,Y,Z, got `{s}`"))?;
    if arr.iter().any(|x| !x.is_finite() || *x <= 0.0) {
        return Err(format!("every spacing must be finite and > 0, got `{s}`"));
    }
    Ok(arr)
}

pub fn run(args: Args) -> Result<()> {
    let interp = match args.interp {
        InterpArg::Nearest => Interp::Nearest,
        InterpArg::Linear => Interp::Linear,
        InterpArg::Bspline => Interp::BSpline,
    };
    let grid = match args.grid {
        GridArg::Itk => GridMode::Itk,
        GridArg::Ibsi => GridMode::Ibsi,
    };
    let device = match args.device {
        DeviceArg::Cpu => Device::Cpu,
        DeviceArg::Cuda => Device::Cuda(args.gpu),
    };
    if args.reference.is_none() && args.spacing.is_none() {
        bail!("give --spacing X,Y,Z or --reference IMAGE");
    }
    let how = match (args.mask, interp) {
        (false, _) => None,
        (true, _) if device != Device::Cpu => bail!("--mask runs on the CPU only"),
        (true, Interp::Nearest) => Some(MaskInterp::Nearest),
        (true, Interp::Linear) => Some(MaskInterp::LabelLinear),
        (true, Interp::BSpline) => bail!("--mask supports --interp nearest or linear"),
    };
    // One read: the header comes with the voxels (a DICOM folder's geometry needs every
    // slice, so a separate header read would decode the series twice).
    let (v, info) = tomofuse_io::read_image_with_info(&args.input)
        .with_context(|| format!("reading {}", args.input.display()))?;
    let (geometry, shape) = match (&args.reference, args.spacing) {
        (Some(r), _) => {
            let ri = tomofuse_io::read_image_info(r)
                .with_context(|| format!("reading the reference grid {}", r.display()))?;
            (ri.geometry, ri.shape)
        }
        (None, Some(s)) => output_grid(&v.geometry, v.shape(), s, grid)
            .with_context(|| format!("output grid for {}", args.input.display()))?,
        (None, None) => unreachable!("checked above"),
    };
    if let Some(how) = how {
        let m = tomofuse_io::to_mask(&args.input, &v)
            .with_context(|| format!("reading mask {}", args.input.display()))?;
        drop(v);
        let out = resample_mask(&m, &geometry, shape, how)
            .with_context(|| format!("resampling mask {}", args.input.display()))?;
        tomofuse_io::write_nifti(&args.output, &out)
            .with_context(|| format!("writing {}", args.output.display()))?;
    } else {
        let opts = ResampleOptions {
            interp,
            default_value: args.default_value,
            round: args.round,
        };
        let t = std::time::Instant::now();
        let out = resample_on(&v, &geometry, shape, &opts, device)
            .with_context(|| format!("resampling {}", args.input.display()))?;
        log::info!(
            "resampled {:?} -> {:?} ({:?}, {:?}) in {:.3} s",
            v.shape(),
            out.shape(),
            interp,
            device,
            t.elapsed().as_secs_f64()
        );
        let dtype = match args.dtype {
            DtypeArg::Float32 => tomofuse_io::DType::F32,
            DtypeArg::Input => info.kept_dtype(&out, true),
        };
        tomofuse_io::write_nifti_as(&args.output, &out, dtype)
            .with_context(|| format!("writing {}", args.output.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_spacing;

    #[test]
    fn spacing_parsing() {
        assert_eq!(parse_spacing("1,1.5, 2").unwrap(), [1.0, 1.5, 2.0]);
        assert!(parse_spacing("1,2").is_err());
        assert!(parse_spacing("1,0,2").is_err());
        assert!(parse_spacing("1,-1,2").is_err());
        assert!(parse_spacing("1,nan,2").is_err());
    }
}
