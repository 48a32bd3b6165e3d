//! [`Vector`] for AVX-512 F: 16 lanes in a `__m512`.
//!
//! Only AVX-512 F instructions are used (the bitwise operations go through the integer forms, as
//! the float ones need AVX-512 DQ), so any AVX-512 CPU runs it.

use super::Vector;
use std::arch::x86_64::*;

/// Sixteen `f32` lanes (AVX-512 F).
#[derive(Clone, Copy)]
pub(crate) struct F32x16(__m512);

/// Bits `0..len` set: the lanes a masked load or store touches.
#[inline(always)]
fn first_lanes(len: usize) -> __mmask16 {
    debug_assert!(len <= 16);
    ((1u32 << len) - 1) as __mmask16
}

/// Only the sign bit of every lane, as integers.
///
/// # Safety
/// The CPU must have AVX-512 F.
#[inline(always)]
unsafe fn sign_bits() -> __m512i {
    // SAFETY: the caller guarantees AVX-512 F.
    unsafe { _mm512_set1_epi32(i32::MIN) }
}

impl F32x16 {
    /// `self` plus the dot products of pairs of bf16 (`vdpbf16ps`): each 32-bit lane of `x` and `w`
    /// holds two bf16 (the even element in the low half), and lane `i` of the result is `self[i] +
    /// x.odd·w.odd + x.even·w.even`, added in that order, each addition rounded to f32 (the
    /// products of two bf16 are exact in f32), denormals read and written as zero.
    ///
    /// # Safety
    /// The CPU must have AVX-512 F and AVX-512 BF16.
    #[inline(always)]
    pub(crate) unsafe fn dot_bf16_pairs(self, x: F32x16, w: F32x16) -> F32x16 {
        // SAFETY: the caller guarantees AVX-512 F and BF16. `__m512bh` is 512 bits like `__m512`:
        // the transmutes reinterpret the lanes' bits, which is what they hold.
        unsafe {
            let (x, w) = (
                std::mem::transmute::<__m512, __m512bh>(x.0),
                std::mem::transmute::<__m512, __m512bh>(w.0),
            );
            F32x16(_mm512_dpbf16_ps(self.0, x, w))
        }
    }

    /// The 32 values of `lo` then `hi`, each rounded to bf16 (`vcvtne2ps2bf16`: to nearest, ties
    /// to even, denormals to zero), as 16 pairs: lane `i` holds value `2i` in its low half and
    /// `2i + 1` in its high one.
    ///
    /// # Safety
    /// The CPU must have AVX-512 F and AVX-512 BF16.
    #[inline(always)]
    pub(crate) unsafe fn bf16_pairs(lo: F32x16, hi: F32x16) -> F32x16 {
        // SAFETY: the caller guarantees AVX-512 F and BF16; the transmute reinterprets 512 bits.
        unsafe {
            let pairs = _mm512_cvtne2ps_pbh(hi.0, lo.0);
            F32x16(std::mem::transmute::<__m512bh, __m512>(pairs))
        }
    }

    /// `a` and `b` interleaved: `a0 b0 a1 b1 … a7 b7` and `a8 b8 … a15 b15`.
    ///
    /// # Safety
    /// The CPU must have AVX-512 F.
    #[inline(always)]
    pub(crate) unsafe fn interleave(a: F32x16, b: F32x16) -> (F32x16, F32x16) {
        // SAFETY: the caller guarantees AVX-512 F. Index `i` picks lane `i mod 16` of `a` below
        // 16 and of `b` from 16.
        unsafe {
            let lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
            let hi =
                _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
            (
                F32x16(_mm512_permutex2var_ps(a.0, lo, b.0)),
                F32x16(_mm512_permutex2var_ps(a.0, hi, b.0)),
            )
        }
    }
}

impl F32x16 {
    /// `self` plus the dot products of quads of bytes (`vpdpbusd`): each 32-bit lane of `x` holds
    /// four unsigned bytes and of `w` four signed ones, and lane `i` of the result is `self[i] +
    /// Σ x·w` in `i32` arithmetic (wrapping; the int8 layer's bounds keep it exact). The lanes
    /// of `self` and the result hold `i32`s in an f32's bits.
    ///
    /// # Safety
    /// The CPU must have AVX-512 F and AVX-512 VNNI.
    #[inline(always)]
    pub(crate) unsafe fn dot_u8_i8_quads(self, x: F32x16, w: F32x16) -> F32x16 {
        // SAFETY: the caller guarantees AVX-512 F and VNNI; the casts reinterpret bits.
        unsafe {
            let sum = _mm512_dpbusd_epi32(
                _mm512_castps_si512(self.0),
                _mm512_castps_si512(x.0),
                _mm512_castps_si512(w.0),
            );
            F32x16(_mm512_castsi512_ps(sum))
        }
    }
}

impl Vector for F32x16 {
    const LANES: usize = 16;

    #[inline(always)]
    unsafe fn splat(x: f32) -> Self {
        // SAFETY: the caller guarantees AVX-512 F (`Vector`'s # Safety).
        unsafe { F32x16(_mm512_set1_ps(x)) }
    }

    #[inline(always)]
    unsafe fn load(src: &[f32]) -> Self {
        debug_assert!(src.len() >= 16);
        // SAFETY: AVX-512 F, and 16 elements in `src`: the caller guarantees both.
        unsafe { F32x16(_mm512_loadu_ps(src.as_ptr())) }
    }

    #[inline(always)]
    unsafe fn store(self, dst: &mut [f32]) {
        debug_assert!(dst.len() >= 16);
        // SAFETY: AVX-512 F, and 16 elements in `dst`: the caller guarantees both.
        unsafe { _mm512_storeu_ps(dst.as_mut_ptr(), self.0) }
    }

    #[inline(always)]
    unsafe fn load_bytes(src: &[i8]) -> Self {
        // SAFETY: the caller guarantees AVX-512 F and `src.len() ≥ 64`; `loadu` reads 64 bytes at
        // any alignment.
        unsafe { F32x16(_mm512_castsi512_ps(_mm512_loadu_si512(src.as_ptr().cast()))) }
    }

    #[inline(always)]
    unsafe fn load_partial(src: &[f32], pad: f32) -> Self {
        // Masked-off lanes are neither read nor able to fault; they keep `pad`.
        // SAFETY: AVX-512 F, and 16 elements in `src`: the caller guarantees both.
        unsafe {
            F32x16(_mm512_mask_loadu_ps(
                _mm512_set1_ps(pad),
                first_lanes(src.len()),
                src.as_ptr(),
            ))
        }
    }

    #[inline(always)]
    unsafe fn store_partial(self, dst: &mut [f32]) {
        // SAFETY: the caller guarantees AVX-512 F and `dst.len() < 16`; the mask writes lanes
        // `0..dst.len()`, all inside `dst`.
        unsafe { _mm512_mask_storeu_ps(dst.as_mut_ptr(), first_lanes(dst.len()), self.0) }
    }

    #[inline(always)]
    unsafe fn add(self, rhs: Self) -> Self {
        // SAFETY: the caller guarantees AVX-512 F (`Vector`'s # Safety).
        unsafe { F32x16(_mm512_add_ps(self.0, rhs.0)) }
    }

    #[inline(always)]
    unsafe fn sub(self, rhs: Self) -> Self {
        // SAFETY: the caller guarantees AVX-512 F (`Vector`'s # Safety).
        unsafe { F32x16(_mm512_sub_ps(self.0, rhs.0)) }
    }

    #[inline(always)]
    unsafe fn mul(self, rhs: Self) -> Self {
        // SAFETY: the caller guarantees AVX-512 F (`Vector`'s # Safety).
        unsafe { F32x16(_mm512_mul_ps(self.0, rhs.0)) }
    }

    #[inline(always)]
    unsafe fn div(self, rhs: Self) -> Self {
        // SAFETY: the caller guarantees AVX-512 F (`Vector`'s # Safety).
        unsafe { F32x16(_mm512_div_ps(self.0, rhs.0)) }
    }

    #[inline(always)]
    unsafe fn mul_add(self, b: Self, c: Self) -> Self {
        // SAFETY: the caller guarantees AVX-512 F (`Vector`'s # Safety).
        unsafe { F32x16(_mm512_fmadd_ps(self.0, b.0, c.0)) }
    }

    #[inline(always)]
    unsafe fn neg_mul_add(self, b: Self, c: Self) -> Self {
        // SAFETY: the caller guarantees AVX-512 F (`Vector`'s # Safety).
        unsafe { F32x16(_mm512_fnmadd_ps(self.0, b.0, c.0)) }
    }

    #[inline(always)]
    unsafe fn max(self, rhs: Self) -> Self {
        // SAFETY: the caller guarantees AVX-512 F (`Vector`'s # Safety).
        unsafe { F32x16(_mm512_max_ps(self.0, rhs.0)) }
    }

    #[inline(always)]
    unsafe fn min(self, rhs: Self) -> Self {
        // SAFETY: the caller guarantees AVX-512 F (`Vector`'s # Safety).
        unsafe { F32x16(_mm512_min_ps(self.0, rhs.0)) }
    }

    #[inline(always)]
    unsafe fn abs(self) -> Self {
        // SAFETY: the caller guarantees AVX-512 F (`Vector`'s # Safety).
        unsafe {
            let bits = _mm512_andnot_si512(sign_bits(), _mm512_castps_si512(self.0));
            F32x16(_mm512_castsi512_ps(bits))
        }
    }

    #[inline(always)]
    unsafe fn copysign(self, sign: Self) -> Self {
        // SAFETY: the caller guarantees AVX-512 F (`Vector`'s # Safety).
        unsafe {
            let magnitude = _mm512_andnot_si512(sign_bits(), _mm512_castps_si512(self.0));
            let sign = _mm512_and_si512(sign_bits(), _mm512_castps_si512(sign.0));
            F32x16(_mm512_castsi512_ps(_mm512_or_si512(magnitude, sign)))
        }
    }

    #[inline(always)]
    unsafe fn round(self) -> Self {
        // SAFETY: the caller guarantees AVX-512 F (`Vector`'s # Safety).
        unsafe {
            F32x16(_mm512_roundscale_ps::<
                { _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC },
            >(self.0))
        }
    }

    #[inline(always)]
    unsafe fn pow2i(self) -> Self {
        // The biased exponent n + 127 (0 for n = -127, which reads as +0.0), moved into place.
        // SAFETY: the caller guarantees AVX-512 F (`Vector`'s # Safety).
        unsafe {
            let biased = _mm512_add_epi32(_mm512_cvtps_epi32(self.0), _mm512_set1_epi32(127));
            F32x16(_mm512_castsi512_ps(_mm512_slli_epi32::<23>(biased)))
        }
    }

    #[inline(always)]
    unsafe fn reduce_add(self) -> f32 {
        // SAFETY: the caller guarantees AVX-512 F (`Vector`'s # Safety).
        unsafe { _mm512_reduce_add_ps(self.0) }
    }

    #[inline(always)]
    unsafe fn reduce_max(self) -> f32 {
        // SAFETY: the caller guarantees AVX-512 F (`Vector`'s # Safety).
        unsafe { _mm512_reduce_max_ps(self.0) }
    }

    #[inline(always)]
    unsafe fn store_bytes(self, dst: &mut [f32]) {
        assert!(dst.len() >= 4);
        // SAFETY: the caller guarantees AVX-512 F (`vcvttps2dq`, `vpmovdb`); the 16 bytes stored are
        // `dst[..4]`, checked above, unaligned.
        unsafe {
            let bytes = _mm512_cvtepi32_epi8(_mm512_cvttps_epi32(self.0));
            _mm_storeu_si128(dst.as_mut_ptr().cast(), bytes)
        }
    }

    #[inline(always)]
    unsafe fn widen_bf16_pairs(self) -> (Self, Self) {
        // SAFETY: the caller guarantees AVX-512 F; the casts reinterpret bits.
        unsafe {
            let bits = _mm512_castps_si512(self.0);
            let lo = _mm512_slli_epi32::<16>(bits);
            let hi = _mm512_and_si512(bits, _mm512_set1_epi32(-65_536));
            (
                F32x16(_mm512_castsi512_ps(lo)),
                F32x16(_mm512_castsi512_ps(hi)),
            )
        }
    }

    #[inline(always)]
    unsafe fn sub_int_product(self, a: Self, b: Self) -> Self {
        // SAFETY: the caller guarantees AVX-512 F; the casts reinterpret bits.
        unsafe {
            let product = _mm512_mullo_epi32(_mm512_castps_si512(a.0), _mm512_castps_si512(b.0));
            let difference = _mm512_sub_epi32(_mm512_castps_si512(self.0), product);
            F32x16(_mm512_castsi512_ps(difference))
        }
    }

    #[inline(always)]
    unsafe fn int_to_float(self) -> Self {
        // SAFETY: the caller guarantees AVX-512 F; the cast reinterprets bits.
        unsafe { F32x16(_mm512_cvtepi32_ps(_mm512_castps_si512(self.0))) }
    }
}
