//! Layer normalisation over the rows of a matrix, in place:
//! `y = (x - mean(x)) / sqrt(var(x) + eps) * gamma + beta`, with the biased variance, as
//! `torch.nn.LayerNorm` computes it.
//!
//! The residual form `y = LayerNorm(x + residual)` is what every transformer block does after its
//! attention and its feed-forward network; fusing the add saves a pass over memory.

mod scalar;

use crate::{Isa, Kernels};

impl Kernels {
    /// `x ← LayerNorm(x)` for every row of `x`; rows are `gamma.len()` long.
    pub fn layernorm_rows(&self, x: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
        check(x.len(), gamma, beta);
        match self.isa() {
            Isa::Scalar | Isa::Avx2 | Isa::Avx512 => x
                .chunks_exact_mut(gamma.len())
                .for_each(|row| scalar::layernorm(row, gamma, beta, eps)),
        }
    }

    /// `x ← LayerNorm(x + residual)` for every row; `residual` has the shape of `x`.
    pub fn add_layernorm_rows(
        &self,
        x: &mut [f32],
        residual: &[f32],
        gamma: &[f32],
        beta: &[f32],
        eps: f32,
    ) {
        check(x.len(), gamma, beta);
        assert_eq!(x.len(), residual.len(), "residual shape differs from input");
        match self.isa() {
            Isa::Scalar | Isa::Avx2 | Isa::Avx512 => x
                .chunks_exact_mut(gamma.len())
                .zip(residual.chunks_exact(gamma.len()))
                .for_each(|(row, res)| {
                    row.iter_mut().zip(res).for_each(|(v, r)| *v += r);
                    scalar::layernorm(row, gamma, beta, eps)
                }),
        }
    }
}

fn check(len: usize, gamma: &[f32], beta: &[f32]) {
    assert!(!gamma.is_empty(), "layernorm rows must not be empty");
    assert_eq!(gamma.len(), beta.len(), "gamma and beta differ in length");
    assert_eq!(len % gamma.len(), 0, "layernorm input is not whole rows");
}
