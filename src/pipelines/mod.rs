//! What users run the engine for: fill-mask and sentence embeddings, each answering the way its
//! Hugging Face counterpart does.

pub mod embed;
pub mod fill_mask;

/// Most tokens run through the encoder in one forward pass; longer lists are split into batches.
/// At distilbert-base-cased's width this bounds the activations to about 140 MB.
pub const MAX_BATCH_TOKENS: usize = 4096;

/// Splits `lens` (in input order) into consecutive groups of at most `MAX_BATCH_TOKENS` tokens
/// (a single longer input forms a group of its own).
pub fn batches(lens: &[usize]) -> Vec<std::ops::Range<usize>> {
    let mut groups = Vec::new();
    let mut start = 0;
    let mut tokens = 0;
    for (i, &len) in lens.iter().enumerate() {
        if i > start && tokens + len > MAX_BATCH_TOKENS {
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
        assert_eq!(batches(&[]), vec![]);
        assert_eq!(batches(&[10, 20]), vec![0..2]);
        assert_eq!(batches(&[4000, 100, 5000, 1]), vec![0..1, 1..2, 2..3, 3..4]);
        assert_eq!(batches(&[2000, 2000, 96, 1]), vec![0..3, 3..4]);
    }
}
