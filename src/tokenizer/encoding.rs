//! An encoded text: its tokens' ids, strings and byte offsets.

use crate::{Error, Result};

/// The tokens of one text, with their ids and byte offsets into that text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Encoding {
    /// The token ids, `[CLS]` first and `[SEP]` last.
    pub ids: Vec<u32>,
    /// The tokens as text (word pieces with their `##`).
    pub tokens: Vec<String>,
    /// Byte range in the original text of each token; `(0, 0)` for `[CLS]` and `[SEP]`.
    pub offsets: Vec<(usize, usize)>,
}

impl Encoding {
    /// The number of tokens, `[CLS]` and `[SEP]` included.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether there are no tokens at all (an encoding from [`Tokenizer::encode`](super::Tokenizer::encode) has at least
    /// `[CLS]` and `[SEP]`).
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Truncates an encoding made by [`Tokenizer::encode`](super::Tokenizer::encode) to at most `max_len` tokens the way
    /// transformers' `truncation=True, max_length=max_len` does: `[CLS]`, the first
    /// `max_len - 2` pieces, `[SEP]`. Returns how many pieces were cut (0 if it already fits).
    ///
    /// Fails if `max_len < 2`, which cannot hold `[CLS]` and `[SEP]` (transformers logs an error
    /// and returns the sequence uncut).
    pub fn truncate(&mut self, max_len: usize) -> Result<usize> {
        let len = self.len();
        if len <= max_len {
            return Ok(0);
        }
        if max_len < 2 {
            return Err(Error::input(format!(
                "cannot truncate to {max_len} tokens: [CLS] and [SEP] alone take 2"
            )));
        }
        // Keep [CLS] and the first max_len - 2 pieces, then the final [SEP].
        let cut = max_len - 1..len - 1;
        let removed = cut.len();
        self.ids.drain(cut.clone());
        self.tokens.drain(cut.clone());
        self.offsets.drain(cut);
        Ok(removed)
    }

    /// Appends `other`'s tokens.
    pub(super) fn extend(&mut self, other: Encoding) {
        self.ids.extend(other.ids);
        self.tokens.extend(other.tokens);
        self.offsets.extend(other.offsets);
    }

    /// Appends one token.
    pub(super) fn push(&mut self, id: u32, token: &str, offsets: (usize, usize)) {
        self.ids.push(id);
        self.tokens.push(token.to_string());
        self.offsets.push(offsets);
    }
}
