//! `torch.nn.LayerNorm` over the last dimension: `y = (x - mean) / sqrt(var + eps) · γ + β`.

use distil_kernels::Kernels;

use crate::weights::{Prefix, Tensor};
use crate::Result;

/// A layer norm read from `{name}.weight` / `{name}.bias` (or the older `gamma` / `beta`).
pub struct LayerNorm {
    pub weight: Tensor, // [dim], γ
    pub bias: Tensor,   // [dim], β
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
            weight: p.tensor(w, &[dim])?,
            bias: p.tensor(b, &[dim])?,
            eps,
        })
    }

    /// `x ← LayerNorm(x)`, row by row.
    pub fn forward(&self, k: &Kernels, x: &mut [f32]) {
        k.layernorm_rows(x, &self.weight, &self.bias, self.eps);
    }

    /// `x ← LayerNorm(x + residual)`, row by row.
    pub fn forward_residual(&self, k: &Kernels, x: &mut [f32], residual: &[f32]) {
        k.add_layernorm_rows(x, residual, &self.weight, &self.bias, self.eps);
    }
}
