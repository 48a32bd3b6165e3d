//! BERT's normalizer, as Hugging Face `tokenizers` runs it (`normalizers/bert.rs`), with an
//! alignment map from every normalized byte back to the original text.
//!
//! Four steps, each on or off, applied in this order:
//!
//! 1. `clean_text`: drop U+0000, U+FFFD and "other" chars (general category C*: Cc, Cf, Co),
//!    except `\t`, `\n`, `\r`, which count as whitespace; then turn every whitespace char (Rust's
//!    `char::is_whitespace`) into `' '`. So `\u{0B}`, `\u{0C}` and U+0085 (all Cc) vanish, while
//!    U+00A0 and U+3000 become spaces. U+200B (Cf) vanishes.
//! 2. `handle_chinese_chars`: put a space on each side of a CJK ideograph (the code point blocks
//!    in [`is_chinese_char`]).
//! 3. `strip_accents`: NFD, then drop nonspacing marks (Mn). Defaults to `lowercase`.
//! 4. `lowercase`: `char::to_lowercase`, char by char (so `'Σ'` is always `'σ'`, and `'İ'`
//!    becomes `"i\u{307}"` if accents are kept).
//!
//! Every step maps one char to zero or more chars independently of its neighbours, so we run all
//! four on one original char at a time, and every char it yields inherits that char's byte range
//! in the original text. Hugging Face does the same bookkeeping step by step over the whole string
//! (`NormalizedString::transform`): inserted chars take the alignment of the char they came
//! from, removed chars leave no trace. Its NFD also reorders runs of combining marks by class;
//! we decompose char by char, which differs only if two marks that are *not* Mn and have non-zero
//! combining classes (some musical-symbol Mc) meet out of order.
//!
//! The category tables are Unicode 8.0, as in `tokenizers`, and we decompose only the chars its
//! older NFD tables decompose (see `tables.rs`): chars given a decomposition in Unicode 13 or
//! later (e.g. U+11938 DIVES AKURU VOWEL SIGN O) stay whole, as in Hugging Face.

use std::ops::Range;

use super::tables;

/// Hugging Face's `BertNormalizer`: one flag per step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BertNormalizer {
    pub clean_text: bool,
    pub handle_chinese_chars: bool,
    pub strip_accents: bool,
    pub lowercase: bool,
}

/// A normalized text and, for each of its bytes, the byte range of the original char it came from.
#[derive(Debug, Default)]
pub(crate) struct Normalized {
    pub text: String,
    /// `align[i]` is the original byte range of the char that produced normalized byte `i`.
    align: Vec<(usize, usize)>,
}

impl Normalized {
    pub fn with_capacity(bytes: usize) -> Self {
        Normalized {
            text: String::with_capacity(bytes),
            align: Vec::with_capacity(bytes),
        }
    }

    /// The original byte range covered by the normalized (non-empty, char-aligned) byte range.
    pub fn original_range(&self, normalized: Range<usize>) -> (usize, usize) {
        debug_assert!(normalized.start < normalized.end && normalized.end <= self.align.len());
        (
            self.align[normalized.start].0,
            self.align[normalized.end - 1].1,
        )
    }

    fn clear(&mut self) {
        self.text.clear();
        self.align.clear();
    }

    fn push(&mut self, c: char, original: (usize, usize)) {
        self.text.push(c);
        for _ in 0..c.len_utf8() {
            self.align.push(original);
        }
    }
}

impl BertNormalizer {
    /// Hugging Face's defaults for a checkpoint that does (or does not) lowercase: every step on,
    /// and accents stripped exactly when lowercasing.
    pub fn new(lowercase: bool) -> Self {
        BertNormalizer {
            clean_text: true,
            handle_chinese_chars: true,
            strip_accents: lowercase,
            lowercase,
        }
    }

    /// Normalizes `text`, which starts at byte `base` of the original input, into `out`
    /// (cleared first); `out`'s alignment is in original-input bytes.
    pub fn normalize(&self, text: &str, base: usize, out: &mut Normalized) {
        out.clear();
        for (i, c) in text.char_indices() {
            let original = (base + i, base + i + c.len_utf8());
            self.normalize_char(c, |n| out.push(n, original));
        }
    }

    /// Runs the four steps on one original char, passing each resulting char to `emit`.
    pub fn normalize_char(&self, c: char, mut emit: impl FnMut(char)) {
        // ASCII fast path: no CJK, no accents, and lowercasing stays one byte.
        if c.is_ascii() {
            let c = match c {
                '\0'..='\x08' | '\x0B' | '\x0C' | '\x0E'..='\x1F' | '\x7F' if self.clean_text => {
                    return
                }
                '\t' | '\n' | '\r' if self.clean_text => ' ',
                _ if self.lowercase => c.to_ascii_lowercase(),
                _ => c,
            };
            emit(c);
            return;
        }

        // 1. clean_text
        let c = if self.clean_text {
            if c == '\u{FFFD}' || is_control(c) {
                return;
            }
            if c.is_whitespace() {
                ' '
            } else {
                c
            }
        } else {
            c
        };

        // 2. handle_chinese_chars
        let spaced = self.handle_chinese_chars && is_chinese_char(c);
        if spaced {
            emit(' ');
        }

        // 3. strip_accents, then 4. lowercase
        if self.strip_accents {
            if tables::contains(tables::DECOMPOSABLE, c) {
                unicode_normalization::char::decompose_canonical(c, |d| {
                    if !tables::contains(tables::NONSPACING_MARK, d) {
                        self.lowercase_into(d, &mut emit);
                    }
                });
            } else if !tables::contains(tables::NONSPACING_MARK, c) {
                self.lowercase_into(c, &mut emit);
            }
        } else {
            self.lowercase_into(c, &mut emit);
        }

        if spaced {
            emit(' ');
        }
    }

    fn lowercase_into(&self, c: char, emit: &mut impl FnMut(char)) {
        if self.lowercase {
            c.to_lowercase().for_each(emit);
        } else {
            emit(c);
        }
    }
}

/// A control char for `clean_text`: general category C* (Unicode 8.0), but not `\t`, `\n`, `\r`,
/// which are whitespace. U+0000 is Cc, so it is covered too.
fn is_control(c: char) -> bool {
    !matches!(c, '\t' | '\n' | '\r') && tables::contains(tables::OTHER, c)
}

/// A "Chinese character": a code point in a CJK Unified Ideographs block (the BERT definition,
/// which covers Han characters only, not Hiragana, Katakana or Hangul). The ranges are those of
/// `tokenizers`' `normalizers/bert.rs`; note that the fifth starts at U+2B920, not U+2B820 as in
/// the original BERT code, so U+2B820..=U+2B91F (Extension E) are not split off.
pub(crate) fn is_chinese_char(c: char) -> bool {
    matches!(
        u32::from(c),
        0x4E00..=0x9FFF
            | 0x3400..=0x4DBF
            | 0x20000..=0x2A6DF
            | 0x2A700..=0x2B73F
            | 0x2B740..=0x2B81F
            | 0x2B920..=0x2CEAF
            | 0xF900..=0xFAFF
            | 0x2F800..=0x2FA1F
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normalize(n: BertNormalizer, text: &str) -> (String, Vec<(usize, usize)>) {
        let mut out = Normalized::default();
        n.normalize(text, 0, &mut out);
        let per_char = out.text.char_indices().map(|(i, _)| out.align[i]).collect();
        (out.text, per_char)
    }

    #[test]
    fn uncased_strips_accents_and_lowercases() {
        let (text, align) = normalize(BertNormalizer::new(true), "Héllo");
        assert_eq!(text, "hello");
        // 'é' is two bytes; the 'e' left after NFD and stripping points at both.
        assert_eq!(align, [(0, 1), (1, 3), (3, 4), (4, 5), (5, 6)]);
    }

    #[test]
    fn cased_keeps_case_and_accents() {
        let (text, _) = normalize(BertNormalizer::new(false), "Héllo İ");
        assert_eq!(text, "Héllo İ");
    }

    #[test]
    fn clean_text_drops_controls_and_maps_whitespace() {
        // \0, U+FFFD, \x0B (Cc), U+0085 (Cc), U+200B (Cf) vanish;
        // \t, \n, U+00A0, U+3000 become ' '.
        let (text, align) = normalize(
            BertNormalizer::new(false),
            "a\0\u{FFFD}\x0B\u{85}\u{200B}b\t\n\u{A0}\u{3000}c",
        );
        assert_eq!(text, "ab    c");
        assert_eq!(align[1], (11, 12)); // 'b' after 'a' and 1+3+1+2+3 bytes of dropped chars
    }

    #[test]
    fn chinese_chars_get_spaces_with_their_own_alignment() {
        let (text, align) = normalize(BertNormalizer::new(true), "a中b");
        assert_eq!(text, "a 中 b");
        assert_eq!(align, [(0, 1), (1, 4), (1, 4), (1, 4), (4, 5)]);
        // Hiragana is not a "Chinese character".
        assert_eq!(normalize(BertNormalizer::new(true), "あ").0, "あ");
    }

    #[test]
    fn lowercasing_may_change_the_byte_length() {
        // KELVIN SIGN (3 bytes) lowercases to 'k' (1 byte);
        // without stripping, 'İ' becomes two chars.
        let keep_accents = BertNormalizer {
            strip_accents: false,
            ..BertNormalizer::new(true)
        };
        let (text, align) = normalize(keep_accents, "\u{212A}İ");
        assert_eq!(text, "ki\u{307}");
        assert_eq!(align, [(0, 3), (3, 5), (3, 5)]);
        assert_eq!(normalize(BertNormalizer::new(true), "İ").0, "i");
    }

    #[test]
    fn decomposes_only_what_tokenizers_decomposes() {
        // U+11938 has a canonical decomposition since Unicode 13; tokenizers' NFD predates it.
        assert_eq!(
            normalize(BertNormalizer::new(true), "\u{11938}").0,
            "\u{11938}"
        );
        // Hangul syllables decompose into jamo.
        assert_eq!(
            normalize(BertNormalizer::new(true), "한").0,
            "\u{1112}\u{1161}\u{11AB}"
        );
    }

    #[test]
    fn original_range_spans_first_to_last_char() {
        let mut out = Normalized::default();
        BertNormalizer::new(true).normalize("Éa", 10, &mut out);
        assert_eq!(out.text, "ea");
        assert_eq!(out.original_range(0..2), (10, 13));
        assert_eq!(out.original_range(1..2), (12, 13));
    }
}

/// Not a test of its own: dumps what normalization and pre-tokenization do to every code point,
/// for `gen_tables.py --check` to compare with `tokenizers` itself:
///
/// ```text
/// DISTIL_TOKENIZER_DUMP=/tmp/dump.json cargo test --lib dump_every_code_point -- --ignored
/// .venv-ref/bin/python src/tokenizer/gen_tables.py --check /tmp/dump.json
/// ```
#[cfg(test)]
mod dump {
    use super::*;
    use crate::tokenizer::pretokenize::split_words;

    /// The normalizer settings the check covers, in `gen_tables.py`'s order.
    const MODES: [BertNormalizer; 6] = [
        BertNormalizer {
            clean_text: true,
            handle_chinese_chars: false,
            strip_accents: false,
            lowercase: false,
        },
        BertNormalizer {
            clean_text: false,
            handle_chinese_chars: true,
            strip_accents: false,
            lowercase: false,
        },
        BertNormalizer {
            clean_text: false,
            handle_chinese_chars: false,
            strip_accents: true,
            lowercase: false,
        },
        BertNormalizer {
            clean_text: false,
            handle_chinese_chars: false,
            strip_accents: false,
            lowercase: true,
        },
        BertNormalizer {
            clean_text: true,
            handle_chinese_chars: true,
            strip_accents: true,
            lowercase: true,
        },
        BertNormalizer {
            clean_text: true,
            handle_chinese_chars: true,
            strip_accents: false,
            lowercase: false,
        },
    ];

    /// Writes `[[code point, normalized under each mode..., words of "a{c}b"], ...]`.
    #[test]
    #[ignore = "writes a file for gen_tables.py --check"]
    fn dump_every_code_point() {
        let Some(path) = std::env::var_os("DISTIL_TOKENIZER_DUMP") else {
            return;
        };
        let mut rows = Vec::new();
        for c in (0..=0x10FFFF).filter_map(char::from_u32) {
            let mut row = vec![serde_json::Value::from(u32::from(c))];
            for mode in MODES {
                let mut normalized = String::new();
                mode.normalize_char(c, |n| normalized.push(n));
                row.push(normalized.into());
            }
            let text = format!("a{c}b");
            let mut words = Vec::new();
            split_words(&text, |r| words.push(serde_json::Value::from(&text[r])));
            row.push(words.into());
            rows.push(serde_json::Value::Array(row));
        }
        std::fs::write(path, serde_json::to_string(&rows).unwrap()).unwrap();
    }
}
