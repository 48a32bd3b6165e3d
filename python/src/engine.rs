//! `distil.Engine`: a model loaded once (weights mapped, not copied; its own thread pool), and
//! every pipeline over it. Each call copies its texts out of Python, then releases the GIL for
//! the work; calls from several Python threads run side by side on the engine's pool.

use distil::{Dtype, Embed, EmbedConfig, FillMask, FillMaskOptions, FillMaskOutput, Options};
use numpy::{IntoPyArray, PyArray2};
use pyo3::exceptions::{PyUserWarning, PyValueError};
use pyo3::prelude::*;

use crate::answers::{answers, json_each, OnError};
use crate::{evaluate, heads, loads, py_err};

/// How many unusable fill-mask targets a warning names (it gives the count of all of them).
const NAMED_TARGETS: usize = 10;

/// A model loaded for inference: fill-mask, embeddings, tokenizing, the fine-tuned heads and the
/// fill-mask evaluation.
#[pyclass(frozen, module = "distil")]
pub struct Engine {
    pub(crate) engine: distil::Engine,
    /// The model directory's sentence-transformers settings, read once at load (as the server
    /// reads them) rather than from disk on every `embed`.
    embed_config: EmbedConfig,
    model: String,
}

#[pymethods]
impl Engine {
    /// Loads `model`, a model directory or a Hugging Face hub id; `threads` sizes the engine's
    /// thread pool (one per core by default); `dtype` is what the linear layers compute in:
    /// "f32" (Hugging Face's numbers), "bf16" or "int8".
    #[new]
    #[pyo3(signature = (model, threads=None, dtype="f32"))]
    fn new(py: Python<'_>, model: String, threads: Option<usize>, dtype: &str) -> PyResult<Self> {
        if threads == Some(0) {
            return Err(PyValueError::new_err("threads must be at least 1"));
        }
        let dtype: Dtype = dtype
            .parse()
            .map_err(|e| PyValueError::new_err(format!("{e}")))?;
        let options = Options {
            threads,
            dtype,
            ..Options::default()
        };
        let (engine, embed_config) = py
            .detach(|| {
                let engine = distil::Engine::from_pretrained(&model, &options)?;
                let embed_config = EmbedConfig::from_dir(engine.dir())?;
                Ok((engine, embed_config))
            })
            .map_err(py_err)?;
        Ok(Engine {
            engine,
            embed_config,
            model,
        })
    }

    fn __repr__(&self) -> String {
        format!(
            "distil.Engine({:?}, threads={}, dtype={:?})",
            self.model,
            self.engine.threads(),
            self.engine.dtype().name()
        )
    }

    /// The model, its head, what it can be asked and the settings it computes with: the fields
    /// of `distil serve`'s `/info` that describe the model.
    fn info(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let mut info = serde_json::to_value(self.engine.info())
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        if let Some(map) = info.as_object_mut() {
            map.insert("model".into(), self.model.clone().into());
            map.insert("version".into(), env!("CARGO_PKG_VERSION").into());
        }
        loads(py, &info.to_string())
    }

    /// Each text's token ids, `[CLS]` and `[SEP]` included, not truncated.
    fn tokenize(&self, py: Python<'_>, texts: Vec<String>) -> Vec<Vec<u32>> {
        let tokenizer = self.engine.tokenizer();
        py.detach(|| texts.iter().map(|t| tokenizer.encode(t).ids).collect())
    }

    /// One vector per text, as sentence-transformers' `encode` computes it (pooling and length
    /// from the model directory's settings): a float32 array `(len(texts), dim)`, NumPy's view
    /// of the array distil computed. `normalize` scales each vector to unit length; without it
    /// the pooled vectors come as they are, even for a model whose settings normalise.
    #[pyo3(signature = (texts, normalize=true))]
    fn embed<'py>(
        &self,
        py: Python<'py>,
        texts: Vec<String>,
        normalize: bool,
    ) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let config = EmbedConfig {
            normalize,
            ..self.embed_config.clone()
        };
        let embed = Embed::with_config(&self.engine, config);
        let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
        let embeddings = py.detach(|| embed.run(&texts)).map_err(py_err)?;
        Ok(embeddings.vectors.into_pyarray(py))
    }

    /// The `top_k` most likely tokens behind each `[MASK]` of each text, in the fill-mask
    /// pipeline's format: per text a list of {"score", "token", "token_str", "sequence"}, or a
    /// list of such lists for several masks. `targets` scores those words only.
    #[pyo3(signature = (texts, top_k=5, targets=None, errors="raise"))]
    fn fill_mask(
        &self,
        py: Python<'_>,
        texts: Vec<String>,
        top_k: usize,
        targets: Option<Vec<String>>,
        errors: &str,
    ) -> PyResult<Vec<Py<PyAny>>> {
        let on_error = OnError::parse(errors)?;
        if top_k == 0 {
            return Err(PyValueError::new_err("top_k must be at least 1"));
        }
        let targets = match targets {
            None => None,
            Some(words) => {
                let (ids, notes) = FillMask::target_ids(&self.engine, &words).map_err(py_err)?;
                if let Some(summary) = notes.summary(NAMED_TARGETS) {
                    let message = std::ffi::CString::new(summary).unwrap_or_default();
                    PyErr::warn(py, &py.get_type::<PyUserWarning>(), &message, 1)?;
                }
                Some(ids)
            }
        };
        let fill_mask =
            FillMask::new(&self.engine, FillMaskOptions { top_k, targets }).map_err(py_err)?;
        let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
        let results = py.detach(|| json_each(fill_mask.run(&texts), FillMaskOutput::to_json));
        answers(py, results, on_error, "texts")
    }

    /// Labels and scores per text, or per `(text, text_pair)` pair, best first, as the
    /// text-classification pipeline gives them; `top_k=None` gives every label. `function`
    /// ("softmax", "sigmoid", "none") overrides how logits become scores.
    #[pyo3(signature = (texts, top_k=Some(1), function=None, errors="raise"))]
    fn classify(
        &self,
        py: Python<'_>,
        texts: Vec<Bound<'_, PyAny>>,
        top_k: Option<usize>,
        function: Option<&str>,
        errors: &str,
    ) -> PyResult<Vec<Py<PyAny>>> {
        heads::classify(self, py, texts, top_k, function, OnError::parse(errors)?)
    }

    /// The entities of each text, as the token-classification pipeline gives them with this
    /// `aggregation_strategy` ("none", "simple", "first", "average", "max").
    #[pyo3(signature = (texts, aggregation_strategy="none", errors="raise"))]
    fn ner(
        &self,
        py: Python<'_>,
        texts: Vec<String>,
        aggregation_strategy: &str,
        errors: &str,
    ) -> PyResult<Vec<Py<PyAny>>> {
        heads::ner(
            self,
            py,
            texts,
            aggregation_strategy,
            OnError::parse(errors)?,
        )
    }

    /// Answers to `question` from `context`, as the question-answering pipeline gives them: one
    /// question and one context give one answer ({"score", "start", "end", "answer"}, or a list
    /// of `top_k`); lists give a list, one per question (one context may serve them all).
    #[pyo3(signature = (question, context, top_k=1, max_answer_len=15, doc_stride=None,
        max_seq_len=None, handle_impossible_answer=false, errors="raise"))]
    #[allow(clippy::too_many_arguments)]
    fn qa(
        &self,
        py: Python<'_>,
        question: Bound<'_, PyAny>,
        context: Bound<'_, PyAny>,
        top_k: usize,
        max_answer_len: usize,
        doc_stride: Option<usize>,
        max_seq_len: Option<usize>,
        handle_impossible_answer: bool,
        errors: &str,
    ) -> PyResult<Py<PyAny>> {
        let options = distil::QaOptions {
            top_k,
            max_answer_len,
            doc_stride,
            max_seq_len,
            handle_impossible_answer,
        };
        heads::qa(
            self,
            py,
            question,
            context,
            options,
            OnError::parse(errors)?,
        )
    }

    /// `texts` scored against `query` by a cross-encoder and sorted, best first: a list of
    /// {"index", "score"} (indices into `texts`). `raw_scores` gives the logits.
    #[pyo3(signature = (query, texts, raw_scores=false))]
    fn rerank(
        &self,
        py: Python<'_>,
        query: String,
        texts: Vec<String>,
        raw_scores: bool,
    ) -> PyResult<Py<PyAny>> {
        heads::rerank(self, py, query, texts, raw_scores)
    }

    /// Fill-mask evaluated on lines of a mask-filling dataset (JSON rows, `str` or `bytes`; blank
    /// lines are not rows), as `distil eval` scores them: {"top_k", "window_tokens", "totals"},
    /// which `distil.eval_summary` adds up with other parts into `distil eval --json`'s summary.
    /// `line_numbers` name the lines in the skipped rows' list (1, 2, … by default).
    #[pyo3(signature = (lines, top_k=5, line_numbers=None))]
    fn evaluate(
        &self,
        py: Python<'_>,
        lines: Vec<Bound<'_, PyAny>>,
        top_k: usize,
        line_numbers: Option<Vec<usize>>,
    ) -> PyResult<Py<PyAny>> {
        evaluate::evaluate(self, py, lines, top_k, line_numbers)
    }
}
