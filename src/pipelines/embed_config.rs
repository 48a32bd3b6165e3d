//! The sentence-transformers settings of a model directory, read once when the [`Embed`]
//! pipeline is made:
//! `sentence_bert_config.json` (`max_seq_length`: inputs are truncated to it), `1_Pooling/config.json`
//! (`pooling_mode_mean_tokens`, `pooling_mode_cls_token`, `pooling_mode_max_tokens`) and `modules.json`
//! (a `Normalize` module). Without them: mean pooling, normalised, the model's maximum length.
//!
//! [`Embed`]: super::embed::Embed

use std::path::Path;

use serde::Deserialize;

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
    /// How token vectors become one sentence vector.
    pub pooling: Pooling,
    /// Whether the sentence vector is scaled to unit length.
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
