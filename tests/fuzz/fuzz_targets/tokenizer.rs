//! Fuzz target `tokenizer`: the bytes as text, tokenized with the cased and the uncased fixture
//! vocabularies (see `harness::tokenizer`).

#![no_main]

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    harness::tokenizer(data);
});
