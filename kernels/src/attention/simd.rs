//! Attention of one head on SIMD vectors: one generic body, instantiated for AVX2 and AVX-512, its
//! products over f32 words or pairs of bf16 (the tile's [`Dot`]).
//!
//! ```text
//! kᵀ → kt~  [d~, n~]     v → v~  [n~', dv~]       (packed once; n~, dv~ whole vectors, zeros past)
//! per block of ROWS queries:
//!   q → q~       [ROWS, d~]                        (rows past m zero)
//!   s~ = scale · q~·kt~   [ROWS, n~]               (tiles of ROWS × KEY_VECTORS vectors)
//!   softmax of each row's first n
//!   p~ = the words of s~'s rows                    (pairs of bf16; f32 words are s~ itself)
//!   o~ = p~ · v~  [ROWS, dv~]                      (tiles of ROWS × V_VECTORS vectors)
//!   ctx ← o~[.., ..dv]
//! ```
//!
//! `d~` and `n~'` count words along each product's depth: `d` and `n` for f32, half as many pairs
//! of bf16 (`v~`'s row `t` then holds keys `2t` and `2t + 1`, each lane a pair of one column).
//! The block's scores (`ROWS·n~` floats: 16 KB at 512 keys) stay in L1 from the first product to
//! the second; `kt~` and `v~` (128 KB each for 512 keys of a 64-wide head in f32) stay in L2.

use std::borrow::Cow;

use ndarray::{s, ArrayView1, ArrayView2, ArrayViewMut2, Axis};

use super::tile::{tile, Bf16Pairs, Dot, Strided, ROWS};
use crate::simd::{prefetch, F32x16, F32x8, Vector};
use crate::softmax::simd::softmax;

/// Vectors of keys a tile of scores takes (24 accumulators).
const KEY_VECTORS: usize = 3;
/// Vectors of `v`'s columns a tile of the context takes (16 accumulators).
const V_VECTORS: usize = 2;

/// The floats of scratch a call with `lanes`-wide vectors needs, in f32 words or pairs of bf16:
/// `kt~`, `v~`, `q~`, `s~`, `p~`, `o~`.
pub(super) fn scratch_len(lanes: usize, n: usize, d: usize, dv: usize) -> usize {
    let (n_pad, dv_pad) = (n.next_multiple_of(lanes), dv.next_multiple_of(lanes));
    d * n_pad + n * dv_pad + ROWS * (d + 2 * n_pad + dv_pad)
}

/// `ctx ← softmax(scale · q·kᵀ) · v`, with AVX2 and FMA, the products over `D`'s words.
///
/// # Safety
/// The CPU must have AVX2 and FMA; the shapes agree, `n > 0`, `d > 0`, and `scratch` holds
/// [`scratch_len`]`(8, …)` floats (`Kernels::attention` checks them).
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn attention_avx2<D: Dot<F32x8>>(
    scale: f32,
    q: ArrayView2<'_, f32>,
    k: ArrayView2<'_, f32>,
    v: ArrayView2<'_, f32>,
    ctx: ArrayViewMut2<'_, f32>,
    scratch: &mut [f32],
) {
    // SAFETY: this fn's # Safety guarantees AVX2 and FMA, `F32x8`'s instruction set and all the
    // dots on it need.
    unsafe { attention::<F32x8, D>(scale, q, k, v, ctx, scratch) }
}

/// `ctx ← softmax(scale · q·kᵀ) · v`, with AVX-512 F, the products over `D`'s words.
///
/// # Safety
/// The CPU must have AVX-512 F; as [`attention_avx2`] for the rest (`scratch_len(16, …)`).
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn attention_avx512<D: Dot<F32x16>>(
    scale: f32,
    q: ArrayView2<'_, f32>,
    k: ArrayView2<'_, f32>,
    v: ArrayView2<'_, f32>,
    ctx: ArrayViewMut2<'_, f32>,
    scratch: &mut [f32],
) {
    // SAFETY: this fn's # Safety guarantees AVX-512 F, `F32x16`'s instruction set and all the
    // dots on it need but `Bf16Pairs`, which has an entry point of its own.
    unsafe { attention::<F32x16, D>(scale, q, k, v, ctx, scratch) }
}

/// `ctx ← softmax(scale · q·kᵀ) · v` with both products over pairs of bf16 by `vdpbf16ps`.
///
/// # Safety
/// The CPU must have AVX-512 F and AVX-512 BF16; as [`attention_avx512`] for the rest.
#[target_feature(enable = "avx512f,avx512bf16")]
pub(super) unsafe fn attention_avx512_bf16(
    scale: f32,
    q: ArrayView2<'_, f32>,
    k: ArrayView2<'_, f32>,
    v: ArrayView2<'_, f32>,
    ctx: ArrayViewMut2<'_, f32>,
    scratch: &mut [f32],
) {
    // SAFETY: this fn's # Safety guarantees AVX-512 F and BF16, all `F32x16` and `Bf16Pairs` need.
    unsafe { attention::<F32x16, Bf16Pairs>(scale, q, k, v, ctx, scratch) }
}

/// The generic body: see the module's outline.
///
/// # Safety
/// The CPU must have `V`'s and `D`'s instruction sets.
#[inline(always)]
pub(super) unsafe fn attention<V: Vector, D: Dot<V>>(
    scale: f32,
    q: ArrayView2<'_, f32>,
    k: ArrayView2<'_, f32>,
    v: ArrayView2<'_, f32>,
    mut ctx: ArrayViewMut2<'_, f32>,
    scratch: &mut [f32],
) {
    let ((m, d), (n, dv)) = (q.dim(), v.dim());
    let (n_pad, dv_pad) = (n.next_multiple_of(V::LANES), dv.next_multiple_of(V::LANES));
    // Words along the depth of the scores (`d`) and of the context (the keys).
    let (d_words, n_words) = (d.div_ceil(D::PER_WORD), n.div_ceil(D::PER_WORD));
    let (kt, rest) = scratch.split_at_mut(d_words * n_pad);
    let (vp, rest) = rest.split_at_mut(n_words * dv_pad);
    let (qb, rest) = rest.split_at_mut(ROWS * d_words);
    let (sb, rest) = rest.split_at_mut(ROWS * n_pad);
    let (pb, rest) = rest.split_at_mut(ROWS * n_pad);
    let ob = &mut rest[..ROWS * dv_pad];

    // SAFETY: the caller guarantees `D`'s instruction set, all the packing needs.
    unsafe {
        pack_transposed::<V, D>(k, kt, n_pad, KEY_VECTORS * V::LANES, qb);
        pack_key_words::<V, D>(v, vp, dv_pad);
    }

    for i0 in (0..m).step_by(ROWS) {
        let rows = ROWS.min(m - i0);
        // The next block's queries arrive while this block computes.
        for ahead in (i0 + ROWS..m).take(ROWS) {
            prefetch_row(q.row(ahead));
        }
        for (row, out) in q
            .slice(s![i0..i0 + rows, ..])
            .rows()
            .into_iter()
            .zip(qb.chunks_exact_mut(d_words))
        {
            // SAFETY: the caller guarantees `D`'s instruction set.
            unsafe { pack_words::<V, D>(&contiguous(row), out) };
        }
        qb[rows * d_words..].fill(0.0);

        let queries = Strided {
            at: qb,
            stride: d_words,
        };
        for j0 in (0..n_pad).step_by(KEY_VECTORS * V::LANES) {
            // The strip of kᵀ for keys j0.. (see `pack_transposed`).
            let width = (n_pad - j0).min(KEY_VECTORS * V::LANES);
            let keys = Strided {
                at: &kt[j0 * d_words..],
                stride: width,
            };
            let out = &mut sb[j0..];
            // SAFETY: the caller guarantees `V`'s and `D`'s instruction sets; `tile` checks its
            // slices.
            unsafe {
                match (n_pad - j0) / V::LANES {
                    1 => tile::<V, D, 1>(scale, queries, keys, d_words, out, n_pad),
                    2 => tile::<V, D, 2>(scale, queries, keys, d_words, out, n_pad),
                    _ => tile::<V, D, KEY_VECTORS>(scale, queries, keys, d_words, out, n_pad),
                }
            }
        }

        for row in sb.chunks_exact_mut(n_pad).take(rows) {
            // SAFETY: the caller guarantees `V`'s instruction set.
            unsafe { softmax::<V>(&mut row[..n]) };
        }

        // f32 words are the probabilities themselves; pairs are packed (every row: those past
        // `rows` hold finite scores of zero queries, and their outputs are not kept).
        let probabilities = if D::PER_WORD == 1 {
            &*sb
        } else {
            for (row, out) in sb.chunks_exact(n_pad).zip(pb.chunks_exact_mut(n_pad)) {
                // SAFETY: as above.
                unsafe { pack_words::<V, D>(&row[..n], out) };
            }
            &*pb
        };
        let probabilities = Strided {
            at: probabilities,
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
                    1 => tile::<V, D, 1>(1.0, probabilities, values, n_words, out, dv_pad),
                    _ => tile::<V, D, V_VECTORS>(1.0, probabilities, values, n_words, out, dv_pad),
                }
            }
        }

        let mut block = ctx.slice_mut(s![i0..i0 + rows, ..]);
        for (mut ctx_i, o_i) in block.rows_mut().into_iter().zip(ob.chunks_exact(dv_pad)) {
            match ctx_i.as_slice_mut() {
                Some(ctx_i) => ctx_i.copy_from_slice(&o_i[..dv]),
                None => ctx_i.iter_mut().zip(o_i).for_each(|(c, o)| *c = *o),
            }
        }
    }
}

/// Rows of `q`, `k` and `v` read ahead of the one being packed: they come from the model's
/// `[tokens, dim]` matrices, a head's 256 bytes of each row 3 KB apart, from L2 or L3, and waiting
/// for them took a quarter of attention's time at 8 × 128 tokens.
const AHEAD: usize = 4;

/// Asks for the cache lines of `row` (contiguous or not: only its first element's line then).
fn prefetch_row(row: ArrayView1<'_, f32>) {
    let lines = match row.as_slice() {
        Some(row) => row.len().div_ceil(16),
        None => 1,
    };
    for line in 0..lines {
        prefetch(row.as_ptr().wrapping_add(line * 16).cast());
    }
}

/// A row as one slice: borrowed where it is contiguous (a head's row always is), else copied.
fn contiguous(row: ArrayView1<'_, f32>) -> Cow<'_, [f32]> {
    match row.to_slice() {
        Some(row) => Cow::Borrowed(row),
        None => Cow::Owned(row.to_vec()),
    }
}

/// Writes the words of `D` holding `values` into the start of `out`, then zeros.
///
/// # Safety
/// The CPU must have `D`'s instruction set.
#[inline(always)]
unsafe fn pack_words<V: Vector, D: Dot<V>>(values: &[f32], out: &mut [f32]) {
    let (head, pad) = out.split_at_mut(values.len().div_ceil(D::PER_WORD));
    // SAFETY: the caller guarantees `D`'s instruction set.
    unsafe { D::pack(values, head) };
    pad.fill(0.0);
}

/// Writes `kᵀ` into `kt` in strips of `strip` keys (the last may be narrower, down to `n_pad`):
/// the strip of keys `j0..j0 + w` starts at `j0·d~` and holds, `w` apart, each word of `d` of
/// those keys' rows of `k`, zeros past `n`. A tile of scores then reads its strip in one stream.
/// `words` is room for one key's words.
///
/// # Safety
/// The CPU must have `D`'s instruction set.
#[inline(always)]
unsafe fn pack_transposed<V: Vector, D: Dot<V>>(
    k: ArrayView2<'_, f32>,
    kt: &mut [f32],
    n_pad: usize,
    strip: usize,
    words: &mut [f32],
) {
    let (n, d) = k.dim();
    let words = &mut words[..d.div_ceil(D::PER_WORD)];
    for j0 in (0..n_pad).step_by(strip) {
        let width = (n_pad - j0).min(strip);
        let panel = &mut kt[j0 * words.len()..(j0 + width) * words.len()];
        panel.fill(0.0);
        let keys = k.slice(s![j0.min(n)..(j0 + width).min(n), ..]);
        for (c, key) in keys.rows().into_iter().enumerate() {
            if j0 + c + AHEAD < n {
                prefetch_row(k.row(j0 + c + AHEAD));
            }
            // SAFETY: the caller guarantees `D`'s instruction set.
            unsafe { D::pack(&contiguous(key), words) };
            for (p, &word) in words.iter().enumerate() {
                panel[p * width + c] = word;
            }
        }
    }
}

/// Writes `v` into `vp` as rows of words of keys, `width` apart: row `t` holds, for each column,
/// the word of keys `t·PER_WORD..` (one or two of them; zeros past `n` and past `v`'s columns).
///
/// # Safety
/// The CPU must have `D`'s instruction set.
#[inline(always)]
unsafe fn pack_key_words<V: Vector, D: Dot<V>>(
    v: ArrayView2<'_, f32>,
    vp: &mut [f32],
    width: usize,
) {
    assert!(D::PER_WORD <= 2, "words of more than two keys");
    let groups = v.axis_chunks_iter(Axis(0), D::PER_WORD);
    for (t, (group, out)) in groups.zip(vp.chunks_exact_mut(width)).enumerate() {
        for ahead in (t * D::PER_WORD + AHEAD..).take(D::PER_WORD) {
            if ahead < v.nrows() {
                prefetch_row(v.row(ahead));
            }
        }
        let (head, pad) = out.split_at_mut(v.ncols());
        let first = contiguous(group.row(0));
        let second = (group.nrows() > 1).then(|| contiguous(group.row(1)));
        // SAFETY: the caller guarantees `D`'s instruction set.
        unsafe { D::pack_across(&first, second.as_deref(), head) };
        pad.fill(0.0);
    }
}

#[cfg(test)]
mod tests {
    use ndarray::Array2;

    use super::super::scalar;
    use super::super::tile::{Bf16Widened, F32Fma};
    use super::{attention, scratch_len, Dot};
    use crate::simd::F32x8x2;
    use crate::testing::supported_or_skip;
    use crate::Isa;

    /// The generic body at 16 lanes (the AVX-512 instantiation's tiles and padding), run on AVX2.
    ///
    /// # Safety
    /// The CPU must have AVX2 and FMA; as `attention_avx2` for the rest.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn attention_16_lanes<D: Dot<F32x8x2>>(
        q: &Array2<f32>,
        k: &Array2<f32>,
        v: &Array2<f32>,
        ctx: &mut Array2<f32>,
        scratch: &mut [f32],
    ) {
        let (q, k, v) = (q.view(), k.view(), v.view());
        // SAFETY: this fn's # Safety guarantees AVX2 and FMA, all `F32x8x2` and the dots on it
        // need.
        unsafe { attention::<F32x8x2, D>(0.3, q, k, v, ctx.view_mut(), scratch) }
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
            let (qv, kv, vv) = (q.view(), k.view(), v.view());
            let mut scores = vec![0.0; n];
            let [mut want, mut want_bf16] = [(); 2].map(|_| Array2::zeros((m, dv)));
            scalar::attention(0.3, qv, kv, vv, want.view_mut(), &mut scores);
            scalar::attention_bf16(0.3, qv, kv, vv, want_bf16.view_mut(), &mut scores);
            let mut scratch = vec![f32::NAN; scratch_len(16, n, d, dv)];
            let [mut got, mut got_bf16] = [(); 2].map(|_| Array2::from_elem((m, dv), f32::NAN));
            // SAFETY: AVX2 and FMA were checked above; the scratch is `scratch_len(16, …)`.
            unsafe {
                attention_16_lanes::<F32Fma>(&q, &k, &v, &mut got, &mut scratch);
                attention_16_lanes::<Bf16Widened>(&q, &k, &v, &mut got_bf16, &mut scratch);
            }
            // The softmax's `exp` is within an ulp of the spec's; in bf16 a probability may then
            // round one bf16 step (2⁻⁸) the other way.
            for (got, want, tol) in [(got, want, 1e-5), (got_bf16, want_bf16, 1e-2)] {
                for (g, w) in got.iter().zip(&want) {
                    assert!(
                        (g - w).abs() <= tol * w.abs().max(1.0),
                        "{m}×{n}×{d}×{dv}: {g} against {w}"
                    );
                }
            }
        }
    }
}
