//! The linear layer's micro-kernel on SIMD vectors: one generic body, instantiated for AVX2 and
//! AVX-512.
//!
//! It computes `yᵀ = W·xᵀ` a tile at a time: `MR` rows of `W` (output columns `j`), read in place
//! along `k`, by `NV` vectors of tokens from the packed `x~` (`pack.rs`). At step `p` it loads the
//! `NV` vectors `x~[p]`, broadcasts each `W[j, p]`, and does `MR·NV` fused multiply-adds into as many
//! accumulators, so every lane is one chain `acc ← x[i,p]·W[j,p] + acc` in increasing `p` from 0:
//! exactly `scalar::linear`'s order, whatever the tile, `m` or the thread count. At the end the
//! bias is added (`b[j] + acc`, as the scalar twin does) and the tile is written into `y`
//! transposed, token by token.
//!
//! The loops, per thread (which owns a range of `W`'s rows):
//!
//! ```text
//! for each panel of MR rows of W      (MR·k floats: stays in L1/L2; W is read from memory once)
//!     for each block of NR tokens     (x~ block: k·NR floats, from L2)
//!         tile: k steps of MR broadcasts, NV loads, MR·NV FMAs; then bias and store
//! ```
//!
//! Tiles: on AVX2 (16 `ymm`), 6 rows × 2 vectors (12 accumulators, 2 loaded vectors and a
//! broadcast: the register file, full); on AVX-512 (32 `zmm`), 8 rows × 2 vectors (16). When all
//! the tokens fit in one vector (`m ≤ 8`, or 16: a short sentence, or the MLM head at one
//! `[MASK]`) the tile is 8 rows × 1 vector: the layer is then bound by reading `W`, and 8 chains
//! are enough to hide the FMA latency (4 cycles on 2 ports). A block of tokens narrower than the
//! tile (the last one, when it fits in one vector) uses the one-vector tile with the same rows.
//! Rows past the end of `W` read the last row again and are not stored.
//!
//! Eight rows at most, because of the L1 cache: when a row of `W` is a multiple of 4 KB long
//! (`k` = 3072, the feed-forward output), the rows' current cache lines all fall in one set, and on
//! an 8-way L1 a ninth row evicts one at every step (12 rows ran at half the speed of 8 here, with
//! one token). So AVX-512 stays at 8 rows and leaves half its registers free: 16 accumulators are
//! still twice the chains the FMA latency needs.

use super::columns::ColumnBlock;
use super::pack::{Block, PackedX};
use crate::simd::{F32x16, F32x8, Vector};
use crate::Isa;

/// The tile shape: `mr` rows of `W` by `nr` tokens, in vectors of `lanes`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Tile {
    pub mr: usize,
    pub nr: usize,
    pub lanes: usize,
}

const AVX2_WIDE: Tile = Tile {
    mr: 6,
    nr: 16,
    lanes: 8,
};
const AVX2_NARROW: Tile = Tile {
    mr: 8,
    nr: 8,
    lanes: 8,
};
const AVX512_WIDE: Tile = Tile {
    mr: 8,
    nr: 32,
    lanes: 16,
};
const AVX512_NARROW: Tile = Tile {
    mr: 8,
    nr: 16,
    lanes: 16,
};

impl Tile {
    /// The tile for `m` tokens: one vector wide if that holds them all.
    pub(super) fn new(isa: Isa, m: usize) -> Tile {
        match isa {
            Isa::Avx2 if m <= AVX2_NARROW.nr => AVX2_NARROW,
            Isa::Avx2 => AVX2_WIDE,
            Isa::Avx512 if m <= AVX512_NARROW.nr => AVX512_NARROW,
            Isa::Avx512 => AVX512_WIDE,
            Isa::Scalar => unreachable!("the scalar twin has no tiles"),
        }
    }
}

/// Columns `j0..j0 + y.cols()` of `y = x·Wᵀ + b`, with AVX2 and FMA: `w` is rows `j0..` of `W`
/// (`y.cols() × k`), `bias` is `b[j0..]` (`y.cols()`), `y` the block of those columns.
///
/// `x` must be packed for `Tile::new(Isa::Avx2, m)` (asserted).
///
/// # Safety
/// The CPU must have AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn linear_avx2(x: PackedX<'_>, w: &[f32], bias: &[f32], y: ColumnBlock<'_>) {
    // SAFETY: this fn's # Safety guarantees AVX2 and FMA, `F32x8`'s instruction set.
    unsafe {
        if x.blocking.nr == AVX2_NARROW.nr {
            panels::<F32x8, { AVX2_NARROW.mr }, 1>(x, w, bias, y)
        } else {
            panels::<F32x8, { AVX2_WIDE.mr }, 2>(x, w, bias, y)
        }
    }
}

/// As [`linear_avx2`], with AVX-512 F.
///
/// # Safety
/// The CPU must have AVX-512 F.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn linear_avx512(x: PackedX<'_>, w: &[f32], bias: &[f32], y: ColumnBlock<'_>) {
    // SAFETY: this fn's # Safety guarantees AVX-512 F, `F32x16`'s instruction set.
    unsafe {
        if x.blocking.nr == AVX512_NARROW.nr {
            panels::<F32x16, { AVX512_NARROW.mr }, 1>(x, w, bias, y)
        } else {
            panels::<F32x16, { AVX512_WIDE.mr }, 2>(x, w, bias, y)
        }
    }
}

/// The widest tile, in tokens (AVX-512's two vectors of 16).
const MAX_NR: usize = 32;

/// Every tile of the columns `y` holds, panel by panel.
///
/// # Safety
/// The CPU must have `V`'s instruction set.
#[inline(always)]
unsafe fn panels<V: Vector, const MR: usize, const NV: usize>(
    x: PackedX<'_>,
    w: &[f32],
    bias: &[f32],
    mut y: ColumnBlock<'_>,
) {
    let (k, cols) = (x.blocking.k, y.cols());
    assert_eq!(
        x.blocking.nr,
        NV * V::LANES,
        "x~ is not packed for this tile"
    );
    assert_eq!(x.blocking.lanes, V::LANES);
    assert_eq!(x.blocking.m, y.rows(), "x and y differ in rows");
    assert!(
        w.len() == cols * k && bias.len() == cols,
        "W or b is not y.cols() long"
    );
    assert!(k > 0 && x.data.len() == x.blocking.len());
    assert!(NV * V::LANES <= MAX_NR);
    for j in (0..cols).step_by(MR) {
        let rows = MR.min(cols - j);
        let panel = &w[j * k..(j + rows) * k];
        for block in x.blocks() {
            // SAFETY: the caller guarantees `V`'s instruction set (this fn's # Safety), all `tile`
            // needs besides the lengths it asserts.
            unsafe {
                if block.width == NV * V::LANES {
                    tile::<V, MR, NV>(x.data, block, panel, k, &bias[j..j + rows], &mut y, j);
                } else {
                    tile::<V, MR, 1>(x.data, block, panel, k, &bias[j..j + rows], &mut y, j);
                }
            }
        }
    }
}

/// One tile: `y[block's tokens, j..j + rows] = x·panelᵀ + bias`, where `panel` is `rows ≤ MR`
/// rows of `W` (`rows × k`) and the block is `NV` vectors wide.
///
/// # Safety
/// The CPU must have `V`'s instruction set.
#[inline(always)]
unsafe fn tile<V: Vector, const MR: usize, const NV: usize>(
    xp: &[f32],
    block: Block,
    panel: &[f32],
    k: usize,
    bias: &[f32],
    y: &mut ColumnBlock<'_>,
    j: usize,
) {
    let rows = bias.len();
    let nr = NV * V::LANES;
    // The checks that make the unchecked reads and the stores below hold.
    assert!(nr <= MAX_NR && block.width == nr && block.offset + k * nr <= xp.len());
    assert!(rows >= 1 && rows <= MR && panel.len() == rows * k);
    assert!(block.tokens <= nr && block.i0 + block.tokens <= y.rows() && j + rows <= y.cols());
    let xs = &xp[block.offset..block.offset + k * nr];
    // Where each row of the tile starts in `panel`: rows past the last repeat it.
    let starts: [usize; MR] = std::array::from_fn(|r| r.min(rows - 1) * k);

    // k steps of MR broadcasts, NV loads and MR·NV fused multiply-adds.
    // SAFETY: the caller guarantees `V`'s instruction set (this fn's # Safety). The unchecked
    // reads lie inside their slices, by the asserts above: p < k, so each vector of `x~` ends by
    // `p·nr + nr ≤ k·nr = xs.len()`; `starts[r] ≤ (rows - 1)·k`, so `starts[r] + p < rows·k`,
    // which is `panel.len()`.
    let acc = unsafe {
        let mut acc = [[V::splat(0.0); NV]; MR];
        for p in 0..k {
            let xv: [V; NV] =
                std::array::from_fn(|v| V::load(xs.get_unchecked(p * nr + v * V::LANES..)));
            for r in 0..MR {
                let wv = V::splat(*panel.get_unchecked(starts[r] + p));
                for v in 0..NV {
                    acc[r][v] = wv.mul_add(xv[v], acc[r][v]);
                }
            }
        }
        acc
    };

    // `b[j] + acc`, row by row (`MR × nr`), then into `y` token by token.
    let mut out = [[0.0f32; MAX_NR]; MR];
    // SAFETY: `V`'s instruction set, as above; each store writes `LANES` elements of a row of
    // `out`, at `v·LANES` with `(v + 1)·LANES ≤ nr ≤ MAX_NR`.
    unsafe {
        for (r, (out_r, acc_r)) in out.iter_mut().zip(&acc).enumerate() {
            let b = V::splat(bias[r.min(rows - 1)]);
            for (v, a) in acc_r.iter().enumerate() {
                b.add(*a).store(&mut out_r[v * V::LANES..]);
            }
        }
    }
    for t in 0..block.tokens {
        let y_row = &mut y.row(block.i0 + t)[j..j + rows];
        for (y, out_r) in y_row.iter_mut().zip(&out) {
            *y = out_r[t];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::pack::{with_packed, Blocking};
    use super::super::scalar;
    use super::*;
    use crate::simd::F32x8x2;
    use crate::testing::supported_or_skip;

    /// The generic body with AVX-512's tiles and 16-lane vectors, run on AVX2.
    ///
    /// # Safety
    /// The CPU must have AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn linear_16_lanes(x: PackedX<'_>, w: &[f32], bias: &[f32], y: ColumnBlock<'_>) {
        // SAFETY: this fn's # Safety guarantees AVX2 and FMA, all `F32x8x2` needs.
        unsafe {
            if x.blocking.nr == AVX512_NARROW.nr {
                panels::<F32x8x2, { AVX512_NARROW.mr }, 1>(x, w, bias, y)
            } else {
                panels::<F32x8x2, { AVX512_WIDE.mr }, 2>(x, w, bias, y)
            }
        }
    }

    /// Deterministic values in `[-1, 1)` with every mantissa bit in play.
    fn values(n: usize, seed: u32) -> Vec<f32> {
        (0..n as u32)
            .map(|i| {
                let h = (i ^ seed.wrapping_mul(0x27D4_EB2F))
                    .wrapping_mul(0x9E37_79B9)
                    .rotate_left(13)
                    .wrapping_mul(0x85EB_CA6B);
                (h >> 8) as f32 / (1u32 << 23) as f32 - 1.0
            })
            .collect()
    }

    #[test]
    fn sixteen_lanes_equal_the_scalar_twin_bit_for_bit() {
        if !supported_or_skip(Isa::Avx2) {
            return;
        }
        // m around AVX-512's tiles (16 and 32 tokens), n around its panels (8 rows).
        for m in [1, 2, 15, 16, 17, 31, 32, 33, 48, 50] {
            for (k, n) in [(1, 1), (7, 13), (51, 25), (100, 57), (768, 31)] {
                let x = values(m * k, 1);
                let w = values(n * k, 2);
                let bias = values(n, 3);
                let mut want = vec![0.0; m * n];
                scalar::linear(&x, &w, &bias, k, ColumnBlock::whole(&mut want, m, n));
                let mut got = vec![f32::NAN; m * n];
                let tile = if m <= AVX512_NARROW.nr {
                    AVX512_NARROW
                } else {
                    AVX512_WIDE
                };
                let blocking = Blocking::new(m, k, tile.nr, tile.lanes);
                with_packed(&x, blocking, |px| {
                    // SAFETY: AVX2 and FMA were checked above; `px` is packed for these tiles.
                    unsafe { linear_16_lanes(px, &w, &bias, ColumnBlock::whole(&mut got, m, n)) }
                });
                let same = got
                    .iter()
                    .zip(&want)
                    .all(|(g, w)| g.to_bits() == w.to_bits());
                assert!(
                    same,
                    "{m}x{k}x{n}: the 16-lane tiles differ from the scalar twin"
                );
            }
        }
    }
}
