//! The linear layer's output, cut into blocks of columns for parallel tasks.
//!
//! `y` is row-major `m × n`, and the layer is split by output columns, so one task's share is
//! columns `j0..j1` of every row: `m` short runs `n` apart. No slice of `y` holds one task's
//! columns and nothing else, and a slice spanning them would span the other tasks' columns too
//! (two live `&mut` to the same elements, which Rust forbids however they are used). So a task gets
//! a [`ColumnBlock`]: a raw view of its columns that hands out `&mut` to one row's run at a time.
//!
//! The blocks are disjoint by construction: [`for_each_column_block`] both cuts `0..n` into ranges
//! and makes the blocks from them, while it holds `y` borrowed mutably, and the only other way to
//! make a block (`ColumnBlock::whole`, for the unit tests) takes all of `y`.

use rayon::prelude::*;
use std::marker::PhantomData;
use std::ops::Range;

/// Blocks of columns per thread when there are several: a thread that finishes early (its core
/// was faster, or another process took the other one for a while) takes over blocks that are
/// still waiting, so the threads end together. 16 rather than 4: at 1×128 tokens on 2 threads the
/// encoder ran 5-11% faster in interleaved runs (8 and 32 were between the two).
const BLOCKS_PER_THREAD: usize = 16;

/// Columns `j0..j0 + cols` of a row-major matrix with rows `row_stride` apart, written one row at
/// a time. It borrows those elements as a `&'a mut` would, and no others.
#[derive(Debug)]
pub(super) struct ColumnBlock<'a> {
    /// Element `(0, j0)`.
    first: *mut f32,
    rows: usize,
    cols: usize,
    row_stride: usize,
    j0: usize,
    y: PhantomData<&'a mut [f32]>,
}

impl<'a> ColumnBlock<'a> {
    /// All of a row-major `rows × cols` matrix (for the unit tests, which call a kernel on one
    /// block).
    #[cfg(test)]
    pub fn whole(y: &'a mut [f32], rows: usize, cols: usize) -> Self {
        assert_eq!(y.len(), rows * cols, "output is not rows×cols");
        ColumnBlock {
            first: y.as_mut_ptr(),
            rows,
            cols,
            row_stride: cols,
            j0: 0,
            y: PhantomData,
        }
    }

    /// How many rows (tokens).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// How many columns the block holds.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// The block's columns, `j0..j0 + cols`, in the whole matrix.
    pub fn columns(&self) -> Range<usize> {
        self.j0..self.j0 + self.cols
    }

    /// The block's columns of row `i`.
    pub fn row(&mut self, i: usize) -> &mut [f32] {
        assert!(i < self.rows, "row {i} of {}", self.rows);
        // SAFETY: where the block was made (`whole`, `for_each_column_block`), `j0 + cols ≤
        // row_stride` and the matrix's `rows · row_stride` elements lie in one `&'a mut [f32]`, so
        // the run `i · row_stride + j0 ..` of `cols` elements lies inside it. No other live
        // reference reaches these elements: other blocks hold other columns, and `&mut self`
        // keeps this block from handing out a second row while this one lives.
        unsafe { std::slice::from_raw_parts_mut(self.first.add(i * self.row_stride), self.cols) }
    }
}

/// `y`'s address, shared by the tasks that each make their own block from it.
struct Base(*mut f32);

// SAFETY: the tasks only read the address; each makes a block of columns no other task's block
// holds (see `for_each_column_block`).
unsafe impl Sync for Base {}

impl Base {
    fn get(&self) -> *mut f32 {
        self.0
    }
}

/// Runs `f` on the current rayon pool on blocks of columns that cover `y` (row-major `m × n`): one
/// block on one thread, else `BLOCKS_PER_THREAD` per thread, each a multiple of `granule` wide (but
/// the last), as even as that allows.
pub(super) fn for_each_column_block(
    y: &mut [f32],
    m: usize,
    n: usize,
    granule: usize,
    f: impl Fn(ColumnBlock<'_>) + Sync,
) {
    assert_eq!(y.len(), m * n, "output is not m×n");
    if y.is_empty() {
        return;
    }
    let blocks = match rayon::current_num_threads() {
        0 | 1 => 1,
        threads => threads * BLOCKS_PER_THREAD,
    };
    let width = n.div_ceil(granule).div_ceil(blocks) * granule;
    let base = Base(y.as_mut_ptr());
    (0..n.div_ceil(width)).into_par_iter().for_each(|b| {
        let j0 = b * width;
        let cols = width.min(n - j0);
        // SAFETY: `j0 < n` and `m ≥ 1`, so `(0, j0)` lies inside `y`; with `j0 + cols ≤ n`, the
        // row stride, and `m · n = y.len()`, that is what `ColumnBlock::row` relies on. Block `b`
        // holds columns `b·width..(b + 1)·width` at most, so no two blocks share a column; `y` stays
        // borrowed mutably until the parallel loop, and with it every block, has ended.
        let first = unsafe { base.get().add(j0) };
        f(ColumnBlock {
            first,
            rows: m,
            cols,
            row_stride: n,
            j0,
            y: PhantomData,
        })
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_cover_every_column_once_on_two_threads() {
        // 3 × 37 in granules of 4 on 2 threads: ten blocks of 4 columns, the last of 1. Each
        // block adds 1 to its elements: every element must end at exactly 1.
        let (m, n) = (3, 37);
        let mut y = vec![0.0f32; m * n];
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        pool.install(|| {
            for_each_column_block(&mut y, m, n, 4, |mut block| {
                let j = block.columns();
                assert!(j.start % 4 == 0 && j.len() == block.cols() && j.end <= n);
                for i in 0..block.rows() {
                    block.row(i).iter_mut().for_each(|v| *v += 1.0);
                }
            })
        });
        assert_eq!(y, vec![1.0; m * n]);
    }
}
