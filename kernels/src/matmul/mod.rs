//! The linear layer `y = x·Wᵀ + b` that every projection of the model is (attention's own
//! products are in [`crate::attention`]).
//!
//! `linear` has a kernel of its own (`simd.rs` the entry points per instruction set, `plan.rs` how a
//! layer is cut, `task.rs` a task's loops, `rows.rs` how `W` is read, `tile.rs` the micro-kernel),
//! because `W` is `[n, k]` (PyTorch's layout) and
//! memory-mapped: it reads `W` in place, never packing it, and packs only the small `x`
//! (`pack.rs`). It computes `yᵀ = W·xᵀ` in tiles of a few rows of `W` by a few tokens, each element
//! one chain of fused multiply-adds in increasing `p`, exactly as the scalar twin
//! (`scalar::linear`) does: the two are bit-identical, and a row of `y` does not depend on the
//! batch or the thread count. The layer is split across the rayon pool into tasks, each a chunk of
//! tokens by a range of output columns (rows of `W`): with one chunk (up to 128 tokens) each
//! thread reads only its share of the weights, once. Each task writes its block of `y` through a
//! `YBlock` (`blocks.rs`), never through a slice that spans another's.
//!
//! `linear_i8` runs on a tile of its own (`i8_task.rs`: tokens broadcast, rows of `W` in the
//! lanes, so that its sums come out as rows of `y`) over quads of bytes (`quads.rs`), or, where the
//! CPU has AMX, on its tile registers (`amx/`: the loops, and `amx/tiles.rs` the tile unit).

#[cfg(target_arch = "x86_64")]
mod amx;
mod blocks;
#[cfg(target_arch = "x86_64")]
mod i8_task;
#[cfg(target_arch = "x86_64")]
mod local;
#[cfg(target_arch = "x86_64")]
mod pack;
#[cfg(target_arch = "x86_64")]
mod plan;
#[cfg(target_arch = "x86_64")]
mod quads;
#[cfg(target_arch = "x86_64")]
mod rows;
mod scalar;
#[cfg(target_arch = "x86_64")]
mod simd;
#[cfg(target_arch = "x86_64")]
mod task;
#[cfg(test)]
mod test_values;
#[cfg(target_arch = "x86_64")]
mod tile;

use std::ops::Range;

use crate::quant::{padded_k, panel_len, I8Rows, TokenQuant, TokenScales, PANEL_ROWS};
use crate::{Bf16Dot, I8Dot, Isa, Kernels};
use blocks::{for_each_block, Grid, YBlock};
use half::bf16;
use rayon::prelude::*;

impl Kernels {
    /// The linear layer `y = x·Wᵀ + b` (`torch.nn.Linear`): `x: m×k`, `W: n×k` (PyTorch's layout),
    /// `b: n`, `y: m×n`, all row-major. Runs on the current rayon pool.
    ///
    /// Every element is `b[j] + (x[i,0]·W[j,0] + x[i,1]·W[j,1] + …)`, the sum one chain of fused
    /// multiply-adds in increasing order from 0, on every instruction set: the SIMD paths equal
    /// the scalar twin bit for bit. So a row of `y` depends on its row of `x` alone: not on `m` or on
    /// the other rows (a batch gives each sequence the result it has alone), nor on the number of
    /// threads.
    pub fn linear(&self, x: &[f32], w: &[f32], bias: &[f32], y: &mut [f32], m: usize) {
        let (n, k) = shape(x, w.len(), bias, y, m);
        if m == 0 {
            return;
        }
        match self.isa() {
            #[cfg(target_arch = "x86_64")]
            isa @ (Isa::Avx2 | Isa::Avx512) if k > 0 => {
                tiled(isa, x, simd::Weights::F32(w), bias, y, m, n, k)
            }
            // The scalar twin: the spec, and every path's answer when `k = 0` (`y` = bias).
            _ => scalar_blocks(y, m, n, |y| {
                let j = y.columns();
                scalar::linear(x, &w[j.start * k..j.end * k], &bias[j], k, y)
            }),
        }
    }

    /// [`linear`](Self::linear) with `W` in bf16 (the activations, sums and bias stay f32).
    ///
    /// With [`Bf16Dot::Pairs`] (AVX-512 BF16; the default on CPUs where it pays, and `k` even),
    /// `x` is rounded to bf16 and multiplied in pairs by `vdpbf16ps`, with f32 sums: twice the products per instruction of an f32 FMA and
    /// half the bytes of `W`. Each element then differs from [`linear`](Self::linear)'s over the
    /// widened weights by the rounding of `x` (a relative 2⁻⁹ per value, random in sign: about
    /// `2⁻⁹·√k` of the typical product's size over the sum).
    ///
    /// Otherwise ([`Bf16Dot::Widened`]) each weight is widened to the f32 it equals and the product is
    /// [`linear`](Self::linear)'s, bit for bit: half the bytes of `W` read, the arithmetic of f32.
    pub fn linear_bf16(&self, x: &[f32], w: &[bf16], bias: &[f32], y: &mut [f32], m: usize) {
        let (n, k) = shape(x, w.len(), bias, y, m);
        if m == 0 {
            return;
        }
        match self.isa() {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 if self.bf16_dot() == Bf16Dot::Pairs && k > 0 && k.is_multiple_of(2) => {
                bf16_pairs(x, w, bias, y, m, n, k)
            }
            #[cfg(target_arch = "x86_64")]
            isa @ (Isa::Avx2 | Isa::Avx512) if k > 0 => {
                tiled(isa, x, simd::Weights::Bf16(w), bias, y, m, n, k)
            }
            _ => scalar_blocks(y, m, n, |y| {
                let j = y.columns();
                scalar::linear_bf16(x, &w[j.start * k..j.end * k], &bias[j], k, y)
            }),
        }
    }
}

impl Kernels {
    /// [`linear`](Self::linear) in int8: `W` quantized per output channel ([`I8Rows`]), each
    /// token's row of `x` quantized to bytes at run time, integer products summed exactly, and
    /// the sum dequantized (the scheme: [`crate::quant`]).
    ///
    /// The bytes are multiplied as [`Kernels::i8_dot`] says: on AMX tiles (`tdpbusd`), with
    /// AVX-512 VNNI's `vpdpbusd` (four bytes a lane), with AVX2's `vpmaddubsw` and `vpmaddwd`
    /// (the same in three instructions), or by the scalar twin in plain `i32` (which also takes
    /// every `k` that is not a multiple of 4). All give the same integers, so the same answers
    /// bit for bit, and, as in f32, a row of `y` depends on its row of `x` alone.
    pub fn linear_i8(&self, x: &[f32], w: I8Rows<'_>, bias: &[f32], y: &mut [f32], m: usize) {
        self.linears_i8(x, &mut [I8Layer { w, bias, y }], m)
    }

    /// [`linear_i8`](Self::linear_i8) of one `x` by each of `layers` (attention's `q`, `k` and
    /// `v`), with the same answers: on the vector tiles `x` is quantized once for all of them.
    /// The layers share `k` (asserted).
    pub fn linears_i8(&self, x: &[f32], layers: &mut [I8Layer<'_>], m: usize) {
        let Some(first) = layers.first() else {
            return;
        };
        let k = first.w.k;
        for layer in layers.iter() {
            assert_eq!(layer.w.k, k, "the layers differ in k");
            assert_eq!(
                layer.bias.len(),
                layer.w.n(),
                "b is not as long as W's rows"
            );
            assert_eq!(layer.y.len(), m * layer.w.n(), "output is not m×n");
        }
        assert_eq!(x.len(), m * k, "input is not m×k");
        if m == 0 {
            return;
        }
        match self.i8_dot() {
            #[cfg(target_arch = "x86_64")]
            I8Dot::Tdpbusd if k.is_multiple_of(4) => {
                for layer in layers.iter_mut() {
                    // SAFETY: a `Kernels` multiplies with `tdpbusd` only on a CPU with AMX-INT8
                    // that the OS lets this process use, and with Avx512 kernels (the CPU has
                    // AVX-512 F: `I8Dot::is_supported`, `Kernels::with_i8_dot`).
                    unsafe { amx_tiles(x, layer.w, layer.bias, layer.y, m) }
                }
            }
            #[cfg(target_arch = "x86_64")]
            dot @ (I8Dot::Vpdpbusd | I8Dot::Vpmaddubsw) if k.is_multiple_of(4) => {
                i8_quads(self.isa(), dot == I8Dot::Vpdpbusd, x, layers, m)
            }
            _ => {
                let tokens: Vec<TokenQuant> = x.par_chunks_exact(k).map(TokenQuant::of).collect();
                for layer in layers.iter_mut() {
                    let (w, bias) = (layer.w, layer.bias);
                    scalar_blocks(layer.y, m, w.n(), |y| {
                        let j = y.columns();
                        scalar::linear_i8(x, &tokens, w.slice(j.clone()), &bias[j], y)
                    })
                }
            }
        }
    }
}

/// One layer of [`Kernels::linears_i8`]: `y ← x·Wᵀ + b`, with `y` `m × n` for `W`'s `n` rows.
pub struct I8Layer<'a> {
    pub w: I8Rows<'a>,
    pub bias: &'a [f32],
    pub y: &'a mut [f32],
}

/// The AMX tiles (`amx/`), `x` quantized with AVX-512.
///
/// # Safety
/// The CPU must have AMX-INT8 and AVX-512 F, and the OS must let this process use the tiles.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn amx_tiles(x: &[f32], w: I8Rows<'_>, bias: &[f32], y: &mut [f32], m: usize) {
    // SAFETY: this fn's # Safety is `run_on_amx`'s.
    let run = |task: &amx::Task<'_>, y: YBlock<'_>| unsafe { amx::run_on_amx(task, y) };
    // SAFETY: the CPU has AVX-512 F (this fn's # Safety), all Avx512 needs; `run` is safe here.
    unsafe { amx::linear_i8(Isa::Avx512, run, x, w, bias, y, m) }
}

/// The int8 tiles on vectors (`i8_task.rs`): `x` quantized into words of four bytes (`quads.rs`,
/// rows padded with zeros as `W`'s panels pad `k`) with `isa`'s vectors, once, then multiplied
/// by each layer with AVX-512 VNNI or AVX2, the tiles reading the words in their rows.
#[cfg(target_arch = "x86_64")]
fn i8_quads(isa: Isa, vnni: bool, x: &[f32], layers: &mut [I8Layer<'_>], m: usize) {
    let w = layers[0].w;
    let steps = padded_k(w.k) / 4;
    quads::with_quantized(isa, x, w.k, steps, |words, tokens| {
        let (scale, zero): (Vec<f32>, Vec<i32>) = tokens.iter().map(|t| (t.scale, t.zero)).unzip();
        let tokens = TokenScales {
            scale: &scale,
            zero: &zero,
        };
        let tile = if vnni { plan::AVX512_I8 } else { plan::AVX2_I8 };
        for layer in layers.iter_mut() {
            let (w, bias) = (layer.w, layer.bias);
            tasks(tile, (m, steps), layer.y, w.n(), |j, y, kc, scratch| {
                let end = j.end.div_ceil(PANEL_ROWS) * panel_len(w.k);
                let out = i8_task::I8Out {
                    w: w.slice(j.clone()),
                    tokens,
                    bias: &bias[j],
                    ahead: &w.q[end..],
                };
                // SAFETY: `vnni` holds only for a `Kernels` of Avx512 on a CPU with AVX-512
                // VNNI (`I8Dot::is_supported`), and this path is taken only for a way other
                // than the scalar twin's, which needs Avx2 or Avx512 kernels, whose CPU has
                // AVX2 (`Isa::is_supported`); the bodies assert every length their unchecked
                // reads rely on.
                unsafe {
                    if vnni {
                        simd::linear_i8_avx512_vnni(words, out, y, kc, scratch)
                    } else {
                        simd::linear_i8_avx2(words, out, y, kc, scratch)
                    }
                }
            })
        }
    })
}

/// The f32 a bf16 equals: its bits are the f32's high half (a NaN stays a NaN, payload and all).
#[inline(always)]
fn widen(w: bf16) -> f32 {
    f32::from_bits(u32::from(w.to_bits()) << 16)
}

/// `(n, k)` of a linear layer, with every length checked: `x: m×k`, `W: n×k` (`w_len` elements),
/// `b: n`, `y: m×n`.
fn shape(x: &[f32], w_len: usize, bias: &[f32], y: &[f32], m: usize) -> (usize, usize) {
    let n = bias.len();
    assert!(
        n > 0 && w_len.is_multiple_of(n),
        "weight is not n×k for a bias of {n}"
    );
    let k = w_len / n;
    assert_eq!(x.len(), m * k, "input is not m×k");
    assert_eq!(y.len(), m * n, "output is not m×n");
    (n, k)
}

/// Runs the scalar twin `f` on blocks of 16 columns of `y` (`m × n`).
fn scalar_blocks(y: &mut [f32], m: usize, n: usize, f: impl Fn(YBlock<'_>) + Sync) {
    let grid = Grid {
        rows: m,
        cols: 16.min(n),
    };
    for_each_block(y, m, n, grid, f)
}

/// The SIMD tiles' frame: `x` packed as `words` (`steps` words a row) for `tile`, then the tasks
/// of `y` (`m × n`, [`tasks`]).
#[cfg(target_arch = "x86_64")]
#[allow(clippy::too_many_arguments)]
fn for_each_task(
    tile: plan::Tile,
    x: &[f32],
    words: pack::Words,
    steps: usize,
    y: &mut [f32],
    m: usize,
    n: usize,
    run: impl Fn(pack::PackedX<'_>, Range<usize>, YBlock<'_>, usize, &mut [f32]) + Sync,
) {
    let blocking = pack::Blocking::new(m, steps, tile.nr, tile.lanes);
    pack::with_packed(x, blocking, words, |xp| {
        tasks(tile, (m, steps), y, n, |j, y, kc, scratch| {
            run(xp, j, y, kc, scratch)
        })
    })
}

/// `y` (`m × n`, for `m` tokens of `steps` words) cut as the plan for `tile` says into tasks on
/// the current rayon pool, and `run` called for each with the task's columns, its block of `y`,
/// the steps per pass and its scratch.
#[cfg(target_arch = "x86_64")]
fn tasks(
    tile: plan::Tile,
    (m, steps): (usize, usize),
    y: &mut [f32],
    n: usize,
    run: impl Fn(Range<usize>, YBlock<'_>, usize, &mut [f32]) + Sync,
) {
    let plan = plan::Plan::new(tile, m, n, steps, rayon::current_num_threads());
    for_each_block(y, m, n, plan.grid, |y| {
        let j = y.columns();
        task::with_scratch(plan.scratch_len(), |scratch| run(j, y, plan.kc, scratch))
    })
}

/// The SIMD tiles over f32 `x~`, with `W` in f32 or widened from bf16.
#[cfg(target_arch = "x86_64")]
#[allow(clippy::too_many_arguments)]
fn tiled(
    isa: Isa,
    x: &[f32],
    w: simd::Weights<'_>,
    bias: &[f32],
    y: &mut [f32],
    m: usize,
    n: usize,
    k: usize,
) {
    for_each_task(
        plan::Tile::new(isa, m),
        x,
        pack::Words::F32,
        k,
        y,
        m,
        n,
        |xp, j, y, kc, scratch| {
            let (w, bias) = (w.rows(j.clone(), k), &bias[j]);
            match isa {
                // SAFETY: a `Kernels` holds Avx2 only if the CPU has AVX2 and FMA
                // (`Kernels::force`, `Kernels::fastest`); the body asserts every length its unchecked
                // reads rely on.
                Isa::Avx2 => unsafe { simd::linear_avx2(xp, w, bias, y, kc, scratch) },
                // SAFETY: a `Kernels` holds Avx512 only if the CPU has AVX-512 F; as above.
                _ => unsafe { simd::linear_avx512(xp, w, bias, y, kc, scratch) },
            }
        },
    )
}

/// The AVX-512 BF16 tiles: `x~` in pairs of bf16, `W` (bf16, `k` even) read in place.
#[cfg(target_arch = "x86_64")]
fn bf16_pairs(x: &[f32], w: &[bf16], bias: &[f32], y: &mut [f32], m: usize, n: usize, k: usize) {
    let words = pack::Words::Bf16Pairs;
    for_each_task(
        plan::Tile::new(Isa::Avx512, m),
        x,
        words,
        k / 2,
        y,
        m,
        n,
        |xp, j, y, kc, scratch| {
            let (w, bias) = (&w[j.start * k..j.end * k], &bias[j]);
            // SAFETY: `linear_bf16` takes this path only for a `Kernels` that holds Avx512 (the CPU
            // has AVX-512 F) and multiplies bf16 in pairs (it has AVX-512 BF16: `Kernels::with_isa`,
            // `Kernels::with_bf16_dot`); the body asserts every length its unchecked reads rely on.
            unsafe { simd::linear_avx512_bf16_pairs(xp, w, bias, y, kc, scratch) }
        },
    )
}

#[cfg(test)]
mod tests {
    use half::bf16;

    use crate::testing::all_kernels;
    use crate::Bf16Dot;

    #[test]
    fn linear_2x3_by_hand() {
        // x = [1 2 3; 4 5 6], W = [1 0 1; 0 1 0], b = [10 20]:
        // y = [1+3+10, 2+20; 4+6+10, 5+20].
        for k in all_kernels() {
            let (x, w) = (
                [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
                [1.0, 0.0, 1.0, 0.0, 1.0, 0.0],
            );
            let mut y = [0.0; 4];
            k.linear(&x, &w, &[10.0, 20.0], &mut y, 2);
            assert_eq!(y, [14.0, 22.0, 20.0, 25.0], "{}", k.isa());
        }
    }

    #[test]
    fn linear_2x3_by_hand_in_bf16() {
        // The same product, every value exact in bf16: both ways of multiplying bf16 give it.
        for k in all_kernels() {
            let ways = Bf16Dot::ALL.map(|dot| k.with_bf16_dot(dot));
            for k in ways.into_iter().flatten() {
                let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
                let w = [1.0, 0.0, 1.0, 0.0, 1.0, 0.0].map(bf16::from_f32);
                let mut y = [0.0; 4];
                k.linear_bf16(&x, &w, &[10.0, 20.0], &mut y, 2);
                assert_eq!(
                    y,
                    [14.0, 22.0, 20.0, 25.0],
                    "{} ({})",
                    k.isa(),
                    k.bf16_dot()
                );
            }
        }
    }

    #[test]
    fn linear_of_no_tokens_writes_nothing() {
        for k in all_kernels() {
            let mut y: [f32; 0] = [];
            k.linear(&[], &[1.0; 6], &[0.0; 2], &mut y, 0);
            k.linear_bf16(&[], &[bf16::ONE; 6], &[0.0; 2], &mut y, 0);
        }
    }
}
