//! The `distil` binary, run as a user runs it: outputs, per-line errors, exit codes, the hub cache.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
}

fn model(name: &str) -> String {
    fixtures().join("models").join(name).display().to_string()
}

fn distil(args: &[&str], stdin: Option<&[u8]>, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_distil"));
    cmd.args(args)
        .env_remove("HF_HUB_CACHE")
        .env_remove("HF_HOME")
        .env_remove("HF_HUB_OFFLINE")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut pipe = child.stdin.take().unwrap();
    pipe.write_all(stdin.unwrap_or_default()).unwrap();
    drop(pipe);
    child.wait_with_output().unwrap()
}

fn stdout_lines(out: &Output) -> Vec<String> {
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).unwrap()
}

/// The pipeline's answer for the first default-options case of `model` in fill_mask.json.
fn reference_answer(model: &str, text: &str) -> Value {
    let path = fixtures().join("fill_mask.json");
    let all: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    all["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| {
            c["model"] == model
                && c["text"] == text
                && c["top_k"].is_null()
                && c["targets"].is_null()
        })
        .map(|c| c["result"].clone())
        .unwrap()
}

fn tokens(answer: &Value) -> Vec<u64> {
    answer
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["token"].as_u64().unwrap())
        .collect()
}

#[test]
fn fill_mask_json_is_the_pipelines_answer() {
    let text = "Paris is the [MASK] of France.";
    let out = distil(
        &[
            "fill-mask",
            "--model",
            &model("distilbert-cased"),
            "--json",
            text,
        ],
        None,
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let lines = stdout_lines(&out);
    assert_eq!(lines.len(), 1);
    let got: Value = serde_json::from_str(&lines[0]).unwrap();
    let want = reference_answer("distilbert-cased", text);
    assert_eq!(tokens(&got), tokens(&want));
    assert_eq!(got[0]["sequence"], want[0]["sequence"]);
}

#[test]
fn dtype_bf16_fills_masks_and_bench_reports_how_it_multiplied() {
    // The bf16 fixture checkpoint holds weights exact in bf16: widened, bf16 compute gives the
    // f32 answer, so the pipeline's tokens are the reference's.
    let text = "Paris is the [MASK] of France.";
    let out = distil(
        &[
            "--dtype",
            "bf16",
            "fill-mask",
            "--model",
            &model("distilbert-cased-bf16"),
            "--json",
            text,
        ],
        None,
        &[("DISTIL_BF16_DOT", "widened")],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let got: Value = serde_json::from_str(&stdout_lines(&out)[0]).unwrap();
    assert_eq!(
        tokens(&got),
        tokens(&reference_answer("distilbert-cased-bf16", text))
    );

    let args = [
        "bench",
        "--model",
        &model("distilbert-cased"),
        "--seq",
        "8",
        "--runs",
        "1",
    ];
    let out = distil(
        &[&["--dtype", "bf16"], &args[..], &["--json"]].concat(),
        None,
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let doc: Value = serde_json::from_str(&stdout_lines(&out)[0]).unwrap();
    assert_eq!(doc["dtype"], "bf16");
    assert!(
        ["vdpbf16ps", "widened"].contains(&doc["bf16_dot"].as_str().unwrap()),
        "{doc}"
    );
    let out = distil(&[&args[..], &["--json"]].concat(), None, &[]);
    let doc: Value = serde_json::from_str(&stdout_lines(&out)[0]).unwrap();
    assert_eq!(
        (doc["dtype"].as_str(), doc["bf16_dot"].as_str()),
        (Some("f32"), None)
    );

    let out = distil(&[&["--dtype", "fp16"], &args[..]].concat(), None, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("unknown dtype \"fp16\" (expected f32, bf16 or int8)"),
        "{}",
        stderr(&out)
    );
    let out = distil(&args, None, &[("DISTIL_BF16_DOT", "fast")]);
    assert!(!out.status.success());
    assert_eq!(
        stderr(&out).trim(),
        "distil: DISTIL_BF16_DOT=\"fast\": unknown way (expected vdpbf16ps or widened)"
    );
}

#[test]
fn fill_mask_table_lists_candidates() {
    let text = "Paris is the [MASK] of France.";
    let out = distil(
        &[
            "fill-mask",
            "--model",
            &model("distilbert-cased"),
            "--top-k",
            "2",
            text,
        ],
        None,
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let want = reference_answer("distilbert-cased", text);
    let lines = stdout_lines(&out);
    assert_eq!(lines[0], text);
    assert!(
        lines[1].contains("score") && lines[1].contains("sequence"),
        "{lines:?}"
    );
    for (line, w) in lines[2..4].iter().zip(want.as_array().unwrap()) {
        assert!(
            line.contains(w["sequence"].as_str().unwrap()),
            "{line} lacks {}",
            w["sequence"]
        );
    }
    assert_eq!(lines.len(), 5, "{lines:?}");
}

#[test]
fn bad_stdin_lines_get_their_own_errors_and_the_others_their_answers() {
    let input = b"Paris is the [MASK] of France.\nno mask here\nbad \xff utf8 [MASK]\n\n[MASK]\n";
    let out = distil(
        &["fill-mask", "--model", &model("distilbert-cased"), "--json"],
        Some(input),
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    let lines = stdout_lines(&out);
    assert_eq!(lines.len(), 5, "{lines:?}");
    let docs: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        tokens(&docs[0]),
        tokens(&reference_answer(
            "distilbert-cased",
            "Paris is the [MASK] of France."
        ))
    );
    assert_eq!(docs[1]["error"], "line 2: no [MASK] token in the text");
    assert_eq!(docs[2]["error"], "line 3: not valid UTF-8 (byte 4)");
    assert_eq!(docs[3]["error"], "line 4: no [MASK] token in the text");
    assert_eq!(
        tokens(&docs[4]),
        tokens(&reference_answer("distilbert-cased", "[MASK]"))
    );
    let err = stderr(&out);
    assert!(
        err.contains("distil: line 2: no [MASK] token in the text\n"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 3, "{err}");
}

/// The one rule of every command for a bad line: its error on standard error, its place kept on
/// standard output (an `{"error"}` line with `--json`, an empty line where each input is one line),
/// the other lines answered, exit 1.
#[test]
fn embed_and_tokenize_keep_a_bad_lines_place() {
    let input = b"A first line.\nbad \xff utf8\nA third line.\n";
    let bert = model("bert-uncased");
    let error = "line 2: not valid UTF-8 (byte 4)";
    for command in ["embed", "tokenize"] {
        for json in [false, true] {
            let mut args = vec![command, "--model", &bert];
            if json {
                args.push("--json");
            }
            let out = distil(&args, Some(input), &[]);
            let context = format!("{command} json={json}");
            assert_eq!(out.status.code(), Some(1), "{context}");
            assert_eq!(stderr(&out), format!("distil: {error}\n"), "{context}");
            let lines = stdout_lines(&out);
            assert_eq!(lines.len(), 3, "{context}: {lines:?}");
            let alone = |text: &str| stdout_lines(&distil(&args, Some(text.as_bytes()), &[]));
            assert_eq!(lines[0], alone("A first line.")[0], "{context}");
            assert_eq!(lines[2], alone("A third line.")[0], "{context}");
            if json {
                let doc: Value = serde_json::from_str(&lines[1]).unwrap();
                assert_eq!(doc, serde_json::json!({ "error": error }), "{context}");
            } else {
                assert_eq!(lines[1], "", "{context}");
            }
        }
    }
}

#[test]
fn long_inputs_are_truncated_with_a_warning() {
    let long = format!("The [MASK] is here. {}", "word ".repeat(600));
    let out = distil(
        &[
            "fill-mask",
            "--model",
            &model("distilbert-cased"),
            "--json",
            &long,
        ],
        None,
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("input 1: truncated to the model's 512 tokens"),
        "{}",
        stderr(&out)
    );
    let beyond = format!("{}[MASK]", "word ".repeat(600));
    let out = distil(
        &["fill-mask", "--model", &model("distilbert-cased"), &beyond],
        None,
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("every [MASK] lies beyond the model's 512 tokens"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn tokenize_prints_ids_or_json() {
    let vocab = fixtures().join("models/bert-uncased/vocab.txt");
    let vocab = vocab.to_str().unwrap();
    let cases: Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("tokenization.json")).unwrap(),
    )
    .unwrap();
    let case = &cases["setups"]["bert-uncased"]["cases"][0];
    let text = case["text"].as_str().unwrap();
    let out = distil(
        &["tokenize", "--vocab", vocab, "--lowercase", text],
        None,
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let want: Vec<String> = case["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.to_string())
        .collect();
    assert_eq!(stdout_lines(&out), vec![want.join(" ")]);
    let out = distil(
        &["tokenize", "--vocab", vocab, "--lowercase", "--json", text],
        None,
        &[],
    );
    let doc: Value = serde_json::from_str(&stdout_lines(&out)[0]).unwrap();
    assert_eq!(doc["ids"], case["ids"]);
    assert_eq!(doc["tokens"], case["tokens"]);
    assert_eq!(doc["offsets"], case["offsets"]);
}

#[test]
fn embed_json_matches_sentence_transformers() {
    let reference: Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("embeddings.json")).unwrap())
            .unwrap();
    let sentence = reference["sentences"][0].as_str().unwrap();
    let want = &reference["models"]["bert-uncased"]["embeddings"][0];
    let out = distil(
        &[
            "embed",
            "--model",
            &model("bert-uncased"),
            "--json",
            sentence,
        ],
        None,
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let got: Value = serde_json::from_str(&stdout_lines(&out)[0]).unwrap();
    let (got, want) = (got.as_array().unwrap(), want.as_array().unwrap());
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(want) {
        assert!((g.as_f64().unwrap() - w.as_f64().unwrap()).abs() < 1e-4);
    }
}

/// Lays out `models--someone--tiny-distilbert` in `cache` as huggingface_hub does.
fn lay_out_cache(cache: &Path) {
    let repo = cache.join("models--someone--tiny-distilbert");
    let snapshot = repo.join("snapshots").join("0123abcd");
    std::fs::create_dir_all(&snapshot).unwrap();
    for file in [
        "config.json",
        "vocab.txt",
        "tokenizer_config.json",
        "model.safetensors",
    ] {
        let target = fixtures().join("models/distilbert-cased").join(file);
        std::os::unix::fs::symlink(target, snapshot.join(file)).unwrap();
    }
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::write(repo.join("refs/main"), "0123abcd").unwrap();
}

#[test]
fn hub_ids_are_found_in_the_hugging_face_cache() {
    let text = "Paris is the [MASK] of France.";
    let want = tokens(&reference_answer("distilbert-cased", text));
    let args = [
        "fill-mask",
        "--model",
        "someone/tiny-distilbert",
        "--json",
        text,
    ];

    let cache = tempfile::tempdir().unwrap();
    lay_out_cache(cache.path());
    let cache_dir = cache.path().to_str().unwrap();
    let out = distil(
        &args,
        None,
        &[("HF_HUB_CACHE", cache_dir), ("HF_HUB_OFFLINE", "1")],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        tokens(&serde_json::from_str(&stdout_lines(&out)[0]).unwrap()),
        want
    );

    // Without HF_HUB_CACHE, the cache is $HF_HOME/hub.
    let home = tempfile::tempdir().unwrap();
    lay_out_cache(&home.path().join("hub"));
    let out = distil(
        &args,
        None,
        &[
            ("HF_HOME", home.path().to_str().unwrap()),
            ("HF_HUB_OFFLINE", "1"),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        tokens(&serde_json::from_str(&stdout_lines(&out)[0]).unwrap()),
        want
    );
}

#[test]
fn a_model_neither_cached_nor_reachable_is_one_clear_line() {
    let cache = tempfile::tempdir().unwrap();
    let env = [
        ("HF_HUB_CACHE", cache.path().to_str().unwrap()),
        ("HF_HUB_OFFLINE", "1"),
    ];
    let out = distil(
        &["fill-mask", "--model", "someone/absent", "[MASK]"],
        None,
        &env,
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.starts_with("distil: model someone/absent is not in the Hugging Face cache at "),
        "{err}"
    );
    assert!(
        err.contains("HF_HUB_OFFLINE is set") && err.lines().count() == 1,
        "{err}"
    );
}

#[test]
fn missing_model_directory_is_one_clear_line() {
    let out = distil(
        &["fill-mask", "--model", "./no/such/dir", "[MASK]"],
        None,
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "distil: model ./no/such/dir: no such directory, and it is not a valid hub id\n"
    );
}

#[test]
fn quantize_writes_a_model_that_fills_masks_as_int8_at_load_does() {
    let out_dir = tempfile::tempdir().unwrap();
    let out_path = out_dir.path().join("int8");
    let texts = out_dir.path().join("calibration.txt");
    std::fs::write(
        &texts,
        "Paris is the capital of France.\n\nA second text.\n",
    )
    .unwrap();
    let out = distil(
        &[
            "quantize",
            "--model",
            &model("distilbert-cased"),
            "--out",
            out_path.to_str().unwrap(),
            "--calibrate",
            texts.to_str().unwrap(),
        ],
        None,
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let lines = stdout_lines(&out);
    assert_eq!(
        lines[0],
        "int8 sensitivity on 2 texts, one layer quantized at a time (then all), against f32:"
    );
    // A header, 14 layers, all of them, and the file written.
    assert_eq!(lines.len(), 2 + 14 + 1 + 1, "{lines:?}");
    assert!(lines[16].starts_with("all "), "{lines:?}");
    assert!(
        lines[17].ends_with("model.safetensors: 14 linear layers in int8"),
        "{lines:?}"
    );
    let text = "Paris is the [MASK] of France.";
    let fill = |dir: &str| {
        let out = distil(
            &[
                "--dtype",
                "int8",
                "fill-mask",
                "--model",
                dir,
                "--json",
                text,
            ],
            None,
            &[],
        );
        assert!(out.status.success(), "{}", stderr(&out));
        out.stdout
    };
    assert_eq!(
        fill(out_path.to_str().unwrap()),
        fill(&model("distilbert-cased"))
    );
    let out = distil(
        &["fill-mask", "--model", out_path.to_str().unwrap(), text],
        None,
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).trim().ends_with(
            "holds int8 weights (written by distil quantize); load it with --dtype int8, not f32"
        ),
        "{}",
        stderr(&out)
    );
    let out = distil(
        &[
            "--dtype",
            "int8",
            "fill-mask",
            "--model",
            &model("distilbert-cased"),
            text,
        ],
        None,
        &[("DISTIL_I8_DOT", "amx")],
    );
    assert!(!out.status.success());
    assert_eq!(
        stderr(&out).trim(),
        "distil: DISTIL_I8_DOT=\"amx\": unknown way (expected tdpbusd, vpdpbusd, vpmaddubsw or scalar)"
    );
}
