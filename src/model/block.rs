//! One transformer block, post-norm as in BERT and DistilBERT (`TransformerBlock` in
//! `modeling_distilbert.py`, `BertLayer` in `modeling_bert.py`):
//!
//! ```text
//! x = sa_layer_norm(x + Attention(x))
//! x = output_layer_norm(x + FFN(x))
//! ```

use std::ops::Range;

use distil_kernels::Kernels;
use ndarray::Array2;

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
    /// ranges). The result lands in `x` by swapping buffers with the scratch, not by copying.
    pub fn forward(
        &self,
        k: &Kernels,
        x: &mut Array2<f32>,
        seqs: &[Range<usize>],
        s: &mut Scratch,
        prof: &Profiler,
    ) {
        self.attention.forward(k, x.view(), seqs, s, prof); // s.attn_out: [tokens, dim]
        prof.time(Op::SaLayerNorm, 0.0, || {
            let (out, residual) = (s.attn_out.view_mut(), x.view());
            self.sa_layer_norm.forward_residual(k, out, residual)
        });
        std::mem::swap(x, &mut s.attn_out);
        self.ffn.forward(k, x.view(), s, prof); // s.ffn_out: [tokens, dim]
        prof.time(Op::OutputLayerNorm, 0.0, || {
            let (out, residual) = (s.ffn_out.view_mut(), x.view());
            self.output_layer_norm.forward_residual(k, out, residual)
        });
        std::mem::swap(x, &mut s.ffn_out);
    }
}
