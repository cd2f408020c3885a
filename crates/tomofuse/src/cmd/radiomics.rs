//! `tomofuse radiomics`: IBSI radiomics features of one case (`--image/--mask`) or of every
//! case of a manifest CSV (`--manifest`, columns `case_id,image,mask[,label]`, cases in
//! parallel). Writes CSV (wide: one row per case; long: one row per feature) and a JSON
//! provenance sidecar `<out>.provenance.json` (crate version, settings, sha256 of inputs).
//! `--params FILE.yaml` reads a PyRadiomics parameter file as it is (the radiomics crate's
//! `settings::pyradiomics_params`): PyRadiomics' conventions, image types and column names
//! (`original_firstorder_Mean`, `wavelet-HLL_glszm_ZoneEntropy`).
//!
//! With `--voxel-map`, the kernel radius and masked kernel come from the parameter file's
//! `voxelSetting` (`kernelRadius`, `maskedKernel`) unless given on the command line; a flag
//! that differs from the file's value is an error naming both (as `--label` against
//! `setting.label`), and without either PyRadiomics' defaults apply (1, true). The file's
//! `initValue` sets the value outside the ROI (default NaN); `voxelBatch` is checked and has
//! no effect (only PyRadiomics' memory depends on it).

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
#[command(group(clap::ArgGroup::new("settings").required(true).args(["preset", "config", "params"])))]
pub struct Args {
    /// Image (NIfTI, NRRD or DICOM folder).
    #[arg(long, requires = "mask")]
    pub image: Option<PathBuf>,
    /// ROI mask on the image grid.
    #[arg(long)]
    pub mask: Option<PathBuf>,
    /// ROI label in the mask (default: the parameter file's `label`, else 1).
    #[arg(long)]
    pub label: Option<u8>,
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
    /// PyRadiomics parameter file (YAML, as PyRadiomics 3.0.1 reads it; unknown keys and
    /// options tomofuse does not implement are errors).
    #[arg(long)]
    pub params: Option<PathBuf>,
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
    /// Kernel radius R in voxels (kernel `(2R+1)^3`). Default: the parameter file's
    /// `voxelSetting.kernelRadius`, else 1; a different value than the file's is an error.
    #[arg(long)]
    pub kernel_radius: Option<usize>,
    /// Only ROI voxels of the kernel take part (PyRadiomics `maskedKernel`). Default: the
    /// parameter file's `voxelSetting.maskedKernel`, else true; a different value than the
    /// file's is an error.
    #[arg(long, action = clap::ArgAction::Set)]
    pub masked_kernel: Option<bool>,
    /// Comma-separated maps: `all`, classes (`firstorder,glcm`) or names (`glcm_Contrast`).
    /// Default: the parameter file's `featureClass` (shape has no maps and is left out, as
    /// in PyRadiomics), else `all`; with a `featureClass` in the file, give one or the other.
    #[arg(long, value_delimiter = ',')]
    pub features: Option<Vec<String>>,
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

/// The cases of a manifest, read by the cohort crate's manifest reader (the one CSV reader for
/// manifests: quoting, BOM, paths relative to the manifest): `case_id`, `image`, `mask` and an
/// optional per-case `label` (the mask value to extract).
fn read_manifest(path: &Path, default_label: u8) -> anyhow::Result<Vec<Case>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read manifest {}", path.display()))?;
    if text.trim().is_empty() {
        bail!("manifest {} is empty", path.display());
    }
    let cohort = tomofuse_cohort::read_manifest(path)?;
    let mut cases = Vec::new();
    for (n, c) in cohort.cases.iter().enumerate() {
        let tomofuse_cohort::Source::Files { image, mask } = &c.source else {
            bail!(
                "manifest {} data row {}: no image file",
                path.display(),
                n + 1
            );
        };
        let mask = mask.clone().with_context(|| {
            format!(
                "manifest {} data row {} (case `{}`): missing `mask` (radiomics needs one per case)",
                path.display(),
                n + 1,
                c.id
            )
        })?;
        let label = match c.clinical.get("label") {
            None | Some(tomofuse_cohort::ClinicalValue::Missing) => default_label,
            Some(v) => v
                .as_f64()
                .filter(|x| x.fract() == 0.0 && (0.0..=255.0).contains(x))
                .map(|x| x as u8)
                .with_context(|| {
                    format!(
                        "manifest {} data row {}: label `{v}` is not 0..=255",
                        path.display(),
                        n + 1
                    )
                })?,
        };
        cases.push(Case {
            id: c.id.clone(),
            image: image.clone(),
            mask,
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
    // Everything is checked before any case is read or any file written.
    let (settings, file_label, file_voxel) = match (&a.preset, &a.config, &a.params) {
        (Some(p), _, _) => (Settings::preset(p)?, None, None),
        (None, Some(f), _) => (Settings::from_file(f)?, None, None),
        (None, None, Some(f)) => {
            let p = tomofuse_radiomics::settings::pyradiomics_params::from_file(f)?;
            (p.settings, p.label_given.then_some(p.label), Some(p.voxel))
        }
        (None, None, None) => bail!("give --preset, --config or --params"),
    };
    let file_voxel = file_voxel.unwrap_or_default();
    let label = match (a.label, file_label) {
        (Some(l), Some(f)) if l != f => {
            bail!("--label {l} differs from the parameter file's `setting.label: {f}`")
        }
        (Some(l), _) | (None, Some(l)) => l,
        (None, None) => 1,
    };
    if a.voxel.voxel_map {
        return run_voxel_map(&a, &settings, label, &file_voxel);
    }
    let out = a.out.clone().context("give --out")?;
    let cases = match (&a.manifest, &a.image, &a.mask) {
        (Some(m), _, _) => read_manifest(m, label)?,
        (None, Some(i), Some(m)) => vec![Case {
            id: a.case_id.clone().unwrap_or_else(|| {
                i.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| i.display().to_string())
            }),
            image: i.clone(),
            mask: m.clone(),
            label,
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

/// A command-line value against the parameter file's: equal or one absent is fine, a
/// difference is an error naming both.
fn flag_or_file<T: PartialEq + std::fmt::Display + Copy>(
    flag: Option<T>,
    file: Option<T>,
    flag_name: &str,
    key: &str,
    default: T,
) -> anyhow::Result<T> {
    match (flag, file) {
        (Some(a), Some(b)) if a != b => bail!(
            "{flag_name} {a} differs from the parameter file's `voxelSetting.{key}: {b}` (give one, or the same value)"
        ),
        (Some(v), _) | (None, Some(v)) => Ok(v),
        (None, None) => Ok(default),
    }
}

/// `--voxel-map`: one NIfTI per feature map (input grid, the file's `initValue` or NaN
/// outside the ROI) plus `index.csv` (feature, file, min, max, nan_count) in `--out-dir`.
fn run_voxel_map(
    a: &Args,
    settings: &Settings,
    label: u8,
    file: &tomofuse_radiomics::settings::pyradiomics_params::VoxelSetting,
) -> anyhow::Result<()> {
    let (Some(img), Some(msk), Some(dir)) = (&a.image, &a.mask, &a.voxel.out_dir) else {
        bail!("--voxel-map needs --image, --mask and --out-dir");
    };
    let radius = flag_or_file(
        a.voxel.kernel_radius,
        file.kernel_radius,
        "--kernel-radius",
        "kernelRadius",
        1,
    )?;
    let masked = flag_or_file(
        a.voxel.masked_kernel,
        file.masked_kernel,
        "--masked-kernel",
        "maskedKernel",
        true,
    )?;
    let mut params =
        tomofuse_radiomics::VoxelParams::from_settings(settings, radius, masked, label)?;
    if let Some(v) = file.init_value {
        params.init_value = v;
    }
    let image = tomofuse_io::read_image(img)
        .with_context(|| format!("cannot read image {}", img.display()))?;
    let mask = tomofuse_io::read_mask(msk)
        .with_context(|| format!("cannot read mask {}", msk.display()))?;
    let features = match (&a.voxel.features, settings.pyradiomics.features.is_empty()) {
        (Some(f), true) => f.clone(),
        (Some(_), false) => {
            bail!("--features and the parameter file's `featureClass` both select maps: give one")
        }
        (None, true) => vec!["all".to_string()],
        (None, false) => {
            let mut f = Vec::new();
            for (class, names) in &settings.pyradiomics.features {
                if class == "shape" {
                    continue; // no voxel maps (PyRadiomics skips shape with voxelBased)
                }
                if names.is_empty() {
                    f.push(class.clone());
                } else {
                    f.extend(names.iter().map(|n| format!("{class}_{n}")));
                }
            }
            if f.is_empty() {
                bail!(
                    "the parameter file's `featureClass` enables only shape, which has no voxel maps"
                );
            }
            f
        }
    };
    let maps =
        tomofuse_radiomics::voxel_maps(&image, &mask, &params, &features).with_context(|| {
            format!(
                "voxel maps of image {} mask {} label {}",
                img.display(),
                msk.display(),
                label
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
