//! Replays the committed fuzz corpora (`tests/fuzz/corpus/<target>/`) through the same harness
//! functions the `cargo fuzz` targets run, so every input the fuzzers kept (crash regressions
//! included) is checked on stable Rust by `cargo test`, without nightly or libFuzzer.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

#[path = "fuzz/harness.rs"]
mod harness;

/// Runs every file of `corpus/<target>` through `run`; fails naming each input that panicked,
/// and unless some inputs were accepted (so the corpus reaches past the first error).
fn replay(target: &str, run: fn(&[u8]) -> bool) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz/corpus")
        .join(target);
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    paths.sort();
    let mut accepted = 0;
    let mut failed = Vec::new();
    for path in &paths {
        let data = std::fs::read(path).unwrap();
        match catch_unwind(AssertUnwindSafe(|| run(&data))) {
            Ok(true) => accepted += 1,
            Ok(false) => {}
            Err(_) => failed.push(path.display().to_string()),
        }
    }
    assert!(!paths.is_empty(), "{}: no inputs", dir.display());
    assert!(
        failed.is_empty(),
        "{target}: these inputs panicked: {failed:#?}"
    );
    assert!(
        accepted > 0,
        "{target}: none of the {} inputs was accepted",
        paths.len()
    );
    println!(
        "{target}: replayed {} inputs, {accepted} accepted",
        paths.len()
    );
}

#[test]
fn fuzz_corpus_safetensors() {
    replay("safetensors", harness::safetensors);
}

#[test]
fn fuzz_corpus_config() {
    replay("config", harness::config);
}

#[test]
fn fuzz_corpus_vocab() {
    replay("vocab", harness::vocab);
}

#[test]
fn fuzz_corpus_tokenizer() {
    replay("tokenizer", harness::tokenizer);
}
