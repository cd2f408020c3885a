//! Stored element types and the parallel byte -> f32 decoding shared by the NIfTI and NRRD
//! readers.

use rayon::prelude::*;

/// Element type of the values stored in a file (before scaling).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DType {
    U8,
    I8,
    I16,
    U16,
    I32,
    U32,
    I64,
    U64,
    F32,
    F64,
}

impl DType {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DType::U8 | DType::I8 => 1,
            DType::I16 | DType::U16 => 2,
            DType::I32 | DType::U32 | DType::F32 => 4,
            DType::I64 | DType::U64 | DType::F64 => 8,
        }
    }

    /// numpy name (`"int16"`, `"float32"`, ...), as nibabel's `get_data_dtype()` prints it.
    pub fn name(self) -> &'static str {
        match self {
            DType::U8 => "uint8",
            DType::I8 => "int8",
            DType::I16 => "int16",
            DType::U16 => "uint16",
            DType::I32 => "int32",
            DType::U32 => "uint32",
            DType::I64 => "int64",
            DType::U64 => "uint64",
            DType::F32 => "float32",
            DType::F64 => "float64",
        }
    }

    /// True for integer types (mask files must be integer-valued after scaling).
    pub fn is_integer(self) -> bool {
        !matches!(self, DType::F32 | DType::F64)
    }
}

impl std::fmt::Display for DType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

const CHUNK: usize = 1 << 16;

fn decode_with<const N: usize, F>(bytes: &[u8], scale: Option<(f64, f64)>, f: F) -> Vec<f32>
where
    F: Fn([u8; N]) -> f64 + Sync,
{
    let n = bytes.len() / N;
    let bytes = &bytes[..n * N];
    let mut out = vec![0f32; n];
    out.par_chunks_mut(CHUNK)
        .zip(bytes.par_chunks(CHUNK * N))
        .for_each(|(o, b)| {
            for (v, c) in o.iter_mut().zip(b.chunks_exact(N)) {
                let mut a = [0u8; N];
                a.copy_from_slice(c);
                let x = f(a);
                *v = match scale {
                    Some((s, i)) => (x * s + i) as f32,
                    None => x as f32,
                };
            }
        });
    out
}

/// Decodes `bytes` (file order) of `dtype` into f32, applying `value * slope + inter` in f64
/// when `scale` is given. Trailing bytes that do not fill an element are ignored (callers
/// check the length first).
pub fn decode_f32(
    bytes: &[u8],
    dtype: DType,
    big_endian: bool,
    scale: Option<(f64, f64)>,
) -> Vec<f32> {
    macro_rules! go {
        ($t:ty, $n:literal) => {
            if big_endian {
                decode_with::<$n, _>(bytes, scale, |a| <$t>::from_be_bytes(a) as f64)
            } else {
                decode_with::<$n, _>(bytes, scale, |a| <$t>::from_le_bytes(a) as f64)
            }
        };
    }
    match dtype {
        DType::U8 => go!(u8, 1),
        DType::I8 => go!(i8, 1),
        DType::I16 => go!(i16, 2),
        DType::U16 => go!(u16, 2),
        DType::I32 => go!(i32, 4),
        DType::U32 => go!(u32, 4),
        DType::I64 => go!(i64, 8),
        DType::U64 => go!(u64, 8),
        DType::F32 => go!(f32, 4),
        DType::F64 => go!(f64, 8),
    }
}
