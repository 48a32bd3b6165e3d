//! Softmax over the rows of a matrix, in place:
//! `y_i = exp(x_i - max(x)) / Σ_j exp(x_j - max(x))`.
//!
//! Subtracting the row maximum keeps `exp` from overflowing and does not change the result. Masked
//! positions may hold `-inf` (their weight is then exactly 0) as long as one entry of the row is
//! finite; a row that is all `-inf` has no softmax and comes out NaN, as in PyTorch.
//!
//! The SIMD paths (`simd.rs`) use a polynomial `exp` within 1 ulp of the true one; they match the
//! scalar spec to about 1e-6 relative (`tests/kernels.rs` states the bound).

pub(crate) mod scalar;
#[cfg(target_arch = "x86_64")]
pub(crate) mod simd;

use crate::{Isa, Kernels};

impl Kernels {
    /// Softmax of every row of `x`, a row-major matrix whose rows are `row_len` long.
    pub fn softmax_rows(&self, x: &mut [f32], row_len: usize) {
        assert!(row_len > 0, "softmax rows must not be empty");
        assert_eq!(x.len() % row_len, 0, "softmax input is not whole rows");
        match self.isa() {
            Isa::Scalar => x.chunks_exact_mut(row_len).for_each(scalar::softmax),
            // SAFETY: a `Kernels` holds Avx2 only if the CPU has AVX2 and FMA (`Kernels::force`,
            // `Kernels::fastest`); the body works on whole rows of the slice it is given.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => unsafe { simd::softmax_rows_avx2(x, row_len) },
            // SAFETY: a `Kernels` holds Avx512 only if the CPU has AVX-512 F; as above.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => unsafe { simd::softmax_rows_avx512(x, row_len) },
            #[cfg(not(target_arch = "x86_64"))]
            Isa::Avx2 | Isa::Avx512 => {
                unreachable!("x86 instruction sets are never supported here")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::all_kernels;
    use crate::Kernels;

    #[test]
    fn two_rows_by_hand() {
        // Row 1: weights e^0 : e^ln2 : e^-inf = 1 : 2 : 0. Row 2: equal entries share evenly.
        for k in all_kernels() {
            let mut x = [
                0.0,
                std::f32::consts::LN_2,
                f32::NEG_INFINITY,
                5.0,
                5.0,
                5.0,
            ];
            k.softmax_rows(&mut x, 3);
            let third = 1.0 / 3.0;
            let want = [third, 2.0 * third, 0.0, third, third, third];
            for (got, want) in x.iter().zip(want) {
                assert!((got - want).abs() < 1e-7, "{}: {x:?}", k.isa());
            }
        }
    }

    #[test]
    #[should_panic(expected = "not whole rows")]
    fn rejects_a_partial_row() {
        Kernels::scalar().softmax_rows(&mut [0.0; 5], 2);
    }
}
