//! Sentence embeddings, as sentence-transformers computes them: the encoder's last hidden states,
//! pooled over the tokens (mean by default), then L2-normalised when the model asks for it
//! (settings from the model directory: [`EmbedConfig`]).

use ndarray::{Array2, ArrayView2, ArrayViewMut1, Axis};

use super::batches;
use super::embed_config::{EmbedConfig, Pooling};
use crate::engine::{Encoded, Engine};
use crate::Result;

/// The embedding pipeline over an engine, with the model directory's pooling settings.
pub struct Embed<'e> {
    engine: &'e Engine,
    config: EmbedConfig,
}

/// The embeddings of a list of texts.
#[derive(Clone, Debug, PartialEq)]
pub struct Embeddings {
    /// One row per text, in input order: `[texts, dim]`.
    pub vectors: Array2<f32>,
    /// Per text, the word pieces truncation dropped (0 when it fit).
    pub truncated: Vec<usize>,
}

impl<'e> Embed<'e> {
    /// The pipeline for `engine`, with the settings of its model directory
    /// ([`EmbedConfig::from_dir`]).
    pub fn new(engine: &'e Engine) -> Result<Self> {
        let config = EmbedConfig::from_dir(engine.dir())?;
        Ok(Embed::with_config(engine, config))
    }

    /// The pipeline for `engine` with the given settings.
    pub fn with_config(engine: &'e Engine, config: EmbedConfig) -> Self {
        Embed { engine, config }
    }

    /// The settings in use.
    pub fn config(&self) -> &EmbedConfig {
        &self.config
    }

    /// The longest input in tokens: the model's, or the directory's `max_seq_length` if shorter.
    pub fn max_length(&self) -> usize {
        let model = self.engine.max_length();
        self.config.max_seq_length.map_or(model, |n| n.min(model))
    }

    /// One embedding per text, each truncated to [`Embed::max_length`] tokens.
    pub fn run(&self, texts: &[&str]) -> Result<Embeddings> {
        let max_length = self.max_length();
        let encoded: Vec<Encoded> = texts
            .iter()
            .map(|t| self.engine.encode(t, max_length))
            .collect();
        self.run_encoded(&encoded)
    }

    /// [`Embed::run`] on texts already tokenized with [`Engine::encode`].
    pub fn run_encoded(&self, inputs: &[Encoded]) -> Result<Embeddings> {
        let dim = self.engine.config().dim;
        let mut vectors = Array2::zeros((inputs.len(), dim)); // [texts, dim]
        let lens: Vec<usize> = inputs.iter().map(|e| e.ids.len()).collect();
        for group in batches(&lens, self.engine.max_batch_tokens()) {
            let seqs: Vec<&[u32]> = inputs[group.clone()]
                .iter()
                .map(|e| e.ids.as_slice())
                .collect();
            let hidden = self.engine.forward(&seqs)?;
            let mut out = vectors.slice_axis_mut(Axis(0), group.into());
            for (states, mut v) in hidden.sequences().zip(out.axis_iter_mut(Axis(0))) {
                pool(states, self.config.pooling, v.view_mut());
                if self.config.normalize {
                    normalize(v);
                }
            }
        }
        Ok(Embeddings {
            vectors,
            truncated: inputs.iter().map(|e| e.truncated).collect(),
        })
    }
}

/// `out ← pooling(states)`: one `[dim]` vector from the token vectors `states: [tokens, dim]`.
pub fn pool(states: ArrayView2<'_, f32>, pooling: Pooling, mut out: ArrayViewMut1<'_, f32>) {
    match pooling {
        Pooling::Cls => out.assign(&states.row(0)),
        Pooling::Mean => {
            out.fill(0.0);
            for token in states.rows() {
                out += &token;
            }
            out /= states.nrows() as f32;
        }
        Pooling::Max => {
            out.fill(f32::NEG_INFINITY);
            for token in states.rows() {
                out.zip_mut_with(&token, |m, &v| *m = m.max(v));
            }
        }
    }
}

/// `v ← v / max(‖v‖₂, 1e-12)`, as `torch.nn.functional.normalize`.
pub fn normalize(mut v: ArrayViewMut1<'_, f32>) {
    let norm = v.dot(&v).sqrt().max(1e-12);
    v /= norm;
}

#[cfg(test)]
mod tests {
    use ndarray::{arr1, arr2, Array1};

    use super::*;

    #[test]
    fn mean_cls_and_max_pooling() {
        let states = arr2(&[[1.0, 2.0], [3.0, -4.0]]); // two tokens of width 2
        let mut out = Array1::zeros(2);
        pool(states.view(), Pooling::Mean, out.view_mut());
        assert_eq!(out, arr1(&[2.0, -1.0]));
        pool(states.view(), Pooling::Cls, out.view_mut());
        assert_eq!(out, arr1(&[1.0, 2.0]));
        pool(states.view(), Pooling::Max, out.view_mut());
        assert_eq!(out, arr1(&[3.0, 2.0]));
    }

    #[test]
    fn normalizes_to_unit_length() {
        let mut v = arr1(&[3.0, 4.0]);
        normalize(v.view_mut());
        assert_eq!(v, arr1(&[0.6, 0.8]));
        let mut zero = arr1(&[0.0, 0.0]);
        normalize(zero.view_mut());
        assert_eq!(zero, arr1(&[0.0, 0.0]));
    }
}
