//! `torch.nn.LayerNorm` over the last dimension: `y = (x - mean) / sqrt(var + eps) · γ + β`.

use distil_kernels::Kernels;
use ndarray::{ArrayView2, ArrayViewMut2};

use super::{flat, flat_mut};
use crate::weights::{Prefix, Tensor1};
use crate::Result;

/// A layer norm read from `{name}.weight` / `{name}.bias` (or the older `gamma` / `beta`).
pub struct LayerNorm {
    /// γ, `[dim]`.
    pub weight: Tensor1,
    /// β, `[dim]`.
    pub bias: Tensor1,
    pub eps: f32,
}

impl LayerNorm {
    /// Reads the layer norm `name` under `p`.
    pub fn load(p: &Prefix<'_>, name: &str, dim: usize, eps: f32) -> Result<Self> {
        let p = p.pp(name);
        // Checkpoints converted from the original TensorFlow BERT name them gamma and beta.
        let (w, b) = if !p.contains("weight") && p.contains("gamma") {
            ("gamma", "beta")
        } else {
            ("weight", "bias")
        };
        Ok(LayerNorm {
            weight: p.tensor(w, dim)?,
            bias: p.tensor(b, dim)?,
            eps,
        })
    }

    /// `x ← LayerNorm(x)`, row by row (`x: [rows, dim]`).
    pub fn forward(&self, k: &Kernels, x: ArrayViewMut2<'_, f32>) {
        let (gamma, beta) = (self.weight.as_slice(), self.bias.as_slice());
        k.layernorm_rows(flat_mut(x), gamma, beta, self.eps);
    }

    /// `x ← LayerNorm(x + residual)`, row by row (both `[rows, dim]`).
    pub fn forward_residual(
        &self,
        k: &Kernels,
        x: ArrayViewMut2<'_, f32>,
        residual: ArrayView2<'_, f32>,
    ) {
        let (gamma, beta) = (self.weight.as_slice(), self.bias.as_slice());
        k.add_layernorm_rows(flat_mut(x), flat(residual), gamma, beta, self.eps);
    }
}
