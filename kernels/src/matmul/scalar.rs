//! The reference matrix products: textbook loops.

use ndarray::{ArrayView2, ArrayViewMut2};

use super::columns::ColumnBlock;

/// `C ← α·A·B + β·C`; `C` is not read when `β = 0`.
pub fn gemm(
    alpha: f32,
    a: ArrayView2<'_, f32>,
    b: ArrayView2<'_, f32>,
    beta: f32,
    mut c: ArrayViewMut2<'_, f32>,
) {
    for ((i, j), out) in c.indexed_iter_mut() {
        let mut acc = 0.0;
        for p in 0..a.ncols() {
            acc += a[[i, p]] * b[[p, j]];
        }
        *out = if beta == 0.0 {
            alpha * acc
        } else {
            alpha * acc + beta * *out
        };
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
