//! Layer normalisation rows on SIMD vectors: one generic body, instantiated for AVX2 and AVX-512.
//!
//! The same two-pass statistics as `scalar.rs`: the mean, then the mean squared deviation from it.
//! Each sum runs in four vector accumulators, so consecutive adds do not wait on each other (and
//! the result is, if anything, more accurate than the scalar left-to-right sum). The fused
//! `add_layernorm` adds the residual during the first pass.

use crate::simd::{F32x16, F32x8, Vector};

/// `x ← LayerNorm(x)` for every row of `x` (rows `gamma.len()` long), with AVX2 and FMA.
///
/// # Safety
/// The CPU must have AVX2 and FMA. `gamma` and `beta` must be of equal length.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn layernorm_rows_avx2(x: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
    for row in x.chunks_exact_mut(gamma.len()) {
        // SAFETY: this fn's # Safety guarantees AVX2 and FMA, `F32x8`'s instruction set, and
        // `gamma` as long as `beta` (and the row).
        unsafe { layernorm::<F32x8>(row, gamma, beta, eps) };
    }
}

/// `x ← LayerNorm(x)` for every row of `x`, with AVX-512 F.
///
/// # Safety
/// The CPU must have AVX-512 F. `gamma` and `beta` must be of equal length.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn layernorm_rows_avx512(x: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
    for row in x.chunks_exact_mut(gamma.len()) {
        // SAFETY: this fn's # Safety guarantees AVX-512 F, `F32x16`'s instruction set, and
        // `gamma` as long as `beta` (and the row).
        unsafe { layernorm::<F32x16>(row, gamma, beta, eps) };
    }
}

/// `x ← LayerNorm(x + residual)` for every row, with AVX2 and FMA.
///
/// # Safety
/// The CPU must have AVX2 and FMA. `gamma` and `beta` must be of equal length, and `residual` as
/// long as `x`.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn add_layernorm_rows_avx2(
    x: &mut [f32],
    residual: &[f32],
    gamma: &[f32],
    beta: &[f32],
    eps: f32,
) {
    let rows = x
        .chunks_exact_mut(gamma.len())
        .zip(residual.chunks_exact(gamma.len()));
    for (row, res) in rows {
        // SAFETY: this fn's # Safety guarantees AVX2 and FMA, `F32x8`'s instruction set, and the
        // lengths (each row and residual row is `gamma.len()` long).
        unsafe { add_layernorm::<F32x8>(row, res, gamma, beta, eps) };
    }
}

/// `x ← LayerNorm(x + residual)` for every row, with AVX-512 F.
///
/// # Safety
/// The CPU must have AVX-512 F. `gamma` and `beta` must be of equal length, and `residual` as long
/// as `x`.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn add_layernorm_rows_avx512(
    x: &mut [f32],
    residual: &[f32],
    gamma: &[f32],
    beta: &[f32],
    eps: f32,
) {
    let rows = x
        .chunks_exact_mut(gamma.len())
        .zip(residual.chunks_exact(gamma.len()));
    for (row, res) in rows {
        // SAFETY: this fn's # Safety guarantees AVX-512 F, `F32x16`'s instruction set, and the
        // lengths (each row and residual row is `gamma.len()` long).
        unsafe { add_layernorm::<F32x16>(row, res, gamma, beta, eps) };
    }
}

/// `x ← (x - mean) / sqrt(var + eps) * gamma + beta` for one row.
///
/// # Safety
/// The CPU must have `V`'s instruction set; `x`, `gamma` and `beta` must be of equal length.
#[inline(always)]
unsafe fn layernorm<V: Vector>(x: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
    // SAFETY: this fn's caller guarantees `V`'s instruction set and the lengths `normalize` needs.
    unsafe {
        let mean = sum::<V>(x) / x.len() as f32;
        normalize::<V>(x, mean, gamma, beta, eps);
    }
}

/// `x ← LayerNorm(x + residual)` for one row.
///
/// # Safety
/// The CPU must have `V`'s instruction set; all four slices must be of equal length.
#[inline(always)]
unsafe fn add_layernorm<V: Vector>(
    x: &mut [f32],
    residual: &[f32],
    gamma: &[f32],
    beta: &[f32],
    eps: f32,
) {
    // SAFETY: this fn's caller guarantees `V`'s instruction set and the lengths both steps need.
    unsafe {
        let mean = add_and_sum::<V>(x, residual) / x.len() as f32;
        normalize::<V>(x, mean, gamma, beta, eps);
    }
}

/// Given the row's mean: the variance pass, then `x ← (x - mean) · inv_std · gamma + beta`.
///
/// # Safety
/// The CPU must have `V`'s instruction set; `x`, `gamma` and `beta` must be of equal length.
#[inline(always)]
unsafe fn normalize<V: Vector>(x: &mut [f32], mean: f32, gamma: &[f32], beta: &[f32], eps: f32) {
    assert!(gamma.len() == x.len() && beta.len() == x.len());
    // SAFETY: the caller guarantees `V`'s instruction set (this fn's # Safety). The three slices
    // are of one length (asserted), so below `whole` each vector `i..i + V::LANES` lies inside all
    // three, and past it the `_partial` forms take the shorter rest.
    unsafe {
        let var = sum_squared_deviations::<V>(x, mean) / x.len() as f32;
        let inv_std = V::splat(1.0 / (var + eps).sqrt());
        let mean = V::splat(mean);
        let whole = x.len() - x.len() % V::LANES;
        for i in (0..whole).step_by(V::LANES) {
            let scaled = V::load(&x[i..]).sub(mean).mul(inv_std);
            scaled
                .mul_add(V::load(&gamma[i..]), V::load(&beta[i..]))
                .store(&mut x[i..]);
        }
        if whole < x.len() {
            let scaled = V::load_partial(&x[whole..], 0.0).sub(mean).mul(inv_std);
            scaled
                .mul_add(
                    V::load_partial(&gamma[whole..], 0.0),
                    V::load_partial(&beta[whole..], 0.0),
                )
                .store_partial(&mut x[whole..]);
        }
    }
}

/// `Σ x_i`.
///
/// # Safety
/// The CPU must have `V`'s instruction set.
#[inline(always)]
unsafe fn sum<V: Vector>(x: &[f32]) -> f32 {
    // SAFETY: the caller guarantees `V`'s instruction set (this fn's # Safety); each `load` gets
    // `V::LANES` elements (of a block of four vectors, or a chunk of one), `load_partial` the rest.
    unsafe {
        let mut acc = [V::splat(0.0); 4];
        let mut blocks = x.chunks_exact(4 * V::LANES);
        for block in &mut blocks {
            for (k, a) in acc.iter_mut().enumerate() {
                *a = a.add(V::load(&block[k * V::LANES..]));
            }
        }
        let mut chunks = blocks.remainder().chunks_exact(V::LANES);
        for c in &mut chunks {
            acc[0] = acc[0].add(V::load(c));
        }
        let tail = chunks.remainder();
        if !tail.is_empty() {
            acc[1] = acc[1].add(V::load_partial(tail, 0.0));
        }
        acc[0].add(acc[1]).add(acc[2].add(acc[3])).reduce_add()
    }
}

/// `Σ (x_i - mean)²`. The partial vector is padded with `mean`, whose deviation is 0.
///
/// # Safety
/// The CPU must have `V`'s instruction set.
#[inline(always)]
unsafe fn sum_squared_deviations<V: Vector>(x: &[f32], mean: f32) -> f32 {
    // SAFETY: as in `sum`, which reads `x` the same way.
    unsafe {
        let m = V::splat(mean);
        let mut acc = [V::splat(0.0); 4];
        let mut blocks = x.chunks_exact(4 * V::LANES);
        for block in &mut blocks {
            for (k, a) in acc.iter_mut().enumerate() {
                let d = V::load(&block[k * V::LANES..]).sub(m);
                *a = d.mul_add(d, *a);
            }
        }
        let mut chunks = blocks.remainder().chunks_exact(V::LANES);
        for c in &mut chunks {
            let d = V::load(c).sub(m);
            acc[0] = d.mul_add(d, acc[0]);
        }
        let tail = chunks.remainder();
        if !tail.is_empty() {
            let d = V::load_partial(tail, mean).sub(m);
            acc[1] = d.mul_add(d, acc[1]);
        }
        acc[0].add(acc[1]).add(acc[2].add(acc[3])).reduce_add()
    }
}

/// `x ← x + residual`, returning `Σ x_i` of the result.
///
/// # Safety
/// The CPU must have `V`'s instruction set; `residual` must be as long as `x`.
#[inline(always)]
unsafe fn add_and_sum<V: Vector>(x: &mut [f32], residual: &[f32]) -> f32 {
    assert_eq!(x.len(), residual.len());
    // SAFETY: the caller guarantees `V`'s instruction set (this fn's # Safety). `x` and `residual`
    // are of one length (asserted), so below `whole` each vector `j..j + V::LANES` lies inside
    // both, and past it the `_partial` forms take the shorter rest.
    unsafe {
        let mut acc = [V::splat(0.0); 4];
        let step = 4 * V::LANES;
        let blocked = x.len() - x.len() % step;
        for i in (0..blocked).step_by(step) {
            for (k, a) in acc.iter_mut().enumerate() {
                let j = i + k * V::LANES;
                let v = V::load(&x[j..]).add(V::load(&residual[j..]));
                v.store(&mut x[j..]);
                *a = a.add(v);
            }
        }
        let whole = x.len() - x.len() % V::LANES;
        for j in (blocked..whole).step_by(V::LANES) {
            let v = V::load(&x[j..]).add(V::load(&residual[j..]));
            v.store(&mut x[j..]);
            acc[0] = acc[0].add(v);
        }
        if whole < x.len() {
            let v = V::load_partial(&x[whole..], 0.0).add(V::load_partial(&residual[whole..], 0.0));
            v.store_partial(&mut x[whole..]);
            acc[1] = acc[1].add(v);
        }
        acc[0].add(acc[1]).add(acc[2].add(acc[3])).reduce_add()
    }
}

#[cfg(test)]
mod tests {
    use super::{add_layernorm, layernorm};
    use crate::simd::F32x8x2;
    use crate::testing::supported_or_skip;
    use crate::Isa;

    /// The generic bodies at 16 lanes (the AVX-512 instantiation's blocks of 64 and partial
    /// vectors), run on AVX2.
    ///
    /// # Safety
    /// The CPU must have AVX2 and FMA; all four slices must be of equal length.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn layernorm_16_lanes(x: &mut [f32], r: &[f32], g: &[f32], b: &[f32], fused: bool) {
        // SAFETY: this fn's # Safety guarantees AVX2 and FMA, all `F32x8x2` needs, and the lengths.
        unsafe {
            if fused {
                add_layernorm::<F32x8x2>(x, r, g, b, 1e-12)
            } else {
                layernorm::<F32x8x2>(x, g, b, 1e-12)
            }
        }
    }

    #[test]
    fn sixteen_lanes_match_the_scalar_spec() {
        if !supported_or_skip(Isa::Avx2) {
            return;
        }
        for n in (1..=140).chain([768]) {
            let x: Vec<f32> = (0..n).map(|i| (i * 37 % 23) as f32 * 0.25 - 3.0).collect();
            let r: Vec<f32> = (0..n).map(|i| (i * 11 % 7) as f32 * 0.5 - 1.5).collect();
            let g: Vec<f32> = (0..n).map(|i| 1.0 + (i % 5) as f32 * 0.125).collect();
            let b: Vec<f32> = (0..n).map(|i| (i % 3) as f32 * 0.5 - 0.5).collect();
            for fused in [false, true] {
                let mut want = x.clone();
                if fused {
                    super::super::scalar::add_layernorm(&mut want, &r, &g, &b, 1e-12);
                } else {
                    super::super::scalar::layernorm(&mut want, &g, &b, 1e-12);
                }
                let mut got = x.clone();
                // SAFETY: AVX2 and FMA were checked above.
                unsafe { layernorm_16_lanes(&mut got, &r, &g, &b, fused) };
                for (gv, w) in got.iter().zip(&want) {
                    assert!(
                        (gv - w).abs() <= 1e-5,
                        "n = {n}, fused {fused}: {gv} against {w}"
                    );
                }
            }
        }
    }
}
