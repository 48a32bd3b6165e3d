//! Softmax rows on SIMD vectors: one generic body, instantiated for AVX2 and AVX-512.
//!
//! The same three passes as `scalar.rs` (maximum; `exp(x - max)` and its sum; scale by `1/sum`),
//! `V::LANES` elements at a time. A row's last, partial vector is read padded with `-inf`, whose
//! exponential is 0, so it adds nothing to the sum.

use crate::simd::{exp, F32x16, F32x8, Vector};

/// Softmax of every `row_len`-long row of `x`, with AVX2 and FMA.
///
/// # Safety
/// The CPU must have AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn softmax_rows_avx2(x: &mut [f32], row_len: usize) {
    for row in x.chunks_exact_mut(row_len) {
        // SAFETY: this fn's # Safety guarantees AVX2 and FMA, `F32x8`'s instruction set.
        unsafe { softmax::<F32x8>(row) };
    }
}

/// Softmax of every `row_len`-long row of `x`, with AVX-512 F.
///
/// # Safety
/// The CPU must have AVX-512 F.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn softmax_rows_avx512(x: &mut [f32], row_len: usize) {
    for row in x.chunks_exact_mut(row_len) {
        // SAFETY: this fn's # Safety guarantees AVX-512 F, `F32x16`'s instruction set.
        unsafe { softmax::<F32x16>(row) };
    }
}

/// Softmax of one row, in place.
///
/// # Safety
/// The CPU must have `V`'s instruction set.
#[inline(always)]
pub(crate) unsafe fn softmax<V: Vector>(x: &mut [f32]) {
    // The row maximum.
    // SAFETY: the caller guarantees `V`'s instruction set (this fn's # Safety); `load` gets whole
    // chunks of `V::LANES`, `load_partial` the shorter rest.
    let max = unsafe {
        let mut max = V::splat(f32::NEG_INFINITY);
        let mut chunks = x.chunks_exact(V::LANES);
        for c in &mut chunks {
            max = max.max(V::load(c));
        }
        let tail = chunks.remainder();
        if !tail.is_empty() {
            max = max.max(V::load_partial(tail, f32::NEG_INFINITY));
        }
        V::splat(max.reduce_max())
    };

    // x ← exp(x - max), and the sum of the results.
    // SAFETY: as for the maximum; `store` and `store_partial` write the chunks just read.
    let sum = unsafe {
        let mut sum = V::splat(0.0);
        let mut chunks = x.chunks_exact_mut(V::LANES);
        for c in &mut chunks {
            let e = exp(V::load(c).sub(max));
            e.store(c);
            sum = sum.add(e);
        }
        let tail = chunks.into_remainder();
        if !tail.is_empty() {
            let e = exp(V::load_partial(tail, f32::NEG_INFINITY).sub(max));
            e.store_partial(tail);
            sum = sum.add(e);
        }
        sum.reduce_add()
    };

    // x ← x / sum.
    // SAFETY: as for the previous pass.
    unsafe {
        let inv = V::splat(1.0 / sum);
        let mut chunks = x.chunks_exact_mut(V::LANES);
        for c in &mut chunks {
            V::load(c).mul(inv).store(c);
        }
        let tail = chunks.into_remainder();
        if !tail.is_empty() {
            V::load_partial(tail, 0.0).mul(inv).store_partial(tail);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::softmax;
    use crate::simd::F32x8x2;
    use crate::testing::supported_or_skip;
    use crate::Isa;

    /// The generic body at 16 lanes (the AVX-512 instantiation's partial vectors), run on AVX2.
    ///
    /// # Safety
    /// The CPU must have AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn softmax_16_lanes(x: &mut [f32]) {
        // SAFETY: this fn's # Safety guarantees AVX2 and FMA, all `F32x8x2` needs.
        unsafe { softmax::<F32x8x2>(x) }
    }

    #[test]
    fn sixteen_lanes_match_the_scalar_spec() {
        if !supported_or_skip(Isa::Avx2) {
            return;
        }
        for n in (1..=40).chain([100, 768]) {
            let x: Vec<f32> = (0..n).map(|i| (i * 37 % 23) as f32 * 0.7 - 8.0).collect();
            let mut want = x.clone();
            super::super::scalar::softmax(&mut want);
            let mut got = x;
            // SAFETY: AVX2 and FMA were checked above.
            unsafe { softmax_16_lanes(&mut got) };
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() <= 1e-6 * w, "n = {n}: {g} against {w}");
            }
        }
    }
}
