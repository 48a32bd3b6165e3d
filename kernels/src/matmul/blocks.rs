//! The linear layer's output, cut into blocks of rows and columns for parallel tasks.
//!
//! `y` is row-major `m × n`. A task owns rows `i0..i1` (a chunk of tokens) and columns `j0..j1`:
//! `i1 - i0` short runs `n` apart. No slice of `y` holds one task's elements and nothing else, and a
//! slice spanning them would span the other tasks' too (two live `&mut` to the same elements, which
//! Rust forbids however they are used). So a task gets a [`YBlock`]: a raw view of its rows and
//! columns that hands out `&mut` to one row's run at a time.
//!
//! The blocks are disjoint by construction: [`for_each_block`] both cuts `y` into a grid and makes
//! the blocks from it, while it holds `y` borrowed mutably, and the only other way to make a block
//! (`YBlock::whole`, for the unit tests) takes all of `y`.

use rayon::prelude::*;
use std::marker::PhantomData;
use std::ops::Range;

/// Rows `i0..i0 + rows` and columns `j0..j0 + cols` of a row-major matrix with rows `row_stride`
/// apart, written one row at a time. It borrows those elements as a `&'a mut` would, and no others.
#[derive(Debug)]
pub(super) struct YBlock<'a> {
    /// Element `(i0, j0)`.
    first: *mut f32,
    i0: usize,
    rows: usize,
    j0: usize,
    cols: usize,
    row_stride: usize,
    y: PhantomData<&'a mut [f32]>,
}

impl<'a> YBlock<'a> {
    /// All of a row-major `rows × cols` matrix (for the unit tests, which call a kernel on one
    /// block).
    #[cfg(test)]
    pub fn whole(y: &'a mut [f32], rows: usize, cols: usize) -> Self {
        assert_eq!(y.len(), rows * cols, "output is not rows×cols");
        YBlock {
            first: y.as_mut_ptr(),
            i0: 0,
            rows,
            j0: 0,
            cols,
            row_stride: cols,
            y: PhantomData,
        }
    }

    /// The block's rows (tokens), `i0..i0 + rows`, in the whole matrix.
    pub fn rows(&self) -> Range<usize> {
        self.i0..self.i0 + self.rows
    }

    /// The block's columns, `j0..j0 + cols`, in the whole matrix.
    pub fn columns(&self) -> Range<usize> {
        self.j0..self.j0 + self.cols
    }

    /// The block's columns of row `i` (a row of the whole matrix, inside [`rows`](Self::rows)).
    pub fn row(&mut self, i: usize) -> &mut [f32] {
        assert!(self.rows().contains(&i), "row {i} of {:?}", self.rows());
        // SAFETY: where the block was made (`whole`, `for_each_block`), `j0 + cols ≤ row_stride`
        // and the matrix's rows `i0..i0 + rows`, `row_stride` elements each, lie in one
        // `&'a mut [f32]` whose element `(i0, j0)` is `first`; so the run of `cols` elements at
        // `(i - i0) · row_stride` from `first` lies inside it. No other live reference reaches
        // these elements: other blocks hold other rows or columns, and `&mut self` keeps this
        // block from handing out a second row while this one lives.
        unsafe {
            std::slice::from_raw_parts_mut(
                self.first.add((i - self.i0) * self.row_stride),
                self.cols,
            )
        }
    }
}

/// `y`'s address, shared by the tasks that each make their own block from it.
struct Base(*mut f32);

// SAFETY: the tasks only read the address; each makes a block no other task's block overlaps
// (see `for_each_block`).
unsafe impl Sync for Base {}

impl Base {
    fn get(&self) -> *mut f32 {
        self.0
    }
}

/// How `y` is cut: chunks of `rows` rows by blocks of `cols` columns (the last ones hold what is
/// left).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Grid {
    pub rows: usize,
    pub cols: usize,
}

/// Runs `f` on the current rayon pool on the blocks of `grid` that cover `y` (row-major `m × n`),
/// in parallel, chunk of rows by chunk of rows.
pub(super) fn for_each_block(
    y: &mut [f32],
    m: usize,
    n: usize,
    grid: Grid,
    f: impl Fn(YBlock<'_>) + Sync,
) {
    assert_eq!(y.len(), m * n, "output is not m×n");
    assert!(grid.rows > 0 && grid.cols > 0, "empty grid cell");
    if y.is_empty() {
        return;
    }
    let col_blocks = n.div_ceil(grid.cols);
    let base = Base(y.as_mut_ptr());
    (0..m.div_ceil(grid.rows) * col_blocks)
        .into_par_iter()
        .for_each(|b| {
            let (i0, j0) = ((b / col_blocks) * grid.rows, (b % col_blocks) * grid.cols);
            let (rows, cols) = (grid.rows.min(m - i0), grid.cols.min(n - j0));
            // SAFETY: `i0 < m` and `j0 < n`, so `(i0, j0)` lies inside `y`; with `j0 + cols ≤ n`,
            // the row stride, `i0 + rows ≤ m` and `m · n = y.len()`, that is what `YBlock::row`
            // relies on. Block `b` holds the cell `b` of the grid, so no two blocks share an
            // element; `y` stays borrowed mutably until the parallel loop, and with it every block,
            // has ended.
            let first = unsafe { base.get().add(i0 * n + j0) };
            f(YBlock {
                first,
                i0,
                rows,
                j0,
                cols,
                row_stride: n,
                y: PhantomData,
            })
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_cover_every_element_once_on_two_threads() {
        // 7 × 37 in cells of 3 × 4 on 2 threads: three chunks of rows (3, 3, 1) by ten blocks of
        // columns (4 each, the last 1). Each block adds 1 to its elements: every element must end
        // at exactly 1.
        let (m, n) = (7, 37);
        let mut y = vec![0.0f32; m * n];
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        pool.install(|| {
            for_each_block(&mut y, m, n, Grid { rows: 3, cols: 4 }, |mut block| {
                let (i, j) = (block.rows(), block.columns());
                assert!(i.start % 3 == 0 && i.end <= m && j.start % 4 == 0 && j.end <= n);
                for i in i {
                    block.row(i).iter_mut().for_each(|v| *v += 1.0);
                }
            })
        });
        assert_eq!(y, vec![1.0; m * n]);
    }
}
