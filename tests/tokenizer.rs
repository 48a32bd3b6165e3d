//! Parity with Hugging Face's `BertTokenizerFast` (transformers 5.24, tokenizers 0.23): every case
//! of `tests/fixtures/tokenization.json` must give the same ids, tokens, byte offsets and decodes,
//! for a cased vocab, a small uncased vocab and the real MiniLM (bert-base-uncased) vocab.
//! Regenerate the fixture with `tests/fixtures/make_fixtures.py`.

use std::fmt::Debug;
use std::path::{Path, PathBuf};

use distil::tokenizer::Tokenizer;
use serde::Deserialize;

#[derive(Deserialize)]
struct Fixture {
    setups: std::collections::BTreeMap<String, Setup>,
}

#[derive(Deserialize)]
struct Setup {
    lowercase: bool,
    vocab: String,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    text: String,
    ids: Vec<u32>,
    tokens: Vec<String>,
    offsets: Vec<(usize, usize)>,
    decoded: String,
    decoded_with_special: String,
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn load_fixture() -> Fixture {
    read_fixture(&fixtures().join("tokenization.json"))
}

fn read_fixture(path: &Path) -> Fixture {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// Describes where `got` first differs from `want`, or `None` if they are equal.
fn first_difference<T: PartialEq + Debug>(what: &str, got: &[T], want: &[T]) -> Option<String> {
    if got == want {
        return None;
    }
    let i = got
        .iter()
        .zip(want)
        .position(|(g, w)| g != w)
        .unwrap_or(got.len().min(want.len()));
    Some(format!(
        "{what} differ at index {i}: got {:?}, want {:?} (lengths {} vs {})",
        got.get(i),
        want.get(i),
        got.len(),
        want.len()
    ))
}

/// Runs every case of one setup; returns a report of the first failing case.
fn check_setup(name: &str, setup: &Setup, tokenizer: &Tokenizer) -> Result<usize, String> {
    for (n, case) in setup.cases.iter().enumerate() {
        let enc = tokenizer.encode(&case.text);
        let decoded = tokenizer.decode(&enc.ids, true);
        let decoded_with_special = tokenizer.decode(&enc.ids, false);
        let problem = first_difference("tokens", &enc.tokens, &case.tokens)
            .or_else(|| first_difference("ids", &enc.ids, &case.ids))
            .or_else(|| first_difference("offsets", &enc.offsets, &case.offsets))
            .or_else(|| {
                (decoded != case.decoded)
                    .then(|| format!("decoded: got {decoded:?}, want {:?}", case.decoded))
            })
            .or_else(|| {
                (decoded_with_special != case.decoded_with_special).then(|| {
                    format!(
                        "decoded_with_special: got {decoded_with_special:?}, want {:?}",
                        case.decoded_with_special
                    )
                })
            });
        if let Some(problem) = problem {
            return Err(format!(
                "setup {name}, case {n}, text {:?}:\n  {problem}\n  got tokens  {:?}\n  want tokens {:?}",
                case.text, enc.tokens, case.tokens
            ));
        }
    }
    Ok(setup.cases.len())
}

#[test]
fn matches_hugging_face_on_every_fixture_case() {
    check_fixture(&load_fixture());
}

/// The same check on a fixture of your own in the same layout (vocab paths relative to
/// `tests/fixtures` or absolute), e.g. thousands of random strings encoded by HF:
/// `DISTIL_TOKENIZER_FIXTURE=/tmp/fuzz.json cargo test --test tokenizer -- --ignored`.
#[test]
#[ignore = "needs DISTIL_TOKENIZER_FIXTURE"]
fn matches_hugging_face_on_fixture_from_env() {
    let path = std::env::var_os("DISTIL_TOKENIZER_FIXTURE").expect("set DISTIL_TOKENIZER_FIXTURE");
    check_fixture(&read_fixture(Path::new(&path)));
}

fn check_fixture(fixture: &Fixture) {
    assert!(!fixture.setups.is_empty());
    let mut failures = Vec::new();
    for (name, setup) in &fixture.setups {
        let vocab = fixtures().join(&setup.vocab);
        if !vocab.exists() {
            // The MiniLM vocab comes with the downloaded weights (weights/fetch-minilm.sh).
            eprintln!("skipping setup {name}: {} is missing", vocab.display());
            continue;
        }
        let tokenizer = Tokenizer::from_vocab_file(&vocab, setup.lowercase).unwrap();
        match check_setup(name, setup, &tokenizer) {
            Ok(n) => eprintln!("setup {name}: {n} cases identical"),
            Err(report) => failures.push(report),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The model directories' `tokenizer_config.json` must give the same tokenizer as the bare vocab
/// with the setup's lowercase flag.
#[test]
fn from_dir_agrees_with_from_vocab_file() {
    let fixture = load_fixture();
    for (setup, dir) in [
        ("distilbert-cased", "distilbert-cased"),
        ("bert-uncased", "bert-uncased"),
    ] {
        let tokenizer = Tokenizer::from_dir(&fixtures().join("models").join(dir)).unwrap();
        check_setup(setup, &fixture.setups[setup], &tokenizer).unwrap();
    }
    let minilm = Path::new(env!("CARGO_MANIFEST_DIR")).join("weights/all-MiniLM-L6-v2");
    if minilm.join("vocab.txt").exists() {
        let tokenizer = Tokenizer::from_dir(&minilm).unwrap();
        check_setup("minilm", &fixture.setups["minilm"], &tokenizer).unwrap();
        assert_eq!(tokenizer.model_max_length(), Some(512));
        assert_eq!(
            (tokenizer.cls_id(), tokenizer.sep_id(), tokenizer.mask_id()),
            (101, 102, Some(103))
        );
        assert_eq!(tokenizer.vocab_size(), 30522);
    }
}

fn write_vocab(dir: &Path, bytes: &[u8]) -> PathBuf {
    let path = dir.join("vocab.txt");
    std::fs::write(&path, bytes).unwrap();
    path
}

const SPECIALS: &str = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n";

#[test]
fn vocab_errors_name_the_file_and_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let err = |bytes: &[u8]| {
        let path = write_vocab(dir.path(), bytes);
        Tokenizer::from_vocab_file(&path, true)
            .unwrap_err()
            .to_string()
    };
    let missing = Tokenizer::from_vocab_file(&dir.path().join("nope.txt"), true)
        .unwrap_err()
        .to_string();
    assert!(missing.contains("nope.txt"), "{missing}");

    let e = err(b"");
    assert!(e.contains("vocab.txt") && e.contains("empty"), "{e}");
    let e = err(b"[PAD]\n[UNK]\n\xff\xfe\n");
    assert!(
        e.contains("vocab.txt") && e.contains("line 3") && e.contains("UTF-8"),
        "{e}"
    );
    let e = err(b"[PAD]\n[CLS]\n[SEP]\n");
    assert!(e.contains("\"[UNK]\""), "{e}");
    let e = err(b"[PAD]\n[UNK]\n[SEP]\n");
    assert!(e.contains("\"[CLS]\""), "{e}");
}

#[test]
fn vocab_lines_are_read_like_tokenizers() {
    // \r\n endings and trailing spaces are trimmed; no final newline is fine; a duplicated token
    // keeps its last id and the first id has no token; [MASK] is optional.
    let dir = tempfile::tempdir().unwrap();
    let path = write_vocab(
        dir.path(),
        b"[PAD]\r\n[UNK]\r\n[CLS]\n[SEP] \ndup\nword\ndup",
    );
    let t = Tokenizer::from_vocab_file(&path, true).unwrap();
    assert_eq!(t.vocab_size(), 7);
    assert_eq!(t.token_to_id("[SEP]"), Some(3));
    assert_eq!(t.token_to_id("dup"), Some(6));
    assert_eq!(t.id_to_token(4), None);
    assert_eq!(t.mask_id(), None);
    assert_eq!(
        t.encode("dup [MASK]").tokens,
        ["[CLS]", "dup", "[UNK]", "[UNK]", "[UNK]", "[SEP]"]
    );
}

#[test]
fn config_sets_case_accents_and_special_names() {
    let dir = tempfile::tempdir().unwrap();
    write_vocab(
        dir.path(),
        format!("{SPECIALS}Café\ncafe\ncafé\n<m>\n").as_bytes(),
    );
    let config = dir.path().join("tokenizer_config.json");

    // Lowercase but keep accents.
    std::fs::write(&config, r#"{"do_lower_case": true, "strip_accents": false, "model_max_length": 1000000000000000019884624838656}"#).unwrap();
    let t = Tokenizer::from_dir(dir.path()).unwrap();
    assert_eq!(t.encode("CAFÉ").tokens, ["[CLS]", "café", "[SEP]"]);
    assert_eq!(t.model_max_length(), None);

    // Cased by config; a renamed mask token (given as an AddedToken object) is matched instead.
    std::fs::write(
        &config,
        r#"{"do_lower_case": false, "mask_token": {"content": "<m>", "lstrip": false}}"#,
    )
    .unwrap();
    let t = Tokenizer::from_dir(dir.path()).unwrap();
    assert_eq!(
        t.encode("Café<m>[MASK]").tokens[..3],
        ["[CLS]", "Café", "<m>"]
    );
    assert_eq!(t.mask_id(), Some(8));

    // No config at all: transformers' default is lowercase.
    std::fs::remove_file(&config).unwrap();
    let t = Tokenizer::from_dir(dir.path()).unwrap();
    assert_eq!(t.encode("Café").tokens, ["[CLS]", "cafe", "[SEP]"]);

    // Broken JSON is reported with the file name.
    std::fs::write(&config, "{").unwrap();
    let e = Tokenizer::from_dir(dir.path()).unwrap_err().to_string();
    assert!(e.contains("tokenizer_config.json"), "{e}");
}

#[test]
fn fill_mask_targets_resolve_like_transformers() {
    let minilm = Path::new(env!("CARGO_MANIFEST_DIR")).join("weights/all-MiniLM-L6-v2");
    if !minilm.join("vocab.txt").exists() {
        return;
    }
    let t = Tokenizer::from_dir(&minilm).unwrap();
    let target = t.resolve_target("paris").unwrap();
    assert!(target.in_vocab && t.id_to_token(target.id) == Some("paris"));
    // Not a vocab entry: the first piece of its tokenization ("capital" after lowercasing).
    let target = t.resolve_target("Capital").unwrap();
    assert!(!target.in_vocab && t.id_to_token(target.id) == Some("capital"));
    let target = t.resolve_target("unaffable").unwrap();
    assert_eq!(t.id_to_token(target.id), Some("una"));
    assert_eq!(t.decode_token(t.token_to_id("##ffa").unwrap()), "##ffa");
    assert_eq!(t.resolve_target("  "), None);
}

#[test]
fn truncation_keeps_cls_first_pieces_and_sep() {
    let vocab = fixtures().join("models/bert-uncased/vocab.txt");
    let t = Tokenizer::from_vocab_file(&vocab, true).unwrap();
    let mut enc = t.encode("the philosophy of language and the economics of trade");
    let full = enc.clone();
    let cut = enc.truncate(5).unwrap();
    assert_eq!(cut, full.len() - 5);
    assert_eq!(enc.ids[..4], full.ids[..4]);
    assert_eq!(enc.ids[4], t.sep_id());
    assert_eq!(enc.offsets[4], (0, 0));
}
