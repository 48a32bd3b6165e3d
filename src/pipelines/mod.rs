//! What users run the engine for, each pipeline one type in one file that owns its options and
//! its post-processing and answers the way its Hugging Face counterpart does:
//!
//! - [`FillMask`](fill_mask::FillMask): the tokens behind each `[MASK]` (the `fill-mask` pipeline);
//! - [`Embed`](embed::Embed): one vector per text (sentence-transformers' `encode`);
//! - [`Classify`](classify::Classify): labels and scores per text or pair of texts (the
//!   `text-classification` pipeline);
//! - [`Ner`](ner::Ner): entities per text (the `token-classification` pipeline);
//! - [`Qa`](qa::Qa): answers to a question from a context (the `question-answering` pipeline);
//! - [`Rerank`](rerank::Rerank): texts scored and sorted against a query (sentence-transformers'
//!   `CrossEncoder`);
//! - [`Evaluate`](evaluate::Evaluate): fill-mask on a mask-filling dataset, scored against the
//!   true spans into totals that add up across processes (`distil eval`).
//!
//! They share the masked-LM step ([`masked_lm`]: forward pass → rows at the masks → logits or
//! probabilities → top-k) and the batching of many texts into forward passes ([`batches`]).

mod chars;
pub mod classify;
pub mod embed;
pub mod embed_config;
pub mod evaluate;
pub mod fill_mask;
pub mod masked_lm;
pub mod ner;
pub mod qa;
pub mod rerank;

use std::ops::Range;

/// Splits `lens` (in input order) into consecutive groups of at most `max_tokens` tokens (a
/// single longer input forms a group of its own).
pub fn batches(lens: &[usize], max_tokens: usize) -> Vec<Range<usize>> {
    let mut groups = Vec::new();
    let mut start = 0;
    let mut tokens = 0;
    for (i, &len) in lens.iter().enumerate() {
        if i > start && tokens + len > max_tokens {
            groups.push(start..i);
            start = i;
            tokens = 0;
        }
        tokens += len;
    }
    if start < lens.len() {
        groups.push(start..lens.len());
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_split_on_the_token_budget() {
        assert_eq!(batches(&[], 4096), vec![]);
        assert_eq!(batches(&[10, 20], 4096), vec![0..2]);
        assert_eq!(
            batches(&[4000, 100, 5000, 1], 4096),
            vec![0..1, 1..2, 2..3, 3..4]
        );
        assert_eq!(batches(&[2000, 2000, 96, 1], 4096), vec![0..3, 3..4]);
        assert_eq!(batches(&[3, 3, 3], 6), vec![0..2, 2..3]);
    }
}
