//! The int8 layer's task loops and micro-kernel on vectors (AVX-512 VNNI's `vpdpbusd`, AVX2's
//! `vpmaddubsw` and `vpmaddwd`).
//!
//! The tile is the f32 one turned over: `TOKENS` tokens by `NV` vectors of `W`'s rows. `W` is
//! quantized in panels of 16 rows ([`PANEL_ROWS`]): for each quad of `k`, the quads of the
//! panel's 16 rows side by side, 64 bytes, one AVX-512 vector (two AVX2 ones) of four signed bytes
//! a lane. A step loads the `NV` vectors of `W` at one quad of `k`, broadcasts each token's quad
//! of unsigned bytes from its row of quantized words (`quads.rs`; read in place, not packed), and
//! adds the products into `TOKENS·NV` accumulators of exact `i32` sums: every lane one output,
//! `y[i, j]`.
//!
//! So a tile's sums come out token-major, as `y` is: the epilogue dequantizes each accumulator
//! with its token's scale and zero point (broadcast) and its rows' scales, sums and biases
//! (vectors), and stores it straight into the token's row of `y`, no transpose and no trip
//! through memory. (The f32 orientation, `W` broadcast and tokens in the lanes, spent 12-15% of
//! the int8 layer's time outside its loop, dequantizing and transposing each tile.)
//!
//! The loops are those of `task.rs`: for each pass of `kc` quads, for each group of `NV` vectors
//! of rows (its panels' bytes for the pass stay in L1 or L2), for each block of `TOKENS` tokens,
//! one tile; its sums wait in the task's scratch between passes.

use std::ops::Range;

use super::blocks::YBlock;
use super::task::passes;
use crate::quant::{dequantize_lanes, padded_k, panel_len, I8Rows, TokenScales, PANEL_ROWS};
use crate::simd::{prefetch, prefetch_l2, F32x16, F32x8, Vector};

/// Bytes of a panel's step: a quad of each of its rows.
const STEP_BYTES: usize = 4 * PANEL_ROWS;

/// How far ahead of the current step each panel is prefetched: 24 cache lines (steps), 1.5 KB.
const PANEL_AHEAD: usize = 24 * STEP_BYTES;

/// Multiplies quads of bytes: unsigned ones of `x`, signed ones of `W`, four to a 32-bit lane.
///
/// # Safety
/// `dot` executes the CPU's instructions for it: call it only where the CPU has them.
pub(super) trait QuadDot<V: Vector> {
    /// `acc` plus, in each lane, the four products of `x`'s bytes by `w`'s, summed exactly in `i32`.
    ///
    /// # Safety
    /// The instruction set of `V` and of the product.
    unsafe fn dot(acc: V, x: V, w: V) -> V;
}

/// `vpdpbusd` (AVX-512 VNNI): one instruction a step and vector.
pub(super) struct I8Vnni;

/// `vpmaddubsw` then `vpmaddwd` by ones (AVX2): the same integers in three instructions.
pub(super) struct I8Madd;

impl QuadDot<F32x16> for I8Vnni {
    #[inline(always)]
    unsafe fn dot(acc: F32x16, x: F32x16, w: F32x16) -> F32x16 {
        // SAFETY: the caller guarantees AVX-512 F and VNNI.
        unsafe { acc.dot_u8_i8_quads(x, w) }
    }
}

impl QuadDot<F32x8> for I8Madd {
    #[inline(always)]
    unsafe fn dot(acc: F32x8, x: F32x8, w: F32x8) -> F32x8 {
        // SAFETY: the caller guarantees AVX2.
        unsafe { acc.dot_u8_i8_quads(x, w) }
    }
}

#[cfg(test)]
impl QuadDot<crate::simd::F32x8x2> for I8Madd {
    unsafe fn dot(
        acc: crate::simd::F32x8x2,
        x: crate::simd::F32x8x2,
        w: crate::simd::F32x8x2,
    ) -> crate::simd::F32x8x2 {
        // SAFETY: the caller guarantees AVX2.
        unsafe { acc.dot_u8_i8_quads(x, w) }
    }
}

/// The task's rows of `W` and what dequantizes their sums.
#[derive(Clone, Copy)]
pub(super) struct I8Out<'a> {
    /// The task's rows (starting on a panel).
    pub w: I8Rows<'a>,
    /// Every token's quantization (indexed by token, not from the task's first).
    pub tokens: TokenScales<'a>,
    /// The task's `b`.
    pub bias: &'a [f32],
    /// `W`'s panels after the task's (the rest of the layer; empty for the last task): the task
    /// asks for the next ones in advance.
    pub ahead: &'a [i8],
}

/// Every tile of the task `y`, pass by pass, `TOKENS` tokens a tile (a last block of at most `REST`
/// on a tile of `REST`): `x` the tokens' quads of bytes (each row a quad of `k` a word, `k` padded
/// as `W`'s panels pad it), `sums` the scratch for the tiles' sums between passes.
///
/// # Safety
/// The CPU must have `V`'s and `D`'s instruction sets.
#[inline(always)]
pub(super) unsafe fn task<
    V: Vector,
    D: QuadDot<V>,
    const TOKENS: usize,
    const REST: usize,
    const NV: usize,
>(
    x: &[f32],
    out: I8Out<'_>,
    mut y: YBlock<'_>,
    kc: usize,
    sums: &mut [f32],
) {
    let I8Out {
        w,
        tokens,
        bias,
        ahead,
    } = out;
    let (steps, cols) = (padded_k(w.k) / 4, y.columns().len());
    let width = NV * V::LANES;
    assert!(
        x.len().is_multiple_of(steps),
        "x is not in rows as long as W's panels"
    );
    let m = x.len() / steps;
    assert!(w.n() == cols && bias.len() == cols);
    // A vector lies within one step of a panel, and a group is whole panels.
    assert!(PANEL_ROWS.is_multiple_of(V::LANES) && width.is_multiple_of(PANEL_ROWS));
    let rows = y.rows();
    assert!(
        rows.start.is_multiple_of(TOKENS) && rows.end <= m,
        "y's tokens do not start on a block of the tile"
    );
    assert!(tokens.scale.len() >= rows.end && tokens.zero.len() >= rows.end);
    let blocks = rows.clone().step_by(TOKENS);
    let slot = TOKENS * width;
    assert!(
        sums.len() >= cols.div_ceil(width) * blocks.len() * slot,
        "no room for the sums"
    );
    let panel_len = panel_len(w.k);
    let panels = cols.div_ceil(PANEL_ROWS);
    assert_eq!(w.q.len(), panels * panel_len, "W is not the task's panels");
    for ks in passes(steps, kc) {
        for (group, j) in (0..cols).step_by(width).enumerate() {
            // Where vector `v` of the group starts in `W`: its panel (the last one again for a
            // vector past the task's rows, whose sums are not stored) and its place in a step.
            let mut starts = [0usize; NV];
            for (v, start) in starts.iter_mut().enumerate() {
                let row = j + v * V::LANES;
                let panel = (row / PANEL_ROWS).min(panels - 1);
                *start = panel * panel_len + ks.start * STEP_BYTES + row % PANEL_ROWS * 4;
            }
            // The next group's panels (in the task, or the first after it): their bytes for this
            // pass are asked into L2 a share per block, so that the next group's first block
            // does not wait on memory for `W` (the other blocks find it in L2). Only when all the
            // tokens are in one chunk: with several, `W` comes from L3 for all but the first, and
            // asking ahead made 8 × 128 2% slower.
            let group_len = width.div_ceil(PANEL_ROWS) * panel_len;
            let after = (j + width) / PANEL_ROWS * panel_len;
            // (The next task's first group only in one pass: it starts with the first.)
            let next = if rows.len() < m {
                &[]
            } else if after < w.q.len() {
                &w.q[after..(after + group_len).min(w.q.len())]
            } else if ks.len() == steps {
                &ahead[..group_len.min(ahead.len())]
            } else {
                &[]
            };
            for (block_index, i0) in blocks.clone().enumerate() {
                let ahead = Ahead::share(next, panel_len, ks.clone(), block_index, blocks.len());
                let block_tokens = TOKENS.min(rows.end - i0);
                let at = (group * blocks.len() + block_index) * slot;
                let block = Block {
                    x,
                    i0,
                    tokens: block_tokens,
                    steps,
                    ks: ks.clone(),
                    w: w.q,
                    starts,
                    ahead,
                };
                let sums = &mut sums[at..at + slot];
                // SAFETY: the caller guarantees `V`'s and `D`'s instruction sets.
                unsafe {
                    // A last block of a few tokens takes the narrower tile, so that at 128 tokens
                    // in blocks of 6 the last 2 cost 3 tokens' work, not 6.
                    if block_tokens <= REST {
                        block_tile::<V, D, REST, NV>(block, sums, &out, j, &mut y)
                    } else {
                        block_tile::<V, D, TOKENS, NV>(block, sums, &out, j, &mut y)
                    }
                }
            }
        }
    }
}

/// One block of tokens for one pass of a group: where its tile reads.
struct Block<'a, const NV: usize> {
    /// Every token's words.
    x: &'a [f32],
    /// The first token, and how many.
    i0: usize,
    tokens: usize,
    /// Words in a row of `x`, and the pass's.
    steps: usize,
    ks: Range<usize>,
    /// The task's panels of `W`, and where the group's vectors start in them for the pass.
    w: &'a [i8],
    starts: [usize; NV],
    /// What the tile asks into L2 for the next group.
    ahead: Ahead<NV>,
}

/// `block`'s pass on a tile of `T` tokens (`block.tokens ≤ T`) for the group of rows from the
/// task's column `j`: its sums continued from `sums`, and then, after the last pass, dequantized
/// into `y` as `out` says, else left in `sums`.
///
/// # Safety
/// The CPU must have `V`'s and `D`'s instruction sets.
#[inline(always)]
unsafe fn block_tile<V: Vector, D: QuadDot<V>, const T: usize, const NV: usize>(
    block: Block<'_, NV>,
    sums: &mut [f32],
    out: &I8Out<'_>,
    j: usize,
    y: &mut YBlock<'_>,
) {
    let Block {
        x,
        i0,
        tokens,
        steps,
        ks,
        w,
        starts,
        ahead,
    } = block;
    assert!(tokens >= 1 && tokens <= T);
    // Where token `t`'s words start for this pass (the last token again past the block's, whose
    // sums are not stored).
    let mut x_rows = [0usize; T];
    for (t, at) in x_rows.iter_mut().enumerate() {
        *at = (i0 + t.min(tokens - 1)) * steps + ks.start;
    }
    // SAFETY: the caller guarantees `V`'s and `D`'s instruction sets; `tile` asserts the lengths
    // it reads.
    let acc =
        unsafe { tile::<V, D, T, NV>(x, x_rows, ks.len(), w, starts, ahead, ks.start == 0, sums) };
    if ks.end == steps {
        let I8Out {
            w,
            tokens: scales,
            bias,
            ..
        } = *out;
        for (t, acc_t) in acc.iter().enumerate().take(tokens) {
            let i = i0 + t;
            let (x_scale, x_zero) = (scales.scale[i], scales.zero[i]);
            let y_row = &mut y.row(i)[j..];
            // SAFETY: as above.
            unsafe { dequantize_into(acc_t, x_scale, x_zero, w, bias, j, y_row) };
        }
    } else {
        for (t, acc_t) in acc.iter().enumerate() {
            for (v, a) in acc_t.iter().enumerate() {
                // SAFETY: as above; `(t·NV + v + 1)·LANES ≤ T·NV·LANES ≤ sums.len()`, which
                // `tile` asserts.
                unsafe { a.store(&mut sums[(t * NV + v) * V::LANES..]) };
            }
        }
    }
}

/// One tile's sums over `steps` steps: continued from `sums` (token `t`'s vector `v` at
/// `(t·NV + v)·LANES`), or from zero if `first`. Token `t`'s words start at `x_rows[t]` of `x`,
/// and vector `v` of `W` at byte `starts[v]` of `w`, moving on by a panel's step each step; the
/// first steps also ask for `ahead`'s lines.
///
/// # Safety
/// The CPU must have `V`'s and `D`'s instruction sets.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn tile<V: Vector, D: QuadDot<V>, const TOKENS: usize, const NV: usize>(
    x: &[f32],
    x_rows: [usize; TOKENS],
    steps: usize,
    w: &[i8],
    starts: [usize; NV],
    ahead: Ahead<NV>,
    first: bool,
    sums: &[f32],
) -> [[V; NV]; TOKENS] {
    assert!(steps > 0 && sums.len() >= TOKENS * NV * V::LANES);
    for at in x_rows {
        assert!(at + steps <= x.len(), "x ends early");
    }
    let bytes = V::LANES * 4;
    for start in starts {
        assert!(
            start + (steps - 1) * STEP_BYTES + bytes <= w.len(),
            "W ends early"
        );
    }
    // SAFETY: the caller guarantees the instruction sets. Each broadcast reads `x[x_rows[t] + p]`
    // with `p < steps`, inside `x` by the asserts above; each vector of `W` reads `LANES·4` bytes
    // from `starts[v] + p·STEP_BYTES`, inside `w` by the asserts above; each load of the sums
    // `LANES` floats at `(t·NV + v)·LANES`, inside `sums`.
    unsafe {
        let mut acc = [[V::splat(0.0); NV]; TOKENS];
        if !first {
            for (t, acc_t) in acc.iter_mut().enumerate() {
                for (v, a) in acc_t.iter_mut().enumerate() {
                    *a = V::load(&sums[(t * NV + v) * V::LANES..]);
                }
            }
        }
        for p in 0..steps {
            let mut wv = [V::splat(0.0); NV];
            for (v, wv) in wv.iter_mut().enumerate() {
                let at = starts[v] + p * STEP_BYTES;
                // One prefetch a panel (AVX2's second vector of a step shares the first's line).
                if starts[v].is_multiple_of(STEP_BYTES) {
                    prefetch(w.as_ptr().wrapping_add(at + PANEL_AHEAD).cast());
                }
                *wv = V::load_bytes(w.get_unchecked(at..at + bytes));
            }
            if p < ahead.steps {
                for &panel in ahead.panels.iter().take(ahead.count) {
                    prefetch_l2(panel.wrapping_add(p * STEP_BYTES).cast());
                }
            }
            for (acc_t, &row) in acc.iter_mut().zip(&x_rows) {
                let x = V::splat(*x.get_unchecked(row + p));
                for (a, &wv) in acc_t.iter_mut().zip(&wv) {
                    *a = D::dot(*a, x, wv);
                }
            }
        }
        acc
    }
}

/// The lines a tile asks into L2 for the next group, one of each panel a step over its first
/// `steps` steps: its share of the next group's panels for the pass. (Asked for all at once
/// before the tile, a share of a few hundred lines filled the queue of misses: with 12 tokens,
/// two blocks, the encoder took 1.2-1.3 times as long.)
#[derive(Clone, Copy)]
struct Ahead<const NV: usize> {
    /// Where each panel's share starts (addresses to prefetch, never read).
    panels: [*const i8; NV],
    count: usize,
    steps: usize,
}

impl<const NV: usize> Ahead<NV> {
    /// Share `part` of `parts` of the steps `ks` of each panel in `panels` (`panel_len` bytes
    /// each, the last maybe fewer; at most `NV` of them): a step of a panel is one cache line.
    fn share(panels: &[i8], panel_len: usize, ks: Range<usize>, part: usize, parts: usize) -> Self {
        let first = ks.start + ks.len() * part / parts;
        let mut ahead = Ahead {
            panels: [std::ptr::null(); NV],
            count: 0,
            steps: ks.start + ks.len() * (part + 1) / parts - first,
        };
        for (slot, panel) in ahead.panels.iter_mut().zip(panels.chunks(panel_len)) {
            *slot = panel.as_ptr().wrapping_add(first * STEP_BYTES);
            ahead.count += 1;
        }
        ahead
    }
}

/// One token's outputs `y_row[..]` (its row of `y` from column `j` of the task) from its sums:
/// [`dequantize_lanes`] with its scale and zero point and the rows' scales, sums and biases.
///
/// # Safety
/// The CPU must have `V`'s instruction set.
#[inline(always)]
unsafe fn dequantize_into<V: Vector, const NV: usize>(
    acc: &[V; NV],
    x_scale: f32,
    x_zero: i32,
    w: I8Rows<'_>,
    bias: &[f32],
    j: usize,
    y_row: &mut [f32],
) {
    let cols = bias.len();
    for (v, &sum) in acc.iter().enumerate() {
        let c = j + v * V::LANES;
        if c >= cols {
            break;
        }
        let n = (cols - c).min(V::LANES);
        let y = &mut y_row[v * V::LANES..][..n];
        let (scale, w_sums, b) = (
            &w.scale[c..c + n],
            int_bits(&w.sums[c..c + n]),
            &bias[c..c + n],
        );
        // SAFETY: the caller guarantees `V`'s instruction set; whole loads and stores take
        // `LANES` elements (`n = LANES`), partial ones `n` (fewer), of slices `n` long.
        unsafe {
            if n == V::LANES {
                let (scale, w_sums, b) = (V::load(scale), V::load(w_sums), V::load(b));
                dequantize_lanes(sum, x_scale, x_zero, scale, w_sums, b).store(y)
            } else {
                let scale = V::load_partial(scale, 0.0);
                let (w_sums, b) = (V::load_partial(w_sums, 0.0), V::load_partial(b, 0.0));
                dequantize_lanes(sum, x_scale, x_zero, scale, w_sums, b).store_partial(y)
            }
        }
    }
}

/// `i32`s seen as the f32s of their bits, as the vectors hold them.
fn int_bits(ints: &[i32]) -> &[f32] {
    // SAFETY: `i32` and `f32` have the same size and alignment, and every bit pattern is an f32;
    // the slice borrows `ints` for its lifetime.
    unsafe { std::slice::from_raw_parts(ints.as_ptr().cast::<f32>(), ints.len()) }
}
