//! The linear layer's entry points, one `#[target_feature]` function per instruction set (and one
//! for AVX-512 BF16), each choosing the tile for the packed `x~` and the way `W` is read, then
//! running the task's generic loops (`task.rs`) over the micro-kernel (`tile.rs`).

use std::ops::Range;

use half::bf16;

use super::blocks::YBlock;
use super::i8_task::{self, I8Madd, I8Out, I8Vnni};
use super::pack::PackedX;
use super::plan::{Tile, AVX2_I8, AVX2_NARROW, AVX2_WIDE, AVX512_I8, AVX512_NARROW, AVX512_WIDE};
use super::rows::{InPlace, Widened};
use super::task::task;
use super::tile::{Bf16Pairs, F32Fma};
use crate::simd::{F32x16, F32x8, Vector};

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
/// (`Plan::scratch_len`).
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
            Weights::F32(w) if narrow => task::<V, _, N, 1>(x, in_place(w, k), bias, y, kc, s),
            Weights::F32(w) => task::<V, _, M, 2>(x, in_place(w, k), bias, y, kc, s),
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
    let w = InPlace::<_, Bf16Pairs>::new(w, 2 * x.blocking.k);
    // SAFETY: this fn's # Safety guarantees AVX-512 F and BF16, all `F32x16` and `Bf16Pairs` need.
    unsafe {
        if x.blocking.nr == AVX512_NARROW.nr {
            task::<F32x16, _, { AVX512_NARROW.mr }, 1>(x, w, bias, y, kc, scratch)
        } else {
            task::<F32x16, _, { AVX512_WIDE.mr }, 2>(x, w, bias, y, kc, scratch)
        }
    }
}

/// Columns `y.columns()` of the int8 layer (`Kernels::linear_i8`) with AVX2 ([`AVX2_I8`]): `x`
/// the tokens' quads of bytes (`k / 4` words a row, padded as `W`'s panels pad `k`), `out` the
/// task's rows of `W` and what dequantizes them.
///
/// # Safety
/// The CPU must have AVX2.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn linear_i8_avx2(
    x: &[f32],
    out: I8Out<'_>,
    y: YBlock<'_>,
    kc: usize,
    scratch: &mut [f32],
) {
    // SAFETY: this fn's # Safety guarantees AVX2, all `F32x8` and `I8Madd` need.
    unsafe {
        i8_task::task::<F32x8, I8Madd, { AVX2_I8.nr }, { AVX2_I8.nr / 2 }, { AVX2_I8.mr / 8 }>(
            x, out, y, kc, scratch,
        )
    }
}

/// As [`linear_i8_avx2`], with AVX-512 VNNI ([`AVX512_I8`]).
///
/// # Safety
/// The CPU must have AVX-512 F and AVX-512 VNNI.
#[target_feature(enable = "avx512f,avx512vnni")]
pub(super) unsafe fn linear_i8_avx512_vnni(
    x: &[f32],
    out: I8Out<'_>,
    y: YBlock<'_>,
    kc: usize,
    scratch: &mut [f32],
) {
    // SAFETY: this fn's # Safety guarantees AVX-512 F and VNNI, all `F32x16` and `I8Vnni` need.
    unsafe {
        i8_task::task::<F32x16, I8Vnni, { AVX512_I8.nr }, { AVX512_I8.nr / 2 }, { AVX512_I8.mr / 16 }>(
            x, out, y, kc, scratch,
        )
    }
}

/// f32 `W` read in place, `k` elements a row.
#[inline(always)]
fn in_place(w: &[f32], k: usize) -> InPlace<'_, f32, F32Fma> {
    InPlace::new(w, k)
}

#[cfg(test)]
mod tests {
    use std::ops::Range;

    use super::super::blocks::for_each_block;
    use super::super::pack::{with_packed, Blocking, Words};
    use super::super::plan::Plan;
    use super::super::rows::Rows;
    use super::super::scalar;
    use super::super::task::with_scratch;
    use super::super::test_values::values;
    use super::super::tile::Step;
    use super::*;
    use crate::quant::{padded_k, I8Weights, TokenQuant, TokenScales};
    use crate::simd::F32x8x2;
    use crate::testing::supported_or_skip;
    use crate::Isa;
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
        let plan = Plan::new(Tile::new(Isa::Avx512, m), m, n, steps, 2);
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
                for kc in [Plan::new(Tile::new(Isa::Avx512, m), m, n, k, 2).kc, 5] {
                    let f32s = |j: Range<usize>| in_place(&w[j.start * k..j.end * k], k);
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
                for kc in [Plan::new(Tile::new(Isa::Avx512, m), m, n, k / 2, 2).kc, 3] {
                    let pairs = |j: Range<usize>| {
                        InPlace::<_, EmulatedPairs>::new(&w[j.start * k..j.end * k], k)
                    };
                    let got = run_16_lanes(Words::Bf16Pairs, &x, pairs, &bias, m, k / 2, kc);
                    assert!(same_bits(&got, &want), "{m}x{k}x{n} in passes of {kc}");
                }
            }
        }
    }

    /// The int8 task's generic body with AVX-512's tile and 16-lane vectors, run on AVX2.
    ///
    /// # Safety
    /// The CPU must have AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn i8_task_16_lanes(
        x: &[f32],
        out: I8Out<'_>,
        y: YBlock<'_>,
        kc: usize,
        scratch: &mut [f32],
    ) {
        // SAFETY: this fn's # Safety guarantees AVX2 and FMA, all `F32x8x2` and `I8Madd` need.
        unsafe {
            i8_task::task::<
                F32x8x2,
                I8Madd,
                { AVX512_I8.nr },
                { AVX512_I8.nr / 2 },
                { AVX512_I8.mr / 16 },
            >(x, out, y, kc, scratch)
        }
    }

    #[test]
    fn i8_quads_at_sixteen_lanes_equal_the_scalar_twin_bit_for_bit() {
        if !supported_or_skip(Isa::Avx2) {
            return;
        }
        // The VNNI tile's body (AVX-512's tile, 16 lanes) with AVX2's exact byte products, in
        // the plan's passes and in passes of 3 quads; k a multiple of 4, padded to 64 as the
        // panels pad it; n around the tile's 64 rows and the panels' 16.
        for m in M {
            for (k, n) in [(4, 1), (8, 13), (52, 25), (100, 57), (768, 31), (64, 130)] {
                let x = values(m * k, 10);
                let w = I8Weights::quantize(&values(n * k, 11), k);
                let bias = values(n, 12);
                let tokens: Vec<TokenQuant> = x.chunks_exact(k).map(TokenQuant::of).collect();
                let mut want = vec![0.0; m * n];
                scalar::linear_i8(&x, &tokens, w.rows(), &bias, YBlock::whole(&mut want, m, n));
                let steps = padded_k(k) / 4;
                let mut words = vec![0.0; m * steps];
                for ((row, words), t) in x
                    .chunks_exact(k)
                    .zip(words.chunks_exact_mut(steps))
                    .zip(&tokens)
                {
                    for (word, quad) in words.iter_mut().zip(row.chunks_exact(4)) {
                        *word = f32::from_bits(u32::from_le_bytes(
                            [0, 1, 2, 3].map(|b| t.quantize(quad[b])),
                        ));
                    }
                }
                let (scale, zero): (Vec<f32>, Vec<i32>) =
                    tokens.iter().map(|t| (t.scale, t.zero)).unzip();
                let scales = TokenScales {
                    scale: &scale,
                    zero: &zero,
                };
                let plan = Plan::new(AVX512_I8, m, n, steps, 2);
                for kc in [plan.kc, 3] {
                    let plan = Plan { kc, ..plan };
                    let mut got = vec![f32::NAN; m * n];
                    for_each_block(&mut got, m, n, plan.grid, |y| {
                        let j = y.columns();
                        let out = I8Out {
                            w: w.rows().slice(j.clone()),
                            tokens: scales,
                            bias: &bias[j],
                            ahead: &[],
                        };
                        // SAFETY: AVX2 was checked above.
                        with_scratch(plan.scratch_len(), |scratch| unsafe {
                            i8_task_16_lanes(&words, out, y, plan.kc, scratch)
                        })
                    });
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
}
