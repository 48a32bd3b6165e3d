//! The masked-language-model head: hidden state → logits over the vocabulary.
//!
//! ```text
//! h = vocab_layer_norm(act(vocab_transform(x)))     [rows, dim]
//! logits = h·Eᵀ + b                                   [rows, vocab]
//! ```
//!
//! (`DistilBertForMaskedLM.forward`; `BertLMPredictionHead` in `modeling_bert.py`.) The projector
//! `E` is tied to the word embeddings in both families: when the file has no projector weight, the
//! embedding table itself is used. The head costs `2·dim·vocab` FLOPs per row, so it runs only at
//! the rows that need it (the `[MASK]` positions for fill-mask).

use distil_kernels::Kernels;
use ndarray::{Array2, ArrayView2};

use super::config::{Activation, Config};
use super::flat_mut;
use super::layer_norm::LayerNorm;
use super::linear::Linear;
use crate::weights::{Prefix, Tensor2};
use crate::Result;

pub struct MlmHead {
    pub vocab_transform: Linear, // [dim, dim]
    pub activation: Activation,
    pub vocab_layer_norm: LayerNorm,
    pub vocab_projector: Linear, // [vocab, dim]
}

impl MlmHead {
    /// DistilBERT keys at the root: `vocab_transform`, `vocab_layer_norm`, `vocab_projector`.
    pub fn load_distilbert(
        root: &Prefix<'_>,
        c: &Config,
        word_embeddings: &Tensor2,
    ) -> Result<Self> {
        Ok(MlmHead {
            vocab_transform: Linear::load(root, "vocab_transform", c.dim, c.dim)?,
            activation: c.activation,
            vocab_layer_norm: LayerNorm::load(root, "vocab_layer_norm", c.dim, c.layer_norm_eps)?,
            vocab_projector: projector(
                &root.pp("vocab_projector"),
                "weight",
                "bias",
                c,
                word_embeddings,
            )?,
        })
    }

    /// BERT keys under `cls.predictions`: `transform.dense`, `transform.LayerNorm`, `decoder`,
    /// and the bias `bias` (newer files also store it as `decoder.bias`).
    pub fn load_bert(root: &Prefix<'_>, c: &Config, word_embeddings: &Tensor2) -> Result<Self> {
        let p = root.pp("cls.predictions");
        let bias = if p.contains("bias") {
            "bias"
        } else {
            "decoder.bias"
        };
        let transform = p.pp("transform");
        Ok(MlmHead {
            vocab_transform: Linear::load(&transform, "dense", c.dim, c.dim)?,
            activation: c.activation,
            vocab_layer_norm: LayerNorm::load(&transform, "LayerNorm", c.dim, c.layer_norm_eps)?,
            vocab_projector: projector(&p, "decoder.weight", bias, c, word_embeddings)?,
        })
    }

    /// Whether `root` holds a DistilBERT MLM head (its transform in f32 or int8).
    pub fn present_distilbert(root: &Prefix<'_>) -> bool {
        ["vocab_transform.weight", "vocab_transform.weight_q"]
            .iter()
            .any(|key| root.contains(key))
    }

    /// Whether `root` holds a BERT MLM head (its transform in f32 or int8).
    pub fn present_bert(root: &Prefix<'_>) -> bool {
        let dense = "cls.predictions.transform.dense";
        ["weight", "weight_q"]
            .iter()
            .any(|w| root.contains(&format!("{dense}.{w}")))
    }

    /// The logits `[rows, vocab]` for the hidden states `x: [rows, dim]` (row-major).
    pub fn forward(&self, k: &Kernels, x: ArrayView2<'_, f32>) -> Array2<f32> {
        let rows = x.nrows();
        let mut h = Array2::zeros((rows, self.vocab_transform.out_dim())); // [rows, dim]
        self.vocab_transform.forward(k, x, h.view_mut());
        self.activation.apply(k, flat_mut(h.view_mut()));
        self.vocab_layer_norm.forward(k, h.view_mut());
        let mut logits = Array2::zeros((rows, self.vocab_projector.out_dim())); // [rows, vocab]
        self.vocab_projector.forward(k, h.view(), logits.view_mut());
        logits
    }
}

/// The projector whose weight is `{p}.{weight}`, tied to `tied` when the file lacks it.
fn projector(
    p: &Prefix<'_>,
    weight: &str,
    bias: &str,
    c: &Config,
    tied: &Tensor2,
) -> Result<Linear> {
    Linear::from_keys(p, weight, bias, (c.vocab_size, c.dim), Some(tied))
}
