//! The encoder: embeddings, a stack of transformer blocks, and optionally the MLM head.
//!
//! [`Model::forward`] (through `forward_group`) reads top to bottom like the reference:
//! embed, then per layer attention + residual + norm, FFN + residual + norm.

mod activation;
mod attention;
mod block;
pub mod config;
mod embeddings;
mod ffn;
mod hidden;
mod layer_norm;
mod linear;
mod mlm_head;
#[cfg(feature = "profile")]
pub mod profile;
#[cfg(not(feature = "profile"))]
mod profile;
mod scratch;
pub mod task;
mod task_head;

use std::ops::Range;

use distil_kernels::Kernels;
use ndarray::{Array2, ArrayView2, ArrayViewMut2, Axis};
use rayon::prelude::*;

pub use config::{Activation, Architecture, Config};
pub use hidden::Hidden;
pub use task::{Head, ProblemType, Task};

use crate::weights::{FiniteCheck, Weights};
use crate::{Dtype, Error, Result};
use block::TransformerBlock;
use embeddings::Embeddings;
use linear::Linear;
use mlm_head::MlmHead;
use profile::{Op, Profiler};
use scratch::{Scratch, ScratchPool};
use task_head::TaskHead;

/// The elements of an activation, row-major, for the kernels (which take contiguous slices).
///
/// Cannot fail: every activation is made by `Array2::zeros` (row-major, contiguous) and handed to
/// the kernels whole or as a range of its rows (`slice_axis(Axis(0), …)`), which stays contiguous.
fn flat(x: ArrayView2<'_, f32>) -> &[f32] {
    x.to_slice()
        .expect("activations are row-major arrays or row ranges of them")
}

/// [`flat`], writable.
fn flat_mut(x: ArrayViewMut2<'_, f32>) -> &mut [f32] {
    x.into_slice()
        .expect("activations are row-major arrays or row ranges of them")
}

/// A loaded encoder, ready to run.
pub struct Model {
    config: Config,
    kernels: Kernels,
    embeddings: Embeddings,
    layers: Vec<TransformerBlock>,
    mlm_head: Option<MlmHead>,
    /// The head of `config.head.task`, when it is one of the fine-tuned tasks.
    task_head: Option<TaskHead>,
    dtype: Dtype,
    stored_dtype: &'static str,
    /// The scan of the weights for NaN and infinities, run when an output is not finite.
    finite: FiniteCheck,
    /// Activation buffers kept between forward passes.
    scratch: ScratchPool,
}

/// Tokens per thread, at least, for a batch to be cut into groups or a sequence's layers into runs
/// of rows ([`Model::forward`]).
const PART_ROWS: usize = 64;

/// `batch` cut into at most `groups` runs of whole sequences with about as many tokens each.
fn split_by_tokens(batch: &[&[u32]], groups: usize) -> Vec<Range<usize>> {
    let total: usize = batch.iter().map(|seq| seq.len()).sum();
    let mut runs = Vec::with_capacity(groups);
    let (mut start, mut seen) = (0, 0);
    for (i, seq) in batch.iter().enumerate() {
        seen += seq.len();
        // A run ends once the runs so far hold their share of the tokens.
        if runs.len() + 1 < groups && seen * groups >= total * (runs.len() + 1) {
            runs.push(start..i + 1);
            start = i + 1;
        }
    }
    if start < batch.len() {
        runs.push(start..batch.len());
    }
    runs
}

impl Model {
    /// Builds the model described by `config` from `weights`, accepting the key layouts real
    /// checkpoints use: `DistilBertForMaskedLM` (`distilbert.` prefix + head), bare
    /// `DistilBertModel`, `BertForMaskedLM` (`bert.` prefix + `cls.predictions`) and bare `BertModel`.
    ///
    /// With [`Dtype::Bf16`], every linear layer's weight is rounded to bf16 once loaded, and with
    /// [`Dtype::Int8`] quantized per output channel (the word embeddings stay f32; a projector
    /// tied to them gets a copy of its own).
    pub(crate) fn load(
        config: Config,
        weights: &Weights,
        kernels: Kernels,
        dtype: Dtype,
    ) -> Result<Model> {
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
        let task_head = TaskHead::load(&root, &body, c)?;
        let mut model = Model {
            dtype,
            stored_dtype: weights.dominant_dtype(),
            finite: weights.finite_check(),
            scratch: ScratchPool::default(),
            config,
            kernels,
            embeddings,
            layers,
            mlm_head,
            task_head,
        };
        // A checkpoint from `distil quantize` is used as it was written: its int8 layers in
        // int8, the layers it kept as they are.
        let stored_i8 = model.linears().any(|l| l.i8_rows().is_some());
        match dtype {
            _ if stored_i8 && dtype != Dtype::Int8 => {
                return Err(Error::weights(
                    weights.path(),
                    format!("holds int8 weights (written by distil quantize); load it with --dtype int8, not {dtype}"),
                ))
            }
            Dtype::F32 => {}
            Dtype::Bf16 => model.linears_mut().for_each(Linear::round_to_bf16),
            Dtype::Int8 if stored_i8 => {}
            Dtype::Int8 => model.quantize_linears(|_| true),
        }
        Ok(model)
    }

    /// Quantizes to int8 the f32 linear layers whose weight key `which` accepts (the dtype becomes
    /// int8, with the others left as they are).
    pub(crate) fn quantize_linears(&mut self, which: impl Fn(&str) -> bool) {
        self.dtype = Dtype::Int8;
        self.linears_mut()
            .filter(|l| which(&l.key))
            .for_each(Linear::quantize_to_i8)
    }

    /// The weight keys of the linear layers: each block's four projections and two feed-forward
    /// layers, then the MLM head's transform and projector.
    pub fn linear_keys(&self) -> Vec<String> {
        self.linears().map(|l| l.key.clone()).collect()
    }

    /// Every linear layer: each block's four projections and two feed-forward layers, then the
    /// MLM head's transform and projector.
    pub(crate) fn linears(&self) -> impl Iterator<Item = &Linear> {
        let layers = self.layers.iter().flat_map(|l| {
            let (a, f) = (&l.attention, &l.ffn);
            [&a.q_lin, &a.k_lin, &a.v_lin, &a.out_lin, &f.lin1, &f.lin2]
        });
        let head = self
            .mlm_head
            .iter()
            .flat_map(|h| [&h.vocab_transform, &h.vocab_projector]);
        layers.chain(head)
    }

    /// [`Model::linears`], to change them.
    fn linears_mut(&mut self) -> impl Iterator<Item = &mut Linear> {
        let layers = self.layers.iter_mut().flat_map(|l| {
            let (a, f) = (&mut l.attention, &mut l.ffn);
            [
                &mut a.q_lin,
                &mut a.k_lin,
                &mut a.v_lin,
                &mut a.out_lin,
                &mut f.lin1,
                &mut f.lin2,
            ]
        });
        let head = self
            .mlm_head
            .iter_mut()
            .flat_map(|h| [&mut h.vocab_transform, &mut h.vocab_projector]);
        layers.chain(head)
    }

    /// Scans every weight for NaN and infinities now (once: later calls repeat the finding), and
    /// names the first tensor that holds one. Without this call the scan runs when an output
    /// first comes out non-finite (see `weights.rs`); `distil serve` calls it at start.
    pub fn check_weights(&self) -> Result<()> {
        self.finite.run()
    }

    /// The hyper-parameters.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The kernels in use.
    pub(crate) fn kernels(&self) -> Kernels {
        self.kernels
    }

    /// The dtype the linear layers compute with.
    pub fn dtype(&self) -> Dtype {
        self.dtype
    }

    /// What attention's two products multiply in (`Attention::products`): bf16 pairs under int8
    /// where the kernels multiply bf16 in pairs, f32 otherwise.
    pub fn attention_dtype(&self) -> Dtype {
        self.layers
            .first()
            .map_or(Dtype::F32, |layer| layer.attention.products(&self.kernels))
    }

    /// The dtype most of the checkpoint's bytes are stored in (`f32`, `f16`, `bf16` or `int8`).
    pub fn stored_dtype(&self) -> &'static str {
        self.stored_dtype
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
    ///
    /// The threads share the pass as measured best (2 threads on the Xeon of issue 13, interleaved
    /// runs). A batch of several sequences and at least 64 tokens per thread (`PART_ROWS`) is cut
    /// into one group of whole sequences per thread, with about as many tokens each, and each
    /// group runs alone (8 × 128 tokens: 0.80× the time of sharing every layer). One sequence of
    /// that many tokens runs each layer's token-wise steps on one run of rows per thread
    /// (`block.rs`; 1 × 128: 0.85×). Fewer tokens share each linear layer by blocks of columns,
    /// since splitting them would make every thread read every weight, the bound at a few tokens.
    /// When profiling, nothing is split, so that each operation's time is its own.
    pub fn forward(&self, batch: &[&[u32]]) -> Result<Hidden> {
        let singles: Vec<usize> = batch.iter().map(|seq| seq.len()).collect();
        self.run_forward(batch, &singles, &Profiler::off())
    }

    /// [`Model::forward`] for inputs of two segments, as a sentence pair is (`[CLS] a [SEP] b
    /// [SEP]`): the second segment of sequence `i` starts at its token `second[i]` (its length
    /// when it has one segment). BERT adds token type 1 to the second segment's tokens (the
    /// tokenizer's `token_type_ids`); DistilBERT has no token types and ignores it.
    pub fn forward_segments(&self, batch: &[&[u32]], second: &[usize]) -> Result<Hidden> {
        self.run_forward(batch, second, &Profiler::off())
    }

    /// [`Model::forward`], timing each operation into `prof`.
    #[cfg(feature = "profile")]
    pub fn forward_profiled(&self, batch: &[&[u32]], prof: &Profiler) -> Result<Hidden> {
        let singles: Vec<usize> = batch.iter().map(|seq| seq.len()).collect();
        self.run_forward(batch, &singles, prof)
    }

    fn run_forward(&self, batch: &[&[u32]], second: &[usize], prof: &Profiler) -> Result<Hidden> {
        if second.len() != batch.len() {
            return Err(Error::input(format!(
                "{} inputs but {} second-segment starts",
                batch.len(),
                second.len()
            )));
        }
        for (i, (seq, &second)) in batch.iter().zip(second).enumerate() {
            self.check_sequence(i, seq)?;
            if second > seq.len() {
                return Err(Error::input(format!(
                    "input {i}'s second segment starts at token {second}, past its {} tokens",
                    seq.len()
                )));
            }
            let bert = self.config.architecture == Architecture::Bert;
            if bert && second < seq.len() && self.config.type_vocab_size < 2 {
                return Err(Error::input(format!(
                    "input {i} is a pair of texts, but the model has one token type"
                )));
            }
        }
        let threads = match prof.is_on() {
            true => 1,
            false => rayon::current_num_threads(),
        };
        let tokens: usize = batch.iter().map(|seq| seq.len()).sum();
        let split = threads > 1 && tokens >= PART_ROWS * threads;
        let hidden = if split && batch.len() > 1 {
            let groups: Vec<Hidden> = split_by_tokens(batch, threads)
                .into_par_iter()
                .map(|group| self.forward_group(&batch[group.clone()], &second[group], 1, prof))
                .collect();
            Hidden::concat(groups, self.config.dim)
        } else {
            let parts = if split { threads } else { 1 };
            self.forward_group(batch, second, parts, prof)
        };
        self.finite.run_unless_finite(flat(hidden.states.view()))?;
        Ok(hidden)
    }

    /// The forward pass of one group of sequences, each layer's token-wise steps on `parts` runs of
    /// rows.
    fn forward_group(
        &self,
        batch: &[&[u32]],
        second: &[usize],
        parts: usize,
        prof: &Profiler,
    ) -> Hidden {
        let c = &self.config;
        let k = &self.kernels;
        let mut seqs = Vec::with_capacity(batch.len());
        let mut ids = Vec::new();
        let mut positions = Vec::new();
        let mut types = Vec::new();
        for (seq, &second) in batch.iter().zip(second) {
            let start = ids.len();
            ids.extend_from_slice(seq);
            positions.extend(0..seq.len() as u32);
            types.extend((0..seq.len()).map(|i| u32::from(i >= second)));
            seqs.push(start..ids.len());
        }
        let rows = ids.len();
        let longest = batch.iter().map(|seq| seq.len()).max().unwrap_or(0);
        let mut scratch = Scratch::new(k, c, rows, longest, &self.scratch);

        // Embeddings: x = LayerNorm(word + position (+ token type)).
        let mut x = Array2::zeros((rows, c.dim)); // [rows, dim]
        prof.time(Op::Embeddings, 0.0, || {
            self.embeddings
                .forward(k, &ids, &positions, &types, x.view_mut())
        });
        // Transformer blocks.
        for layer in &self.layers {
            layer.forward(k, &mut x, &seqs, &mut scratch, parts, prof); // [rows, dim]
        }
        scratch.recycle(&self.scratch);
        Hidden { states: x, seqs }
    }

    /// MLM logits `[rows.len(), vocab]` at the given token rows of `hidden` (rows of
    /// [`Hidden::states`]).
    pub fn mlm_logits(&self, hidden: &Hidden, rows: &[usize]) -> Result<Array2<f32>> {
        self.run_mlm_logits(hidden, rows, &Profiler::off())
    }

    /// The MLM head's probabilities `[rows.len(), vocab]`: a softmax over the vocabulary of each
    /// row of [`Model::mlm_logits`].
    pub fn mlm_probabilities(&self, hidden: &Hidden, rows: &[usize]) -> Result<Array2<f32>> {
        self.run_mlm_probabilities(hidden, rows, &Profiler::off())
    }

    /// [`Model::mlm_probabilities`], timed into `prof`.
    #[cfg(feature = "profile")]
    pub fn mlm_probabilities_profiled(
        &self,
        hidden: &Hidden,
        rows: &[usize],
        prof: &Profiler,
    ) -> Result<Array2<f32>> {
        self.run_mlm_probabilities(hidden, rows, prof)
    }

    fn run_mlm_probabilities(
        &self,
        hidden: &Hidden,
        rows: &[usize],
        prof: &Profiler,
    ) -> Result<Array2<f32>> {
        let mut probs = self.run_mlm_logits(hidden, rows, prof)?;
        let vocab = probs.ncols();
        let probs_flat = flat_mut(probs.view_mut());
        prof.time(Op::MlmHead, 0.0, || {
            self.kernels.softmax_rows(probs_flat, vocab)
        });
        Ok(probs)
    }

    fn run_mlm_logits(
        &self,
        hidden: &Hidden,
        rows: &[usize],
        prof: &Profiler,
    ) -> Result<Array2<f32>> {
        let head = self.mlm_head.as_ref().ok_or_else(|| {
            Error::model("this model has no masked-language-model head (its weights hold only the encoder), so it cannot fill masks")
        })?;
        let tokens = hidden.states.nrows();
        if let Some(&bad) = rows.iter().find(|&&r| r >= tokens) {
            return Err(Error::input(format!(
                "MLM head asked for row {bad} of hidden states that have {tokens} rows"
            )));
        }
        let x = hidden.states.select(Axis(0), rows); // [rows, dim]
        let flops = self.flops(&[], rows.len());
        let logits = prof.time(Op::MlmHead, flops, || head.forward(&self.kernels, x.view()));
        self.finite.run_unless_finite(flat(logits.view()))?;
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

#[cfg(test)]
mod tests {
    use super::split_by_tokens;

    #[test]
    fn groups_are_whole_sequences_with_about_as_many_tokens() {
        let seq = |n: usize| vec![0u32; n];
        let (a, b, c, d) = (seq(100), seq(10), seq(60), seq(40));
        let batch: Vec<&[u32]> = vec![&a, &b, &c, &d];
        assert_eq!(split_by_tokens(&batch, 2), [0..2, 2..4]);
        assert_eq!(split_by_tokens(&batch, 3), [0..1, 1..3, 3..4]);
        assert_eq!(split_by_tokens(&batch, 8), [0..1, 1..2, 2..3, 3..4]);
        assert_eq!(split_by_tokens(&batch, 1), vec![0..4]);
        let even: Vec<&[u32]> = vec![&d; 8];
        assert_eq!(split_by_tokens(&even, 2), [0..4, 4..8]);
    }
}
