//! Python's string offsets: the pipelines answer in character (code point) offsets, where the
//! tokenizer works in bytes.

/// Byte offsets of a text turned into character (code point) offsets.
pub struct CharIndex {
    /// `chars[b]`: the characters before byte `b`, for every char boundary `b`.
    chars: Vec<usize>,
}

impl CharIndex {
    /// The index of `text`.
    pub fn new(text: &str) -> Self {
        let mut chars = vec![0; text.len() + 1];
        let mut count = 0;
        for (b, c) in text.char_indices() {
            chars[b] = count;
            count += 1;
            chars[b + c.len_utf8()] = count;
        }
        CharIndex { chars }
    }

    /// The characters before byte `byte` (a char boundary of the text, or its length).
    pub fn of(&self, byte: usize) -> usize {
        self.chars[byte]
    }
}
