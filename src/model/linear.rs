//! `torch.nn.Linear`: `y = x·Wᵀ + b`, with `W` stored `[out, in]` as PyTorch saves it.

use distil_kernels::quant::{I8Layout, I8Weights};
use distil_kernels::Kernels;
use half::bf16;
use ndarray::{Array2, ArrayView2, ArrayViewMut2, Zip};

use super::{flat, flat_mut};
use crate::weights::{Prefix, Tensor1, Tensor2};
use crate::Result;

/// A linear layer read from `{name}.weight` (`[out, in]`) and `{name}.bias` (`[out]`).
pub struct Linear {
    pub weight: Weight,
    pub bias: Tensor1,
}

/// A linear layer's `W`, in the dtype it is multiplied in.
pub enum Weight {
    /// As the checkpoint has it (f32 read in place, f16 or bf16 widened at load).
    F32(Tensor2),
    /// Rounded to bf16 (to nearest, ties to even) at load.
    Bf16(Array2<bf16>),
    /// Quantized to int8 per output channel at load.
    I8(I8Weights),
}

impl Linear {
    /// Reads `{name}.weight` and `{name}.bias` under `p`.
    pub fn load(p: &Prefix<'_>, name: &str, out_dim: usize, in_dim: usize) -> Result<Self> {
        let p = p.pp(name);
        Ok(Linear {
            weight: Weight::F32(p.tensor("weight", (out_dim, in_dim))?),
            bias: p.tensor("bias", out_dim)?,
        })
    }

    /// Output width.
    pub fn out_dim(&self) -> usize {
        self.bias.shape()[0]
    }

    /// Holds `W` in bf16 from now on (on the current rayon pool, in parallel).
    pub fn round_to_bf16(&mut self) {
        if let Weight::F32(w) = &self.weight {
            let mut rounded = Array2::from_elem(w.view().dim(), bf16::ZERO);
            Zip::from(&mut rounded)
                .and(w.view())
                .par_for_each(|r, &v| *r = bf16::from_f32(v));
            self.weight = Weight::Bf16(rounded);
        }
    }

    /// Holds `W` in int8 from now on. A row holding NaN or an infinity gets a NaN scale, so its
    /// outputs stay non-finite and the deferred scan of the mapped weights still names it.
    /// Its bytes are laid out as `layout` (the one the kernels read: [`Kernels::i8_layout`]).
    pub fn quantize_to_i8(&mut self, layout: I8Layout) {
        if let Weight::F32(w) = &self.weight {
            let k = w.view().ncols();
            self.weight = Weight::I8(I8Weights::quantize(w.as_slice(), k, layout));
        }
    }

    /// `y ← x·Wᵀ + b`, for `x: [rows, in]` and `y: [rows, out]`.
    pub fn forward(&self, k: &Kernels, x: ArrayView2<'_, f32>, y: ArrayViewMut2<'_, f32>) {
        let rows = x.nrows();
        let b = self.bias.as_slice();
        match &self.weight {
            Weight::F32(w) => k.linear(flat(x), w.as_slice(), b, flat_mut(y), rows),
            Weight::Bf16(w) => {
                // Cannot fail: `round_to_bf16` builds the array with `from_elem` (standard layout)
                // and nothing slices or transposes it afterwards.
                let w = w
                    .as_slice()
                    .expect("an array made by from_elem is in standard layout");
                k.linear_bf16(flat(x), w, b, flat_mut(y), rows)
            }
            Weight::I8(w) => k.linear_i8(flat(x), w.rows(), b, flat_mut(y), rows),
        }
    }
}
