//! `POST /score` on a token classifier or a question-answering model, in Azure ML's envelope
//! (`input_data` or `inputs`, parameters in `params` or `input_data.parameters`):
//!
//! - a token classifier takes the texts as fill-mask does, with the pipeline's
//!   `aggregation_strategy` as its one parameter;
//! - a question-answering model takes `{"question": …, "context": …}` (strings, or lists of equal
//!   length, or a list of questions against one context, as the pipeline pairs them) or a list of
//!   such objects, with the pipeline's keyword arguments as parameters.

use serde_json::{Map, Value};

use super::azure::envelope;
use super::hugging_face_tasks::{aggregation, qa_options, QA_PARAMETERS};
use super::{as_object, count, kind, known_keys, object, strings, BadRequest, Limits};
use distil::{Aggregation, QaOptions};

/// `POST /score` on a token classifier: the texts and how to group their tokens.
#[derive(Clone, Debug, PartialEq)]
pub struct ScoreEntities {
    pub texts: Vec<String>,
    pub aggregation: Aggregation,
}

/// `POST /score` on a question-answering model: each question with its context, the options, and
/// whether the caller asked for the pipeline's objects (`top_k` given) rather than the answers'
/// strings.
#[derive(Clone, Debug, PartialEq)]
pub struct ScoreAnswers {
    pub questions: Vec<(String, String)>,
    pub options: QaOptions,
    pub full: bool,
}

/// Reads a `/score` body for a token classifier.
pub fn score_entities(body: &[u8], limits: &Limits) -> Result<ScoreEntities, BadRequest> {
    let map = object(body)?;
    let envelope = envelope(&map)?;
    let texts = envelope.texts(limits)?;
    let aggregation = match envelope.params {
        None => Aggregation::None,
        Some((params, field)) => {
            known_keys(params, &format!("\"{field}\""), &["aggregation_strategy"])?;
            aggregation(params, field)?
        }
    };
    Ok(ScoreEntities { texts, aggregation })
}

/// Reads a `/score` body for a question-answering model.
pub fn score_answers(body: &[u8], limits: &Limits) -> Result<ScoreAnswers, BadRequest> {
    let map = object(body)?;
    let envelope = envelope(&map)?;
    let questions = match envelope.data {
        Value::Array(items) => {
            count(items.len(), envelope.field, limits)?;
            items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    let field = format!("{}[{i}]", envelope.field);
                    let item = as_object(item, &field)?;
                    known_keys(item, &format!("\"{field}\""), &["question", "context"])?;
                    if item.values().any(Value::is_array) {
                        return Err(BadRequest(format!(
                            "\"{field}\" must hold one question and one context (strings), not lists"
                        )));
                    }
                    // Two strings make exactly one pair.
                    pairs(item, &field)?
                        .into_iter()
                        .next()
                        .ok_or_else(|| BadRequest(format!("\"{field}\" has no question")))
                })
                .collect::<Result<Vec<_>, _>>()?
        }
        Value::Object(item) => {
            known_keys(
                item,
                &format!("\"{}\"", envelope.field),
                &["question", "context", "parameters"],
            )?;
            let questions = pairs(item, envelope.field)?;
            count(questions.len(), &format!("{}.question", envelope.field), limits)?;
            questions
        }
        other => {
            return Err(BadRequest(format!(
                "\"{}\" must be an object {{\"question\": …, \"context\": …}} or a list of them, not {}",
                envelope.field,
                kind(other)
            )))
        }
    };
    let (options, full) = match envelope.params {
        None => (QaOptions::default(), false),
        Some((params, field)) => {
            known_keys(params, &format!("\"{field}\""), QA_PARAMETERS)?;
            (qa_options(params, field)?, params.contains_key("top_k"))
        }
    };
    Ok(ScoreAnswers {
        questions,
        options,
        full,
    })
}

/// The questions of `item` with their contexts, paired as the question-answering pipeline pairs
/// them: one with one, a list with a list of the same length, a list with one context.
fn pairs(item: &Map<String, Value>, field: &str) -> Result<Vec<(String, String)>, BadRequest> {
    let example = "{\"question\": \"…\", \"context\": \"…\"}";
    let read = |name: &str| match item.get(name) {
        None => Err(BadRequest(format!(
            "\"{field}\" has no \"{name}\": expected {example}"
        ))),
        Some(value) => Ok((
            strings(
                value,
                &format!("{field}.{name}"),
                "a string or a list of strings",
            )?,
            value.is_string(),
        )),
    };
    let (questions, _) = read("question")?;
    let (contexts, one_context) = read("context")?;
    if one_context {
        let context = &contexts[0];
        return Ok(questions
            .into_iter()
            .map(|q| (q, context.clone()))
            .collect());
    }
    if questions.len() != contexts.len() {
        return Err(BadRequest(format!(
            "\"{field}\" has {} questions and {} contexts; give one context, or one per question",
            questions.len(),
            contexts.len()
        )));
    }
    Ok(questions.into_iter().zip(contexts).collect())
}

#[cfg(test)]
mod tests {
    use super::super::tests::{texts, LIMITS};
    use super::*;

    fn pair(q: &str, c: &str) -> (String, String) {
        (q.to_string(), c.to_string())
    }

    #[test]
    fn entities_take_the_fill_mask_shapes_and_a_strategy() {
        let got = score_entities(
            br#"{"input_data": ["Ingrid lives", "in Oslo"], "params": {"aggregation_strategy": "simple"}}"#,
            &LIMITS,
        )
        .unwrap();
        assert_eq!(got.texts, texts(&["Ingrid lives", "in Oslo"]));
        assert_eq!(got.aggregation, Aggregation::Simple);
        let got = score_entities(
            br#"{"input_data": {"input_string": ["a"], "parameters": {"aggregation_strategy": "max"}}}"#,
            &LIMITS,
        )
        .unwrap();
        assert_eq!(got.aggregation, Aggregation::Max);
        let got = score_entities(br#"{"inputs": "a"}"#, &LIMITS).unwrap();
        assert_eq!(got.aggregation, Aggregation::None);
        for (body, message) in [
            (
                r#"{"input_data": ["a"], "params": {"top_k": 2}}"#,
                "\"params\" has an unknown field \"top_k\"; the fields are \"aggregation_strategy\"",
            ),
            (
                r#"{"input_data": ["a"], "params": {"aggregation_strategy": "mean"}}"#,
                "\"params.aggregation_strategy\" must be one of \"none\", \"simple\", \"first\", \"average\", \"max\", not \"mean\"",
            ),
        ] {
            assert_eq!(score_entities(body.as_bytes(), &LIMITS).unwrap_err().0, message);
        }
    }

    #[test]
    fn answers_pair_questions_as_the_pipeline_does() {
        let got = score_answers(
            br#"{"input_data": {"question": "What's my name?", "context": "My name is John"}}"#,
            &LIMITS,
        )
        .unwrap();
        assert_eq!(
            got.questions,
            vec![pair("What's my name?", "My name is John")]
        );
        assert!(!got.full);
        let got = score_answers(
            br#"{"input_data": {"question": ["q1", "q2"], "context": ["c1", "c2"]}, "params": {"top_k": 2, "doc_stride": 32}}"#,
            &LIMITS,
        )
        .unwrap();
        assert_eq!(got.questions, vec![pair("q1", "c1"), pair("q2", "c2")]);
        assert!(got.full);
        assert_eq!((got.options.top_k, got.options.doc_stride), (2, Some(32)));
        let got = score_answers(
            br#"{"inputs": {"question": ["q1", "q2"], "context": "c"}}"#,
            &LIMITS,
        )
        .unwrap();
        assert_eq!(got.questions, vec![pair("q1", "c"), pair("q2", "c")]);
        let got = score_answers(
            br#"{"input_data": [{"question": "q", "context": "c"}], "params": {"max_answer_len": 4}}"#,
            &LIMITS,
        )
        .unwrap();
        assert_eq!(got.questions, vec![pair("q", "c")]);
        assert!(!got.full);
        assert_eq!(got.options.max_answer_len, 4);
    }

    #[test]
    fn answer_errors_name_the_field() {
        for (body, message) in [
            (
                r#"{"input_data": {"question": "q"}}"#,
                "\"input_data\" has no \"context\": expected {\"question\": \"…\", \"context\": \"…\"}",
            ),
            (
                r#"{"input_data": {"question": ["a", "b"], "context": ["c"]}}"#,
                "\"input_data\" has 2 questions and 1 contexts; give one context, or one per question",
            ),
            (
                r#"{"input_data": {"question": "a", "context": ["c", "d"]}}"#,
                "\"input_data\" has 1 questions and 2 contexts; give one context, or one per question",
            ),
            (
                r#"{"input_data": ["what?"]}"#,
                "\"input_data[0]\" must be an object, not a string",
            ),
            (
                r#"{"input_data": [{"question": ["a"], "context": "c"}]}"#,
                "\"input_data[0]\" must hold one question and one context (strings), not lists",
            ),
            (
                r#"{"input_data": {"question": 3, "context": "c"}}"#,
                "\"input_data.question\" must be a string or a list of strings, not a number",
            ),
            (
                r#"{"input_data": {"question": [], "context": "c"}}"#,
                "\"input_data.question\" is an empty list; send at least one text",
            ),
            (
                r#"{"input_data": {"question": ["a","b","c","d","e"], "context": "c"}}"#,
                "\"input_data.question\" has 5 texts; the limit is 4 per request (--max-texts)",
            ),
            (
                r#"{"input_data": "what?"}"#,
                "\"input_data\" must be an object {\"question\": …, \"context\": …} or a list of them, not a string",
            ),
            (
                r#"{"input_data": {"question": "q", "context": "c"}, "params": {"aggregation_strategy": "first"}}"#,
                "\"params\" has an unknown field \"aggregation_strategy\"; the fields are \"top_k\", \"max_answer_len\", \"doc_stride\", \"max_seq_len\", \"handle_impossible_answer\"",
            ),
        ] {
            assert_eq!(score_answers(body.as_bytes(), &LIMITS).unwrap_err().0, message, "{body}");
        }
    }
}
