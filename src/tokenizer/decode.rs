//! Turning tokens back into text, as `tokenizer.decode(ids)` does in transformers 5: the
//! `tokenizers` WordPiece decoder (`decoders/wordpiece.rs`), then, only if the checkpoint's
//! `tokenizer_config.json` sets `clean_up_tokenization_spaces` (transformers 5 defaults it to
//! false), transformers' `clean_up_tokenization` over the whole string.
//!
//! The WordPiece decoder glues a `##` token to the one before it and puts a space before every
//! other token except the first. It then runs its own cleanup (`cleanup: true`) on each token
//! *separately*, space included, so `[" ."]` becomes `"."`: in practice this removes the space
//! before `.`, `?`, `!` and `,` tokens, while `" ' "` and `" n't"`-style patterns cannot match
//! inside one BERT token and are left for transformers' whole-string pass.

/// The replacements of the WordPiece decoder's per-token cleanup, in order.
const DECODER_CLEANUP: [(&str, &str); 11] = [
    (" .", "."),
    (" ?", "?"),
    (" !", "!"),
    (" ,", ","),
    (" ' ", "'"),
    (" n't", "n't"),
    (" 'm", "'m"),
    (" do not", " don't"),
    (" 's", "'s"),
    (" 've", "'ve"),
    (" 're", "'re"),
];

/// The replacements of transformers' `clean_up_tokenization`, in order (no `" do not"`).
const CLEAN_UP_TOKENIZATION: [(&str, &str); 10] = [
    (" .", "."),
    (" ?", "?"),
    (" !", "!"),
    (" ,", ","),
    (" ' ", "'"),
    (" n't", "n't"),
    (" 'm", "'m"),
    (" 's", "'s"),
    (" 've", "'ve"),
    (" 're", "'re"),
];

/// The WordPiece decoder: joins `tokens` into one string.
pub(crate) fn wordpiece<'a>(tokens: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = String::new();
    let mut piece = String::new();
    for (i, token) in tokens.into_iter().enumerate() {
        piece.clear();
        match token.strip_prefix(super::wordpiece::CONTINUING_SUBWORD_PREFIX) {
            Some(rest) if i > 0 => piece.push_str(rest),
            _ if i > 0 => {
                piece.push(' ');
                piece.push_str(token);
            }
            _ => piece.push_str(token),
        }
        out.push_str(&replace_all(&piece, &DECODER_CLEANUP));
    }
    out
}

/// transformers' `clean_up_tokenization`: removes spaces before punctuation and English
/// contractions (`"do n't"` → `"don't"`, `"it ' s"` → `"it's"`).
pub(crate) fn clean_up_tokenization(text: &str) -> String {
    replace_all(text, &CLEAN_UP_TOKENIZATION).into_owned()
}

/// Applies each `(from, to)` in turn, every time to the whole string, like chained
/// `str.replace` calls (left to right, non-overlapping).
fn replace_all<'a>(text: &'a str, replacements: &[(&str, &str)]) -> std::borrow::Cow<'a, str> {
    let mut text = std::borrow::Cow::Borrowed(text);
    // Every pattern starts with a space: most tokens need no work at all.
    if !text.contains(' ') {
        return text;
    }
    for (from, to) in replacements {
        if text.contains(from) {
            text = text.replace(from, to).into();
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_continuations_and_spaces_words() {
        assert_eq!(wordpiece(["un", "##aff", "##able", "cat"]), "unaffable cat");
        // A leading `##` token keeps its prefix: this is what `decode([id])` gives for it.
        assert_eq!(wordpiece(["##ing"]), "##ing");
        assert_eq!(wordpiece(["a", "##", "####b"]), "a##b");
        assert_eq!(wordpiece(Vec::<&str>::new()), "");
    }

    #[test]
    fn decoder_cleanup_is_per_token() {
        assert_eq!(
            wordpiece(["hello", ",", "world", "!", "?", "."]),
            "hello, world!?."
        );
        // "' s" spans two tokens, so the per-token cleanup cannot see " ' ".
        assert_eq!(
            wordpiece(["it", "'", "s", "don", "'", "t"]),
            "it ' s don ' t"
        );
        // A token containing a space is cleaned as a whole.
        assert_eq!(wordpiece(["x", "do not"]), "x don't");
    }

    #[test]
    fn clean_up_tokenization_joins_contractions() {
        assert_eq!(clean_up_tokenization("it ' s don ' t"), "it's don't");
        assert_eq!(
            clean_up_tokenization("do n't i 'm we 're"),
            "don't i'm we're"
        );
        assert_eq!(clean_up_tokenization("do not"), "do not");
    }
}
