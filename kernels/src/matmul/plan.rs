//! How one linear layer is cut for the SIMD tiles: the tile shape for its tokens, the tasks (chunks
//! of tokens by blocks of `W`'s rows) and the steps of `k` per pass, each bound chosen so that
//! what a task reuses stays in cache (see `task.rs` for the loops).
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

use super::blocks::Grid;
use crate::Isa;

/// The tile shape: `mr` rows of `W` by `nr` tokens, in vectors of `lanes`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Tile {
    pub mr: usize,
    pub nr: usize,
    pub lanes: usize,
}

pub(super) const AVX2_WIDE: Tile = Tile {
    mr: 6,
    nr: 16,
    lanes: 8,
};
pub(super) const AVX2_NARROW: Tile = Tile {
    mr: 8,
    nr: 8,
    lanes: 8,
};
pub(super) const AVX512_WIDE: Tile = Tile {
    mr: 8,
    nr: 32,
    lanes: 16,
};
pub(super) const AVX512_NARROW: Tile = Tile {
    mr: 8,
    nr: 16,
    lanes: 16,
};

/// The int8 tile on AVX2 (`i8_task.rs`: `mr` rows of `W` in the lanes, `nr` tokens broadcast from
/// their rows, which are not packed, so `lanes` is `nr` and unused): 4 tokens by two vectors (16
/// rows of `W`, a panel): 8 accumulators, the two vectors of `W`, a broadcast, `vpmaddubsw`'s and
/// `vpmaddwd`'s results and their ones, in 16 `ymm`.
pub(super) const AVX2_I8: Tile = Tile {
    mr: 16,
    nr: 4,
    lanes: 4,
};

/// The int8 tile on AVX-512: 6 tokens by four vectors (64 rows of `W`, four panels): 24
/// accumulators, four vectors of `W` and a broadcast in 32 `zmm`, 24 `vpdpbusd` for 10 loads a step.
pub(super) const AVX512_I8: Tile = Tile {
    mr: 64,
    nr: 6,
    lanes: 6,
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
    /// threads, in tiles of `tile` (usually `Tile::new(isa, m)`).
    pub(super) fn new(tile: Tile, m: usize, n: usize, k: usize, threads: usize) -> Plan {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_keep_a_pass_in_l2_and_tasks_on_whole_blocks() {
        // One sentence of 12 tokens: one chunk, passes of at most 512 steps, 32 tasks of 24
        // columns on 2 threads.
        let plan = Plan::new(Tile::new(Isa::Avx512, 12), 12, 768, 3072, 2);
        assert_eq!(plan.tile, AVX512_NARROW);
        assert_eq!(plan.grid, Grid { rows: 16, cols: 24 });
        assert_eq!(plan.kc, 512);
        // 32 × 128 tokens into the feed-forward's 3072: chunks of 128 by 256 columns, passes of
        // 384 steps (128 · 384 floats of x~ = 192 KB).
        let plan = Plan::new(Tile::new(Isa::Avx512, 4096), 4096, 3072, 3072, 2);
        assert_eq!(
            plan.grid,
            Grid {
                rows: 128,
                cols: 256
            }
        );
        assert_eq!(plan.kc, 384);
        // 130 tokens: two chunks of 65, each rounded up to whole blocks of 32.
        let plan = Plan::new(Tile::new(Isa::Avx2, 130), 130, 768, 768, 2);
        assert_eq!((plan.grid.rows, plan.grid.cols % AVX2_WIDE.mr), (80, 0));
    }
}
