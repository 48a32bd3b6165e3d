//! Multi-head self-attention (`MultiHeadSelfAttention` in `modeling_distilbert.py`,
//! `BertSelfAttention` + the output projection of `BertSelfOutput` in `modeling_bert.py`):
//!
//! ```text
//! q, k, v = x·Wqᵀ + bq, x·Wkᵀ + bk, x·Wvᵀ + bv          [tokens, dim]
//! per head h:  ctx_h = softmax(q_h·k_hᵀ / √head_dim) · v_h   [seq, head_dim]
//! out = concat_h(ctx_h)·Woᵀ + bo                           [tokens, dim]
//! ```
//!
//! Head h is the column slice `h·head_dim..(h+1)·head_dim` of q, k and v (a strided view, no
//! copy), and writes the same columns of `ctx`, so `concat_h` is free; the heads of a sequence run
//! in parallel, each on its own columns. A batch is ragged: its sequences lie one after another,
//! unpadded, and each attends only to itself. That is the padding mask of the reference, without computing the padded positions, and
//! it makes each sequence's result independent of what it is batched with.

use std::ops::Range;

use distil_kernels::{Bf16Dot, Kernels};
use ndarray::{ArrayView2, ArrayViewMut2, Axis, Slice};
use rayon::prelude::*;

use super::config::Config;
use super::linear::Linear;
use super::profile::{Op, Profiler};
use super::scratch::Scratch;
use crate::weights::Prefix;
use crate::{Dtype, Result};

pub struct Attention {
    pub q_lin: Linear,   // [dim, dim]
    pub k_lin: Linear,   // [dim, dim]
    pub v_lin: Linear,   // [dim, dim]
    pub out_lin: Linear, // [dim, dim]
    pub n_heads: usize,
}

impl Attention {
    /// DistilBERT keys: `attention.{q_lin,k_lin,v_lin,out_lin}`.
    pub fn load_distilbert(p: &Prefix<'_>, c: &Config) -> Result<Self> {
        let p = p.pp("attention");
        Ok(Attention {
            q_lin: Linear::load(&p, "q_lin", c.dim, c.dim)?,
            k_lin: Linear::load(&p, "k_lin", c.dim, c.dim)?,
            v_lin: Linear::load(&p, "v_lin", c.dim, c.dim)?,
            out_lin: Linear::load(&p, "out_lin", c.dim, c.dim)?,
            n_heads: c.n_heads,
        })
    }

    /// BERT keys: `attention.self.{query,key,value}` and `attention.output.dense`.
    pub fn load_bert(p: &Prefix<'_>, c: &Config) -> Result<Self> {
        let p = p.pp("attention");
        Ok(Attention {
            q_lin: Linear::load(&p.pp("self"), "query", c.dim, c.dim)?,
            k_lin: Linear::load(&p.pp("self"), "key", c.dim, c.dim)?,
            v_lin: Linear::load(&p.pp("self"), "value", c.dim, c.dim)?,
            out_lin: Linear::load(&p.pp("output"), "dense", c.dim, c.dim)?,
            n_heads: c.n_heads,
        })
    }

    /// `q, k, v ← x·Wqᵀ + bq, x·Wkᵀ + bk, x·Wvᵀ + bv` for some rows of the batch (token by token,
    /// so any rows: the block hands each thread its own).
    pub fn project(
        &self,
        k: &Kernels,
        x: ArrayView2<'_, f32>,
        [q, kk, v]: [ArrayViewMut2<'_, f32>; 3],
        prof: &Profiler,
    ) {
        let (rows, dim) = (x.nrows(), self.q_lin.out_dim());
        prof.time(Op::QkvLin, 6.0 * (rows * dim * dim) as f64, || {
            let linears = [&self.q_lin, &self.k_lin, &self.v_lin];
            Linear::forward_each(k, x, linears, [q, kk, v]); // [rows, dim] each
        });
    }

    /// What `q·kᵀ` and `p·v` multiply in: bf16 pairs ([`Kernels::attention_bf16`]) with int8
    /// projections on kernels that multiply bf16 in pairs (`Bf16Dot::Pairs`: AVX-512 BF16 on AMD,
    /// where one head runs 1.5 to 1.6 times as fast as in f32 on Zen 4, and MiniLM's int8
    /// embeddings keep their bounds), f32 otherwise (Intel's `vdpbf16ps` is no faster than its
    /// FMAs).
    pub fn products(&self, k: &Kernels) -> Dtype {
        if self.q_lin.i8_rows().is_some() && k.bf16_dot() == Bf16Dot::Pairs {
            Dtype::Bf16
        } else {
            Dtype::F32
        }
    }

    /// `s.ctx ← concat_h(ctx_h)` from `s.q`, `s.k`, `s.v`, for every sequence of the batch (`seqs`
    /// are row ranges), its heads in parallel, each in its own scratch (`s.heads`), the products
    /// in [`products`](Self::products).
    pub fn attend(&self, k: &Kernels, seqs: &[Range<usize>], s: &mut Scratch, prof: &Profiler) {
        let bf16 = self.products(k) == Dtype::Bf16;
        let head_dim = self.q_lin.out_dim() / self.n_heads;
        let threads = rayon::current_num_threads();
        let scale = 1.0 / (head_dim as f32).sqrt();
        for seq in seqs {
            let n = seq.len();
            let tokens = || Slice::from(seq.clone());
            let q = s.q.slice_axis(Axis(0), tokens()); // [n, dim]
            let kk = s.k.slice_axis(Axis(0), tokens()); // [n, dim]
            let v = s.v.slice_axis(Axis(0), tokens()); // [n, dim]
            let mut ctx = s.ctx.slice_axis_mut(Axis(0), tokens()); // [n, dim]

            // Head h is columns h·head_dim.. of q, k, v and ctx: each head writes its own columns
            // of ctx, so the concatenation of the heads costs nothing.
            let flops = 4.0 * (n * n * head_dim) as f64;
            ctx.axis_chunks_iter_mut(Axis(1), head_dim)
                .into_par_iter()
                .zip(s.heads.par_iter_mut())
                .enumerate()
                .for_each(|(h, (ctx_h, scratch))| {
                    let cols = || Slice::from(h * head_dim..(h + 1) * head_dim);
                    let q_h = q.slice_axis(Axis(1), cols()); // [n, head_dim]
                    let k_h = kk.slice_axis(Axis(1), cols()); // [n, head_dim]
                    let v_h = v.slice_axis(Axis(1), cols()); // [n, head_dim]
                    prof.time_parallel(Op::Attention, flops, threads, || match bf16 {
                        true => k.attention_bf16(scale, q_h, k_h, v_h, ctx_h, scratch),
                        false => k.attention(scale, q_h, k_h, v_h, ctx_h, scratch),
                    });
                });
        }
    }

    /// `out ← ctx·Woᵀ + bo` for some rows of the batch.
    pub fn output(
        &self,
        k: &Kernels,
        ctx: ArrayView2<'_, f32>,
        out: ArrayViewMut2<'_, f32>,
        prof: &Profiler,
    ) {
        let (rows, dim) = (ctx.nrows(), self.out_lin.out_dim());
        prof.time(Op::OutLin, 2.0 * (rows * dim * dim) as f64, || {
            self.out_lin.forward(k, ctx, out); // [rows, dim]
        });
    }
}
