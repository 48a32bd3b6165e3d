//! A test double: 16 lanes made of two AVX2 vectors.
//!
//! No AVX-512 CPU is at hand where the project is built and tested, so the 16-lane instantiation
//! of each generic body cannot run there. This type can: it has the AVX-512 vector's width (so
//! the bodies take the same blocks and partial vectors as with [`super::F32x16`]) and runs on
//! AVX2. What it cannot check are the AVX-512 intrinsics themselves, which are one-liners.

use super::{F32x8, Vector};

/// Lanes 0..8 in the first vector, 8..16 in the second.
#[derive(Clone, Copy)]
pub(crate) struct F32x8x2(F32x8, F32x8);

impl F32x8x2 {
    /// Applies `f` to both halves.
    #[inline(always)]
    unsafe fn each(self, f: impl Fn(F32x8) -> F32x8) -> Self {
        F32x8x2(f(self.0), f(self.1))
    }

    /// Applies `f` to both halves of `self` and `rhs`, lane by lane.
    #[inline(always)]
    unsafe fn zip(self, rhs: Self, f: impl Fn(F32x8, F32x8) -> F32x8) -> Self {
        F32x8x2(f(self.0, rhs.0), f(self.1, rhs.1))
    }
}

impl Vector for F32x8x2 {
    const LANES: usize = 16;

    unsafe fn splat(x: f32) -> Self {
        F32x8x2(F32x8::splat(x), F32x8::splat(x))
    }

    unsafe fn load(src: &[f32]) -> Self {
        F32x8x2(F32x8::load(&src[..8]), F32x8::load(&src[8..16]))
    }

    unsafe fn store(self, dst: &mut [f32]) {
        self.0.store(&mut dst[..8]);
        self.1.store(&mut dst[8..16]);
    }

    unsafe fn load_partial(src: &[f32], pad: f32) -> Self {
        assert!(src.len() < 16);
        if src.len() < 8 {
            F32x8x2(F32x8::load_partial(src, pad), F32x8::splat(pad))
        } else {
            F32x8x2(F32x8::load(src), F32x8::load_partial(&src[8..], pad))
        }
    }

    unsafe fn store_partial(self, dst: &mut [f32]) {
        assert!(dst.len() < 16);
        if dst.len() < 8 {
            self.0.store_partial(dst);
        } else {
            self.0.store(dst);
            self.1.store_partial(&mut dst[8..]);
        }
    }

    unsafe fn add(self, rhs: Self) -> Self {
        self.zip(rhs, |a, b| a.add(b))
    }

    unsafe fn sub(self, rhs: Self) -> Self {
        self.zip(rhs, |a, b| a.sub(b))
    }

    unsafe fn mul(self, rhs: Self) -> Self {
        self.zip(rhs, |a, b| a.mul(b))
    }

    unsafe fn div(self, rhs: Self) -> Self {
        self.zip(rhs, |a, b| a.div(b))
    }

    unsafe fn mul_add(self, b: Self, c: Self) -> Self {
        F32x8x2(self.0.mul_add(b.0, c.0), self.1.mul_add(b.1, c.1))
    }

    unsafe fn neg_mul_add(self, b: Self, c: Self) -> Self {
        F32x8x2(self.0.neg_mul_add(b.0, c.0), self.1.neg_mul_add(b.1, c.1))
    }

    unsafe fn max(self, rhs: Self) -> Self {
        self.zip(rhs, |a, b| a.max(b))
    }

    unsafe fn min(self, rhs: Self) -> Self {
        self.zip(rhs, |a, b| a.min(b))
    }

    unsafe fn abs(self) -> Self {
        self.each(|a| a.abs())
    }

    unsafe fn copysign(self, sign: Self) -> Self {
        self.zip(sign, |a, s| a.copysign(s))
    }

    unsafe fn round(self) -> Self {
        self.each(|a| a.round())
    }

    unsafe fn pow2i(self) -> Self {
        self.each(|a| a.pow2i())
    }

    unsafe fn reduce_add(self) -> f32 {
        self.0.add(self.1).reduce_add()
    }

    unsafe fn reduce_max(self) -> f32 {
        self.0.max(self.1).reduce_max()
    }
}
