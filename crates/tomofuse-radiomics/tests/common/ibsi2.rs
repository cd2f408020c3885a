//! IBSI-2 (filters) reference data: reading `phase1/configs.csv` and `phase2/configs.csv`,
//! turning their parameter strings into [`FilterParams`], and the phase-1 comparison shared
//! by the `ibsi2_phase1` test and the `ibsi_doc` generator.

use std::collections::HashMap;
use std::path::Path;
use tomofuse_radiomics::filters::{
    Boundary, Dims, FilterParams, GaborParams, LawsParams, LogParams, MeanParams, Plane, Pooling,
    SimoncelliParams, WaveletParams,
};

/// Rows of a comma-separated file as header -> value maps (quoted fields allowed).
pub fn read_csv(path: &Path) -> Vec<HashMap<String, String>> {
    let text = std::fs::read_to_string(path).expect("CSV readable");
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header = super::split_csv(lines.next().expect("header"));
    lines
        .map(|l| {
            header
                .iter()
                .cloned()
                .zip(super::split_csv(l))
                .collect::<HashMap<_, _>>()
        })
        .collect()
}

/// `key=value; ...` with each value stripped of a trailing explanation in parentheses.
/// The full value (explanation included) is kept under `key.raw`.
pub fn parse_params(s: &str) -> HashMap<String, String> {
    let mut m = HashMap::new();
    for part in s.split(';') {
        let Some((k, v)) = part.split_once('=') else {
            continue;
        };
        let (k, raw) = (k.trim().to_string(), v.trim().to_string());
        let short = match raw.find(" (") {
            Some(p) => raw[..p].trim().to_string(),
            None => raw.clone(),
        };
        m.insert(format!("{k}.raw"), raw);
        m.insert(k, short);
    }
    m
}

/// A number or a multiple of pi: `0.5`, `pi/3`, `5*pi/4`, `2*pi`.
pub fn parse_angle(s: &str) -> Result<f64, String> {
    let s = s.trim();
    if let Ok(v) = s.parse::<f64>() {
        return Ok(v);
    }
    let (num, den) = match s.split_once('/') {
        Some((a, b)) => (
            a.trim(),
            b.trim().parse::<f64>().map_err(|e| format!("{s}: {e}"))?,
        ),
        None => (s, 1.0),
    };
    let factor = match num.strip_suffix("pi").map(str::trim) {
        Some("") => 1.0,
        Some(f) => f
            .trim_end_matches('*')
            .trim()
            .parse::<f64>()
            .map_err(|e| format!("{s}: {e}"))?,
        None => return Err(format!("cannot parse angle `{s}`")),
    };
    Ok(factor * std::f64::consts::PI / den)
}

fn get<'a>(p: &'a HashMap<String, String>, k: &str) -> Result<&'a str, String> {
    p.get(k)
        .map(String::as_str)
        .ok_or_else(|| format!("parameter `{k}` missing"))
}

fn num<T: std::str::FromStr>(p: &HashMap<String, String>, k: &str) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    get(p, k)?.parse::<T>().map_err(|e| format!("`{k}`: {e}"))
}

fn yes(p: &HashMap<String, String>, k: &str) -> bool {
    p.get(k).is_some_and(|v| v == "yes")
}

fn pooling(p: &HashMap<String, String>) -> Result<Pooling, String> {
    match p.get("pooling").map(String::as_str) {
        Some("max") => Ok(Pooling::Max),
        Some("mean") | None => Ok(Pooling::Mean),
        Some(o) => Err(format!("unknown pooling `{o}`")),
    }
}

/// `riesz_order=(lx,ly,lz)=(1,0,0) (...)` -> [1, 0, 0].
fn riesz_order(p: &HashMap<String, String>) -> Result<[u32; 3], String> {
    let raw = get(p, "riesz_order.raw")?;
    let start = raw.find("=(").ok_or("riesz_order without a tuple")? + 2;
    let end = raw[start..]
        .find(')')
        .ok_or("riesz_order tuple not closed")?
        + start;
    let v: Vec<u32> = raw[start..end]
        .split(',')
        .map(|x| x.trim().parse::<u32>().map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    v.try_into()
        .map_err(|_| "riesz_order needs 3 values".to_string())
}

/// The filter of one config row: `filter`, `dims` (2D/3D), `boundary`, `riesz` and `params`.
/// Err explains why a row cannot be run (e.g. steered Riesz, which is not implemented).
pub fn filter_from_config(row: &HashMap<String, String>) -> Result<FilterParams, String> {
    let filter = row.get("filter").map(String::as_str).unwrap_or("");
    let dims_s = row
        .get("dims")
        .or_else(|| row.get("filter_dims"))
        .map(String::as_str)
        .unwrap_or("3D");
    let dims = if dims_s.starts_with("2D") {
        Dims::D2
    } else {
        Dims::D3
    };
    let boundary = Boundary::parse(row.get("boundary").map(String::as_str).unwrap_or("zero"))
        .map_err(|e| e.to_string())?;
    let p = parse_params(row.get("params").map(String::as_str).unwrap_or(""));
    let riesz = match row.get("riesz").map(String::as_str) {
        None | Some("none") | Some("") => None,
        Some("riesz") => Some(riesz_order(&p)?),
        Some(o) => return Err(format!("{o} (steered Riesz) is not implemented")),
    };
    Ok(match filter {
        "mean" => FilterParams::Mean(MeanParams {
            support: num(&p, "support_vox")?,
            dims,
            boundary,
        }),
        "log" => FilterParams::Log(LogParams {
            sigma_mm: num(&p, "sigma_mm")?,
            truncate: num(&p, "truncate_sigma")?,
            dims,
            boundary,
            riesz,
        }),
        "laws" => FilterParams::Laws(LawsParams {
            kernel: get(&p, "kernel")?.to_string(),
            rotation_invariant: yes(&p, "rotation_invariance"),
            pooling: pooling(&p)?,
            energy_delta: if yes(&p, "energy") {
                Some(num(&p, "energy_delta_vox")?)
            } else {
                None
            },
            dims,
            boundary,
        }),
        "gabor" => {
            let thetas = if let Some(t) = p.get("theta_rad") {
                vec![parse_angle(t)?]
            } else {
                let step = parse_angle(get(&p, "theta_step_rad")?)?;
                let n = (2.0 * std::f64::consts::PI / step).round() as usize;
                (0..n).map(|k| k as f64 * step).collect()
            };
            let planes = get(&p, "planes")?
                .split('+')
                .map(|s| match s.trim() {
                    "axial" => Ok(Plane::Axial),
                    "coronal" => Ok(Plane::Coronal),
                    "sagittal" => Ok(Plane::Sagittal),
                    o => Err(format!("unknown plane `{o}`")),
                })
                .collect::<Result<_, _>>()?;
            FilterParams::Gabor(GaborParams {
                sigma_mm: num(&p, "sigma_mm")?,
                lambda_mm: num(&p, "lambda_mm")?,
                gamma: num(&p, "gamma")?,
                thetas,
                planes,
                boundary,
            })
        }
        "separable_wavelet" => FilterParams::Wavelet(WaveletParams {
            wavelet: get(&p, "wavelet")?.to_string(),
            bands: get(&p, "set")?.to_string(),
            level: num(&p, "level")?,
            rotation_invariant: yes(&p, "rotation_invariance"),
            pooling: pooling(&p)?,
            dims,
            boundary,
        }),
        "nonseparable_wavelet" => {
            if get(&p, "wavelet")? != "simoncelli" {
                return Err(format!(
                    "unknown non-separable wavelet {}",
                    get(&p, "wavelet")?
                ));
            }
            FilterParams::Simoncelli(SimoncelliParams {
                level: num(&p, "level")?,
                dims,
                riesz,
            })
        }
        o => return Err(format!("filter `{o}` not supported")),
    })
}

/// One phase-1 comparison.
#[derive(Debug, Clone)]
pub struct Phase1Row {
    pub test_id: String,
    pub filter: String,
    pub phantom: String,
    /// None: no reference map (or not runnable); the string says why.
    pub result: Result<(f64, f64, bool), String>,
}

/// Runs every phase-1 row of `<ibsi2>/phase1/configs.csv`.
pub fn phase1(dir: &Path) -> Vec<Phase1Row> {
    let p1 = dir.join("phase1");
    read_csv(&p1.join("configs.csv"))
        .into_iter()
        .map(|row| {
            let id = row["test_id"].clone();
            let filter = match row["riesz"].as_str() {
                "none" => row["filter"].clone(),
                r => format!("{} + {r}", row["filter"]),
            };
            let result = if row["has_reference_map"] != "yes" {
                Err("no reference map".to_string())
            } else {
                run_phase1(&p1, &row)
            };
            Phase1Row {
                test_id: id,
                filter: format!("{filter} {}", row["dims"]),
                phantom: row["phantom"].clone(),
                result,
            }
        })
        .collect()
}

fn run_phase1(p1: &Path, row: &HashMap<String, String>) -> Result<(f64, f64, bool), String> {
    let image =
        tomofuse_io::read_image(&p1.join(&row["phantom_file"])).map_err(|e| e.to_string())?;
    let reference =
        tomofuse_io::read_image(&p1.join(&row["reference_file"])).map_err(|e| e.to_string())?;
    let filter = filter_from_config(row)?
        .check()
        .map_err(|e| e.to_string())?;
    let out = filter.apply(&image).map_err(|e| e.to_string())?;
    assert_eq!(out.shape(), reference.shape(), "{}: grid", row["test_id"]);
    let tol: f64 = row["tolerance_abs"]
        .parse()
        .map_err(|e| format!("tolerance: {e}"))?;
    let max_err = out
        .data
        .iter()
        .zip(reference.data.iter())
        .map(|(a, b)| (*a as f64 - *b as f64).abs())
        .fold(0.0, f64::max);
    Ok((max_err, tol, max_err <= tol))
}

/// One phase-2 feature compared with its consensus value.
#[derive(Debug, Clone)]
pub struct Phase2Value {
    pub tag: String,
    pub ours: f64,
    pub reference: f64,
    pub tolerance: f64,
    pub pass: bool,
}

/// The phase-2 results of one filter id.
#[derive(Debug, Clone)]
pub struct Phase2Row {
    pub filter_id: String,
    pub filter: String,
    /// Err: why the id was not run (no reference values, or not runnable).
    pub values: Result<Vec<Phase2Value>, String>,
}

/// The IBSI CT phantom as read for phase 2 (intensities rounded to integer HU, a no-op for
/// the NIfTI copy) and its mask.
pub fn ct_phantom(ct_dir: &Path) -> (tomofuse_core::Volume<f32>, tomofuse_core::Mask) {
    let image = tomofuse_io::read_image(&ct_dir.join("nifti/image.nii.gz"))
        .unwrap()
        .map(|v| v.round());
    let mask = tomofuse_io::read_mask(&ct_dir.join("nifti/mask.nii.gz")).unwrap();
    (image, mask)
}

/// Settings of IBSI-2 phase-2 processing configuration A (2D, original grid) or B (3D,
/// 1 mm isotropic, tricubic spline, rounded, mask threshold 0.5), both resegmented to
/// [-1000, 400] HU on the unfiltered image (`phase2/processing.md`), intensity statistics
/// only, with the given `[[image_types]]` tables.
pub fn phase2_settings(config: char, image_types: &str) -> String {
    let interp = if config == 'B' {
        "[interpolation]\nspacing = [1.0, 1.0, 1.0]\nkind = \"bspline\"\n\
         round_intensities = true\nmask_threshold = 0.5\n"
    } else {
        ""
    };
    format!(
        "name = \"ibsi2-phase2-{config}\"\n\
         discretisation = {{ method = \"fixed_bin_size\", bin_width = 25.0 }}\n\
         {interp}\
         [resegmentation]\nrange = [-1000.0, 400.0]\n\
         [families]\nmorphology = false\nlocal_intensity = false\nstatistics = true\n\
         histogram = false\nivh = false\nglcm = false\nglrlm = false\nglszm = false\n\
         gldzm = false\nngtdm = false\nngldm = false\nmoran_geary = false\n\
         {image_types}"
    )
}

/// The `[[image_types]]` table of one `phase2/configs.csv` row, as a study would write it in
/// its settings file. Err: the row has no image-type equivalent.
pub fn image_type_table(row: &HashMap<String, String>) -> Result<String, String> {
    let p = parse_params(row.get("params").map(String::as_str).unwrap_or(""));
    let dims = if row["filter_dims"].starts_with("2D") {
        "2D"
    } else {
        "3D"
    };
    let boundary = &row["boundary"];
    let yes_no = |k: &str| if yes(&p, k) { "true" } else { "false" };
    Ok(match row["filter"].as_str() {
        "none" => "name = \"original\"\n".to_string(),
        "mean" => format!(
            "filter = \"mean\"\nsupport = {}\ndims = \"{dims}\"\nboundary = \"{boundary}\"\n",
            get(&p, "support_vox")?
        ),
        "log" => format!(
            "filter = \"log\"\nsigma_mm = {}\ntruncate = {}\ndims = \"{dims}\"\n\
             boundary = \"{boundary}\"\n",
            get(&p, "sigma_mm")?,
            get(&p, "truncate_sigma")?
        ),
        "laws" => {
            let mut t = format!(
                "filter = \"laws\"\nkernel = \"{}\"\nrotation_invariant = {}\n\
                 dims = \"{dims}\"\nboundary = \"{boundary}\"\n",
                get(&p, "kernel")?,
                yes_no("rotation_invariance")
            );
            if let Some(pool) = p.get("pooling") {
                t.push_str(&format!("pooling = \"{pool}\"\n"));
            }
            if yes(&p, "energy") {
                t.push_str(&format!(
                    "energy_delta = {}\n",
                    get(&p, "energy_delta_vox")?
                ));
            }
            t
        }
        "gabor" => {
            // The 2D kernel in one plane (axial) is "2D"; in the three planes "3D".
            let planes = get(&p, "planes")?;
            let dims = if planes.contains('+') { "3D" } else { "2D" };
            format!(
                "filter = \"gabor\"\nsigma_mm = {}\nlambda_mm = {}\ngamma = {}\n\
                 theta_step_deg = {}\ndims = \"{dims}\"\nboundary = \"{boundary}\"\n",
                get(&p, "sigma_mm")?,
                get(&p, "lambda_mm")?,
                get(&p, "gamma")?,
                get(&p, "theta_step_deg")?
            )
        }
        "separable_wavelet" => {
            let mut t = format!(
                "filter = \"wavelet\"\nwavelet = \"{}\"\nsubbands = \"{}\"\nlevel = {}\n\
                 rotation_invariant = {}\ndims = \"{dims}\"\nboundary = \"{boundary}\"\n",
                get(&p, "wavelet")?,
                get(&p, "set")?,
                get(&p, "level")?,
                yes_no("rotation_invariance")
            );
            if let Some(pool) = p.get("pooling") {
                t.push_str(&format!("pooling = \"{pool}\"\n"));
            }
            t
        }
        // Applied in the Fourier domain: periodic by construction, no boundary key.
        "nonseparable_wavelet" if get(&p, "wavelet")? == "simoncelli" => format!(
            "filter = \"simoncelli\"\nlevel = {}\ndims = \"{dims}\"\n",
            get(&p, "level")?
        ),
        o => return Err(format!("filter `{o}` has no image type")),
    })
}

/// `phase2/reference_values.csv`: filter id -> (tag, consensus, tolerance), blanks dropped.
pub fn phase2_reference(dir: &Path) -> HashMap<String, Vec<(String, f64, f64)>> {
    let text = std::fs::read_to_string(dir.join("phase2/reference_values.csv")).unwrap();
    let mut out: HashMap<String, Vec<(String, f64, f64)>> = HashMap::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(';').collect();
        if f.len() < 5 {
            continue;
        }
        let (Ok(v), Ok(t)) = (f[3].trim().parse::<f64>(), f[4].trim().parse::<f64>()) else {
            continue;
        };
        out.entry(f[0].trim().to_string())
            .or_default()
            .push((f[2].trim().to_string(), v, t));
    }
    out
}

/// Runs every phase-2 filter id with reference values through the library: one settings
/// file per processing configuration whose `[[image_types]]` are the filters of
/// `phase2/configs.csv`, one [`tomofuse_radiomics::extract`] per configuration, and the 18
/// intensity statistics of each image type compared with the consensus. Also returns the ROI
/// voxel count of each configuration (a pre-processing check: `processing.md` lists 125 238
/// for A and 357 802 for B as what most teams found).
pub fn phase2(dir: &Path, ct_dir: &Path) -> (Vec<Phase2Row>, Vec<(char, usize)>) {
    use tomofuse_radiomics::{Settings, extract, roi::Roi};
    let refs = phase2_reference(dir);
    let rows = read_csv(&dir.join("phase2/configs.csv"));
    let (image, mask) = ct_phantom(ct_dir);
    // filter id -> image type name, or why it was not run.
    let mut names: HashMap<String, Result<String, String>> = HashMap::new();
    let mut extractions = HashMap::new();
    let mut counts = Vec::new();
    for config in ['A', 'B'] {
        let mut ids = Vec::new();
        let mut tables = String::new();
        for row in rows
            .iter()
            .filter(|r| r["processing_config"].starts_with(config))
        {
            let id = row["filter_id"].clone();
            if !refs.contains_key(&id) {
                names.insert(id, Err("no reference values".to_string()));
                continue;
            }
            match image_type_table(row) {
                Ok(t) => {
                    tables.push_str("[[image_types]]\n");
                    tables.push_str(&t);
                    ids.push(id);
                }
                Err(e) => {
                    names.insert(id, Err(e));
                }
            }
        }
        let text = phase2_settings(config, &tables);
        let settings = Settings::from_toml(&text, &format!("phase-2 configuration {config}"))
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
        let types = settings.image_types().unwrap();
        assert_eq!(types.len(), ids.len(), "one image type per filter id");
        for (id, t) in ids.into_iter().zip(&types) {
            names.insert(id, Ok(t.name.clone()));
        }
        let ex = extract(&image, &mask, 1, &settings).unwrap();
        extractions.insert(config, ex);
        let roi = Roi::build(&image, &mask, 1, &settings).unwrap();
        counts.push((config, roi.n_int()));
    }
    let rows = rows
        .into_iter()
        .map(|row| {
            let id = row["filter_id"].clone();
            let config = row["processing_config"].chars().next().unwrap_or('A');
            let values = names[&id]
                .clone()
                .map(|name| compare_phase2(&extractions[&config], &name, &refs[&id]));
            Phase2Row {
                filter_id: id,
                filter: row["filter"].clone(),
                values,
            }
        })
        .collect();
    (rows, counts)
}

fn compare_phase2(
    ex: &tomofuse_radiomics::Extraction,
    image_type: &str,
    refs: &[(String, f64, f64)],
) -> Vec<Phase2Value> {
    refs.iter()
        .map(|(tag, reference, tolerance)| {
            let ours = ex.get_in(image_type, tag).unwrap_or(f64::NAN);
            // Strict IBSI rule; the epsilon only absorbs the decimal representation.
            let pass = (ours - reference).abs() <= tolerance + 1e-9 * reference.abs();
            Phase2Value {
                tag: tag.clone(),
                ours,
                reference: *reference,
                tolerance: *tolerance,
                pass,
            }
        })
        .collect()
}
