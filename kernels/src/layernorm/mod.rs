//! Layer normalisation over the rows of a matrix, in place:
//! `y = (x - mean(x)) / sqrt(var(x) + eps) * gamma + beta`, with the biased variance, as
//! `torch.nn.LayerNorm` computes it.
//!
//! The residual form `y = LayerNorm(x + residual)` is what every transformer block does after its
//! attention and its feed-forward network; fusing the add saves a pass over memory.
//!
//! The SIMD paths (`simd.rs`) sum in a different order from the scalar spec, so they match it to
//! rounding (`tests/kernels.rs` states the bound), not bit for bit.

mod scalar;
#[cfg(target_arch = "x86_64")]
mod simd;

use crate::{Isa, Kernels};

impl Kernels {
    /// `x ← LayerNorm(x)` for every row of `x`; rows are `gamma.len()` long.
    pub fn layernorm_rows(&self, x: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
        check(x.len(), gamma, beta);
        match self.isa() {
            Isa::Scalar => x
                .chunks_exact_mut(gamma.len())
                .for_each(|row| scalar::layernorm(row, gamma, beta, eps)),
            // SAFETY: a `Kernels` holds Avx2 only if the CPU has AVX2 and FMA (`Kernels::force`,
            // `Kernels::fastest`); `check` asserted that gamma and beta are one row long.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => unsafe { simd::layernorm_rows_avx2(x, gamma, beta, eps) },
            // SAFETY: a `Kernels` holds Avx512 only if the CPU has AVX-512 F; as above.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => unsafe { simd::layernorm_rows_avx512(x, gamma, beta, eps) },
            #[cfg(not(target_arch = "x86_64"))]
            Isa::Avx2 | Isa::Avx512 => {
                unreachable!("x86 instruction sets are never supported here")
            }
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
            Isa::Scalar => x
                .chunks_exact_mut(gamma.len())
                .zip(residual.chunks_exact(gamma.len()))
                .for_each(|(row, res)| scalar::add_layernorm(row, res, gamma, beta, eps)),
            // SAFETY: a `Kernels` holds Avx2 only if the CPU has AVX2 and FMA; `check` asserted
            // that gamma and beta are one row long, and the residual is as long as `x`.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => unsafe { simd::add_layernorm_rows_avx2(x, residual, gamma, beta, eps) },
            // SAFETY: a `Kernels` holds Avx512 only if the CPU has AVX-512 F; as above.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => unsafe {
                simd::add_layernorm_rows_avx512(x, residual, gamma, beta, eps)
            },
            #[cfg(not(target_arch = "x86_64"))]
            Isa::Avx2 | Isa::Avx512 => {
                unreachable!("x86 instruction sets are never supported here")
            }
        }
    }
}

fn check(len: usize, gamma: &[f32], beta: &[f32]) {
    assert!(!gamma.is_empty(), "layernorm rows must not be empty");
    assert_eq!(gamma.len(), beta.len(), "gamma and beta differ in length");
    assert_eq!(len % gamma.len(), 0, "layernorm input is not whole rows");
}

#[cfg(test)]
mod tests {
    use crate::testing::all_kernels;

    #[test]
    fn one_row_by_hand() {
        // [1, 2, 3, 4]: mean 2.5, variance 1.25, so x̂ = (x - 2.5)/√1.25 = ±0.4472, ±1.3416;
        // then γ = [1, 1, 2, 2], β = [0, 0, 0, 1].
        let (gamma, beta) = ([1.0, 1.0, 2.0, 2.0], [0.0, 0.0, 0.0, 1.0]);
        let want = [-1.341_640_8, -0.447_213_6, 0.894_427_2, 3.683_281_6];
        for k in all_kernels() {
            let mut x = [1.0, 2.0, 3.0, 4.0];
            k.layernorm_rows(&mut x, &gamma, &beta, 0.0);
            let mut y = [0.0, 2.0, 2.0, 4.0];
            k.add_layernorm_rows(&mut y, &[1.0, 0.0, 1.0, 0.0], &gamma, &beta, 0.0);
            for (got, want) in x.iter().zip(want).chain(y.iter().zip(want)) {
                assert!((got - want).abs() < 1e-6, "{}: {x:?} {y:?}", k.isa());
            }
        }
    }

    #[test]
    fn eps_bounds_a_constant_row() {
        // Variance 0: the row becomes β, whatever γ.
        for k in all_kernels() {
            let mut x = [7.0; 3];
            k.layernorm_rows(&mut x, &[5.0; 3], &[0.5, -1.0, 2.0], 1e-12);
            assert_eq!(x, [0.5, -1.0, 2.0], "{}", k.isa());
        }
    }
}
