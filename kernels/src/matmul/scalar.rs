//! The reference matrix products: textbook loops.

use super::columns::ColumnBlock;
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

/// `y = x·Wᵀ + b` for the columns `y` holds: `x` is `m × k`, `w` the matching rows of `W`
/// (`y.cols() × k`), `bias` the matching `b` (`y.cols()`).
///
/// This is the linear layer's spec, bit for bit: every element is one chain of fused
/// multiply-adds from 0 in increasing `p`, then the bias added,
/// `y[i][j] = b[j] + fma(x[i,k-1], W[j,k-1], … fma(x[i,1], W[j,1], fma(x[i,0], W[j,0], 0)))`,
/// and the SIMD tiles (`simd.rs`) compute exactly that in each lane.
pub fn linear(x: &[f32], w: &[f32], bias: &[f32], k: usize, mut y: ColumnBlock<'_>) {
    assert_eq!(x.len(), y.rows() * k, "input is not m×k");
    assert!(
        w.len() == y.cols() * k && bias.len() == y.cols(),
        "W or b is not y.cols() long"
    );
    for i in 0..y.rows() {
        let x_row = &x[i * k..(i + 1) * k];
        for (j, out) in y.row(i).iter_mut().enumerate() {
            let w_row = &w[j * k..(j + 1) * k];
            let mut acc = 0.0f32;
            for (&xp, &wp) in x_row.iter().zip(w_row) {
                acc = xp.mul_add(wp, acc);
            }
            *out = bias[j] + acc;
        }
    }
}
