//! Softmax over the rows of a matrix, in place:
//! `y_i = exp(x_i - max(x)) / Σ_j exp(x_j - max(x))`.
//!
//! Subtracting the row maximum keeps `exp` from overflowing and does not change the result.

mod scalar;

use crate::{Isa, Kernels};

impl Kernels {
    /// Softmax of every row of `x`, a row-major matrix whose rows are `row_len` long.
    pub fn softmax_rows(&self, x: &mut [f32], row_len: usize) {
        assert!(row_len > 0, "softmax rows must not be empty");
        assert_eq!(x.len() % row_len, 0, "softmax input is not whole rows");
        match self.isa() {
            Isa::Scalar | Isa::Avx2 | Isa::Avx512 => {
                x.chunks_exact_mut(row_len).for_each(scalar::softmax)
            }
        }
    }
}
