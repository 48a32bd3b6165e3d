//! Sentence embeddings, as sentence-transformers computes them: the encoder's last hidden states,
//! pooled over the tokens (mean by default), then L2-normalised when the model asks for it.
//!
//! The model directory's sentence-transformers files are honoured when present:
//! `sentence_bert_config.json` (`max_seq_length`: inputs are truncated to it), `1_Pooling/config.json`
//! (`pooling_mode_mean_tokens`, `pooling_mode_cls_token`, `pooling_mode_max_tokens`) and `modules.json`
//! (a `Normalize` module). Without them: mean pooling, normalised, the model's maximum length.

use std::path::Path;

use serde::Deserialize;

use super::batches;
use crate::engine::Engine;
use crate::{files, Error, Result};

/// How token vectors become one sentence vector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pooling {
    /// The mean over all tokens, `[CLS]` and `[SEP]` included (sentence-transformers' default).
    Mean,
    /// The `[CLS]` token's vector.
    Cls,
    /// The element-wise maximum over tokens.
    Max,
}

/// The sentence-transformers settings of a model directory.
#[derive(Clone, Debug, PartialEq)]
pub struct EmbedConfig {
    pub pooling: Pooling,
    pub normalize: bool,
    /// Longest input in tokens (`[CLS]`/`[SEP]` included); `None` for the model's maximum.
    pub max_seq_length: Option<usize>,
}

#[derive(Deserialize)]
struct SentenceBertConfig {
    max_seq_length: Option<usize>,
}

#[derive(Deserialize)]
struct PoolingConfig {
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
}

#[derive(Deserialize)]
struct Module {
    #[serde(rename = "type")]
    kind: String,
}

impl EmbedConfig {
    /// Reads the sentence-transformers files of `dir`, each optional.
    pub fn from_dir(dir: &Path) -> Result<Self> {
        let max_seq_length =
            read_json::<SentenceBertConfig>(&dir.join("sentence_bert_config.json"))?
                .and_then(|c| c.max_seq_length);
        let pooling_path = dir.join("1_Pooling").join("config.json");
        let pooling = match read_json::<PoolingConfig>(&pooling_path)? {
            None => Pooling::Mean,
            Some(p) => match (p.pooling_mode_mean_tokens, p.pooling_mode_cls_token, p.pooling_mode_max_tokens) {
                (true, false, false) => Pooling::Mean,
                (false, true, false) => Pooling::Cls,
                (false, false, true) => Pooling::Max,
                _ => {
                    return Err(Error::config(
                        &pooling_path,
                        "exactly one of pooling_mode_mean_tokens, pooling_mode_cls_token and pooling_mode_max_tokens must be true",
                    ))
                }
            },
        };
        let normalize = match read_json::<Vec<Module>>(&dir.join("modules.json"))? {
            None => true,
            Some(modules) => modules.iter().any(|m| m.kind.ends_with(".Normalize")),
        };
        Ok(EmbedConfig {
            pooling,
            normalize,
            max_seq_length,
        })
    }
}

/// `path` parsed as `T`, or `None` when the file does not exist.
fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    match files::read_optional(path)? {
        Some(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::json(path, e)),
        None => Ok(None),
    }
}

impl Engine {
    /// One embedding per text, `dim` floats each.
    pub fn embed(&self, texts: &[&str], config: &EmbedConfig) -> Result<Vec<Vec<f32>>> {
        let max_length = config
            .max_seq_length
            .map_or(self.max_length(), |n| n.min(self.max_length()));
        let encoded: Vec<Vec<u32>> = texts
            .iter()
            .map(|t| self.encode(t, max_length).ids)
            .collect();
        let lens: Vec<usize> = encoded.iter().map(Vec::len).collect();
        let dim = self.model().config().dim;
        let mut out = Vec::with_capacity(texts.len());
        for group in batches(&lens) {
            let seqs: Vec<&[u32]> = encoded[group].iter().map(Vec::as_slice).collect();
            let hidden = self.install(|| self.model().forward(&seqs))?;
            for s in 0..seqs.len() {
                let mut v = pool(hidden.sequence(s), dim, config.pooling);
                if config.normalize {
                    normalize(&mut v);
                }
                out.push(v);
            }
        }
        Ok(out)
    }
}

/// Pools `states` (`[tokens, dim]`) into one `dim`-vector.
pub fn pool(states: &[f32], dim: usize, pooling: Pooling) -> Vec<f32> {
    let tokens = states.chunks_exact(dim);
    match pooling {
        Pooling::Cls => states[..dim].to_vec(),
        Pooling::Mean => {
            let n = tokens.len() as f32;
            let mut sum = vec![0.0; dim];
            for t in tokens {
                sum.iter_mut().zip(t).for_each(|(s, v)| *s += v);
            }
            sum.iter_mut().for_each(|s| *s /= n);
            sum
        }
        Pooling::Max => {
            let mut max = vec![f32::NEG_INFINITY; dim];
            for t in tokens {
                max.iter_mut().zip(t).for_each(|(m, v)| *m = m.max(*v));
            }
            max
        }
    }
}

/// `v ← v / max(‖v‖₂, 1e-12)`, as `torch.nn.functional.normalize`.
pub fn normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    v.iter_mut().for_each(|x| *x /= norm);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_cls_and_max_pooling() {
        let states = [1.0, 2.0, 3.0, -4.0]; // two tokens of width 2
        assert_eq!(pool(&states, 2, Pooling::Mean), vec![2.0, -1.0]);
        assert_eq!(pool(&states, 2, Pooling::Cls), vec![1.0, 2.0]);
        assert_eq!(pool(&states, 2, Pooling::Max), vec![3.0, 2.0]);
    }

    #[test]
    fn normalizes_to_unit_length() {
        let mut v = vec![3.0, 4.0];
        normalize(&mut v);
        assert_eq!(v, vec![0.6, 0.8]);
        let mut zero = vec![0.0, 0.0];
        normalize(&mut zero);
        assert_eq!(zero, vec![0.0, 0.0]);
    }
}
