//! A model directory loaded and ready: its tokenizer, its encoder and the thread pool it runs on.

use std::path::{Path, PathBuf};

use distil_kernels::Kernels;

use crate::model::{Config, Model};
use crate::tokenizer::Tokenizer;
use crate::weights::Weights;
use crate::{Error, Result};

/// How to load and run a model.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Worker threads for the forward pass; `None` uses one per core.
    pub threads: Option<usize>,
}

/// A tokenizer and an encoder from one model directory, with a thread pool of its own.
pub struct Engine {
    dir: PathBuf,
    tokenizer: Tokenizer,
    model: Model,
    pool: rayon::ThreadPool,
}

/// One text, tokenized for the model, with what truncation cut off.
#[derive(Clone, Debug)]
pub struct Encoded {
    /// `[CLS] … [SEP]`, at most the model's maximum length.
    pub ids: Vec<u32>,
    /// How many word pieces truncation dropped (0 when the text fits).
    pub truncated: usize,
}

impl Engine {
    /// Loads `config.json`, `vocab.txt` (+ `tokenizer_config.json`) and `model.safetensors` from `dir`.
    pub fn load(dir: &Path, options: &Options) -> Result<Engine> {
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
        let mut pool = rayon::ThreadPoolBuilder::new().thread_name(|i| format!("distil-{i}"));
        if let Some(n) = options.threads {
            pool = pool.num_threads(n.max(1));
        }
        let pool = pool
            .build()
            .map_err(|e| Error::input(format!("cannot start the thread pool: {e}")))?;
        let weights = Weights::open(&dir.join("model.safetensors"))?;
        // On the pool: the weights' scan for NaN at load runs on its threads.
        let model = pool.install(|| Model::load(config, &weights, Kernels::detect()?))?;
        Ok(Engine {
            dir: dir.to_path_buf(),
            tokenizer,
            model,
            pool,
        })
    }

    /// The directory the model was loaded from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    /// Threads in the engine's pool.
    pub fn threads(&self) -> usize {
        self.pool.current_num_threads()
    }

    /// Runs `f` on the engine's thread pool.
    pub fn install<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        self.pool.install(f)
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
        // max_length ≥ 2 holds [CLS] and [SEP], so truncation cannot fail.
        let truncated = encoding.truncate(max_length.max(2)).unwrap_or(0);
        Encoded {
            ids: encoding.ids,
            truncated,
        }
    }
}
