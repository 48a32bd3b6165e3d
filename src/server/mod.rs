//! `distil serve`: an HTTP inference server for fill-mask and embeddings.

pub mod requests;
