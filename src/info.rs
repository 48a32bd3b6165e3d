//! What a loaded engine is: its model, its head, what it can be asked and the settings it computes
//! with. The server's `GET /info` and the Python package's `Engine.info()` give it.

use serde::Serialize;

use crate::model::Architecture;
use crate::{Bf16Dot, Engine, I8Dot, Task};

/// An engine described, field names as `/info` gives them.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EngineInfo {
    /// The model directory the engine was loaded from.
    pub model_dir: String,
    /// `distilbert` or `bert`.
    pub model_type: &'static str,
    /// What the engine answers: `fill-mask` (if the model has an MLM head and a mask token),
    /// `embed`, `tokenize`, and its head's: `predict` (a sequence classifier; `rerank` too with one
    /// label), `token-classification`, `question-answering`.
    pub tasks: Vec<&'static str>,
    /// The Hugging Face task the checkpoint was made for (`fill-mask`, `feature-extraction`,
    /// `text-classification`, `token-classification`, `question-answering`).
    pub task: &'static str,
    /// The checkpoint's architecture class (`DistilBertForMaskedLM`, …), if `config.json` names
    /// one.
    pub architecture: Option<String>,
    /// The head's labels, in order (empty without a classification head).
    pub labels: Vec<String>,
    /// The dtype the linear layers compute in (`f32`, `bf16`, `int8`).
    pub dtype: &'static str,
    /// The dtype of the weights in the file.
    pub weights_dtype: &'static str,
    /// The instruction set the kernels run on.
    pub isa: &'static str,
    /// The bf16 dot-product kernel, when computing in bf16.
    pub bf16_dot: Option<&'static str>,
    /// The int8 dot-product kernel, when computing in int8.
    pub i8_dot: Option<&'static str>,
    /// The dtype attention's products compute in.
    pub attention_dtype: &'static str,
    /// Longest input in tokens, `[CLS]` and `[SEP]` included.
    pub max_length: usize,
    /// Most tokens in one forward pass.
    pub max_batch_tokens: usize,
    /// Tokens in the vocabulary.
    pub vocab_size: usize,
    /// Width of the hidden states.
    pub dim: usize,
    /// Transformer blocks.
    pub layers: usize,
    /// Attention heads per block.
    pub heads: usize,
    /// Threads of the engine's pool.
    pub threads: usize,
}

impl Engine {
    /// This engine described.
    pub fn info(&self) -> EngineInfo {
        let config = self.config();
        let head = &config.head;
        let mut tasks = vec!["embed", "tokenize"];
        if self.mask_id().is_ok() {
            tasks.insert(0, "fill-mask");
        }
        let task = match self.task() {
            Task::Encoder => "feature-extraction",
            Task::MaskedLm => "fill-mask",
            Task::SequenceClassification if head.labels.len() == 1 => {
                tasks.extend(["predict", "rerank"]);
                "text-classification"
            }
            Task::SequenceClassification => {
                tasks.push("predict");
                "text-classification"
            }
            Task::TokenClassification => {
                tasks.push("token-classification");
                "token-classification"
            }
            Task::QuestionAnswering => {
                tasks.push("question-answering");
                "question-answering"
            }
        };
        EngineInfo {
            model_dir: self.dir().display().to_string(),
            model_type: match config.architecture {
                Architecture::DistilBert => "distilbert",
                Architecture::Bert => "bert",
            },
            tasks,
            task,
            architecture: head.class.clone(),
            labels: head.labels.clone(),
            dtype: self.dtype().name(),
            weights_dtype: self.model().stored_dtype(),
            isa: self.isa().name(),
            bf16_dot: self.bf16_dot().map(Bf16Dot::name),
            i8_dot: self.i8_dot().map(I8Dot::name),
            attention_dtype: self.attention_dtype().name(),
            max_length: self.max_length(),
            max_batch_tokens: self.max_batch_tokens(),
            vocab_size: config.vocab_size,
            dim: config.dim,
            layers: config.n_layers,
            heads: config.n_heads,
            threads: self.threads(),
        }
    }
}
