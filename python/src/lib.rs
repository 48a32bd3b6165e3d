//! The `distil` Python module: an [`Engine`](engine::Engine) over a model, whose calls release the
//! GIL for tokenizing, the forward passes and post-processing, and answer in the formats of the
//! command line's `--json` (the Hugging Face pipelines'), or as NumPy arrays for embeddings.
//!
//! Structured answers cross into Python as the JSON text the command line prints, read by Python's
//! own `json` module: the same bytes, so the same values, by construction.

mod answers;
mod engine;
mod evaluate;
mod heads;

use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;

/// The module: `distil.Engine`, `distil.eval_summary`, `distil.__version__`.
#[pymodule]
#[pyo3(name = "distil")]
fn distil_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<engine::Engine>()?;
    m.add_function(wrap_pyfunction!(evaluate::eval_summary, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}

/// distil's error as Python's: `OSError` when a file cannot be read, `ValueError` otherwise, with
/// distil's one-line message.
fn py_err(e: distil::Error) -> PyErr {
    match e.kind() {
        distil::ErrorKind::Io => PyOSError::new_err(e.to_string()),
        _ => PyValueError::new_err(e.to_string()),
    }
}

/// A JSON document as Python objects (`json.loads`).
fn loads(py: Python<'_>, json: &str) -> PyResult<Py<PyAny>> {
    Ok(py
        .import("json")?
        .getattr("loads")?
        .call1((json,))?
        .unbind())
}

/// Python objects as a JSON document (`json.dumps`).
fn dumps(value: &Bound<'_, PyAny>) -> PyResult<String> {
    value
        .py()
        .import("json")?
        .getattr("dumps")?
        .call1((value,))?
        .extract()
}
