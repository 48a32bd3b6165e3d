//! One transformer block, post-norm as in BERT and DistilBERT (`TransformerBlock` in
//! `modeling_distilbert.py`, `BertLayer` in `modeling_bert.py`):
//!
//! ```text
//! x = sa_layer_norm(x + Attention(x))
//! x = output_layer_norm(x + FFN(x))
//! ```
//!
//! Threads: everything but attention's scores and context works token by token, so the block can
//! cut the batch's rows into `parts` runs and give each run a thread of its own, from the q, k, v
//! projections to the output norm. Each thread then reads every weight (the second read mostly
//! from L3) but only its own rows, which stay in the cache of the core that wrote them; attention's
//! heads, which need every token of a sequence, run in parallel between the two halves. With one run
//! the steps go in the plain order, and each linear layer is shared between the threads by blocks
//! of its columns instead. `Model::forward` chooses.

use std::ops::Range;

use distil_kernels::Kernels;
use ndarray::{Array2, ArrayView2, ArrayViewMut2, Axis};
use rayon::prelude::*;

use super::attention::Attention;
use super::config::Config;
use super::ffn::Ffn;
use super::layer_norm::LayerNorm;
use super::profile::{Op, Profiler};
use super::scratch::Scratch;
use crate::weights::Prefix;
use crate::Result;

pub struct TransformerBlock {
    pub attention: Attention,
    pub sa_layer_norm: LayerNorm,
    pub ffn: Ffn,
    pub output_layer_norm: LayerNorm,
}

impl TransformerBlock {
    /// DistilBERT keys under `transformer.layer.{i}`.
    pub fn load_distilbert(p: &Prefix<'_>, c: &Config) -> Result<Self> {
        Ok(TransformerBlock {
            attention: Attention::load_distilbert(p, c)?,
            sa_layer_norm: LayerNorm::load(p, "sa_layer_norm", c.dim, c.layer_norm_eps)?,
            ffn: Ffn::load_distilbert(p, c)?,
            output_layer_norm: LayerNorm::load(p, "output_layer_norm", c.dim, c.layer_norm_eps)?,
        })
    }

    /// BERT keys under `encoder.layer.{i}`; the names map onto DistilBERT's:
    /// `attention.output.LayerNorm` is `sa_layer_norm`, `output.LayerNorm` is `output_layer_norm`.
    pub fn load_bert(p: &Prefix<'_>, c: &Config) -> Result<Self> {
        let eps = c.layer_norm_eps;
        Ok(TransformerBlock {
            attention: Attention::load_bert(p, c)?,
            sa_layer_norm: LayerNorm::load(&p.pp("attention.output"), "LayerNorm", c.dim, eps)?,
            ffn: Ffn::load_bert(p, c)?,
            output_layer_norm: LayerNorm::load(&p.pp("output"), "LayerNorm", c.dim, eps)?,
        })
    }

    /// `x ← Block(x)`, for the hidden states `x: [tokens, dim]` of the sequences `seqs` (row
    /// ranges), the token-wise steps on `parts` runs of rows at once. The result lands in `x` by
    /// swapping buffers with the scratch, not by copying.
    pub fn forward(
        &self,
        k: &Kernels,
        x: &mut Array2<f32>,
        seqs: &[Range<usize>],
        s: &mut Scratch,
        parts: usize,
        prof: &Profiler,
    ) {
        let rows = x.nrows().div_ceil(parts.max(1)).max(1);
        let attention = &self.attention;
        runs(x, rows)
            .zip(runs_mut(&mut s.q, rows))
            .zip(runs_mut(&mut s.k, rows))
            .zip(runs_mut(&mut s.v, rows))
            .for_each(|(((x, q), kk), v)| attention.project(k, x, [q, kk, v], prof));
        attention.attend(k, seqs, s, prof); // s.ctx: [tokens, dim]
        runs(x, rows)
            .zip(runs(&s.ctx, rows))
            .zip(runs_mut(&mut s.attn_out, rows))
            .zip(runs_mut(&mut s.ffn_hidden, rows))
            .zip(runs_mut(&mut s.ffn_out, rows))
            .for_each(|((((x, ctx), mut sa_output), hidden), mut ffn_output)| {
                attention.output(k, ctx, sa_output.view_mut(), prof);
                prof.time(Op::SaLayerNorm, 0.0, || {
                    self.sa_layer_norm
                        .forward_residual(k, sa_output.view_mut(), x)
                });
                self.ffn
                    .forward(k, sa_output.view(), hidden, ffn_output.view_mut(), prof);
                prof.time(Op::OutputLayerNorm, 0.0, || {
                    let residual = sa_output.view();
                    self.output_layer_norm
                        .forward_residual(k, ffn_output.view_mut(), residual)
                });
            });
        std::mem::swap(x, &mut s.ffn_out);
    }
}

/// The rows of `a` in runs of `rows`, one per thread.
fn runs(a: &Array2<f32>, rows: usize) -> impl IndexedParallelIterator<Item = ArrayView2<'_, f32>> {
    a.axis_chunks_iter(Axis(0), rows).into_par_iter()
}

/// [`runs`], writable.
fn runs_mut(
    a: &mut Array2<f32>,
    rows: usize,
) -> impl IndexedParallelIterator<Item = ArrayViewMut2<'_, f32>> {
    a.axis_chunks_iter_mut(Axis(0), rows).into_par_iter()
}
