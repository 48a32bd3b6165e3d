//! `POST /token-classification` and `POST /question-answering`, in the Hugging Face inference
//! format: `{"inputs": "…" | ["…", …], "parameters": {"aggregation_strategy": "simple"}}` and
//! `{"inputs": {"question": …, "context": …} | [{…}, …], "parameters": {"top_k": K, …}}`.

use serde_json::{Map, Value};

use super::{as_object, boolean, count, inputs, kind, known_keys, object, positive_integer};
use super::{BadRequest, Limits};
use distil::{Aggregation, QaOptions};

/// `POST /token-classification`: the texts, whether the body held a list, and the strategy.
#[derive(Clone, Debug, PartialEq)]
pub struct TokenClassification {
    pub texts: Vec<String>,
    pub batch: bool,
    pub aggregation: Aggregation,
}

/// `POST /question-answering`: each question and its context, whether the body held a list, and
/// the pipeline's parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct QuestionAnswering {
    pub questions: Vec<(String, String)>,
    pub batch: bool,
    pub options: QaOptions,
}

/// Reads a `/token-classification` body.
pub fn token_classification(
    body: &[u8],
    limits: &Limits,
) -> Result<TokenClassification, BadRequest> {
    let map = object(body)?;
    known_keys(&map, "the request", &["inputs", "parameters", "options"])?;
    let texts = inputs(&map, "\"a text\"", limits)?;
    let batch = map.get("inputs").is_some_and(Value::is_array);
    let aggregation = match parameters(&map, &["aggregation_strategy"])? {
        Some(parameters) => aggregation(parameters, "parameters")?,
        None => Aggregation::None,
    };
    Ok(TokenClassification {
        texts,
        batch,
        aggregation,
    })
}

/// Reads a `/question-answering` body.
pub fn question_answering(body: &[u8], limits: &Limits) -> Result<QuestionAnswering, BadRequest> {
    let map = object(body)?;
    known_keys(&map, "the request", &["inputs", "parameters", "options"])?;
    let example = "{\"inputs\": {\"question\": \"…\", \"context\": \"…\"}}";
    let (items, batch) = match map.get("inputs") {
        None => {
            return Err(BadRequest(format!(
                "the request has no \"inputs\": expected {example}"
            )))
        }
        Some(Value::Array(items)) => (items.iter().collect::<Vec<_>>(), true),
        Some(one) => (vec![one], false),
    };
    count(items.len(), "inputs", limits)?;
    let questions = items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let field = if batch {
                format!("inputs[{i}]")
            } else {
                "inputs".to_string()
            };
            let item = as_object(item, &field)?;
            known_keys(item, &format!("\"{field}\""), &["question", "context"])?;
            let text = |name: &str| match item.get(name) {
                Some(Value::String(s)) => Ok(s.clone()),
                Some(other) => Err(BadRequest(format!(
                    "\"{field}.{name}\" must be a string, not {}",
                    kind(other)
                ))),
                None => Err(BadRequest(format!(
                    "\"{field}\" has no \"{name}\": expected {example}"
                ))),
            };
            Ok((text("question")?, text("context")?))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let options = match parameters(&map, QA_PARAMETERS)? {
        Some(parameters) => qa_options(parameters, "parameters")?,
        None => QaOptions::default(),
    };
    Ok(QuestionAnswering {
        questions,
        batch,
        options,
    })
}

/// The question-answering pipeline's keyword arguments a request may give.
pub(super) const QA_PARAMETERS: &[&str] = &[
    "top_k",
    "max_answer_len",
    "doc_stride",
    "max_seq_len",
    "handle_impossible_answer",
];

/// The `aggregation_strategy` of the parameters object `field` (`none` when absent).
pub(super) fn aggregation(
    parameters: &Map<String, Value>,
    field: &str,
) -> Result<Aggregation, BadRequest> {
    let Some(value) = parameters.get("aggregation_strategy") else {
        return Ok(Aggregation::None);
    };
    value
        .as_str()
        .and_then(Aggregation::from_name)
        .ok_or_else(|| {
            BadRequest(format!(
                "\"{field}.aggregation_strategy\" must be one of \"none\", \"simple\", \"first\", \"average\", \"max\", not {value}"
            ))
        })
}

/// The question-answering options in the parameters object `field` (whose keys are checked
/// against [`QA_PARAMETERS`] by the caller); the pipeline's defaults for those absent.
pub(super) fn qa_options(
    parameters: &Map<String, Value>,
    field: &str,
) -> Result<QaOptions, BadRequest> {
    let size = |name: &str| {
        parameters
            .get(name)
            .map(|v| positive_integer(v, &format!("{field}.{name}")))
            .transpose()
    };
    let defaults = QaOptions::default();
    Ok(QaOptions {
        top_k: size("top_k")?.unwrap_or(defaults.top_k),
        max_answer_len: size("max_answer_len")?.unwrap_or(defaults.max_answer_len),
        doc_stride: size("doc_stride")?,
        max_seq_len: size("max_seq_len")?,
        handle_impossible_answer: boolean(parameters, "handle_impossible_answer", false)?,
    })
}

/// The body's `"parameters"` object, if any, with only the fields `allowed`; `"options"` (the
/// Inference API's `wait_for_model`, …) is accepted and ignored.
fn parameters<'a>(
    map: &'a Map<String, Value>,
    allowed: &[&str],
) -> Result<Option<&'a Map<String, Value>>, BadRequest> {
    if let Some(options) = map.get("options") {
        as_object(options, "options")?;
    }
    match map.get("parameters") {
        None => Ok(None),
        Some(parameters) => {
            let parameters = as_object(parameters, "parameters")?;
            known_keys(parameters, "\"parameters\"", allowed)?;
            Ok(Some(parameters))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{texts, LIMITS};
    use super::*;

    #[test]
    fn token_classification_format() {
        let got = token_classification(br#"{"inputs": "a b"}"#, &LIMITS).unwrap();
        assert_eq!(
            got,
            TokenClassification {
                texts: texts(&["a b"]),
                batch: false,
                aggregation: Aggregation::None
            }
        );
        let got = token_classification(
            br#"{"inputs": ["a", "b"], "parameters": {"aggregation_strategy": "first"}}"#,
            &LIMITS,
        )
        .unwrap();
        assert!(got.batch);
        assert_eq!(got.aggregation, Aggregation::First);
        for (body, says) in [
            (
                r#"{"inputs": "a", "parameters": {"aggregation_strategy": "mean"}}"#,
                "must be one of",
            ),
            (
                r#"{"inputs": "a", "parameters": {"stride": 3}}"#,
                "unknown field \"stride\"",
            ),
            (r#"{"inputs": []}"#, "empty list"),
        ] {
            let error = token_classification(body.as_bytes(), &LIMITS)
                .unwrap_err()
                .0;
            assert!(error.contains(says), "{body}: {error}");
        }
    }

    #[test]
    fn question_answering_format() {
        let got = question_answering(
            br#"{"inputs": {"question": "q", "context": "c"}, "parameters": {"top_k": 3, "doc_stride": 64}}"#,
            &LIMITS,
        )
        .unwrap();
        assert_eq!(got.questions, vec![("q".to_string(), "c".to_string())]);
        assert!(!got.batch);
        assert_eq!(
            (
                got.options.top_k,
                got.options.doc_stride,
                got.options.max_answer_len
            ),
            (3, Some(64), 15)
        );
        let got = question_answering(
            br#"{"inputs": [{"question": "q", "context": "c"}]}"#,
            &LIMITS,
        )
        .unwrap();
        assert!(got.batch);
        for (body, says) in [
            (
                r#"{"inputs": {"question": "q"}}"#,
                "\"inputs\" has no \"context\"",
            ),
            (
                r#"{"inputs": [{"question": "q", "context": 1}]}"#,
                "\"inputs[0].context\" must be a string, not a number",
            ),
            (r#"{"inputs": "q"}"#, "\"inputs\" must be"),
            (
                r#"{"inputs": {"question": "q", "context": "c"}, "parameters": {"top_k": 0}}"#,
                "positive integer",
            ),
            (
                r#"{"inputs": {"question": "q", "context": "c", "id": 1}}"#,
                "unknown field \"id\"",
            ),
        ] {
            let error = question_answering(body.as_bytes(), &LIMITS).unwrap_err().0;
            assert!(error.contains(says), "{body}: {error}");
        }
    }
}
