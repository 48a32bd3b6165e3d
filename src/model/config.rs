//! `config.json`: the model's hyper-parameters, typed and checked once at load.
//!
//! DistilBERT and BERT spell the same quantities differently (`dim` / `hidden_size`, `n_heads` /
//! `num_attention_heads`, …); both are read into one [`Config`], keyed on `model_type`.

use std::path::Path;

use serde::Deserialize;

use crate::{Error, Result};

/// Which family of checkpoint keys and embeddings the model uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Architecture {
    /// `DistilBertModel` / `DistilBertForMaskedLM`: word + position embeddings.
    DistilBert,
    /// `BertModel` / `BertForMaskedLM`: word + position + token-type embeddings.
    Bert,
}

/// The non-linearity of the feed-forward network and the MLM head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    /// `x/2 · (1 + erf(x/√2))` (`"gelu"`).
    Gelu,
    /// The tanh approximation (`"gelu_new"`, `"gelu_pytorch_tanh"`).
    GeluTanh,
    /// `max(x, 0)` (`"relu"`).
    Relu,
}

impl Activation {
    fn parse(name: &str) -> Option<Self> {
        match name {
            "gelu" => Some(Activation::Gelu),
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Some(Activation::GeluTanh),
            "relu" => Some(Activation::Relu),
            _ => None,
        }
    }
}

/// The hyper-parameters that shape the weights and the forward pass.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub architecture: Architecture,
    pub vocab_size: usize,
    /// Width of the hidden states (`dim`, `hidden_size`).
    pub dim: usize,
    pub n_layers: usize,
    pub n_heads: usize,
    /// Width of the feed-forward network's inner layer (`hidden_dim`, `intermediate_size`).
    pub hidden_dim: usize,
    pub max_position_embeddings: usize,
    /// Rows of the token-type table (BERT only; 0 for DistilBERT).
    pub type_vocab_size: usize,
    pub layer_norm_eps: f32,
    pub activation: Activation,
}

/// `config.json` as written, fields of both families optional.
#[derive(Deserialize)]
struct RawConfig {
    model_type: Option<String>,
    vocab_size: Option<i64>,
    // DistilBERT names.
    dim: Option<i64>,
    n_layers: Option<i64>,
    n_heads: Option<i64>,
    hidden_dim: Option<i64>,
    activation: Option<String>,
    // BERT names.
    hidden_size: Option<i64>,
    num_hidden_layers: Option<i64>,
    num_attention_heads: Option<i64>,
    intermediate_size: Option<i64>,
    hidden_act: Option<String>,
    type_vocab_size: Option<i64>,
    layer_norm_eps: Option<f64>,
    position_embedding_type: Option<String>,
    // Both.
    max_position_embeddings: Option<i64>,
}

impl Config {
    /// Reads and checks `path` (a `config.json`).
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let raw: RawConfig = serde_json::from_slice(&text).map_err(|e| Error::json(path, e))?;
        Config::from_raw(raw, path)
    }

    /// Parses `text` as the contents of the `config.json` at `path`.
    pub fn from_json(text: &str, path: &Path) -> Result<Self> {
        let raw: RawConfig = serde_json::from_str(text).map_err(|e| Error::json(path, e))?;
        Config::from_raw(raw, path)
    }

    fn from_raw(raw: RawConfig, path: &Path) -> Result<Self> {
        let model_type = raw
            .model_type
            .as_deref()
            .ok_or_else(|| Error::config(path, "\"model_type\" is missing"))?;
        let size = |value: Option<i64>, name: &str| -> Result<usize> {
            match value {
                None => Err(Error::config(path, format!("\"{name}\" is missing"))),
                Some(v) if v <= 0 => Err(Error::config(
                    path,
                    format!("\"{name}\" must be a positive integer, not {v}"),
                )),
                Some(v) => usize::try_from(v)
                    .map_err(|_| Error::config(path, format!("\"{name}\" is too large"))),
            }
        };
        let activation = |value: Option<String>, name: &str| -> Result<Activation> {
            let value = value.unwrap_or_else(|| "gelu".to_string());
            Activation::parse(&value).ok_or_else(|| {
                Error::config(
                    path,
                    format!("unsupported \"{name}\" {value:?} (expected gelu, gelu_new or relu)"),
                )
            })
        };
        let config = match model_type {
            "distilbert" => Config {
                architecture: Architecture::DistilBert,
                vocab_size: size(raw.vocab_size, "vocab_size")?,
                dim: size(raw.dim, "dim")?,
                n_layers: size(raw.n_layers, "n_layers")?,
                n_heads: size(raw.n_heads, "n_heads")?,
                hidden_dim: size(raw.hidden_dim, "hidden_dim")?,
                max_position_embeddings: size(
                    raw.max_position_embeddings,
                    "max_position_embeddings",
                )?,
                type_vocab_size: 0,
                // transformers hard-codes 1e-12 for every DistilBERT LayerNorm.
                layer_norm_eps: 1e-12,
                activation: activation(raw.activation, "activation")?,
            },
            "bert" => {
                if let Some(kind) = raw.position_embedding_type.as_deref() {
                    if kind != "absolute" {
                        return Err(Error::config(
                            path,
                            format!("position_embedding_type {kind:?} is not supported (only \"absolute\")"),
                        ));
                    }
                }
                Config {
                    architecture: Architecture::Bert,
                    vocab_size: size(raw.vocab_size, "vocab_size")?,
                    dim: size(raw.hidden_size, "hidden_size")?,
                    n_layers: size(raw.num_hidden_layers, "num_hidden_layers")?,
                    n_heads: size(raw.num_attention_heads, "num_attention_heads")?,
                    hidden_dim: size(raw.intermediate_size, "intermediate_size")?,
                    max_position_embeddings: size(
                        raw.max_position_embeddings,
                        "max_position_embeddings",
                    )?,
                    type_vocab_size: size(raw.type_vocab_size.or(Some(2)), "type_vocab_size")?,
                    layer_norm_eps: match raw.layer_norm_eps {
                        None => 1e-12,
                        Some(eps) if eps > 0.0 && eps < 1.0 => eps as f32,
                        Some(eps) => {
                            return Err(Error::config(
                                path,
                                format!("\"layer_norm_eps\" must be in (0, 1), not {eps}"),
                            ))
                        }
                    },
                    activation: activation(raw.hidden_act, "hidden_act")?,
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
        if self.dim % self.n_heads != 0 {
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
        let err = parse(r#"{"model_type": "distilbert", "dim": "768"}"#).unwrap_err();
        assert!(
            err.to_string().starts_with("config.json is not valid JSON"),
            "{err}"
        );
    }
}
