//! The linear layer's micro-kernel: one tile of `MR` rows of `W` by `NV` vectors of tokens, for one
//! pass over some steps of `k`, generic over the vector type and over what one step multiplies.
//!
//! A step reads one 4-byte word of each of the tile's rows of `W` and broadcasts it, loads `NV`
//! vectors of `x~` (4-byte words too, a token per lane), and adds their product into each of the
//! `MR·NV` accumulators ([`Step`]):
//!
//! - [`F32Fma`]: the word is one f32 of `W`, the lane one f32 of `x`: `acc ← x·w + acc`, one FMA.
//! - [`Bf16Pairs`] (AVX-512 BF16): the word is two bf16 of `W` (`W[j, 2q]` in the low
//!   half, `W[j, 2q+1]` in the high), the lane the same two of `x`: `vdpbf16ps`, which adds
//!   `x[2q+1]·w[2q+1]` and then `x[2q]·w[2q]` into the f32 accumulator (`scalar::linear_bf16_pairs`
//!   says it exactly).
//!
//! The sums live in registers for the pass, and in the task's buffer between passes.

use std::ops::Range;

use half::bf16;

use crate::simd::{prefetch, F32x16, Vector};

/// What one step of a tile multiplies.
///
/// # Safety
/// As [`Vector`]'s: the methods execute `V`'s instructions (and the step's own, such as
/// AVX-512 BF16), so call them only where the CPU has them.
pub(super) trait Step<V: Vector> {
    /// The element type of `W`.
    type W: Copy;
    /// Elements of `W` one step takes from a row (one f32, or a pair of bf16: 4 bytes either way).
    const PER_STEP: usize;
    /// The word of the step at element `at` of `w`, broadcast to every lane.
    ///
    /// # Safety
    /// `at + PER_STEP ≤ w.len()`, and `V`'s instruction set.
    unsafe fn splat(w: &[Self::W], at: usize) -> V;
    /// `acc` plus the product of the words of `x` and `w`.
    ///
    /// # Safety
    /// The step's instruction set.
    unsafe fn step(acc: V, x: V, w: V) -> V;
}

/// f32 weights: one fused multiply-add per step.
pub(super) struct F32Fma;

impl<V: Vector> Step<V> for F32Fma {
    type W = f32;
    const PER_STEP: usize = 1;

    #[inline(always)]
    unsafe fn splat(w: &[f32], at: usize) -> V {
        // SAFETY: the caller guarantees `at < w.len()` and `V`'s instruction set.
        unsafe { V::splat(*w.get_unchecked(at)) }
    }

    #[inline(always)]
    unsafe fn step(acc: V, x: V, w: V) -> V {
        // SAFETY: the caller guarantees `V`'s instruction set.
        unsafe { w.mul_add(x, acc) }
    }
}

/// bf16 weights multiplied in pairs by `vdpbf16ps` (AVX-512 BF16).
pub(super) struct Bf16Pairs;

impl Step<F32x16> for Bf16Pairs {
    type W = bf16;
    const PER_STEP: usize = 2;

    #[inline(always)]
    unsafe fn splat(w: &[bf16], at: usize) -> F32x16 {
        // SAFETY: the caller guarantees `at + 2 ≤ w.len()`: the 4 bytes read are `w[at..at + 2]`,
        // unaligned (a bf16 is 2-aligned); and AVX-512 F.
        unsafe {
            let pair = w.as_ptr().add(at).cast::<u32>().read_unaligned();
            F32x16::splat(f32::from_bits(pair))
        }
    }

    #[inline(always)]
    unsafe fn step(acc: F32x16, x: F32x16, w: F32x16) -> F32x16 {
        // SAFETY: the caller guarantees AVX-512 F and BF16.
        unsafe { acc.dot_bf16_pairs(x, w) }
    }
}

/// `rows` rows of `W`, `stride` elements apart, each contiguous, read over the steps `ks`: step
/// `s` of row `r` is the `PER_STEP` elements at `r·stride + s·PER_STEP`.
#[derive(Clone, Debug)]
pub(super) struct Panel<'a, T> {
    pub w: &'a [T],
    pub rows: usize,
    pub stride: usize,
    pub ks: Range<usize>,
}

/// Bytes in a cache line.
const LINE_BYTES: usize = 64;

/// How far ahead of the current step each row of `W` read in place is prefetched: four cache
/// lines. `W` comes from memory (or L3) in `MR` streams a row apart, which the hardware
/// prefetchers follow poorly (each crosses a 4 KB page every few hundred steps); asking for each
/// row's line four lines ahead made the encoder 3% faster at 1×128 (interleaved runs) and the
/// linear layers run at 62-72% of the FMA peak instead of 51-57%. (24 lines made the f32 encoder
/// 13% slower at 1×12 on Zen 4.)
const ROWS_AHEAD: usize = 4 * LINE_BYTES;

/// One pass of one tile: continues the sums of a block of `NV` vectors of tokens by the `MR` rows
/// of `panel` (`panel.rows ≤ MR`; rows past the last repeat it) over its steps, in order, from
/// zero if `first`. `xs` is the block's `x~` for those steps (`NV·LANES` words a step), and `sums`
/// holds row `r` of the tile at `r·NV·LANES`.
///
/// # Safety
/// The CPU must have `V`'s and `D`'s instruction sets.
#[inline(always)]
pub(super) unsafe fn tile<V: Vector, D: Step<V>, const MR: usize, const NV: usize>(
    xs: &[f32],
    panel: Panel<'_, D::W>,
    first: bool,
    sums: &mut [f32],
) {
    let nr = NV * V::LANES;
    let Panel {
        w,
        rows,
        stride,
        ks,
    } = panel;
    let step = D::PER_STEP;
    // The checks that make the unchecked reads and the stores below hold.
    assert!(ks.start < ks.end && stride >= step);
    assert!(xs.len() == ks.len() * nr && sums.len() >= MR * nr);
    let end = (rows - 1) * stride + (ks.end - 1) * step + D::PER_STEP;
    assert!(rows >= 1 && rows <= MR && w.len() >= end);
    // Where each row of the tile starts in `w` for this pass.
    let starts: [usize; MR] = std::array::from_fn(|r| r.min(rows - 1) * stride + ks.start * step);
    let step_bytes = step * size_of::<D::W>();

    // SAFETY: the caller guarantees `V`'s and `D`'s instruction sets (this fn's # Safety). Each
    // load and store of the sums takes `LANES` elements at `(r·NV + v)·LANES`, inside `sums`
    // (`MR·nr` long). The unchecked reads lie inside their slices, by the asserts above: p <
    // ks.len(), so each vector of `x~` ends by `p·nr + nr ≤ xs.len()`; the step at `starts[r] +
    // p·step` ends by `(rows - 1)·stride + (ks.end - 1)·step + PER_STEP ≤ w.len()`.
    unsafe {
        let mut acc = [[V::splat(0.0); NV]; MR];
        if !first {
            for (r, acc_r) in acc.iter_mut().enumerate() {
                for (v, a) in acc_r.iter_mut().enumerate() {
                    *a = V::load(&sums[(r * NV + v) * V::LANES..]);
                }
            }
        }
        // ks.len() steps of MR broadcasts, NV loads and MR·NV multiply-adds.
        for p in 0..ks.len() {
            let at = p * step;
            if (p * step_bytes).is_multiple_of(LINE_BYTES) {
                for start in starts {
                    let line = w.as_ptr().wrapping_add(start + at);
                    prefetch(line.cast::<u8>().wrapping_add(ROWS_AHEAD));
                }
            }
            let xv: [V; NV] =
                std::array::from_fn(|v| V::load(xs.get_unchecked(p * nr + v * V::LANES..)));
            for r in 0..MR {
                let wv = D::splat(w, starts[r] + at);
                for v in 0..NV {
                    acc[r][v] = D::step(acc[r][v], xv[v], wv);
                }
            }
        }
        for (r, acc_r) in acc.iter().enumerate() {
            for (v, a) in acc_r.iter().enumerate() {
                a.store(&mut sums[(r * NV + v) * V::LANES..]);
            }
        }
    }
}
