//! A test double: 16 lanes made of two AVX2 vectors.
//!
//! On a CPU without AVX-512 the 16-lane instantiation of each generic body cannot run. This type
//! can: it has the AVX-512 vector's width (so the bodies take the same blocks and partial vectors
//! as with [`super::F32x16`]) and runs on AVX2, so the unit tests check every generic body at 16
//! lanes on any CPU with AVX2. What it cannot check are the AVX-512 intrinsics themselves, which
//! are one-liners (the tests in `tests/kernels.rs` run them where the CPU has them).
//!
//! Every method is a call of [`F32x8`]'s on each half, and is sound for the same reason: the
//! caller guarantees AVX2 and FMA (`Vector`'s # Safety), which is all `F32x8` needs.

use super::{F32x8, Vector};

/// Lanes 0..8 in the first vector, 8..16 in the second.
#[derive(Clone, Copy)]
pub(crate) struct F32x8x2(F32x8, F32x8);

impl F32x8x2 {
    /// Applies `f` to both halves.
    #[inline(always)]
    fn each(self, f: impl Fn(F32x8) -> F32x8) -> Self {
        F32x8x2(f(self.0), f(self.1))
    }

    /// Applies `f` to both halves of `self` and `rhs`, lane by lane.
    #[inline(always)]
    fn zip(self, rhs: Self, f: impl Fn(F32x8, F32x8) -> F32x8) -> Self {
        F32x8x2(f(self.0, rhs.0), f(self.1, rhs.1))
    }
}

impl F32x8x2 {
    /// [`F32x8::dot_u8_i8_quads`] on each half: `vpdpbusd` at 16 lanes, on AVX2.
    ///
    /// # Safety
    /// The CPU must have AVX2.
    pub(crate) unsafe fn dot_u8_i8_quads(self, x: Self, w: Self) -> Self {
        // SAFETY: AVX2, from the caller.
        unsafe {
            F32x8x2(
                self.0.dot_u8_i8_quads(x.0, w.0),
                self.1.dot_u8_i8_quads(x.1, w.1),
            )
        }
    }
}

impl Vector for F32x8x2 {
    const LANES: usize = 16;

    unsafe fn splat(x: f32) -> Self {
        // SAFETY: AVX2 and FMA, from the caller (see the module doc).
        unsafe { F32x8x2(F32x8::splat(x), F32x8::splat(x)) }
    }

    unsafe fn load(src: &[f32]) -> Self {
        // SAFETY: as `splat`; each half is 8 elements of `src` (slicing checks it).
        unsafe { F32x8x2(F32x8::load(&src[..8]), F32x8::load(&src[8..16])) }
    }

    unsafe fn store(self, dst: &mut [f32]) {
        // SAFETY: as `splat`; each half is 8 elements of `dst` (slicing checks it).
        unsafe {
            self.0.store(&mut dst[..8]);
            self.1.store(&mut dst[8..16]);
        }
    }

    unsafe fn load_bytes(src: &[i8]) -> Self {
        // SAFETY: as `splat`; each half is 32 bytes of `src` (slicing checks it).
        unsafe {
            F32x8x2(
                F32x8::load_bytes(&src[..32]),
                F32x8::load_bytes(&src[32..64]),
            )
        }
    }

    unsafe fn load_partial(src: &[f32], pad: f32) -> Self {
        assert!(src.len() < 16);
        // SAFETY: as `splat`; a whole load takes 8 elements of `src` (`src.len() ≥ 8` there), a
        // partial one fewer than 8.
        unsafe {
            if src.len() < 8 {
                F32x8x2(F32x8::load_partial(src, pad), F32x8::splat(pad))
            } else {
                F32x8x2(F32x8::load(src), F32x8::load_partial(&src[8..], pad))
            }
        }
    }

    unsafe fn store_partial(self, dst: &mut [f32]) {
        assert!(dst.len() < 16);
        // SAFETY: as `load_partial`, for `dst`.
        unsafe {
            if dst.len() < 8 {
                self.0.store_partial(dst);
            } else {
                self.0.store(dst);
                self.1.store_partial(&mut dst[8..]);
            }
        }
    }

    unsafe fn add(self, rhs: Self) -> Self {
        // SAFETY: as `splat`.
        self.zip(rhs, |a, b| unsafe { a.add(b) })
    }

    unsafe fn sub(self, rhs: Self) -> Self {
        // SAFETY: as `splat`.
        self.zip(rhs, |a, b| unsafe { a.sub(b) })
    }

    unsafe fn mul(self, rhs: Self) -> Self {
        // SAFETY: as `splat`.
        self.zip(rhs, |a, b| unsafe { a.mul(b) })
    }

    unsafe fn div(self, rhs: Self) -> Self {
        // SAFETY: as `splat`.
        self.zip(rhs, |a, b| unsafe { a.div(b) })
    }

    unsafe fn mul_add(self, b: Self, c: Self) -> Self {
        // SAFETY: as `splat`.
        unsafe { F32x8x2(self.0.mul_add(b.0, c.0), self.1.mul_add(b.1, c.1)) }
    }

    unsafe fn neg_mul_add(self, b: Self, c: Self) -> Self {
        // SAFETY: as `splat`.
        unsafe { F32x8x2(self.0.neg_mul_add(b.0, c.0), self.1.neg_mul_add(b.1, c.1)) }
    }

    unsafe fn max(self, rhs: Self) -> Self {
        // SAFETY: as `splat`.
        self.zip(rhs, |a, b| unsafe { a.max(b) })
    }

    unsafe fn min(self, rhs: Self) -> Self {
        // SAFETY: as `splat`.
        self.zip(rhs, |a, b| unsafe { a.min(b) })
    }

    unsafe fn abs(self) -> Self {
        // SAFETY: as `splat`.
        self.each(|a| unsafe { a.abs() })
    }

    unsafe fn copysign(self, sign: Self) -> Self {
        // SAFETY: as `splat`.
        self.zip(sign, |a, s| unsafe { a.copysign(s) })
    }

    unsafe fn round(self) -> Self {
        // SAFETY: as `splat`.
        self.each(|a| unsafe { a.round() })
    }

    unsafe fn pow2i(self) -> Self {
        // SAFETY: as `splat`.
        self.each(|a| unsafe { a.pow2i() })
    }

    unsafe fn reduce_add(self) -> f32 {
        // SAFETY: as `splat`.
        unsafe { self.0.add(self.1).reduce_add() }
    }

    unsafe fn reduce_max(self) -> f32 {
        // SAFETY: as `splat`.
        unsafe { self.0.max(self.1).reduce_max() }
    }

    unsafe fn store_bytes(self, dst: &mut [f32]) {
        // SAFETY: as `store`; each half is 8 lanes, 2 words of `dst` (slicing checks it).
        unsafe {
            self.0.store_bytes(&mut dst[..2]);
            self.1.store_bytes(&mut dst[2..4]);
        }
    }

    unsafe fn widen_bf16_pairs(self) -> (Self, Self) {
        // SAFETY: as `store`.
        unsafe {
            let ((lo0, hi0), (lo1, hi1)) = (self.0.widen_bf16_pairs(), self.1.widen_bf16_pairs());
            (F32x8x2(lo0, lo1), F32x8x2(hi0, hi1))
        }
    }

    unsafe fn sub_int_product(self, a: Self, b: Self) -> Self {
        // SAFETY: as `store`.
        unsafe {
            F32x8x2(
                self.0.sub_int_product(a.0, b.0),
                self.1.sub_int_product(a.1, b.1),
            )
        }
    }

    unsafe fn int_to_float(self) -> Self {
        // SAFETY: as `store`.
        self.each(|v| unsafe { v.int_to_float() })
    }
}
