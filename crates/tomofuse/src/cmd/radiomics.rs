//! `tomofuse radiomics`: IBSI radiomics features of one case (`--image/--mask`) or of every
//! case of a manifest CSV (`--manifest`, columns `case_id,image,mask[,label]`, cases in
//! parallel). Writes CSV (wide: one row per case; long: one row per feature) and a JSON
//! provenance sidecar `<out>.provenance.json` (crate version, settings, sha256 of inputs).

use anyhow::{Context, bail};
use std::path::{Path, PathBuf};
use tomofuse_radiomics::{Extraction, Settings, output};

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One row per case, one column per IBSI tag (prefixed by the image type unless original).
    Wide,
    /// One row per feature: case_id, image_type, family, feature, ibsi_code, ibsi_tag, value,
    /// reason.
    Long,
}

#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("input").required(true).args(["image", "manifest"])))]
#[command(group(clap::ArgGroup::new("settings").required(true).args(["preset", "config"])))]
pub struct Args {
    /// Image (NIfTI, NRRD or DICOM folder).
    #[arg(long, requires = "mask")]
    pub image: Option<PathBuf>,
    /// ROI mask on the image grid.
    #[arg(long)]
    pub mask: Option<PathBuf>,
    /// ROI label in the mask.
    #[arg(long, default_value_t = 1)]
    pub label: u8,
    /// Case identifier written in the output (default: the image file name).
    #[arg(long)]
    pub case_id: Option<String>,
    /// Manifest CSV for batch mode: header `case_id,image,mask` plus optional `label`;
    /// relative paths are resolved against the manifest's folder.
    #[arg(long, conflicts_with_all = ["image", "mask", "case_id"])]
    pub manifest: Option<PathBuf>,
    /// Shipped settings (the list is the radiomics crate's own: `Settings::preset_names`).
    #[arg(long, ignore_case = true,
          value_parser = clap::builder::PossibleValuesParser::new(tomofuse_radiomics::Settings::preset_names()))]
    pub preset: Option<String>,
    /// Settings TOML file (validated; unknown keys are errors).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Output CSV.
    #[arg(long, required_unless_present = "voxel_map")]
    pub out: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = Format::Wide)]
    pub format: Format,
    #[command(flatten)]
    pub voxel: VoxelArgs,
}

/// `--voxel-map`: feature maps (one NIfTI per feature) instead of one value per feature.
#[derive(clap::Args, Debug)]
pub struct VoxelArgs {
    /// Compute voxel-wise feature maps (PyRadiomics `voxelBased`) of `--image`/`--mask`.
    #[arg(long, requires = "out_dir", conflicts_with_all = ["manifest", "out"])]
    pub voxel_map: bool,
    /// Kernel radius R in voxels (kernel `(2R+1)^3`).
    #[arg(long, default_value_t = 1)]
    pub kernel_radius: usize,
    /// Only ROI voxels of the kernel take part (PyRadiomics `maskedKernel`).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub masked_kernel: bool,
    /// Comma-separated maps: `all`, classes (`firstorder,glcm`) or names (`glcm_Contrast`).
    #[arg(long, default_value = "all", value_delimiter = ',')]
    pub features: Vec<String>,
    /// Folder for the maps (`<feature>.nii.gz`) and `index.csv`.
    #[arg(long, requires = "voxel_map")]
    pub out_dir: Option<PathBuf>,
}

/// One case to extract.
#[derive(Debug, Clone)]
struct Case {
    id: String,
    image: PathBuf,
    mask: PathBuf,
    label: u8,
}

fn read_manifest(path: &Path, default_label: u8) -> anyhow::Result<Vec<Case>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read manifest {}", path.display()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<String> = lines
        .next()
        .with_context(|| format!("manifest {} is empty", path.display()))?
        .trim_start_matches('\u{feff}')
        .split(',')
        .map(|s| s.trim().to_ascii_lowercase())
        .collect();
    let col = |name: &str| header.iter().position(|h| h == name);
    let (Some(ci), Some(ii), Some(mi)) = (col("case_id"), col("image"), col("mask")) else {
        bail!(
            "manifest {}: header must have columns case_id, image, mask (found {:?})",
            path.display(),
            header
        );
    };
    let li = col("label");
    let mut cases = Vec::new();
    for (n, line) in lines.enumerate() {
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        let get = |i: usize, what: &str| {
            f.get(i)
                .copied()
                .filter(|s| !s.is_empty())
                .with_context(|| {
                    format!(
                        "manifest {} data row {}: missing `{what}`",
                        path.display(),
                        n + 1
                    )
                })
        };
        let label = match li.and_then(|i| f.get(i)).filter(|s| !s.is_empty()) {
            Some(s) => s.parse::<u8>().with_context(|| {
                format!(
                    "manifest {} data row {}: label `{s}` is not 0..=255",
                    path.display(),
                    n + 1
                )
            })?,
            None => default_label,
        };
        cases.push(Case {
            id: get(ci, "case_id")?.to_string(),
            image: base.join(get(ii, "image")?),
            mask: base.join(get(mi, "mask")?),
            label,
        });
    }
    if cases.is_empty() {
        bail!("manifest {} lists no cases", path.display());
    }
    Ok(cases)
}

fn extract_case(c: &Case, settings: &Settings) -> anyhow::Result<Extraction> {
    let image = tomofuse_io::read_image(&c.image)
        .with_context(|| format!("case {}: cannot read image {}", c.id, c.image.display()))?;
    let mask = tomofuse_io::read_mask(&c.mask)
        .with_context(|| format!("case {}: cannot read mask {}", c.id, c.mask.display()))?;
    let hash = |p: &Path| -> anyhow::Result<String> {
        if p.is_file() {
            tomofuse_radiomics::sha256_file(p)
                .with_context(|| format!("cannot hash {}", p.display()))
        } else {
            Ok(String::new())
        }
    };
    let mut hashes = (hash(&c.image)?, hash(&c.mask)?);
    // A DICOM folder has no single file hash: hash the voxels and geometry instead.
    if hashes.0.is_empty() {
        hashes.0 = tomofuse_radiomics::sha256_volume(&image);
    }
    if hashes.1.is_empty() {
        hashes.1 = tomofuse_radiomics::sha256_volume(&mask);
    }
    tomofuse_radiomics::extract_with_hashes(&image, &mask, c.label, settings, Some(hashes))
        .with_context(|| {
            format!(
                "case {}: image {} mask {} label {}",
                c.id,
                c.image.display(),
                c.mask.display(),
                c.label
            )
        })
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let settings = match (&a.preset, &a.config) {
        (Some(p), _) => Settings::preset(p)?,
        (None, Some(f)) => Settings::from_file(f)?,
        (None, None) => bail!("give --preset or --config"),
    };
    if a.voxel.voxel_map {
        return run_voxel_map(&a, &settings);
    }
    let out = a.out.clone().context("give --out")?;
    let cases = match (&a.manifest, &a.image, &a.mask) {
        (Some(m), _, _) => read_manifest(m, a.label)?,
        (None, Some(i), Some(m)) => vec![Case {
            id: a.case_id.clone().unwrap_or_else(|| {
                i.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| i.display().to_string())
            }),
            image: i.clone(),
            mask: m.clone(),
            label: a.label,
        }],
        _ => bail!("give --image and --mask, or --manifest"),
    };
    let results = tomofuse_radiomics::par_map_cases(&cases, |c| extract_case(c, &settings));
    let mut done = Vec::new();
    let mut failed = Vec::new();
    for (c, r) in cases.iter().zip(results) {
        match r {
            Ok(ex) => done.push((c.id.clone(), ex)),
            Err(e) => {
                log::error!("{e:#}");
                failed.push(format!("{e:#}"));
            }
        }
    }
    if !done.is_empty() {
        let csv = match a.format {
            Format::Wide => output::wide_csv(&done),
            Format::Long => output::long_csv(&done),
        };
        std::fs::write(&out, csv).with_context(|| format!("cannot write {}", out.display()))?;
        let prov: Vec<serde_json::Value> = done
            .iter()
            .map(|(id, ex)| serde_json::json!({ "case_id": id, "provenance": ex.provenance }))
            .collect();
        let side = PathBuf::from(format!("{}.provenance.json", out.display()));
        std::fs::write(&side, serde_json::to_string_pretty(&prov)?)
            .with_context(|| format!("cannot write {}", side.display()))?;
        let nan = done
            .iter()
            .flat_map(|(_, ex)| &ex.features)
            .filter(|f| f.value.is_nan())
            .count();
        log::info!(
            "{} case(s), {} features each, {nan} NaN value(s) with reasons in the log; wrote {} and {}",
            done.len(),
            done[0].1.features.len(),
            out.display(),
            side.display()
        );
    }
    if !failed.is_empty() {
        bail!(
            "{} of {} case(s) failed:\n{}",
            failed.len(),
            cases.len(),
            failed.join("\n")
        );
    }
    Ok(())
}

/// `--voxel-map`: one NIfTI per feature map (input grid, NaN outside the ROI) plus
/// `index.csv` (feature, file, min, max, nan_count) in `--out-dir`.
fn run_voxel_map(a: &Args, settings: &Settings) -> anyhow::Result<()> {
    let (Some(img), Some(msk), Some(dir)) = (&a.image, &a.mask, &a.voxel.out_dir) else {
        bail!("--voxel-map needs --image, --mask and --out-dir");
    };
    let params = tomofuse_radiomics::VoxelParams::from_settings(
        settings,
        a.voxel.kernel_radius,
        a.voxel.masked_kernel,
        a.label,
    )?;
    let image = tomofuse_io::read_image(img)
        .with_context(|| format!("cannot read image {}", img.display()))?;
    let mask = tomofuse_io::read_mask(msk)
        .with_context(|| format!("cannot read mask {}", msk.display()))?;
    let maps = tomofuse_radiomics::voxel_maps(&image, &mask, &params, &a.voxel.features)
        .with_context(|| {
            format!(
                "voxel maps of image {} mask {} label {}",
                img.display(),
                msk.display(),
                a.label
            )
        })?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut index = String::from("feature,file,min,max,nan_count\n");
    for (name, map) in &maps {
        let file = format!("{name}.nii.gz");
        let path = dir.join(&file);
        tomofuse_io::write_nifti(&path, map)
            .with_context(|| format!("cannot write {}", path.display()))?;
        let (mut lo, mut hi, mut nan) = (f32::INFINITY, f32::NEG_INFINITY, 0usize);
        for &v in map.data.iter() {
            if v.is_nan() {
                nan += 1;
            } else {
                lo = lo.min(v);
                hi = hi.max(v);
            }
        }
        index.push_str(&format!("{name},{file},{lo},{hi},{nan}\n"));
    }
    let path = dir.join("index.csv");
    std::fs::write(&path, index).with_context(|| format!("cannot write {}", path.display()))?;
    log::info!("{} map(s) written to {}", maps.len(), dir.display());
    Ok(())
}
