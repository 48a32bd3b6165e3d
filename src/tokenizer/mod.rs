//! BERT's WordPiece tokenizer, identical to Hugging Face's `BertTokenizerFast` (transformers 5,
//! `tokenizers` 0.23) for the same `vocab.txt` and `tokenizer_config.json`.
//!
//! Encoding runs the stages of `tokenizers`' pipeline, one file each:
//!
//! 1. `special.rs`: find special tokens (`[MASK]`, …) in the raw text, and split around them.
//! 2. `normalize.rs`: clean control chars, space out CJK, strip accents, lowercase.
//! 3. `pretokenize.rs`: split into words on whitespace and punctuation.
//! 4. `wordpiece.rs` (with `trie.rs`): split each word into vocabulary pieces.
//! 5. post-processing: `[CLS] … [SEP]`, with no truncation unless [`Encoding::truncate`] asks.
//!
//! Every token carries the byte range of the original text it came from (`[CLS]`/`[SEP]` get
//! `(0, 0)`), carried through normalization by an alignment map. `decode.rs` turns the pieces
//! back into text as `tokenizer.decode` does; `config.rs` reads `tokenizer_config.json`.

mod config;
mod decode;
mod encoding;
mod normalize;
mod pair;
mod pretokenize;
mod special;
mod tables;
mod trie;
mod wordpiece;

use std::collections::HashMap;
use std::path::Path;

use crate::{Error, Result};
use config::{AddedToken, SpecialNames, TokenizerConfig};
use normalize::{BertNormalizer, Normalized};
use special::{Segment, SpecialTokens};
use wordpiece::WordPiece;

pub use encoding::Encoding;
pub use pair::{longest_first, PairEncoding};

/// What a fill-mask target word stands for (transformers' `FillMaskPipeline.get_target_ids`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    /// The token id the target stands for.
    pub id: u32,
    /// False when the word is not a vocabulary token and `id` is its first piece instead;
    /// transformers warns "does not exist in the model vocabulary. Replacing with `{piece}`".
    pub in_vocab: bool,
}

/// A BERT WordPiece tokenizer: vocabulary, normalization settings and special tokens.
#[derive(Debug, Clone)]
pub struct Tokenizer {
    normalizer: BertNormalizer,
    wordpiece: WordPiece,
    special: SpecialTokens,
    cls_id: u32,
    sep_id: u32,
    pad_id: u32,
    unk_id: u32,
    mask_id: Option<u32>,
    model_max_length: Option<usize>,
    clean_up_tokenization_spaces: bool,
}

impl Tokenizer {
    /// Loads `vocab.txt` and, if present, `tokenizer_config.json` from a checkpoint directory
    /// (`do_lower_case` defaults to true, as in transformers). `tokenizer.json` is not read: its
    /// padding and truncation settings (sentence-transformers ships fixed 128) are not applied.
    pub fn from_dir(dir: &Path) -> Result<Self> {
        let config_path = dir.join("tokenizer_config.json");
        let config = TokenizerConfig::read(&config_path)?.unwrap_or_default();
        let mut names = config.special_names(&config_path)?;
        // Without `added_tokens_decoder`, transformers still reads special_tokens_map.json.
        let map_path = dir.join("special_tokens_map.json");
        if config.added_tokens_decoder.is_none() {
            if let Some(map) = TokenizerConfig::read(&map_path)? {
                map.override_names(&mut names, &map_path)?;
            }
        }

        let lowercase = config.do_lower_case.unwrap_or(true);
        let normalizer = BertNormalizer {
            clean_text: true,
            handle_chinese_chars: config.tokenize_chinese_chars.unwrap_or(true),
            strip_accents: config.strip_accents.unwrap_or(lowercase),
            lowercase,
        };
        let mut tokenizer = Self::build(&dir.join("vocab.txt"), normalizer, &names)?;
        tokenizer.model_max_length = config.model_max_length();
        tokenizer.clean_up_tokenization_spaces =
            config.clean_up_tokenization_spaces.unwrap_or(false);
        if let Some(decoder) = &config.added_tokens_decoder {
            tokenizer.check_added_tokens(decoder, &config_path)?;
        }
        Ok(tokenizer)
    }

    /// Loads a bare `vocab.txt` with transformers' defaults: `[UNK]`, `[CLS]`, `[SEP]`, `[PAD]`,
    /// `[MASK]`, accents stripped exactly when lowercasing, no `model_max_length`.
    pub fn from_vocab_file(path: &Path, lowercase: bool) -> Result<Self> {
        Self::build(
            path,
            BertNormalizer::new(lowercase),
            &SpecialNames::default(),
        )
    }

    fn build(vocab_path: &Path, normalizer: BertNormalizer, names: &SpecialNames) -> Result<Self> {
        let wordpiece = WordPiece::from_file(vocab_path, &names.unk)?;
        let required = |name: &str| {
            wordpiece.token_to_id(name).ok_or_else(|| {
                Error::vocab(
                    vocab_path,
                    format!("the special token {name:?} is not in the vocabulary"),
                )
            })
        };
        let cls_id = required(&names.cls)?;
        let sep_id = required(&names.sep)?;
        let pad_id = required(&names.pad)?;
        let unk_id = required(&names.unk)?;
        let mask_id = wordpiece.token_to_id(&names.mask);
        let mut special = vec![
            (names.cls.clone(), cls_id),
            (names.sep.clone(), sep_id),
            (names.pad.clone(), pad_id),
            (names.unk.clone(), unk_id),
        ];
        if let Some(id) = mask_id {
            special.push((names.mask.clone(), id));
        }
        for name in &names.extra {
            special.push((name.clone(), required(name)?));
        }
        Ok(Tokenizer {
            normalizer,
            wordpiece,
            special: SpecialTokens::new(special),
            cls_id,
            sep_id,
            pad_id,
            unk_id,
            mask_id,
            model_max_length: None,
            clean_up_tokenization_spaces: false,
        })
    }

    /// `added_tokens_decoder` must agree with `vocab.txt`: we support only special tokens that are
    /// vocabulary entries at the same id, matched verbatim (BERT's own five are like that).
    fn check_added_tokens(&self, decoder: &HashMap<String, AddedToken>, path: &Path) -> Result<()> {
        for (id, token) in decoder {
            let content = &token.content;
            let bad = |reason: &str| {
                Error::config(path, format!("added token {content:?} (id {id}) {reason}"))
            };
            let id: u32 = id
                .parse()
                .map_err(|_| bad("has an id that is not a number"))?;
            if self.token_to_id(content) != Some(id) {
                return Err(bad(
                    "is not at that id in vocab.txt, which distil does not support",
                ));
            }
            if !token.special
                || token.normalized
                || token.lstrip
                || token.rstrip
                || token.single_word
            {
                return Err(bad(
                    "is not a plain special token (special, not normalized, no lstrip, rstrip \
                     or single_word), which distil does not support",
                ));
            }
        }
        Ok(())
    }

    /// Tokenizes `text` as `tokenizer(text)` does: `[CLS]`, the pieces, `[SEP]`; no truncation.
    pub fn encode(&self, text: &str) -> Encoding {
        let mut encoding = Encoding {
            ids: Vec::with_capacity(text.len() / 3 + 2),
            tokens: Vec::with_capacity(text.len() / 3 + 2),
            offsets: Vec::with_capacity(text.len() / 3 + 2),
        };
        encoding.push(self.cls_id, self.token(self.cls_id), (0, 0));
        self.encode_pieces(text, &mut encoding);
        encoding.push(self.sep_id, self.token(self.sep_id), (0, 0));
        encoding
    }

    /// [`Tokenizer::encode`] cut to at most `max_len` tokens as `truncation=True` cuts it
    /// ([`Encoding::truncate`]; `max_len` is taken as at least 2, `[CLS]` and `[SEP]`), and how
    /// many pieces were cut.
    pub fn encode_truncated(&self, text: &str, max_len: usize) -> (Encoding, usize) {
        let mut encoding = self.encode(text);
        // At least 2 holds [CLS] and [SEP], so truncation cannot fail.
        let truncated = encoding.truncate(max_len.max(2)).unwrap_or(0);
        (encoding, truncated)
    }

    /// Appends the pieces of `text` (no `[CLS]`/`[SEP]`) to `encoding`.
    fn encode_pieces(&self, text: &str, encoding: &mut Encoding) {
        self.encode_pieces_in_words(text, encoding, &mut Vec::new());
    }

    /// The pieces of `text` (no `[CLS]`/`[SEP]`) and, for each, the index of the word it is part
    /// of (`tokenizers`' `word_ids`): the pre-tokenizer's words (runs between spaces and
    /// punctuation, each punctuation mark, each CJK character) and each special token, counted
    /// from 0.
    pub fn encode_words(&self, text: &str) -> (Encoding, Vec<usize>) {
        let (mut encoding, mut words) = (Encoding::default(), Vec::new());
        self.encode_pieces_in_words(text, &mut encoding, &mut words);
        (encoding, words)
    }

    /// [`Tokenizer::encode_pieces`], pushing each piece's word index onto `words` too.
    fn encode_pieces_in_words(&self, text: &str, encoding: &mut Encoding, words: &mut Vec<usize>) {
        let mut normalized = Normalized::with_capacity(text.len());
        let mut pieces = Vec::new();
        let mut word_index = 0;
        self.special.split(text, |segment| match segment {
            Segment::Special { id, range } => {
                encoding.push(id, self.token(id), (range.start, range.end));
                words.push(word_index);
                word_index += 1;
            }
            Segment::Text(range) => {
                self.normalizer
                    .normalize(&text[range.clone()], range.start, &mut normalized);
                let normalized = &normalized;
                pretokenize::split_words(&normalized.text, |word| {
                    self.wordpiece
                        .tokenize(&normalized.text[word.clone()], &mut pieces);
                    for (id, piece) in &pieces {
                        let span = word.start + piece.start..word.start + piece.end;
                        encoding.push(*id, self.token(*id), normalized.original_range(span));
                        words.push(word_index);
                    }
                    word_index += 1;
                });
            }
        });
    }

    /// The token of an id that came from the vocabulary map, which always has one.
    fn token(&self, id: u32) -> &str {
        self.wordpiece.id_to_token(id).unwrap_or_default()
    }

    /// Turns ids back into text as `tokenizer.decode(ids, skip_special_tokens=...)` does (see
    /// `decode.rs`). Ids outside the vocabulary are skipped.
    pub fn decode(&self, ids: &[u32], skip_special_tokens: bool) -> String {
        let tokens = ids
            .iter()
            .filter(|&&id| !(skip_special_tokens && self.is_special(id)))
            .filter_map(|&id| self.id_to_token(id));
        let text = decode::wordpiece(tokens);
        if self.clean_up_tokenization_spaces {
            decode::clean_up_tokenization(&text)
        } else {
            text
        }
    }

    /// Tokens (or words) joined as `tokenizer.convert_tokens_to_string` joins them: the
    /// WordPiece decoder alone (`decode.rs`), never transformers' whole-string clean-up.
    pub fn convert_tokens_to_string<'a>(
        &self,
        tokens: impl IntoIterator<Item = &'a str>,
    ) -> String {
        decode::wordpiece(tokens)
    }

    /// One token as text, as the fill-mask pipeline's `token_str` (`tokenizer.decode([id])`):
    /// the token itself, so a continuation piece keeps its `##` (`"##ing"`).
    pub fn decode_token(&self, id: u32) -> String {
        self.decode(&[id], false)
    }

    /// Maps a fill-mask target word to one id like transformers' `get_target_ids`: the word's
    /// own id if it is a vocabulary token (verbatim, so `"##s"` or a cased `"Paris"` works),
    /// otherwise the first piece of tokenizing it (`in_vocab: false`; transformers warns).
    /// `None` if it has no pieces at all (e.g. only spaces; transformers warns and ignores it).
    pub fn resolve_target(&self, word: &str) -> Option<Target> {
        if let Some(id) = self.token_to_id(word) {
            return Some(Target { id, in_vocab: true });
        }
        let mut pieces = Encoding::default();
        self.encode_pieces(word, &mut pieces);
        pieces.ids.first().map(|&id| Target {
            id,
            in_vocab: false,
        })
    }

    /// The id of the vocabulary entry `token` (exactly as `vocab.txt` spells it).
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.wordpiece.token_to_id(token)
    }

    /// The token of `id`; `None` past the vocabulary, or for the first id of a token that
    /// `vocab.txt` lists twice (the later one wins, as in `tokenizers`).
    pub fn id_to_token(&self, id: u32) -> Option<&str> {
        self.wordpiece.id_to_token(id)
    }

    /// The number of ids: the number of lines of `vocab.txt`.
    pub fn vocab_size(&self) -> usize {
        self.wordpiece.len()
    }

    /// The `[CLS]` id, first in every encoding.
    pub fn cls_id(&self) -> u32 {
        self.cls_id
    }

    /// The `[SEP]` id, last in every encoding.
    pub fn sep_id(&self) -> u32 {
        self.sep_id
    }

    /// The `[PAD]` id.
    pub fn pad_id(&self) -> u32 {
        self.pad_id
    }

    /// The `[UNK]` id, for a word with no word-piece split.
    pub fn unk_id(&self) -> u32 {
        self.unk_id
    }

    /// The `[MASK]` id, if the vocabulary has one (only fill-mask needs it).
    pub fn mask_id(&self) -> Option<u32> {
        self.mask_id
    }

    /// `model_max_length` from `tokenizer_config.json`, if it states a real limit.
    pub fn model_max_length(&self) -> Option<usize> {
        self.model_max_length
    }

    /// Whether `id` is a special token (`skip_special_tokens` drops these, `[UNK]` included).
    pub fn is_special(&self, id: u32) -> bool {
        self.special.contains_id(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ten-token vocabulary, uncased.
    fn tokenizer(lowercase: bool) -> Tokenizer {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vocab.txt");
        std::fs::write(
            &path,
            "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nun\n##aff\n##able\nhello\n,\n",
        )
        .unwrap();
        Tokenizer::from_vocab_file(&path, lowercase).unwrap()
    }

    #[test]
    fn encodes_with_cls_sep_and_offsets() {
        let t = tokenizer(true);
        let e = t.encode("Hello, unaffable x");
        assert_eq!(
            e.tokens,
            ["[CLS]", "hello", ",", "un", "##aff", "##able", "[UNK]", "[SEP]"]
        );
        assert_eq!(e.ids, [2, 8, 9, 5, 6, 7, 1, 3]);
        assert_eq!(
            e.offsets,
            [
                (0, 0),
                (0, 5),
                (5, 6),
                (7, 9),
                (9, 12),
                (12, 16),
                (17, 18),
                (0, 0)
            ]
        );
    }

    #[test]
    fn cased_tokenizer_keeps_case() {
        let t = tokenizer(false);
        assert_eq!(
            t.encode("Hello hello").tokens,
            ["[CLS]", "[UNK]", "hello", "[SEP]"]
        );
    }

    #[test]
    fn special_tokens_in_text_match_verbatim() {
        let t = tokenizer(true);
        let e = t.encode("hello[MASK]un [mask]");
        assert_eq!(
            e.tokens,
            ["[CLS]", "hello", "[MASK]", "un", "[UNK]", "[UNK]", "[UNK]", "[SEP]"]
        );
        assert_eq!(e.offsets[2], (5, 11));
    }

    #[test]
    fn decodes_like_transformers() {
        let t = tokenizer(true);
        let e = t.encode("hello , unaffable [MASK]");
        assert_eq!(t.decode(&e.ids, true), "hello, unaffable");
        assert_eq!(
            t.decode(&e.ids, false),
            "[CLS] hello, unaffable [MASK] [SEP]"
        );
        assert_eq!(t.decode_token(6), "##aff");
        assert_eq!(t.decode(&[8, 1000], false), "hello");
    }

    #[test]
    fn truncate_keeps_cls_first_pieces_sep() {
        let t = tokenizer(true);
        let mut e = t.encode("hello unaffable");
        assert_eq!(e.truncate(10).unwrap(), 0);
        assert_eq!(e.truncate(4).unwrap(), 2);
        assert_eq!(e.tokens, ["[CLS]", "hello", "un", "[SEP]"]);
        assert_eq!(e.truncate(2).unwrap(), 2);
        assert_eq!(e.tokens, ["[CLS]", "[SEP]"]);
        assert!(e.clone().truncate(1).is_err());
    }

    #[test]
    fn targets_resolve_like_the_fill_mask_pipeline() {
        let t = tokenizer(true);
        assert_eq!(
            t.resolve_target("##able"),
            Some(Target {
                id: 7,
                in_vocab: true
            })
        );
        assert_eq!(
            t.resolve_target("Unaffable"),
            Some(Target {
                id: 5,
                in_vocab: false
            })
        );
        assert_eq!(t.resolve_target(" \u{0} "), None);
    }

    #[test]
    fn special_ids() {
        let t = tokenizer(true);
        assert_eq!(
            (t.pad_id(), t.unk_id(), t.cls_id(), t.sep_id(), t.mask_id()),
            (0, 1, 2, 3, Some(4))
        );
        assert!(t.is_special(1) && !t.is_special(5));
        assert_eq!(t.vocab_size(), 10);
    }
}
