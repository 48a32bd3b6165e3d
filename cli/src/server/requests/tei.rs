//! `POST /embed` and `POST /tokenize`, in Text Embeddings Inference's format:
//! `{"inputs": "…" | ["…", …], "normalize": true}` and `{"inputs": …, "add_special_tokens": true}`.

use super::{boolean, inputs, known_keys, object, BadRequest, Limits};

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
}
