//! distil against Hugging Face: hidden states, MLM logits, fill-mask pipeline results and sentence
//! embeddings, compared with the reference outputs that `tests/fixtures/make_fixtures.py` computed
//! with `transformers` 5.24 / `sentence-transformers` 6.2.
//!
//! Tolerances: hidden states and logits within 1e-4 (absolute); fill-mask tokens identical and
//! scores within 1e-5; embeddings with cosine ≥ 0.9999 and every element within 1e-4.

use std::path::{Path, PathBuf};

use distil::{Embed, Engine, FillMask, FillMaskOptions, Isa, Options};
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn read_json(name: &str) -> Value {
    let path = fixtures().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// The fixture model `dir`, on the kernels `DISTIL_ISA` names (CI runs these tests again on
/// `scalar`, the spec), else the fastest.
fn load(dir: &str) -> Engine {
    let isa = std::env::var("DISTIL_ISA")
        .ok()
        .filter(|name| !name.is_empty())
        .map(|name| Isa::from_name(&name).unwrap_or_else(|| panic!("DISTIL_ISA={name}?")));
    let options = Options {
        isa,
        ..Options::default()
    };
    let engine = Engine::load(fixtures().join(dir), &options).unwrap_or_else(|e| panic!("{e}"));
    if let Some(isa) = isa {
        assert_eq!(engine.isa(), isa);
    }
    engine
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

/// The largest absolute difference, after checking the lengths agree (`got` in row-major order).
fn max_diff<'a>(what: &str, got: impl IntoIterator<Item = &'a f32>, want: &[f32]) -> f32 {
    let got: Vec<f32> = got.into_iter().copied().collect();
    assert_eq!(got.len(), want.len(), "{what}: lengths differ");
    got.iter()
        .zip(want)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max)
}

#[test]
fn hidden_states_and_logits_match_transformers() {
    let forward = read_json("forward.json");
    let mut worst_hidden = 0.0f32;
    let mut worst_logits = 0.0f32;
    for (name, m) in forward["models"].as_object().unwrap() {
        let engine = load(m["dir"].as_str().unwrap());
        for case in m["cases"].as_array().unwrap() {
            let text = case["text"].as_str().unwrap();
            let want_ids = ids(&case["input_ids"]);
            assert_eq!(
                engine.tokenizer().encode(text).ids,
                want_ids,
                "{name}: ids of {text:?}"
            );
            let hidden = engine.forward(&[&want_ids]).unwrap();
            assert_eq!(hidden.states().dim(), (want_ids.len(), engine.config().dim));
            let what = format!("{name}: hidden states of {text:?}");
            let d = max_diff(&what, hidden.states(), &floats(&case["last_hidden_state"]));
            assert!(d < 1e-4, "{what} differ by {d}");
            worst_hidden = worst_hidden.max(d);
            if m["mlm"].as_bool().unwrap() {
                let positions: Vec<usize> = ids(&case["mask_positions"])
                    .iter()
                    .map(|&p| p as usize)
                    .collect();
                let want: Vec<f32> = case["mask_logits"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .flat_map(floats)
                    .collect();
                let got = engine.mlm_logits(&hidden, &positions).unwrap();
                assert_eq!(got.dim(), (positions.len(), engine.config().vocab_size));
                let what = format!("{name}: mask logits of {text:?}");
                let d = max_diff(&what, &got, &want);
                assert!(d < 1e-4, "{what} differ by {d}");
                worst_logits = worst_logits.max(d);
                let want: Vec<f32> = case["logits_first_rows"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .flat_map(floats)
                    .collect();
                let got = engine.mlm_logits(&hidden, &[0, 1]).unwrap();
                let what = format!("{name}: logits at positions 0 and 1 of {text:?}");
                let d = max_diff(&what, &got, &want);
                assert!(d < 1e-4, "{what} differ by {d}");
                worst_logits = worst_logits.max(d);
            }
        }
    }
    eprintln!(
        "largest differences from transformers: hidden {worst_hidden:e}, logits {worst_logits:e}"
    );
}

#[test]
fn a_batch_gives_each_input_its_single_result() {
    let forward = read_json("forward.json");
    for (name, m) in forward["models"].as_object().unwrap() {
        let engine = load(m["dir"].as_str().unwrap());
        let seqs: Vec<Vec<u32>> = m["cases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| ids(&c["input_ids"]))
            .collect();
        let refs: Vec<&[u32]> = seqs.iter().map(Vec::as_slice).collect();
        let batch = engine.forward(&refs).unwrap();
        assert_eq!(batch.len(), refs.len());
        for (i, seq) in refs.iter().enumerate() {
            let single = engine.forward(&[seq]).unwrap();
            let got = batch.sequence(i).unwrap();
            assert_eq!(got.nrows(), seq.len(), "{name}: rows of input {i}");
            assert_eq!(
                got,
                single.sequence(0).unwrap(),
                "{name}: input {i} in a batch differs from alone"
            );
            let want = floats(&m["cases"][i]["last_hidden_state"]);
            let d = max_diff(name, got, &want);
            assert!(
                d < 1e-4,
                "{name}: batched input {i} differs from transformers by {d}"
            );
        }
    }
}

#[test]
fn fill_mask_matches_the_pipeline() {
    let cases = read_json("fill_mask.json");
    let mut engines = std::collections::HashMap::new();
    let mut worst = 0.0f32;
    let mut checked = 0;
    for case in cases["cases"].as_array().unwrap() {
        let name = case["model"].as_str().unwrap();
        let engine = engines
            .entry(name.to_string())
            .or_insert_with(|| load(&format!("models/{name}")));
        let texts: Vec<&str> = match &case["text"] {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().map(|t| t.as_str().unwrap()).collect(),
            other => panic!("unexpected text {other}"),
        };
        let truncation = case["tokenizer_kwargs"]["truncation"]
            .as_bool()
            .unwrap_or(false);
        if let Some(error) = case.get("error") {
            let message = error["message"].as_str().unwrap();
            let fill_mask = FillMask::new(engine, FillMaskOptions::default()).unwrap();
            let results = fill_mask.run(&texts);
            assert_eq!(results.len(), texts.len());
            if message.contains("No mask_token") {
                // The pipeline's "no mask" (with or without truncation): distil refuses too.
                for result in results {
                    let err = result.expect_err(&format!("{name}: {texts:?} should be refused"));
                    assert_eq!(err.kind(), distil::ErrorKind::Input);
                }
            } else {
                // Over 512 tokens without truncation: the pipeline crashes; distil truncates
                // (as with truncation=True) and says so: an answer that reports the cut, or,
                // when every mask was past the limit, an error that says that.
                assert!(
                    !truncation && message.contains("must match the size"),
                    "unexpected error {message}"
                );
                for result in results {
                    match result {
                        Ok(answer) => assert!(answer.truncated > 0, "{name}: cut not reported"),
                        Err(e) => assert!(
                            e.to_string().contains("cut off by truncation"),
                            "{name}: {e}"
                        ),
                    }
                }
            }
            continue;
        }
        let mut options = FillMaskOptions::default();
        if let Some(k) = case["top_k"].as_u64() {
            options.top_k = k as usize;
        }
        let targets: Option<Vec<String>> = match &case["targets"] {
            Value::Null => None,
            Value::String(s) => Some(vec![s.clone()]),
            Value::Array(a) => Some(a.iter().map(|t| t.as_str().unwrap().to_string()).collect()),
            other => panic!("unexpected targets {other}"),
        };
        if let Some(words) = &targets {
            let (ids, notes) = FillMask::target_ids(engine, words).unwrap();
            assert_eq!(
                notes.len(),
                case["warnings"].as_array().map_or(0, |w| w.len()),
                "{name}: target warnings"
            );
            options.targets = Some(ids);
        }
        let results = FillMask::new(engine, options).unwrap().run(&texts);
        let wanted: Vec<&Value> = if texts.len() == 1 {
            vec![&case["result"]]
        } else {
            case["result"].as_array().unwrap().iter().collect()
        };
        assert_eq!(results.len(), texts.len(), "{name}: one answer per text");
        assert_eq!(wanted.len(), texts.len(), "{name}: one reference per text");
        for ((text, got), want) in texts.iter().zip(results).zip(wanted) {
            let got = got.unwrap_or_else(|e| panic!("{name}: {text:?}: {e}"));
            let got_json: Value = serde_json::from_str(&got.to_json()).unwrap();
            let (got_rows, want_rows) = flatten(&got_json, want);
            assert_eq!(
                got_rows.len(),
                want_rows.len(),
                "{name}: {text:?}: candidate count"
            );
            for (g, w) in got_rows.iter().zip(&want_rows) {
                let context = format!("{name}: {text:?}: got {g}, want {w}");
                assert_eq!(g["token"], w["token"], "{context}");
                assert_eq!(g["token_str"], w["token_str"], "{context}");
                assert_eq!(g["sequence"], w["sequence"], "{context}");
                let d = (g["score"].as_f64().unwrap() - w["score"].as_f64().unwrap()).abs() as f32;
                assert!(d < 1e-5, "{context}: scores differ by {d}");
                worst = worst.max(d);
            }
            checked += 1;
        }
    }
    assert!(checked >= 40, "only {checked} fill-mask answers checked");
    eprintln!("fill-mask: {checked} answers, largest score difference {worst:e}");
}

/// The candidates of one answer, one mask or several, as a flat list (and the reference's likewise).
fn flatten<'a>(got: &'a Value, want: &'a Value) -> (Vec<&'a Value>, Vec<&'a Value>) {
    let rows = |v: &'a Value| -> Vec<&'a Value> {
        v.as_array()
            .unwrap()
            .iter()
            .flat_map(|x| match x {
                Value::Array(inner) => inner.iter().collect(),
                one => vec![one],
            })
            .collect()
    };
    (rows(got), rows(want))
}

#[test]
fn embeddings_match_sentence_transformers() {
    let reference = read_json("embeddings.json");
    let sentences: Vec<&str> = reference["sentences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    for (name, m) in reference["models"].as_object().unwrap() {
        let engine = load(m["dir"].as_str().unwrap());
        let embed = Embed::new(&engine).unwrap();
        assert_eq!(
            embed.config().max_seq_length,
            m["max_seq_length"].as_u64().map(|n| n as usize),
            "{name}"
        );
        let got = embed.run(&sentences).unwrap();
        let want = m["embeddings"].as_array().unwrap();
        assert_eq!(
            got.vectors.dim(),
            (sentences.len(), engine.config().dim),
            "{name}: one embedding per sentence"
        );
        assert_eq!(want.len(), sentences.len(), "{name}: fixture count");
        assert_eq!(got.truncated.len(), sentences.len());
        let mut worst_cos = 1.0f32;
        for (i, (g, w)) in got.vectors.rows().into_iter().zip(want).enumerate() {
            let w = floats(w);
            let cos = g.iter().zip(&w).map(|(a, b)| a * b).sum::<f32>()
                / (g.iter().map(|a| a * a).sum::<f32>().sqrt()
                    * w.iter().map(|b| b * b).sum::<f32>().sqrt());
            let d = max_diff(name, g, &w);
            assert!(
                cos >= 0.9999 && d < 1e-4,
                "{name}: sentence {i}: cosine {cos}, max difference {d}"
            );
            worst_cos = worst_cos.min(cos);
        }
        eprintln!(
            "{name}: {} sentences, lowest cosine {worst_cos}",
            sentences.len()
        );
    }
}
