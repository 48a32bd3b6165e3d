//! [`Vector`] for AVX2 with FMA: 8 lanes in a `__m256`.

use super::Vector;
use std::arch::x86_64::*;

/// Eight `f32` lanes (AVX2 + FMA).
#[derive(Clone, Copy)]
pub(crate) struct F32x8(__m256);

/// All ones in lanes `0..len`, zeros in the rest: the mask of `vmaskmovps`.
///
/// # Safety
/// The CPU must have AVX2.
#[inline(always)]
unsafe fn first_lanes(len: usize) -> __m256i {
    debug_assert!(len <= 8);
    // SAFETY: the caller guarantees AVX2.
    unsafe {
        _mm256_cmpgt_epi32(
            _mm256_set1_epi32(len as i32),
            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
        )
    }
}

/// Only the sign bit of every lane.
///
/// # Safety
/// The CPU must have AVX.
#[inline(always)]
unsafe fn sign_bits() -> __m256 {
    // SAFETY: the caller guarantees AVX (it has AVX2).
    unsafe { _mm256_set1_ps(-0.0) }
}

impl F32x8 {
    /// `self` plus the dot products of quads of bytes, as `vpdpbusd` computes them (see
    /// `F32x16::dot_u8_i8_quads`), with AVX2: `vpmaddubsw` multiplies the bytes and adds them in
    /// pairs into `i16` (saturating, so exact only while each pair's sum fits: the int8 layer's
    /// weights are within ±64, and `2·255·64 < 2¹⁵`), then `vpmaddwd` by ones adds the pairs into
    /// `i32`.
    ///
    /// # Safety
    /// The CPU must have AVX2.
    #[inline(always)]
    pub(crate) unsafe fn dot_u8_i8_quads(self, x: F32x8, w: F32x8) -> F32x8 {
        // SAFETY: the caller guarantees AVX2; the casts reinterpret bits.
        unsafe {
            let pairs = _mm256_maddubs_epi16(_mm256_castps_si256(x.0), _mm256_castps_si256(w.0));
            let quads = _mm256_madd_epi16(pairs, _mm256_set1_epi16(1));
            let sum = _mm256_add_epi32(_mm256_castps_si256(self.0), quads);
            F32x8(_mm256_castsi256_ps(sum))
        }
    }

    /// The 8×8 matrix whose rows are `rows`, transposed: lane `c` of row `r` becomes lane `r` of
    /// row `c`. Three rounds of shuffles, each pairing lanes across twice the distance of the one
    /// before (neighbouring rows' lanes, then pairs of them, then the 128-bit halves).
    ///
    /// # Safety
    /// The CPU must have AVX.
    #[inline(always)]
    pub(crate) unsafe fn transpose(rows: [F32x8; 8]) -> [F32x8; 8] {
        // SAFETY: the caller guarantees AVX, all these shuffles need.
        unsafe {
            let r = rows.map(|v| v.0);
            // Rows a, b: a0 b0 a1 b1 | a4 b4 a5 b5 (lo) and a2 b2 a3 b3 | a6 b6 a7 b7 (hi).
            let lo = |i: usize| _mm256_unpacklo_ps(r[i], r[i + 1]);
            let hi = |i: usize| _mm256_unpackhi_ps(r[i], r[i + 1]);
            let pairs = [lo(0), hi(0), lo(2), hi(2), lo(4), hi(4), lo(6), hi(6)];
            // Rows a to d: a0 b0 c0 d0 | a4 b4 c4 d4, then lanes 1|5, 2|6, 3|7; the same of e to h.
            let quads = |p: usize| {
                [
                    _mm256_shuffle_ps::<0x44>(pairs[p], pairs[p + 2]),
                    _mm256_shuffle_ps::<0xEE>(pairs[p], pairs[p + 2]),
                    _mm256_shuffle_ps::<0x44>(pairs[p + 1], pairs[p + 3]),
                    _mm256_shuffle_ps::<0xEE>(pairs[p + 1], pairs[p + 3]),
                ]
            };
            let (front, back) = (quads(0), quads(4));
            // Column c < 4 joins the low halves of front[c] and back[c]; column c + 4 the high ones.
            let mut columns = [F32x8(_mm256_setzero_ps()); 8];
            for c in 0..4 {
                columns[c] = F32x8(_mm256_permute2f128_ps::<0x20>(front[c], back[c]));
                columns[c + 4] = F32x8(_mm256_permute2f128_ps::<0x31>(front[c], back[c]));
            }
            columns
        }
    }
}

impl Vector for F32x8 {
    const LANES: usize = 8;

    #[inline(always)]
    unsafe fn splat(x: f32) -> Self {
        // SAFETY: the caller guarantees AVX2 and FMA (`Vector`'s # Safety).
        unsafe { F32x8(_mm256_set1_ps(x)) }
    }

    #[inline(always)]
    unsafe fn load(src: &[f32]) -> Self {
        debug_assert!(src.len() >= 8);
        // SAFETY: AVX2 and FMA, and 8 elements in `src`: the caller guarantees both.
        unsafe { F32x8(_mm256_loadu_ps(src.as_ptr())) }
    }

    #[inline(always)]
    unsafe fn store(self, dst: &mut [f32]) {
        debug_assert!(dst.len() >= 8);
        // SAFETY: AVX2 and FMA, and 8 elements in `dst`: the caller guarantees both.
        unsafe { _mm256_storeu_ps(dst.as_mut_ptr(), self.0) }
    }

    #[inline(always)]
    unsafe fn load_bytes(src: &[i8]) -> Self {
        // SAFETY: the caller guarantees AVX2 and `src.len() ≥ 32`; `loadu` reads 32 bytes at any
        // alignment.
        unsafe { F32x8(_mm256_castsi256_ps(_mm256_loadu_si256(src.as_ptr().cast()))) }
    }

    #[inline(always)]
    unsafe fn load_partial(src: &[f32], pad: f32) -> Self {
        // Masked-off lanes are neither read nor able to fault.
        // SAFETY: the caller guarantees AVX2 and FMA and `src.len() < 8`; the mask reads lanes
        // `0..src.len()`, all inside `src`.
        unsafe {
            let mask = first_lanes(src.len());
            let read = _mm256_maskload_ps(src.as_ptr(), mask);
            F32x8(_mm256_blendv_ps(
                _mm256_set1_ps(pad),
                read,
                _mm256_castsi256_ps(mask),
            ))
        }
    }

    #[inline(always)]
    unsafe fn store_partial(self, dst: &mut [f32]) {
        // SAFETY: the caller guarantees AVX2 and FMA and `dst.len() < 8`; the mask writes lanes
        // `0..dst.len()`, all inside `dst`.
        unsafe { _mm256_maskstore_ps(dst.as_mut_ptr(), first_lanes(dst.len()), self.0) }
    }

    #[inline(always)]
    unsafe fn add(self, rhs: Self) -> Self {
        // SAFETY: the caller guarantees AVX2 and FMA (`Vector`'s # Safety).
        unsafe { F32x8(_mm256_add_ps(self.0, rhs.0)) }
    }

    #[inline(always)]
    unsafe fn sub(self, rhs: Self) -> Self {
        // SAFETY: the caller guarantees AVX2 and FMA (`Vector`'s # Safety).
        unsafe { F32x8(_mm256_sub_ps(self.0, rhs.0)) }
    }

    #[inline(always)]
    unsafe fn mul(self, rhs: Self) -> Self {
        // SAFETY: the caller guarantees AVX2 and FMA (`Vector`'s # Safety).
        unsafe { F32x8(_mm256_mul_ps(self.0, rhs.0)) }
    }

    #[inline(always)]
    unsafe fn div(self, rhs: Self) -> Self {
        // SAFETY: the caller guarantees AVX2 and FMA (`Vector`'s # Safety).
        unsafe { F32x8(_mm256_div_ps(self.0, rhs.0)) }
    }

    #[inline(always)]
    unsafe fn mul_add(self, b: Self, c: Self) -> Self {
        // SAFETY: the caller guarantees AVX2 and FMA (`Vector`'s # Safety).
        unsafe { F32x8(_mm256_fmadd_ps(self.0, b.0, c.0)) }
    }

    #[inline(always)]
    unsafe fn neg_mul_add(self, b: Self, c: Self) -> Self {
        // SAFETY: the caller guarantees AVX2 and FMA (`Vector`'s # Safety).
        unsafe { F32x8(_mm256_fnmadd_ps(self.0, b.0, c.0)) }
    }

    #[inline(always)]
    unsafe fn max(self, rhs: Self) -> Self {
        // SAFETY: the caller guarantees AVX2 and FMA (`Vector`'s # Safety).
        unsafe { F32x8(_mm256_max_ps(self.0, rhs.0)) }
    }

    #[inline(always)]
    unsafe fn min(self, rhs: Self) -> Self {
        // SAFETY: the caller guarantees AVX2 and FMA (`Vector`'s # Safety).
        unsafe { F32x8(_mm256_min_ps(self.0, rhs.0)) }
    }

    #[inline(always)]
    unsafe fn abs(self) -> Self {
        // SAFETY: the caller guarantees AVX2 and FMA (`Vector`'s # Safety).
        unsafe { F32x8(_mm256_andnot_ps(sign_bits(), self.0)) }
    }

    #[inline(always)]
    unsafe fn copysign(self, sign: Self) -> Self {
        // SAFETY: the caller guarantees AVX2 and FMA (`Vector`'s # Safety).
        unsafe {
            let magnitude = _mm256_andnot_ps(sign_bits(), self.0);
            F32x8(_mm256_or_ps(magnitude, _mm256_and_ps(sign_bits(), sign.0)))
        }
    }

    #[inline(always)]
    unsafe fn round(self) -> Self {
        // SAFETY: the caller guarantees AVX2 and FMA (`Vector`'s # Safety).
        unsafe {
            F32x8(_mm256_round_ps::<
                { _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC },
            >(self.0))
        }
    }

    #[inline(always)]
    unsafe fn pow2i(self) -> Self {
        // The biased exponent n + 127 (0 for n = -127, which reads as +0.0), moved into place.
        // SAFETY: the caller guarantees AVX2 and FMA (`Vector`'s # Safety).
        unsafe {
            let biased = _mm256_add_epi32(_mm256_cvtps_epi32(self.0), _mm256_set1_epi32(127));
            F32x8(_mm256_castsi256_ps(_mm256_slli_epi32::<23>(biased)))
        }
    }

    #[inline(always)]
    unsafe fn reduce_add(self) -> f32 {
        // SAFETY: the caller guarantees AVX2 and FMA (`Vector`'s # Safety).
        unsafe {
            let halves = _mm_add_ps(
                _mm256_castps256_ps128(self.0),
                _mm256_extractf128_ps::<1>(self.0),
            );
            let pairs = _mm_add_ps(halves, _mm_movehl_ps(halves, halves));
            _mm_cvtss_f32(_mm_add_ss(pairs, _mm_movehdup_ps(pairs)))
        }
    }

    #[inline(always)]
    unsafe fn reduce_max(self) -> f32 {
        // SAFETY: the caller guarantees AVX2 and FMA (`Vector`'s # Safety).
        unsafe {
            let halves = _mm_max_ps(
                _mm256_castps256_ps128(self.0),
                _mm256_extractf128_ps::<1>(self.0),
            );
            let pairs = _mm_max_ps(halves, _mm_movehl_ps(halves, halves));
            _mm_cvtss_f32(_mm_max_ss(pairs, _mm_movehdup_ps(pairs)))
        }
    }

    #[inline(always)]
    unsafe fn store_bytes(self, dst: &mut [f32]) {
        assert!(dst.len() >= 2);
        // SAFETY: the caller guarantees AVX2; the 8 bytes stored are `dst[..2]`, checked above,
        // unaligned. The packs saturate, which changes nothing for lanes in 0..=255.
        unsafe {
            let ints = _mm256_cvttps_epi32(self.0);
            let (lo, hi) = (
                _mm256_castsi256_si128(ints),
                _mm256_extracti128_si256::<1>(ints),
            );
            let words = _mm_packus_epi32(lo, hi);
            let bytes = _mm_packus_epi16(words, words);
            _mm_storel_epi64(dst.as_mut_ptr().cast(), bytes)
        }
    }

    #[inline(always)]
    unsafe fn widen_bf16_pairs(self) -> (Self, Self) {
        // SAFETY: the caller guarantees AVX2; the casts reinterpret bits.
        unsafe {
            let bits = _mm256_castps_si256(self.0);
            let lo = _mm256_slli_epi32::<16>(bits);
            let hi = _mm256_and_si256(bits, _mm256_set1_epi32(-65_536));
            (
                F32x8(_mm256_castsi256_ps(lo)),
                F32x8(_mm256_castsi256_ps(hi)),
            )
        }
    }

    #[inline(always)]
    unsafe fn sub_int_product(self, a: Self, b: Self) -> Self {
        // SAFETY: the caller guarantees AVX2; the casts reinterpret bits.
        unsafe {
            let product = _mm256_mullo_epi32(_mm256_castps_si256(a.0), _mm256_castps_si256(b.0));
            let difference = _mm256_sub_epi32(_mm256_castps_si256(self.0), product);
            F32x8(_mm256_castsi256_ps(difference))
        }
    }

    #[inline(always)]
    unsafe fn int_to_float(self) -> Self {
        // SAFETY: the caller guarantees AVX2; the cast reinterprets bits.
        unsafe { F32x8(_mm256_cvtepi32_ps(_mm256_castps_si256(self.0))) }
    }
}
