//! Special tokens written in the input text (`tokenizers`' `added_vocabulary.rs`).
//!
//! Before anything else, the raw text is searched for the special tokens (`[CLS]`, `[SEP]`,
//! `[PAD]`, `[UNK]`, `[MASK]`, …), leftmost match first and the longest one at that position.
//! Each match becomes that token, with its byte range as offsets; the text between matches is
//! normalized and tokenized on its own. BERT's special tokens are `normalized: false`, so they
//! match the raw text exactly and case-sensitively: with an uncased vocabulary `[mask]` is
//! still the three tokens `[`, `mask`, `]`. They are not `single_word` either, so `x[MASK]y`
//! gives `x`, `[MASK]`, `y`.

use std::ops::Range;

/// One stretch of the input: ordinary text, or a special token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Segment {
    Text(Range<usize>),
    Special { id: u32, range: Range<usize> },
}

#[derive(Debug, Clone, Default)]
pub(crate) struct SpecialTokens {
    /// Each special token with its id, longest first so that the first match is the longest.
    tokens: Vec<(String, u32)>,
    /// `starts[b]`: some token starts with byte `b`. Lets the scan skip most positions.
    starts: Vec<bool>,
}

impl SpecialTokens {
    pub fn new(tokens: impl IntoIterator<Item = (String, u32)>) -> Self {
        let mut tokens: Vec<(String, u32)> =
            tokens.into_iter().filter(|(t, _)| !t.is_empty()).collect();
        tokens.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        tokens.dedup_by(|a, b| a.0 == b.0);
        let mut starts = vec![false; 256];
        for (token, _) in &tokens {
            starts[usize::from(token.as_bytes()[0])] = true;
        }
        SpecialTokens { tokens, starts }
    }

    pub fn contains_id(&self, id: u32) -> bool {
        self.tokens.iter().any(|&(_, i)| i == id)
    }

    /// Calls `emit` with the segments of `text`, in order; text segments are never empty.
    pub fn split(&self, text: &str, mut emit: impl FnMut(Segment)) {
        let bytes = text.as_bytes();
        let mut text_start = 0;
        let mut i = 0;
        while i < bytes.len() {
            let found = if self.starts[usize::from(bytes[i])] {
                // A special token is valid UTF-8, so a match starts and ends on char boundaries.
                self.tokens
                    .iter()
                    .find(|(t, _)| bytes[i..].starts_with(t.as_bytes()))
            } else {
                None
            };
            match found {
                Some((token, id)) => {
                    if text_start < i {
                        emit(Segment::Text(text_start..i));
                    }
                    emit(Segment::Special {
                        id: *id,
                        range: i..i + token.len(),
                    });
                    i += token.len();
                    text_start = i;
                }
                None => i += 1,
            }
        }
        if text_start < bytes.len() {
            emit(Segment::Text(text_start..bytes.len()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segments(text: &str) -> Vec<Segment> {
        let special = SpecialTokens::new([("[MASK]".to_string(), 4), ("[M]".to_string(), 9)]);
        let mut out = Vec::new();
        special.split(text, |s| out.push(s));
        out
    }

    #[test]
    fn matches_inside_words_and_keeps_ranges() {
        assert_eq!(
            segments("x[MASK]y"),
            [
                Segment::Text(0..1),
                Segment::Special { id: 4, range: 1..7 },
                Segment::Text(7..8)
            ]
        );
        assert_eq!(
            segments("[MASK][M]"),
            [
                Segment::Special { id: 4, range: 0..6 },
                Segment::Special { id: 9, range: 6..9 }
            ]
        );
    }

    #[test]
    fn matching_is_exact_and_case_sensitive() {
        assert_eq!(segments("[mask] [ MASK ]"), [Segment::Text(0..15)]);
        assert_eq!(segments(""), []);
    }

    #[test]
    fn leftmost_then_longest() {
        let special = SpecialTokens::new([
            ("ab".to_string(), 1),
            ("abc".to_string(), 2),
            ("bcd".to_string(), 3),
        ]);
        let mut out = Vec::new();
        special.split("abcd", |s| out.push(s));
        assert_eq!(
            out,
            [Segment::Special { id: 2, range: 0..3 }, Segment::Text(3..4)]
        );
    }
}
