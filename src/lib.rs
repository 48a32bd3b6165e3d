//! distil: a from-scratch transformer inference engine for BERT-family encoders.
//!
//! Its first job is fill-mask with DistilBERT, giving the numbers Hugging Face's `fill-mask`
//! pipeline gives; the same engine computes sentence embeddings with BERT encoders. An [`Engine`]
//! is a model directory loaded (tokenizer, weights mapped in place, a thread pool); the pipelines
//! ([`FillMask`], [`Embed`]) turn texts into answers with it.
//!
//! Lint policy (`[lints]` in Cargo.toml): no unsafe code here, it lives in `distil-kernels`, fenced
//! and commented. No `unwrap` on anything that comes from a file, the command line or a user's
//! text: those paths return [`Error`].

pub mod engine;
pub mod error;
mod files;
pub mod hub;
pub mod model;
pub mod pipelines;
pub mod tokenizer;
pub mod weights;

pub use distil_kernels::Isa;
pub use engine::{Encoded, Engine, Options};
pub use error::{Error, ErrorKind, Result};
pub use model::{Activation, Architecture, Config, Hidden, Model};
/// The array library of distil's inputs and outputs, re-exported so that a program uses the same
/// version.
pub use ndarray;
pub use pipelines::embed::{Embed, Embeddings};
pub use pipelines::embed_config::{EmbedConfig, Pooling};
pub use pipelines::fill_mask::{FillMask, FillMaskOptions, FillMaskOutput, Prediction};
