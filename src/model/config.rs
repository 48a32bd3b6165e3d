//! `config.json`: the model's hyper-parameters, typed and checked once at load.
//!
//! DistilBERT and BERT spell the same quantities differently (`dim` / `hidden_size`, `n_heads` /
//! `num_attention_heads`, …); both are read into one [`Config`], keyed on `model_type`.

use std::path::Path;

use serde_json::{Map, Value};

pub use super::activation::Activation;
use super::task::Head;
use crate::{files, Error, Result};

/// Which family of checkpoint keys and embeddings the model uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Architecture {
    /// `DistilBertModel` / `DistilBertForMaskedLM`: word + position embeddings.
    DistilBert,
    /// `BertModel` / `BertForMaskedLM`: word + position + token-type embeddings.
    Bert,
}

/// The hyper-parameters that shape the weights and the forward pass.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// DistilBERT or BERT (`model_type`).
    pub architecture: Architecture,
    /// Rows of the word-embedding table, and logits of the MLM head.
    pub vocab_size: usize,
    /// Width of the hidden states (`dim`, `hidden_size`).
    pub dim: usize,
    /// Transformer blocks (`n_layers`, `num_hidden_layers`).
    pub n_layers: usize,
    /// Attention heads per block (`n_heads`, `num_attention_heads`); `dim` is a multiple of it.
    pub n_heads: usize,
    /// Width of the feed-forward network's inner layer (`hidden_dim`, `intermediate_size`).
    pub hidden_dim: usize,
    /// Rows of the position-embedding table: the longest input.
    pub max_position_embeddings: usize,
    /// Rows of the token-type table (BERT only; 0 for DistilBERT).
    pub type_vocab_size: usize,
    /// The ε of every layer norm (`layer_norm_eps` for BERT; DistilBERT's are 1e-12, fixed in
    /// `transformers`).
    pub layer_norm_eps: f32,
    /// The non-linearity of the feed-forward network and the MLM head (`activation`,
    /// `hidden_act`).
    pub activation: Activation,
    /// What the checkpoint was trained for, and its labels (`architectures`, `id2label`, …).
    pub head: Head,
}

/// `config.json` as written: a JSON object whose fields are read by name, so that a field of the
/// wrong type is an error naming that field. Fields of both families are optional here; `null`
/// counts as absent.
struct RawConfig<'a> {
    fields: &'a Map<String, Value>,
    path: &'a Path,
}

impl RawConfig<'_> {
    fn get(&self, name: &str) -> Option<&Value> {
        self.fields.get(name).filter(|v| !v.is_null())
    }

    fn wrong_type(&self, name: &str, expected: &str, value: &Value) -> Error {
        let mut shown = value.to_string();
        if shown.len() > 40 {
            let cut = (0..=37)
                .rev()
                .find(|&i| shown.is_char_boundary(i))
                .unwrap_or(0);
            shown.truncate(cut);
            shown.push_str("...");
        }
        Error::config(
            self.path,
            format!("\"{name}\" must be {expected}, not {shown}"),
        )
    }

    fn integer(&self, name: &str) -> Result<Option<i64>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Number(n)) if n.as_i64().is_some() => Ok(n.as_i64()),
            Some(Value::Number(n)) if n.as_u64().is_some() => Err(Error::config(
                self.path,
                format!("\"{name}\" = {n} is too large"),
            )),
            Some(v) => Err(self.wrong_type(name, "an integer", v)),
        }
    }

    fn float(&self, name: &str) -> Result<Option<f64>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Number(n)) => Ok(n.as_f64()),
            Some(v) => Err(self.wrong_type(name, "a number", v)),
        }
    }

    fn string(&self, name: &str) -> Result<Option<&str>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(v) => Err(self.wrong_type(name, "a string", v)),
        }
    }

    /// The positive size `name`, which must be present.
    fn size(&self, name: &str) -> Result<usize> {
        self.size_or(name, None)
    }

    /// The positive size `name`, or `default` when absent.
    fn size_or(&self, name: &str, default: Option<i64>) -> Result<usize> {
        match self.integer(name)?.or(default) {
            None => Err(Error::config(self.path, format!("\"{name}\" is missing"))),
            Some(v) if v <= 0 => Err(Error::config(
                self.path,
                format!("\"{name}\" must be a positive integer, not {v}"),
            )),
            Some(v) => usize::try_from(v)
                .map_err(|_| Error::config(self.path, format!("\"{name}\" = {v} is too large"))),
        }
    }

    /// The activation `name`; `"gelu"` when absent.
    fn activation(&self, name: &str) -> Result<Activation> {
        let value = self.string(name)?.unwrap_or("gelu");
        Activation::parse(value).ok_or_else(|| {
            Error::config(
                self.path,
                format!("unsupported \"{name}\" {value:?} (expected gelu, gelu_new or relu)"),
            )
        })
    }
}

impl Config {
    /// Reads and checks `path` (a `config.json`).
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = files::read(path)?;
        let value: Value = serde_json::from_slice(&text).map_err(|e| Error::json(path, e))?;
        Config::from_value(&value, path)
    }

    /// Parses `text` as the contents of the `config.json` at `path`.
    pub fn from_json(text: &str, path: &Path) -> Result<Self> {
        let value: Value = serde_json::from_str(text).map_err(|e| Error::json(path, e))?;
        Config::from_value(&value, path)
    }

    fn from_value(value: &Value, path: &Path) -> Result<Self> {
        let Value::Object(fields) = value else {
            return Err(Error::config(path, "the file is not a JSON object"));
        };
        let raw = RawConfig { fields, path };
        let model_type = raw
            .string("model_type")?
            .ok_or_else(|| Error::config(path, "\"model_type\" is missing"))?;
        let config = match model_type {
            "distilbert" => Config {
                architecture: Architecture::DistilBert,
                vocab_size: raw.size("vocab_size")?,
                dim: raw.size("dim")?,
                n_layers: raw.size("n_layers")?,
                n_heads: raw.size("n_heads")?,
                hidden_dim: raw.size("hidden_dim")?,
                max_position_embeddings: raw.size("max_position_embeddings")?,
                type_vocab_size: 0,
                // transformers hard-codes 1e-12 for every DistilBERT LayerNorm.
                layer_norm_eps: 1e-12,
                activation: raw.activation("activation")?,
                head: Head::read(fields, path)?,
            },
            "bert" => {
                if let Some(kind) = raw.string("position_embedding_type")? {
                    if kind != "absolute" {
                        return Err(Error::config(
                            path,
                            format!("position_embedding_type {kind:?} is not supported (only \"absolute\")"),
                        ));
                    }
                }
                Config {
                    architecture: Architecture::Bert,
                    vocab_size: raw.size("vocab_size")?,
                    dim: raw.size("hidden_size")?,
                    n_layers: raw.size("num_hidden_layers")?,
                    n_heads: raw.size("num_attention_heads")?,
                    hidden_dim: raw.size("intermediate_size")?,
                    max_position_embeddings: raw.size("max_position_embeddings")?,
                    type_vocab_size: raw.size_or("type_vocab_size", Some(2))?,
                    layer_norm_eps: match raw.float("layer_norm_eps")? {
                        None => 1e-12,
                        Some(eps) if eps > 0.0 && eps < 1.0 => eps as f32,
                        Some(eps) => {
                            return Err(Error::config(
                                path,
                                format!("\"layer_norm_eps\" must be in (0, 1), not {eps}"),
                            ))
                        }
                    },
                    activation: raw.activation("hidden_act")?,
                    head: Head::read(fields, path)?,
                }
            }
            other => {
                return Err(Error::config(
                    path,
                    format!(
                    "model_type {other:?} is not supported (expected \"distilbert\" or \"bert\")"
                ),
                ))
            }
        };
        config.validate(path)?;
        Ok(config)
    }

    /// Checks what the forward pass relies on.
    fn validate(&self, path: &Path) -> Result<()> {
        if !self.dim.is_multiple_of(self.n_heads) {
            return Err(Error::config(
                path,
                format!(
                    "the width {} is not divisible by the {} attention heads",
                    self.dim, self.n_heads
                ),
            ));
        }
        const LIMIT: usize = 1 << 20;
        for (name, value) in [
            ("vocab_size", self.vocab_size),
            ("dim", self.dim),
            ("hidden_dim", self.hidden_dim),
            ("max_position_embeddings", self.max_position_embeddings),
        ] {
            if value > LIMIT {
                return Err(Error::config(
                    path,
                    format!("{name} = {value} is beyond distil's limit of {LIMIT}"),
                ));
            }
        }
        if self.n_layers > 1024 {
            return Err(Error::config(
                path,
                format!("{} layers is beyond distil's limit of 1024", self.n_layers),
            ));
        }
        Ok(())
    }

    /// Width of one attention head.
    pub fn head_dim(&self) -> usize {
        self.dim / self.n_heads
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config> {
        Config::from_json(text, Path::new("config.json"))
    }

    #[test]
    fn reads_distilbert_base_cased() {
        let c = parse(
            r#"{"model_type": "distilbert", "vocab_size": 28996, "dim": 768, "n_layers": 6,
                "n_heads": 12, "hidden_dim": 3072, "max_position_embeddings": 512,
                "activation": "gelu", "sinusoidal_pos_embds": false}"#,
        )
        .unwrap();
        assert_eq!(c.architecture, Architecture::DistilBert);
        assert_eq!(
            (c.dim, c.n_heads, c.head_dim(), c.hidden_dim),
            (768, 12, 64, 3072)
        );
        assert_eq!(c.activation, Activation::Gelu);
    }

    #[test]
    fn reads_bert() {
        let c = parse(
            r#"{"model_type": "bert", "vocab_size": 30522, "hidden_size": 384,
                "num_hidden_layers": 6, "num_attention_heads": 12, "intermediate_size": 1536,
                "max_position_embeddings": 512, "type_vocab_size": 2, "hidden_act": "gelu",
                "layer_norm_eps": 1e-12}"#,
        )
        .unwrap();
        assert_eq!(c.architecture, Architecture::Bert);
        assert_eq!((c.dim, c.n_layers, c.type_vocab_size), (384, 6, 2));
    }

    #[test]
    fn rejects_indivisible_heads() {
        let err = parse(
            r#"{"model_type": "distilbert", "vocab_size": 10, "dim": 50, "n_layers": 1,
                "n_heads": 3, "hidden_dim": 8, "max_position_embeddings": 8}"#,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "config.json: the width 50 is not divisible by the 3 attention heads"
        );
    }

    #[test]
    fn rejects_unknown_model_type_and_activation() {
        let err = parse(r#"{"model_type": "gpt2"}"#).unwrap_err();
        assert!(
            err.to_string()
                .contains("model_type \"gpt2\" is not supported"),
            "{err}"
        );
        let err = parse(
            r#"{"model_type": "distilbert", "vocab_size": 10, "dim": 6, "n_layers": 1,
                "n_heads": 3, "hidden_dim": 8, "max_position_embeddings": 8, "activation": "swish"}"#,
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("unsupported \"activation\" \"swish\""),
            "{err}"
        );
    }

    #[test]
    fn rejects_zero_and_wrong_types() {
        let err = parse(
            r#"{"model_type": "distilbert", "vocab_size": 10, "dim": 0, "n_layers": 1,
                "n_heads": 3, "hidden_dim": 8, "max_position_embeddings": 8}"#,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "config.json: \"dim\" must be a positive integer, not 0"
        );
        let err =
            parse(r#"{"model_type": "distilbert", "vocab_size": 10, "dim": "768"}"#).unwrap_err();
        assert_eq!(
            err.to_string(),
            "config.json: \"dim\" must be an integer, not \"768\""
        );
        let err = parse(r#"{"model_type": "distilbert", "vocab_size": -5}"#).unwrap_err();
        assert_eq!(
            err.to_string(),
            "config.json: \"vocab_size\" must be a positive integer, not -5"
        );
        let err = parse(r#"{"model_type": ["bert"]}"#).unwrap_err();
        assert_eq!(
            err.to_string(),
            "config.json: \"model_type\" must be a string, not [\"bert\"]"
        );
        assert!(parse("[]").is_err());
    }
}
