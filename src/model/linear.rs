//! `torch.nn.Linear`: `y = x·Wᵀ + b`, with `W` stored `[out, in]` as PyTorch saves it.

use distil_kernels::Kernels;

use crate::weights::{Prefix, Tensor};
use crate::Result;

/// A linear layer read from `{name}.weight` (`[out, in]`) and `{name}.bias` (`[out]`).
pub struct Linear {
    pub weight: Tensor, // [out, in]
    pub bias: Tensor,   // [out]
}

impl Linear {
    /// Reads `{name}.weight` and `{name}.bias` under `p`.
    pub fn load(p: &Prefix<'_>, name: &str, out_dim: usize, in_dim: usize) -> Result<Self> {
        let p = p.pp(name);
        Ok(Linear {
            weight: p.tensor("weight", &[out_dim, in_dim])?,
            bias: p.tensor("bias", &[out_dim])?,
        })
    }

    /// Output width.
    pub fn out_dim(&self) -> usize {
        self.bias.len()
    }

    /// `y[rows, out] = x[rows, in] · Wᵀ + b`.
    pub fn forward(&self, k: &Kernels, x: &[f32], y: &mut [f32], rows: usize) {
        k.linear(x, &self.weight, &self.bias, y, rows);
    }
}
