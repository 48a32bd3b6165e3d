//! The reference matrix products: textbook loops.

use half::bf16;

use super::blocks::YBlock;
use super::widen;
use crate::quant::{dequantize, I8Rows, TokenQuant};

/// `y = x·Wᵀ + b` for the rows and columns `y` holds: `x` is all `m × k` of the input, `w` the
/// rows of `W` matching `y`'s columns, `bias` the matching `b`.
///
/// This is the linear layer's spec, bit for bit: every element is one chain of fused
/// multiply-adds from 0 in increasing `p`, then the bias added,
/// `y[i][j] = b[j] + fma(x[i,k-1], W[j,k-1], … fma(x[i,1], W[j,1], fma(x[i,0], W[j,0], 0)))`,
/// and the SIMD tiles (`simd.rs`) compute exactly that in each lane.
pub fn linear(x: &[f32], w: &[f32], bias: &[f32], k: usize, y: YBlock<'_>) {
    each_element(x, w, bias, k, y, |x_row, w_row| {
        let mut acc = 0.0f32;
        for (&xp, &wp) in x_row.iter().zip(w_row) {
            acc = xp.mul_add(wp, acc);
        }
        acc
    })
}

/// [`linear`] with `W` in bf16, each weight read as the f32 it equals: the spec of the widened
/// bf16 tiles, bit for bit.
pub fn linear_bf16(x: &[f32], w: &[bf16], bias: &[f32], k: usize, y: YBlock<'_>) {
    each_element(x, w, bias, k, y, |x_row, w_row| {
        let mut acc = 0.0f32;
        for (&xp, wp) in x_row.iter().zip(w_row) {
            acc = xp.mul_add(widen(*wp), acc);
        }
        acc
    })
}

/// The spec of the bf16 tiles that multiply in pairs (`vdpbf16ps`, `k` even): `x` is rounded to
/// bf16 (to nearest, ties to even), and for each pair `q` the chain adds `x[2q+1]·W[2q+1]`, then
/// `x[2q]·W[2q]`, each rounded once (a product of two bf16 is exact in f32, so a fused
/// multiply-add is that addition). The instruction also reads and writes denormals as zero, which
/// this does not: the two agree wherever no sum or product falls below 2⁻¹²⁶.
#[cfg(test)]
pub fn linear_bf16_pairs(x: &[f32], w: &[bf16], bias: &[f32], k: usize, y: YBlock<'_>) {
    assert!(k.is_multiple_of(2), "pairs need an even k");
    each_element(x, w, bias, k, y, |x_row, w_row| {
        let mut acc = 0.0f32;
        for (xq, wq) in x_row.chunks_exact(2).zip(w_row.chunks_exact(2)) {
            let x_q = |i: usize| widen(bf16::from_f32(xq[i]));
            acc = x_q(1).mul_add(widen(wq[1]), acc);
            acc = x_q(0).mul_add(widen(wq[0]), acc);
        }
        acc
    })
}

/// The int8 linear layer's spec (`crate::quant` has the scheme): each token's row of `x` quantized
/// to bytes as `tokens` says, each sum of byte products exact in `i32`, then dequantized with the
/// row's scale and the bias. Integer sums do not depend on their order, so every instruction set
/// gives these answers bit for bit. `x` is all `m × k` of the input; `w` and `bias` hold the rows
/// matching `y`'s columns.
pub fn linear_i8(x: &[f32], tokens: &[TokenQuant], w: I8Rows<'_>, bias: &[f32], mut y: YBlock<'_>) {
    let k = w.k;
    assert!(x.len() >= y.rows().end * k && tokens.len() >= y.rows().end);
    assert!(w.n() == y.columns().len() && bias.len() == w.n());
    let x_q: Vec<Vec<u8>> = y
        .rows()
        .map(|i| {
            let t = tokens[i];
            x[i * k..(i + 1) * k]
                .iter()
                .map(|&v| t.quantize(v))
                .collect()
        })
        .collect();
    for (j, &b) in bias.iter().enumerate() {
        let w_j: Vec<i8> = (0..k).map(|p| w.get(j, p)).collect();
        for (i, x_i) in y.rows().zip(&x_q) {
            let sum: i32 = x_i
                .iter()
                .zip(&w_j)
                .map(|(&a, &b)| i32::from(a) * i32::from(b))
                .sum();
            let t = tokens[i];
            y.row(i)[j] = dequantize(sum, t.scale, t.zero, w.scale[j], w.sums[j], b);
        }
    }
}

/// `y[i][j] = b[j] + dot(x row i, W row j)` for every element `y` holds.
fn each_element<T>(
    x: &[f32],
    w: &[T],
    bias: &[f32],
    k: usize,
    mut y: YBlock<'_>,
    dot: impl Fn(&[f32], &[T]) -> f32,
) {
    let cols = y.columns().len();
    assert!(x.len() >= y.rows().end * k, "input has fewer rows than y");
    assert!(
        w.len() == cols * k && bias.len() == cols,
        "W or b is not as long as y's columns"
    );
    for i in y.rows() {
        let x_row = &x[i * k..(i + 1) * k];
        for (j, out) in y.row(i).iter_mut().enumerate() {
            *out = bias[j] + dot(x_row, &w[j * k..(j + 1) * k]);
        }
    }
}
