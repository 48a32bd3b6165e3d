//! Attention of one head on SIMD vectors: one generic body, instantiated for AVX2 and AVX-512.
//!
//! ```text
//! kᵀ → kt~  [d, n~]     v → v~  [n, dv~]          (packed once; n~, dv~ whole vectors, zeros past)
//! per block of ROWS queries:
//!   q → q~       [ROWS, d]                         (rows past m zero)
//!   s~ = scale · q~·kt~   [ROWS, n~]               (tiles of ROWS × KEY_VECTORS vectors)
//!   softmax of each row's first n
//!   o~ = s~[.., ..n] · v~  [ROWS, dv~]             (tiles of ROWS × V_VECTORS vectors)
//!   ctx ← o~[.., ..dv]
//! ```
//!
//! The block's scores (`ROWS·n~` floats: 16 KB at 512 keys) stay in L1 from the first product to
//! the second; `kt~` and `v~` (128 KB each for 512 keys of a 64-wide head) stay in L2.

use ndarray::{s, ArrayView2, ArrayViewMut2};

use super::tile::{tile, Strided, ROWS};
use crate::simd::{F32x16, F32x8, Vector};
use crate::softmax::simd::softmax;

/// Vectors of keys a tile of scores takes (24 accumulators).
const KEY_VECTORS: usize = 3;
/// Vectors of `v`'s columns a tile of the context takes (16 accumulators).
const V_VECTORS: usize = 2;

/// The floats of scratch a call with `lanes`-wide vectors needs: `kt~`, `v~`, `q~`, `s~`, `o~`.
pub(super) fn scratch_len(lanes: usize, n: usize, d: usize, dv: usize) -> usize {
    let (n_pad, dv_pad) = (n.next_multiple_of(lanes), dv.next_multiple_of(lanes));
    d * n_pad + n * dv_pad + ROWS * (d + n_pad + dv_pad)
}

/// `ctx ← softmax(scale · q·kᵀ) · v`, with AVX2 and FMA.
///
/// # Safety
/// The CPU must have AVX2 and FMA; the shapes agree, `n > 0`, `d > 0`, and `scratch` holds
/// [`scratch_len`]`(8, …)` floats (`Kernels::attention` checks them).
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn attention_avx2(
    scale: f32,
    q: ArrayView2<'_, f32>,
    k: ArrayView2<'_, f32>,
    v: ArrayView2<'_, f32>,
    ctx: ArrayViewMut2<'_, f32>,
    scratch: &mut [f32],
) {
    // SAFETY: this fn's # Safety guarantees AVX2 and FMA, `F32x8`'s instruction set.
    unsafe { attention::<F32x8>(scale, q, k, v, ctx, scratch) }
}

/// `ctx ← softmax(scale · q·kᵀ) · v`, with AVX-512 F.
///
/// # Safety
/// The CPU must have AVX-512 F; as [`attention_avx2`] for the rest (`scratch_len(16, …)`).
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn attention_avx512(
    scale: f32,
    q: ArrayView2<'_, f32>,
    k: ArrayView2<'_, f32>,
    v: ArrayView2<'_, f32>,
    ctx: ArrayViewMut2<'_, f32>,
    scratch: &mut [f32],
) {
    // SAFETY: this fn's # Safety guarantees AVX-512 F, `F32x16`'s instruction set.
    unsafe { attention::<F32x16>(scale, q, k, v, ctx, scratch) }
}

/// The generic body: see the module's outline.
///
/// # Safety
/// The CPU must have `V`'s instruction set.
#[inline(always)]
pub(super) unsafe fn attention<V: Vector>(
    scale: f32,
    q: ArrayView2<'_, f32>,
    k: ArrayView2<'_, f32>,
    v: ArrayView2<'_, f32>,
    mut ctx: ArrayViewMut2<'_, f32>,
    scratch: &mut [f32],
) {
    let ((m, d), (n, dv)) = (q.dim(), v.dim());
    let (n_pad, dv_pad) = (n.next_multiple_of(V::LANES), dv.next_multiple_of(V::LANES));
    let (kt, rest) = scratch.split_at_mut(d * n_pad);
    let (vp, rest) = rest.split_at_mut(n * dv_pad);
    let (qb, rest) = rest.split_at_mut(ROWS * d);
    let (sb, rest) = rest.split_at_mut(ROWS * n_pad);
    let ob = &mut rest[..ROWS * dv_pad];

    pack_transposed(k, kt, n_pad, KEY_VECTORS * V::LANES);
    pack(v, vp, dv_pad);

    for i0 in (0..m).step_by(ROWS) {
        let rows = ROWS.min(m - i0);
        pack(q.slice(s![i0..i0 + rows, ..]), qb, d);
        qb[rows * d..].fill(0.0);

        let queries = Strided { at: qb, stride: d };
        for j0 in (0..n_pad).step_by(KEY_VECTORS * V::LANES) {
            // The strip of kᵀ for keys j0.. (see `pack_transposed`).
            let width = (n_pad - j0).min(KEY_VECTORS * V::LANES);
            let keys = Strided {
                at: &kt[j0 * d..],
                stride: width,
            };
            let out = &mut sb[j0..];
            // SAFETY: the caller guarantees `V`'s instruction set; `tile` checks its slices.
            unsafe {
                match (n_pad - j0) / V::LANES {
                    1 => tile::<V, 1>(scale, queries, keys, d, out, n_pad),
                    2 => tile::<V, 2>(scale, queries, keys, d, out, n_pad),
                    _ => tile::<V, KEY_VECTORS>(scale, queries, keys, d, out, n_pad),
                }
            }
        }

        for row in sb.chunks_exact_mut(n_pad).take(rows) {
            // SAFETY: the caller guarantees `V`'s instruction set.
            unsafe { softmax::<V>(&mut row[..n]) };
        }

        let probabilities = Strided {
            at: sb,
            stride: n_pad,
        };
        for c0 in (0..dv_pad).step_by(V_VECTORS * V::LANES) {
            let values = Strided {
                at: &vp[c0..],
                stride: dv_pad,
            };
            let out = &mut ob[c0..];
            // SAFETY: as for the scores.
            unsafe {
                match (dv_pad - c0) / V::LANES {
                    1 => tile::<V, 1>(1.0, probabilities, values, n, out, dv_pad),
                    _ => tile::<V, V_VECTORS>(1.0, probabilities, values, n, out, dv_pad),
                }
            }
        }

        let mut block = ctx.slice_mut(s![i0..i0 + rows, ..]);
        for (mut ctx_i, o_i) in block.rows_mut().into_iter().zip(ob.chunks_exact(dv_pad)) {
            ctx_i.iter_mut().zip(o_i).for_each(|(c, o)| *c = *o);
        }
    }
}

/// Copies the rows of `src` into `dst`, `width` apart, each followed by zeros up to `width`.
fn pack(src: ArrayView2<'_, f32>, dst: &mut [f32], width: usize) {
    for (row, out) in src.rows().into_iter().zip(dst.chunks_exact_mut(width)) {
        let (head, pad) = out.split_at_mut(row.len());
        match row.as_slice() {
            Some(row) => head.copy_from_slice(row),
            None => head.iter_mut().zip(row).for_each(|(o, x)| *o = *x),
        }
        pad.fill(0.0);
    }
}

/// Writes `kᵀ` into `kt` in strips of `strip` keys (the last may be narrower, down to `n_pad`):
/// the strip of keys `j0..j0 + w` starts at `j0·d` and holds, `w` apart, each column of those
/// keys' rows of `k`, zeros past `n`. A tile of scores then reads its strip in one stream.
fn pack_transposed(k: ArrayView2<'_, f32>, kt: &mut [f32], n_pad: usize, strip: usize) {
    let (n, d) = k.dim();
    for j0 in (0..n_pad).step_by(strip) {
        let width = (n_pad - j0).min(strip);
        let panel = &mut kt[j0 * d..(j0 + width) * d];
        let keys = k.slice(s![j0.min(n)..(j0 + width).min(n), ..]);
        for (column, out) in keys
            .columns()
            .into_iter()
            .zip(panel.chunks_exact_mut(width))
        {
            let (head, pad) = out.split_at_mut(keys.nrows());
            head.iter_mut().zip(column).for_each(|(o, x)| *o = *x);
            pad.fill(0.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use ndarray::Array2;

    use super::{attention, scratch_len};
    use crate::simd::F32x8x2;
    use crate::testing::supported_or_skip;
    use crate::Isa;

    /// The generic body at 16 lanes (the AVX-512 instantiation's tiles and padding), run on AVX2.
    ///
    /// # Safety
    /// The CPU must have AVX2 and FMA; as `attention_avx2` for the rest.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn attention_16_lanes(
        q: &Array2<f32>,
        k: &Array2<f32>,
        v: &Array2<f32>,
        ctx: &mut Array2<f32>,
        scratch: &mut [f32],
    ) {
        // SAFETY: this fn's # Safety guarantees AVX2 and FMA, all `F32x8x2` needs.
        unsafe { attention::<F32x8x2>(0.3, q.view(), k.view(), v.view(), ctx.view_mut(), scratch) }
    }

    #[test]
    fn sixteen_lanes_match_the_scalar_spec() {
        if !supported_or_skip(Isa::Avx2) {
            return;
        }
        let value = |i: usize, salt: usize| ((i * 37 + salt) % 101) as f32 * 0.05 - 2.5;
        for (m, n, d, dv) in [
            (1, 1, 1, 1),
            (9, 17, 5, 33),
            (8, 48, 16, 16),
            (13, 50, 64, 40),
        ] {
            let q = Array2::from_shape_fn((m, d), |(i, t)| value(i * d + t, 1));
            let k = Array2::from_shape_fn((n, d), |(j, t)| value(j * d + t, 2));
            let v = Array2::from_shape_fn((n, dv), |(j, c)| value(j * dv + c, 3));
            let mut want = Array2::zeros((m, dv));
            let mut scores = vec![0.0; n];
            let (qv, kv, vv) = (q.view(), k.view(), v.view());
            super::super::scalar::attention(0.3, qv, kv, vv, want.view_mut(), &mut scores);
            let mut got = Array2::from_elem((m, dv), f32::NAN);
            let mut scratch = vec![f32::NAN; scratch_len(16, n, d, dv)];
            // SAFETY: AVX2 and FMA were checked above; the scratch is `scratch_len(16, …)`.
            unsafe { attention_16_lanes(&q, &k, &v, &mut got, &mut scratch) };
            for (g, w) in got.iter().zip(&want) {
                assert!(
                    (g - w).abs() <= 1e-5 * w.abs().max(1.0),
                    "{m}×{n}×{d}×{dv}: {g} against {w}"
                );
            }
        }
    }
}
