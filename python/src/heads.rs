//! The fine-tuned heads' calls of `distil.Engine`: `classify`, `ner`, `qa` and `rerank`, each
//! answering as the command line's `--json` does.

use distil::{
    Aggregation, Classification, Classify, ClassifyInput, ClassifyOptions, Ner, NerOutput, Qa,
    QaOptions, Question, Rerank, ScoreFunction,
};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

use crate::answers::{answers, json_each, OnError};
use crate::engine::Engine;
use crate::{loads, py_err};

/// A text or a pair of texts, copied out of Python.
enum Input {
    Text(String),
    Pair(String, String),
}

impl Input {
    /// A `str`, a `(text, text_pair)` tuple or list, or a {"text", "text_pair"} dict (the
    /// pipeline's three ways).
    fn extract(i: usize, item: &Bound<'_, PyAny>) -> PyResult<Input> {
        if item.is_instance_of::<PyString>() {
            return Ok(Input::Text(item.extract()?));
        }
        if let Ok(dict) = item.cast::<PyDict>() {
            let field = |name: &str| -> PyResult<Option<String>> {
                dict.get_item(name)?.map(|v| v.extract()).transpose()
            };
            return match (field("text")?, field("text_pair")?) {
                (Some(text), Some(pair)) => Ok(Input::Pair(text, pair)),
                (Some(text), None) => Ok(Input::Text(text)),
                (None, _) => Err(PyValueError::new_err(format!("texts[{i}]: no \"text\""))),
            };
        }
        let (text, pair): (String, String) = item.extract().map_err(|_| {
            PyTypeError::new_err(format!(
                "texts[{i}]: give a str, a (text, text_pair) pair or a {{\"text\", \"text_pair\"}} dict"
            ))
        })?;
        Ok(Input::Pair(text, pair))
    }

    fn as_classify(&self) -> ClassifyInput<'_> {
        match self {
            Input::Text(text) => ClassifyInput::Text(text),
            Input::Pair(text, pair) => ClassifyInput::Pair(text, pair),
        }
    }
}

pub fn classify(
    engine: &Engine,
    py: Python<'_>,
    texts: Vec<Bound<'_, PyAny>>,
    top_k: Option<usize>,
    function: Option<&str>,
    on_error: OnError,
) -> PyResult<Vec<Py<PyAny>>> {
    if top_k == Some(0) {
        return Err(PyValueError::new_err(
            "top_k must be at least 1 (None for every label)",
        ));
    }
    let function = match function {
        None => None,
        Some("softmax") => Some(ScoreFunction::Softmax),
        Some("sigmoid") => Some(ScoreFunction::Sigmoid),
        Some("none") => Some(ScoreFunction::None),
        Some(other) => {
            return Err(PyValueError::new_err(format!(
                "function={other:?}: give \"softmax\", \"sigmoid\" or \"none\""
            )))
        }
    };
    let inputs = texts
        .iter()
        .enumerate()
        .map(|(i, item)| Input::extract(i, item))
        .collect::<PyResult<Vec<Input>>>()?;
    let classify =
        Classify::new(&engine.engine, ClassifyOptions { top_k, function }).map_err(py_err)?;
    let inputs: Vec<ClassifyInput<'_>> = inputs.iter().map(Input::as_classify).collect();
    let results = py.detach(|| json_each(classify.run(&inputs), Classification::to_json));
    answers(py, results, on_error, "texts")
}

pub fn ner(
    engine: &Engine,
    py: Python<'_>,
    texts: Vec<String>,
    aggregation_strategy: &str,
    on_error: OnError,
) -> PyResult<Vec<Py<PyAny>>> {
    let aggregation = Aggregation::from_name(aggregation_strategy).ok_or_else(|| {
        PyValueError::new_err(format!(
            "aggregation_strategy={aggregation_strategy:?}: give \"none\", \"simple\", \"first\", \"average\" or \"max\""
        ))
    })?;
    let ner = Ner::new(&engine.engine, aggregation).map_err(py_err)?;
    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
    let results = py.detach(|| json_each(ner.run(&texts), NerOutput::to_json));
    answers(py, results, on_error, "texts")
}

/// A `str` (one) or a list of `str` (several).
fn one_or_many(name: &str, value: &Bound<'_, PyAny>) -> PyResult<(Vec<String>, bool)> {
    if let Ok(one) = value.extract::<String>() {
        return Ok((vec![one], false));
    }
    let many: Vec<String> = value
        .extract()
        .map_err(|_| PyTypeError::new_err(format!("{name}: give a str or a list of str")))?;
    Ok((many, true))
}

pub fn qa(
    engine: &Engine,
    py: Python<'_>,
    question: Bound<'_, PyAny>,
    context: Bound<'_, PyAny>,
    options: QaOptions,
    on_error: OnError,
) -> PyResult<Py<PyAny>> {
    let (questions, many_questions) = one_or_many("question", &question)?;
    let (contexts, many_contexts) = one_or_many("context", &context)?;
    // One context serves every question, one question every context; lists go in pairs.
    let pairs: Vec<Question<'_>> = match (questions.len(), contexts.len()) {
        (q, c) if q == c => questions
            .iter()
            .zip(&contexts)
            .map(|(question, context)| Question { question, context })
            .collect(),
        (_, 1) => questions
            .iter()
            .map(|question| Question {
                question,
                context: &contexts[0],
            })
            .collect(),
        (1, _) => contexts
            .iter()
            .map(|context| Question {
                question: &questions[0],
                context,
            })
            .collect(),
        (q, c) => {
            return Err(PyValueError::new_err(format!(
                "{q} questions and {c} contexts: give as many of each, or one of either"
            )))
        }
    };
    let top_k = options.top_k;
    let qa = Qa::new(&engine.engine, options).map_err(py_err)?;
    let results = py.detach(|| json_each(qa.run(&pairs), |answer| answer.to_json(top_k)));
    let mut answers = answers(py, results, on_error, "question")?;
    if many_questions || many_contexts {
        Ok(answers.into_pyobject(py)?.into_any().unbind())
    } else {
        Ok(answers.remove(0))
    }
}

pub fn rerank(
    engine: &Engine,
    py: Python<'_>,
    query: String,
    texts: Vec<String>,
    raw_scores: bool,
) -> PyResult<Py<PyAny>> {
    let rerank = Rerank::new(&engine.engine, raw_scores).map_err(py_err)?;
    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
    let ranked = py.detach(|| rerank.rank(&query, &texts)).map_err(py_err)?;
    // Serialising integers and floats cannot fail (a NaN score becomes null).
    loads(py, &serde_json::to_string(&ranked).unwrap_or_default())
}
