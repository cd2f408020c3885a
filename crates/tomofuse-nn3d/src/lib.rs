//! 3D layers for candle (NCDHW, f32, CPU) with autograd.
//!
//! candle 0.11 has no 3D convolution, pooling or upsampling. The convolutions here are candle
//! `CustomOp`s with their own kernels: im2col over depth tiles feeding the `gemm` crate
//! (multithreaded through rayon), a custom backward (grad input by GEMM + col2im, grad weight by
//! GEMM against a recomputed column tile; stride 1 uses a gather-form transposed convolution),
//! and a no-copy path for 1x1x1 convolutions. Tiles are about 1 MiB and run in parallel, one
//! per thread, so a column tile is multiplied while it is still in that core's L2. The `gemm`
//! crate's `x86-v4` feature is on: AVX-512 kernels, chosen at run time (about 2x the AVX2
//! throughput on this machine's CPU; other CPUs fall back to AVX2). Pooling and upsampling
//! are custom ops too; instance, group and training-mode batch norm are one fused op each
//! (two passes forward, two backward; batch norm with its ReLU, instance norm with PReLU, in
//! vectorised per-plane loops), eval-mode batch norm a per-channel affine map. Training loops
//! and inference run on rayon's pool ([`on_pool`]).

mod cam;
mod conv;
mod error;
mod init;
pub mod loss;
mod norm;
pub mod optim;
mod pool;
pub mod storage;
pub mod trainer;

pub use cam::grad_cam_at;
pub use conv::{
    Conv3d, Conv3dConfig, ConvTranspose3d, ConvTranspose3dConfig, conv_transpose3d,
    conv_transpose3d_bias_op, conv_transpose3d_no_bias, conv_transpose3d_op, conv3d,
    conv3d_bias_op, conv3d_bias_relu_op, conv3d_no_bias, conv3d_op, direct_conv_supported,
    with_direct_conv,
};
pub use error::Nn3dError;
pub use init::init_uniform_fan_in;
pub use loss::{bce_with_logits, softplus};
pub use norm::{
    BatchNorm3d, GroupNorm3d, InstanceNorm3d, batch_norm3d, group_norm3d, instance_norm_prelu,
    instance_norm3d,
};
pub use optim::{AdamW, ParamsAdamW};
pub use pool::add_relu;
pub use pool::{
    adaptive_avg_pool3d_1, avg_pool3d, max_pool3d, upsample_nearest3d, upsample_trilinear3d,
};

/// Runs `f` on a worker of rayon's global pool, or directly when already on one.
///
/// A parallel loop started from a thread outside the pool hands its work to the workers and
/// sleeps until they are done: a futex wake-up each way, and the caller's core idle in between.
/// A training step starts hundreds of small parallel loops (8^3 volumes deep in a network), so
/// on 2 cores that round trip cost about a quarter of a ResNet fine-tuning step
/// (benches/README.md, "Training on the pool"). Started from a worker, a loop begins on the
/// calling thread at once and the other workers steal from it. `f` must not block on work it
/// handed to threads outside rayon: it holds one of the pool's threads while it waits.
pub fn on_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    if rayon::current_thread_index().is_some() {
        f()
    } else {
        rayon::scope(|_| f())
    }
}

/// Checks that `x` is a 5-D f32 tensor with `channels` channels (if given) and finite values.
///
/// The finiteness check reads the whole tensor (one pass): call it at a network's entry, not
/// per layer.
pub fn check_input(x: &candle_core::Tensor, channels: Option<usize>) -> candle_core::Result<()> {
    let dims = x.dims();
    if dims.len() != 5 {
        return Err(Nn3dError::Rank {
            what: "input",
            expected: 5,
            got: dims.to_vec(),
        }
        .into());
    }
    if let Some(c) = channels
        && dims[1] != c
    {
        return Err(Nn3dError::Channels {
            what: "input",
            expected: c,
            got: dims[1],
        }
        .into());
    }
    if x.dtype() != candle_core::DType::F32 {
        return Err(Nn3dError::DType {
            what: "input",
            got: x.dtype(),
        }
        .into());
    }
    let bad = x
        .flatten_all()?
        .to_vec1::<f32>()?
        .iter()
        .filter(|v| !v.is_finite())
        .count();
    if bad > 0 {
        return Err(Nn3dError::NonFinite {
            what: "input",
            count: bad,
        }
        .into());
    }
    Ok(())
}
