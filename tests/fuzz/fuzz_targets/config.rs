//! Fuzz target `config`: the bytes as `config.json`, `tokenizer_config.json`,
//! `special_tokens_map.json` and the sentence-transformers files (see `harness::config`).

#![no_main]

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    harness::config(data);
});
