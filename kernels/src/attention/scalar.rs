//! The reference attention of one head: a query at a time, its row of scores, their softmax, and
//! the weighted sum of the rows of `v`; in f32, and with both products over pairs of bf16.

use half::bf16;
use ndarray::{ArrayView1, ArrayView2, ArrayViewMut2};

use crate::softmax::scalar::softmax;

/// `ctx ← softmax(scale · q·kᵀ) · v`, each product one chain of fused multiply-adds in increasing
/// order; `scores` holds at least one float per key.
pub(super) fn attention(
    scale: f32,
    q: ArrayView2<'_, f32>,
    k: ArrayView2<'_, f32>,
    v: ArrayView2<'_, f32>,
    ctx: ArrayViewMut2<'_, f32>,
    scores: &mut [f32],
) {
    each_query(scale, q, k, v, ctx, scores, |a, b| {
        a.iter()
            .zip(b)
            .fold(0.0f32, |acc, (x, y)| x.mul_add(*y, acc))
    })
}

/// [`attention`] with both products over pairs of bf16, as `vdpbf16ps` multiplies them: `q`, `k`,
/// the probabilities and `v` rounded to bf16 (to nearest, ties to even; denormals flushed to
/// zero), and for each pair along the depth the chain adds the product of the second values, then
/// that of the first, each rounded once (a product of two bf16 is exact in f32, so a fused
/// multiply-add is that addition). The instruction also writes denormal sums as zero, which this
/// does not: the two agree wherever no sum falls below 2⁻¹²⁶.
pub(super) fn attention_bf16(
    scale: f32,
    q: ArrayView2<'_, f32>,
    k: ArrayView2<'_, f32>,
    v: ArrayView2<'_, f32>,
    ctx: ArrayViewMut2<'_, f32>,
    scores: &mut [f32],
) {
    each_query(scale, q, k, v, ctx, scores, |a, b| {
        let mut acc = 0.0f32;
        for p in (0..a.len()).step_by(2) {
            if p + 1 < a.len() {
                acc = widened(a[p + 1]).mul_add(widened(b[p + 1]), acc);
            }
            acc = widened(a[p]).mul_add(widened(b[p]), acc);
        }
        acc
    })
}

/// The attention of each query, with `dot` for both products.
fn each_query(
    scale: f32,
    q: ArrayView2<'_, f32>,
    k: ArrayView2<'_, f32>,
    v: ArrayView2<'_, f32>,
    mut ctx: ArrayViewMut2<'_, f32>,
    scores: &mut [f32],
    dot: impl Fn(ArrayView1<'_, f32>, ArrayView1<'_, f32>) -> f32,
) {
    let scores = &mut scores[..k.nrows()];
    for (q_i, mut ctx_i) in q.rows().into_iter().zip(ctx.rows_mut()) {
        for (s, k_j) in scores.iter_mut().zip(k.rows()) {
            *s = dot(q_i, k_j) * scale;
        }
        softmax(scores);
        for (out, column) in ctx_i.iter_mut().zip(v.columns()) {
            *out = dot(ArrayView1::from(&*scores), column);
        }
    }
}

/// `x` rounded to bf16 (to nearest, ties to even), denormals flushed to zero: how every value of
/// attention's bf16 products is rounded, here and in the SIMD packing (`tile::bf16_pair`).
pub(super) fn to_bf16(x: f32) -> bf16 {
    bf16::from_f32(if x.abs() < f32::MIN_POSITIVE {
        0.0f32.copysign(x)
    } else {
        x
    })
}

/// [`to_bf16`] and back (exact).
fn widened(x: f32) -> f32 {
    to_bf16(x).to_f32()
}
