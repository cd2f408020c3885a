//! The one way the custom ops read a candle CPU buffer: the f32 slice a contiguous layout
//! covers, with an error naming the op's input otherwise; and the one way their parallel
//! units share an output buffer ([`SyncPtr`]).

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

/// A raw output pointer shared by parallel units that each write a disjoint part of one
/// buffer (the convolution tiles, the loss's voxel chunks).
#[derive(Clone, Copy)]
pub struct SyncPtr(*mut f32);
// SAFETY: only used for writes to disjoint regions (one unit each), see the callers.
unsafe impl Send for SyncPtr {}
unsafe impl Sync for SyncPtr {}

impl SyncPtr {
    pub fn new(p: *mut f32) -> Self {
        Self(p)
    }
    /// Taking `self` by value makes closures capture the whole wrapper (not the raw field).
    pub fn get(self) -> *mut f32 {
        self.0
    }
}
