//! The micro-kernel of both of attention's products: `ROWS` rows of `a` by `C` vectors of columns
//! of `b`, every sum one chain in increasing `p`, as the scalar twin adds it.
//!
//! For the scores `a` is the block of queries and `b` the packed `kᵀ`; for the context `a` is the
//! block of probabilities and `b` the packed `v`. A step broadcasts one word of each row of `a`,
//! loads `C` vectors of words of a row of `b`, and makes `ROWS·C` steps of the [`Dot`]: with
//! `C = 3`, 24 accumulators, 3 loads and 8 broadcasts for 24 multiply-adds. A word is one f32
//! ([`F32Fma`]) or a pair of bf16 along the depth ([`Bf16Pairs`], [`Bf16Widened`]).

use super::scalar::to_bf16;
use crate::simd::{F32x16, Vector};

/// What one step of a tile multiplies: a word of `a` by a word of `b`, into an f32 sum.
///
/// # Safety
/// `step` executes `V`'s instructions (and the dot's own, such as AVX-512 BF16): call it only
/// where the CPU has them.
pub(super) trait Dot<V: Vector> {
    /// Values along the depth one word holds.
    const PER_WORD: usize;
    /// The word holding `values` (at most `PER_WORD`; missing ones are zeros).
    fn word(values: &[f32]) -> f32;
    /// `out[w]` = the word of `values[w·PER_WORD..]`, for each of `out`'s words.
    ///
    /// # Safety
    /// The dot's instruction set.
    #[inline(always)]
    unsafe fn pack(values: &[f32], out: &mut [f32]) {
        for (o, word) in out.iter_mut().zip(values.chunks(Self::PER_WORD)) {
            *o = Self::word(word);
        }
    }
    /// `out[c]` = the word of `first[c]` and, with pairs, `second[c]` (zero without a second).
    ///
    /// # Safety
    /// The dot's instruction set.
    #[inline(always)]
    unsafe fn pack_across(first: &[f32], second: Option<&[f32]>, out: &mut [f32]) {
        match second {
            Some(second) if Self::PER_WORD == 2 => {
                for (o, (&a, &b)) in out.iter_mut().zip(first.iter().zip(second)) {
                    *o = Self::word(&[a, b]);
                }
            }
            _ => {
                for (o, &a) in out.iter_mut().zip(first) {
                    *o = Self::word(&[a]);
                }
            }
        }
    }
    /// `acc` plus the product of the words `a` and `b`, lane by lane.
    ///
    /// # Safety
    /// The dot's instruction set.
    unsafe fn step(acc: V, a: V, b: V) -> V;
}

/// f32 words: one fused multiply-add a step.
pub(super) struct F32Fma;

impl<V: Vector> Dot<V> for F32Fma {
    const PER_WORD: usize = 1;

    fn word(values: &[f32]) -> f32 {
        values.first().copied().unwrap_or(0.0)
    }

    #[inline(always)]
    unsafe fn step(acc: V, a: V, b: V) -> V {
        // SAFETY: the caller guarantees `V`'s instruction set.
        unsafe { a.mul_add(b, acc) }
    }
}

/// Pairs of bf16 multiplied by `vdpbf16ps` (AVX-512 BF16): each step adds the product of the high
/// halves, then that of the low ones, each rounded once (`scalar::attention_bf16` says it exactly).
pub(super) struct Bf16Pairs;

/// [`Bf16Pairs`]'s numbers on any vector: each pair widened to two f32 (exact: a bf16 is an f32's
/// high half) and two fused multiply-adds, high halves first. A product of two bf16 is exact in
/// f32, so each multiply-add rounds as `vdpbf16ps`'s addition does; `vdpbf16ps` also treats
/// denormals as zero, and [`bf16_pair`] flushes them before they reach either.
pub(super) struct Bf16Widened;

/// Two values of the depth as one word of bf16: the first in the low half, each rounded as the
/// spec rounds them (`scalar::to_bf16`).
pub(super) fn bf16_pair(values: &[f32]) -> f32 {
    let half = |i: usize| u32::from(to_bf16(values.get(i).copied().unwrap_or(0.0)).to_bits());
    f32::from_bits(half(0) | half(1) << 16)
}

impl Dot<F32x16> for Bf16Pairs {
    const PER_WORD: usize = 2;

    fn word(values: &[f32]) -> f32 {
        bf16_pair(values)
    }

    /// 32 values at a time by `vcvtne2ps2bf16`, which rounds as [`bf16_pair`] does.
    #[inline(always)]
    unsafe fn pack(values: &[f32], out: &mut [f32]) {
        let (body, tail) = values.split_at(values.len() - values.len() % 32);
        let words = out.len().min(body.len() / 2);
        let (out_body, out_tail) = out.split_at_mut(words);
        // SAFETY: the caller guarantees AVX-512 F and BF16; each load takes 16 values of a chunk
        // of 32, each store 16 words of a chunk of 16.
        unsafe {
            for (chunk, o) in body.chunks_exact(32).zip(out_body.chunks_exact_mut(16)) {
                let (lo, hi) = (F32x16::load(chunk), F32x16::load(&chunk[16..]));
                F32x16::bf16_pairs(lo, hi).store(o);
            }
        }
        for (o, word) in out_tail.iter_mut().zip(tail.chunks(2)) {
            *o = bf16_pair(word);
        }
    }

    /// 16 columns at a time: interleaved, then rounded by `vcvtne2ps2bf16`.
    #[inline(always)]
    unsafe fn pack_across(first: &[f32], second: Option<&[f32]>, out: &mut [f32]) {
        let Some(second) = second else {
            out.iter_mut()
                .zip(first)
                .for_each(|(o, &a)| *o = bf16_pair(&[a]));
            return;
        };
        let columns = out.len().min(first.len()).min(second.len());
        let body = columns - columns % 16;
        // SAFETY: the caller guarantees AVX-512 F and BF16; each load and store takes 16 lanes
        // from `c < body`, inside the three slices.
        unsafe {
            for c in (0..body).step_by(16) {
                let (a, b) = (F32x16::load(&first[c..]), F32x16::load(&second[c..]));
                let (lo, hi) = F32x16::interleave(a, b);
                F32x16::bf16_pairs(lo, hi).store(&mut out[c..]);
            }
        }
        for c in body..columns {
            out[c] = bf16_pair(&[first[c], second[c]]);
        }
    }

    #[inline(always)]
    unsafe fn step(acc: F32x16, a: F32x16, b: F32x16) -> F32x16 {
        // SAFETY: the caller guarantees AVX-512 F and BF16.
        unsafe { acc.dot_bf16_pairs(a, b) }
    }
}

impl<V: Vector> Dot<V> for Bf16Widened {
    const PER_WORD: usize = 2;

    fn word(values: &[f32]) -> f32 {
        bf16_pair(values)
    }

    #[inline(always)]
    unsafe fn step(acc: V, a: V, b: V) -> V {
        // SAFETY: the caller guarantees `V`'s instruction set.
        unsafe {
            let ((a_lo, a_hi), (b_lo, b_hi)) = (a.widen_bf16_pairs(), b.widen_bf16_pairs());
            a_lo.mul_add(b_lo, a_hi.mul_add(b_hi, acc))
        }
    }
}

/// The rows of `a` a tile takes: the queries of one block.
pub(super) const ROWS: usize = 8;

/// A matrix in a slice: element `(i, j)` at `i·stride + j`.
#[derive(Clone, Copy)]
pub(super) struct Strided<'a> {
    pub at: &'a [f32],
    pub stride: usize,
}

/// `out[i·stride + c] = alpha · Σ_{p < depth} a(i, p)·b(p, c)` for `i < ROWS`, `c < C·LANES`,
/// over words of `D`, each sum one chain of its steps from 0 in increasing `p`, then one multiply.
///
/// # Safety
/// The CPU must have `V`'s and `D`'s instruction sets.
#[inline(always)]
pub(super) unsafe fn tile<V: Vector, D: Dot<V>, const C: usize>(
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
    // SAFETY: the caller guarantees `V`'s and `D`'s instruction sets (this fn's # Safety). By the
    // asserts above: each broadcast reads `a(i, p)` at `i·a.stride + p < (ROWS - 1)·a.stride +
    // depth`; each load of `b` takes `LANES` elements from `p·b.stride + c·LANES`, ending by
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
                    *acc_ic = D::step(*acc_ic, ai, bc);
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
