//! The fuzz target's corpus (`cli/fuzz/corpus/requests`: the test requests and what fuzzing kept),
//! replayed on stable Rust: every body through every request reader, as the target runs it.

use std::path::Path;

use distil_cli::server::requests::{every_reader, Limits};

#[test]
fn the_fuzz_corpus_reads_without_a_panic_or_a_broken_limit() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/requests");
    let limits = Limits { max_texts: 4 };
    let (mut bodies, mut accepted) = (0, 0);
    for entry in std::fs::read_dir(&corpus).unwrap() {
        let path = entry.unwrap().path();
        let body = std::fs::read(&path).unwrap();
        match every_reader(&body, &limits) {
            Ok(n) => accepted += n,
            Err(broken) => panic!("{}: {broken}", path.display()),
        }
        bodies += 1;
    }
    // The seeds alone are more than 100 bodies, dozens of them valid requests.
    assert!(
        bodies >= 100,
        "only {bodies} bodies in {}",
        corpus.display()
    );
    assert!(accepted >= 50, "only {accepted} readings accepted");
}
