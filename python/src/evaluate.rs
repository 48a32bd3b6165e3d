//! `Engine.evaluate` and `distil.eval_summary`: `distil eval` cut into parts that add up exactly,
//! for workers that each score some lines of a dataset (Ray Data's actors, Spark's executors).
//!
//! A part is {"top_k", "window_tokens", "totals"}: the settings its figures depend on and the
//! totals of `distil eval --shard`'s output (the sum of `-ln p` in fixed point, so that any
//! split, in any order, adds up to one run's figures).

use distil::pipelines::evaluate::{is_blank, Totals};
use distil::Evaluate;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};
use serde::Deserialize;
use serde_json::json;

use crate::engine::Engine;
use crate::{dumps, loads, py_err};

/// One part's figures, as `Engine.evaluate` returns them.
#[derive(Deserialize)]
struct Part {
    top_k: usize,
    window_tokens: usize,
    totals: Totals,
}

pub fn evaluate(
    engine: &Engine,
    py: Python<'_>,
    lines: Vec<Bound<'_, PyAny>>,
    top_k: usize,
    line_numbers: Option<Vec<usize>>,
) -> PyResult<Py<PyAny>> {
    if top_k == 0 {
        return Err(PyValueError::new_err("top_k must be at least 1"));
    }
    let numbers = match line_numbers {
        Some(numbers) if numbers.len() != lines.len() => {
            return Err(PyValueError::new_err(format!(
                "{} line_numbers for {} lines",
                numbers.len(),
                lines.len()
            )))
        }
        Some(numbers) => numbers,
        None => (1..=lines.len()).collect(),
    };
    let mut rows: Vec<(usize, Vec<u8>)> = Vec::with_capacity(lines.len());
    for (i, (line, number)) in lines.iter().zip(numbers).enumerate() {
        let bytes = if let Ok(bytes) = line.cast::<PyBytes>() {
            bytes.as_bytes().to_vec()
        } else if line.is_instance_of::<PyString>() {
            line.extract::<String>()?.into_bytes()
        } else {
            return Err(PyTypeError::new_err(format!(
                "lines[{i}]: give str or bytes, one JSON row each"
            )));
        };
        if !is_blank(&bytes) {
            rows.push((number, bytes));
        }
    }
    let evaluate = Evaluate::new(&engine.engine, top_k).map_err(py_err)?;
    let totals = py
        .detach(|| {
            let lines: Vec<&[u8]> = rows.iter().map(|(_, line)| line.as_slice()).collect();
            let outcomes = evaluate.lines(&lines)?;
            let mut totals = Totals::default();
            for ((number, _), outcome) in rows.iter().zip(&outcomes) {
                totals.add(*number, outcome, top_k);
            }
            Ok(totals)
        })
        .map_err(py_err)?;
    let part = json!({
        "top_k": top_k,
        "window_tokens": engine.engine.max_length(),
        "totals": totals,
    });
    loads(py, &part.to_string())
}

/// Adds up parts that `Engine.evaluate` returned (each line of a dataset in one of them, once)
/// into the summary `distil eval --json` prints for the whole dataset, `seconds` being the run's
/// wall time. Parts of other settings (`top_k`, the model's window) do not add up: `ValueError`.
#[pyfunction]
#[pyo3(signature = (parts, seconds=0.0))]
pub fn eval_summary(
    py: Python<'_>,
    parts: Vec<Bound<'_, PyAny>>,
    seconds: f64,
) -> PyResult<Py<PyAny>> {
    let mut settings: Option<(usize, usize)> = None;
    let mut totals = Totals::default();
    for (i, part) in parts.iter().enumerate() {
        let part: Part = serde_json::from_str(&dumps(part)?).map_err(|e| {
            PyValueError::new_err(format!(
                "parts[{i}]: not what Engine.evaluate returns ({e})"
            ))
        })?;
        let these = (part.top_k, part.window_tokens);
        match settings {
            Some(first) if first != these => {
                return Err(PyValueError::new_err(format!(
                    "parts[{i}]: top_k {} with {}-token windows does not add up with parts[0]'s top_k {} with {}-token windows",
                    these.0, these.1, first.0, first.1
                )))
            }
            _ => settings = Some(these),
        }
        totals.merge(part.totals);
    }
    let Some((top_k, window_tokens)) = settings else {
        return Err(PyValueError::new_err("no parts to add up"));
    };
    let summary = totals.summary(top_k, window_tokens, seconds);
    // Serialising numbers, strings and maps of them cannot fail.
    loads(py, &serde_json::to_string(&summary).unwrap_or_default())
}
