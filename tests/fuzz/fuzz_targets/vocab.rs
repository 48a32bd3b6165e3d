//! Fuzz target `vocab`: the bytes as `vocab.txt`, loaded cased and uncased, then used to
//! tokenize (see `harness::vocab`).

#![no_main]

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    harness::vocab(data);
});
