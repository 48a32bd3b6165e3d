//! The WordPiece model (`tokenizers`' `models/wordpiece`): the vocabulary, and greedy
//! longest-match-first splitting of one word into pieces.
//!
//! A word is split left to right: at each position take the longest vocabulary entry that matches
//! there, spelled with the `##` prefix unless it starts the word. If some position has no match,
//! or the word is longer than [`MAX_INPUT_CHARS_PER_WORD`] chars, the whole word becomes one
//! `[UNK]`. E.g. with `un`, `##aff`, `##able`: `unaffable` → `un ##aff ##able`. `tokenizers`
//! tries every end at a position, longest first, with a hash lookup each; we walk a trie over the
//! word's bytes (`trie.rs`), which finds the same longest entry in one pass.
//!
//! Reading `vocab.txt` follows `WordPiece::read_file`: one token per line, id = line number
//! (from 0), lines split on `\n` with the trailing whitespace of each line (including `\r`)
//! trimmed. A token that appears twice keeps its *last* id, and the earlier id has no token.

use std::ops::Range;
use std::path::Path;

use super::trie::Trie;
use crate::{files, Error, Result};

/// Words with more chars than this (after normalization) become `[UNK]`.
pub(crate) const MAX_INPUT_CHARS_PER_WORD: usize = 100;

/// Marks a piece that continues a word.
pub(crate) const CONTINUING_SUBWORD_PREFIX: &str = "##";

#[derive(Debug, Clone)]
pub(crate) struct WordPiece {
    /// Every token, one after the other (one allocation for the whole vocabulary).
    text: String,
    /// Id → the token's bytes in `text`; `None` for the earlier id of a duplicated token.
    tokens: Vec<Option<Range<usize>>>,
    /// Every token, for the piece that starts a word (and for `token_to_id`).
    starting: Trie,
    /// The tokens that start with `##`, without it, for the pieces that continue a word (so no
    /// `"##" + piece` string is ever built).
    continuing: Trie,
    unk_id: u32,
}

impl WordPiece {
    /// Reads `vocab.txt`; `unk_token` must be in it.
    pub fn from_file(path: &Path, unk_token: &str) -> Result<Self> {
        let bytes = files::read(path)?;
        let text = std::str::from_utf8(&bytes).map_err(|e| {
            let line = bytes[..e.valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count()
                + 1;
            Error::vocab(path, format!("line {line} is not valid UTF-8"))
        })?;
        let tokens = parse_vocab(text);
        if tokens.is_empty() {
            return Err(Error::vocab(path, "the vocabulary is empty"));
        }
        Self::from_tokens(tokens, unk_token).ok_or_else(|| {
            Error::vocab(
                path,
                format!("the unknown token {unk_token:?} is not in the vocabulary"),
            )
        })
    }

    /// Builds the model from tokens in id order; `None` if `unk_token` is missing.
    pub fn from_tokens<S: AsRef<str>>(
        tokens: impl IntoIterator<Item = S>,
        unk_token: &str,
    ) -> Option<Self> {
        let mut text = String::new();
        let mut spans = Vec::new();
        for token in tokens {
            let start = text.len();
            text.push_str(token.as_ref());
            spans.push(start..text.len());
        }
        let ids = (0u32..).zip(&spans);
        let starting = Trie::new(ids.clone().map(|(id, span)| (&text[span.clone()], id)));
        let continuing = Trie::new(ids.filter_map(|(id, span)| {
            Some((
                text[span.clone()].strip_prefix(CONTINUING_SUBWORD_PREFIX)?,
                id,
            ))
        }));
        let unk_id = starting.get(unk_token.as_bytes())?;
        // A token given twice is the trie's at its last id; the earlier ids have no token.
        let tokens = (0u32..)
            .zip(spans)
            .map(|(id, span)| {
                (starting.get(text[span.clone()].as_bytes()) == Some(id)).then_some(span)
            })
            .collect();
        Some(WordPiece {
            text,
            tokens,
            starting,
            continuing,
            unk_id,
        })
    }

    /// The id of `token` (spelled as in `vocab.txt`, with `##` for continuations).
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.starting.get(token.as_bytes())
    }

    /// The token of `id`, or `None` if the id is out of range or its token was duplicated later.
    pub fn id_to_token(&self, id: u32) -> Option<&str> {
        let span = self.tokens.get(id as usize)?.clone()?;
        Some(&self.text[span])
    }

    /// The number of ids: lines in `vocab.txt` (HF counts distinct tokens; the same unless a
    /// token is duplicated).
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Splits one pre-tokenized `word` into `pieces` (cleared first): each piece's id and byte
    /// range in `word`.
    pub fn tokenize(&self, word: &str, pieces: &mut Vec<(u32, Range<usize>)>) {
        pieces.clear();
        if word.len() > MAX_INPUT_CHARS_PER_WORD && word.chars().count() > MAX_INPUT_CHARS_PER_WORD
        {
            pieces.push((self.unk_id, 0..word.len()));
            return;
        }
        let mut start = 0;
        while start < word.len() {
            let trie = if start == 0 {
                &self.starting
            } else {
                &self.continuing
            };
            // The longest vocabulary entry at `start` (`##`-spelled unless it starts the word).
            let Some((id, len)) = trie.longest_prefix(&word.as_bytes()[start..]) else {
                // One position without a match makes the whole word [UNK].
                pieces.clear();
                pieces.push((self.unk_id, 0..word.len()));
                return;
            };
            pieces.push((id, start..start + len));
            start += len;
        }
    }
}

/// The lines of `vocab.txt` as `tokenizers` reads them: split on `\n` (a final newline does not
/// start another line), each with its trailing whitespace trimmed.
fn parse_vocab(text: &str) -> Vec<&str> {
    if text.is_empty() {
        return Vec::new();
    }
    let text = text.strip_suffix('\n').unwrap_or(text);
    text.split('\n').map(str::trim_end).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> WordPiece {
        let vocab = [
            "[UNK]", "un", "##aff", "##able", "a", "##a", "é", "##é", "##ffa",
        ];
        WordPiece::from_tokens(vocab, "[UNK]").unwrap()
    }

    fn pieces(wp: &WordPiece, word: &str) -> Vec<(String, Range<usize>)> {
        let mut ranges = Vec::new();
        wp.tokenize(word, &mut ranges);
        ranges
            .into_iter()
            .map(|(id, r)| (wp.id_to_token(id).unwrap().to_string(), r))
            .collect()
    }

    #[test]
    fn greedy_longest_match_first() {
        let wp = model();
        let got = pieces(&wp, "unaffable");
        assert_eq!(
            got,
            [
                ("un".into(), 0..2),
                ("##aff".into(), 2..5),
                ("##able".into(), 5..9)
            ]
        );
        // Longest match wins even if it strands the rest: "##ffa" is never tried after "un##aff".
        assert_eq!(
            pieces(&wp, "aaa"),
            [
                ("a".into(), 0..1),
                ("##a".into(), 1..2),
                ("##a".into(), 2..3)
            ]
        );
    }

    #[test]
    fn no_match_makes_the_whole_word_unk() {
        let wp = model();
        assert_eq!(pieces(&wp, "unx"), [("[UNK]".into(), 0..3)]);
        assert_eq!(
            pieces(&wp, "éa"),
            [("é".into(), 0..2), ("##a".into(), 2..3)]
        );
    }

    #[test]
    fn word_over_100_chars_is_unk() {
        let wp = model();
        let hundred = "a".repeat(100);
        assert_eq!(pieces(&wp, &hundred).len(), 100);
        assert_eq!(pieces(&wp, &"a".repeat(101)), [("[UNK]".into(), 0..101)]);
        // Counted in chars, not bytes: 100 'é' (200 bytes) are fine.
        assert_eq!(pieces(&wp, &"é".repeat(100))[0].0, "é");
    }

    #[test]
    fn vocab_lines_like_tokenizers() {
        assert_eq!(parse_vocab("a\r\nb \nc\n"), ["a", "b", "c"]);
        assert_eq!(parse_vocab("a\n\nb"), ["a", "", "b"]);
        assert!(parse_vocab("").is_empty());
        assert_eq!(parse_vocab("\n"), [""]);
    }

    #[test]
    fn duplicate_token_keeps_last_id() {
        let wp = WordPiece::from_tokens(["[UNK]", "x", "x"], "[UNK]").unwrap();
        assert_eq!(wp.token_to_id("x"), Some(2));
        assert_eq!(wp.id_to_token(1), None);
        assert_eq!(wp.len(), 3);
    }

    #[test]
    fn missing_unk_is_refused() {
        assert!(WordPiece::from_tokens(["a"], "[UNK]").is_none());
    }
}
