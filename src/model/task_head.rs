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
use super::linear::Linear;
use super::task::Task;
use super::{flat, flat_mut};
use super::{Hidden, Model};
use crate::weights::Prefix;
use crate::{Error, Result};

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

/// The heads through the model: what it was trained for, the logits, and why it lacks a head.
impl Model {
    /// The task the checkpoint was trained for (`architectures` in `config.json`).
    pub fn task(&self) -> Task {
        self.config.head.task
    }

    /// A sequence classifier's logits, `[texts, labels]`: one row per sequence of `hidden`, from
    /// its first (`[CLS]`) row. Fails for a model of another task.
    pub fn sequence_logits(&self, hidden: &Hidden) -> Result<Array2<f32>> {
        let head = self.task_head(Task::SequenceClassification)?;
        let states = hidden.states();
        let mut cls = Array2::zeros((hidden.len(), self.config.dim)); // [texts, dim]
        for (i, mut row) in cls.rows_mut().into_iter().enumerate() {
            row.assign(&states.row(hidden.seqs[i].start));
        }
        let logits = head.forward(&self.kernels, cls.view());
        self.finite.run_unless_finite(flat(logits.view()))?;
        Ok(logits)
    }

    /// A token classifier's logits (`[tokens, labels]`) or a question-answering head's start and
    /// end logits (`[tokens, 2]`), one row per row of [`Hidden::states`]. Fails for a model of
    /// another task.
    pub fn token_logits(&self, hidden: &Hidden, task: Task) -> Result<Array2<f32>> {
        let head = self.task_head(task)?;
        let logits = head.forward(&self.kernels, hidden.states());
        self.finite.run_unless_finite(flat(logits.view()))?;
        Ok(logits)
    }

    /// The head for `task`, or an error naming the checkpoint's class.
    fn task_head(&self, task: Task) -> Result<&TaskHead> {
        match &self.task_head {
            Some(head) if head.task() == task => Ok(head),
            _ => Err(Error::model(self.lacks_head(task))),
        }
    }

    /// Why this model cannot do `task`, or `None` if it has the head: "this model has no
    /// token-classification head (it is a BertForSequenceClassification)".
    pub fn missing_head(&self, task: Task) -> Option<String> {
        match &self.task_head {
            Some(head) if head.task() == task => None,
            _ => Some(self.lacks_head(task)),
        }
    }

    fn lacks_head(&self, task: Task) -> String {
        let has = match self.config.head.class.as_deref() {
            Some(class) => format!("it is a {class}"),
            None => "its config.json names no architecture".to_string(),
        };
        format!("this model has no {} head ({has})", task.head_name())
    }
}
