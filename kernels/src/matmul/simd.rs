//! The linear layer's micro-kernel on SIMD vectors: one generic body, instantiated for AVX2 and
//! AVX-512.
//!
//! It computes `yᵀ = W·xᵀ` a tile at a time: `MR` rows of `W` (output columns `j`), read in place
//! along `k`, by `NV` vectors of tokens from the packed `x~` (`pack.rs`). At step `p` it loads the
//! `NV` vectors `x~[p]`, broadcasts each `W[j, p]`, and does `MR·NV` fused multiply-adds into as many
//! accumulators, so every lane is one chain `acc ← x[i,p]·W[j,p] + acc` in increasing `p` from 0:
//! exactly `scalar::linear`'s order, whatever the tile, the blocking, `m` or the thread count. A
//! tile's sums leave the registers between passes (below) as f32 and come back unchanged, so the
//! chain is the same one. At the end the bias is added (`b[j] + acc`, as the scalar twin does) and
//! the tile is written into `y` transposed, token by token.
//!
//! The loops, per task (a [`YBlock`]: a chunk of tokens by a range of `W`'s rows, see [`Plan`]):
//!
//! ```text
//! for each pass: kc steps of k            (x~ of the chunk for the pass: ≤ 192 KB, stays in L2)
//!     for each panel of MR rows of W      (MR·kc floats of W: stay in L1 across the chunk)
//!         for each block of NR tokens     (kc·NR floats of x~, from L2)
//!             tile: kc steps of MR broadcasts, NV loads, MR·NV FMAs; sums to the task's buffer
//!             after the last pass: bias, and the tile into y
//! ```
//!
//! So `x~` is read from L2 however many tokens the batch has (one chunk's pass at a time, used by
//! every panel of the task), and `W` from memory once per chunk of 128 tokens.
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

use std::cell::RefCell;
use std::ops::Range;

use super::blocks::{Grid, YBlock};
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

/// Tokens per chunk, at most: a chunk's `W` panels are read once for all its tokens, so the more
/// the better for `W`'s traffic, but its sums (`cols × tokens`) must stay in L2 too.
const CHUNK_TOKENS: usize = 128;

/// Columns per task, at most (the task's sums: ≤ 128 KB with 128 tokens).
const TASK_COLS: usize = 256;

/// Tasks per thread when there are several: a thread that finishes early (its core was faster, or
/// another process took the other one for a while) takes over tasks that are still waiting, so the
/// threads end together. 16 rather than 4: at 1×128 tokens on 2 threads the encoder ran 5-11%
/// faster in interleaved runs (8 and 32 were between the two).
const TASKS_PER_THREAD: usize = 16;

/// Values of `x~` in one chunk's pass, at most: 192 KB, so that they stay in L2 (512 KB on Zen 3,
/// the smallest seen) beside the task's sums and the `W` panels streaming through.
const PASS_FLOATS: usize = 48 * 1024;

/// How one linear layer is cut: the tile, the tasks (chunks of tokens by ranges of `W`'s rows,
/// the rows a multiple of the tile's, the tokens of its width) and the steps of `k` per pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Plan {
    pub tile: Tile,
    pub grid: Grid,
    pub kc: usize,
}

impl Plan {
    /// Room for one task's sums between passes: a tile's `mr × nr` for each of its tiles.
    pub(super) fn sums_len(&self) -> usize {
        self.grid.rows * self.grid.cols
    }

    /// The plan for `m × k` tokens into `n` columns on `threads` threads.
    pub(super) fn new(isa: Isa, m: usize, n: usize, k: usize, threads: usize) -> Plan {
        let tile = Tile::new(isa, m);
        let chunks = m.div_ceil(CHUNK_TOKENS);
        let tokens = m.div_ceil(chunks).next_multiple_of(tile.nr);
        let tasks = match threads {
            0 | 1 => 1,
            threads => threads * TASKS_PER_THREAD,
        };
        let cols = n
            .div_ceil(tile.mr)
            .div_ceil(tasks.div_ceil(chunks))
            .clamp(1, TASK_COLS / tile.mr)
            * tile.mr;
        let passes = (tokens * k).div_ceil(PASS_FLOATS).max(1);
        Plan {
            tile,
            grid: Grid { rows: tokens, cols },
            kc: k.div_ceil(passes).max(1),
        }
    }
}

/// Columns `y.columns()` of `y = x·Wᵀ + b` for the tokens `y.rows()`, with AVX2 and FMA: `w` is
/// the rows of `W` matching `y`'s columns, `bias` the matching `b`, `kc` the steps per pass, and
/// `sums` room for the task's sums between passes ([`Plan::sums_len`]).
///
/// `x` must be packed for `Tile::new(Isa::Avx2, m)` and `y`'s tokens start on one of its blocks
/// (asserted).
///
/// # Safety
/// The CPU must have AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn linear_avx2(
    x: PackedX<'_>,
    w: &[f32],
    bias: &[f32],
    y: YBlock<'_>,
    kc: usize,
    sums: &mut [f32],
) {
    // SAFETY: this fn's # Safety guarantees AVX2 and FMA, `F32x8`'s instruction set.
    unsafe {
        if x.blocking.nr == AVX2_NARROW.nr {
            task::<F32x8, { AVX2_NARROW.mr }, 1>(x, w, bias, y, kc, sums)
        } else {
            task::<F32x8, { AVX2_WIDE.mr }, 2>(x, w, bias, y, kc, sums)
        }
    }
}

/// As [`linear_avx2`], with AVX-512 F.
///
/// # Safety
/// The CPU must have AVX-512 F.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn linear_avx512(
    x: PackedX<'_>,
    w: &[f32],
    bias: &[f32],
    y: YBlock<'_>,
    kc: usize,
    sums: &mut [f32],
) {
    // SAFETY: this fn's # Safety guarantees AVX-512 F, `F32x16`'s instruction set.
    unsafe {
        if x.blocking.nr == AVX512_NARROW.nr {
            task::<F32x16, { AVX512_NARROW.mr }, 1>(x, w, bias, y, kc, sums)
        } else {
            task::<F32x16, { AVX512_WIDE.mr }, 2>(x, w, bias, y, kc, sums)
        }
    }
}

/// Floats in a cache line.
const LINE_FLOATS: usize = 16;

/// How far ahead of the current step each row of `W` is prefetched, in floats: four cache lines.
/// `W` comes from memory (or L3) in `MR` streams a row apart, which the hardware prefetchers follow
/// poorly (each crosses a 4 KB page every few hundred steps); asking for each row's line four
/// lines ahead made the encoder 3% faster at 1×128 (interleaved runs) and the linear layers run at
/// 62-72% of the FMA peak instead of 51-57%.
const PREFETCH_AHEAD: usize = 4 * LINE_FLOATS;

/// Asks for the cache line holding `at` into L1. A hint: it never faults, whatever `at` is, so `at`
/// may lie past the end of the row.
#[inline(always)]
fn prefetch(at: *const f32) {
    // SAFETY: `prefetcht0` is SSE, which every x86-64 CPU has, and reads nothing the program can
    // observe: it cannot fault, even on an address outside any allocation.
    unsafe { std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(at.cast()) }
}

/// The widest tile, in tokens (AVX-512's two vectors of 16).
const MAX_NR: usize = 32;

thread_local! {
    /// The calling thread's buffer for a task's sums between passes, kept between calls so that
    /// `forward` does not allocate.
    static SUMS: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` on `len` floats of the thread's sums buffer (or of a fresh one, if a call further up
/// this thread's stack holds it).
///
/// Called outside the `#[target_feature]` entry points: a closure does not inherit its enclosing
/// function's target features, and the micro-kernel inside one would not be compiled for them.
pub(super) fn with_sums<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    let run = |buf: &mut Vec<f32>| {
        buf.resize(buf.len().max(len), 0.0);
        f(&mut buf[..len])
    };
    SUMS.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => run(&mut buf),
        Err(_) => run(&mut Vec::new()),
    })
}

/// The steps of `k` pass by pass, `kc` at a time.
fn passes(k: usize, kc: usize) -> impl Iterator<Item = Range<usize>> {
    (0..k).step_by(kc).map(move |p| p..(p + kc).min(k))
}

/// Every tile of the task `y`, pass by pass.
///
/// # Safety
/// The CPU must have `V`'s instruction set.
#[inline(always)]
unsafe fn task<V: Vector, const MR: usize, const NV: usize>(
    x: PackedX<'_>,
    w: &[f32],
    bias: &[f32],
    mut y: YBlock<'_>,
    kc: usize,
    sums: &mut [f32],
) {
    let (k, nr, cols) = (x.blocking.k, x.blocking.nr, y.columns().len());
    assert_eq!(nr, NV * V::LANES, "x~ is not packed for this tile");
    assert_eq!(x.blocking.lanes, V::LANES);
    let tokens = y.rows();
    assert!(
        tokens.start.is_multiple_of(nr) && tokens.end <= x.blocking.m,
        "y's tokens do not start on a block of x~"
    );
    assert!(
        w.len() == cols * k && bias.len() == cols,
        "W or b is not as long as y's columns"
    );
    assert!(k > 0 && kc > 0 && x.data.len() == x.blocking.len());
    assert!(nr <= MAX_NR);
    let blocks = tokens.start / nr..tokens.end.div_ceil(nr);
    let slot = MR * nr;
    assert!(
        sums.len() >= cols.div_ceil(MR) * blocks.len() * slot,
        "no room for the sums"
    );
    for ks in passes(k, kc) {
        for (panel_index, j) in (0..cols).step_by(MR).enumerate() {
            let rows = MR.min(cols - j);
            let panel = &w[j * k..(j + rows) * k];
            for (block_index, b) in blocks.clone().enumerate() {
                let block = x.blocking.block(b);
                let xs = &x.data[block.offset..][ks.start * block.width..ks.end * block.width];
                let at = (panel_index * blocks.len() + block_index) * slot;
                let sums = &mut sums[at..at + slot];
                // SAFETY: the caller guarantees `V`'s instruction set (this fn's # Safety), all
                // `tile` needs besides the lengths it asserts.
                unsafe {
                    if block.width == nr {
                        tile::<V, MR, NV>(xs, panel, k, ks.clone(), sums);
                    } else {
                        tile::<V, MR, 1>(xs, panel, k, ks.clone(), sums);
                    }
                }
                if ks.end == k {
                    finish(sums, block, &bias[j..j + rows], &mut y, j);
                }
            }
        }
    }
}

/// One pass of one tile: continues the sums of a block of `NV` vectors of tokens by `MR` rows of
/// `W` over the steps `ks` of `k`, `sums[r][t] ← x[t,p]·W[r,p] + sums[r][t]` for `p` in `ks` in
/// order, from zero when `ks` starts at 0. `xs` is the block's `x~` for those steps, `panel` holds
/// `rows ≤ MR` whole rows of `W` (`rows × k`), and `sums` row `r` of the tile at `r·NV·LANES`.
///
/// # Safety
/// The CPU must have `V`'s instruction set.
#[inline(always)]
unsafe fn tile<V: Vector, const MR: usize, const NV: usize>(
    xs: &[f32],
    panel: &[f32],
    k: usize,
    ks: Range<usize>,
    sums: &mut [f32],
) {
    let nr = NV * V::LANES;
    let rows = panel.len() / k;
    // The checks that make the unchecked reads and the stores below hold.
    assert!(ks.start < ks.end && ks.end <= k && xs.len() == ks.len() * nr);
    assert!(rows >= 1 && rows <= MR && panel.len() == rows * k);
    assert!(sums.len() >= MR * nr);
    // Where each row of the tile starts in `panel` for this pass: rows past the last repeat it.
    let starts: [usize; MR] = std::array::from_fn(|r| r.min(rows - 1) * k + ks.start);

    // SAFETY: the caller guarantees `V`'s instruction set (this fn's # Safety). Each load and store
    // of the sums takes `LANES` elements at `(r·NV + v)·LANES`, inside `sums` (`MR·nr` long). The
    // unchecked reads lie inside their slices, by the asserts above: p < ks.len(), so each vector
    // of `x~` ends by `p·nr + nr ≤ xs.len()`; `starts[r] + p < (rows - 1)·k + ks.end ≤ rows·k`,
    // which is `panel.len()`.
    unsafe {
        let mut acc = [[V::splat(0.0); NV]; MR];
        if ks.start > 0 {
            for (r, acc_r) in acc.iter_mut().enumerate() {
                for (v, a) in acc_r.iter_mut().enumerate() {
                    *a = V::load(&sums[(r * NV + v) * V::LANES..]);
                }
            }
        }
        // ks.len() steps of MR broadcasts, NV loads and MR·NV fused multiply-adds.
        for p in 0..ks.len() {
            if p % LINE_FLOATS == 0 {
                for start in starts {
                    prefetch(panel.as_ptr().wrapping_add(start + p + PREFETCH_AHEAD));
                }
            }
            let xv: [V; NV] =
                std::array::from_fn(|v| V::load(xs.get_unchecked(p * nr + v * V::LANES..)));
            for r in 0..MR {
                let wv = V::splat(*panel.get_unchecked(starts[r] + p));
                for v in 0..NV {
                    acc[r][v] = wv.mul_add(xv[v], acc[r][v]);
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

/// `y[block's tokens, j..j + rows] = b + sums`, token by token, where `bias` is `b[j..j + rows]`
/// and `sums` holds the tile's rows `block.width` apart.
fn finish(sums: &[f32], block: Block, bias: &[f32], y: &mut YBlock<'_>, j: usize) {
    for t in 0..block.tokens {
        let y_row = &mut y.row(block.i0 + t)[j..j + bias.len()];
        for (r, (y, b)) in y_row.iter_mut().zip(bias).enumerate() {
            *y = b + sums[r * block.width + t];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::blocks::for_each_block;
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
    unsafe fn linear_16_lanes(
        x: PackedX<'_>,
        w: &[f32],
        bias: &[f32],
        y: YBlock<'_>,
        kc: usize,
        sums: &mut [f32],
    ) {
        // SAFETY: this fn's # Safety guarantees AVX2 and FMA, all `F32x8x2` needs.
        unsafe {
            if x.blocking.nr == AVX512_NARROW.nr {
                task::<F32x8x2, { AVX512_NARROW.mr }, 1>(x, w, bias, y, kc, sums)
            } else {
                task::<F32x8x2, { AVX512_WIDE.mr }, 2>(x, w, bias, y, kc, sums)
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
        // m around AVX-512's tiles (16 and 32 tokens) and chunks (128), n around its panels (8
        // rows), in the plan's passes and in passes of 5 steps, and tasks of 2 threads' plan.
        for m in [1, 2, 15, 16, 17, 31, 32, 33, 48, 50, 130, 200] {
            for (k, n) in [(1, 1), (7, 13), (51, 25), (100, 57), (768, 31)] {
                let x = values(m * k, 1);
                let w = values(n * k, 2);
                let bias = values(n, 3);
                let mut want = vec![0.0; m * n];
                scalar::linear(&x, &w, &bias, k, YBlock::whole(&mut want, m, n));
                let plan = Plan::new(Isa::Avx512, m, n, k, 2);
                let blocking = Blocking::new(m, k, plan.tile.nr, plan.tile.lanes);
                for kc in [plan.kc, 5] {
                    let mut got = vec![f32::NAN; m * n];
                    with_packed(&x, blocking, |px| {
                        for_each_block(&mut got, m, n, plan.grid, |y| {
                            let j = y.columns();
                            let (w, bias) = (&w[j.start * k..j.end * k], &bias[j]);
                            // SAFETY: AVX2 and FMA were checked above; `px` is packed for the
                            // plan's tiles.
                            with_sums(plan.sums_len(), |sums| unsafe {
                                linear_16_lanes(px, w, bias, y, kc, sums)
                            })
                        })
                    });
                    let same = got
                        .iter()
                        .zip(&want)
                        .all(|(g, w)| g.to_bits() == w.to_bits());
                    assert!(
                        same,
                        "{m}x{k}x{n} in passes of {kc}: the 16-lane tiles differ from the scalar twin"
                    );
                }
            }
        }
    }

    #[test]
    fn plans_keep_a_pass_in_l2_and_tasks_on_whole_blocks() {
        // One sentence of 12 tokens: one chunk, one pass, 32 tasks of 24 columns on 2 threads.
        let plan = Plan::new(Isa::Avx512, 12, 768, 3072, 2);
        assert_eq!(plan.tile, AVX512_NARROW);
        assert_eq!(plan.grid, Grid { rows: 16, cols: 24 });
        assert_eq!(plan.kc, 3072);
        // 32 × 128 tokens into the feed-forward's 3072: chunks of 128 by 256 columns, passes of
        // 384 steps (128 · 384 floats of x~ = 192 KB).
        let plan = Plan::new(Isa::Avx512, 4096, 3072, 3072, 2);
        assert_eq!(
            plan.grid,
            Grid {
                rows: 128,
                cols: 256
            }
        );
        assert_eq!(plan.kc, 384);
        // 130 tokens: two chunks of 65, each rounded up to whole blocks of 32.
        let plan = Plan::new(Isa::Avx2, 130, 768, 768, 2);
        assert_eq!((plan.grid.rows, plan.grid.cols % AVX2_WIDE.mr), (80, 0));
    }
}
