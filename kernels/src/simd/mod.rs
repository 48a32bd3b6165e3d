//! SIMD vectors of `f32` behind one small trait, so that each kernel has one generic body serving
//! both AVX2 (8 lanes, [`F32x8`]) and AVX-512 (16 lanes, [`F32x16`]), the way `matrixmultiply`
//! shares one micro-kernel body between its instruction sets.
//!
//! A kernel's generic body is an `#[inline(always)] unsafe fn body<V: Vector>(…)`; its entry points
//! are one `#[target_feature]` function per instruction set that calls `body::<F32x8>` or
//! `body::<F32x16>`. Everything inlines into the entry point, so the intrinsics compile to straight
//! vector code with that entry point's features.
//!
//! This module also holds the vector `exp` that softmax and GELU share, and `prefetch`.

mod avx2;
mod avx512;
#[cfg(test)]
mod pair;

pub(crate) use avx2::F32x8;
pub(crate) use avx512::F32x16;
#[cfg(test)]
pub(crate) use pair::F32x8x2;

/// Asks for the cache line holding `at` into L1. A hint: it never faults, whatever `at` is, so `at`
/// may lie past the end of a row.
#[inline(always)]
pub(crate) fn prefetch(at: *const u8) {
    // SAFETY: `prefetcht0` is SSE, which every x86-64 CPU has, and reads nothing the program can
    // observe: it cannot fault, even on an address outside any allocation.
    unsafe { std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(at.cast()) }
}

/// Asks for the cache line holding `at` into L2 (and not L1): [`prefetch`]'s hint, for a line
/// needed some thousands of cycles later.
#[inline(always)]
pub(crate) fn prefetch_l2(at: *const u8) {
    // SAFETY: as `prefetch`'s: `prefetcht1` is SSE and cannot fault.
    unsafe { std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T1 }>(at.cast()) }
}

/// A vector of `LANES` f32 lanes and the few operations the kernels need.
///
/// # Safety
/// Every method executes instructions of the vector's instruction set: call them only where the CPU
/// is known to have it (from a `#[target_feature]` function of that set, reached after
/// [`Isa::is_supported`](crate::Isa::is_supported)). `load` and `store` also need `LANES` elements.
pub(crate) trait Vector: Copy {
    /// How many `f32` the vector holds.
    const LANES: usize;

    /// Every lane `x`.
    unsafe fn splat(x: f32) -> Self;
    /// Reads `src[..LANES]`; `src` must hold at least `LANES` elements.
    unsafe fn load(src: &[f32]) -> Self;
    /// Writes `dst[..LANES]`; `dst` must hold at least `LANES` elements.
    unsafe fn store(self, dst: &mut [f32]);
    /// Reads `src[..4·LANES]`, four bytes to a lane (the lane's bits, the first byte lowest), from
    /// any address; `src` must hold at least `4·LANES` bytes.
    unsafe fn load_bytes(src: &[i8]) -> Self;
    /// Reads all of `src` (shorter than `LANES`) into the first lanes, and `pad` into the rest.
    /// Touches no memory past `src`.
    unsafe fn load_partial(src: &[f32], pad: f32) -> Self;
    /// Writes the first `dst.len()` lanes (fewer than `LANES`) to `dst`, and nothing past it.
    unsafe fn store_partial(self, dst: &mut [f32]);

    unsafe fn add(self, rhs: Self) -> Self;
    unsafe fn sub(self, rhs: Self) -> Self;
    unsafe fn mul(self, rhs: Self) -> Self;
    unsafe fn div(self, rhs: Self) -> Self;
    /// `self·b + c`, rounded once (FMA).
    unsafe fn mul_add(self, b: Self, c: Self) -> Self;
    /// `c - self·b`, rounded once (FMA).
    unsafe fn neg_mul_add(self, b: Self, c: Self) -> Self;
    /// Lane-wise maximum; where either lane is NaN, the lane of `rhs` (as `vmaxps` does).
    unsafe fn max(self, rhs: Self) -> Self;
    /// Lane-wise minimum; where either lane is NaN, the lane of `rhs` (as `vminps` does).
    unsafe fn min(self, rhs: Self) -> Self;
    /// `|self|`, by clearing the sign bit.
    unsafe fn abs(self) -> Self;
    /// The magnitude of `self` with the sign bit of `sign`, like [`f32::copysign`].
    unsafe fn copysign(self, sign: Self) -> Self;
    /// Rounds to the nearest integer, ties to even.
    unsafe fn round(self) -> Self;
    /// `2ⁿ` for lanes holding an integral `n` in `-127..=127`, built from the exponent bits:
    /// `n = -127` gives exactly `0.0`. A NaN lane gives a finite value (the caller's NaN survives
    /// through the product it is used in).
    unsafe fn pow2i(self) -> Self;
    /// The sum of the lanes (in a tree order, not left to right).
    unsafe fn reduce_add(self) -> f32;
    /// The largest lane.
    unsafe fn reduce_max(self) -> f32;
    /// Writes each lane, an integer in `0..=255`, as one byte: lane `4w + b` into byte `b`
    /// (little-endian) of `dst[w]`, for `w < LANES / 4`. The int8 layer's input is bytes laid four
    /// to an f32-sized word.
    unsafe fn store_bytes(self, dst: &mut [f32]);
    /// Each lane read as two bf16 (its low and its high 16 bits), widened to f32: the lanes' low
    /// halves, then their high ones. Exact: a bf16 is the high half of an f32.
    unsafe fn widen_bf16_pairs(self) -> (Self, Self);
    /// `self - a·b`, each lane of the three holding an `i32` in an f32's bits, in wrapping `i32`
    /// arithmetic (as `i32::wrapping_sub` of `wrapping_mul`).
    unsafe fn sub_int_product(self, a: Self, b: Self) -> Self;
    /// Each lane's `i32` (in an f32's bits) as the nearest f32, ties to even (as `i32 as f32`).
    unsafe fn int_to_float(self) -> Self;
}

/// The inputs `exp` clamps to: `round(x·log₂e)` then stays in `-127..=127`, and `2⁻¹²⁷` is built as 0.
const EXP_CLAMP: f32 = 88.3;
/// `ln 2` in two parts: `LN2_HI` is `ln 2` rounded to f32, `LN2_LO` the rest.
const LN2_HI: f32 = std::f32::consts::LN_2;
const LN2_LO: f32 = -1.904_654_2e-9;
/// `e^r ≈ 1 + r + C[0]·r² + C[1]·r³ + … + C[4]·r⁶` on `|r| ≤ ln2/2`, with a relative error below
/// 3.1e-9 (fitted for this crate by weighted least squares toward minimax; Taylor's `1/k!` of the
/// same degree would be 20 times worse at the ends of the interval).
const EXP_POLY: [f32; 5] = [
    0.499_999_94,
    0.166_665_21,
    0.041_668_39,
    0.008_368_71,
    0.001_381_461_2,
];

/// `eˣ`, lane-wise.
///
/// Within 1 ulp of the true value for `x` in `[-87.3, 88.3]` (0.88 ulp at worst in a sweep every
/// 1e-5; `std`'s `exp` is within 0.5). Below that the true value is
/// subnormal: it comes out as a subnormal down to about `-87.6`, and as exactly 0 below (so
/// `exp(-inf) = 0`). Above 88.3 the result saturates at `e^88.3` (the kernels pass only `x ≤ 0`).
/// NaN gives NaN.
///
/// The method: `x = n·ln2 + r` with `n = round(x·log₂e)` and `|r| ≤ ln2/2`; then
/// `eˣ = 2ⁿ · e^r`, with `e^r` from a degree-6 polynomial. `n·LN2_HI` is subtracted in one FMA
/// (exact here: the difference fits in 24 bits), then `n·LN2_LO`.
///
/// # Safety
/// As for every [`Vector`] method: the CPU must have `V`'s instruction set.
#[inline(always)]
pub(crate) unsafe fn exp<V: Vector>(x: V) -> V {
    // SAFETY: the caller guarantees `V`'s instruction set (this fn's # Safety); the arithmetic
    // touches no memory.
    unsafe {
        // `x` is the second operand of min and max, so a NaN lane passes through.
        let x = V::splat(EXP_CLAMP).min(V::splat(-EXP_CLAMP).max(x));
        let n = x.mul(V::splat(std::f32::consts::LOG2_E)).round();
        let r = n.neg_mul_add(V::splat(LN2_HI), x);
        let r = n.neg_mul_add(V::splat(LN2_LO), r);
        let mut p = V::splat(EXP_POLY[4]);
        for &c in EXP_POLY[..4].iter().rev() {
            p = p.mul_add(r, V::splat(c));
        }
        let p = p.mul_add(r, V::splat(1.0));
        let p = p.mul_add(r, V::splat(1.0));
        p.mul(n.pow2i())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::supported_or_skip;
    use crate::Isa;

    /// Distance between an f32 and an f64 reference, in units in the last place of the f32 nearest
    /// the reference (normal numbers only).
    fn ulps(got: f32, want: f64) -> f64 {
        let magnitude = want.abs().max(f64::from(f32::MIN_POSITIVE));
        let ulp = f64::from(f32::EPSILON) * 2f64.powi(magnitude.log2().floor() as i32);
        (f64::from(got) - want).abs() / ulp
    }

    #[test]
    fn avx2_exp_within_1_ulp_of_f64() {
        if !supported_or_skip(Isa::Avx2) {
            return;
        }
        // Every 1/1000 from -87.3 to 88.3 (a sweep every 1e-5 found 0.88 ulp at worst), plus points
        // at the edges of the reduction's interval.
        let mut xs: Vec<f32> = (-87_300..=88_300).map(|i| i as f32 / 1000.0).collect();
        xs.extend([
            0.0,
            -0.0,
            1e-30,
            -1e-30,
            0.346_573_6,
            -0.346_573_6,
            1.0,
            -1.0,
        ]);
        let mut worst = 0.0f64;
        for x in xs {
            // SAFETY: AVX2 and FMA were checked above.
            let got = unsafe { avx2_exp_lane0(x) };
            worst = worst.max(ulps(got, f64::from(x).exp()));
        }
        assert!(worst <= 1.0, "worst error {worst} ulp");
    }

    #[test]
    fn avx2_exp_edges() {
        if !supported_or_skip(Isa::Avx2) {
            return;
        }
        // SAFETY: AVX2 and FMA were checked above.
        unsafe {
            assert_eq!(avx2_exp_lane0(0.0), 1.0);
            assert_eq!(avx2_exp_lane0(f32::NEG_INFINITY), 0.0);
            assert_eq!(avx2_exp_lane0(-100.0), 0.0);
            assert_eq!(avx2_exp_lane0(-1e30), 0.0);
            assert!(avx2_exp_lane0(f32::NAN).is_nan());
            // e^-87 ≈ 1.65e-38 is still normal; e^-87.5 ≈ 1.0e-38 is subnormal and kept.
            assert!(ulps(avx2_exp_lane0(-87.0), (-87.0f64).exp()) <= 1.0);
            assert!((avx2_exp_lane0(-87.5) as f64 - (-87.5f64).exp()).abs() < 1e-44);
        }
    }

    #[test]
    fn avx2_transpose_swaps_rows_and_columns() {
        if !supported_or_skip(Isa::Avx2) {
            return;
        }
        let matrix: Vec<f32> = (0..64).map(|i| i as f32).collect();
        let mut got = [0.0f32; 64];
        // SAFETY: AVX2 was checked above; every load and store takes 8 lanes of a row of 8.
        unsafe { avx2_transpose(&matrix, &mut got) };
        for (r, row) in got.chunks_exact(8).enumerate() {
            for (c, &v) in row.iter().enumerate() {
                assert_eq!(v, matrix[c * 8 + r], "row {r}, column {c}");
            }
        }
    }

    /// `F32x8::transpose` of the 8×8 row-major `matrix` into `out`.
    ///
    /// # Safety
    /// The CPU must have AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn avx2_transpose(matrix: &[f32], out: &mut [f32]) {
        // SAFETY: this fn's # Safety guarantees AVX2; both slices hold 8 rows of 8.
        unsafe {
            let rows = std::array::from_fn(|r| F32x8::load(&matrix[r * 8..]));
            for (r, v) in F32x8::transpose(rows).into_iter().enumerate() {
                v.store(&mut out[r * 8..]);
            }
        }
    }

    /// `exp(x)` in lane 0 of an AVX2 vector.
    ///
    /// # Safety
    /// The CPU must have AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn avx2_exp_lane0(x: f32) -> f32 {
        let mut out = [0.0; 8];
        // SAFETY: this fn's # Safety guarantees AVX2 and FMA; `out` holds the 8 lanes stored.
        unsafe { exp(F32x8::splat(x)).store(&mut out) };
        out[0]
    }
}
