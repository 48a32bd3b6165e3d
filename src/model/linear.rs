//! `torch.nn.Linear`: `y = x·Wᵀ + b`, with `W` stored `[out, in]` as PyTorch saves it.

use distil_kernels::Kernels;
use ndarray::{ArrayView2, ArrayViewMut2};

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

    /// `y ← x·Wᵀ + b`, for `x: [rows, in]` and `y: [rows, out]`, both row-major (the kernel's
    /// precondition: activations are made with `Array2::zeros`, always row-major).
    pub fn forward(&self, k: &Kernels, x: ArrayView2<'_, f32>, mut y: ArrayViewMut2<'_, f32>) {
        let rows = x.nrows();
        let x = x
            .as_slice()
            .expect("the input of a linear layer is row-major");
        let y = y
            .as_slice_mut()
            .expect("the output of a linear layer is row-major");
        k.linear(x, self.weight.as_slice(), self.bias.as_slice(), y, rows);
    }
}
