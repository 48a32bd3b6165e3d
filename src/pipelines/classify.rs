//! Text classification, as Hugging Face's `text-classification` pipeline does it with
//! `truncation=True` (`transformers/pipelines/text_classification.py`):
//!
//! 1. tokenize a text, or a pair of texts as `[CLS] a [SEP] b [SEP]` cut `longest_first`, to the
//!    model's maximum length;
//! 2. run the encoder and the sequence classifier on `[CLS]`: one logit per label;
//! 3. turn the logits into scores with the pipeline's function: sigmoid for one label or
//!    multi-label models, softmax for other models, or as asked (`softmax`, `sigmoid`, `none`);
//! 4. the labels by score, best first (a stable sort: equal scores keep the labels' order), the
//!    first `top_k` of them (all with `None`).
//!
//! The scores are computed in f32, as the pipeline computes them in float32 NumPy.

use serde::Serialize;

use super::batches;
use crate::model::{ProblemType, Task};
use crate::tokenizer::PairEncoding;
use crate::{Engine, Error, Result};

/// How logits become scores (the pipeline's `function_to_apply`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScoreFunction {
    /// `exp(x - max) / Σ exp(x - max)` over the labels.
    Softmax,
    /// `1 / (1 + exp(-x))`, each label on its own.
    Sigmoid,
    /// The logits themselves.
    None,
}

impl ScoreFunction {
    /// The pipeline's default for a model of `labels` labels and `problem_type`: sigmoid for
    /// multi-label models and single-label ones, softmax for the others.
    pub fn default_for(labels: usize, problem_type: Option<ProblemType>) -> ScoreFunction {
        if problem_type == Some(ProblemType::MultiLabel) || labels == 1 {
            ScoreFunction::Sigmoid
        } else {
            ScoreFunction::Softmax
        }
    }

    /// `logits` turned into scores.
    pub fn apply(self, logits: &[f32]) -> Vec<f32> {
        match self {
            ScoreFunction::Softmax => {
                let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let exps: Vec<f32> = logits.iter().map(|&x| (x - max).exp()).collect();
                let sum: f32 = exps.iter().sum();
                exps.iter().map(|&e| e / sum).collect()
            }
            ScoreFunction::Sigmoid => logits.iter().map(|&x| 1.0 / (1.0 + (-x).exp())).collect(),
            ScoreFunction::None => logits.to_vec(),
        }
    }
}

/// What to return.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClassifyOptions {
    /// The best `k` labels, or all of them with `None` (the pipeline's `top_k`; 1 by default).
    pub top_k: Option<usize>,
    /// The score function; `None` takes the pipeline's default for the model.
    pub function: Option<ScoreFunction>,
}

impl Default for ClassifyOptions {
    fn default() -> Self {
        ClassifyOptions {
            top_k: Some(1),
            function: None,
        }
    }
}

/// One input: a text, or a pair of texts (NLI, paraphrase, a query and a passage).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClassifyInput<'a> {
    /// `tokenizer(text)`.
    Text(&'a str),
    /// `tokenizer(text, text_pair)`.
    Pair(&'a str, &'a str),
}

/// A label and its score.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LabelScore {
    /// The label's name (`id2label`).
    pub label: String,
    /// Its score under the score function.
    pub score: f32,
}

/// One input's answer.
#[derive(Clone, Debug, PartialEq)]
pub struct Classification {
    /// The labels, best first.
    pub labels: Vec<LabelScore>,
    /// The label logits, in label order.
    pub logits: Vec<f32>,
    /// Pieces cut by truncation (0 if the input fit).
    pub truncated: usize,
}

impl Classification {
    /// The pipeline's JSON: a list of `{"label", "score"}`, best first.
    pub fn to_json(&self) -> String {
        // Serialising strings and floats cannot fail (a NaN score becomes null).
        serde_json::to_string(&self.labels).unwrap_or_default()
    }
}

/// A sequence classifier over an engine.
pub struct Classify<'e> {
    engine: &'e Engine,
    options: ClassifyOptions,
    function: ScoreFunction,
}

impl<'e> Classify<'e> {
    /// Fails if the model has no sequence-classification head, naming what it has.
    pub fn new(engine: &'e Engine, options: ClassifyOptions) -> Result<Self> {
        engine.require_task(Task::SequenceClassification)?;
        let head = &engine.config().head;
        let function = options
            .function
            .unwrap_or_else(|| ScoreFunction::default_for(head.labels.len(), head.problem_type));
        Ok(Classify {
            engine,
            options,
            function,
        })
    }

    /// The score function in use (asked for, or the model's default).
    pub fn function(&self) -> ScoreFunction {
        self.function
    }

    /// An input's tokens, truncated to the model's length. An empty second text makes no pair,
    /// as transformers tokenizes a single call (`[(text, text_pair)] if text_pair else [text]`).
    pub fn encode(&self, input: &ClassifyInput<'_>) -> PairEncoding {
        let max_length = self.engine.max_length();
        let tokenizer = self.engine.tokenizer();
        match *input {
            ClassifyInput::Text(text) | ClassifyInput::Pair(text, "") => {
                let (encoding, truncated) = tokenizer.encode_truncated(text, max_length);
                PairEncoding {
                    second: encoding.len(),
                    encoding,
                    truncated,
                }
            }
            ClassifyInput::Pair(a, b) => tokenizer.encode_pair(a, b, max_length),
        }
    }

    /// Each input's labels, in input order; an error for an input whose batch failed, without
    /// losing the other batches' answers.
    pub fn run(&self, inputs: &[ClassifyInput<'_>]) -> Vec<Result<Classification>> {
        let encoded: Vec<PairEncoding> = inputs.iter().map(|input| self.encode(input)).collect();
        self.run_encoded(&encoded)
    }

    /// [`Classify::run`] on inputs already tokenized ([`Classify::encode`]).
    pub fn run_encoded(&self, encoded: &[PairEncoding]) -> Vec<Result<Classification>> {
        let names = &self.engine.config().head.labels;
        pair_logits(self.engine, encoded)
            .into_iter()
            .zip(encoded)
            .map(|(logits, input)| {
                let logits = logits?;
                let scores = self.function.apply(&logits);
                let mut labels: Vec<LabelScore> = names
                    .iter()
                    .zip(scores)
                    .map(|(label, score)| LabelScore {
                        label: label.clone(),
                        score,
                    })
                    .collect();
                labels.sort_by(|a, b| b.score.total_cmp(&a.score));
                labels.truncate(self.options.top_k.unwrap_or(labels.len()));
                Ok(Classification {
                    labels,
                    logits,
                    truncated: input.truncated,
                })
            })
            .collect()
    }
}

/// Each input's label logits from the sequence classifier, in input order, in batches of the
/// engine's token budget; an error for the inputs of a batch that failed.
pub(super) fn pair_logits(engine: &Engine, inputs: &[PairEncoding]) -> Vec<Result<Vec<f32>>> {
    let lens: Vec<usize> = inputs.iter().map(|e| e.encoding.len()).collect();
    let mut results = Vec::with_capacity(inputs.len());
    for group in batches(&lens, engine.max_batch_tokens()) {
        let group = &inputs[group];
        match batch_logits(engine, group) {
            Ok(rows) => results.extend(rows.into_iter().map(Ok)),
            Err(err) => results.extend(group.iter().map(|_| Err(err.for_each_input()))),
        }
    }
    results
}

fn batch_logits(engine: &Engine, group: &[PairEncoding]) -> Result<Vec<Vec<f32>>> {
    let ids: Vec<&[u32]> = group.iter().map(|e| e.encoding.ids.as_slice()).collect();
    let second: Vec<usize> = group.iter().map(|e| e.second).collect();
    let hidden = engine.forward_segments(&ids, &second)?;
    let logits = engine.sequence_logits(&hidden)?;
    let labels = engine.config().head.labels.len();
    if logits.ncols() != labels {
        return Err(Error::model(format!(
            "the classifier gives {} logits for {labels} labels",
            logits.ncols()
        )));
    }
    Ok(logits.rows().into_iter().map(|row| row.to_vec()).collect())
}
