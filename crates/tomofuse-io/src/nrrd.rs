//! A small NRRD reader (teem NRRD0001..NRRD0005): 3D scalar images, raw or gzip encoding,
//! attached (`.nrrd`) or detached (`.nhdr` with `data file`, including the
//! `pattern min max step` and `LIST` forms) data. Geometry from `space directions` /
//! `space origin` in the stated `space` (converted to LPS), else `spacings` on identity axes.

use crate::dtype::DType;
use crate::error::{IoError, Result};
use crate::layout::{Grid, read_volume};
use crate::nii::{read_up_to, stream_err};
use flate2::bufread::MultiGzDecoder;
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use tomofuse_core::{Geometry, Space, Volume, check_alloc};

/// Largest header we parse, so a binary file mistaken for NRRD cannot make us read it all.
const MAX_HEADER: u64 = 1 << 20;

/// Encoding of the voxel data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Raw,
    Gzip,
}

/// A parsed, validated NRRD header.
#[derive(Debug, Clone)]
pub struct NrrdMeta {
    pub dtype: DType,
    pub shape: [usize; 3],
    pub big_endian: bool,
    pub encoding: Encoding,
    /// The `space` field as written (empty when absent).
    pub space: String,
    pub geometry: Geometry,
    /// Data files in order (the header file itself for attached data).
    pub data_files: Vec<PathBuf>,
    /// Byte offset of the data in the header file when attached.
    pub attached_offset: Option<u64>,
    pub byte_skip: i64,
    pub line_skip: u64,
}

fn parse_type(path: &Path, t: &str) -> Result<DType> {
    let t = t.trim().to_ascii_lowercase();
    Ok(match t.as_str() {
        "signed char" | "int8" | "int8_t" => DType::I8,
        "uchar" | "unsigned char" | "uint8" | "uint8_t" => DType::U8,
        "short" | "short int" | "signed short" | "signed short int" | "int16" | "int16_t" => {
            DType::I16
        }
        "ushort" | "unsigned short" | "unsigned short int" | "uint16" | "uint16_t" => DType::U16,
        "int" | "signed int" | "int32" | "int32_t" => DType::I32,
        "uint" | "unsigned int" | "uint32" | "uint32_t" => DType::U32,
        "longlong"
        | "long long"
        | "long long int"
        | "signed long long"
        | "signed long long int"
        | "int64"
        | "int64_t" => DType::I64,
        "ulonglong" | "unsigned long long" | "unsigned long long int" | "uint64" | "uint64_t" => {
            DType::U64
        }
        "float" => DType::F32,
        "double" => DType::F64,
        other => {
            return Err(IoError::field(
                path,
                "type",
                format!("unknown NRRD type `{other}`"),
            ));
        }
    })
}

/// Per-axis sign that takes a vector in `space` to LPS; `None` for unknown space names.
fn space_to_lps(space: &str) -> Option<[f64; 3]> {
    Some(match space.trim().to_ascii_lowercase().as_str() {
        "left-posterior-superior" | "lps" => [1.0, 1.0, 1.0],
        "right-anterior-superior" | "ras" => [-1.0, -1.0, 1.0],
        "left-anterior-superior" | "las" => [1.0, -1.0, 1.0],
        // No anatomical meaning: taken as LPS, as ITK does.
        "" | "scanner-xyz" | "3d-right-handed" | "3d-left-handed" => [1.0, 1.0, 1.0],
        _ => return None,
    })
}

fn parse_vec(path: &Path, field: &str, s: &str) -> Result<[f64; 3]> {
    let t = s.trim();
    let inner = t
        .strip_prefix('(')
        .and_then(|x| x.strip_suffix(')'))
        .ok_or_else(|| {
            IoError::field(
                path,
                field,
                format!("expected a vector like (x,y,z), found `{t}`"),
            )
        })?;
    let parts: Vec<&str> = inner.split(',').collect();
    if parts.len() != 3 {
        return Err(IoError::field(
            path,
            field,
            format!("expected 3 components, found {}", parts.len()),
        ));
    }
    let mut v = [0.0; 3];
    for (o, p) in v.iter_mut().zip(parts) {
        *o = p
            .trim()
            .parse::<f64>()
            .map_err(|_| IoError::field(path, field, format!("`{}` is not a number", p.trim())))?;
        if !o.is_finite() {
            return Err(IoError::field(
                path,
                field,
                format!("non-finite component {o}"),
            ));
        }
    }
    Ok(v)
}

/// Splits "(a,b,c) (d,e,f) none" into its vector tokens.
fn split_vectors(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut depth = 0;
    for ch in s.chars() {
        match ch {
            '(' => {
                depth += 1;
                cur.push(ch);
            }
            ')' => {
                depth -= 1;
                cur.push(ch);
                if depth == 0 {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c if c.is_whitespace() && depth == 0 => {
                if !cur.trim().is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                cur.clear();
            }
            c => cur.push(c),
        }
    }
    if !cur.trim().is_empty() {
        out.push(cur);
    }
    out
}

/// Reads and validates the header (and the `LIST` of data files when present).
pub fn read_header(path: &Path) -> Result<NrrdMeta> {
    let f = File::open(path).map_err(|e| IoError::io(path, e))?;
    let mut r = BufReader::new(f.take(MAX_HEADER));
    let mut line = Vec::new();
    let mut consumed: u64 = 0;
    let next_line = |r: &mut BufReader<std::io::Take<File>>,
                     line: &mut Vec<u8>,
                     consumed: &mut u64|
     -> Result<Option<String>> {
        line.clear();
        let n = r
            .read_until(b'\n', line)
            .map_err(|e| IoError::io(path, e))?;
        if n == 0 {
            return Ok(None);
        }
        *consumed += n as u64;
        let s = String::from_utf8_lossy(line);
        Ok(Some(s.trim_end_matches(['\n', '\r']).to_string()))
    };
    let magic = next_line(&mut r, &mut line, &mut consumed)?.unwrap_or_default();
    if !(magic.starts_with("NRRD000") && magic.len() == 8) {
        return Err(IoError::field(
            path,
            "magic",
            "expected the first line `NRRD000X`: not a NRRD file",
        ));
    }
    let mut fields: HashMap<String, String> = HashMap::new();
    let mut ended_by_blank = false;
    while let Some(l) = next_line(&mut r, &mut line, &mut consumed)? {
        if l.is_empty() {
            ended_by_blank = true;
            break;
        }
        if l.starts_with('#') || l.contains(":=") {
            continue;
        }
        let Some((k, v)) = l.split_once(": ") else {
            return Err(IoError::field(
                path,
                "header",
                format!(
                    "line `{}` is not `field: value`",
                    l.chars().take(60).collect::<String>()
                ),
            ));
        };
        fields.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        if k.trim().eq_ignore_ascii_case("data file") || k.trim().eq_ignore_ascii_case("datafile") {
            // A LIST data file is followed by the file names, one per line, to the end.
            if v.trim().to_ascii_uppercase().starts_with("LIST") {
                let mut files = Vec::new();
                while let Some(n) = next_line(&mut r, &mut line, &mut consumed)? {
                    if !n.trim().is_empty() {
                        files.push(n.trim().to_string());
                    }
                }
                fields.insert("__list".into(), files.join("\n"));
                break;
            }
        }
    }
    let get = |k: &str| fields.get(k).map(|s| s.as_str());
    let dtype = parse_type(
        path,
        get("type").ok_or_else(|| IoError::field(path, "type", "missing"))?,
    )?;
    let dim: usize = get("dimension")
        .ok_or_else(|| IoError::field(path, "dimension", "missing"))?
        .parse()
        .map_err(|_| IoError::field(path, "dimension", "not an integer"))?;
    if dim != 3 {
        return Err(IoError::Unsupported {
            path: path.to_path_buf(),
            what: "dimension".into(),
            reason: format!("only 3D scalar NRRD images are supported, found dimension {dim}"),
        });
    }
    let sizes_s = get("sizes").ok_or_else(|| IoError::field(path, "sizes", "missing"))?;
    let sizes: Vec<i64> = sizes_s
        .split_whitespace()
        .map(|s| {
            s.parse::<i64>()
                .map_err(|_| IoError::field(path, "sizes", format!("`{s}` is not an integer")))
        })
        .collect::<Result<_>>()?;
    if sizes.len() != 3 || sizes.iter().any(|&s| s < 1) {
        return Err(IoError::field(
            path,
            "sizes",
            format!("expected 3 positive sizes, found `{sizes_s}`"),
        ));
    }
    let shape = [sizes[0] as usize, sizes[1] as usize, sizes[2] as usize];
    check_alloc(shape, 4).map_err(|e| IoError::field(path, "sizes", e.to_string()))?;
    check_alloc(shape, dtype.size()).map_err(|e| IoError::field(path, "sizes", e.to_string()))?;

    let big_endian = match get("endian").map(|s| s.to_ascii_lowercase()) {
        None => false,
        Some(e) if e == "little" => false,
        Some(e) if e == "big" => true,
        Some(e) => {
            return Err(IoError::field(
                path,
                "endian",
                format!("expected little or big, found `{e}`"),
            ));
        }
    };
    let encoding = match get("encoding").map(|s| s.to_ascii_lowercase()) {
        None => return Err(IoError::field(path, "encoding", "missing")),
        Some(e) if e == "raw" => Encoding::Raw,
        Some(e) if e == "gzip" || e == "gz" => Encoding::Gzip,
        Some(e) => {
            return Err(IoError::Unsupported {
                path: path.to_path_buf(),
                what: "encoding".into(),
                reason: format!("`{e}` (supported: raw, gzip)"),
            });
        }
    };
    let space = get("space").unwrap_or("").to_string();
    let flip = space_to_lps(&space)
        .ok_or_else(|| IoError::field(path, "space", format!("unknown space `{space}`")))?;

    let geometry = if let Some(sd) = get("space directions") {
        let toks = split_vectors(sd);
        if toks.len() != 3 {
            return Err(IoError::field(
                path,
                "space directions",
                format!("expected 3 vectors, found {}", toks.len()),
            ));
        }
        let mut aff = [[0.0; 4]; 4];
        for (c, t) in toks.iter().enumerate() {
            let v = parse_vec(path, "space directions", t)?;
            for r in 0..3 {
                aff[r][c] = v[r] * flip[r];
            }
        }
        let o = match get("space origin") {
            Some(s) => parse_vec(path, "space origin", s)?,
            None => [0.0; 3],
        };
        for r in 0..3 {
            aff[r][3] = o[r] * flip[r];
        }
        aff[3][3] = 1.0;
        Geometry::from_affine(&aff, Space::Lps)
            .map_err(|e| IoError::field(path, "space directions", e.to_string()))?
    } else {
        let sp = match get("spacings") {
            Some(s) => {
                let v: Vec<f64> = s
                    .split_whitespace()
                    .map(|x| {
                        x.parse::<f64>().map_err(|_| {
                            IoError::field(path, "spacings", format!("`{x}` is not a number"))
                        })
                    })
                    .collect::<Result<_>>()?;
                if v.len() != 3 {
                    return Err(IoError::field(
                        path,
                        "spacings",
                        format!("expected 3 values, found {}", v.len()),
                    ));
                }
                [v[0], v[1], v[2]]
            }
            None => [1.0; 3],
        };
        if sp.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
            return Err(IoError::field(
                path,
                "spacings",
                format!("must be finite and > 0, found {sp:?}"),
            ));
        }
        let o = match get("space origin") {
            Some(s) => parse_vec(path, "space origin", s)?,
            None => [0.0; 3],
        };
        Geometry::new(
            sp,
            [o[0] * flip[0], o[1] * flip[1], o[2] * flip[2]],
            [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
            Space::Lps,
        )
        .map_err(|e| IoError::field(path, "spacings", e.to_string()))?
    };

    let byte_skip: i64 = match get("byte skip").or(get("byteskip")) {
        None => 0,
        Some(s) => s
            .parse()
            .map_err(|_| IoError::field(path, "byte skip", format!("`{s}` is not an integer")))?,
    };
    if byte_skip < -1 || (byte_skip == -1 && encoding != Encoding::Raw) {
        return Err(IoError::field(
            path,
            "byte skip",
            format!("{byte_skip} is not allowed with this encoding"),
        ));
    }
    let line_skip: u64 = match get("line skip").or(get("lineskip")) {
        None => 0,
        Some(s) => s.parse().map_err(|_| {
            IoError::field(
                path,
                "line skip",
                format!("`{s}` is not a non-negative integer"),
            )
        })?,
    };

    let dir = path.parent().unwrap_or(Path::new("."));
    let (data_files, attached_offset) = match get("data file").or(get("datafile")) {
        None => {
            if !ended_by_blank {
                return Err(IoError::field(
                    path,
                    "data file",
                    "no blank line ends the header and no detached data file is named",
                ));
            }
            (vec![path.to_path_buf()], Some(consumed))
        }
        Some(df) => (data_file_list(path, dir, df, fields.get("__list"))?, None),
    };
    Ok(NrrdMeta {
        dtype,
        shape,
        big_endian,
        encoding,
        space,
        geometry,
        data_files,
        attached_offset,
        byte_skip,
        line_skip,
    })
}

fn data_file_list(
    path: &Path,
    dir: &Path,
    df: &str,
    list: Option<&String>,
) -> Result<Vec<PathBuf>> {
    let toks: Vec<&str> = df.split_whitespace().collect();
    if toks.first().is_some_and(|t| t.eq_ignore_ascii_case("LIST")) {
        let files: Vec<PathBuf> = list
            .map(|l| l.lines().map(|f| dir.join(f)).collect())
            .unwrap_or_default();
        if files.is_empty() {
            return Err(IoError::field(path, "data file", "LIST names no files"));
        }
        return Ok(files);
    }
    if toks.len() >= 4 && toks[0].contains('%') {
        let nums: Vec<i64> = toks[1..4]
            .iter()
            .map(|t| {
                t.parse::<i64>().map_err(|_| {
                    IoError::field(path, "data file", format!("`{t}` is not an integer"))
                })
            })
            .collect::<Result<_>>()?;
        let (min, max, step) = (nums[0], nums[1], nums[2]);
        if step == 0 || (max - min) / step < 0 || (max - min) / step > 100_000 {
            return Err(IoError::field(
                path,
                "data file",
                format!("bad range {min} {max} {step}"),
            ));
        }
        let fmt = toks[0];
        let (pre, post) = fmt.split_once('%').unwrap_or((fmt, ""));
        // Supports %d and %0Nd.
        let spec_end = post.find('d').ok_or_else(|| {
            IoError::field(
                path,
                "data file",
                format!("only %d patterns are supported, found `{fmt}`"),
            )
        })?;
        let width: usize = post[..spec_end]
            .trim_start_matches('0')
            .parse()
            .unwrap_or(0);
        let rest = &post[spec_end + 1..];
        let mut out = Vec::new();
        let mut i = min;
        while (step > 0 && i <= max) || (step < 0 && i >= max) {
            out.push(dir.join(format!("{pre}{i:0width$}{rest}")));
            i += step;
        }
        return Ok(out);
    }
    Ok(vec![dir.join(df.trim())])
}

/// Reads the voxel data of one data file (all of it, up to `want` bytes), honouring skips.
fn read_chunk(
    meta: &NrrdMeta,
    file: &Path,
    offset: u64,
    want: u64,
    out: &mut Vec<u8>,
) -> Result<()> {
    let mut f = File::open(file).map_err(|e| IoError::io(file, e))?;
    let len = f.metadata().map_err(|e| IoError::io(file, e))?.len();
    f.seek(SeekFrom::Start(offset))
        .map_err(|e| IoError::io(file, e))?;
    let mut r = BufReader::with_capacity(1 << 20, f);
    let mut pos = offset;
    for _ in 0..meta.line_skip {
        let mut l = Vec::new();
        pos += r
            .read_until(b'\n', &mut l)
            .map_err(|e| IoError::io(file, e))? as u64;
    }
    let start = out.len();
    match meta.encoding {
        Encoding::Raw => {
            let skip = if meta.byte_skip == -1 {
                len.saturating_sub(want).max(pos) - pos
            } else {
                meta.byte_skip as u64
            };
            if len < pos + skip + want {
                return Err(IoError::Truncated {
                    path: file.to_path_buf(),
                    what: format!("raw NRRD data ({want} bytes)"),
                    expected: pos + skip + want,
                    found: len,
                });
            }
            std::io::copy(&mut (&mut r).take(skip), &mut std::io::sink())
                .map_err(|e| IoError::io(file, e))?;
            // The length was checked above: one allocation, no regrowth.
            out.reserve_exact(want as usize);
            (&mut r)
                .take(want)
                .read_to_end(out)
                .map_err(|e| IoError::io(file, e))?;
        }
        Encoding::Gzip => {
            let mut gz = MultiGzDecoder::new(r);
            let skip = meta.byte_skip.max(0) as u64;
            std::io::copy(&mut (&mut gz).take(skip), &mut std::io::sink())
                .map_err(|e| stream_err(file, true, e))?;
            (&mut gz)
                .take(want)
                .read_to_end(out)
                .map_err(|e| stream_err(file, true, e))?;
        }
    }
    let got = (out.len() - start) as u64;
    if got < want {
        return Err(IoError::Truncated {
            path: file.to_path_buf(),
            what: format!(
                "{} NRRD data",
                if meta.encoding == Encoding::Gzip {
                    "decompressed gzip"
                } else {
                    "raw"
                }
            ),
            expected: want,
            found: got,
        });
    }
    Ok(())
}

/// Reads a NRRD image (attached or detached) as f32.
pub fn read_nrrd(path: &Path) -> Result<(Volume<f32>, NrrdMeta)> {
    let meta = read_header(path)?;
    let n: usize = meta.shape.iter().product();
    let total = n as u64 * meta.dtype.size() as u64;
    let nfiles = meta.data_files.len() as u64;
    if !total.is_multiple_of(nfiles) {
        return Err(IoError::field(
            path,
            "data file",
            format!("{nfiles} data files do not divide {total} bytes evenly"),
        ));
    }
    let per = total / nfiles;
    let mut bytes = Vec::with_capacity(total.min(64 << 20) as usize);
    for f in &meta.data_files {
        if meta.attached_offset.is_none() && !f.is_file() {
            return Err(IoError::field(
                path,
                "data file",
                format!("detached data file {} does not exist", f.display()),
            ));
        }
        read_chunk(&meta, f, meta.attached_offset.unwrap_or(0), per, &mut bytes)?;
    }
    // One pass: byte order, type and file order -> C layout.
    let grid = Grid {
        shape: meta.shape,
        big_endian: meta.big_endian,
        scale: None,
    };
    let vals =
        read_volume(bytes.as_slice(), meta.dtype, &grid).map_err(|_| IoError::Truncated {
            path: path.to_path_buf(),
            what: "NRRD data".into(),
            expected: total,
            found: bytes.len() as u64,
        })?;
    drop(bytes);
    let vol =
        Volume::from_vec_c(meta.shape, vals, meta.geometry).map_err(|e| IoError::core(path, e))?;
    Ok((vol, meta))
}

/// True when the file starts with the NRRD magic.
pub fn looks_like_nrrd(path: &Path) -> bool {
    let Ok(mut f) = File::open(path) else {
        return false;
    };
    let mut m = [0u8; 7];
    matches!(read_up_to(&mut f, &mut m), Ok(7)) && &m == b"NRRD000"
}
