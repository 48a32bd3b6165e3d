//! A model directory loaded and ready: its tokenizer, its encoder and the thread pool it runs on.
//!
//! The engine does tokens → hidden states → heads; the pipelines (`pipelines/`) turn texts into
//! tokens and heads' outputs into answers.

use std::path::{Path, PathBuf};

use distil_kernels::{Bf16Dot, I8Dot, Isa, Kernels};
use ndarray::Array2;

use crate::model::{Config, Hidden, Model, Task};
use crate::tokenizer::Tokenizer;
use crate::weights::Weights;
use crate::{hub, Dtype, Error, Result};

/// How to load and run a model.
#[derive(Clone, Debug)]
pub struct Options {
    /// Worker threads for the forward pass; `None` uses one per core.
    pub threads: Option<usize>,
    /// The instruction set of the kernels; `None` picks the widest this CPU has. Asking for one
    /// the CPU lacks is an error at load ([`crate::ErrorKind::UnsupportedIsa`]).
    pub isa: Option<Isa>,
    /// Most tokens in one forward pass: the pipelines split longer lists of texts into batches of
    /// at most this many tokens (a single longer text runs alone). At distilbert-base-cased's
    /// width, 4,096 tokens of activations take about 140 MB.
    pub max_batch_tokens: usize,
    /// What the linear layers compute in ([`Dtype::F32`] by default: Hugging Face's numbers).
    pub dtype: Dtype,
    /// How bf16 weights are multiplied; `None` picks what is faster on this CPU (pairs on AMD's
    /// with AVX-512 BF16, widened elsewhere: see [`Bf16Dot`]). Pairs on a CPU or instruction set
    /// without AVX-512 BF16 is an error at load. Under [`Dtype::Int8`], pairs also take
    /// attention's products to bf16 ([`Engine::attention_dtype`]).
    pub bf16_dot: Option<Bf16Dot>,
    /// How int8 bytes are multiplied; `None` picks the fastest this CPU has (AMX tiles, then
    /// AVX-512 VNNI, then AVX2: see [`I8Dot`]). A way the CPU or instruction set lacks is an
    /// error at load. Every way gives the same answers.
    pub i8_dot: Option<I8Dot>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            threads: None,
            isa: None,
            max_batch_tokens: 4096,
            dtype: Dtype::F32,
            bf16_dot: None,
            i8_dot: None,
        }
    }
}

/// A tokenizer and an encoder from one model directory, with a thread pool of its own.
pub struct Engine {
    dir: PathBuf,
    tokenizer: Tokenizer,
    model: Model,
    pool: rayon::ThreadPool,
    max_batch_tokens: usize,
}

/// One text, tokenized for the model, with what truncation cut off.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Encoded {
    /// `[CLS] … [SEP]`, at most the model's maximum length.
    pub ids: Vec<u32>,
    /// How many word pieces truncation dropped (0 when the text fits).
    pub truncated: usize,
    /// How many `[MASK]` tokens were among the dropped pieces.
    pub masks_cut: usize,
}

impl Engine {
    /// Loads `config.json`, `vocab.txt` (+ `tokenizer_config.json`) and `model.safetensors` from
    /// the model directory `dir`.
    pub fn load(dir: impl AsRef<Path>, options: &Options) -> Result<Engine> {
        let dir = dir.as_ref();
        let metadata = std::fs::metadata(dir).map_err(|e| Error::io(dir, e))?;
        if !metadata.is_dir() {
            return Err(Error::input(format!(
                "{}: not a model directory (a file)",
                dir.display()
            )));
        }
        let config = Config::from_file(&dir.join("config.json"))?;
        let tokenizer = Tokenizer::from_dir(dir)?;
        if tokenizer.vocab_size() > config.vocab_size {
            return Err(Error::config(
                &dir.join("config.json"),
                format!(
                    "vocab_size is {} but vocab.txt has {} tokens",
                    config.vocab_size,
                    tokenizer.vocab_size()
                ),
            ));
        }
        let mut kernels = match options.isa {
            Some(isa) => Kernels::force(isa)?,
            None => Kernels::fastest(),
        };
        if let Some(dot) = options.bf16_dot {
            kernels = kernels.with_bf16_dot(dot)?;
        }
        if let Some(dot) = options.i8_dot {
            kernels = kernels.with_i8_dot(dot)?;
        }
        let mut pool = rayon::ThreadPoolBuilder::new().thread_name(|i| format!("distil-{i}"));
        if let Some(n) = options.threads {
            pool = pool.num_threads(n.max(1));
        }
        let pool = pool
            .build()
            .map_err(|e| Error::input(format!("cannot start the thread pool: {e}")))?;
        let weights = Weights::open(&dir.join("model.safetensors"))?;
        // On the pool: rounding to bf16 at load runs on its threads.
        let model = pool.install(|| Model::load(config, &weights, kernels, options.dtype))?;
        Ok(Engine {
            dir: dir.to_path_buf(),
            tokenizer,
            model,
            pool,
            max_batch_tokens: options.max_batch_tokens.max(1),
        })
    }

    /// Loads `model`: a model directory, or a Hugging Face hub id (`distilbert-base-cased`,
    /// `sentence-transformers/all-MiniLM-L6-v2`) found in the local Hugging Face cache or, with
    /// the `hub` feature, downloaded into it (see [`hub::resolve`]).
    pub fn from_pretrained(model: &str, options: &Options) -> Result<Engine> {
        Engine::load(hub::resolve(model)?, options)
    }

    /// The directory the model was loaded from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The model's tokenizer.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// The encoder (and its heads).
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The model's hyper-parameters.
    pub fn config(&self) -> &Config {
        self.model.config()
    }

    /// Threads in the engine's pool.
    pub fn threads(&self) -> usize {
        self.pool.current_num_threads()
    }

    /// The instruction set the kernels run on.
    pub fn isa(&self) -> Isa {
        self.model.kernels().isa()
    }

    /// What the linear layers compute in ([`Options::dtype`]).
    pub fn dtype(&self) -> Dtype {
        self.model.dtype()
    }

    /// How the kernels multiply the bf16 weights ([`Options::bf16_dot`]); `None` under
    /// [`Dtype::F32`], which has none.
    pub fn bf16_dot(&self) -> Option<Bf16Dot> {
        (self.dtype() == Dtype::Bf16).then(|| self.model.kernels().bf16_dot())
    }

    /// What attention's `q·kᵀ` and `p·v` multiply in: [`Dtype::Bf16`] (pairs, `vdpbf16ps`) under
    /// int8 where [`Options::bf16_dot`] is (or defaults to) pairs, [`Dtype::F32`] otherwise.
    pub fn attention_dtype(&self) -> Dtype {
        self.model.attention_dtype()
    }

    /// How the kernels multiply int8 bytes ([`Options::i8_dot`]); `None` unless the dtype is
    /// [`Dtype::Int8`].
    pub fn i8_dot(&self) -> Option<I8Dot> {
        (self.dtype() == Dtype::Int8).then(|| self.model.kernels().i8_dot())
    }

    /// Quantizes to int8 the f32 linear layers whose weight key `which` accepts (the engine's
    /// dtype becomes int8): for [`crate::quantize`], which writes or measures such a model.
    pub(crate) fn quantize_linears(&mut self, which: impl Fn(&str) -> bool + Send) {
        let model = &mut self.model;
        self.pool.install(|| model.quantize_linears(which))
    }

    /// Most tokens in one forward pass ([`Options::max_batch_tokens`]).
    pub fn max_batch_tokens(&self) -> usize {
        self.max_batch_tokens
    }

    /// Runs `f` on the engine's thread pool.
    pub fn install<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        self.pool.install(f)
    }

    /// Scans every weight for NaN and infinities now, on the engine's threads, rather than when an
    /// output first comes out non-finite ([`Model::check_weights`]): for a server, before it
    /// takes requests.
    pub fn check_weights(&self) -> Result<()> {
        self.install(|| self.model.check_weights())
    }

    /// The last hidden states of a batch of token-id sequences (each `[CLS] … [SEP]`, at most
    /// [`Engine::max_length`] long), computed on the engine's threads. Each sequence's states are
    /// the ones it has alone: a batch only saves time.
    pub fn forward(&self, batch: &[&[u32]]) -> Result<Hidden> {
        self.install(|| self.model.forward(batch))
    }

    /// [`Engine::forward`] for inputs of two segments (sentence pairs): see
    /// [`Model::forward_segments`].
    pub fn forward_segments(&self, batch: &[&[u32]], second: &[usize]) -> Result<Hidden> {
        self.install(|| self.model.forward_segments(batch, second))
    }

    /// The MLM head's logits `[rows.len(), vocab]` at the given rows of [`Hidden::states`].
    pub fn mlm_logits(&self, hidden: &Hidden, rows: &[usize]) -> Result<Array2<f32>> {
        self.install(|| self.model.mlm_logits(hidden, rows))
    }

    /// The MLM head's probabilities `[rows.len(), vocab]` (a softmax over the vocabulary) at the
    /// given rows of [`Hidden::states`].
    pub fn mlm_probabilities(&self, hidden: &Hidden, rows: &[usize]) -> Result<Array2<f32>> {
        self.install(|| self.model.mlm_probabilities(hidden, rows))
    }

    /// The task the checkpoint was trained for (`architectures` in `config.json`).
    pub fn task(&self) -> Task {
        self.model.task()
    }

    /// A sequence classifier's logits `[texts, labels]`, one row per sequence of `hidden`.
    pub fn sequence_logits(&self, hidden: &Hidden) -> Result<Array2<f32>> {
        self.install(|| self.model.sequence_logits(hidden))
    }

    /// A token classifier's logits `[tokens, labels]`, or a question-answering head's start and
    /// end logits `[tokens, 2]`, one row per row of [`Hidden::states`].
    pub fn token_logits(&self, hidden: &Hidden, task: Task) -> Result<Array2<f32>> {
        self.install(|| self.model.token_logits(hidden, task))
    }

    /// Fails, naming the model directory and the checkpoint's class, unless the model has the
    /// head `task` needs.
    pub fn require_task(&self, task: Task) -> Result<()> {
        match self.model.missing_head(task) {
            None => Ok(()),
            Some(reason) => Err(Error::model(format!("{}: {reason}", self.dir.display()))),
        }
    }

    /// The `[MASK]` id, or why this model cannot fill masks (no MLM head, no `[MASK]` token).
    pub fn mask_id(&self) -> Result<u32> {
        if !self.model.has_mlm_head() {
            return Err(Error::model(format!(
                "{}: this model has no masked-language-model head, so it cannot fill masks",
                self.dir.display()
            )));
        }
        self.tokenizer.mask_id().ok_or_else(|| {
            Error::model(format!(
                "{}: the vocabulary has no mask token, so this model cannot fill masks",
                self.dir.join("vocab.txt").display()
            ))
        })
    }

    /// The longest input the model takes: the tokenizer's `model_max_length`, capped by the
    /// model's position table.
    pub fn max_length(&self) -> usize {
        let positions = self.model.config().max_position_embeddings;
        self.tokenizer
            .model_max_length()
            .map_or(positions, |n| n.min(positions))
            .max(2)
    }

    /// Tokenizes `text` with `[CLS]`/`[SEP]`, truncated to `max_length` as Hugging Face does with
    /// `truncation=True`: `[CLS]`, the first `max_length - 2` pieces, `[SEP]`.
    pub fn encode(&self, text: &str, max_length: usize) -> Encoded {
        let mut encoding = self.tokenizer.encode(text);
        let masks = |ids: &[u32]| match self.tokenizer.mask_id() {
            Some(mask) => ids.iter().filter(|&&id| id == mask).count(),
            None => 0,
        };
        let before = masks(&encoding.ids);
        // max_length ≥ 2 holds [CLS] and [SEP], so truncation cannot fail.
        let truncated = encoding.truncate(max_length.max(2)).unwrap_or(0);
        let masks_cut = before - masks(&encoding.ids);
        Encoded {
            ids: encoding.ids,
            truncated,
            masks_cut,
        }
    }
}
