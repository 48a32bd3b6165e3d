//! A task's loops: every tile of one block of `y` (a chunk of tokens by a range of `W`'s rows),
//! pass by pass, over the micro-kernel (`tile.rs`).
//!
//! For f32 weights a task computes `yᵀ = W·xᵀ` a tile at a time: `MR` rows of `W` (output columns
//! `j`), read in place along `k`, by `NV` vectors of tokens from the packed `x~` (`pack.rs`). At
//! step `p` it loads the `NV` vectors `x~[p]`, broadcasts each `W[j, p]`, and does `MR·NV` fused multiply-adds into as many
//! accumulators, so every lane is one chain `acc ← x[i,p]·W[j,p] + acc` in increasing `p` from 0:
//! exactly `scalar::linear`'s order, whatever the tile, the blocking, `m` or the thread count. A
//! tile's sums leave the registers between passes (below) as f32 and come back unchanged, so the
//! chain is the same one. At the end the bias is added (`b[j] + acc`, as the scalar twin does) and
//! the tile is written into `y` transposed, token by token.
//!
//! The loops, per task (a [`YBlock`]: a chunk of tokens by a range of `W`'s rows, see `plan.rs`):
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
//! bf16 weights go through the same loops. Widened (`rows::Widened`), each panel's `MR × kc` weights
//! are converted to f32 once per pass (16 KB at most, in L1) and the f32 tile runs on them: the
//! scalar twin's chain over the widened weights, bit for bit. In pairs (`tile::Bf16Pairs`, AVX-512
//! BF16), `x~` holds pairs of bf16 and a step is two values of `k`: one `vdpbf16ps` per
//! accumulator, with `W` read in place.

use std::cell::RefCell;
use std::ops::Range;

use super::blocks::YBlock;
use super::local::with_buffer;
use super::pack::{Block, PackedX};
use super::rows::Rows;
use super::tile::tile;
use crate::simd::{F32x8, Vector};

/// The widest tile, in tokens (AVX-512's two vectors of 16).
pub(super) const MAX_NR: usize = 32;

/// The tallest tile, in rows of `W` (AVX-512's and AVX2's narrow ones).
const MAX_MR: usize = 8;

thread_local! {
    /// The calling thread's scratch for a task (its sums between passes, a widened panel), kept
    /// between calls so that `forward` does not allocate.
    static SCRATCH: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` on `len` floats of the thread's scratch (`local::with_buffer`).
///
/// Called outside the `#[target_feature]` entry points: a closure does not inherit its enclosing
/// function's target features, and the micro-kernel inside one would not be compiled for them.
pub(super) fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    with_buffer(&SCRATCH, len, f)
}

/// The steps of `k` pass by pass, `kc` at a time.
pub(super) fn passes(k: usize, kc: usize) -> impl Iterator<Item = Range<usize>> {
    (0..k).step_by(kc).map(move |p| p..(p + kc).min(k))
}

/// Every tile of the task `y`, pass by pass.
///
/// # Safety
/// The CPU must have `V`'s instruction set and `R::D`'s.
#[inline(always)]
pub(super) unsafe fn task<V: Vector, R: Rows<V>, const MR: usize, const NV: usize>(
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
                    // SAFETY: every vector type of the tiles needs AVX2 and FMA at least (a
                    // `Kernels` holds Avx512 only where the CPU has them too).
                    unsafe { finish(sums, block, bias, &mut y, j..j + rows) };
                }
            }
        }
    }
}

/// `y[block's tokens, cols]` from the tile's sums plus the bias (`b[j] + sum`, as the scalar twin
/// adds it): column by column into a buffer (a tile row's sums are contiguous along the tokens),
/// then token by token into `y`, eight tokens at a time through a transpose in registers (one
/// vector store per token, instead of a scalar store per value, which took 9-15% of a layer's
/// time when int8 ran on these tiles). `sums` holds the tile's rows `block.width` apart. Inlined
/// into the task, so that its loops are compiled for the entry point's instruction set.
///
/// # Safety
/// The CPU must have AVX2 and FMA.
#[inline(always)]
unsafe fn finish(sums: &[f32], block: Block, bias: &[f32], y: &mut YBlock<'_>, cols: Range<usize>) {
    assert!(cols.len() <= MAX_MR && block.tokens <= MAX_NR);
    let mut values = [0.0f32; MAX_MR * MAX_NR];
    for (r, col) in cols.clone().enumerate() {
        let sums = &sums[r * block.width..][..block.tokens];
        let b = bias[col];
        for (y, &sum) in values[r * MAX_NR..][..block.tokens].iter_mut().zip(sums) {
            *y = b + sum;
        }
    }
    let whole = block.tokens - block.tokens % 8;
    for t in (0..whole).step_by(8) {
        // SAFETY: the caller guarantees AVX2 and FMA. Each load takes 8 values of a row of
        // `values` from `t ≤ MAX_NR - 8`; each store `cols.len() ≤ 8` values into a row of `y`,
        // whole (`store`) or masked (`store_partial`).
        unsafe {
            // A loop, not `array::from_fn`: that is not always inlined, and its loads then run
            // outside the entry point's instruction set, as calls (7% of a pass, seen once).
            let mut rows = [F32x8::splat(0.0); 8];
            for (r, row) in rows.iter_mut().enumerate() {
                *row = F32x8::load(&values[r * MAX_NR + t..]);
            }
            for (c, v) in F32x8::transpose(rows).into_iter().enumerate() {
                let y_row = &mut y.row(block.i0 + t + c)[cols.clone()];
                if y_row.len() == 8 {
                    v.store(y_row);
                } else {
                    v.store_partial(y_row);
                }
            }
        }
    }
    for t in whole..block.tokens {
        let y_row = &mut y.row(block.i0 + t)[cols.clone()];
        for (y, &v) in y_row.iter_mut().zip(values[t..].iter().step_by(MAX_NR)) {
            *y = v;
        }
    }
}
