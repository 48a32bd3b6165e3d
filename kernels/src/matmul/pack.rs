//! The linear layer's input `x` (`m × k`, row-major), packed for its micro-kernel: `x → x~`.
//!
//! The tokens are cut into blocks of `nr` (the tile's width); within a block, for each `p` the
//! block's values `x[i0.., p]` are contiguous, so the micro-kernel reads one block as `k` steps of
//! `nr / lanes` whole vectors. The last block holds what is left: it is one vector (`lanes`) wide
//! if that is enough, else `nr`. Lanes past `m` are zero.
//!
//! ```text
//! x (m × k)                 x~, block b (k × width)
//! row i0     a0 a1 a2 …      p=0: a0 b0 c0 … (width values)
//! row i0+1   b0 b1 b2 …      p=1: a1 b1 c1 …
//! …                          …
//! ```
//!
//! Packing costs one pass over `x` (`m·k` values, a few percent of the product at `k ≥ 64`); the
//! weights are never packed.
//!
//! For bf16 weights multiplied in pairs ([`Words::Bf16Pairs`]), each value of `x~` is instead a pair
//! of bf16, `x[i, 2q]` (rounded to nearest even) in the low half and `x[i, 2q + 1]` in the high,
//! kept in an f32's bits: `x~` has `k / 2` steps of pairs, laid out as above.

use half::bf16;
use rayon::prelude::*;
use std::cell::RefCell;

use super::local::with_buffer;

/// Where the packed values start in the buffer: 64 bytes, a cache line, so that a block's rows
/// (`nr` floats, 64 bytes for AVX2's 16 and a multiple of it for AVX-512's 32) never straddle two.
const ALIGN_FLOATS: usize = 16;

/// Values of `p` packed at a time (see [`block`]).
const STEPS: usize = 16;

/// One block of tokens in `x~`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Block {
    /// The first token (row of `x`).
    pub i0: usize,
    /// How many tokens are real (the rest of the width is zero padding).
    pub tokens: usize,
    /// Values per `p`: `nr`, or `lanes` for a short last block.
    pub width: usize,
    /// Where the block starts in [`PackedX::data`]; it is `k · width` long.
    pub offset: usize,
}

/// How `m` tokens are cut into blocks for tiles `nr` wide made of `lanes`-wide vectors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Blocking {
    pub m: usize,
    pub k: usize,
    pub nr: usize,
    pub lanes: usize,
}

impl Blocking {
    /// `nr` must be a multiple of `lanes`.
    pub fn new(m: usize, k: usize, nr: usize, lanes: usize) -> Self {
        assert!(lanes > 0 && nr >= lanes && nr.is_multiple_of(lanes));
        Blocking { m, k, nr, lanes }
    }

    /// The width of the last block, which holds the `m mod nr` (or `nr`) last tokens.
    fn last_width(&self) -> usize {
        let rest = self.m - (self.blocks() - 1) * self.nr;
        if rest <= self.lanes {
            self.lanes
        } else {
            self.nr
        }
    }

    /// How many blocks.
    pub fn blocks(&self) -> usize {
        self.m.div_ceil(self.nr)
    }

    /// The length of `x~`: `k` values per column of width, padding included.
    pub fn len(&self) -> usize {
        match self.blocks() {
            0 => 0,
            b => ((b - 1) * self.nr + self.last_width()) * self.k,
        }
    }

    /// Block `b`.
    pub fn block(&self, b: usize) -> Block {
        debug_assert!(b < self.blocks());
        let i0 = b * self.nr;
        let width = if b + 1 == self.blocks() {
            self.last_width()
        } else {
            self.nr
        };
        Block {
            i0,
            tokens: (self.m - i0).min(self.nr),
            width,
            offset: i0 * self.k,
        }
    }
}

/// What a value of `x~` holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Words {
    /// One f32 of `x`.
    F32,
    /// Two values of `x` rounded to bf16, the even one in the low half; `x` has `2k` values a row.
    Bf16Pairs,
}

impl Words {
    /// Values of `x` in one value of `x~`.
    fn per_word(self) -> usize {
        match self {
            Words::F32 => 1,
            Words::Bf16Pairs => 2,
        }
    }
}

/// `x~`, ready for the micro-kernel.
#[derive(Clone, Copy, Debug)]
pub(super) struct PackedX<'a> {
    pub data: &'a [f32],
    pub blocking: Blocking,
}

thread_local! {
    /// The calling thread's buffer for `x~`, kept between calls so that `forward` does not
    /// allocate (it grows to the largest `m·k` seen: 6 MB for 512 tokens into the FFN's 3072).
    static BUFFER: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Packs `x` (`m × k` words, row-major) as `blocking` and `words` say and runs `f` on the result,
/// in the thread's buffer (`local::with_buffer`). Blocks are packed in parallel on the current
/// rayon pool.
pub(super) fn with_packed<R>(
    x: &[f32],
    blocking: Blocking,
    words: Words,
    f: impl FnOnce(PackedX<'_>) -> R,
) -> R {
    assert_eq!(
        x.len(),
        blocking.m * blocking.k * words.per_word(),
        "input is not m×k"
    );
    let len = blocking.len();
    with_buffer(&BUFFER, len + ALIGN_FLOATS, |buf| {
        let start = buf
            .as_ptr()
            .align_offset(ALIGN_FLOATS * 4)
            .min(ALIGN_FLOATS);
        let data = &mut buf[start..start + len];
        pack(x, blocking, words, data);
        f(PackedX { data, blocking })
    })
}

/// `x → x~`. Every value of `out` is written, the padding with zeros.
fn pack(x: &[f32], blocking: Blocking, words: Words, out: &mut [f32]) {
    let Blocking { k, nr, .. } = blocking;
    assert_eq!(out.len(), blocking.len());
    if k == 0 {
        return;
    }
    // Every block but the last is `nr·k` long, and the last is the rest: the chunks are the blocks.
    out.par_chunks_mut(nr * k).enumerate().for_each(|(b, dst)| {
        let Block {
            i0, tokens, width, ..
        } = blocking.block(b);
        let row_len = k * words.per_word();
        let rows = &x[i0 * row_len..(i0 + tokens) * row_len];
        // The tiles' widths, known at compile time: twice as fast as `any_width`.
        match (words, width) {
            (Words::F32, 8) => block::<8>(rows, k, dst),
            (Words::F32, 16) => block::<16>(rows, k, dst),
            (Words::F32, 32) => block::<32>(rows, k, dst),
            (Words::F32, _) => any_width(rows, k, width, dst),
            (Words::Bf16Pairs, _) => bf16_pairs(rows, k, width, dst),
        }
    });
}

/// One block `W` wide: `dst[p][t] = rows[t][p]`, and zeros past the last token.
///
/// `STEPS` values of `p` at a time, token by token within: a `STEPS × W` square of `x~` and
/// `STEPS` values of each row of `x`, a few cache lines each, all in L1.
fn block<const W: usize>(rows: &[f32], k: usize, dst: &mut [f32]) {
    let tokens = rows.len() / k;
    let (dst, rest) = dst.as_chunks_mut::<W>();
    assert!(rest.is_empty() && dst.len() == k && tokens <= W);
    for (c, dst) in dst.chunks_mut(STEPS).enumerate() {
        for (t, row) in rows.chunks_exact(k).enumerate() {
            for (dst_p, &v) in dst.iter_mut().zip(&row[c * STEPS..]) {
                dst_p[t] = v;
            }
        }
        for dst_p in dst {
            dst_p[tokens..].fill(0.0);
        }
    }
}

/// [`block`] for any width.
fn any_width(rows: &[f32], k: usize, width: usize, dst: &mut [f32]) {
    let tokens = rows.len() / k;
    for (t, row) in rows.chunks_exact(k).enumerate() {
        for (p, &v) in row.iter().enumerate() {
            dst[p * width + t] = v;
        }
    }
    for dst_p in dst.chunks_exact_mut(width) {
        dst_p[tokens..].fill(0.0);
    }
}

/// A block of `width` tokens in pairs of bf16: `dst[q][t] = (x[t, 2q], x[t, 2q + 1])` for `q <
/// steps`, and zeros past the last token.
fn bf16_pairs(rows: &[f32], steps: usize, width: usize, dst: &mut [f32]) {
    let tokens = rows.len() / (2 * steps);
    for (t, row) in rows.chunks_exact(2 * steps).enumerate() {
        for (q, pair) in row.chunks_exact(2).enumerate() {
            let (even, odd) = (bf16::from_f32(pair[0]), bf16::from_f32(pair[1]));
            let bits = u32::from(even.to_bits()) | (u32::from(odd.to_bits()) << 16);
            dst[q * width + t] = f32::from_bits(bits);
        }
    }
    for dst_q in dst.chunks_exact_mut(width) {
        dst_q[tokens..].fill(0.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_of_16_with_a_narrow_last_one() {
        // 21 tokens in tiles of 16 (two vectors of 8): one full block, then 5 tokens in 8 lanes.
        let b = Blocking::new(21, 3, 16, 8);
        assert_eq!(b.blocks(), 2);
        assert_eq!(
            b.block(1),
            Block {
                i0: 16,
                tokens: 5,
                width: 8,
                offset: 48
            }
        );
        assert_eq!(b.len(), (16 + 8) * 3);
        // 26 tokens: the last 10 need the full width.
        let b = Blocking::new(26, 3, 16, 8);
        assert_eq!(b.block(1).width, 16);
        assert_eq!(b.len(), 32 * 3);
    }

    #[test]
    fn packs_every_width_as_defined() {
        // (m, k, nr, lanes): the tiles' widths (8, 16, 32) and another, k off the 16-step squares.
        for (m, k, nr, lanes) in [
            (5, 37, 8, 8),
            (21, 17, 16, 8),
            (40, 3, 32, 16),
            (7, 5, 6, 3),
        ] {
            let x: Vec<f32> = (0..m * k).map(|v| v as f32).collect();
            let blocking = Blocking::new(m, k, nr, lanes);
            let got = with_packed(&x, blocking, Words::F32, |px| px.data.to_vec());
            let mut want = vec![];
            for b in 0..blocking.blocks() {
                let block = blocking.block(b);
                assert_eq!(want.len(), block.offset);
                for p in 0..k {
                    for t in 0..block.width {
                        let i = block.i0 + t;
                        want.push(if t < block.tokens { x[i * k + p] } else { 0.0 });
                    }
                }
            }
            assert_eq!(got, want, "m={m} k={k} nr={nr}");
        }
    }

    #[test]
    fn packs_pairs_of_bf16_by_hand() {
        // x = [1 2 3 4; 5 6 7 8.001] in one block of 2 tokens: step 0 holds (1, 2) and (5, 6),
        // step 1 (3, 4) and (7, 8.001 rounded to bf16: 8); bf16(v) is the high half of v's bits.
        let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.001];
        let got = with_packed(&x, Blocking::new(2, 2, 2, 2), Words::Bf16Pairs, |px| {
            px.data.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        });
        let pair = |even: f32, odd: f32| (even.to_bits() >> 16) | (odd.to_bits() & 0xFFFF_0000);
        assert_eq!(
            got,
            [
                pair(1.0, 2.0),
                pair(5.0, 6.0),
                pair(3.0, 4.0),
                pair(7.0, 8.0)
            ]
        );
    }

    #[test]
    fn packs_a_3x2_input_by_hand() {
        // x = [1 2; 3 4; 5 6] in blocks of 2 tokens (vectors of 2): block 0 is p=0: 1 3, p=1: 2 4;
        // block 1 is token 2 and a zero lane: p=0: 5 0, p=1: 6 0.
        let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let got = with_packed(&x, Blocking::new(3, 2, 2, 2), Words::F32, |px| {
            px.data.to_vec()
        });
        assert_eq!(got, [1.0, 3.0, 2.0, 4.0, 5.0, 0.0, 6.0, 0.0]);
    }
}
