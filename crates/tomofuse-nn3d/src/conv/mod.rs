//! 3D convolution and transposed convolution: kernels, candle custom ops and layers.
//!
//! Three kernels do all the work, for any stride, padding, dilation and groups:
//! `fwd` (y = conv(x, w)), `bwd_input` (gx = conv^T(gy, w), also the forward of the transposed
//! convolution) and `bwd_weight` (gw = gy * im2col(x)^T). Each works on one batch item and one
//! group at a time, over tiles of output depth so that the column buffer stays a few MB.
//! When both gradients are needed and the input gradient has a gather form (stride 1, cubic
//! kernel), `bwd_fused` computes both from gy's column tiles in one pass: x then needs no
//! column matrix at all.
//!
//! On AVX-512 machines, stride-1 and stride-2 convolutions take `direct.rs` instead: the
//! forward, the input gradient in gather form and the weight gradient straight from the
//! tensors, with no column matrix.
//!
//! As candle separates them: `kernels.rs` (the three kernels on raw slices), `ops.rs` (the
//! candle custom ops and their backward passes) and `layer.rs` (the `nn.Conv3d` /
//! `nn.ConvTranspose3d` layers built from a `VarBuilder`).

mod direct;
mod kernels;
mod layer;
mod ops;

pub use direct::{direct_conv_supported, with_direct_conv};
pub use layer::{
    Conv3d, ConvTranspose3d, conv_transpose3d, conv_transpose3d_no_bias, conv3d, conv3d_no_bias,
};
pub use ops::{
    conv_transpose3d_bias_op, conv_transpose3d_op, conv3d_bias_op, conv3d_bias_relu_op, conv3d_op,
};

/// Configuration of a 3D convolution (same value on the three axes, like PyTorch's int args).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv3dConfig {
    pub padding: usize,
    pub stride: usize,
    pub dilation: usize,
    pub groups: usize,
}

impl Default for Conv3dConfig {
    fn default() -> Self {
        Self {
            padding: 0,
            stride: 1,
            dilation: 1,
            groups: 1,
        }
    }
}

/// Configuration of a 3D transposed convolution (PyTorch's `ConvTranspose3d` semantics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvTranspose3dConfig {
    pub padding: usize,
    pub output_padding: usize,
    pub stride: usize,
    pub dilation: usize,
}

impl Default for ConvTranspose3dConfig {
    fn default() -> Self {
        Self {
            padding: 0,
            output_padding: 0,
            stride: 1,
            dilation: 1,
        }
    }
}
