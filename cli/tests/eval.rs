//! `distil eval` against the reference figures of tests/fixtures/make_eval_fixtures.py (Hugging Face
//! transformers on the tiny fixture model): the same windows, gold tokens, ranks and top-5 tokens
//! per mask, identical accuracies, perplexity within 1e-4 relative.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures")
        .join(path)
}

fn model() -> String {
    fixture("models/distilbert-cased").display().to_string()
}

fn distil(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_distil"));
    cmd.args(args).stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("distil runs")
}

fn expected() -> Value {
    let text = std::fs::read_to_string(fixture("eval/expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Runs `distil eval --json` on `data` and returns the summary, asserting success.
fn summary(data: &Path, extra: &[&str]) -> Value {
    let (data, model) = (data.display().to_string(), model());
    let mut args = vec!["eval", "--model", &model, "--data", &data, "--json"];
    args.extend_from_slice(extra);
    let out = distil(&args, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "distil eval failed: {stderr}");
    serde_json::from_slice(&out.stdout).expect("one JSON object")
}

fn assert_figures_match(got: &Value, want: &Value) {
    for key in ["rows", "masks", "top_k", "windowed_masks", "window_tokens"] {
        assert_eq!(got[key], want[key], "{key}");
    }
    for key in ["top1_accuracy", "topk_accuracy"] {
        assert_eq!(got[key].as_f64(), want[key].as_f64(), "{key}");
    }
    let (g, w) = (
        got["perplexity"].as_f64().unwrap(),
        want["perplexity"].as_f64().unwrap(),
    );
    assert!((g - w).abs() <= 1e-4 * w, "perplexity {g} vs {w}");
}

#[test]
fn the_summary_matches_the_reference() {
    let got = summary(&fixture("eval/rows.jsonl"), &[]);
    assert_figures_match(&got, &expected()["summary"]);
    assert_eq!(got["skipped"]["rows"], 0);
    assert_eq!(got["interrupted"], false);
    assert!(got["masks_per_second"].as_f64().unwrap() > 0.0);
}

#[test]
fn every_mask_matches_the_reference() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("predictions.jsonl");
    summary(
        &fixture("eval/rows.jsonl"),
        &["--out", out.to_str().unwrap()],
    );
    let expected = expected();
    let want_rows = expected["rows"].as_array().unwrap();
    let lines = std::fs::read_to_string(&out).unwrap();
    let got_rows: Vec<Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(got_rows.len(), want_rows.len());
    let mut windowed = 0;
    for (got, want) in got_rows.iter().zip(want_rows) {
        assert_eq!(got["id"], want["id"]);
        let (got, want) = (
            got["masks"].as_array().unwrap(),
            want["masks"].as_array().unwrap(),
        );
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(want) {
            let id = &w["gold"];
            assert_eq!(g["gold"], w["gold"]);
            assert_eq!(g["window"], w["window"], "window of {id}");
            assert_eq!(g["rank"], w["rank"], "rank of {id}");
            let top: Vec<&Value> = g["predictions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| &p["token"])
                .collect();
            let want_top: Vec<&Value> = w["top"].as_array().unwrap().iter().collect();
            assert_eq!(top, want_top, "top-5 of {id}");
            let (gl, wl) = (
                g["log_prob"].as_f64().unwrap(),
                w["log_prob"].as_f64().unwrap(),
            );
            assert!((gl - wl).abs() < 1e-3, "log p of {id}: {gl} vs {wl}");
            windowed += usize::from(w["window"][0].as_u64() != Some(0));
        }
    }
    assert!(
        windowed > 0,
        "the fixture exercises windows that do not start at 0"
    );
}

#[test]
fn xz_and_the_azure_layout() {
    let plain = summary(&fixture("eval/rows.jsonl"), &[]);
    let xz = summary(&fixture("eval/rows.jsonl.xz"), &[]);
    for key in [
        "rows",
        "masks",
        "top1_accuracy",
        "topk_accuracy",
        "perplexity",
    ] {
        assert_eq!(plain[key], xz[key], "{key}");
    }
    let azure = summary(&fixture("eval/azure.jsonl"), &[]);
    assert_figures_match(&azure, &expected()["azure"]);
}

#[test]
fn malformed_rows_are_skipped_with_their_line_numbers() {
    let data = fixture("eval/malformed.jsonl").display().to_string();
    let out = distil(
        &["eval", "--model", &model(), "--data", &data, "--json"],
        &[],
    );
    assert!(out.status.success());
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["rows"], 3);
    assert_eq!(s["skipped"]["rows"], 3);
    assert_eq!(s["skipped"]["lines"], serde_json::json!([2, 3, 5]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("malformed.jsonl:2: row skipped: not JSON"),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "malformed.jsonl:5: row skipped: `texts` has 2 <mask> but `masks` has 1 spans"
        ),
        "{stderr}"
    );
}

#[test]
fn limit_counts_rows() {
    let s = summary(
        &fixture("eval/rows.jsonl.xz"),
        &["--limit", "7", "--batch", "3"],
    );
    assert_eq!(s["rows"], 7);
}

#[test]
fn a_dataset_from_the_cache_and_one_missing_offline() {
    let cache = tempfile::tempdir().unwrap();
    let snapshot = cache
        .path()
        .join("datasets--rcds--wikipedia-for-mask-filling/snapshots/0123abc/data");
    std::fs::create_dir_all(&snapshot).unwrap();
    std::fs::copy(
        fixture("eval/rows.jsonl.xz"),
        snapshot.join("paraphrased_512.jsonl.xz"),
    )
    .unwrap();
    let env = [
        ("HF_HUB_CACHE", cache.path().to_str().unwrap()),
        ("HF_HUB_OFFLINE", "1"),
    ];
    let args = |config: &'static str| {
        let mut a = vec!["eval", "--model", "MODEL", "--json", "--limit", "4"];
        a.extend([
            "--dataset",
            "rcds/wikipedia-for-mask-filling",
            "--config",
            config,
        ]);
        a
    };
    let model = model();
    let with_model = |a: Vec<&'static str>| -> Vec<String> {
        a.into_iter()
            .map(|s| {
                if s == "MODEL" {
                    model.clone()
                } else {
                    s.to_owned()
                }
            })
            .collect()
    };
    let found = with_model(args("paraphrased_512"));
    let found: Vec<&str> = found.iter().map(String::as_str).collect();
    let out = distil(&found, &env);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["rows"], 4);

    let missing = with_model(args("original_4096"));
    let missing: Vec<&str> = missing.iter().map(String::as_str).collect();
    let out = distil(&missing, &env);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("data/original_4096.jsonl.xz is not in the Hugging Face cache")
            && stderr.contains("HF_HUB_OFFLINE"),
        "{stderr}"
    );
}

#[test]
fn a_corrupt_xz_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("broken.jsonl.xz");
    let mut bytes = std::fs::read(fixture("eval/rows.jsonl.xz")).unwrap();
    bytes.truncate(bytes.len() / 2);
    std::fs::write(&bad, bytes).unwrap();
    let out = distil(
        &[
            "eval",
            "--model",
            &model(),
            "--data",
            bad.to_str().unwrap(),
            "--json",
        ],
        &[],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("broken.jsonl.xz") && stderr.contains("xz"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn ctrl_c_prints_the_summary_so_far() {
    // 120 copies of the fixture: far more than a second's work.
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.jsonl");
    let rows = std::fs::read_to_string(fixture("eval/rows.jsonl")).unwrap();
    std::fs::write(&big, rows.repeat(120)).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_distil"))
        .args(["eval", "--model", &model(), "--json", "--batch", "4"])
        .arg("--data")
        .arg(&big)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["interrupted"], true);
    assert!(s["rows"].as_u64().unwrap() < 60 * 120);
}

#[test]
fn three_shards_merged_are_one_run_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let model = model();
    for data in ["eval/rows.jsonl", "eval/malformed.jsonl"] {
        let data = fixture(data).display().to_string();
        let one = summary(Path::new(&data), &[]);
        let files: Vec<String> = (0..3)
            .map(|k| {
                let shard = format!("{k}/3");
                let out = distil(
                    &[
                        "eval", "--model", &model, "--data", &data, "--shard", &shard,
                    ],
                    &[],
                );
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                let file = dir.path().join(format!("shard-{k}.json"));
                std::fs::write(&file, &out.stdout).unwrap();
                file.display().to_string()
            })
            .collect();
        // In any order.
        let mut args = vec!["eval", "--json", "--merge"];
        args.extend(files.iter().rev().map(String::as_str));
        let out = distil(&args, &[]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let merged: Value = serde_json::from_slice(&out.stdout).unwrap();
        for key in [
            "rows",
            "masks",
            "top_k",
            "top1_accuracy",
            "topk_accuracy",
            "perplexity",
            "skipped",
            "windowed_masks",
            "window_tokens",
            "interrupted",
        ] {
            assert_eq!(merged[key], one[key], "{data}: {key}");
        }
        // A shard missing, or given twice, is named.
        let out = distil(&["eval", "--merge", &files[0], &files[0], &files[2]], &[]);
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("shard 0/3 is given 2 times"), "{stderr}");
    }
}
