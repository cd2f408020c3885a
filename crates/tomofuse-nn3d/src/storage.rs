//! The one way the custom ops read a candle CPU buffer: the f32 slice a contiguous layout
//! covers, with an error naming the op's input otherwise.

use crate::error::Nn3dError;
use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, Layout, Result};

/// The f32 values `l` covers in `s`; an error naming `what` for another dtype or a layout
/// that is not contiguous (callers make their inputs contiguous first).
pub fn f32_slice<'a>(what: &'static str, s: &'a CpuStorage, l: &Layout) -> Result<&'a [f32]> {
    match s {
        CpuStorage::F32(v) => match l.contiguous_offsets() {
            Some((a, b)) => v.get(a..b).ok_or_else(|| {
                Nn3dError::Config {
                    what,
                    msg: format!("internal: layout {a}..{b} outside a buffer of {}", v.len()),
                }
                .into()
            }),
            None => Err(Nn3dError::Config {
                what,
                msg: "internal: tensor not contiguous".into(),
            }
            .into()),
        },
        other => Err(Nn3dError::DType {
            what,
            got: other.dtype(),
        }
        .into()),
    }
}
