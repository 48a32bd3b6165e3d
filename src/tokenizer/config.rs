//! `tokenizer_config.json` and `special_tokens_map.json`: the normalizer's settings, the names of
//! the special tokens and the longest input, as transformers' `BertTokenizer` reads them.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use crate::{files, Error, Result};

/// Special token names, as transformers' `BertTokenizer` defaults them.
#[derive(Debug, Clone)]
pub(super) struct SpecialNames {
    pub unk: String,
    pub sep: String,
    pub pad: String,
    pub cls: String,
    pub mask: String,
    /// Further special tokens (`additional_special_tokens`, `added_tokens_decoder`).
    pub extra: Vec<String>,
}

impl Default for SpecialNames {
    fn default() -> Self {
        SpecialNames {
            unk: "[UNK]".into(),
            sep: "[SEP]".into(),
            pad: "[PAD]".into(),
            cls: "[CLS]".into(),
            mask: "[MASK]".into(),
            extra: Vec::new(),
        }
    }
}

/// The fields of `tokenizer_config.json` (and `special_tokens_map.json`) that matter here.
#[derive(Debug, Default, Deserialize)]
pub(super) struct TokenizerConfig {
    pub do_lower_case: Option<bool>,
    pub strip_accents: Option<bool>,
    pub tokenize_chinese_chars: Option<bool>,
    model_max_length: Option<Value>,
    pub clean_up_tokenization_spaces: Option<bool>,
    unk_token: Option<Value>,
    sep_token: Option<Value>,
    pad_token: Option<Value>,
    cls_token: Option<Value>,
    mask_token: Option<Value>,
    additional_special_tokens: Option<Value>,
    extra_special_tokens: Option<Value>,
    pub added_tokens_decoder: Option<HashMap<String, AddedToken>>,
}

/// One entry of `added_tokens_decoder`.
#[derive(Debug, Deserialize)]
pub(super) struct AddedToken {
    pub content: String,
    #[serde(default)]
    pub special: bool,
    #[serde(default)]
    pub normalized: bool,
    #[serde(default)]
    pub lstrip: bool,
    #[serde(default)]
    pub rstrip: bool,
    #[serde(default)]
    pub single_word: bool,
}

impl TokenizerConfig {
    /// Reads `path`, or `None` when the model has no such file.
    pub fn read(path: &Path) -> Result<Option<Self>> {
        let Some(bytes) = files::read_optional(path)? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::json(path, e))
    }

    /// The special tokens' names: transformers' defaults, replaced by what this file sets.
    pub fn special_names(&self, path: &Path) -> Result<SpecialNames> {
        let mut names = SpecialNames::default();
        self.override_names(&mut names, path)?;
        if let Some(decoder) = &self.added_tokens_decoder {
            names.extra.extend(
                decoder
                    .values()
                    .filter(|t| t.special)
                    .map(|t| t.content.clone()),
            );
        }
        Ok(names)
    }

    /// Replaces the names this file sets.
    pub fn override_names(&self, names: &mut SpecialNames, path: &Path) -> Result<()> {
        let slots = [
            ("unk_token", &self.unk_token, &mut names.unk),
            ("sep_token", &self.sep_token, &mut names.sep),
            ("pad_token", &self.pad_token, &mut names.pad),
            ("cls_token", &self.cls_token, &mut names.cls),
            ("mask_token", &self.mask_token, &mut names.mask),
        ];
        for (key, value, name) in slots {
            if let Some(value) = value.as_ref().filter(|v| !v.is_null()) {
                *name = token_content(value).ok_or_else(|| {
                    Error::config(
                        path,
                        format!("{key} is neither a string nor a token object"),
                    )
                })?;
            }
        }
        for (key, value) in [
            ("additional_special_tokens", &self.additional_special_tokens),
            ("extra_special_tokens", &self.extra_special_tokens),
        ] {
            let values: Vec<&Value> = match value {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(list)) => list.iter().collect(),
                Some(Value::Object(map)) => map.values().collect(),
                Some(_) => {
                    return Err(Error::config(
                        path,
                        format!("{key} is neither a list nor a map"),
                    ))
                }
            };
            for value in values {
                let name = token_content(value).ok_or_else(|| {
                    Error::config(path, format!("{key} holds something that is not a token"))
                })?;
                names.extra.push(name);
            }
        }
        Ok(())
    }

    /// transformers writes `int(1e30)` when there is no limit; treat anything absurd as none.
    pub fn model_max_length(&self) -> Option<usize> {
        let n = self.model_max_length.as_ref()?.as_u64()?;
        (n <= 1 << 40).then_some(n as usize)
    }
}

/// A special token as a config writes it: `"[MASK]"` or `{"content": "[MASK]", ...}`.
fn token_content(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Object(map) => map.get("content")?.as_str().map(str::to_string),
        _ => None,
    }
}
