//! Allocation limits: every volume allocation asks here first, so a header that claims
//! 10^12 voxels becomes an error instead of an out-of-memory kill.

use crate::error::{CoreError, Result};

/// Environment variable that overrides [`Limits::max_voxels`].
pub const MAX_VOXELS_ENV: &str = "TOMOFUSE_MAX_VOXELS";
/// Environment variable that overrides [`Limits::max_bytes`].
pub const MAX_BYTES_ENV: &str = "TOMOFUSE_MAX_BYTES";

/// Upper bounds on a single volume allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Maximum number of voxels in one volume. Default 2^31 (a 1024x1024x2048 CT).
    pub max_voxels: u64,
    /// Maximum bytes of one volume buffer. Default 8 GiB.
    pub max_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_voxels: 1 << 31,
            max_bytes: 8 << 30,
        }
    }
}

impl Limits {
    /// Defaults, overridden by `TOMOFUSE_MAX_VOXELS` / `TOMOFUSE_MAX_BYTES` when set to integers.
    pub fn from_env() -> Self {
        let mut l = Self::default();
        if let Some(v) = std::env::var(MAX_VOXELS_ENV)
            .ok()
            .and_then(|s| s.trim().parse().ok())
        {
            l.max_voxels = v;
        }
        if let Some(v) = std::env::var(MAX_BYTES_ENV)
            .ok()
            .and_then(|s| s.trim().parse().ok())
        {
            l.max_bytes = v;
        }
        l
    }

    /// Checks that a volume of `shape` with `elem_size`-byte elements may be allocated.
    /// Works in saturating u128 so absurd header dimensions cannot overflow.
    pub fn check(&self, shape: [usize; 3], elem_size: usize) -> Result<usize> {
        let n: u128 = shape
            .iter()
            .fold(1u128, |acc, &d| acc.saturating_mul(d as u128));
        if n > self.max_voxels as u128 {
            return Err(CoreError::AllocationLimit {
                requested: n,
                limit: self.max_voxels as u128,
                unit: "voxels",
                env_var: MAX_VOXELS_ENV,
            });
        }
        let bytes = n.saturating_mul(elem_size as u128);
        if bytes > self.max_bytes as u128 {
            return Err(CoreError::AllocationLimit {
                requested: bytes,
                limit: self.max_bytes as u128,
                unit: "bytes",
                env_var: MAX_BYTES_ENV,
            });
        }
        Ok(n as usize)
    }
}

/// Checks `shape` against the limits in force (environment or defaults).
pub fn check_alloc(shape: [usize; 3], elem_size: usize) -> Result<usize> {
    Limits::from_env().check(shape, elem_size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absurd_header_is_an_error() {
        let l = Limits::default();
        let e = l.check([100_000, 100_000, 100], 2).unwrap_err();
        assert!(matches!(
            e,
            CoreError::AllocationLimit { unit: "voxels", .. }
        ));
        let e = l.check([usize::MAX, usize::MAX, 2], 1).unwrap_err();
        assert!(matches!(e, CoreError::AllocationLimit { .. }));
    }

    #[test]
    fn byte_limit_applies_separately() {
        let l = Limits {
            max_voxels: 1000,
            max_bytes: 1000,
        };
        assert_eq!(l.check([10, 10, 10], 1).unwrap(), 1000);
        assert!(matches!(
            l.check([10, 10, 10], 4).unwrap_err(),
            CoreError::AllocationLimit { unit: "bytes", .. }
        ));
    }
}
