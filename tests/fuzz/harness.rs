//! The fuzz harnesses: one function per target, bytes in, nothing out but panics on a broken
//! invariant. Shared by the `cargo fuzz` targets (`fuzz_targets/*.rs`) and by
//! `tests/fuzz_replay.rs`, which replays the committed corpora as an ordinary test.
//!
//! Each function returns whether the input was accepted (loaded, parsed), so the replay test can
//! check that its corpus reaches past the first error and into the code behind it.
//!
//! Files are written to temporary directories made once per thread (libFuzzer runs one thread;
//! the test harness runs the targets on parallel threads).

// Each fuzz target uses one of these functions.
#![allow(dead_code)]

use std::cell::RefCell;
use std::path::Path;
use std::sync::OnceLock;

use distil::tokenizer::{Encoding, Tokenizer};
use distil::{Config, Embed, EmbedConfig, Engine, FillMask, FillMaskOptions, Options, Pooling};

/// The vocabulary of the tiny models the `safetensors` target loads (12 tokens).
pub const TINY_VOCAB: &str = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\na\ncat\nsat\n##s\non\n.\n";

/// A DistilBERT of the tiny shapes: weights of a few kilobytes, so that a whole valid
/// `model.safetensors` is a small corpus entry the fuzzer can mutate everywhere.
pub const TINY_DISTILBERT_CONFIG: &str = r#"{"model_type": "distilbert", "vocab_size": 12,
 "dim": 4, "n_layers": 1, "n_heads": 2, "hidden_dim": 6, "max_position_embeddings": 16}"#;

/// A BERT of the same tiny shapes.
pub const TINY_BERT_CONFIG: &str = r#"{"model_type": "bert", "vocab_size": 12,
 "hidden_size": 4, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 6,
 "max_position_embeddings": 16, "type_vocab_size": 2}"#;

/// A text with a mask for the tiny models: 8 tokens with `[CLS]`/`[SEP]`.
const TINY_TEXT: &str = "the [MASK] sat on the cats.";

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("create a directory in the temporary directory");
    }
    std::fs::write(&path, bytes).expect("write into the temporary directory");
}

fn model_dir(config: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("create a temporary directory");
    write(dir.path(), "config.json", config.as_bytes());
    write(dir.path(), "vocab.txt", TINY_VOCAB.as_bytes());
    dir
}

thread_local! {
    /// Two tiny model directories (DistilBERT, BERT) without weights.
    static MODELS: [tempfile::TempDir; 2] =
        [model_dir(TINY_DISTILBERT_CONFIG), model_dir(TINY_BERT_CONFIG)];
    /// Scratch directories for the file-based targets, emptied before each input.
    static SCRATCH: RefCell<Vec<tempfile::TempDir>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` on `n` empty scratch directories of this thread.
fn with_scratch<R>(n: usize, f: impl FnOnce(&[tempfile::TempDir]) -> R) -> R {
    SCRATCH.with(|scratch| {
        let mut dirs = scratch.borrow_mut();
        while dirs.len() < n {
            dirs.push(tempfile::tempdir().expect("create a temporary directory"));
        }
        for dir in dirs.iter() {
            for entry in std::fs::read_dir(dir.path()).expect("list a temporary directory") {
                let path = entry.expect("list a temporary directory").path();
                if path.is_dir() {
                    std::fs::remove_dir_all(&path)
                } else {
                    std::fs::remove_file(&path)
                }
                .expect("empty a temporary directory");
            }
        }
        f(&dirs[..n])
    })
}

/// `data` as the `model.safetensors` of a tiny DistilBERT and of a tiny BERT, loaded as the
/// command line loads a model (`Engine::load`); a model that loads then fills a mask and embeds
/// a sentence.
pub fn safetensors(data: &[u8]) -> bool {
    MODELS.with(|models| {
        let mut accepted = false;
        for dir in models {
            write(dir.path(), "model.safetensors", data);
            let options = Options {
                threads: Some(1),
                ..Options::default()
            };
            let Ok(engine) = Engine::load(dir.path(), &options) else {
                continue;
            };
            accepted = true;
            run_tiny_model(&engine);
        }
        accepted
    })
}

/// Fill-mask and embeddings on a loaded tiny model: answers of the right shape, or an error.
fn run_tiny_model(engine: &Engine) {
    let config = engine.model().config();
    let options = FillMaskOptions {
        top_k: 3,
        targets: None,
    };
    let fill_mask = FillMask::new(engine, options);
    if fill_mask.is_ok() && !engine.model().has_mlm_head() {
        panic!("a fill-mask pipeline for a model without an MLM head");
    }
    for answer in fill_mask.iter().flat_map(|f| f.run(&[TINY_TEXT])) {
        let Ok(answer) = answer else { continue };
        assert_eq!(answer.masks.len(), 1, "one mask, one list of candidates");
        for prediction in &answer.masks[0] {
            assert!((prediction.token as usize) < config.vocab_size);
        }
        let _ = answer.to_json();
    }
    let embed = EmbedConfig {
        pooling: Pooling::Mean,
        normalize: true,
        max_seq_length: None,
    };
    if let Ok(embeddings) = Embed::with_config(engine, embed).run(&[TINY_TEXT, "a"]) {
        assert_eq!(embeddings.vectors.dim(), (2, config.dim));
        assert_eq!(embeddings.truncated.len(), 2);
    }
}

/// `data` as each of a model directory's JSON files, each read by the function that reads it:
/// `config.json` (`Config`), `tokenizer_config.json` and `special_tokens_map.json`
/// (`Tokenizer::from_dir`), and the sentence-transformers files (`EmbedConfig::from_dir`).
pub fn config(data: &[u8]) -> bool {
    with_scratch(3, |dirs| {
        let [a, b, c] = [dirs[0].path(), dirs[1].path(), dirs[2].path()];
        // a: config.json, tokenizer_config.json, sentence_bert_config.json (read independently).
        for name in [
            "config.json",
            "tokenizer_config.json",
            "sentence_bert_config.json",
        ] {
            write(a, name, data);
        }
        write(a, "vocab.txt", TINY_VOCAB.as_bytes());
        // b: special_tokens_map.json (read when there is no tokenizer_config.json) and pooling.
        write(b, "special_tokens_map.json", data);
        write(b, "1_Pooling/config.json", data);
        write(b, "vocab.txt", TINY_VOCAB.as_bytes());
        // c: modules.json.
        write(c, "modules.json", data);

        let mut accepted = false;
        let path = a.join("config.json");
        let from_file = Config::from_file(&path);
        if let Ok(text) = std::str::from_utf8(data) {
            let from_json = Config::from_json(text, &path);
            match (&from_file, &from_json) {
                (Ok(x), Ok(y)) => assert_eq!(x, y, "from_file and from_json disagree"),
                (Err(x), Err(y)) => assert_eq!(x.to_string(), y.to_string()),
                _ => panic!("from_file gives {from_file:?}, from_json {from_json:?}"),
            }
        }
        if let Ok(c) = from_file {
            accepted = true;
            assert!(c.vocab_size > 0 && c.dim > 0 && c.n_layers > 0 && c.hidden_dim > 0);
            assert!(c.n_heads > 0 && c.dim % c.n_heads == 0 && c.head_dim() > 0);
            assert!(c.max_position_embeddings > 0);
            assert!(c.layer_norm_eps > 0.0 && c.layer_norm_eps < 1.0);
        }
        for dir in [a, b] {
            if let Ok(tokenizer) = Tokenizer::from_dir(dir) {
                accepted = true;
                for text in ["the cat sat [MASK].", "[CLS]x[SEP] é 東京"] {
                    check_encode(&tokenizer, text);
                }
            }
        }
        for dir in [a, b, c] {
            if let Ok(embed) = EmbedConfig::from_dir(dir) {
                accepted = true;
                let _ = format!("{embed:?}");
            }
        }
        accepted
    })
}

/// `data` as a `vocab.txt`, loaded cased and uncased; a vocabulary that loads then tokenizes its
/// own lines and a few fixed texts, and maps every id back to its token.
pub fn vocab(data: &[u8]) -> bool {
    with_scratch(1, |dirs| {
        let path = dirs[0].path().join("vocab.txt");
        write(dirs[0].path(), "vocab.txt", data);
        let mut accepted = false;
        for lowercase in [false, true] {
            let Ok(tokenizer) = Tokenizer::from_vocab_file(&path, lowercase) else {
                continue;
            };
            accepted = true;
            let lines = std::str::from_utf8(data).expect("a vocabulary that loaded is UTF-8");
            for text in [lines, "the cat sat [MASK].", "unaffable ##s [UNK]x 東京"] {
                check_encode(&tokenizer, text);
            }
            for id in 0..tokenizer.vocab_size() as u32 {
                if let Some(token) = tokenizer.id_to_token(id) {
                    assert_eq!(tokenizer.token_to_id(token), Some(id), "token {token:?}");
                }
            }
            let all: Vec<u32> = (0..tokenizer.vocab_size() as u32 + 2).collect();
            let _ = tokenizer.decode(&all, false);
            let _ = tokenizer.decode(&all, true);
        }
        accepted
    })
}

/// The fixture tokenizers: distilbert-cased's (cased) and bert-uncased's (uncased, accents
/// stripped), with their `tokenizer_config.json`.
fn fixture_tokenizers() -> &'static [Tokenizer; 2] {
    static TOKENIZERS: OnceLock<[Tokenizer; 2]> = OnceLock::new();
    TOKENIZERS.get_or_init(|| {
        let load = |vocab: &str, config: &str| {
            let dir = tempfile::tempdir().expect("create a temporary directory");
            write(dir.path(), "vocab.txt", vocab.as_bytes());
            write(dir.path(), "tokenizer_config.json", config.as_bytes());
            Tokenizer::from_dir(dir.path()).expect("the fixture tokenizer loads")
        };
        [
            load(
                include_str!("../fixtures/models/distilbert-cased/vocab.txt"),
                include_str!("../fixtures/models/distilbert-cased/tokenizer_config.json"),
            ),
            load(
                include_str!("../fixtures/models/bert-uncased/vocab.txt"),
                include_str!("../fixtures/models/bert-uncased/tokenizer_config.json"),
            ),
        ]
    })
}

/// `data` as text (invalid UTF-8 replaced by U+FFFD), encoded with the cased and the uncased
/// fixture tokenizers, truncated, decoded, and resolved as a fill-mask target.
pub fn tokenizer(data: &[u8]) -> bool {
    let text = String::from_utf8_lossy(data);
    for tokenizer in fixture_tokenizers() {
        check_encode(tokenizer, &text);
    }
    true
}

/// Encodes `text` and checks what every encoding must satisfy.
fn check_encode(tokenizer: &Tokenizer, text: &str) {
    let encoding = tokenizer.encode(text);
    check_encoding(tokenizer, text, &encoding);

    // Truncation keeps [CLS], the first pieces and [SEP].
    for max_len in [2, encoding.len() / 2, encoding.len()] {
        let mut cut = encoding.clone();
        let removed = cut
            .truncate(max_len.max(2))
            .expect("2 tokens fit [CLS] and [SEP]");
        assert_eq!(cut.len() + removed, encoding.len());
        assert_eq!(cut.len(), encoding.len().min(max_len.max(2)));
        assert_eq!(cut.ids[..cut.len() - 1], encoding.ids[..cut.len() - 1]);
        assert_eq!(cut.ids.last(), Some(&tokenizer.sep_id()));
    }

    // Decoding takes any ids.
    let _ = tokenizer.decode(&encoding.ids, false);
    let _ = tokenizer.decode(&encoding.ids, true);

    if let Some(target) = tokenizer.resolve_target(text) {
        assert!((target.id as usize) < tokenizer.vocab_size());
        if target.in_vocab {
            assert_eq!(tokenizer.id_to_token(target.id), Some(text));
        }
    }
}

/// `[CLS] pieces [SEP]`; ids in the vocabulary and matching the tokens; each piece's offsets a
/// non-empty range of `text` on char boundaries, in text order.
fn check_encoding(tokenizer: &Tokenizer, text: &str, e: &Encoding) {
    let n = e.len();
    assert!(n >= 2, "no [CLS]/[SEP] in {e:?}");
    assert_eq!((e.tokens.len(), e.offsets.len()), (n, n));
    assert_eq!((e.ids[0], e.offsets[0]), (tokenizer.cls_id(), (0, 0)));
    assert_eq!(
        (e.ids[n - 1], e.offsets[n - 1]),
        (tokenizer.sep_id(), (0, 0))
    );
    let mut previous_start = 0;
    for i in 0..n {
        let id = e.ids[i];
        assert!(
            (id as usize) < tokenizer.vocab_size(),
            "id {id} past the vocabulary"
        );
        assert_eq!(
            tokenizer.id_to_token(id),
            Some(e.tokens[i].as_str()),
            "token {i} of {text:?}"
        );
        if i == 0 || i == n - 1 {
            continue;
        }
        let (start, end) = e.offsets[i];
        assert!(
            start < end && end <= text.len(),
            "token {i} of {text:?}: offsets {start}..{end}"
        );
        assert!(
            text.is_char_boundary(start) && text.is_char_boundary(end),
            "token {i} of {text:?}: offsets {start}..{end} split a char"
        );
        assert!(
            start >= previous_start,
            "token {i} of {text:?}: offsets go backwards"
        );
        previous_start = start;
    }
}
