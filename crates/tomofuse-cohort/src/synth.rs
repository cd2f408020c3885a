//! Shared pieces of the synthetic generators: the per-case render spec, seeding, profiles.

use crate::case::Loaded;
use crate::error::{CohortError, Result};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Everything needed to render one synthetic case, drawn up front so that a cohort is cheap to
/// hold and each image can be rendered on demand, in any order, with identical bytes.
#[derive(Debug, Clone, PartialEq)]
pub enum Spec {
    Sinus(crate::sinus::SinusSpec),
    Abdomen(crate::abdomen::AbdomenSpec),
}

impl Spec {
    /// Renders the image (HU, f32) and the label mask.
    pub fn render(&self) -> Result<Loaded> {
        match self {
            Self::Sinus(s) => s.render(),
            Self::Abdomen(s) => s.render(),
        }
    }
}

/// Size presets. `Tiny` is for CI integration tests, `Default` keeps a whole experiment
/// (including U-Net training) within minutes on 2 cores, `Paper` matches the studies' sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    Tiny,
    Default,
    Paper,
}

impl Profile {
    pub fn parse(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "tiny" => Ok(Self::Tiny),
            "default" => Ok(Self::Default),
            "paper" => Ok(Self::Paper),
            other => Err(CohortError::Config {
                field: "profile",
                reason: format!("unknown profile `{other}` (expected tiny, default or paper)"),
            }),
        }
    }
}

/// The RNG of stream `stream` under `seed`: stream 0 draws the cohort-level variables, stream
/// `i + 1` renders case `i`, so rendering order and thread count never change the numbers.
pub(crate) fn rng(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    r.set_stream(stream);
    r
}

pub(crate) fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

pub(crate) fn check_grid(n_cases: usize, shape: [usize; 3], fov_mm: [f64; 3]) -> Result<()> {
    if n_cases == 0 {
        return Err(CohortError::Config {
            field: "n_cases",
            reason: "must be at least 1".into(),
        });
    }
    if shape.iter().any(|&s| s < 8) {
        return Err(CohortError::Config {
            field: "shape",
            reason: format!("{shape:?}: every dimension must be >= 8 voxels"),
        });
    }
    if fov_mm.iter().any(|f| !f.is_finite() || *f <= 0.0) {
        return Err(CohortError::Config {
            field: "fov_mm",
            reason: format!("{fov_mm:?}: must be finite and > 0"),
        });
    }
    tomofuse_core::check_alloc(shape, 17)?;
    Ok(())
}

/// Normal draw helper.
pub(crate) fn normal<R: rand::Rng>(rng: &mut R, mean: f64, sd: f64) -> f64 {
    let z: f64 = rng.sample(rand_distr::StandardNormal);
    mean + sd * z
}
