//! `POST /predict` and `POST /rerank`, in Text Embeddings Inference's format:
//! `{"inputs": "…" | ["a", "b"] | ["…", …] | [["a", "b"], …], "raw_scores": false, "truncate": true}`
//! and `{"query": "…", "texts": ["…", …], "raw_scores": false, "return_text": false, "truncate": true}`.

use serde_json::{Map, Value};

use super::{boolean, count, kind, known_keys, object, texts, BadRequest, Limits};

/// `POST /predict`: texts or pairs of texts, whether the body held a batch (a list of inputs:
/// answered with a list of answers), and whether the scores are the logits.
#[derive(Clone, Debug, PartialEq)]
pub struct Predict {
    /// Each input: a text, and the second text of a pair.
    pub inputs: Vec<(String, Option<String>)>,
    pub batch: bool,
    pub raw_scores: bool,
}

/// `POST /rerank`: the query, the texts, the scores' form, and whether to echo the texts.
#[derive(Clone, Debug, PartialEq)]
pub struct Rerank {
    pub query: String,
    pub texts: Vec<String>,
    pub raw_scores: bool,
    pub return_text: bool,
}

/// Reads a `/predict` body. As in TEI, a list of exactly two strings is one pair, any other list
/// of strings a batch of texts, and a list holding lists a batch whose pairs are those lists.
/// `truncate` is accepted for TEI's clients; distil always truncates to the model's length.
pub fn predict(body: &[u8], limits: &Limits) -> Result<Predict, BadRequest> {
    let map = object(body)?;
    known_keys(&map, "the request", &["inputs", "raw_scores", "truncate"])?;
    let inputs = map.get("inputs").ok_or_else(|| {
        BadRequest(
            "the request has no \"inputs\": expected {\"inputs\": \"a text\" | [\"a\", \"b\"] | [[\"a\", \"b\"], …]}"
                .to_string(),
        )
    })?;
    let raw_scores = boolean(&map, "raw_scores", false)?;
    boolean(&map, "truncate", true)?;
    let (inputs, batch) = match inputs {
        Value::String(text) => (vec![(text.clone(), None)], false),
        Value::Array(items) if items.len() == 2 && items.iter().all(Value::is_string) => {
            let [a, b] = [&items[0], &items[1]].map(|v| v.as_str().unwrap_or_default().to_string());
            (vec![(a, Some(b))], false)
        }
        Value::Array(items) if items.iter().any(Value::is_array) => {
            let inputs = items
                .iter()
                .enumerate()
                .map(|(i, item)| sequence(item, i))
                .collect::<Result<Vec<_>, _>>()?;
            count(inputs.len(), "inputs", limits)?;
            (inputs, true)
        }
        other => {
            let texts = texts(other, "inputs", limits)?;
            (texts.into_iter().map(|t| (t, None)).collect(), true)
        }
    };
    Ok(Predict {
        inputs,
        batch,
        raw_scores,
    })
}

/// Item `i` of a batch of sequences: a text, or a list of one or two texts.
fn sequence(item: &Value, i: usize) -> Result<(String, Option<String>), BadRequest> {
    let text = |v: &Value, j: usize| match v {
        Value::String(s) => Ok(s.clone()),
        other => Err(BadRequest(format!(
            "\"inputs[{i}][{j}]\" must be a string, not {}",
            kind(other)
        ))),
    };
    match item {
        Value::String(s) => Ok((s.clone(), None)),
        Value::Array(pair) if pair.len() == 1 => Ok((text(&pair[0], 0)?, None)),
        Value::Array(pair) if pair.len() == 2 => Ok((text(&pair[0], 0)?, Some(text(&pair[1], 1)?))),
        Value::Array(pair) => Err(BadRequest(format!(
            "\"inputs[{i}]\" has {} texts; a sequence is one text or a pair of two",
            pair.len()
        ))),
        other => Err(BadRequest(format!(
            "\"inputs[{i}]\" must be a string or a pair of strings, not {}",
            kind(other)
        ))),
    }
}

/// Reads a `/rerank` body.
pub fn rerank(body: &[u8], limits: &Limits) -> Result<Rerank, BadRequest> {
    let map: Map<String, Value> = object(body)?;
    known_keys(
        &map,
        "the request",
        &["query", "texts", "raw_scores", "return_text", "truncate"],
    )?;
    let query =
        match map.get("query") {
            Some(Value::String(q)) => q.clone(),
            Some(other) => {
                return Err(BadRequest(format!(
                    "\"query\" must be a string, not {}",
                    kind(other)
                )))
            }
            None => return Err(BadRequest(
                "the request has no \"query\": expected {\"query\": \"…\", \"texts\": [\"…\", …]}"
                    .to_string(),
            )),
        };
    let texts =
        match map.get("texts") {
            Some(value) => texts(value, "texts", limits)?,
            None => return Err(BadRequest(
                "the request has no \"texts\": expected {\"query\": \"…\", \"texts\": [\"…\", …]}"
                    .to_string(),
            )),
        };
    boolean(&map, "truncate", true)?;
    Ok(Rerank {
        query,
        texts,
        raw_scores: boolean(&map, "raw_scores", false)?,
        return_text: boolean(&map, "return_text", false)?,
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::LIMITS;
    use super::*;

    fn inputs(body: &str) -> (Vec<(String, Option<String>)>, bool) {
        let p = predict(body.as_bytes(), &LIMITS).unwrap();
        (p.inputs, p.batch)
    }

    fn s(text: &str) -> String {
        text.to_string()
    }

    #[test]
    fn predict_reads_texts_pairs_and_batches_as_tei() {
        assert_eq!(inputs(r#"{"inputs": "a"}"#), (vec![(s("a"), None)], false));
        assert_eq!(
            inputs(r#"{"inputs": ["a", "b"]}"#),
            (vec![(s("a"), Some(s("b")))], false)
        );
        assert_eq!(
            inputs(r#"{"inputs": ["a", "b", "c"]}"#),
            (vec![(s("a"), None), (s("b"), None), (s("c"), None)], true)
        );
        assert_eq!(
            inputs(r#"{"inputs": [["a", "b"], "c", ["d"]]}"#),
            (
                vec![(s("a"), Some(s("b"))), (s("c"), None), (s("d"), None)],
                true
            )
        );
        let p = predict(
            br#"{"inputs": "a", "raw_scores": true, "truncate": false}"#,
            &LIMITS,
        )
        .unwrap();
        assert!(p.raw_scores);
        for (body, says) in [
            (
                r#"{"inputs": [["a", "b", "c"]]}"#,
                "\"inputs[0]\" has 3 texts",
            ),
            (
                r#"{"inputs": [["a", 1]]}"#,
                "\"inputs[0][1]\" must be a string, not a number",
            ),
            (r#"{"inputs": [[]]}"#, "\"inputs[0]\" has 0 texts"),
            (r#"{"inputs": []}"#, "\"inputs\" is an empty list"),
            (r#"{"input": "a"}"#, "unknown field \"input\""),
            (r#"{"raw_scores": true}"#, "no \"inputs\""),
        ] {
            let error = predict(body.as_bytes(), &LIMITS).unwrap_err().0;
            assert!(error.contains(says), "{body}: {error}");
        }
    }

    #[test]
    fn rerank_reads_the_query_and_texts() {
        let r = rerank(
            br#"{"query": "q", "texts": ["a", "b"], "return_text": true}"#,
            &LIMITS,
        )
        .unwrap();
        assert_eq!(
            r,
            Rerank {
                query: s("q"),
                texts: vec![s("a"), s("b")],
                raw_scores: false,
                return_text: true
            }
        );
        for (body, says) in [
            (r#"{"texts": ["a"]}"#, "no \"query\""),
            (r#"{"query": "q"}"#, "no \"texts\""),
            (
                r#"{"query": 1, "texts": ["a"]}"#,
                "\"query\" must be a string",
            ),
            (
                r#"{"query": "q", "texts": []}"#,
                "\"texts\" is an empty list",
            ),
        ] {
            let error = rerank(body.as_bytes(), &LIMITS).unwrap_err().0;
            assert!(error.contains(says), "{body}: {error}");
        }
    }
}
