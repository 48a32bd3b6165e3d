//! Scaled dot-product attention of one head, in one pass over its queries:
//!
//! ```text
//! ctx = softmax(scale · q·kᵀ) · v        q: [m, d], k: [n, d], v: [n, dv], ctx: [m, dv]
//! ```
//!
//! (`scaled_dot_product_attention` in PyTorch; DistilBERT's `MultiHeadSelfAttention` scales `q`
//! before the product, BERT's `BertSelfAttention` the scores after it: the same numbers up to a
//! rounding.)
//!
//! The scalar twin (`scalar.rs`) is the spec: per query, each score is one chain of fused
//! multiply-adds over `d` in increasing order, then multiplied by `scale`; the row's softmax;
//! then each output is one chain of fused multiply-adds over the keys in increasing order.
//!
//! The SIMD paths (`simd.rs`) compute the same chains, in the same order, `ROWS` queries at a time
//! (`tile.rs`, the micro-kernel both products share): the queries' block of scores (`ROWS × n`)
//! stays in L1 from its product through its softmax to its product with `v`, and `kᵀ` and `v` are
//! packed once per call into contiguous panels. No `m × n` matrix is ever written. The scores are
//! bit-identical to the twin's; the softmax's polynomial `exp` is within 1 ulp of `f32::exp`, so
//! the outputs agree with the twin's to about 1e-6 relative (`tests/kernels.rs` states the bound).
//!
//! [`Kernels::attention_bf16`] runs the same blocks with both products over pairs of bf16 (`q`,
//! `k`, the probabilities and `v` rounded; the sums and the softmax f32): `vdpbf16ps` where the
//! kernels multiply bf16 in pairs, two FMAs on each widened pair elsewhere, the same numbers
//! either way (`tile::Dot`); its scalar twin is `scalar::attention_bf16`.
//!
//! Each call is single-threaded: the model runs the heads in parallel.

mod scalar;
#[cfg(target_arch = "x86_64")]
mod simd;
#[cfg(target_arch = "x86_64")]
mod tile;

use ndarray::{ArrayView2, ArrayViewMut2};

use crate::{Bf16Dot, Isa, Kernels};

impl Kernels {
    /// The floats [`attention`](Self::attention) needs as `scratch` for `queries` queries over
    /// `keys` keys with `head_dim` wide `q` and `k` and `v_dim` wide `v`.
    pub fn attention_scratch(
        &self,
        queries: usize,
        keys: usize,
        head_dim: usize,
        v_dim: usize,
    ) -> usize {
        let _ = queries;
        match self.isa() {
            Isa::Scalar => keys,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => simd::scratch_len(8, keys, head_dim, v_dim),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => simd::scratch_len(16, keys, head_dim, v_dim),
            #[cfg(not(target_arch = "x86_64"))]
            Isa::Avx2 | Isa::Avx512 => keys,
        }
    }

    /// `ctx ← softmax(scale · q·kᵀ) · v`, with `q: m×d`, `k: n×d`, `v: n×dv`, `ctx: m×dv`, any
    /// strides (a head is a column slice of the model's `q`, `k`, `v`, `ctx`). `scratch` holds at
    /// least [`attention_scratch`](Self::attention_scratch) floats; its contents on entry do not
    /// matter. Every row of `ctx` depends on its row of `q` and on `k`, `v` alone.
    pub fn attention(
        &self,
        scale: f32,
        q: ArrayView2<'_, f32>,
        k: ArrayView2<'_, f32>,
        v: ArrayView2<'_, f32>,
        ctx: ArrayViewMut2<'_, f32>,
        scratch: &mut [f32],
    ) {
        self.attend(Products::F32, scale, q, k, v, ctx, scratch)
    }

    /// [`attention`](Self::attention) with both products over pairs of bf16: `q`, `k`, the
    /// probabilities and `v` rounded to bf16, each pair's two products added into f32 sums as
    /// `vdpbf16ps` adds them (the softmax stays f32). With [`Bf16Dot::Pairs`] that instruction
    /// (twice an FMA's products per instruction, where it pays); elsewhere each pair widened
    /// and multiplied by two FMAs, which gives the same numbers (wherever no sum falls below
    /// 2⁻¹²⁶) at no gain.
    pub fn attention_bf16(
        &self,
        scale: f32,
        q: ArrayView2<'_, f32>,
        k: ArrayView2<'_, f32>,
        v: ArrayView2<'_, f32>,
        ctx: ArrayViewMut2<'_, f32>,
        scratch: &mut [f32],
    ) {
        self.attend(Products::Bf16, scale, q, k, v, ctx, scratch)
    }

    /// Checks the shapes and the scratch, then runs this CPU's kernel for `products`.
    #[allow(clippy::too_many_arguments)]
    fn attend(
        &self,
        products: Products,
        scale: f32,
        q: ArrayView2<'_, f32>,
        k: ArrayView2<'_, f32>,
        v: ArrayView2<'_, f32>,
        ctx: ArrayViewMut2<'_, f32>,
        scratch: &mut [f32],
    ) {
        let ((m, d), (n, dv)) = (q.dim(), v.dim());
        assert_eq!(k.dim(), (n, d), "k is not n×d");
        assert_eq!(ctx.dim(), (m, dv), "ctx is not m×dv");
        if m == 0 || dv == 0 {
            return;
        }
        assert!(n > 0, "attention needs at least one key");
        assert!(d > 0, "attention needs heads at least one wide");
        let need = self.attention_scratch(m, n, d, dv);
        assert!(
            scratch.len() >= need,
            "attention scratch holds fewer than {need} floats"
        );
        #[cfg(target_arch = "x86_64")]
        use {
            simd::{attention_avx2, attention_avx512, attention_avx512_bf16},
            tile::{Bf16Widened, F32Fma},
        };
        match (self.isa(), products) {
            (Isa::Scalar, Products::F32) => scalar::attention(scale, q, k, v, ctx, scratch),
            (Isa::Scalar, Products::Bf16) => scalar::attention_bf16(scale, q, k, v, ctx, scratch),
            #[cfg(target_arch = "x86_64")]
            (Isa::Avx2, products) => {
                // SAFETY: a `Kernels` holds Avx2 only if the CPU has AVX2 and FMA
                // (`Kernels::force`, `Kernels::fastest`); the shapes and the scratch's length were
                // checked above.
                unsafe {
                    match products {
                        Products::F32 => attention_avx2::<F32Fma>(scale, q, k, v, ctx, scratch),
                        Products::Bf16 => {
                            attention_avx2::<Bf16Widened>(scale, q, k, v, ctx, scratch)
                        }
                    }
                }
            }
            #[cfg(target_arch = "x86_64")]
            (Isa::Avx512, products) => {
                // SAFETY: a `Kernels` holds Avx512 only if the CPU has AVX-512 F, and
                // `Bf16Dot::Pairs` only if it has AVX-512 BF16 too (`Kernels::with_bf16_dot`); as
                // above for the rest.
                unsafe {
                    match products {
                        Products::F32 => attention_avx512::<F32Fma>(scale, q, k, v, ctx, scratch),
                        Products::Bf16 if self.bf16_dot() == Bf16Dot::Pairs => {
                            attention_avx512_bf16(scale, q, k, v, ctx, scratch)
                        }
                        Products::Bf16 => {
                            attention_avx512::<Bf16Widened>(scale, q, k, v, ctx, scratch)
                        }
                    }
                }
            }
            #[cfg(not(target_arch = "x86_64"))]
            (Isa::Avx2 | Isa::Avx512, _) => {
                unreachable!("x86 instruction sets are never supported here")
            }
        }
    }
}

/// What attention's two products multiply.
#[derive(Clone, Copy)]
enum Products {
    F32,
    Bf16,
}

#[cfg(test)]
mod tests {
    use ndarray::{arr2, Array2};

    use crate::testing::all_kernels;

    #[test]
    fn one_query_two_keys_by_hand() {
        // Scores 0 and ln 3 (scale 1): weights 1/4 and 3/4 of the rows of v.
        let q = arr2(&[[1.0f32, 0.0]]);
        let k = arr2(&[[0.0f32, 5.0], [3f32.ln(), 7.0]]);
        let v = arr2(&[[4.0f32, -8.0, 1.0], [0.0, 8.0, 1.0]]);
        for kernels in all_kernels() {
            let mut ctx = Array2::zeros((1, 3));
            let mut scratch = vec![f32::NAN; kernels.attention_scratch(1, 2, 2, 3)];
            kernels.attention(
                1.0,
                q.view(),
                k.view(),
                v.view(),
                ctx.view_mut(),
                &mut scratch,
            );
            for (got, want) in ctx.iter().zip([1.0, 4.0, 1.0]) {
                assert!((got - want).abs() < 1e-6, "{}: {ctx}", kernels.isa());
            }
        }
    }

    #[test]
    #[should_panic(expected = "at least one key")]
    fn rejects_no_keys() {
        let q = Array2::<f32>::zeros((1, 2));
        let kv = Array2::<f32>::zeros((0, 2));
        let mut ctx = Array2::zeros((1, 2));
        crate::Kernels::scalar().attention(
            1.0,
            q.view(),
            kv.view(),
            kv.view(),
            ctx.view_mut(),
            &mut [],
        );
    }
}
