//! The request bodies `distil serve` accepts, read into texts and options, and a sentence naming
//! the field for everything it refuses. One file per family of clients:
//!
//! - [`azure`]: `POST /score`, Azure ML's online-endpoint shapes for fill-mask (and classifiers).
//! - [`azure_tasks`]: `POST /score` on a token classifier or a question-answering model.
//! - [`hugging_face`]: `POST /fill-mask`, the Hugging Face inference format.
//! - [`hugging_face_tasks`]: `POST /token-classification` and `POST /question-answering`, in it.
//! - [`tei`]: `POST /embed`, `/embed_all`, `/tokenize` and `/decode`, Text Embeddings Inference's format.
//! - [`openai`]: `POST /v1/embeddings`, OpenAI's embeddings request.
//! - [`tei_tasks`]: `POST /predict` and `POST /rerank`, TEI's format for classifiers and rerankers.
//! - [`every`]: all of them at once, for the fuzz target.
//!
//! This file holds what they share: the body as a JSON object, a list of texts, and the checks
//! on single fields. Unknown keys are refused rather than ignored, so that a misspelt
//! `"input_date"` or `"topk"` is a 400 naming it instead of an answer computed with the defaults.

mod azure;
mod azure_tasks;
mod every;
mod hugging_face;
mod hugging_face_tasks;
mod openai;
mod tei;
mod tei_tasks;

use serde_json::{Map, Value};

pub use azure::score;
pub use azure_tasks::{score_answers, score_entities};
pub use every::every_reader;
pub use hugging_face::fill_mask;
pub use hugging_face_tasks::{question_answering, token_classification};
pub use openai::embeddings;
pub use tei::{decode, embed, embed_all, tokenize};
pub use tei_tasks::{predict, rerank};

/// Why a request body was refused: one sentence naming the field and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadRequest(pub String);

impl BadRequest {
    fn new(message: impl Into<String>) -> Self {
        BadRequest(message.into())
    }
}

/// What a request may ask for.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Most texts in one request.
    pub max_texts: usize,
}

/// The body as a JSON object.
fn object(body: &[u8]) -> Result<Map<String, Value>, BadRequest> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(BadRequest::new(
            "the request body is empty; expected a JSON object",
        ));
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| BadRequest::new(format!("the request body is not valid JSON: {e}")))?;
    match value {
        Value::Object(map) => Ok(map),
        other => Err(BadRequest::new(format!(
            "the request body must be a JSON object, not {}",
            kind(&other)
        ))),
    }
}

/// The texts of the body's `"inputs"` (one string or a list of them), which `example` shows how
/// to send when it is missing.
fn inputs(
    map: &Map<String, Value>,
    example: &str,
    limits: &Limits,
) -> Result<Vec<String>, BadRequest> {
    let inputs = map.get("inputs").ok_or_else(|| {
        BadRequest::new(format!(
            "the request has no \"inputs\": expected {{\"inputs\": {example}}}"
        ))
    })?;
    texts(inputs, "inputs", limits)
}

/// A string (one text) or a non-empty list of strings, at most `limits.max_texts`.
fn texts(value: &Value, field: &str, limits: &Limits) -> Result<Vec<String>, BadRequest> {
    let texts = strings(value, field, "a list of strings")?;
    count(texts.len(), field, limits)?;
    Ok(texts)
}

/// A string, or a list of strings (perhaps empty); otherwise an error saying `field` must be
/// `expected`.
fn strings(value: &Value, field: &str, expected: &str) -> Result<Vec<String>, BadRequest> {
    match value {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::String(s) => Ok(s.clone()),
                other => Err(BadRequest::new(format!(
                    "\"{field}[{i}]\" must be a string, not {}",
                    kind(other)
                ))),
            })
            .collect(),
        other => Err(BadRequest::new(format!(
            "\"{field}\" must be {expected}, not {}",
            kind(other)
        ))),
    }
}

/// Refuses an empty list of texts and one longer than the limit.
fn count(n: usize, field: &str, limits: &Limits) -> Result<(), BadRequest> {
    if n == 0 {
        return Err(BadRequest::new(format!(
            "\"{field}\" is an empty list; send at least one text"
        )));
    }
    if n > limits.max_texts {
        return Err(BadRequest::new(format!(
            "\"{field}\" has {n} texts; the limit is {} per request (--max-texts)",
            limits.max_texts
        )));
    }
    Ok(())
}

fn as_object<'a>(value: &'a Value, field: &str) -> Result<&'a Map<String, Value>, BadRequest> {
    value.as_object().ok_or_else(|| {
        BadRequest::new(format!(
            "\"{field}\" must be an object, not {}",
            kind(value)
        ))
    })
}

/// Refuses a key of `map` that is not in `allowed`.
fn known_keys(map: &Map<String, Value>, what: &str, allowed: &[&str]) -> Result<(), BadRequest> {
    match map.keys().find(|k| !allowed.contains(&k.as_str())) {
        None => Ok(()),
        Some(unknown) => Err(BadRequest::new(format!(
            "{what} has an unknown field {}; the fields are {}",
            Value::String(unknown.clone()),
            quoted(allowed)
        ))),
    }
}

fn positive_integer(value: &Value, field: &str) -> Result<usize, BadRequest> {
    match value.as_u64() {
        Some(n) if n >= 1 => Ok(usize::try_from(n).unwrap_or(usize::MAX)),
        _ => Err(BadRequest::new(format!(
            "\"{field}\" must be a positive integer, not {value}"
        ))),
    }
}

/// The boolean `map[field]`, or `default` when it is absent.
fn boolean(map: &Map<String, Value>, field: &str, default: bool) -> Result<bool, BadRequest> {
    let Some(value) = map.get(field) else {
        return Ok(default);
    };
    value.as_bool().ok_or_else(|| {
        BadRequest::new(format!(
            "\"{field}\" must be true or false, not {}",
            kind(value)
        ))
    })
}

/// `a number`, `an object`, … for messages.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// The keys of `map` for a message: `"a", "b"`, or `no fields`.
fn key_list(map: &Map<String, Value>) -> String {
    if map.is_empty() {
        return "no fields".to_string();
    }
    let keys: Vec<&str> = map.keys().map(String::as_str).collect();
    quoted(&keys)
}

/// `"a", "b"`, each JSON-escaped.
fn quoted(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| Value::String((*n).to_string()).to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) const LIMITS: Limits = Limits { max_texts: 4 };

    pub(super) fn texts(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn err(body: &str) -> String {
        let map = object(body.as_bytes()).and_then(|map| {
            known_keys(&map, "the request", &["inputs"])?;
            inputs(&map, "[\"a text\"]", &LIMITS)
        });
        map.unwrap_err().0
    }

    #[test]
    fn the_body_must_be_a_json_object() {
        assert_eq!(
            err(" \n"),
            "the request body is empty; expected a JSON object"
        );
        assert!(err("{\"inputs\": [").starts_with("the request body is not valid JSON"));
        assert_eq!(
            err("[\"a\"]"),
            "the request body must be a JSON object, not a list"
        );
        // A lone surrogate escape is not a string serde_json can return.
        assert!(err(r#"{"inputs": ["\ud800"]}"#).starts_with("the request body is not valid JSON"));
    }

    #[test]
    fn inputs_are_one_text_or_a_bounded_list() {
        let read = |body: &str| {
            let map = object(body.as_bytes()).unwrap();
            inputs(&map, "[\"a text\"]", &LIMITS).unwrap()
        };
        assert_eq!(read(r#"{"inputs": "a"}"#), texts(&["a"]));
        assert_eq!(read(r#"{"inputs": ["a", "b"]}"#), texts(&["a", "b"]));
        assert_eq!(
            read(r#"{"inputs": ["東京 is [MASK]\u0000 \n"]}"#),
            texts(&["東京 is [MASK]\u{0} \n"])
        );
        for (body, message) in [
            (
                "{}",
                "the request has no \"inputs\": expected {\"inputs\": [\"a text\"]}",
            ),
            (
                r#"{"inputs": []}"#,
                "\"inputs\" is an empty list; send at least one text",
            ),
            (
                r#"{"inputs": ["a","b","c","d","e"]}"#,
                "\"inputs\" has 5 texts; the limit is 4 per request (--max-texts)",
            ),
            (
                r#"{"inputs": ["a", 3]}"#,
                "\"inputs[1]\" must be a string, not a number",
            ),
            (
                r#"{"inputs": {}}"#,
                "\"inputs\" must be a list of strings, not an object",
            ),
            (
                r#"{"input": "a"}"#,
                "the request has an unknown field \"input\"; the fields are \"inputs\"",
            ),
        ] {
            assert_eq!(err(body), message, "{body}");
        }
    }

    #[test]
    fn field_checks_name_the_field() {
        let map = object(br#"{"k": 0, "b": "no", "n": 1.5}"#).unwrap();
        assert_eq!(
            positive_integer(&map["k"], "p.k").unwrap_err().0,
            "\"p.k\" must be a positive integer, not 0"
        );
        assert_eq!(
            positive_integer(&map["n"], "p.n").unwrap_err().0,
            "\"p.n\" must be a positive integer, not 1.5"
        );
        assert_eq!(
            boolean(&map, "b", true).unwrap_err().0,
            "\"b\" must be true or false, not a string"
        );
        assert_eq!(boolean(&map, "absent", true), Ok(true));
        assert_eq!(key_list(&Map::new()), "no fields");
        assert_eq!(key_list(&map), "\"b\", \"k\", \"n\"");
    }
}
