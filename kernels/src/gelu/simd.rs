//! Exact GELU on SIMD vectors: one generic body, instantiated for AVX2 and AVX-512.
//!
//! The same formula as `scalar.rs`, operation for operation, except that `a·b + c` is one FMA and
//! `exp` is the polynomial one of [`crate::simd::exp`].

use crate::simd::{exp, F32x16, F32x8, Vector};
use std::f32::consts::FRAC_1_SQRT_2;

/// `x ← gelu(x)`, with AVX2 and FMA.
///
/// # Safety
/// The CPU must have AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn gelu_avx2(x: &mut [f32]) {
    // SAFETY: this fn's # Safety guarantees AVX2 and FMA, `F32x8`'s instruction set.
    unsafe { gelu_in_place::<F32x8>(x) }
}

/// `x ← gelu(x)`, with AVX-512 F.
///
/// # Safety
/// The CPU must have AVX-512 F.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn gelu_avx512(x: &mut [f32]) {
    // SAFETY: this fn's # Safety guarantees AVX-512 F, `F32x16`'s instruction set.
    unsafe { gelu_in_place::<F32x16>(x) }
}

/// `x ← gelu(x)`, `V::LANES` at a time.
///
/// # Safety
/// The CPU must have `V`'s instruction set.
#[inline(always)]
unsafe fn gelu_in_place<V: Vector>(x: &mut [f32]) {
    // SAFETY: the caller guarantees `V`'s instruction set (this fn's # Safety); `load` and `store`
    // get whole chunks of `V::LANES`, the `_partial` forms the shorter rest.
    unsafe {
        let mut chunks = x.chunks_exact_mut(V::LANES);
        for c in &mut chunks {
            gelu(V::load(c)).store(c);
        }
        let tail = chunks.into_remainder();
        if !tail.is_empty() {
            gelu(V::load_partial(tail, 0.0)).store_partial(tail);
        }
    }
}

/// `x/2 · (1 + erf(x/√2))`.
///
/// # Safety
/// The CPU must have `V`'s instruction set.
#[inline(always)]
unsafe fn gelu<V: Vector>(x: V) -> V {
    // SAFETY: the caller guarantees `V`'s instruction set (this fn's # Safety); no memory is
    // touched.
    unsafe {
        let one = V::splat(1.0);
        let erf = erf(x.mul(V::splat(FRAC_1_SQRT_2)));
        V::splat(0.5).mul(x).mul(one.add(erf))
    }
}

/// Abramowitz & Stegun 7.1.26, as `scalar::erf` computes it.
///
/// # Safety
/// The CPU must have `V`'s instruction set.
#[inline(always)]
unsafe fn erf<V: Vector>(x: V) -> V {
    const P: f32 = 0.327_591_1;
    const A: [f32; 5] = [
        0.254_829_6,
        -0.284_496_74,
        1.421_413_8,
        -1.453_152_1,
        1.061_405_4,
    ];
    // SAFETY: the caller guarantees `V`'s instruction set (this fn's # Safety); no memory is
    // touched.
    unsafe {
        let one = V::splat(1.0);
        let ax = x.abs();
        let t = one.div(V::splat(P).mul_add(ax, one));
        let mut poly = V::splat(A[4]);
        for &a in A[..4].iter().rev() {
            poly = poly.mul_add(t, V::splat(a));
        }
        let poly = poly.mul(t);
        // -ax², as one FMA into 0.
        let e = exp(ax.neg_mul_add(ax, V::splat(0.0)));
        poly.neg_mul_add(e, one).copysign(x)
    }
}

#[cfg(test)]
mod tests {
    use super::gelu_in_place;
    use crate::simd::F32x8x2;
    use crate::testing::supported_or_skip;
    use crate::Isa;

    /// The generic body at 16 lanes (the AVX-512 instantiation's partial vectors), run on AVX2.
    ///
    /// # Safety
    /// The CPU must have AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn gelu_16_lanes(x: &mut [f32]) {
        // SAFETY: this fn's # Safety guarantees AVX2 and FMA, all `F32x8x2` needs.
        unsafe { gelu_in_place::<F32x8x2>(x) }
    }

    #[test]
    fn sixteen_lanes_match_the_scalar_spec() {
        if !supported_or_skip(Isa::Avx2) {
            return;
        }
        for n in (1..=40).chain([3072]) {
            let x: Vec<f32> = (0..n)
                .map(|i| (i * 37 % 101) as f32 * 0.125 - 6.0)
                .collect();
            let want: Vec<f32> = x.iter().map(|&v| super::super::scalar::gelu(v)).collect();
            let mut got = x.clone();
            // SAFETY: AVX2 and FMA were checked above.
            unsafe { gelu_16_lanes(&mut got) };
            for ((g, w), v) in got.iter().zip(&want).zip(&x) {
                assert!(
                    (g - w).abs() <= 2e-7 * v.abs().max(1.0),
                    "gelu({v}): {g} against {w}"
                );
            }
        }
    }
}
