//! The encoder: embeddings, a stack of transformer blocks, and optionally the MLM head.
//!
//! [`Model::forward`] reads top to bottom like the reference:
//! embed, then per layer attention + residual + norm, FFN + residual + norm.

mod attention;
mod block;
pub mod config;
mod embeddings;
mod ffn;
mod layer_norm;
mod linear;
mod mlm_head;
#[cfg(feature = "profile")]
pub mod profile;
#[cfg(not(feature = "profile"))]
mod profile;
mod scratch;

use std::ops::Range;

use distil_kernels::Kernels;

pub use config::{Activation, Architecture, Config};

use crate::weights::Weights;
use crate::{Error, Result};
use block::TransformerBlock;
use embeddings::Embeddings;
use mlm_head::MlmHead;
use profile::{Op, Profiler};
use scratch::Scratch;

/// A loaded encoder, ready to run.
pub struct Model {
    config: Config,
    kernels: Kernels,
    embeddings: Embeddings,
    layers: Vec<TransformerBlock>,
    mlm_head: Option<MlmHead>,
    dtype: &'static str,
}

/// The last hidden states of a batch: its sequences one after another, unpadded.
pub struct Hidden {
    /// `[tokens, dim]`, row-major.
    pub states: Vec<f32>,
    /// The rows of each sequence, in batch order.
    pub seqs: Vec<Range<usize>>,
    pub dim: usize,
}

impl Hidden {
    /// The hidden states of sequence `i`: `[len, dim]`.
    pub fn sequence(&self, i: usize) -> &[f32] {
        let r = &self.seqs[i];
        &self.states[r.start * self.dim..r.end * self.dim]
    }
}

impl Model {
    /// Builds the model described by `config` from `weights`, accepting the key layouts real
    /// checkpoints use: `DistilBertForMaskedLM` (`distilbert.` prefix + head), bare
    /// `DistilBertModel`, `BertForMaskedLM` (`bert.` prefix + `cls.predictions`) and bare `BertModel`.
    pub fn load(config: Config, weights: &Weights, kernels: Kernels) -> Result<Model> {
        let root = weights.root();
        let c = &config;
        let (base, layers_key) = match c.architecture {
            Architecture::DistilBert => ("distilbert", "transformer.layer"),
            Architecture::Bert => ("bert", "encoder.layer"),
        };
        let body = if root.contains(&format!("{base}.embeddings.word_embeddings.weight")) {
            root.pp(base)
        } else {
            root.clone()
        };
        let embeddings = Embeddings::load(&body, c)?;
        let layers = (0..c.n_layers)
            .map(|i| {
                let p = body.pp(format!("{layers_key}.{i}"));
                match c.architecture {
                    Architecture::DistilBert => TransformerBlock::load_distilbert(&p, c),
                    Architecture::Bert => TransformerBlock::load_bert(&p, c),
                }
            })
            .collect::<Result<Vec<_>>>()?;
        let words = &embeddings.word_embeddings;
        let mlm_head = match c.architecture {
            Architecture::DistilBert if MlmHead::present_distilbert(&root) => {
                Some(MlmHead::load_distilbert(&root, c, words)?)
            }
            Architecture::Bert if MlmHead::present_bert(&root) => {
                Some(MlmHead::load_bert(&root, c, words)?)
            }
            _ => None,
        };
        Ok(Model {
            dtype: weights.dominant_dtype(),
            config,
            kernels,
            embeddings,
            layers,
            mlm_head,
        })
    }

    /// The hyper-parameters.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The kernels in use.
    pub fn kernels(&self) -> Kernels {
        self.kernels
    }

    /// The dtype the weights were stored in (`f32`, `f16` or `bf16`); compute is f32.
    pub fn dtype(&self) -> &'static str {
        self.dtype
    }

    /// Whether the model has a masked-language-model head (can fill masks).
    pub fn has_mlm_head(&self) -> bool {
        self.mlm_head.is_some()
    }

    /// Floating-point operations of a forward pass over sequences of `seq_lens` tokens, with the MLM
    /// head at `head_rows` positions (a multiply-add counts as two).
    pub fn flops(&self, seq_lens: &[usize], head_rows: usize) -> f64 {
        let c = &self.config;
        let (d, h) = (c.dim as f64, c.hidden_dim as f64);
        let tokens: f64 = seq_lens.iter().map(|&n| n as f64).sum();
        // q, k, v, out projections and the two FFN layers.
        let linear = 2.0 * tokens * (4.0 * d * d + 2.0 * d * h);
        // q·kᵀ and p·v: 2·n²·d each per sequence.
        let attention: f64 = seq_lens.iter().map(|&n| 4.0 * (n as f64).powi(2) * d).sum();
        let head = 2.0 * head_rows as f64 * (d * d + d * c.vocab_size as f64);
        c.n_layers as f64 * (linear + attention) + head
    }

    /// The last hidden states of a batch of token-id sequences, on the current rayon pool.
    pub fn forward(&self, batch: &[&[u32]]) -> Result<Hidden> {
        self.run_forward(batch, &Profiler::off())
    }

    /// [`Model::forward`], timing each operation into `prof`.
    #[cfg(feature = "profile")]
    pub fn forward_profiled(&self, batch: &[&[u32]], prof: &Profiler) -> Result<Hidden> {
        self.run_forward(batch, prof)
    }

    fn run_forward(&self, batch: &[&[u32]], prof: &Profiler) -> Result<Hidden> {
        let c = &self.config;
        let k = &self.kernels;
        let mut seqs = Vec::with_capacity(batch.len());
        let mut ids = Vec::new();
        let mut positions = Vec::new();
        for (i, seq) in batch.iter().enumerate() {
            self.check_sequence(i, seq)?;
            let start = ids.len();
            ids.extend_from_slice(seq);
            positions.extend(0..seq.len() as u32);
            seqs.push(start..ids.len());
        }
        let rows = ids.len();
        let mut scratch = Scratch::new(c, rows);

        // Embeddings: x = LayerNorm(word + position (+ token type)).          [rows, dim]
        let mut x = vec![0.0; rows * c.dim];
        prof.time(Op::Embeddings, 0.0, || {
            self.embeddings.forward(k, &ids, &positions, &mut x)
        });
        // Transformer blocks.                                                  [rows, dim]
        for layer in &self.layers {
            layer.forward(k, &mut x, &seqs, &mut scratch, prof);
        }
        Ok(Hidden {
            states: x,
            seqs,
            dim: c.dim,
        })
    }

    /// MLM logits `[rows.len(), vocab]` at the given token rows of `hidden`.
    pub fn mlm_logits(&self, hidden: &Hidden, rows: &[usize]) -> Result<Vec<f32>> {
        self.run_mlm_logits(hidden, rows, &Profiler::off())
    }

    /// [`Model::mlm_logits`], timed into `prof`.
    #[cfg(feature = "profile")]
    pub fn mlm_logits_profiled(
        &self,
        hidden: &Hidden,
        rows: &[usize],
        prof: &Profiler,
    ) -> Result<Vec<f32>> {
        self.run_mlm_logits(hidden, rows, prof)
    }

    fn run_mlm_logits(&self, hidden: &Hidden, rows: &[usize], prof: &Profiler) -> Result<Vec<f32>> {
        let head = self.mlm_head.as_ref().ok_or_else(|| {
            Error::model("this model has no masked-language-model head (its weights hold only the encoder), so it cannot fill masks")
        })?;
        let dim = self.config.dim;
        let tokens = hidden.states.len() / dim;
        if let Some(&bad) = rows.iter().find(|&&r| r >= tokens) {
            return Err(Error::input(format!(
                "MLM head asked for row {bad} of hidden states that have {tokens} rows"
            )));
        }
        let mut x = Vec::with_capacity(rows.len() * dim);
        for &r in rows {
            x.extend_from_slice(&hidden.states[r * dim..(r + 1) * dim]);
        }
        let mut logits = vec![0.0; rows.len() * self.config.vocab_size];
        let flops = self.flops(&[], rows.len());
        prof.time(Op::MlmHead, flops, || {
            head.forward(&self.kernels, &x, rows.len(), &mut logits)
        });
        Ok(logits)
    }

    fn check_sequence(&self, i: usize, seq: &[u32]) -> Result<()> {
        let c = &self.config;
        if seq.is_empty() {
            return Err(Error::input(format!("input {i} has no tokens")));
        }
        if seq.len() > c.max_position_embeddings {
            return Err(Error::input(format!(
                "input {i} has {} tokens, more than the model's {} positions",
                seq.len(),
                c.max_position_embeddings
            )));
        }
        if let Some(&bad) = seq.iter().find(|&&id| id as usize >= c.vocab_size) {
            return Err(Error::input(format!(
                "input {i} has token id {bad}, outside the vocabulary of {}",
                c.vocab_size
            )));
        }
        Ok(())
    }
}
