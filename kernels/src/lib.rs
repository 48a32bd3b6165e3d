//! The numeric kernels of distil.
//!
//! This crate knows nothing of models or tokenizers: it works on `f32` slices with explicit shapes.
//! Every kernel has a plain scalar version (`scalar.rs`, the spec, written to be read) and, where it
//! pays, SIMD versions for AVX2+FMA and AVX-512 that tests check against the scalar one.
//!
//! The instruction set is chosen once, by [`Kernels::detect`] (or pinned with `DISTIL_ISA` /
//! [`Kernels::force`]); the chosen [`Kernels`] value is then passed to every call, so no kernel
//! detects features in a loop.
//!
//! `unsafe` lives only in this crate: the SIMD bodies (`#[target_feature]` functions), the column
//! blocks the linear layer's threads write through, and the memory map of a weights file. Each
//! block states why it holds in a `// SAFETY:` comment, and two lints keep it so:
//! `unsafe_op_in_unsafe_fn`, because an `unsafe fn` only says what its caller must guarantee, so
//! every unsafe step inside one still gets a block of its own and the reason it holds; and
//! `clippy::undocumented_unsafe_blocks`, so that no block goes without that reason.

#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod attention;
pub mod gather;
pub mod gelu;
mod isa;
pub mod layernorm;
pub mod matmul;
pub mod mmap;
pub mod peak;
pub mod quant;
#[cfg(target_arch = "x86_64")]
mod simd;
pub mod softmax;
pub mod testing;

pub use isa::{Bf16Dot, I8Dot, Isa, Kernels, UnsupportedIsa};
