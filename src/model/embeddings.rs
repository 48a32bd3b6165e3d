//! The input embeddings: `LayerNorm(word[id] + position[i] (+ token_type[t]))`.
//!
//! DistilBERT has no token types; BERT adds the row of its token-type table for each token's
//! segment: 0 for a single text and a pair's first, 1 for a pair's second (ported from
//! `transformers`' `Embeddings.forward` in `modeling_distilbert.py` and `BertEmbeddings.forward`
//! in `modeling_bert.py`).

use distil_kernels::Kernels;
use ndarray::ArrayViewMut2;

use super::config::{Architecture, Config};
use super::flat_mut;
use super::layer_norm::LayerNorm;
use crate::weights::{Prefix, Tensor2};
use crate::Result;

pub struct Embeddings {
    pub word_embeddings: Tensor2,               // [vocab, dim]
    pub position_embeddings: Tensor2,           // [max_position_embeddings, dim]
    pub token_type_embeddings: Option<Tensor2>, // [type_vocab_size, dim], BERT only
    pub layer_norm: LayerNorm,
}

impl Embeddings {
    /// Reads `embeddings.*` under `p`.
    pub fn load(p: &Prefix<'_>, c: &Config) -> Result<Self> {
        let p = p.pp("embeddings");
        let token_type_embeddings = match c.architecture {
            Architecture::DistilBert => None,
            Architecture::Bert => {
                Some(p.tensor("token_type_embeddings.weight", (c.type_vocab_size, c.dim))?)
            }
        };
        Ok(Embeddings {
            word_embeddings: p.tensor("word_embeddings.weight", (c.vocab_size, c.dim))?,
            position_embeddings: p.tensor(
                "position_embeddings.weight",
                (c.max_position_embeddings, c.dim),
            )?,
            token_type_embeddings,
            layer_norm: LayerNorm::load(&p, "LayerNorm", c.dim, c.layer_norm_eps)?,
        })
    }

    /// `x: [rows, dim]` for the token `ids` at `positions` in segments `types` (0 or 1; each one
    /// per row).
    pub fn forward(
        &self,
        k: &Kernels,
        ids: &[u32],
        positions: &[u32],
        types: &[u32],
        mut x: ArrayViewMut2<'_, f32>,
    ) {
        let dim = x.ncols();
        let rows = flat_mut(x.view_mut());
        k.gather_rows(self.word_embeddings.as_slice(), dim, ids, rows);
        k.gather_add_rows(self.position_embeddings.as_slice(), dim, positions, rows);
        if let Some(token_types) = &self.token_type_embeddings {
            k.gather_add_rows(token_types.as_slice(), dim, types, rows);
        }
        self.layer_norm.forward(k, x);
    }
}
