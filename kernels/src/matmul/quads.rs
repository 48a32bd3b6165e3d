//! The int8 layer's input: each token's row of `x` quantized ([`TokenQuant`]) and its bytes laid
//! four to a word (`x[i, 4q..4q + 4]`, the first in the low byte), `k / 4` words a row then zeros
//! to the panels' padded `k`: the rows the int8 tiles (`i8_task.rs`) and AMX's read in place.
//!
//! The generic body does the scalar twin's operations ([`TokenQuant::of`], then
//! [`TokenQuant::quantize`] on every value) a vector at a time, in the same order and with the same
//! roundings: its words and quantizations equal the twin's bit for bit.

use std::cell::RefCell;

use rayon::prelude::*;

use super::local::with_buffer;
use crate::quant::TokenQuant;
use crate::simd::{F32x16, F32x8, Vector};
use crate::Isa;

thread_local! {
    /// The calling thread's buffer for the words of `x`, kept between calls: a fresh one was
    /// zeroed on every layer (1% of an int8 pass at 8 × 128 in `memset`).
    static WORDS: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` on the words of the `m` rows of `x` ([`quantize`]: `row_words` a row, `k / 4` of
/// them and zeros after, in the thread's buffer, `local::with_buffer`) and each row's quantization.
pub(super) fn with_quantized<R>(
    isa: Isa,
    x: &[f32],
    k: usize,
    row_words: usize,
    f: impl FnOnce(&[f32], &[TokenQuant]) -> R,
) -> R {
    let m = x.len() / k;
    let mut tokens = vec![TokenQuant::NON_FINITE; m];
    with_buffer(&WORDS, m * row_words, |words| {
        quantize(isa, x, k, words, row_words, &mut tokens);
        f(words, &tokens)
    })
}

/// Quantizes the `m` rows of `x` (`k` values each, `k` a multiple of 4) into `words` (rows of
/// `row_words`, each its `k / 4` words then zeros; any rows past `m` left as they are) and
/// `tokens`, rows in parallel on the current rayon pool, with `isa`'s vectors.
pub(super) fn quantize(
    isa: Isa,
    x: &[f32],
    k: usize,
    words: &mut [f32],
    row_words: usize,
    tokens: &mut [TokenQuant],
) {
    assert!(k > 0 && k.is_multiple_of(4), "rows are not whole quads");
    assert!(row_words >= k / 4 && words.len() >= tokens.len() * row_words);
    assert_eq!(x.len(), tokens.len() * k, "x is not m×k");
    x.par_chunks_exact(k)
        .zip(words.par_chunks_exact_mut(row_words))
        .zip(tokens.par_iter_mut())
        .for_each(|((row, words), token)| {
            let (words, padding) = words.split_at_mut(k / 4);
            padding.fill(0.0);
            *token = match isa {
                // SAFETY: a `Kernels` holds Avx512 only if the CPU has AVX-512 F, and Avx2 only if
                // it has AVX2 and FMA (`Isa::is_supported`).
                Isa::Avx512 => unsafe { row_avx512(row, words) },
                // SAFETY: as above.
                Isa::Avx2 => unsafe { row_avx2(row, words) },
                Isa::Scalar => row_scalar(row, words),
            }
        })
}

/// One row, with AVX2.
///
/// # Safety
/// The CPU must have AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
unsafe fn row_avx2(row: &[f32], words: &mut [f32]) -> TokenQuant {
    // SAFETY: this fn's # Safety guarantees `F32x8`'s instruction set.
    unsafe { row_body::<F32x8>(row, words) }
}

/// One row, with AVX-512 F.
///
/// # Safety
/// The CPU must have AVX-512 F.
#[target_feature(enable = "avx512f")]
unsafe fn row_avx512(row: &[f32], words: &mut [f32]) -> TokenQuant {
    // SAFETY: this fn's # Safety guarantees `F32x16`'s instruction set.
    unsafe { row_body::<F32x16>(row, words) }
}

/// One row, value by value: the spec.
fn row_scalar(row: &[f32], words: &mut [f32]) -> TokenQuant {
    let t = TokenQuant::of(row);
    for (word, quad) in words.iter_mut().zip(row.chunks_exact(4)) {
        *word = f32::from_bits(u32::from_le_bytes(
            [0, 1, 2, 3].map(|b| t.quantize(quad[b])),
        ));
    }
    t
}

/// One row: its range and finiteness in one pass of vectors, then its bytes.
///
/// # Safety
/// The CPU must have `V`'s instruction set.
#[inline(always)]
unsafe fn row_body<V: Vector>(row: &[f32], words: &mut [f32]) -> TokenQuant {
    let lanes = V::LANES;
    let (body, tail) = row.split_at(row.len() - row.len() % lanes);
    // SAFETY: the caller guarantees `V`'s instruction set; every load takes `lanes` values of a
    // chunk `lanes` long, every store `lanes` values into `q` (16 ≥ lanes).
    unsafe {
        // `v - v` is 0 for a finite `v` and NaN otherwise: `bad` ends NaN if any value is not finite.
        let (mut lo, mut hi, mut bad) = (V::splat(0.0), V::splat(0.0), V::splat(0.0));
        for chunk in body.chunks_exact(lanes) {
            let v = V::load(chunk);
            lo = lo.min(v);
            hi = hi.max(v);
            bad = bad.add(v.sub(v));
        }
        let lo = tail
            .iter()
            .fold(-V::splat(0.0).sub(lo).reduce_max(), |a, &v| a.min(v));
        let hi = tail.iter().fold(hi.reduce_max(), |a, &v| a.max(v));
        let finite = tail.iter().all(|v| v.is_finite()) && bad.reduce_add() == 0.0;
        if !finite {
            words.fill(0.0);
            return TokenQuant::NON_FINITE;
        }
        let t = TokenQuant::of_range(lo, hi);
        let (inv, zero) = (V::splat(t.inv), V::splat(t.zero as f32));
        let (min, max) = (V::splat(0.0), V::splat(255.0));
        let words_per_chunk = lanes / 4;
        for (chunk, out) in body
            .chunks_exact(lanes)
            .zip(words.chunks_exact_mut(words_per_chunk))
        {
            // `(v·inv).round() + zero`, then clamped: `max`/`min` take the second operand's lane
            // only where the first is NaN, and none is.
            let v = V::load(chunk).mul(inv).round().add(zero);
            min.max(v).min(max).store_bytes(out);
        }
        let done = body.len() / 4;
        for (word, quad) in words[done..].iter_mut().zip(tail.chunks_exact(4)) {
            *word = f32::from_bits(u32::from_le_bytes(
                [0, 1, 2, 3].map(|b| t.quantize(quad[b])),
            ));
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simd::F32x8x2;
    use crate::testing::supported_or_skip;

    /// [`row_body`] at 16 lanes on AVX2.
    ///
    /// # Safety
    /// The CPU must have AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn row_16_lanes(row: &[f32], words: &mut [f32]) -> TokenQuant {
        // SAFETY: this fn's # Safety guarantees AVX2 and FMA, all `F32x8x2` needs.
        unsafe { row_body::<F32x8x2>(row, words) }
    }

    #[test]
    fn vectors_equal_the_scalar_twin_bit_for_bit() {
        if !supported_or_skip(Isa::Avx2) {
            return;
        }
        // Lengths around the vector widths; values with ties (k/2 steps of a 255-step range),
        // negative and positive ranges, a NaN and an infinity.
        for k in [4, 8, 12, 20, 36, 100, 768] {
            for case in 0..6 {
                let mut row: Vec<f32> = (0..k)
                    .map(|i| match case {
                        0 => i as f32 * 0.5 - 3.0,
                        1 => -(i as f32) * 0.37,
                        2 => ((i * 7919) % 1000) as f32 / 997.0,
                        3 => 0.0,
                        _ => ((i * 104_729) % 2001) as f32 / 1000.0 - 1.0,
                    })
                    .collect();
                if case == 4 {
                    row[k / 2] = f32::NAN;
                }
                if case == 5 {
                    row[k - 1] = f32::NEG_INFINITY;
                }
                let mut want = vec![0.0; k / 4];
                let t_want = row_scalar(&row, &mut want);
                let bits = |w: &[f32]| w.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                let mut got = vec![1.0; k / 4];
                // SAFETY: AVX2 and FMA were checked above.
                let t_got = unsafe { row_avx2(&row, &mut got) };
                assert_eq!(bits(&got), bits(&want), "8 lanes, k={k}, case {case}");
                assert_eq!(format!("{t_got:?}"), format!("{t_want:?}"));
                // SAFETY: as above.
                let t_got = unsafe { row_16_lanes(&row, &mut got) };
                assert_eq!(bits(&got), bits(&want), "16 lanes, k={k}, case {case}");
                assert_eq!(format!("{t_got:?}"), format!("{t_want:?}"));
            }
        }
    }
}
