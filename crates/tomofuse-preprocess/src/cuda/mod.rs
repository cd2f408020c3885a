//! CUDA resampling: kernels in `kernels.cu`, compiled at run time with NVRTC, launched through
//! cudarc with dynamic loading. Nothing CUDA is needed at build time; at run time a missing
//! libcuda, libnvrtc or device is a [`PreprocessError::NoCuda`], never a panic (cudarc panics
//! when called without its library, so every entry point probes first).
//!
//! Compiling the kernels needs only libnvrtc, no GPU:
//! `pip install nvidia-cuda-nvrtc-cu12` and put `site-packages/nvidia/cuda_nvrtc/lib` on
//! `LD_LIBRARY_PATH`; the test `cuda_nvrtc_compiles_every_kernel` then compiles them to PTX
//! (and fails instead of skipping when `TOMOFUSE_REQUIRE_NVRTC=1`).

use crate::error::{PreprocessError, Result};
use crate::resample::{self, IndexMap, Interp, ResampleOptions};
use cudarc::driver::{CudaContext, LaunchConfig, PushKernelArg};
use cudarc::nvrtc::Ptx;
use tomofuse_core::{Geometry, Volume};

/// CUDA C source of every kernel.
pub const KERNEL_SOURCE: &str = include_str!("kernels.cu");
/// Kernel entry points, one per interpolator.
pub const KERNEL_NAMES: [&str; 3] = ["resample_nearest", "resample_linear", "resample_bspline"];

/// True when libnvrtc can be loaded (compiling kernels needs no GPU).
pub fn nvrtc_available() -> bool {
    // SAFETY: only tries to dlopen the library; no NVRTC call is made.
    unsafe { cudarc::nvrtc::sys::is_culib_present() }
}

/// Compiles every kernel to PTX with NVRTC.
pub fn compile_kernels() -> Result<Ptx> {
    if !nvrtc_available() {
        return Err(PreprocessError::NoCuda(
            "libnvrtc not found (pip install nvidia-cuda-nvrtc-cu12 and put its lib folder on LD_LIBRARY_PATH)".into(),
        ));
    }
    cudarc::nvrtc::compile_ptx(KERNEL_SOURCE)
        .map_err(|e| PreprocessError::Cuda(format!("NVRTC compile failed: {e}")))
}

/// Number of CUDA devices, or why there is none usable.
pub fn device_count() -> Result<usize> {
    // SAFETY: only tries to dlopen libcuda.
    if !unsafe { cudarc::driver::sys::is_culib_present() } {
        return Err(PreprocessError::NoCuda(
            "no CUDA device: libcuda (the NVIDIA driver) is not installed".into(),
        ));
    }
    let n = CudaContext::device_count()
        .map_err(|e| PreprocessError::NoCuda(format!("no CUDA device: {e}")))?;
    if n <= 0 {
        return Err(PreprocessError::NoCuda(
            "no CUDA device: the driver reports 0 devices".into(),
        ));
    }
    Ok(n as usize)
}

fn cuda_err(e: impl std::fmt::Display) -> PreprocessError {
    PreprocessError::Cuda(e.to_string())
}

/// GPU counterpart of [`resample::resample_with`] on device `ordinal`: same validation, same
/// semantics. B-spline coefficients are computed on the CPU (recursive filter) and uploaded.
pub fn resample_with_cuda(
    vol: &Volume<f32>,
    geometry: &Geometry,
    shape: [usize; 3],
    opts: &ResampleOptions,
    ordinal: usize,
) -> Result<Volume<f32>> {
    let n = device_count()?;
    if ordinal >= n {
        return Err(PreprocessError::NoCuda(format!(
            "CUDA device {ordinal} requested, {n} present"
        )));
    }
    resample::validate(vol, geometry, shape)?;
    let map = IndexMap::new(&vol.geometry, geometry);
    let ptx = compile_kernels()?;
    let ctx = CudaContext::new(ordinal).map_err(cuda_err)?;
    let stream = ctx.default_stream();
    let module = ctx.load_module(ptx).map_err(cuda_err)?;
    let name = match opts.interp {
        Interp::Nearest => KERNEL_NAMES[0],
        Interp::Linear => KERNEL_NAMES[1],
        Interp::BSpline => KERNEL_NAMES[2],
    };
    let func = module.load_function(name).map_err(cuda_err)?;
    let host_src = match opts.interp {
        Interp::BSpline => resample::bspline_coefficients(&vol.data),
        _ => vol.data.as_standard_layout().into_owned(),
    };
    let src_slice = host_src
        .as_slice()
        .ok_or_else(|| cuda_err("non-contiguous input"))?;
    let d_src = stream.clone_htod(src_slice).map_err(cuda_err)?;
    let total = shape[0] * shape[1] * shape[2];
    let mut d_dst = stream.alloc_zeros::<f32>(total).map_err(cuda_err)?;
    let mut m = [0f64; 12];
    for r in 0..3 {
        for c in 0..3 {
            m[r * 4 + c] = map.m[r][c];
        }
        m[r * 4 + 3] = map.t[r];
    }
    let d_map = stream.clone_htod(&m[..]).map_err(cuda_err)?;
    let in_shape = vol.shape();
    let dims: Vec<i32> = in_shape
        .iter()
        .chain(shape.iter())
        .map(|&d| d as i32)
        .collect();
    let fill = opts.default_value;
    let threads = 256u32;
    let blocks = u32::try_from(total.div_ceil(threads as usize))
        .map_err(|_| cuda_err("output too large for one launch"))?;
    let cfg = LaunchConfig {
        grid_dim: (blocks, 1, 1),
        block_dim: (threads, 1, 1),
        shared_mem_bytes: 0,
    };
    let mut launch = stream.launch_builder(&func);
    launch.arg(&d_src).arg(&mut d_dst);
    for d in &dims {
        launch.arg(d);
    }
    launch.arg(&d_map).arg(&fill);
    // SAFETY: argument list matches the kernel signature (src, dst, 6 ints, map, fill); the
    // kernel bounds-checks `id` against the output size and clamps every input index.
    unsafe { launch.launch(cfg) }.map_err(cuda_err)?;
    let out = stream.clone_dtoh(&d_dst).map_err(cuda_err)?;
    let mut v = Volume::from_vec_c(shape, out, *geometry)?;
    if opts.round {
        v.data.mapv_inplace(f32::round);
    }
    Ok(v)
}
