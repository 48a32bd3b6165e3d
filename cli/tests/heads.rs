//! The task commands (`classify`, …) run as a user runs them, against the pipelines' answers in
//! `tests/fixtures/heads/` (made by `tests/fixtures/make_head_fixtures.py`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures")
        .join(path)
}

fn distil(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_distil"))
        .args(args)
        .env("HF_HUB_OFFLINE", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn lines(bytes: &[u8]) -> Vec<String> {
    String::from_utf8(bytes.to_vec())
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

/// The fixture's cases for `model` in `text_classification.json`.
fn classification_cases(model: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(fixture("heads/text_classification.json")).unwrap();
    let fixture: Value = serde_json::from_str(&text).unwrap();
    fixture["models"][model]["cases"]
        .as_array()
        .unwrap()
        .clone()
}

/// `got` (distil's JSON line) holds the labels of `want` (the pipeline's) in order, scores within
/// 1e-5; the pipeline's bare object for a pair's best label counts as a list of one.
fn assert_same_labels(got: &str, want: &Value) {
    let got: Value = serde_json::from_str(got).unwrap();
    let want = match want {
        Value::Array(labels) => labels.clone(),
        best => vec![best.clone()],
    };
    let got = got.as_array().unwrap();
    assert_eq!(got.len(), want.len(), "{got:?} against {want:?}");
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g["label"], w["label"], "{got:?} against {want:?}");
        let (g, w) = (g["score"].as_f64().unwrap(), w["score"].as_f64().unwrap());
        assert!((g - w).abs() <= 1e-5 * w.abs().max(1.0), "{g} against {w}");
    }
}

#[test]
fn classify_json_is_the_pipelines_answer() {
    let cases = classification_cases("distilbert-cased-sst");
    let texts: Vec<&str> = cases
        .iter()
        .filter_map(|c| c["input"].as_str())
        .filter(|t| !t.contains('\n'))
        .collect();
    let stdin = texts.join("\n");
    let model = fixture("models/distilbert-cased-sst").display().to_string();
    for (flags, call) in [
        (&[][..], "default"),
        (&["--all"][..], "top_k_all"),
        (&["--top-k", "2"][..], "top_k_2"),
        (&["--all", "--function", "none"][..], "none"),
    ] {
        let mut args = vec!["classify", "--model", &model, "--json"];
        args.extend(flags);
        let out = distil(&args, stdin.as_bytes());
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let got = lines(&out.stdout);
        assert_eq!(got.len(), texts.len());
        for (line, text) in got.iter().zip(&texts) {
            let case = cases.iter().find(|c| c["input"] == *text).unwrap();
            assert_same_labels(line, &case["results"][call]);
        }
    }
}

#[test]
fn classify_pairs_read_a_tab_and_a_line_without_one_gets_its_own_error() {
    let cases = classification_cases("bert-uncased-nli");
    let pair = cases
        .iter()
        .find(|c| c["input"].is_object() && !c["input"]["text_pair"].as_str().unwrap().is_empty())
        .unwrap();
    let (a, b) = (
        pair["input"]["text"].as_str().unwrap(),
        pair["input"]["text_pair"].as_str().unwrap(),
    );
    let stdin = format!("{a}\t{b}\nno tab on this line\n{a}\t{b}\n");
    let model = fixture("models/bert-uncased-nli").display().to_string();
    let out = distil(
        &["classify", "--model", &model, "--pair", "--all", "--json"],
        stdin.as_bytes(),
    );
    assert_eq!(out.status.code(), Some(1));
    let got = lines(&out.stdout);
    assert_eq!(got.len(), 3);
    assert_same_labels(&got[0], &pair["results"]["top_k_all"]);
    assert_eq!(got[0], got[2]);
    assert!(got[1].contains("line 2: a pair needs a tab"), "{}", got[1]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("distil: line 2: a pair needs a tab"),
        "{stderr}"
    );
}

#[test]
fn classify_with_a_model_without_a_classifier_is_one_line() {
    let model = fixture("models/distilbert-cased").display().to_string();
    let out = distil(&["classify", "--model", &model, "a text"], b"");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("has no sequence-classification head (it is a DistilBertForMaskedLM)"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn ner_json_is_the_pipelines_answer_and_keeps_a_bad_lines_place() {
    let text = std::fs::read_to_string(fixture("heads/token_classification.json")).unwrap();
    let fixture_json: Value = serde_json::from_str(&text).unwrap();
    let cases = fixture_json["models"]["bert-uncased-ner"]["cases"]
        .as_array()
        .unwrap();
    let texts: Vec<&str> = cases
        .iter()
        .filter_map(|c| c["text"].as_str())
        .filter(|t| !t.contains('\n'))
        .take(4)
        .collect();
    // The third line is not UTF-8: it gets an error line, the others their answers.
    let mut stdin = Vec::new();
    for (i, t) in texts.iter().enumerate() {
        if i == 2 {
            stdin.extend_from_slice(b"bad \xff byte\n");
        }
        stdin.extend_from_slice(t.as_bytes());
        stdin.push(b'\n');
    }
    let model = fixture("models/bert-uncased-ner").display().to_string();
    let out = distil(
        &["ner", "--model", &model, "--aggregation", "first", "--json"],
        &stdin,
    );
    assert_eq!(out.status.code(), Some(1));
    let got = lines(&out.stdout);
    assert_eq!(got.len(), texts.len() + 1);
    assert!(got[2].contains("line 3: not valid UTF-8"), "{}", got[2]);
    let answers = got
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 2)
        .map(|(_, l)| l);
    for (line, text) in answers.zip(&texts) {
        let case = cases.iter().find(|c| c["text"] == *text).unwrap();
        let got: Value = serde_json::from_str(line).unwrap();
        let want = case["results"]["first"].as_array().unwrap();
        let got = got.as_array().unwrap();
        assert_eq!(got.len(), want.len(), "{text}");
        for (g, w) in got.iter().zip(want) {
            for key in ["entity_group", "word", "start", "end"] {
                assert_eq!(g[key], w[key], "{text}: {g} against {w}");
            }
        }
    }
}

#[test]
fn ner_with_a_sequence_classifier_names_what_it_is() {
    let model = fixture("models/distilbert-cased-sst").display().to_string();
    let out = distil(&["ner", "--model", &model, "a text"], b"");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "has no token-classification head (it is a DistilBertForSequenceClassification)"
        ),
        "{stderr}"
    );
}

#[test]
fn qa_reads_json_lines_and_answers_as_the_pipeline() {
    let text = std::fs::read_to_string(fixture("heads/question_answering.json")).unwrap();
    let fixture_json: Value = serde_json::from_str(&text).unwrap();
    let cases = fixture_json["models"]["distilbert-cased-qa"]["cases"]
        .as_array()
        .unwrap();
    let mut stdin = String::new();
    for case in cases.iter().take(3) {
        let line = serde_json::json!({"question": case["question"], "context": case["context"]});
        stdin.push_str(&format!("{line}\n"));
    }
    stdin.push_str("{\"question\": \"no context\"}\n");
    let model = fixture("models/distilbert-cased-qa").display().to_string();
    let out = distil(
        &["qa", "--model", &model, "--top-k", "3", "--json"],
        stdin.as_bytes(),
    );
    assert_eq!(out.status.code(), Some(1));
    let got = lines(&out.stdout);
    assert_eq!(got.len(), 4);
    for (line, case) in got.iter().take(3).zip(cases) {
        let got: Value = serde_json::from_str(line).unwrap();
        let want = case["results"]["top_k_3"].as_array().unwrap();
        let got = got.as_array().unwrap();
        assert_eq!(got.len(), want.len(), "{line}");
        for (g, w) in got.iter().zip(want) {
            assert_eq!(
                (&g["answer"], &g["start"], &g["end"]),
                (&w["answer"], &w["start"], &w["end"])
            );
        }
    }
    assert!(got[3].contains("line 4: no \\\"context\\\""), "{}", got[3]);
}

#[test]
fn rerank_json_is_the_cross_encoders_ranking() {
    let text = std::fs::read_to_string(fixture("heads/cross_encoder.json")).unwrap();
    let fixture_json: Value = serde_json::from_str(&text).unwrap();
    let rank = &fixture_json["rank"];
    let documents: Vec<&str> = rank["documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap())
        .collect();
    assert!(documents.iter().all(|d| !d.contains('\n')));
    let model = fixture("models/bert-uncased-crossencoder")
        .display()
        .to_string();
    let query = rank["query"].as_str().unwrap();
    for (flag, key) in [(None, "result"), (Some("--raw-scores"), "result_identity")] {
        let mut args = vec!["rerank", "--model", &model, "--query", query, "--json"];
        args.extend(flag);
        let out = distil(&args, documents.join("\n").as_bytes());
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let got: Value = serde_json::from_slice(&out.stdout).unwrap();
        let (got, want) = (got.as_array().unwrap(), rank[key].as_array().unwrap());
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(want) {
            assert_eq!(g["index"], w["corpus_id"], "{got:?} against {want:?}");
            let (gs, ws) = (g["score"].as_f64().unwrap(), w["score"].as_f64().unwrap());
            assert!(
                (gs - ws).abs() <= 1e-5 * ws.abs().max(1.0),
                "{gs} against {ws}"
            );
        }
    }
    // An unreadable line is reported; the others are ranked under their own indices.
    let out = distil(
        &["rerank", "--model", &model, "--query", query, "--json"],
        b"first text\n\xff\nthird text\n",
    );
    assert_eq!(out.status.code(), Some(1));
    let got: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut indices: Vec<u64> = got
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["index"].as_u64().unwrap())
        .collect();
    indices.sort();
    assert_eq!(indices, [0, 2]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 2: not valid UTF-8"));
}
