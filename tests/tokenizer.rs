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
                "setup {name}, case {n}, text {:?}:\n  {problem}\n  \
                 got tokens  {:?}\n  want tokens {:?}",
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
    if let Some(minilm) = minilm("the MiniLM vocabulary's hard lines") {
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

/// The real all-MiniLM-L6-v2 directory (`bash weights/fetch-minilm.sh` fetches it). Without it,
/// `check` is skipped with a line saying so, except under CI (`CI=true`), where it fails.
fn minilm(check: &str) -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("weights/all-MiniLM-L6-v2");
    if dir.join("vocab.txt").is_file() {
        return Some(dir);
    }
    let why = format!(
        "{} is missing (bash weights/fetch-minilm.sh)",
        dir.display()
    );
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("CI=true: {check} cannot run: {why}");
    }
    eprintln!("skipping {check}: {why}");
    None
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
    // model_max_length as transformers writes "no limit" (int(1e30)).
    let no_limit = "1000000000000000019884624838656";
    std::fs::write(
        &config,
        format!(
            r#"{{"do_lower_case": true, "strip_accents": false, "model_max_length": {no_limit}}}"#
        ),
    )
    .unwrap();
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
    let Some(minilm) = minilm("fill_mask_targets_resolve_like_transformers") else {
        return;
    };
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

/// The tokenizer side of `fill_mask.json`: token counts, `--targets` resolution (with which
/// targets transformers warned about), `token_str` and `sequence` decodes of every prediction.
#[test]
fn fill_mask_fixture_tokenization() {
    use serde_json::Value;
    let path = fixtures().join("fill_mask.json");
    let fixture: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let cases = fixture["cases"].as_array().unwrap();
    let mut checked = 0;
    for (n, case) in cases.iter().enumerate() {
        let model = case["model"].as_str().unwrap();
        let t = Tokenizer::from_dir(&fixtures().join("models").join(model)).unwrap();
        let texts: Vec<&str> = match &case["text"] {
            Value::String(s) => vec![s.as_str()],
            Value::Array(list) => list.iter().map(|v| v.as_str().unwrap()).collect(),
            other => panic!("case {n}: text {other}"),
        };
        let context = format!("fill_mask.json case {n} ({model}, {:?})", texts[0]);
        assert_eq!(
            t.encode(texts[0]).len() as u64,
            case["num_tokens"].as_u64().unwrap(),
            "{context}"
        );

        if let Some(want) = case.get("target_ids").and_then(Value::as_array) {
            let targets: Vec<&str> = match &case["targets"] {
                Value::String(s) => vec![s.as_str()],
                Value::Array(list) => list.iter().map(|v| v.as_str().unwrap()).collect(),
                other => panic!("{context}: targets {other}"),
            };
            let warnings = case
                .get("warnings")
                .map(Value::to_string)
                .unwrap_or_default();
            let mut ids = Vec::new();
            for target in targets {
                let resolved = t.resolve_target(target).unwrap();
                let warned = warnings.contains(&format!("`{target}` does not exist"));
                assert_eq!(resolved.in_vocab, !warned, "{context}: target {target:?}");
                ids.push(u64::from(resolved.id));
            }
            ids.sort_unstable();
            ids.dedup();
            let want: Vec<u64> = want.iter().map(|v| v.as_u64().unwrap()).collect();
            assert_eq!(ids, want, "{context}: target ids");
        }

        let Some(result) = case.get("result") else {
            continue; // an error case
        };
        let per_text: Vec<&Value> = match &case["text"] {
            Value::Array(_) => result.as_array().unwrap().iter().collect(),
            _ => vec![result],
        };
        let truncation = case["tokenizer_kwargs"]["truncation"].as_bool() == Some(true);
        for (text, result) in texts.iter().zip(per_text) {
            let mut enc = t.encode(text);
            if truncation {
                enc.truncate(t.model_max_length().unwrap_or(512)).unwrap();
            }
            let mask_id = t.mask_id().unwrap();
            let masks: Vec<usize> = (0..enc.len()).filter(|&i| enc.ids[i] == mask_id).collect();
            let result = result.as_array().unwrap();
            let per_mask: Vec<&Vec<Value>> = if result[0].is_array() {
                result.iter().map(|r| r.as_array().unwrap()).collect()
            } else {
                vec![result]
            };
            assert_eq!(per_mask.len(), masks.len(), "{context}: masks");
            for (&position, predictions) in masks.iter().zip(per_mask) {
                for p in predictions {
                    let token = p["token"].as_u64().unwrap() as u32;
                    assert_eq!(
                        t.decode_token(token),
                        p["token_str"].as_str().unwrap(),
                        "{context}"
                    );
                    let mut filled = enc.ids.clone();
                    filled[position] = token;
                    filled.retain(|&id| id != t.pad_id());
                    let sequence = t.decode(&filled, masks.len() == 1);
                    assert_eq!(sequence, p["sequence"].as_str().unwrap(), "{context}");
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 100, "only {checked} predictions checked");
}

/// `embeddings.json`: sentence-transformers' input ids are ours, truncated to `max_seq_length`.
#[test]
fn embeddings_fixture_input_ids() {
    use serde_json::Value;
    let path = fixtures().join("embeddings.json");
    let fixture: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let sentences = fixture["sentences"].as_array().unwrap();
    for (name, model) in fixture["models"].as_object().unwrap() {
        let dir = fixtures().join(model["dir"].as_str().unwrap());
        if !dir.join("vocab.txt").exists() {
            continue;
        }
        let t = Tokenizer::from_dir(&dir).unwrap();
        let max_len = model["max_seq_length"].as_u64().unwrap() as usize;
        let want = model["input_ids"].as_array().unwrap();
        let untruncated = model["num_tokens_untruncated"].as_array().unwrap();
        for (i, sentence) in sentences.iter().enumerate() {
            let mut enc = t.encode(sentence.as_str().unwrap());
            assert_eq!(
                enc.len() as u64,
                untruncated[i].as_u64().unwrap(),
                "{name} sentence {i}"
            );
            enc.truncate(max_len).unwrap();
            let want: Vec<u32> = want[i]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap() as u32)
                .collect();
            assert_eq!(enc.ids, want, "{name} sentence {i}");
        }
    }
}

/// A `tokenizer_config.json` in the current Hub format for bert-base-uncased (with
/// `added_tokens_decoder` and `clean_up_tokenization_spaces: true`), on the MiniLM vocab; the
/// expected strings are transformers 5.24's.
#[test]
fn hub_style_config_with_clean_up_tokenization_spaces() {
    let Some(minilm) = minilm("hub_style_config_with_clean_up_tokenization_spaces") else {
        return;
    };
    let vocab = minilm.join("vocab.txt");
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(&vocab, dir.path().join("vocab.txt")).unwrap();
    let added = |id: u32, content: &str| {
        let flags =
            r#""lstrip": false, "normalized": false, "rstrip": false, "single_word": false"#;
        format!(r#""{id}": {{"content": "{content}", {flags}, "special": true}}"#)
    };
    let decoder = [
        (0, "[PAD]"),
        (100, "[UNK]"),
        (101, "[CLS]"),
        (102, "[SEP]"),
        (103, "[MASK]"),
    ]
    .map(|(id, content)| added(id, content))
    .join(", ");
    let config = format!(
        r#"{{"added_tokens_decoder": {{{decoder}}}, "clean_up_tokenization_spaces": true,
            "cls_token": "[CLS]", "do_lower_case": true, "mask_token": "[MASK]",
            "model_max_length": 512, "pad_token": "[PAD]", "sep_token": "[SEP]",
            "strip_accents": null, "tokenize_chinese_chars": true,
            "tokenizer_class": "BertTokenizer", "unk_token": "[UNK]"}}"#
    );
    std::fs::write(dir.path().join("tokenizer_config.json"), config).unwrap();
    let t = Tokenizer::from_dir(dir.path()).unwrap();
    let enc = t.encode("Don't stop: it's we're I'm they've , . ! ? 'quoted' do not [MASK].");
    assert_eq!(
        t.decode(&enc.ids, true),
        "don't stop : it's we're i'm they've,.!?'quoted'do not."
    );
    assert_eq!(
        t.decode(&enc.ids, false),
        "[CLS] don't stop : it's we're i'm they've,.!?'quoted'do not [MASK]. [SEP]"
    );

    // An added token that is not where vocab.txt has it is refused, naming the file.
    let config = format!(r#"{{"added_tokens_decoder": {{{}}}}}"#, added(5, "[MASK]"));
    std::fs::write(dir.path().join("tokenizer_config.json"), config).unwrap();
    let e = Tokenizer::from_dir(dir.path()).unwrap_err().to_string();
    assert!(
        e.contains("tokenizer_config.json") && e.contains("[MASK]"),
        "{e}"
    );
}
