//! distil: a from-scratch transformer inference engine for BERT-family encoders.
//!
//! Its first job is fill-mask with DistilBERT, giving the numbers Hugging Face's `fill-mask`
//! pipeline gives; the same engine computes sentence embeddings with BERT encoders. An [`Engine`]
//! is a model directory loaded (tokenizer, weights mapped in place, a thread pool); the pipelines
//! ([`FillMask`], [`Embed`]) turn texts into answers with it. Arrays are [`ndarray`]'s, shapes in
//! their types: hidden states `[tokens, dim]`, logits `[rows, vocab]`, embeddings `[texts, dim]`.
//!
//! ```
//! use distil::{Embed, Engine, FillMask, FillMaskOptions, Options};
//!
//! fn main() -> distil::Result<()> {
//!     // A model directory (or `Engine::from_pretrained("distilbert-base-cased", …)`).
//!     let engine = Engine::load("tests/fixtures/models/distilbert-cased", &Options::default())?;
//!     let fill_mask = FillMask::new(&engine, FillMaskOptions::default())?;
//!     let answer = fill_mask.run(&["Paris is the [MASK] of France."]).remove(0)?;
//!     let best = &answer.masks[0][0]; // the first mask's most likely token
//!     assert_eq!((best.token_str.as_str(), best.score > 0.5), ("##ang", true));
//!
//!     let engine = Engine::load("tests/fixtures/models/bert-uncased", &Options::default())?;
//!     let embeddings = Embed::new(&engine)?.run(&["A first sentence.", "A second one."])?;
//!     assert_eq!(embeddings.vectors.dim(), (2, engine.config().dim)); // Array2<f32>
//!     Ok(())
//! }
//! ```
//!
//! (The fixture models have random weights, hence `##ang` for the capital of France.) The
//! library's default features pull in no command-line, HTTP or progress-bar crate; `hub` adds
//! downloads from the Hugging Face hub.
//!
//! Lint policy (`[lints]` in Cargo.toml): no unsafe code here, it lives in `distil-kernels`, fenced
//! and commented. No `unwrap` on anything that comes from a file, the command line or a user's
//! text: those paths return [`Error`].

#![warn(missing_docs)]

mod dtype;
pub mod engine;
pub mod error;
mod files;
pub mod hub;
mod info;
pub mod model;
pub mod pipelines;
pub mod quantize;
pub mod tokenizer;
pub mod weights;

pub use distil_kernels::{Bf16Dot, I8Dot, Isa};
pub use dtype::{Dtype, UnknownDtype};
pub use engine::{Encoded, Engine, Options};
pub use error::{Error, ErrorKind, Result};
pub use info::EngineInfo;
pub use model::{Activation, Architecture, Config, Hidden, Model, Task};
/// The array library of distil's inputs and outputs, re-exported so that a program uses the same
/// version.
pub use ndarray;
pub use pipelines::classify::{
    Classification, Classify, ClassifyInput, ClassifyOptions, LabelScore, ScoreFunction,
};
pub use pipelines::embed::{Embed, Embeddings};
pub use pipelines::embed_config::{EmbedConfig, Pooling};
pub use pipelines::evaluate::{Evaluate, Outcome, Summary, Totals};
pub use pipelines::fill_mask::{
    FillMask, FillMaskOptions, FillMaskOutput, Prediction, TargetNotes,
};
pub use pipelines::ner::{Aggregation, Entity, Ner, NerOutput};
pub use pipelines::qa::{Answer, Qa, QaOptions, QaOutput, Question};
pub use pipelines::rerank::{Ranked, Rerank};

/// The README's Rust examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
