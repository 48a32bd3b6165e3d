//! distil: a from-scratch transformer inference engine for BERT-family encoders.
//!
//! Its first job is fill-mask with DistilBERT, giving the numbers Hugging Face's `fill-mask`
//! pipeline gives; the same engine computes sentence embeddings with BERT encoders.
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

pub use engine::{Engine, Options};
pub use error::{Error, Result};
pub use model::{Config, Hidden, Model};
pub use pipelines::embed::{EmbedConfig, Pooling};
pub use pipelines::fill_mask::{FillMask, FillMaskOptions, Prediction};
