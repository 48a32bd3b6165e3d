//! The reference attention of one head: a query at a time, its row of scores, their softmax, and
//! the weighted sum of the rows of `v`.

use ndarray::{ArrayView2, ArrayViewMut2};

use crate::softmax::scalar::softmax;

/// `ctx ← softmax(scale · q·kᵀ) · v`; `scores` holds at least one float per key.
pub(super) fn attention(
    scale: f32,
    q: ArrayView2<'_, f32>,
    k: ArrayView2<'_, f32>,
    v: ArrayView2<'_, f32>,
    mut ctx: ArrayViewMut2<'_, f32>,
    scores: &mut [f32],
) {
    let scores = &mut scores[..k.nrows()];
    for (q_i, mut ctx_i) in q.rows().into_iter().zip(ctx.rows_mut()) {
        for (s, k_j) in scores.iter_mut().zip(k.rows()) {
            let dot = q_i
                .iter()
                .zip(k_j)
                .fold(0.0f32, |acc, (a, b)| a.mul_add(*b, acc));
            *s = dot * scale;
        }
        softmax(scores);
        for (c, out) in ctx_i.iter_mut().enumerate() {
            let column = v.column(c);
            *out = scores
                .iter()
                .zip(column)
                .fold(0.0f32, |acc, (p, x)| p.mul_add(*x, acc));
        }
    }
}
