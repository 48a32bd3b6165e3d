//! One answer per input, as the command line gives them: an input that cannot be answered raises
//! `ValueError` naming it (`errors="raise"`, the default), or keeps its place as
//! `{"error": "texts[2]: …"}` beside the others' answers (`errors="return"`, the `--json` line of
//! the command line).

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::loads;

/// What a call does with an input it cannot answer.
#[derive(Clone, Copy)]
pub enum OnError {
    Raise,
    Return,
}

impl OnError {
    pub fn parse(name: &str) -> PyResult<OnError> {
        match name {
            "raise" => Ok(OnError::Raise),
            "return" => Ok(OnError::Return),
            other => Err(PyValueError::new_err(format!(
                "errors={other:?}: give \"raise\" or \"return\""
            ))),
        }
    }
}

/// Each input's answer as its JSON text (`to_json`, the command line's `--json` line), or why it
/// has none.
pub fn json_each<T>(
    results: Vec<distil::Result<T>>,
    to_json: impl Fn(&T) -> String,
) -> Vec<Result<String, String>> {
    results
        .into_iter()
        .map(|r| r.map(|answer| to_json(&answer)).map_err(|e| e.to_string()))
        .collect()
}

/// Each input's answer (its JSON text) or why it has none, into Python: the answers read with
/// `json.loads`, the failures raised or kept as `{"error": …}` by `on_error`. `what` names the
/// inputs in messages (`texts`, `question`).
pub fn answers(
    py: Python<'_>,
    results: Vec<Result<String, String>>,
    on_error: OnError,
    what: &str,
) -> PyResult<Vec<Py<PyAny>>> {
    results
        .into_iter()
        .enumerate()
        .map(|(i, result)| match (result, on_error) {
            (Ok(json), _) => loads(py, &json),
            (Err(e), OnError::Raise) => Err(PyValueError::new_err(format!("{what}[{i}]: {e}"))),
            (Err(e), OnError::Return) => {
                let error = PyDict::new(py);
                error.set_item("error", format!("{what}[{i}]: {e}"))?;
                Ok(error.into_any().unbind())
            }
        })
        .collect()
}
