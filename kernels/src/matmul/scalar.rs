//! The reference matrix product: the textbook triple loop.

use super::{MatMut, MatRef};

/// `C ← α·A·B + β·C`; `C` is not read when `β = 0`.
pub fn gemm(alpha: f32, a: MatRef<'_>, b: MatRef<'_>, beta: f32, c: MatMut<'_>) {
    for i in 0..a.rows {
        for j in 0..b.cols {
            let mut acc = 0.0;
            for p in 0..a.cols {
                acc += a.at(i, p) * b.at(p, j);
            }
            let out = &mut c.data[i * c.row_stride + j];
            *out = if beta == 0.0 {
                alpha * acc
            } else {
                alpha * acc + beta * *out
            };
        }
    }
}
