//! The reference matrix products: textbook loops.

use ndarray::{ArrayView2, ArrayViewMut2};

use super::blocks::YBlock;

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

/// `y = x·Wᵀ + b` for the rows and columns `y` holds: `x` is all `m × k` of the input, `w` the
/// rows of `W` matching `y`'s columns, `bias` the matching `b`.
///
/// This is the linear layer's spec, bit for bit: every element is one chain of fused
/// multiply-adds from 0 in increasing `p`, then the bias added,
/// `y[i][j] = b[j] + fma(x[i,k-1], W[j,k-1], … fma(x[i,1], W[j,1], fma(x[i,0], W[j,0], 0)))`,
/// and the SIMD tiles (`simd.rs`) compute exactly that in each lane.
pub fn linear(x: &[f32], w: &[f32], bias: &[f32], k: usize, mut y: YBlock<'_>) {
    let cols = y.columns().len();
    assert!(x.len() >= y.rows().end * k, "input has fewer rows than y");
    assert!(
        w.len() == cols * k && bias.len() == cols,
        "W or b is not as long as y's columns"
    );
    for i in y.rows() {
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
