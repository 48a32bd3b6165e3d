//! Two texts as one input, as `tokenizer(text, text_pair, truncation=True, max_length=n)` encodes
//! a sentence pair: `[CLS] a [SEP] b [SEP]`, the texts cut `longest_first`.

use super::{Encoding, Tokenizer};

/// A sentence pair's tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairEncoding {
    /// `[CLS] a [SEP] b [SEP]`; each piece's offsets are byte ranges of its own text.
    pub encoding: Encoding,
    /// Where the second text's tokens start (the token after the first `[SEP]`): BERT's token
    /// type 1 from here on.
    pub second: usize,
    /// Pieces cut from the two texts together (0 if they fit).
    pub truncated: usize,
}

impl Tokenizer {
    /// Encodes the pair `(a, b)` in at most `max_len` tokens (at least the 3 special ones):
    /// when the pieces do not fit, [`longest_first`] says how many of each text to keep, from
    /// its start. An empty `b` is still a pair, `[CLS] a [SEP] [SEP]`, as `tokenizers` encodes
    /// it (transformers' single call instead drops an empty `text_pair`: see `Classify`).
    pub fn encode_pair(&self, a: &str, b: &str, max_len: usize) -> PairEncoding {
        let [mut first, mut second] = [a, b].map(|text| {
            let mut pieces = Encoding::default();
            self.encode_pieces(text, &mut pieces);
            pieces
        });
        let (n1, n2) = (first.len(), second.len());
        let (keep1, keep2) = longest_first(n1, n2, max_len.saturating_sub(3));
        for (pieces, keep) in [(&mut first, keep1), (&mut second, keep2)] {
            pieces.ids.truncate(keep);
            pieces.tokens.truncate(keep);
            pieces.offsets.truncate(keep);
        }
        let mut encoding = Encoding::default();
        let (cls, sep) = (self.cls_id, self.sep_id);
        encoding.push(cls, self.token(cls), (0, 0));
        encoding.extend(first);
        encoding.push(sep, self.token(sep), (0, 0));
        let start = encoding.len();
        encoding.extend(second);
        encoding.push(sep, self.token(sep), (0, 0));
        PairEncoding {
            encoding,
            second: start,
            truncated: n1 + n2 - keep1 - keep2,
        }
    }
}

/// How many pieces of two texts of `n1` and `n2` pieces to keep in `budget` (`tokenizers`'
/// `LongestFirst`): nothing is cut if they fit; otherwise the shorter text is kept whole and the
/// longer cut to the rest of the budget, unless the shorter alone takes more than half of it,
/// when each gets half (the second text the odd one).
pub fn longest_first(n1: usize, n2: usize, budget: usize) -> (usize, usize) {
    if n1 + n2 <= budget {
        return (n1, n2);
    }
    let short = n1.min(n2);
    let (short, long) = if 2 * short > budget {
        (budget / 2, budget / 2 + budget % 2)
    } else {
        (short, budget - short)
    };
    if n1 > n2 {
        (long, short)
    } else {
        (short, long)
    }
}

#[cfg(test)]
mod tests {
    use super::longest_first;

    #[test]
    fn the_longer_text_is_cut_first_then_both_halves() {
        // Budget 7, texts of 0, 2, 4 and 8 pieces: what `tokenizers` keeps.
        let cases = [
            ((0, 0), (0, 0)),
            ((0, 8), (0, 7)),
            ((2, 8), (2, 5)),
            ((4, 2), (4, 2)),
            ((4, 4), (3, 4)),
            ((4, 8), (3, 4)),
            ((8, 0), (7, 0)),
            ((8, 2), (5, 2)),
            ((8, 4), (4, 3)),
            ((8, 8), (3, 4)),
        ];
        for ((n1, n2), want) in cases {
            assert_eq!(longest_first(n1, n2, 7), want, "{n1} and {n2}");
        }
        assert_eq!(longest_first(600, 10, 509), (499, 10));
        assert_eq!(longest_first(5, 5, 0), (0, 0));
    }
}
