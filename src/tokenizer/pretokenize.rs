//! BERT's pre-tokenizer (`tokenizers`' `pre_tokenizers/bert.rs`): split the normalized text into
//! words on whitespace (which is dropped), then split off every punctuation char as a word of its
//! own. Punctuation is ASCII punctuation (which includes symbols such as `$ + < = > ^ ` | ~`) plus
//! the Unicode P* categories of Unicode 8.0 (see `tables.rs`); whitespace is Rust's
//! `char::is_whitespace`.

use std::ops::Range;

use super::tables;

/// Calls `emit` with the byte range of each word of `text`, in order.
pub(crate) fn split_words(text: &str, mut emit: impl FnMut(Range<usize>)) {
    let mut word_start = None;
    for (i, c) in text.char_indices() {
        let is_space = c.is_whitespace();
        if is_space || is_punctuation(c) {
            if let Some(start) = word_start.take() {
                emit(start..i);
            }
            if !is_space {
                emit(i..i + c.len_utf8());
            }
        } else if word_start.is_none() {
            word_start = Some(i);
        }
    }
    if let Some(start) = word_start {
        emit(start..text.len());
    }
}

/// BERT punctuation: any ASCII punctuation char, or general category P* (Unicode 8.0).
pub(crate) fn is_punctuation(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_punctuation()
    } else {
        tables::contains(tables::PUNCTUATION, c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<&str> {
        let mut out = Vec::new();
        split_words(text, |r| out.push(&text[r]));
        out
    }

    #[test]
    fn splits_on_whitespace_and_isolates_punctuation() {
        assert_eq!(
            words("  Hello, world!! "),
            ["Hello", ",", "world", "!", "!"]
        );
        assert_eq!(words("don't"), ["don", "'", "t"]);
        assert_eq!(words("a$b"), ["a", "$", "b"]);
        assert_eq!(words(""), Vec::<&str>::new());
        assert_eq!(words(" \u{3000} "), Vec::<&str>::new());
    }

    #[test]
    fn unicode_punctuation_is_split_but_symbols_are_not() {
        // '¿' and '—' are P*; '€' (Sc) and '°' (So) are not.
        assert_eq!(words("¿a—b€c°"), ["¿", "a", "—", "b€c°"]);
    }

    #[test]
    fn punctuation_table_is_unicode_8() {
        // U+2E43 DASH WITH LEFT UPTURN became Po in Unicode 9.0; tokenizers does not split it.
        assert!(!is_punctuation('\u{2E43}'));
        // U+166D CANADIAN SYLLABICS CHI SIGN was Po until Unicode 12.0.
        assert!(is_punctuation('\u{166D}'));
    }
}
