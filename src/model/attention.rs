//! Multi-head self-attention (`MultiHeadSelfAttention` in `modeling_distilbert.py`,
//! `BertSelfAttention` + the output projection of `BertSelfOutput` in `modeling_bert.py`):
//!
//! ```text
//! q, k, v = x·Wqᵀ + bq, x·Wkᵀ + bk, x·Wvᵀ + bv          [tokens, dim]
//! per head h:  ctx_h = softmax(q_h·k_hᵀ / √head_dim) · v_h   [seq, head_dim]
//! out = concat_h(ctx_h)·Woᵀ + bo                           [tokens, dim]
//! ```
//!
//! A batch is ragged: its sequences lie one after another, unpadded, and each attends only to
//! itself. That is the padding mask of the reference, without computing the padded positions, and
//! it makes each sequence's result independent of what it is batched with.

use std::ops::Range;

use distil_kernels::{Kernels, MatMut, MatRef};
use ndarray::ArrayView2;
use rayon::prelude::*;

use super::config::Config;
use super::linear::Linear;
use super::profile::{Op, Profiler};
use super::scratch::Scratch;
use crate::weights::Prefix;
use crate::Result;

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

    /// `s.attn_out ← Attention(x)` for every sequence of the batch (`seqs` are row ranges of `x`).
    pub fn forward(
        &self,
        k: &Kernels,
        x: ArrayView2<'_, f32>,
        seqs: &[Range<usize>],
        s: &mut Scratch,
        prof: &Profiler,
    ) {
        let rows = x.nrows();
        let dim = self.q_lin.out_dim();
        let head_dim = dim / self.n_heads;
        prof.time(Op::QkvLin, 6.0 * (rows * dim * dim) as f64, || {
            self.q_lin.forward(k, x, s.q.view_mut()); // [tokens, dim]
            self.k_lin.forward(k, x, s.k.view_mut()); // [tokens, dim]
            self.v_lin.forward(k, x, s.v.view_mut()); // [tokens, dim]
        });
        let flat = "activations are row-major";
        let (q_all, k_all, v_all) = (
            s.q.as_slice().expect(flat),
            s.k.as_slice().expect(flat),
            s.v.as_slice().expect(flat),
        );
        let ctx_all = s.ctx.as_slice_mut().expect(flat);
        let threads = rayon::current_num_threads();
        let scale = 1.0 / (head_dim as f32).sqrt();
        for seq in seqs {
            let n = seq.len();
            let tokens = seq.start * dim..seq.end * dim;
            let (q, kk, v) = (
                &q_all[tokens.clone()],
                &k_all[tokens.clone()],
                &v_all[tokens.clone()],
            );
            // One [n, head_dim] block per head, heads one after another.
            let heads = &mut s.heads[tokens.clone()];
            heads
                .par_chunks_mut(n * head_dim)
                .enumerate()
                .for_each_init(Vec::new, |scores, (h, ctx_h)| {
                    scores.resize(n * n, 0.0);
                    let cols = h * head_dim..;
                    let q_h = MatRef::strided(&q[cols.clone()], n, head_dim, dim, 1); // [n, head_dim]
                    let k_h = MatRef::strided(&kk[cols.clone()], n, head_dim, dim, 1); // [n, head_dim]
                    let v_h = MatRef::strided(&v[cols], n, head_dim, dim, 1); // [n, head_dim]
                    let scores_m = MatMut::new(scores, n, n);
                    let flops = 2.0 * (n * n * head_dim) as f64;
                    prof.time_parallel(Op::Scores, flops, threads, || {
                        k.gemm(scale, q_h, k_h.t(), 0.0, scores_m); // [n, n]
                    });
                    prof.time_parallel(Op::Softmax, 0.0, threads, || k.softmax_rows(scores, n));
                    let p = MatRef::new(scores, n, n);
                    let ctx_m = MatMut::new(ctx_h, n, head_dim);
                    prof.time_parallel(Op::Context, flops, threads, || {
                        k.gemm(1.0, p, v_h, 0.0, ctx_m); // [n, head_dim]
                    });
                });
            // Concatenate the heads back into rows: ctx[i, h·head_dim + d] = heads[h][i, d].
            let ctx = &mut ctx_all[tokens.clone()];
            for (h, ctx_h) in s.heads[tokens].chunks_exact(n * head_dim).enumerate() {
                for (row, src) in ctx.chunks_exact_mut(dim).zip(ctx_h.chunks_exact(head_dim)) {
                    row[h * head_dim..(h + 1) * head_dim].copy_from_slice(src);
                }
            }
        }
        prof.time(Op::OutLin, 2.0 * (rows * dim * dim) as f64, || {
            self.out_lin.forward(k, s.ctx.view(), s.attn_out.view_mut());
        });
    }
}
