//! The fine-tuned heads on top of the encoder, as `transformers`' classes compute them:
//!
//! ```text
//! …ForSequenceClassification  DistilBERT: logits = classifier(relu(pre_classifier(h[CLS])))
//!                             BERT:       logits = classifier(tanh(pooler.dense(h[CLS])))
//! …ForTokenClassification     logits[t] = classifier(h[t])
//! …ForQuestionAnswering       (start, end)[t] = qa_outputs(h[t])
//! ```
//!
//! (`modeling_distilbert.py`, `modeling_bert.py`; dropout is the identity at inference.) The heads
//! stay in f32 whatever the model's dtype: they see one row per text, or a handful of outputs per
//! token, a negligible share of the work.

use distil_kernels::Kernels;
use ndarray::{Array2, ArrayView2};

use super::config::{Architecture, Config};
use super::flat_mut;
use super::linear::Linear;
use super::task::Task;
use crate::weights::Prefix;
use crate::Result;

/// The non-linearity between a sequence classifier's two layers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolActivation {
    /// DistilBERT's `pre_classifier` is followed by ReLU.
    Relu,
    /// BERT's pooler is followed by tanh.
    Tanh,
}

/// A head and its layers.
pub enum TaskHead {
    /// `[CLS]` → `pool` → activation → `classifier`: `[texts, labels]`.
    SequenceClassification {
        pool: Linear,
        activation: PoolActivation,
        classifier: Linear,
    },
    /// Every token → `classifier`: `[tokens, labels]`.
    TokenClassification { classifier: Linear },
    /// Every token → `qa_outputs`: `[tokens, 2]`, the start and end logits.
    QuestionAnswering { qa_outputs: Linear },
}

impl TaskHead {
    /// The head `c.head.task` names, from `root` (the file's top level, where the heads' keys
    /// are) and `body` (the encoder's, where BERT keeps its pooler); `None` for the encoder and
    /// masked-LM tasks, which have none of their own here.
    pub fn load(root: &Prefix<'_>, body: &Prefix<'_>, c: &Config) -> Result<Option<TaskHead>> {
        let labels = c.head.labels.len();
        Ok(Some(match c.head.task {
            Task::Encoder | Task::MaskedLm => return Ok(None),
            Task::SequenceClassification => {
                let (pool, activation) = match c.architecture {
                    Architecture::DistilBert => (
                        Linear::load(root, "pre_classifier", c.dim, c.dim)?,
                        PoolActivation::Relu,
                    ),
                    Architecture::Bert => (
                        Linear::load(&body.pp("pooler"), "dense", c.dim, c.dim)?,
                        PoolActivation::Tanh,
                    ),
                };
                TaskHead::SequenceClassification {
                    pool,
                    activation,
                    classifier: Linear::load(root, "classifier", labels, c.dim)?,
                }
            }
            Task::TokenClassification => TaskHead::TokenClassification {
                classifier: Linear::load(root, "classifier", labels, c.dim)?,
            },
            Task::QuestionAnswering => TaskHead::QuestionAnswering {
                qa_outputs: Linear::load(root, "qa_outputs", 2, c.dim)?,
            },
        }))
    }

    /// The task this head does.
    pub fn task(&self) -> Task {
        match self {
            TaskHead::SequenceClassification { .. } => Task::SequenceClassification,
            TaskHead::TokenClassification { .. } => Task::TokenClassification,
            TaskHead::QuestionAnswering { .. } => Task::QuestionAnswering,
        }
    }

    /// The head's logits for the hidden states `x: [rows, dim]`: `[rows, outputs]`, where the rows
    /// are the texts' `[CLS]` rows for a sequence classifier and every token for the others.
    pub fn forward(&self, k: &Kernels, x: ArrayView2<'_, f32>) -> Array2<f32> {
        let rows = x.nrows();
        match self {
            TaskHead::SequenceClassification {
                pool,
                activation,
                classifier,
            } => {
                let mut pooled = Array2::zeros((rows, pool.out_dim())); // [rows, dim]
                pool.forward(k, x, pooled.view_mut());
                let pooled_flat = flat_mut(pooled.view_mut());
                match activation {
                    PoolActivation::Relu => k.relu(pooled_flat),
                    PoolActivation::Tanh => pooled_flat.iter_mut().for_each(|v| *v = v.tanh()),
                }
                let mut logits = Array2::zeros((rows, classifier.out_dim())); // [rows, labels]
                classifier.forward(k, pooled.view(), logits.view_mut());
                logits
            }
            TaskHead::TokenClassification { classifier: layer }
            | TaskHead::QuestionAnswering { qa_outputs: layer } => {
                let mut logits = Array2::zeros((rows, layer.out_dim())); // [rows, outputs]
                layer.forward(k, x, logits.view_mut());
                logits
            }
        }
    }
}
