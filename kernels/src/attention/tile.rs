//! The micro-kernel of both of attention's products: `ROWS` rows of `a` by `C` vectors of columns
//! of `b`, every sum one chain of fused multiply-adds in increasing `p`, as the scalar twin adds
//! it.
//!
//! For the scores `a` is the block of queries and `b` the packed `kᵀ`; for the context `a` is the
//! block of probabilities and `b` the packed `v`. A step broadcasts one element of each row of
//! `a`, loads `C` vectors of a row of `b`, and makes `ROWS·C` multiply-adds: with `C = 3`, 24
//! accumulators, 3 loads and 8 broadcasts for 24 FMAs.

use crate::simd::Vector;

/// The rows of `a` a tile takes: the queries of one block.
pub(super) const ROWS: usize = 8;

/// A matrix in a slice: element `(i, j)` at `i·stride + j`.
#[derive(Clone, Copy)]
pub(super) struct Strided<'a> {
    pub at: &'a [f32],
    pub stride: usize,
}

/// `out[i·stride + c] = alpha · Σ_{p < depth} a(i, p)·b(p, c)` for `i < ROWS`, `c < C·LANES`,
/// each sum one chain of fused multiply-adds from 0 in increasing `p`, then one multiply.
///
/// # Safety
/// The CPU must have `V`'s instruction set.
#[inline(always)]
pub(super) unsafe fn tile<V: Vector, const C: usize>(
    alpha: f32,
    a: Strided<'_>,
    b: Strided<'_>,
    depth: usize,
    out: &mut [f32],
    out_stride: usize,
) {
    let width = C * V::LANES;
    // The checks that make the unchecked reads below hold.
    assert!(depth > 0);
    assert!(a.at.len() >= (ROWS - 1) * a.stride + depth);
    assert!(b.at.len() >= (depth - 1) * b.stride + width);
    assert!(out.len() >= (ROWS - 1) * out_stride + width);
    // SAFETY: the caller guarantees `V`'s instruction set (this fn's # Safety). By the asserts
    // above: each broadcast reads `a(i, p)` at `i·a.stride + p < (ROWS - 1)·a.stride + depth`;
    // each load of `b` takes `LANES` elements from `p·b.stride + c·LANES`, ending by
    // `(depth - 1)·b.stride + width`; each store writes `LANES` elements ending by
    // `(ROWS - 1)·out_stride + width`.
    unsafe {
        let mut acc = [[V::splat(0.0); C]; ROWS];
        for p in 0..depth {
            let row = p * b.stride;
            let bv: [V; C] =
                std::array::from_fn(|c| V::load(b.at.get_unchecked(row + c * V::LANES..)));
            for (i, acc_i) in acc.iter_mut().enumerate() {
                let ai = V::splat(*a.at.get_unchecked(i * a.stride + p));
                for (acc_ic, bc) in acc_i.iter_mut().zip(bv) {
                    *acc_ic = ai.mul_add(bc, *acc_ic);
                }
            }
        }
        let alpha = V::splat(alpha);
        for (i, acc_i) in acc.iter().enumerate() {
            for (c, sum) in acc_i.iter().enumerate() {
                let at = i * out_stride + c * V::LANES;
                sum.mul(alpha).store(out.get_unchecked_mut(at..));
            }
        }
    }
}
