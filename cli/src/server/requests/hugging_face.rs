//! `POST /fill-mask`: the Hugging Face inference format,
//! `{"inputs": "…" | ["…", …], "parameters": {"top_k": K, "targets": "w" | ["w", …]}}`.

use super::{as_object, inputs, known_keys, object, positive_integer, strings};
use super::{BadRequest, Limits};

/// `POST /fill-mask`: the texts and the pipeline's parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct FillMask {
    pub texts: Vec<String>,
    pub top_k: usize,
    pub targets: Option<Vec<String>>,
}

/// The pipeline's default number of candidates per mask.
const DEFAULT_TOP_K: usize = 5;

/// Reads a `/fill-mask` body.
pub fn fill_mask(body: &[u8], limits: &Limits) -> Result<FillMask, BadRequest> {
    let map = object(body)?;
    known_keys(&map, "the request", &["inputs", "parameters", "options"])?;
    let texts = inputs(&map, "\"a text with [MASK]\"", limits)?;
    if let Some(options) = map.get("options") {
        // The Inference API's `{"wait_for_model": true, "use_cache": false}`: nothing to do here.
        as_object(options, "options")?;
    }
    let mut top_k = DEFAULT_TOP_K;
    let mut targets = None;
    if let Some(parameters) = map.get("parameters") {
        let parameters = as_object(parameters, "parameters")?;
        known_keys(parameters, "\"parameters\"", &["top_k", "targets"])?;
        if let Some(k) = parameters.get("top_k") {
            top_k = positive_integer(k, "parameters.top_k")?;
        }
        if let Some(t) = parameters.get("targets") {
            targets = Some(target_words(t)?);
        }
    }
    Ok(FillMask {
        texts,
        top_k,
        targets,
    })
}

/// The pipeline's `targets`: one word or a non-empty list of words.
fn target_words(value: &serde_json::Value) -> Result<Vec<String>, BadRequest> {
    let field = "parameters.targets";
    let words = strings(value, field, "a word or a list of words")?;
    if words.is_empty() {
        return Err(BadRequest::new(format!(
            "\"{field}\" is an empty list; give at least one word, or leave it out"
        )));
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::super::tests::{texts, LIMITS};
    use super::*;

    fn err(body: &str) -> String {
        fill_mask(body.as_bytes(), &LIMITS).unwrap_err().0
    }

    #[test]
    fn hugging_face_format() {
        let got = fill_mask(br#"{"inputs": "a [MASK]"}"#, &LIMITS).unwrap();
        assert_eq!(
            got,
            FillMask {
                texts: texts(&["a [MASK]"]),
                top_k: 5,
                targets: None
            }
        );
        let got = fill_mask(
            br#"{"inputs": ["a [MASK]", "b [MASK]"], "parameters": {"top_k": 2, "targets": ["x", "y"]},
                 "options": {"wait_for_model": true}}"#,
            &LIMITS,
        )
        .unwrap();
        assert_eq!(got.texts, texts(&["a [MASK]", "b [MASK]"]));
        assert_eq!(got.top_k, 2);
        assert_eq!(got.targets, Some(texts(&["x", "y"])));
        let got = fill_mask(
            br#"{"inputs": "a", "parameters": {"targets": "x"}}"#,
            &LIMITS,
        )
        .unwrap();
        assert_eq!(got.targets, Some(texts(&["x"])));
    }

    #[test]
    fn errors() {
        assert!(err("{\"inputs\": }").starts_with("the request body is not valid JSON"));
        assert!(err(r#"{"input": "a"}"#).starts_with("the request has an unknown field \"input\""));
        for (body, message) in [
            (
                r#"{"parameters": {}}"#,
                "the request has no \"inputs\": expected {\"inputs\": \"a text with [MASK]\"}",
            ),
            (
                r#"{"inputs": []}"#,
                "\"inputs\" is an empty list; send at least one text",
            ),
            (
                r#"{"inputs": [["a"]]}"#,
                "\"inputs[0]\" must be a string, not a list",
            ),
            (
                r#"{"inputs": "a", "parameters": {"top_k": -1}}"#,
                "\"parameters.top_k\" must be a positive integer, not -1",
            ),
            (
                r#"{"inputs": "a", "parameters": {"top_k": 1.5}}"#,
                "\"parameters.top_k\" must be a positive integer, not 1.5",
            ),
            (
                r#"{"inputs": "a", "parameters": {"targets": []}}"#,
                "\"parameters.targets\" is an empty list; give at least one word, or leave it out",
            ),
            (
                r#"{"inputs": "a", "parameters": {"targets": [1]}}"#,
                "\"parameters.targets[0]\" must be a string, not a number",
            ),
            (
                r#"{"inputs": "a", "parameters": {"targets": {}}}"#,
                "\"parameters.targets\" must be a word or a list of words, not an object",
            ),
            (
                r#"{"inputs": "a", "parameters": {"top_p": 1}}"#,
                "\"parameters\" has an unknown field \"top_p\"; the fields are \"top_k\", \"targets\"",
            ),
            (
                r#"{"inputs": "a", "options": 1}"#,
                "\"options\" must be an object, not a number",
            ),
        ] {
            assert_eq!(err(body), message, "{body}");
        }
    }
}
