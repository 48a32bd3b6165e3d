//! `torch.nn.Linear`: `y = x·Wᵀ + b`, with `W` stored `[out, in]` as PyTorch saves it.

use distil_kernels::Kernels;
use ndarray::{ArrayView2, ArrayViewMut2};

use super::{flat, flat_mut};
use crate::weights::{Prefix, Tensor1, Tensor2};
use crate::Result;

/// A linear layer read from `{name}.weight` (`[out, in]`) and `{name}.bias` (`[out]`).
pub struct Linear {
    pub weight: Tensor2,
    pub bias: Tensor1,
}

impl Linear {
    /// Reads `{name}.weight` and `{name}.bias` under `p`.
    pub fn load(p: &Prefix<'_>, name: &str, out_dim: usize, in_dim: usize) -> Result<Self> {
        let p = p.pp(name);
        Ok(Linear {
            weight: p.tensor("weight", (out_dim, in_dim))?,
            bias: p.tensor("bias", out_dim)?,
        })
    }

    /// Output width.
    pub fn out_dim(&self) -> usize {
        self.bias.shape()[0]
    }

    /// `y ← x·Wᵀ + b`, for `x: [rows, in]` and `y: [rows, out]`.
    pub fn forward(&self, k: &Kernels, x: ArrayView2<'_, f32>, y: ArrayViewMut2<'_, f32>) {
        let rows = x.nrows();
        let (w, b) = (self.weight.as_slice(), self.bias.as_slice());
        k.linear(flat(x), w, b, flat_mut(y), rows);
    }
}
