//! The input embeddings: `LayerNorm(word[id] + position[i] (+ token_type[0]))`.
//!
//! DistilBERT has no token types; BERT adds row 0 of its token-type table to every token, as it
//! does for a single-segment input (ported from `transformers`' `Embeddings.forward` in
//! `modeling_distilbert.py` and `BertEmbeddings.forward` in `modeling_bert.py`).

use distil_kernels::Kernels;

use super::config::{Architecture, Config};
use super::layer_norm::LayerNorm;
use crate::weights::{Prefix, Tensor};
use crate::Result;

pub struct Embeddings {
    pub word_embeddings: Tensor,               // [vocab, dim]
    pub position_embeddings: Tensor,           // [max_position_embeddings, dim]
    pub token_type_embeddings: Option<Tensor>, // [type_vocab_size, dim], BERT only
    pub layer_norm: LayerNorm,
}

impl Embeddings {
    /// Reads `embeddings.*` under `p`.
    pub fn load(p: &Prefix<'_>, c: &Config) -> Result<Self> {
        let p = p.pp("embeddings");
        let token_type_embeddings = match c.architecture {
            Architecture::DistilBert => None,
            Architecture::Bert => {
                Some(p.tensor("token_type_embeddings.weight", &[c.type_vocab_size, c.dim])?)
            }
        };
        let eps = match c.architecture {
            // DistilBERT's embedding LayerNorm uses eps 1e-12 whatever the config says.
            Architecture::DistilBert => 1e-12,
            Architecture::Bert => c.layer_norm_eps,
        };
        Ok(Embeddings {
            word_embeddings: p.tensor("word_embeddings.weight", &[c.vocab_size, c.dim])?,
            position_embeddings: p.tensor(
                "position_embeddings.weight",
                &[c.max_position_embeddings, c.dim],
            )?,
            token_type_embeddings,
            layer_norm: LayerNorm::load(&p, "LayerNorm", c.dim, eps)?,
        })
    }

    /// `x[rows, dim]` for the token `ids` at `positions` (both one per row).
    pub fn forward(&self, k: &Kernels, ids: &[u32], positions: &[u32], x: &mut [f32]) {
        let dim = self.layer_norm.weight.len();
        k.gather_rows(&self.word_embeddings, dim, ids, x);
        k.gather_add_rows(&self.position_embeddings, dim, positions, x);
        if let Some(token_types) = &self.token_type_embeddings {
            // Every token is in segment 0.
            for row in x.chunks_exact_mut(dim) {
                row.iter_mut()
                    .zip(&token_types[..dim])
                    .for_each(|(v, t)| *v += t);
            }
        }
        self.layer_norm.forward(k, x);
    }
}
