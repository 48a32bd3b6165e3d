//! The int8 linear layer on AMX tiles (`tdpbusd`), where the CPU has them (Sapphire Rapids and
//! later Xeons): the same integer sums as the vector tiles, 16 tokens × 16 rows of `W` × 64 values
//! of `k` in one instruction.
//!
//! A tile register holds 16 rows of 64 bytes. `tdpbusd C, A, B` adds to each `i32` of `C` (16
//! tokens by 16 rows of `W`) the products of a row of `A` (64 unsigned bytes of one token's `x`)
//! with a column of `B` (64 signed bytes of one row of `W`, held as 16 rows of quads: row `q` of `B`
//! is the quad `q` of each of the 16 rows of `W`, exactly a 1 KB block of one of the weights'
//! panels, [`crate::quant::PANEL_ROWS`]). So `A` is read straight from the quantized activations (row-major, `k` padded
//! to 64 with zeros: a tile row is 64 bytes of one token) and `B` straight from the weights.
//!
//! A task covers a block of `y` (a chunk of tokens by a range of `W`'s rows), 32 by 32 at a time:
//! two tiles of `A` (32 tokens), two of `B` (32 rows of `W`), four of `C`; for each 64 of `k` two
//! loads of each and four `tdpbusd`, so every byte loaded is used twice. The sums are exact, so the
//! order does not matter: the answers equal the scalar twin's bit for bit. The sums then leave the
//! tiles token-major, as `y` is, and are dequantized a row of 16 at a time.
//!
//! Tile registers are state of the thread that configured them: a task configures them on its
//! thread (`ldtilecfg`) and releases them at its end.
//!
//! The loops run over [`Tiles`], which the CPU's tiles ([`Amx`]) implement and so does
//! [`Emulated`], plain Rust on arrays: the tests run the loops everywhere, and the instructions
//! where the CPU has them.

mod tiles;

use std::ops::Range;

use super::blocks::{for_each_block, Grid, YBlock};
use super::quads;
use crate::quant::{dequantize, padded_k, panel_len, I8Rows, TokenQuant};
use crate::Isa;
#[cfg(test)]
use tiles::Emulated;
use tiles::{Amx, Tiles, ROWS, ROW_BYTES};

/// A block's sums, as its four tiles of `C` leave the tile unit.
type Sums = [[i32; ROWS * ROWS]; 4];

/// Rows of sums in a block's four tiles: the epilogue's unit of work.
const SEGMENTS: usize = 4 * ROWS;

/// Tokens per task, at most (a multiple of two tiles). The task takes them 32 at a time, their
/// bytes (24 KB at `k` = 768) held in L1 while the task's rows of `W` (192 KB at `k` = 768, from
/// L2) pass by: with the rows of `W` held and the tokens passing by instead, the same work takes
/// 11% longer (in one process, in turn, 6 runs).
const CHUNK_TOKENS: usize = 128;

/// Rows of `W` per task, at most (a multiple of two tiles).
const TASK_COLS: usize = 256;

/// Tasks per thread when there are several, so that the threads end together.
const TASKS_PER_THREAD: usize = 4;

/// [`Kernels::linear_i8`](crate::Kernels::linear_i8) on tiles: `x` quantized with `isa`'s vectors,
/// `W` in its panels, and each task's block of `y` computed by `run` (on the CPU's tiles:
/// [`run_on_amx`]).
///
/// # Safety
/// The CPU must have `isa`'s instructions, and `run` must be safe to call on this CPU.
pub(super) unsafe fn linear_i8(
    isa: Isa,
    run: impl Fn(&Task<'_>, YBlock<'_>) + Sync,
    x: &[f32],
    w: I8Rows<'_>,
    bias: &[f32],
    y: &mut [f32],
    m: usize,
) {
    let (n, k) = (w.n(), w.k);
    assert!(k.is_multiple_of(4) && x.len() == m * k && y.len() == m * n && bias.len() == n);
    // The tokens' bytes, row-major, `k` padded to the panels' and the rows to whole tiles, with
    // zeros (a padded byte meets a zero weight, or lands in a row that is not stored).
    let padded_k = padded_k(k);
    let mut words = vec![0.0f32; m.next_multiple_of(ROWS) * padded_k / 4];
    let mut tokens = vec![TokenQuant::NON_FINITE; m];
    quads::quantize(isa, x, k, &mut words, padded_k / 4, &mut tokens);
    let threads = rayon::current_num_threads();
    let tasks = if threads > 1 {
        threads * TASKS_PER_THREAD
    } else {
        1
    };
    let chunks = m.div_ceil(CHUNK_TOKENS);
    let pair = 2 * ROWS;
    let grid = Grid {
        rows: m.div_ceil(chunks).next_multiple_of(pair),
        cols: n
            .div_ceil(pair)
            .div_ceil(tasks.div_ceil(chunks))
            .clamp(1, TASK_COLS / pair)
            * pair,
    };
    for_each_block(y, m, n, grid, |y| {
        let j = y.columns();
        let (w, bias) = (w.slice(j.clone()), &bias[j]);
        let task = Task {
            bytes: bytes_of(&words),
            stride: padded_k,
            tokens: &tokens,
            w,
            bias,
        };
        run(&task, y)
    })
}

/// The bytes of `words`, in memory order (a word's low byte first on x86).
fn bytes_of(words: &[f32]) -> &[u8] {
    // SAFETY: the bytes of `words` are initialized and live as long as the borrow; `u8` has no
    // alignment and every bit pattern is one.
    unsafe { std::slice::from_raw_parts(words.as_ptr().cast::<u8>(), std::mem::size_of_val(words)) }
}

/// A task on the CPU's tiles, its epilogue in AVX-512.
///
/// # Safety
/// The CPU must have AMX-INT8 and AVX-512 F, and the OS must let this process use the tiles.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn run_on_amx(task: &Task<'_>, y: YBlock<'_>) {
    // SAFETY: this fn's # Safety is `Task::run`'s for `Amx`.
    unsafe { task.run(&mut Amx, y) }
}

/// One task's inputs: every token's bytes and quantization, and the task's rows of `W` and `b`.
pub(super) struct Task<'a> {
    bytes: &'a [u8],
    stride: usize,
    tokens: &'a [TokenQuant],
    w: I8Rows<'a>,
    bias: &'a [f32],
}

impl Task<'_> {
    /// `y`'s block, 32 tokens by 32 rows of `W` at a time. A block's sums stay in the tiles until
    /// the next block needs them: its first products store them tile by tile, each just before
    /// the tile takes its first new product (so the tile unit never waits for all four to
    /// drain), and the vectors dequantize them between the next block's products, a few rows
    /// after each 64 values of `k`: the tile unit works on its own, so the epilogue costs little
    /// more than the instructions that issue the products.
    ///
    /// # Safety
    /// The CPU must have `U`'s instructions.
    #[inline(always)]
    unsafe fn run<U: Tiles>(&self, unit: &mut U, mut y: YBlock<'_>) {
        let (tokens, cols) = (y.rows(), y.columns().len());
        let panel_len = panel_len(self.w.k);
        // 32 tokens at a time, their bytes kept in L1 while the task's rows of `W` pass by.
        let corners = tokens
            .clone()
            .step_by(2 * ROWS)
            .flat_map(|i| (0..cols).step_by(2 * ROWS).map(move |j| (i, j)));
        let mut sums = [[0i32; ROWS * ROWS]; 4];
        // The corner of the block whose sums are in the tiles.
        let mut in_tiles: Option<(usize, usize)> = None;
        // SAFETY: the caller guarantees `U`'s instructions; then the tiles are configured until
        // `release`.
        unsafe { unit.configure() };
        for (i, j) in corners {
            let (a, b) = (
                &self.bytes[i * self.stride..],
                &self.w.q[j / ROWS * panel_len..],
            );
            let (two_a, two_b) = (tokens.end - i > ROWS, cols - j > ROWS);
            let before = in_tiles;
            let sums = &mut sums;
            // SAFETY: configured tiles (above).
            unsafe {
                match (two_a, two_b) {
                    (true, true) => self.block::<U, true, true>(unit, a, b, sums, before, &mut y),
                    (true, false) => self.block::<U, true, false>(unit, a, b, sums, before, &mut y),
                    (false, true) => self.block::<U, false, true>(unit, a, b, sums, before, &mut y),
                    (false, false) => {
                        self.block::<U, false, false>(unit, a, b, sums, before, &mut y)
                    }
                }
            }
            in_tiles = Some((i, j));
        }
        if let Some(corner) = in_tiles {
            let [s0, s1, s2, s3] = &mut sums;
            // SAFETY: configured tiles (above).
            unsafe {
                unit.store::<0>(s0);
                unit.store::<1>(s1);
                unit.store::<2>(s2);
                unit.store::<3>(s3);
            }
            self.finish(&sums, corner, 0..SEGMENTS, &mut y);
        }
        // SAFETY: configured tiles (above).
        unsafe { unit.release() };
    }

    /// The sums of 16 or 32 tokens (from `a`) by 16 or 32 rows of `W` (from `b`), over all of
    /// `k`, left in the tiles (tile `C` `t` holds tokens `t / 2` and rows `t % 2`). The tiles
    /// hold the sums of the block at `before` (its corner), if any: they are stored to `sums`
    /// as the first products need their tiles, and, after each 64 values of `k`, a share of
    /// their [`SEGMENTS`] is finished into `y` (all of them, once).
    ///
    /// # Safety
    /// Configured tiles.
    #[inline(always)]
    unsafe fn block<U: Tiles, const TWO_A: bool, const TWO_B: bool>(
        &self,
        unit: &mut U,
        a: &[u8],
        b: &[i8],
        sums: &mut Sums,
        before: Option<(usize, usize)>,
        y: &mut YBlock<'_>,
    ) {
        let (stride, panel_len) = (self.stride, panel_len(self.w.k));
        let steps = stride / ROW_BYTES;
        // Stores tile `C`'s sums of the block before (if any) to `sums[C]`, then zeroes it.
        // SAFETY (of each use): configured tiles.
        macro_rules! take_tile {
            ($c:literal) => {
                if before.is_some() {
                    unit.store::<$c>(&mut sums[$c]);
                }
                unit.zero::<$c>();
            };
        }
        // SAFETY: the caller guarantees configured tiles; the loads assert their lengths.
        unsafe {
            for step in 0..steps {
                let p = step * ROW_BYTES;
                let first = step == 0;
                // Both tiles of `W` before the first product, the second tile of tokens after
                // it (as oneDNN orders them; the same work takes 5% longer with each tile of `W`
                // loaded just before its first product, in one process, in turn, 5 runs).
                // Tiles are not renamed: a load waits for the products that read the tile before.
                unit.load_a::<4>(&a[p..], stride);
                unit.load_b::<6>(&b[p * ROWS..]);
                if TWO_B {
                    unit.load_b::<7>(&b[panel_len + p * ROWS..]);
                }
                if first {
                    take_tile!(0);
                }
                unit.dot::<0, 4, 6>();
                if TWO_A {
                    unit.load_a::<5>(&a[ROWS * stride + p..], stride);
                }
                if first {
                    take_tile!(1);
                }
                if TWO_B {
                    unit.dot::<1, 4, 7>();
                }
                if first {
                    take_tile!(2);
                }
                if TWO_A {
                    unit.dot::<2, 5, 6>();
                }
                if first {
                    take_tile!(3);
                }
                if TWO_A && TWO_B {
                    unit.dot::<3, 5, 7>();
                }
                if let Some(corner) = before {
                    let part = step * SEGMENTS / steps..(step + 1) * SEGMENTS / steps;
                    self.finish(sums, corner, part, y);
                }
            }
        }
    }

    /// `y` from the sums of the block at `corner` (its first token and its first column, counted
    /// from the task's), for the segments `part`: segment `s` is row `s % 16` of tile `s / 16`,
    /// one token by up to 16 columns, dequantized as every path does. Segments outside `y` (a
    /// block of one tile's tokens or rows) are skipped.
    #[inline(always)]
    fn finish(
        &self,
        sums: &Sums,
        (i0, j0): (usize, usize),
        part: Range<usize>,
        y: &mut YBlock<'_>,
    ) {
        for (t, tile) in sums.iter().enumerate() {
            let rows = part.start.max(t * ROWS)..part.end.min((t + 1) * ROWS);
            if !rows.is_empty() {
                let (i, j) = (i0 + t / 2 * ROWS, j0 + t % 2 * ROWS);
                let rows = rows.start - t * ROWS..rows.end - t * ROWS;
                self.finish_tile(tile, rows, (i, j), y);
            }
        }
    }

    /// Rows `rows` of one tile of sums, whose first token is `i` and first column `j`: a whole
    /// tile's 16 columns in straight-line code (one vector), with the rows' of `W` scales, sums
    /// and bias held across its tokens; the last columns of a layer whose width is not a multiple
    /// of 16 through the general loop.
    #[inline(always)]
    fn finish_tile(
        &self,
        tile: &[i32; ROWS * ROWS],
        rows: Range<usize>,
        (i, j): (usize, usize),
        y: &mut YBlock<'_>,
    ) {
        let cols = self.bias.len();
        let tokens = y.rows().end.saturating_sub(i).min(rows.end);
        let rows = rows.start..tokens.max(rows.start);
        if j >= cols {
            return;
        }
        if j + ROWS <= cols {
            let w_scale: &[f32; ROWS] = self.w.scale[j..j + ROWS].try_into().unwrap();
            let w_sum: &[i32; ROWS] = self.w.sums[j..j + ROWS].try_into().unwrap();
            let bias: &[f32; ROWS] = self.bias[j..j + ROWS].try_into().unwrap();
            for r in rows {
                let TokenQuant { scale, zero, .. } = self.tokens[i + r];
                let sums: &[i32; ROWS] = tile[r * ROWS..][..ROWS].try_into().unwrap();
                let row: [f32; ROWS] = std::array::from_fn(|e| {
                    dequantize(sums[e], scale, zero, w_scale[e], w_sum[e], bias[e])
                });
                y.row(i + r)[j..j + ROWS].copy_from_slice(&row);
            }
        } else {
            let (w_scale, w_sum, bias) = (&self.w.scale[j..], &self.w.sums[j..], &self.bias[j..]);
            for r in rows {
                let TokenQuant { scale, zero, .. } = self.tokens[i + r];
                let sums = &tile[r * ROWS..][..cols - j];
                let out = &mut y.row(i + r)[j..];
                for (e, out) in out.iter_mut().enumerate() {
                    *out = dequantize(sums[e], scale, zero, w_scale[e], w_sum[e], bias[e]);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matmul::blocks::YBlock;
    use crate::matmul::scalar;
    use crate::matmul::test_values::values;
    use crate::quant::I8Weights;
    use crate::{I8Dot, Kernels};

    /// Shapes around the tiles' sizes: tokens and rows of `W` by 1, 16 and 32 (one or two tiles,
    /// a part of one, several tasks), `k` a quad, a tile row and a bit, the model's width.
    const SHAPES: [(usize, usize, usize); 9] = [
        (1, 4, 1),
        (12, 68, 16),
        (17, 64, 40),
        (33, 132, 33),
        (48, 768, 31),
        (128, 64, 768),
        (129, 768, 64),
        (5, 3072, 20),
        (64, 768, 257),
    ];

    /// `y` of the scalar twin, and of `linear`, for one shape.
    fn both(
        (m, k, n): (usize, usize, usize),
        linear: impl Fn(&[f32], I8Rows<'_>, &[f32], &mut [f32]),
    ) -> (Vec<f32>, Vec<f32>) {
        let x = values(m * k, 1);
        let w = I8Weights::quantize(&values(n * k, 2), k);
        let bias = values(n, 3);
        let tokens: Vec<TokenQuant> = x.chunks_exact(k).map(TokenQuant::of).collect();
        let mut want = vec![f32::NAN; m * n];
        scalar::linear_i8(&x, &tokens, w.rows(), &bias, YBlock::whole(&mut want, m, n));
        let mut got = vec![f32::NAN; m * n];
        linear(&x, w.rows(), &bias, &mut got);
        (want, got)
    }

    fn assert_bits(what: &str, shape: (usize, usize, usize), want: &[f32], got: &[f32]) {
        let n = shape.2;
        if let Some(e) = (0..want.len()).find(|&e| want[e].to_bits() != got[e].to_bits()) {
            panic!(
                "{what} {shape:?} ({}, {}): got {:e}, the twin {:e}",
                e / n,
                e % n,
                got[e],
                want[e]
            );
        }
    }

    #[test]
    fn emulated_tiles_equal_the_scalar_twin_bit_for_bit() {
        // The loops, the blocking and the epilogue, on any CPU; one and two threads.
        for threads in [1, 2] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            for shape in SHAPES {
                let (want, got) = both(shape, |x, w, bias, y| {
                    // SAFETY: `Emulated` needs no instructions, and `Isa::Scalar` none either.
                    // SAFETY: `Emulated` needs no instructions.
                    let run = |task: &Task<'_>, y: YBlock<'_>| unsafe {
                        task.run(&mut Emulated::default(), y)
                    };
                    // SAFETY: `Isa::Scalar` needs no instructions either.
                    pool.install(|| unsafe { linear_i8(Isa::Scalar, run, x, w, bias, y, shape.0) })
                });
                assert_bits("emulated tiles", shape, &want, &got);
            }
        }
    }

    #[test]
    fn amx_tiles_equal_the_scalar_twin_bit_for_bit() {
        let Ok(kernels) = Kernels::fastest().with_i8_dot(I8Dot::Tdpbusd) else {
            eprintln!("skipping the AMX tiles: this CPU (or OS) has none; their loops are tested through Emulated");
            return;
        };
        for shape in SHAPES {
            let (want, got) = both(shape, |x, w, bias, y| {
                kernels.linear_i8(x, w, bias, y, shape.0)
            });
            assert_bits("AMX tiles", shape, &want, &got);
        }
    }
}
