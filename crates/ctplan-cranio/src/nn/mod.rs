//! What the networks share: the safetensors reader of their weights ([`NetError`] when a file
//! is not one) and the matrix product of their convolutions.
//!
//! Inference is plain Rust, no runtime. The 2-D network's 3×3 convolutions on a 112 × 112 map
//! are direct sums; the 3-D network's are one matrix product per tile of voxels (im2col), the
//! product of `gemm`. They stay two kernels: the 2-D network is small enough that direct sums
//! cost little, and moving it onto the matrix product would change the order in which its
//! terms are summed, and so the last bits of every shipped design.

pub(crate) mod gemm;
mod safetensors;

pub use safetensors::NetError;
pub(crate) use safetensors::{Tensors, read_safetensors, shape_text, take_tensor};
