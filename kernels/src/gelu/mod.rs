//! Activation functions, in place.
//!
//! GELU is the exact form BERT and DistilBERT use (`transformers`' `GELUActivation`):
//! `gelu(x) = x/2 · (1 + erf(x/√2))`. `erf` is Abramowitz & Stegun 7.1.26 (absolute error below
//! 1.5e-7), which vectorises with one `exp`.
//! `gelu_tanh` is the tanh approximation some BERT checkpoints ask for (`gelu_new`).

mod scalar;

use crate::{Isa, Kernels};

impl Kernels {
    /// `x ← gelu(x)`, exact (erf) form.
    pub fn gelu(&self, x: &mut [f32]) {
        match self.isa() {
            Isa::Scalar | Isa::Avx2 | Isa::Avx512 => x.iter_mut().for_each(|v| *v = scalar::gelu(*v)),
        }
    }

    /// `x ← x/2 · (1 + tanh(√(2/π) · (x + 0.044715 x³)))`.
    pub fn gelu_tanh(&self, x: &mut [f32]) {
        x.iter_mut().for_each(|v| *v = scalar::gelu_tanh(*v));
    }

    /// `x ← max(x, 0)`.
    pub fn relu(&self, x: &mut [f32]) {
        x.iter_mut().for_each(|v| *v = v.max(0.0));
    }
}

/// The error function, as the GELU kernels compute it.
pub fn erf(x: f32) -> f32 {
    scalar::erf(x)
}
