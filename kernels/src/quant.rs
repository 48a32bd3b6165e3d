//! Integer quantization for the int8 linear layer ([`Kernels::linear_i8`](crate::Kernels::linear_i8)):
//! weights per output channel, activations per token.
//!
//! - A weight row `j` is `W[j, p] ≈ scale[j] · q[j, p]` with `q` a symmetric integer in
//!   `-WEIGHT_MAX..=WEIGHT_MAX` (`scale[j] = max |W[j, ·]| / WEIGHT_MAX`, `q = W / scale` rounded to
//!   nearest even: `W · (1 / scale)` in fact, computed once per row).
//!   `WEIGHT_MAX` is 64, not 127: a pair of products `x·q + x'·q'` of an unsigned byte by such a
//!   weight is at most `2 · 255 · 64 = 32640`, so it fits in an `i16`, and AVX2's `vpmaddubsw`
//!   (which saturates at 32767) is exact. Every instruction set then computes the same integers,
//!   and answers are equal bit for bit with or without VNNI.
//! - A token's row `x[i, ·]` is `x ≈ scale · (q - zero)` with `q` an unsigned byte: the range
//!   `[min(x, 0), max(x, 0)]` is cut into 255 steps, and `zero` (the byte that stands for 0.0) makes
//!   0 exact. An affine (asymmetric) byte spends no level on values the row does not reach, which
//!   matters after GELU (the feed-forward's second input is almost all ≥ −0.17).
//!
//! Then `Σₚ x[i,p]·W[j,p] ≈ scale_x[i] · scale[j] · (Σₚ qx·qw − zero[i] · Σₚ qw[j,p])`, the sum of
//! integer products exact in `i32`.
//!
//! A row holding NaN or an infinity has no finite scale: it gets a NaN scale and zero bytes, so every
//! output computed from it is NaN, as it would be in f32 (a non-finite value must not turn into a
//! finite answer).

use rayon::prelude::*;

#[cfg(target_arch = "x86_64")]
use crate::simd::Vector;

/// The largest magnitude of a quantized weight (see the module doc).
pub const WEIGHT_MAX: i32 = 64;

/// The largest `k` whose sums cannot overflow `i32`: `k · 255 · 64` plus the zero point's term.
pub const MAX_K: usize = (i32::MAX as usize) / (2 * 255 * WEIGHT_MAX as usize);

/// Rows of `W` in one panel of [`I8Weights`]. A panel holds, for every quad of `k` (four values,
/// `k` padded with zeros to a multiple of [`K_ALIGN`]), the quad of each of its 16 rows in turn:
/// `W[j, p]` is byte `p mod 4` of word `(p / 4)·16 + j mod 16` of panel `j / 16` (the last panel
/// padded with zero rows). So one quad of `k` of a panel is 64 contiguous bytes: one vector of
/// the vector tiles (`vpdpbusd`'s 16 lanes, or two of AVX2's 8), and every 64 values of `k` are
/// one AMX tile of `B` for `tdpbusd` (16 quads by 16 rows, 1 KB). One layout for every
/// instruction set: a quantized checkpoint runs as written on any CPU.
pub const PANEL_ROWS: usize = 16;

/// What the panels pad `k` to a multiple of: an AMX tile's 64 bytes of one row.
pub const K_ALIGN: usize = 64;

/// `k` padded as the panels hold it.
pub fn padded_k(k: usize) -> usize {
    k.next_multiple_of(K_ALIGN)
}

/// The bytes of one panel of rows `k` long.
pub(crate) fn panel_len(k: usize) -> usize {
    padded_k(k) * PANEL_ROWS
}

/// A linear layer's weights in int8, per output channel: `n` rows of `k`, in panels of
/// [`PANEL_ROWS`].
#[derive(Clone, Debug, PartialEq)]
pub struct I8Weights {
    q: Vec<i8>,
    scale: Vec<f32>,
    sums: Vec<i32>,
    k: usize,
}

/// A borrowed [`I8Weights`], or some of its panels.
#[derive(Clone, Copy, Debug)]
pub struct I8Rows<'a> {
    /// The panels of quantized weights (see [`PANEL_ROWS`]).
    pub q: &'a [i8],
    /// Each row's scale.
    pub scale: &'a [f32],
    /// Each row's sum of `q` (for the activations' zero point).
    pub sums: &'a [i32],
    /// The row length.
    pub k: usize,
}

impl I8Weights {
    /// Quantizes `w` (`n × k`, row-major) row by row into panels, in parallel on the current
    /// rayon pool. `k` must be positive, at most [`MAX_K`], and divide `w.len()`.
    pub fn quantize(w: &[f32], k: usize) -> Self {
        assert!(
            k > 0 && k <= MAX_K && w.len().is_multiple_of(k),
            "W is not n×k"
        );
        let n = w.len() / k;
        let panel_len = panel_len(k);
        let mut q = vec![0i8; n.div_ceil(PANEL_ROWS) * panel_len];
        let (mut scale, mut sums) = (vec![1.0f32; n], vec![0i32; n]);
        q.par_chunks_exact_mut(panel_len)
            .zip(w.par_chunks(PANEL_ROWS * k))
            .zip(scale.par_chunks_mut(PANEL_ROWS))
            .zip(sums.par_chunks_mut(PANEL_ROWS))
            .for_each(|(((panel, rows), scales), sums)| {
                let mut row_q = vec![0i8; k];
                for (r, row) in rows.chunks_exact(k).enumerate() {
                    scales[r] = weight_scale(row);
                    if !scales[r].is_finite() {
                        continue;
                    }
                    let inv = 1.0 / scales[r];
                    for (q, &v) in row_q.iter_mut().zip(row) {
                        *q = quantize_weight(v, inv);
                    }
                    sums[r] = row_q.iter().map(|&q| i32::from(q)).sum();
                    for (quad, values) in row_q.chunks(4).enumerate() {
                        let at = (quad * PANEL_ROWS + r) * 4;
                        for (b, &q) in values.iter().enumerate() {
                            panel[at + b] = q;
                        }
                    }
                }
            });
        I8Weights { q, scale, sums, k }
    }

    /// All the rows.
    pub fn rows(&self) -> I8Rows<'_> {
        I8Rows {
            q: &self.q,
            scale: &self.scale,
            sums: &self.sums,
            k: self.k,
        }
    }
}

impl<'a> I8Rows<'a> {
    /// How many rows.
    pub fn n(&self) -> usize {
        self.scale.len()
    }

    /// Rows `j`, which must start on a panel (a multiple of [`PANEL_ROWS`]).
    pub fn slice(self, j: std::ops::Range<usize>) -> I8Rows<'a> {
        assert!(
            j.start.is_multiple_of(PANEL_ROWS),
            "rows {j:?} do not start a panel"
        );
        let len = panel_len(self.k);
        I8Rows {
            q: &self.q[j.start / PANEL_ROWS * len..j.end.div_ceil(PANEL_ROWS) * len],
            scale: &self.scale[j.clone()],
            sums: &self.sums[j],
            ..self
        }
    }

    /// `W[j, p]`, quantized.
    pub fn get(&self, j: usize, p: usize) -> i8 {
        let panel = j / PANEL_ROWS * panel_len(self.k);
        self.q[panel + (p / 4 * PANEL_ROWS + j % PANEL_ROWS) * 4 + p % 4]
    }
}

/// Each row's sum of its quantized weights (what [`I8Rows::sums`] holds), from `n` rows of `k` in
/// the panels `q`, whose length must be the panels' for `n × k`; or, if a weight lies
/// outside `±WEIGHT_MAX` (which no quantizing makes, and which AVX2's products would not compute
/// exactly), its row and position.
pub fn row_sums(q: &[i8], n: usize, k: usize) -> Result<Vec<i32>, (usize, usize)> {
    assert_eq!(
        q.len(),
        n.div_ceil(PANEL_ROWS) * panel_len(k),
        "q is not n×k in panels"
    );
    let rows = I8Rows {
        q,
        scale: &[],
        sums: &[],
        k,
    };
    (0..n)
        .into_par_iter()
        .map(|j| {
            let mut sum = 0;
            for p in 0..k {
                let w = rows.get(j, p);
                if i32::from(w).abs() > WEIGHT_MAX {
                    return Err((j, p));
                }
                sum += i32::from(w);
            }
            Ok(sum)
        })
        .collect()
}

/// `max |row| / WEIGHT_MAX`; 1 for a row of zeros (any scale represents it), NaN if the row holds
/// NaN or an infinity.
fn weight_scale(row: &[f32]) -> f32 {
    // Sixteen running maxima, so that no comparison waits for the one before (a single one made
    // quantizing at load a chain of dependent `maxss`, 4 cycles a weight).
    let (mut max, mut finite) = ([0.0f32; 16], true);
    let (chunks, rest) = row.as_chunks::<16>();
    for chunk in chunks {
        for (m, &v) in max.iter_mut().zip(chunk) {
            let a = v.abs();
            *m = if a > *m { a } else { *m };
            finite &= v.is_finite();
        }
    }
    for &v in rest {
        max[0] = max[0].max(v.abs());
        finite &= v.is_finite();
    }
    let max = max.into_iter().fold(0.0f32, f32::max);
    if !finite {
        f32::NAN
    } else if max == 0.0 {
        1.0
    } else {
        max / WEIGHT_MAX as f32
    }
}

/// `1.5 · 2²³`: for `|x| < 2²²`, `(x + ROUNDER) - ROUNDER` is `x` rounded to the nearest integer,
/// ties to even (the sum's rounding does it), in two additions that vectorize, where
/// `f32::round_ties_even` is a library call on a CPU without SSE4.1's `roundps`.
const ROUNDER: f32 = 12_582_912.0;

/// `round(v · inv)`, ties to even, within `±WEIGHT_MAX` (`inv = 1 / scale`, so `|v · inv| ≤ 64` up
/// to a rounding).
#[inline(always)]
fn quantize_weight(v: f32, inv: f32) -> i8 {
    let q = (v * inv + ROUNDER) - ROUNDER;
    // Within ±64 after the clamp, so the conversion through i32 is exact (and vectorizes, where
    // a saturating one to i8 does not).
    q.clamp(-WEIGHT_MAX as f32, WEIGHT_MAX as f32) as i32 as i8
}

/// One token's quantization: `x ≈ scale · (q − zero)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TokenQuant {
    pub scale: f32,
    /// `1 / scale`: a byte is `round(x · inv) + zero`.
    pub inv: f32,
    pub zero: i32,
}

impl TokenQuant {
    /// The quantization of one row of activations (see the module doc).
    pub fn of(row: &[f32]) -> Self {
        let (mut lo, mut hi) = (0.0f32, 0.0f32);
        for &v in row {
            if !v.is_finite() {
                return TokenQuant::NON_FINITE;
            }
            lo = lo.min(v);
            hi = hi.max(v);
        }
        TokenQuant::of_range(lo, hi)
    }

    /// The quantization of a row that holds NaN or an infinity: every byte 0, every output NaN.
    pub(crate) const NON_FINITE: TokenQuant = TokenQuant {
        scale: f32::NAN,
        inv: 0.0,
        zero: 0,
    };

    /// The quantization of a finite row whose values span `[lo, hi]`, with `lo ≤ 0 ≤ hi`.
    pub(crate) fn of_range(lo: f32, hi: f32) -> Self {
        if hi == lo {
            return TokenQuant {
                scale: 1.0,
                inv: 1.0,
                zero: 0,
            };
        }
        let scale = (hi - lo) / 255.0;
        let inv = 1.0 / scale;
        let zero = (-lo * inv).round_ties_even().clamp(0.0, 255.0) as i32;
        TokenQuant { scale, inv, zero }
    }

    /// `v`'s byte: `round(v · inv) + zero` (ties to even), within `0..=255`. The SIMD packing
    /// (`matmul/quads.rs`) does the same operations in the same order.
    #[inline(always)]
    pub fn quantize(self, v: f32) -> u8 {
        let q = (v * self.inv).round_ties_even() + self.zero as f32;
        q.clamp(0.0, 255.0) as u8
    }
}

/// One output of the int8 linear layer from its exact integer sum `Σ qx·qw`: the bias plus the
/// dequantized dot product. Every instruction set finishes with this function.
#[inline(always)]
pub(crate) fn dequantize(
    sum: i32,
    x_scale: f32,
    x_zero: i32,
    w_scale: f32,
    w_sum: i32,
    bias: f32,
) -> f32 {
    bias + (x_scale * w_scale) * (sum - x_zero * w_sum) as f32
}

/// [`dequantize`] lane by lane: `sum` holds the `i32` sums of one token by `LANES` rows of `W`
/// (in an f32's bits, as `w_sum` their rows' sums), `w_scale` and `bias` the rows' scales and
/// biases. The same operations in the same order, so the same bits.
///
/// # Safety
/// The CPU must have `V`'s instruction set.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(crate) unsafe fn dequantize_lanes<V: Vector>(
    sum: V,
    x_scale: f32,
    x_zero: i32,
    w_scale: V,
    w_sum: V,
    bias: V,
) -> V {
    // SAFETY: the caller guarantees `V`'s instruction set; the arithmetic touches no memory.
    unsafe {
        let zero = V::splat(f32::from_bits(x_zero as u32));
        let difference = sum.sub_int_product(zero, w_sum).int_to_float();
        bias.add(V::splat(x_scale).mul(w_scale).mul(difference))
    }
}

/// The tokens' quantizations as the tiles' epilogue reads them: scales and zero points in two
/// arrays, so that its loop over a run of tokens reads each contiguously (and vectorizes).
#[derive(Clone, Copy, Debug)]
pub(crate) struct TokenScales<'a> {
    pub scale: &'a [f32],
    pub zero: &'a [i32],
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_by_hand() {
        // Row 0: max 2.0, scale 2/64; 1.0 → 32, -2.0 → -64, 0.01 → 0.32 → 0. Row 1: zeros.
        let w = I8Weights::quantize(&[1.0, -2.0, 0.01, 0.0, 0.0, 0.0], 3);
        let rows = w.rows();
        let q: Vec<i8> = (0..2)
            .flat_map(|j| (0..3).map(move |p| rows.get(j, p)))
            .collect();
        assert_eq!(q, [32, -64, 0, 0, 0, 0]);
        // One panel of 16 rows by 64 values (16 quads): row 0's first quad (32, -64, 0, pad),
        // then row 1's, and so on; zeros everywhere else.
        assert_eq!(w.q.len(), 16 * 64);
        assert_eq!(w.q[..8], [32, -64, 0, 0, 0, 0, 0, 0]);
        assert!(w.q[8..].iter().all(|&q| q == 0));
        assert_eq!(w.scale, [2.0 / 64.0, 1.0]);
        assert_eq!(w.sums, [-32, 0]);
    }

    #[test]
    fn the_sums_are_recomputed_and_a_weight_out_of_range_is_named() {
        let (n, k) = (21, 70);
        let w: Vec<f32> = (0..n * k)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0)
            .collect();
        let w = I8Weights::quantize(&w, k);
        assert_eq!(row_sums(&w.q, n, k), Ok(w.sums.clone()));
        let mut bad = w.q.clone();
        bad[(2 * 16 + 5) * 4 + 3] = 65; // row 5, position 2·4 + 3
        assert_eq!(row_sums(&bad, n, k), Err((5, 11)));
    }

    #[test]
    fn tokens_by_hand() {
        // [-1, 0, 3]: 4/255 a step, zero at round(63.75) = 64; 3 → 191.25 + 64 → 255 (clamped).
        let t = TokenQuant::of(&[-1.0, 0.0, 3.0]);
        assert_eq!((t.scale, t.zero), (4.0 / 255.0, 64));
        assert_eq!([-1.0, 0.0, 3.0].map(|v| t.quantize(v)), [0, 64, 255]);
        // All positive: the range starts at 0, which is byte 0.
        let t = TokenQuant::of(&[0.5, 2.55]);
        assert_eq!((t.zero, t.quantize(2.55), t.quantize(0.5)), (0, 255, 50));
    }

    #[test]
    fn non_finite_rows_get_a_nan_scale() {
        assert!(TokenQuant::of(&[1.0, f32::NAN]).scale.is_nan());
        assert!(TokenQuant::of(&[f32::INFINITY]).scale.is_nan());
        assert_eq!(TokenQuant::of(&[1.0, f32::NAN]).quantize(3.0), 0);
        let w = I8Weights::quantize(&[1.0, f32::NAN, 1.0, 1.0], 2);
        assert!(w.scale[0].is_nan() && w.scale[1] == 1.0 / 64.0);
        let t = TokenQuant::of(&[1.0]);
        let y = dequantize(0, t.scale, t.zero, w.scale[0], 0, 0.0);
        assert!(y.is_nan());
    }
}
