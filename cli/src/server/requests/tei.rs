//! `POST /embed`, `/embed_all`, `/tokenize` and `/decode`, in Text Embeddings Inference's
//! format: `{"inputs": "…" | ["…", …], "normalize": true}`, `{"inputs": …}`,
//! `{"inputs": …, "add_special_tokens": true}` and `{"ids": […], "skip_special_tokens": true}`.

use serde_json::Value;

use super::{boolean, count, inputs, kind, known_keys, object, BadRequest, Limits};

/// `POST /embed`: the texts, and whether to L2-normalise the vectors (TEI's default: yes).
#[derive(Clone, Debug, PartialEq)]
pub struct Embed {
    pub texts: Vec<String>,
    pub normalize: bool,
}

/// `POST /tokenize`: the texts, and whether to keep `[CLS]` and `[SEP]` (TEI's default: yes).
#[derive(Clone, Debug, PartialEq)]
pub struct Tokenize {
    pub texts: Vec<String>,
    pub add_special_tokens: bool,
}

/// `POST /decode`: the ids of each sequence, and whether to drop the special tokens.
#[derive(Clone, Debug, PartialEq)]
pub struct Decode {
    pub ids: Vec<Vec<u32>>,
    pub skip_special_tokens: bool,
}

/// What a missing `"inputs"` should have been.
const EXAMPLE: &str = "[\"a text\", …]";

/// Reads an `/embed` body. `truncate` is accepted for TEI's clients; distil always truncates to
/// the model's length (and says so in a response header).
pub fn embed(body: &[u8], limits: &Limits) -> Result<Embed, BadRequest> {
    let map = object(body)?;
    known_keys(&map, "the request", &["inputs", "normalize", "truncate"])?;
    let texts = inputs(&map, EXAMPLE, limits)?;
    let normalize = boolean(&map, "normalize", true)?;
    boolean(&map, "truncate", true)?;
    Ok(Embed { texts, normalize })
}

/// Reads a `/tokenize` body.
pub fn tokenize(body: &[u8], limits: &Limits) -> Result<Tokenize, BadRequest> {
    let map = object(body)?;
    known_keys(&map, "the request", &["inputs", "add_special_tokens"])?;
    let texts = inputs(&map, EXAMPLE, limits)?;
    let add_special_tokens = boolean(&map, "add_special_tokens", true)?;
    Ok(Tokenize {
        texts,
        add_special_tokens,
    })
}

/// Reads an `/embed_all` body: the texts (`truncate` accepted, as for `/embed`).
pub fn embed_all(body: &[u8], limits: &Limits) -> Result<Vec<String>, BadRequest> {
    let map = object(body)?;
    known_keys(&map, "the request", &["inputs", "truncate"])?;
    boolean(&map, "truncate", true)?;
    inputs(&map, EXAMPLE, limits)
}

/// Reads a `/decode` body: `{"ids": [id, …] | [[id, …], …], "skip_special_tokens": true}`.
pub fn decode(body: &[u8], limits: &Limits) -> Result<Decode, BadRequest> {
    let map = object(body)?;
    known_keys(&map, "the request", &["ids", "skip_special_tokens"])?;
    let example = "{\"ids\": [101, 2023, 102]}";
    let ids = match map.get("ids") {
        None => {
            return Err(BadRequest(format!(
                "the request has no \"ids\": expected {example}"
            )))
        }
        Some(Value::Array(items)) if items.iter().all(Value::is_array) && !items.is_empty() => {
            items
                .iter()
                .enumerate()
                .map(|(i, seq)| id_list(seq, &format!("ids[{i}]")))
                .collect::<Result<Vec<_>, _>>()?
        }
        Some(seq) => vec![id_list(seq, "ids")?],
    };
    count(ids.len(), "ids", limits)?;
    Ok(Decode {
        ids,
        skip_special_tokens: boolean(&map, "skip_special_tokens", true)?,
    })
}

/// A list of token ids.
fn id_list(value: &Value, field: &str) -> Result<Vec<u32>, BadRequest> {
    let Value::Array(items) = value else {
        return Err(BadRequest(format!(
            "\"{field}\" must be a list of token ids, not {}",
            kind(value)
        )));
    };
    items
        .iter()
        .enumerate()
        .map(|(j, id)| {
            id.as_u64()
                .and_then(|id| u32::try_from(id).ok())
                .ok_or_else(|| {
                    BadRequest(format!(
                        "\"{field}[{j}]\" must be a token id (a non-negative integer), not {id}"
                    ))
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::tests::{texts, LIMITS};
    use super::*;

    #[test]
    fn embed_format() {
        let got = embed(br#"{"inputs": ["a", "b"]}"#, &LIMITS).unwrap();
        assert_eq!(
            got,
            Embed {
                texts: texts(&["a", "b"]),
                normalize: true
            }
        );
        let got = embed(
            br#"{"inputs": "a", "normalize": false, "truncate": true}"#,
            &LIMITS,
        )
        .unwrap();
        assert!(!got.normalize);
        assert_eq!(
            embed(br#"{"inputs": "a", "normalize": "no"}"#, &LIMITS)
                .unwrap_err()
                .0,
            "\"normalize\" must be true or false, not a string"
        );
        assert_eq!(
            embed(br#"{"inputs": "a", "truncate": 1}"#, &LIMITS)
                .unwrap_err()
                .0,
            "\"truncate\" must be true or false, not a number"
        );
        assert_eq!(
            embed(br#"{"normalize": true}"#, &LIMITS).unwrap_err().0,
            "the request has no \"inputs\": expected {\"inputs\": [\"a text\", …]}"
        );
    }

    #[test]
    fn tokenize_format() {
        let got = tokenize(br#"{"inputs": "a", "add_special_tokens": false}"#, &LIMITS).unwrap();
        assert_eq!(
            got,
            Tokenize {
                texts: texts(&["a"]),
                add_special_tokens: false
            }
        );
        assert!(
            tokenize(br#"{"inputs": ["a"]}"#, &LIMITS)
                .unwrap()
                .add_special_tokens
        );
        assert!(tokenize(br#"{"text": "a"}"#, &LIMITS)
            .unwrap_err()
            .0
            .starts_with("the request has an unknown field \"text\""));
    }

    #[test]
    fn decode_and_embed_all_formats() {
        let got = decode(br#"{"ids": [2, 5, 3]}"#, &LIMITS).unwrap();
        assert_eq!(
            got,
            Decode {
                ids: vec![vec![2, 5, 3]],
                skip_special_tokens: true
            }
        );
        let got = decode(
            br#"{"ids": [[2], [3, 4]], "skip_special_tokens": false}"#,
            &LIMITS,
        )
        .unwrap();
        assert_eq!(
            (got.ids, got.skip_special_tokens),
            (vec![vec![2], vec![3, 4]], false)
        );
        for (body, says) in [
            (r#"{"ids": [1, -2]}"#, "\"ids[1]\" must be a token id"),
            (
                r#"{"ids": [[1], [4294967296]]}"#,
                "\"ids[1][0]\" must be a token id",
            ),
            (
                r#"{"ids": "12"}"#,
                "\"ids\" must be a list of token ids, not a string",
            ),
            (r#"{"inputs": [1]}"#, "unknown field \"inputs\""),
        ] {
            let error = decode(body.as_bytes(), &LIMITS).unwrap_err().0;
            assert!(error.contains(says), "{body}: {error}");
        }
        assert_eq!(
            embed_all(br#"{"inputs": "a"}"#, &LIMITS).unwrap(),
            texts(&["a"])
        );
    }
}
