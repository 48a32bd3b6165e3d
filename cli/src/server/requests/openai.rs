//! `POST /v1/embeddings`, OpenAI's embeddings request:
//! `{"input": "…" | ["…", …], "model": "…", "encoding_format": "float" | "base64", "dimensions": N, "user": "…"}`.

use serde_json::Value;

use super::{known_keys, object, positive_integer, texts, BadRequest, Limits};

/// The texts and how to return their vectors.
#[derive(Clone, Debug, PartialEq)]
pub struct Embeddings {
    pub texts: Vec<String>,
    /// The `model` the client named (echoed back), if any.
    pub model: Option<String>,
    /// Vectors as base64 of their little-endian f32 bytes rather than lists of floats.
    pub base64: bool,
    /// Keep the first this many dimensions, then normalise again (Matryoshka models).
    pub dimensions: Option<usize>,
}

/// Reads a `/v1/embeddings` body.
pub fn embeddings(body: &[u8], limits: &Limits) -> Result<Embeddings, BadRequest> {
    let map = object(body)?;
    known_keys(
        &map,
        "the request",
        &["input", "model", "encoding_format", "dimensions", "user"],
    )?;
    let input = map.get("input").ok_or_else(|| {
        BadRequest(
            "the request has no \"input\": expected {\"input\": [\"a text\", …]}".to_string(),
        )
    })?;
    let texts = texts(input, "input", limits)?;
    let string = |name: &str| match map.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(BadRequest(format!(
            "\"{name}\" must be a string, not {other}"
        ))),
    };
    let model = string("model")?;
    string("user")?;
    let base64 = match string("encoding_format")?.as_deref() {
        None | Some("float") => false,
        Some("base64") => true,
        Some(other) => {
            return Err(BadRequest(format!(
                "\"encoding_format\" must be \"float\" or \"base64\", not {other:?}"
            )))
        }
    };
    let dimensions = match map.get("dimensions") {
        None | Some(Value::Null) => None,
        Some(d) => Some(positive_integer(d, "dimensions")?),
    };
    Ok(Embeddings {
        texts,
        model,
        base64,
        dimensions,
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::{texts, LIMITS};
    use super::*;

    #[test]
    fn openai_format() {
        let got = embeddings(
            br#"{"input": "a", "model": "m", "encoding_format": "base64", "dimensions": 8}"#,
            &LIMITS,
        )
        .unwrap();
        assert_eq!(
            got,
            Embeddings {
                texts: texts(&["a"]),
                model: Some("m".to_string()),
                base64: true,
                dimensions: Some(8)
            }
        );
        let got = embeddings(br#"{"input": ["a", "b"], "user": "u"}"#, &LIMITS).unwrap();
        assert_eq!(
            (got.texts.len(), got.base64, got.dimensions),
            (2, false, None)
        );
        for (body, says) in [
            (r#"{"inputs": ["a"]}"#, "unknown field \"inputs\""),
            (
                r#"{"input": ["a"], "encoding_format": "binary"}"#,
                "\"encoding_format\" must be",
            ),
            (r#"{"input": ["a"], "dimensions": 0}"#, "positive integer"),
            (r#"{"input": []}"#, "empty list"),
            (r#"{"model": "m"}"#, "no \"input\""),
        ] {
            let error = embeddings(body.as_bytes(), &LIMITS).unwrap_err().0;
            assert!(error.contains(says), "{body}: {error}");
        }
    }
}
