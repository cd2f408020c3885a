//! Times tomofuse-io on one file, for `benches/python/io_speed.py` (which times SimpleITK and
//! nibabel on the same files in the same run). Prints one JSON object with the median seconds.
//!
//! ```text
//! io_time read    IN       [N]   read_image (f32, scaled, C layout) N times
//! io_time write   IN OUT   [N]   read IN once, then write_nifti OUT N times in IN's stored type
//! io_time convert IN OUT   [N]   read + write N times, as `tomofuse convert` does
//! ```
//!
//! Writes keep the stored type (int16 stays int16, float32 stays float32) so the bytes written
//! match what SimpleITK's `WriteImage` writes for the same image.

use std::path::Path;
use std::time::Instant;
use tomofuse_core::Volume;
use tomofuse_io::{DType, read_image_with_info, write_nifti, write_nifti_as};

/// Converts once to the stored type, outside the timed loop (only the writer is timed).
enum Typed {
    U8(Volume<u8>),
    I8(Volume<i8>),
    I16(Volume<i16>),
    U16(Volume<u16>),
    I32(Volume<i32>),
    U32(Volume<u32>),
    F32(Volume<f32>),
    F64(Volume<f64>),
}

impl Typed {
    fn new(vol: Volume<f32>, dtype: DType) -> Self {
        match dtype {
            DType::U8 => Typed::U8(vol.map(|&x| x as u8)),
            DType::I8 => Typed::I8(vol.map(|&x| x as i8)),
            DType::I16 => Typed::I16(vol.map(|&x| x as i16)),
            DType::U16 => Typed::U16(vol.map(|&x| x as u16)),
            DType::I32 => Typed::I32(vol.map(|&x| x as i32)),
            DType::U32 => Typed::U32(vol.map(|&x| x as u32)),
            DType::F64 => Typed::F64(vol.map(|&x| x as f64)),
            DType::F32 | DType::I64 | DType::U64 => Typed::F32(vol),
        }
    }

    fn write(&self, out: &Path) {
        let r = match self {
            Typed::U8(v) => write_nifti(out, v),
            Typed::I8(v) => write_nifti(out, v),
            Typed::I16(v) => write_nifti(out, v),
            Typed::U16(v) => write_nifti(out, v),
            Typed::I32(v) => write_nifti(out, v),
            Typed::U32(v) => write_nifti(out, v),
            Typed::F32(v) => write_nifti(out, v),
            Typed::F64(v) => write_nifti(out, v),
        };
        r.unwrap_or_else(|e| panic!("{e}"));
    }
}

fn median(mut t: Vec<f64>) -> f64 {
    t.sort_by(f64::total_cmp);
    let n = t.len();
    if n % 2 == 1 {
        t[n / 2]
    } else {
        (t[n / 2 - 1] + t[n / 2]) / 2.0
    }
}

fn time(n: usize, mut f: impl FnMut()) -> Vec<f64> {
    (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: io_time read IN [N] | write IN OUT [N] | convert IN OUT [N]";
    let op = args.first().map(String::as_str).unwrap_or_else(|| {
        eprintln!("{usage}");
        std::process::exit(2)
    });
    let arg = |i: usize| -> &str {
        args.get(i).map(String::as_str).unwrap_or_else(|| {
            eprintln!("{usage}");
            std::process::exit(2)
        })
    };
    let reps = |i: usize| -> usize { args.get(i).map_or(5, |s| s.parse().expect("N")) };
    let input = Path::new(arg(1));
    let times = match op {
        "read" => time(reps(2), || {
            std::hint::black_box(read_image_with_info(input).unwrap_or_else(|e| panic!("{e}")));
        }),
        "write" => {
            let out = Path::new(arg(2));
            let (vol, info) = read_image_with_info(input).unwrap_or_else(|e| panic!("{e}"));
            let typed = Typed::new(vol, info.dtype);
            time(reps(3), || typed.write(out))
        }
        "convert" => {
            let out = Path::new(arg(2));
            time(reps(3), || {
                let (vol, info) = read_image_with_info(input).unwrap_or_else(|e| panic!("{e}"));
                write_nifti_as(out, &vol, info.dtype).unwrap_or_else(|e| panic!("{e}"));
            })
        }
        _ => {
            eprintln!("{usage}");
            std::process::exit(2)
        }
    };
    let list: Vec<String> = times.iter().map(|t| format!("{t:.6}")).collect();
    println!(
        "{{\"op\": \"{op}\", \"path\": \"{}\", \"median_s\": {:.6}, \"times_s\": [{}]}}",
        input.display(),
        median(times.clone()),
        list.join(", ")
    );
}
