//! The linear layer's tasks on SIMD vectors: one generic body, instantiated for AVX2 and AVX-512,
//! for f32 weights and bf16 ones (widened, or multiplied in pairs with AVX-512 BF16); the
//! micro-kernel itself, generic over what a step multiplies, is `tile.rs`.
//!
//! For f32 weights it computes `yᵀ = W·xᵀ` a tile at a time: `MR` rows of `W` (output columns `j`), read in place
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
//! bf16 weights go through the same loops. Widened ([`Widened`]), each panel's `MR × kc` weights
//! are converted to f32 once per pass (16 KB at most, in L1) and the f32 tile runs on them: the
//! scalar twin's chain over the widened weights, bit for bit. In pairs ([`Bf16Pairs`], AVX-512
//! BF16), `x~` holds pairs of bf16 and a step is two values of `k`: one `vdpbf16ps` per
//! accumulator, with `W` read in place.
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

use half::bf16;

use super::blocks::{Grid, YBlock};
use super::pack::{Block, PackedX};
use super::tile::{tile, F32Fma, Panel, Step};
use super::widen;
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

/// Steps of `k` in one pass, at most, whatever the tokens: `MR` rows of widened bf16 weights for a
/// pass (16 KB at 8 rows) then stay in L1 while the tiles read them.
const PASS_STEPS: usize = 512;

/// How one linear layer is cut: the tile, the tasks (chunks of tokens by ranges of `W`'s rows,
/// the rows a multiple of the tile's, the tokens of its width) and the steps of `k` per pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Plan {
    pub tile: Tile,
    pub grid: Grid,
    pub kc: usize,
}

impl Plan {
    /// Room for one task's scratch: its sums between passes (a tile's `mr × nr` for each of its
    /// tiles) and one panel of `W` widened for a pass.
    pub(super) fn scratch_len(&self) -> usize {
        self.grid.rows * self.grid.cols + self.tile.mr * self.kc
    }

    /// The plan for `m` tokens of `k` steps (4-byte words of `x~`) into `n` columns on `threads`
    /// threads.
    pub(super) fn new(isa: Isa, m: usize, n: usize, k: usize, threads: usize) -> Plan {
        let tile = Tile::new(isa, m);
        let chunks = m.div_ceil(CHUNK_TOKENS).max(1);
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
        let passes = (tokens * k)
            .div_ceil(PASS_FLOATS)
            .max(k.div_ceil(PASS_STEPS))
            .max(1);
        Plan {
            tile,
            grid: Grid { rows: tokens, cols },
            kc: k.div_ceil(passes).max(1),
        }
    }
}

/// A linear layer's weights, `n × k` row-major (PyTorch's layout), as the task reads them.
#[derive(Clone, Copy, Debug)]
pub(super) enum Weights<'a> {
    /// f32, read in place.
    F32(&'a [f32]),
    /// bf16, widened to f32 a panel at a time (`W`'s bytes halved, the arithmetic f32's).
    Bf16(&'a [bf16]),
}

impl<'a> Weights<'a> {
    /// Rows `j` of `W`, `k` elements each.
    pub(super) fn rows(self, j: Range<usize>, k: usize) -> Weights<'a> {
        match self {
            Weights::F32(w) => Weights::F32(&w[j.start * k..j.end * k]),
            Weights::Bf16(w) => Weights::Bf16(&w[j.start * k..j.end * k]),
        }
    }
}

/// Columns `y.columns()` of `y = x·Wᵀ + b` for the tokens `y.rows()`, with AVX2 and FMA: `w` is
/// the rows of `W` matching `y`'s columns, `bias` the matching `b`, `kc` the steps per pass, and
/// `scratch` room for the task's sums between passes and a widened panel
/// ([`Plan::scratch_len`]).
///
/// `x` must be packed in f32 for `Tile::new(Isa::Avx2, m)` and `y`'s tokens start on one of its
/// blocks (asserted).
///
/// # Safety
/// The CPU must have AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn linear_avx2(
    x: PackedX<'_>,
    w: Weights<'_>,
    bias: &[f32],
    y: YBlock<'_>,
    kc: usize,
    scratch: &mut [f32],
) {
    const TILES: [Tile; 2] = [AVX2_NARROW, AVX2_WIDE];
    // SAFETY: this fn's # Safety guarantees AVX2 and FMA, `F32x8`'s instruction set.
    unsafe {
        f32_steps::<F32x8, { TILES[0].mr }, { TILES[1].mr }>(TILES[0], x, w, bias, y, kc, scratch)
    }
}

/// As [`linear_avx2`], with AVX-512 F.
///
/// # Safety
/// The CPU must have AVX-512 F.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn linear_avx512(
    x: PackedX<'_>,
    w: Weights<'_>,
    bias: &[f32],
    y: YBlock<'_>,
    kc: usize,
    scratch: &mut [f32],
) {
    const TILES: [Tile; 2] = [AVX512_NARROW, AVX512_WIDE];
    // SAFETY: this fn's # Safety guarantees AVX-512 F, `F32x16`'s instruction set.
    unsafe {
        f32_steps::<F32x16, { TILES[0].mr }, { TILES[1].mr }>(TILES[0], x, w, bias, y, kc, scratch)
    }
}

/// A task with f32 steps, `W` in place or widened, on the narrow tile (`N` rows by one vector)
/// if `x~` is packed for it, else the wide one (`M` rows by two).
///
/// # Safety
/// The CPU must have `V`'s instruction set.
#[inline(always)]
unsafe fn f32_steps<V: Vector, const N: usize, const M: usize>(
    narrow: Tile,
    x: PackedX<'_>,
    w: Weights<'_>,
    bias: &[f32],
    y: YBlock<'_>,
    kc: usize,
    s: &mut [f32],
) {
    let (k, narrow) = (x.blocking.k, x.blocking.nr == narrow.nr);
    // SAFETY: the caller guarantees `V`'s instruction set, all `F32Fma` needs besides.
    unsafe {
        match w {
            Weights::F32(w) if narrow => task::<V, _, N, 1>(x, InPlace { w, k }, bias, y, kc, s),
            Weights::F32(w) => task::<V, _, M, 2>(x, InPlace { w, k }, bias, y, kc, s),
            Weights::Bf16(w) if narrow => task::<V, _, N, 1>(x, Widened { w, k }, bias, y, kc, s),
            Weights::Bf16(w) => task::<V, _, M, 2>(x, Widened { w, k }, bias, y, kc, s),
        }
    }
}

/// As [`linear_avx512`] with bf16 weights, multiplied as pairs with AVX-512 BF16 (`vdpbf16ps`):
/// `x` must be packed as bf16 pairs (its steps are `k / 2`; `k` is even), and `w` is `W` in bf16,
/// read in place.
///
/// # Safety
/// The CPU must have AVX-512 F and AVX-512 BF16.
#[target_feature(enable = "avx512f,avx512bf16")]
pub(super) unsafe fn linear_avx512_bf16_pairs(
    x: PackedX<'_>,
    w: &[bf16],
    bias: &[f32],
    y: YBlock<'_>,
    kc: usize,
    scratch: &mut [f32],
) {
    let w = InPlace {
        w,
        k: 2 * x.blocking.k,
    };
    // SAFETY: this fn's # Safety guarantees AVX-512 F and BF16, all `F32x16` and `Bf16Pairs` need.
    unsafe {
        if x.blocking.nr == AVX512_NARROW.nr {
            task::<F32x16, _, { AVX512_NARROW.mr }, 1>(x, w, bias, y, kc, scratch)
        } else {
            task::<F32x16, _, { AVX512_WIDE.mr }, 2>(x, w, bias, y, kc, scratch)
        }
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

/// Rows of `W` where a task's tiles read them.
trait Rows<V: Vector> {
    /// How a step multiplies.
    type D: Step<V>;
    /// Rows `j..j + rows` of the task's `W` over the steps `ks`, as the tiles read them. `buf` has
    /// room for `rows · ks.len()` floats, for a panel that is converted before use.
    fn panel<'a>(
        &'a self,
        j: usize,
        rows: usize,
        ks: Range<usize>,
        buf: &'a mut [f32],
    ) -> Panel<'a, <Self::D as Step<V>>::W>;
}

/// `W` read in place, `k` elements a row.
struct InPlace<'a, T> {
    w: &'a [T],
    k: usize,
}

impl<T> InPlace<'_, T> {
    /// Rows `j..j + rows` over the steps `ks`.
    #[inline(always)]
    fn rows(&self, j: usize, rows: usize, ks: Range<usize>) -> Panel<'_, T> {
        Panel {
            w: &self.w[j * self.k..(j + rows) * self.k],
            rows,
            stride: self.k,
            ks,
        }
    }
}

impl<V: Vector> Rows<V> for InPlace<'_, f32> {
    type D = F32Fma;

    #[inline(always)]
    fn panel<'a>(
        &'a self,
        j: usize,
        rows: usize,
        ks: Range<usize>,
        _: &mut [f32],
    ) -> Panel<'a, f32> {
        self.rows(j, rows, ks)
    }
}

impl Rows<F32x16> for InPlace<'_, bf16> {
    type D = Bf16Pairs;

    #[inline(always)]
    fn panel<'a>(
        &'a self,
        j: usize,
        rows: usize,
        ks: Range<usize>,
        _: &mut [f32],
    ) -> Panel<'a, bf16> {
        self.rows(j, rows, ks)
    }
}

/// bf16 `W`, `k` elements a row, widened to f32 one panel and pass at a time (exactly: a bf16 is
/// the high half of an f32).
struct Widened<'a> {
    w: &'a [bf16],
    k: usize,
}

impl<V: Vector> Rows<V> for Widened<'_> {
    type D = F32Fma;

    #[inline(always)]
    fn panel<'a>(
        &'a self,
        j: usize,
        rows: usize,
        ks: Range<usize>,
        buf: &'a mut [f32],
    ) -> Panel<'a, f32> {
        let (w, k, steps) = (self.w, self.k, ks.len());
        let buf = &mut buf[..rows * steps];
        for (r, dst) in buf.chunks_exact_mut(steps).enumerate() {
            let src = &w[(j + r) * k..][ks.clone()];
            for (d, &s) in dst.iter_mut().zip(src) {
                *d = widen(s);
            }
        }
        Panel {
            w: buf,
            rows,
            stride: steps,
            ks: 0..steps,
        }
    }
}

/// The widest tile, in tokens (AVX-512's two vectors of 16).
const MAX_NR: usize = 32;

thread_local! {
    /// The calling thread's scratch for a task (its sums between passes, a widened panel), kept
    /// between calls so that `forward` does not allocate.
    static SCRATCH: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` on `len` floats of the thread's scratch (or of a fresh buffer, if a call further up
/// this thread's stack holds it).
///
/// Called outside the `#[target_feature]` entry points: a closure does not inherit its enclosing
/// function's target features, and the micro-kernel inside one would not be compiled for them.
pub(super) fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    let run = |buf: &mut Vec<f32>| {
        buf.resize(buf.len().max(len), 0.0);
        f(&mut buf[..len])
    };
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
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
/// The CPU must have `V`'s instruction set and `R::D`'s.
#[inline(always)]
unsafe fn task<V: Vector, R: Rows<V>, const MR: usize, const NV: usize>(
    x: PackedX<'_>,
    w: R,
    bias: &[f32],
    mut y: YBlock<'_>,
    kc: usize,
    scratch: &mut [f32],
) {
    let (steps, nr, cols) = (x.blocking.k, x.blocking.nr, y.columns().len());
    assert_eq!(nr, NV * V::LANES, "x~ is not packed for this tile");
    assert_eq!(x.blocking.lanes, V::LANES);
    let tokens = y.rows();
    assert!(
        tokens.start.is_multiple_of(nr) && tokens.end <= x.blocking.m,
        "y's tokens do not start on a block of x~"
    );
    assert_eq!(bias.len(), cols, "b is not as long as y's columns");
    assert!(steps > 0 && kc > 0 && x.data.len() == x.blocking.len());
    assert!(nr <= MAX_NR);
    let blocks = tokens.start / nr..tokens.end.div_ceil(nr);
    let slot = MR * nr;
    let sums_len = cols.div_ceil(MR) * blocks.len() * slot;
    assert!(
        scratch.len() >= sums_len + MR * kc,
        "no room for the scratch"
    );
    let (sums, buf) = scratch.split_at_mut(sums_len);
    for ks in passes(steps, kc) {
        for (panel_index, j) in (0..cols).step_by(MR).enumerate() {
            let rows = MR.min(cols - j);
            let panel = w.panel(j, rows, ks.clone(), buf);
            for (block_index, b) in blocks.clone().enumerate() {
                let block = x.blocking.block(b);
                let xs = &x.data[block.offset..][ks.start * block.width..ks.end * block.width];
                let at = (panel_index * blocks.len() + block_index) * slot;
                let sums = &mut sums[at..at + slot];
                let first = ks.start == 0;
                // SAFETY: the caller guarantees `V`'s and `R::D`'s instruction sets (this fn's
                // # Safety), all `tile` needs besides the lengths it asserts.
                unsafe {
                    if block.width == nr {
                        tile::<V, R::D, MR, NV>(xs, panel.clone(), first, sums);
                    } else {
                        tile::<V, R::D, MR, 1>(xs, panel.clone(), first, sums);
                    }
                }
                if ks.end == steps {
                    finish(sums, block, &bias[j..j + rows], &mut y, j);
                }
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
    use super::super::pack::{with_packed, Blocking, Words};
    use super::super::scalar;
    use super::*;
    use crate::simd::F32x8x2;
    use crate::testing::supported_or_skip;
    use crate::{Bf16Dot, Kernels};

    /// A task's generic body with AVX-512's tiles and 16-lane vectors, run on AVX2.
    ///
    /// # Safety
    /// The CPU must have AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn task_16_lanes<R: Rows<F32x8x2>>(
        x: PackedX<'_>,
        w: R,
        bias: &[f32],
        y: YBlock<'_>,
        kc: usize,
        scratch: &mut [f32],
    ) {
        // SAFETY: this fn's # Safety guarantees AVX2 and FMA, all `F32x8x2` and the steps used
        // here need.
        unsafe {
            if x.blocking.nr == AVX512_NARROW.nr {
                task::<F32x8x2, R, { AVX512_NARROW.mr }, 1>(x, w, bias, y, kc, scratch)
            } else {
                task::<F32x8x2, R, { AVX512_WIDE.mr }, 2>(x, w, bias, y, kc, scratch)
            }
        }
    }

    /// `vdpbf16ps` lane by lane, for the pairs body at 16 lanes on a CPU without AVX-512 BF16.
    pub(super) struct EmulatedPairs;

    impl Step<F32x8x2> for EmulatedPairs {
        type W = bf16;
        const PER_STEP: usize = 2;

        unsafe fn splat(w: &[bf16], at: usize) -> F32x8x2 {
            let pair = u32::from(w[at].to_bits()) | (u32::from(w[at + 1].to_bits()) << 16);
            // SAFETY: AVX2 and FMA, from the caller.
            unsafe { F32x8x2::splat(f32::from_bits(pair)) }
        }

        unsafe fn step(acc: F32x8x2, x: F32x8x2, w: F32x8x2) -> F32x8x2 {
            let [mut a, mut xs, mut ws] = [[0.0f32; 16]; 3];
            // SAFETY: AVX2 and FMA, from the caller; each array holds 16 lanes.
            unsafe {
                acc.store(&mut a);
                x.store(&mut xs);
                w.store(&mut ws);
            }
            let half = |v: f32, high: bool| {
                let bits = v.to_bits();
                f32::from_bits(if high { bits & 0xFFFF_0000 } else { bits << 16 })
            };
            for ((a, x), w) in a.iter_mut().zip(xs).zip(ws) {
                *a = half(x, true).mul_add(half(w, true), *a);
                *a = half(x, false).mul_add(half(w, false), *a);
            }
            // SAFETY: as above.
            unsafe { F32x8x2::load(&a) }
        }
    }

    impl Rows<F32x8x2> for InPlace<'_, bf16> {
        type D = EmulatedPairs;

        fn panel<'a>(
            &'a self,
            j: usize,
            rows: usize,
            ks: Range<usize>,
            _: &mut [f32],
        ) -> Panel<'a, bf16> {
            self.rows(j, rows, ks)
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

    /// `y` (`m × n`) from the 16-lane tiles, `x` packed as `words` in steps of `steps`, in passes of
    /// `kc` steps, each task's rows of `W` from `rows(j)`.
    #[allow(clippy::too_many_arguments)]
    fn run_16_lanes<R: Rows<F32x8x2>>(
        words: Words,
        x: &[f32],
        rows: impl Fn(Range<usize>) -> R + Sync,
        bias: &[f32],
        m: usize,
        steps: usize,
        kc: usize,
    ) -> Vec<f32> {
        let n = bias.len();
        let plan = Plan::new(Isa::Avx512, m, n, steps, 2);
        let plan = Plan { kc, ..plan };
        let blocking = Blocking::new(m, steps, plan.tile.nr, plan.tile.lanes);
        let mut y = vec![f32::NAN; m * n];
        with_packed(x, blocking, words, |px| {
            for_each_block(&mut y, m, n, plan.grid, |y| {
                let j = y.columns();
                let (w, bias) = (rows(j.clone()), &bias[j]);
                // SAFETY: the callers check AVX2 and FMA; `px` is packed for the plan's tiles.
                with_scratch(plan.scratch_len(), |scratch| unsafe {
                    task_16_lanes(px, w, bias, y, plan.kc, scratch)
                })
            })
        });
        y
    }

    /// Whether `got` and `want` are the same floats, bit for bit.
    fn same_bits(got: &[f32], want: &[f32]) -> bool {
        got.len() == want.len()
            && got
                .iter()
                .zip(want)
                .all(|(g, w)| g.to_bits() == w.to_bits())
    }

    /// m around AVX-512's tiles (16 and 32 tokens) and chunks (128); (k, n) around its panels (8
    /// rows), with an odd k and a long one.
    const M: [usize; 12] = [1, 2, 15, 16, 17, 31, 32, 33, 48, 50, 130, 200];
    const KN: [(usize, usize); 5] = [(1, 1), (7, 13), (51, 25), (100, 57), (768, 31)];

    #[test]
    fn sixteen_lanes_equal_the_scalar_twin_bit_for_bit() {
        if !supported_or_skip(Isa::Avx2) {
            return;
        }
        // In the plan's passes and in passes of 5 steps, f32 weights and bf16 ones widened.
        for m in M {
            for (k, n) in KN {
                let x = values(m * k, 1);
                let w = values(n * k, 2);
                let w16: Vec<bf16> = w.iter().map(|&v| bf16::from_f32(v)).collect();
                let bias = values(n, 3);
                let mut want = vec![0.0; m * n];
                scalar::linear(&x, &w, &bias, k, YBlock::whole(&mut want, m, n));
                let mut want16 = vec![0.0; m * n];
                scalar::linear_bf16(&x, &w16, &bias, k, YBlock::whole(&mut want16, m, n));
                for kc in [Plan::new(Isa::Avx512, m, n, k, 2).kc, 5] {
                    let f32s = |j: Range<usize>| InPlace {
                        w: &w[j.start * k..j.end * k],
                        k,
                    };
                    let got = run_16_lanes(Words::F32, &x, f32s, &bias, m, k, kc);
                    assert!(same_bits(&got, &want), "{m}x{k}x{n} in passes of {kc}: f32");
                    let widened = |j: Range<usize>| Widened {
                        w: &w16[j.start * k..j.end * k],
                        k,
                    };
                    let got = run_16_lanes(Words::F32, &x, widened, &bias, m, k, kc);
                    assert!(
                        same_bits(&got, &want16),
                        "{m}x{k}x{n} in passes of {kc}: bf16"
                    );
                }
            }
        }
    }

    #[test]
    fn bf16_pairs_at_sixteen_lanes_equal_their_spec_bit_for_bit() {
        if !supported_or_skip(Isa::Avx2) {
            return;
        }
        // Even k only (pairs), in the plan's passes and in passes of 3 pairs.
        for m in M {
            for (k, n) in [(2, 1), (8, 13), (52, 25), (100, 57), (768, 31)] {
                let x = values(m * k, 4);
                let w: Vec<bf16> = values(n * k, 5).into_iter().map(bf16::from_f32).collect();
                let bias = values(n, 6);
                let mut want = vec![0.0; m * n];
                scalar::linear_bf16_pairs(&x, &w, &bias, k, YBlock::whole(&mut want, m, n));
                for kc in [Plan::new(Isa::Avx512, m, n, k / 2, 2).kc, 3] {
                    let pairs = |j: Range<usize>| InPlace {
                        w: &w[j.start * k..j.end * k],
                        k,
                    };
                    let got = run_16_lanes(Words::Bf16Pairs, &x, pairs, &bias, m, k / 2, kc);
                    assert!(same_bits(&got, &want), "{m}x{k}x{n} in passes of {kc}");
                }
            }
        }
    }

    #[test]
    fn vdpbf16ps_tiles_equal_their_spec() {
        let pairs = Kernels::force(Isa::Avx512).and_then(|k| k.with_bf16_dot(Bf16Dot::Pairs));
        let Ok(kernels) = pairs else {
            eprintln!("skipping vdpbf16ps: this CPU lacks AVX-512 BF16 (its body is tested at 16 lanes through EmulatedPairs)");
            return;
        };
        for m in M {
            for (k, n) in [(2, 1), (8, 13), (52, 25), (768, 31), (3072, 9)] {
                let x = values(m * k, 7);
                let w: Vec<bf16> = values(n * k, 8).into_iter().map(bf16::from_f32).collect();
                let bias = values(n, 9);
                let mut want = vec![0.0; m * n];
                scalar::linear_bf16_pairs(&x, &w, &bias, k, YBlock::whole(&mut want, m, n));
                let mut got = vec![f32::NAN; m * n];
                kernels.linear_bf16(&x, &w, &bias, &mut got, m);
                // Within 2⁻¹⁶ of the sum of the products' magnitudes: a CPU that rounds a pair's
                // additions otherwise differs by about a rounding of the sum per step (√k of them,
                // at random), while a wrong pairing or order of `x` and `W` is off by a whole
                // product. On the Intel Xeon this was written on, they agree bit for bit.
                for (i, (got, want)) in got.chunks(n).zip(want.chunks(n)).enumerate() {
                    for (j, (g, v)) in got.iter().zip(want).enumerate() {
                        let x_i = &x[i * k..(i + 1) * k];
                        let w_j = &w[j * k..(j + 1) * k];
                        let size: f32 = x_i
                            .iter()
                            .zip(w_j)
                            .map(|(a, b)| (a * b.to_f32()).abs())
                            .sum();
                        let tolerance = size / 65536.0;
                        assert!(
                            (g - v).abs() <= tolerance,
                            "{m}x{k}x{n} at ({i}, {j}): {g} vs {v}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn plans_keep_a_pass_in_l2_and_tasks_on_whole_blocks() {
        // One sentence of 12 tokens: one chunk, passes of at most 512 steps, 32 tasks of 24
        // columns on 2 threads.
        let plan = Plan::new(Isa::Avx512, 12, 768, 3072, 2);
        assert_eq!(plan.tile, AVX512_NARROW);
        assert_eq!(plan.grid, Grid { rows: 16, cols: 24 });
        assert_eq!(plan.kc, 512);
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
