//! The task heads against Hugging Face's pipelines (`tests/fixtures/heads/`, made by
//! `tests/fixtures/make_head_fixtures.py` from random-weight models of every head).

use std::path::{Path, PathBuf};

use distil::{
    Aggregation, Classify, ClassifyInput, ClassifyOptions, Engine, Ner, Options, Qa, QaOptions,
    Question, Rerank, ScoreFunction,
};
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn fixture_json(name: &str) -> Value {
    let text = std::fs::read_to_string(fixtures().join("heads").join(name)).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The model of a fixture's `dir` (relative to `tests/fixtures`).
fn engine(dir: &str) -> Engine {
    Engine::load(fixtures().join(dir), &Options::default()).unwrap()
}

/// The pipeline call `call` (its keyword arguments) as options.
fn options(call: &Value) -> ClassifyOptions {
    let top_k = match call.get("top_k") {
        None => Some(1),
        Some(Value::Null) => None,
        Some(k) => Some(k.as_u64().unwrap() as usize),
    };
    let function = call
        .get("function_to_apply")
        .map(|f| match f.as_str().unwrap() {
            "softmax" => ScoreFunction::Softmax,
            "sigmoid" => ScoreFunction::Sigmoid,
            "none" => ScoreFunction::None,
            other => panic!("function {other}"),
        });
    ClassifyOptions { top_k, function }
}

fn close(got: f32, want: f64) -> bool {
    (f64::from(got) - want).abs() <= 1e-5 * want.abs().max(1.0)
}

#[test]
fn text_classification_matches_the_pipeline() {
    let fixture = fixture_json("text_classification.json");
    let calls = fixture["calls"].as_object().unwrap();
    let mut checked = 0;
    for (name, model) in fixture["models"].as_object().unwrap() {
        let engine = engine(model["dir"].as_str().unwrap());
        let cases = model["cases"].as_array().unwrap();
        let inputs: Vec<ClassifyInput<'_>> = cases
            .iter()
            .map(|case| match &case["input"] {
                Value::String(text) => ClassifyInput::Text(text),
                pair => ClassifyInput::Pair(
                    pair["text"].as_str().unwrap(),
                    pair["text_pair"].as_str().unwrap(),
                ),
            })
            .collect();
        // The tokens first: ids as the tokenizer gives them (pairs cut longest_first).
        let classify = Classify::new(&engine, ClassifyOptions::default()).unwrap();
        for (case, input) in cases.iter().zip(&inputs) {
            let ids: Vec<u64> = classify
                .encode(input)
                .encoding
                .ids
                .into_iter()
                .map(u64::from)
                .collect();
            let want: Vec<u64> = case["input_ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap())
                .collect();
            assert_eq!(ids, want, "{name}: tokens of {:?}", case["input"]);
        }
        for (call_name, call) in calls {
            let classify = Classify::new(&engine, options(call)).unwrap();
            let answers = classify.run(&inputs);
            for (case, answer) in cases.iter().zip(answers) {
                let answer = answer.unwrap();
                for (got, want) in answer.logits.iter().zip(case["logits"].as_array().unwrap()) {
                    assert!(
                        close(*got, want.as_f64().unwrap()),
                        "{name}: logits {:?} against {}",
                        answer.logits,
                        case["logits"]
                    );
                }
                // For a pair the pipeline returns the best label as a bare object where it
                // returns a list of one for a text; distil always answers a list.
                let want = match &case["results"][call_name] {
                    Value::Array(labels) => labels.clone(),
                    best => vec![best.clone()],
                };
                let got = &answer.labels;
                assert_eq!(
                    got.len(),
                    want.len(),
                    "{name} {call_name}: {:?}",
                    case["input"]
                );
                for (g, w) in got.iter().zip(&want) {
                    assert_eq!(
                        g.label,
                        w["label"].as_str().unwrap(),
                        "{name} {call_name}: {:?}: {got:?} against {want:?}",
                        case["input"]
                    );
                    assert!(
                        close(g.score, w["score"].as_f64().unwrap()),
                        "{name} {call_name}: {got:?} against {want:?}"
                    );
                }
                checked += 1;
            }
        }
    }
    assert!(checked >= 4 * 6 * 20, "only {checked} answers checked");
}

#[test]
fn a_batch_answers_as_single_inputs() {
    let engine = engine("models/bert-uncased-nli");
    let inputs = [
        ClassifyInput::Pair("A man eats.", "Someone is eating food."),
        ClassifyInput::Text("A single text, no pair."),
        ClassifyInput::Pair(
            "Short.",
            "A much longer second text that goes on for a while.",
        ),
    ];
    let classify = Classify::new(
        &engine,
        ClassifyOptions {
            top_k: None,
            function: None,
        },
    )
    .unwrap();
    let batch = classify.run(&inputs);
    for (input, together) in inputs.iter().zip(batch) {
        let alone = classify.run(std::slice::from_ref(input)).remove(0).unwrap();
        assert_eq!(together.unwrap(), alone, "{input:?}");
    }
}

#[test]
fn a_model_without_the_head_is_named() {
    let engine = engine("models/distilbert-cased");
    let error = Classify::new(&engine, ClassifyOptions::default())
        .err()
        .unwrap()
        .to_string();
    assert!(
        error.contains("no sequence-classification head (it is a DistilBertForMaskedLM)")
            && error.contains("distilbert-cased"),
        "{error}"
    );
}

/// `got` (distil's entities as JSON) against the pipeline's `want`: the same entities, labels,
/// words and character offsets, scores within 1e-5.
fn assert_same_entities(got: &Value, want: &Value, what: &str) {
    let (got, want) = (got.as_array().unwrap(), want.as_array().unwrap());
    assert_eq!(got.len(), want.len(), "{what}:\n{got:?}\nagainst\n{want:?}");
    for (g, w) in got.iter().zip(want) {
        for key in ["entity", "entity_group", "index", "word", "start", "end"] {
            assert_eq!(g.get(key), w.get(key), "{what}: {key}:\n{g}\nagainst\n{w}");
        }
        let (gs, ws) = (g["score"].as_f64().unwrap(), w["score"].as_f64().unwrap());
        assert!(close(gs as f32, ws), "{what}: {g} against {w}");
    }
}

#[test]
fn token_classification_matches_the_pipeline() {
    let fixture = fixture_json("token_classification.json");
    let mut checked = 0;
    for (name, model) in fixture["models"].as_object().unwrap() {
        let engine = engine(model["dir"].as_str().unwrap());
        let cases = model["cases"].as_array().unwrap();
        let texts: Vec<&str> = cases.iter().map(|c| c["text"].as_str().unwrap()).collect();
        for strategy in fixture["strategies"].as_array().unwrap() {
            let strategy = strategy.as_str().unwrap();
            let ner = Ner::new(&engine, Aggregation::from_name(strategy).unwrap()).unwrap();
            for (case, answer) in cases.iter().zip(ner.run(&texts)) {
                let got: Value = serde_json::from_str(&answer.unwrap().to_json()).unwrap();
                let what = format!("{name} {strategy} {:?}", case["text"]);
                assert_same_entities(&got, &case["results"][strategy], &what);
                checked += 1;
            }
        }
    }
    assert!(checked >= 2 * 5 * 15, "only {checked} answers checked");
}

/// The pipeline call `call` of `question_answering.json` as options.
fn qa_options(call: &Value) -> QaOptions {
    let get = |key: &str| call.get(key).and_then(Value::as_u64).map(|v| v as usize);
    QaOptions {
        top_k: get("top_k").unwrap_or(1),
        max_answer_len: get("max_answer_len").unwrap_or(15),
        max_seq_len: get("max_seq_len"),
        doc_stride: get("doc_stride"),
        handle_impossible_answer: call
            .get("handle_impossible_answer")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    }
}

#[test]
fn question_answering_matches_the_pipeline() {
    let fixture = fixture_json("question_answering.json");
    let mut checked = 0;
    for (name, model) in fixture["models"].as_object().unwrap() {
        let engine = engine(model["dir"].as_str().unwrap());
        let cases = model["cases"].as_array().unwrap();
        let questions: Vec<Question<'_>> = cases
            .iter()
            .map(|c| Question {
                question: c["question"].as_str().unwrap(),
                context: c["context"].as_str().unwrap(),
            })
            .collect();
        for (call_name, call) in fixture["calls"].as_object().unwrap() {
            let options = qa_options(call);
            let top_k = options.top_k;
            let qa = Qa::new(&engine, options).unwrap();
            for (case, answer) in cases.iter().zip(qa.run(&questions)) {
                let answer = answer.unwrap();
                let what = format!("{name} {call_name} {:?}", case["question"]);
                let got: Value = serde_json::from_str(&answer.to_json(top_k)).unwrap();
                // The pipeline returns a bare object for one answer; distil a list when top_k > 1.
                let want = &case["results"][call_name];
                let (got, want) = match (got, want) {
                    (Value::Array(g), Value::Object(_)) => (g, vec![want.clone()]),
                    (Value::Array(g), Value::Array(w)) => (g, w.clone()),
                    (g, w) => (vec![g], vec![w.clone()]),
                };
                assert_eq!(got.len(), want.len(), "{what}:\n{got:?}\nagainst\n{want:?}");
                for (g, w) in got.iter().zip(&want) {
                    for key in ["answer", "start", "end"] {
                        assert_eq!(g[key], w[key], "{what}: {key}:\n{got:?}\nagainst\n{want:?}");
                    }
                    let (gs, ws) = (g["score"].as_f64().unwrap(), w["score"].as_f64().unwrap());
                    assert!(
                        (gs - ws).abs() <= 1e-5 * ws.abs().max(1.0),
                        "{what}: {g} against {w}"
                    );
                }
                checked += 1;
            }
        }
    }
    assert!(checked >= 2 * 4 * 10, "only {checked} answers checked");
}

#[test]
fn a_question_longer_than_a_window_fails_alone() {
    let engine = engine("models/distilbert-cased-qa");
    let long = "why ".repeat(400);
    let questions = [
        Question {
            question: "Where?",
            context: "In Paris.",
        },
        Question {
            question: &long,
            context: "In Paris.",
        },
        Question {
            question: "Where?",
            context: "In Paris.",
        },
    ];
    let answers = Qa::new(&engine, QaOptions::default())
        .unwrap()
        .run(&questions);
    let error = answers[1].as_ref().err().unwrap().to_string();
    assert!(
        error.contains("take 803 of a window's 384 tokens: the 0 left for the context"),
        "{error}"
    );
    assert_eq!(answers[0].as_ref().unwrap(), answers[2].as_ref().unwrap());
    assert!(!answers[0].as_ref().unwrap().answers.is_empty());
}

#[test]
fn rerank_matches_the_cross_encoder() {
    let fixture = fixture_json("cross_encoder.json");
    let predict = &fixture["predict"];
    let pairs = predict["pairs"].as_array().unwrap();
    let cross_encoder = engine(fixture["dir"].as_str().unwrap());
    let sigmoid = Rerank::new(&cross_encoder, false).unwrap();
    let raw = Rerank::new(&cross_encoder, true).unwrap();
    for (i, pair) in pairs.iter().enumerate() {
        let (query, text) = (pair[0].as_str().unwrap(), pair[1].as_str().unwrap());
        let ids: Vec<u64> = sigmoid
            .encode(query, text)
            .encoding
            .ids
            .into_iter()
            .map(u64::from)
            .collect();
        let want: Vec<u64> = predict["input_ids"][i]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect();
        assert_eq!(ids, want, "tokens of pair {i}");
        for (rerank, key) in [(&sigmoid, "scores"), (&raw, "logits")] {
            let got = rerank.scores(query, &[text]).unwrap()[0];
            let want = predict[key][i].as_f64().unwrap();
            assert!(close(got, want), "pair {i} {key}: {got} against {want}");
        }
    }
    let rank = &fixture["rank"];
    let documents: Vec<&str> = rank["documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap())
        .collect();
    let query = rank["query"].as_str().unwrap();
    for (rerank, key) in [(&sigmoid, "result"), (&raw, "result_identity")] {
        let got = rerank.rank(query, &documents).unwrap();
        let want = rank[key].as_array().unwrap();
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(want) {
            assert_eq!(
                g.index as u64,
                w["corpus_id"].as_u64().unwrap(),
                "{key}: {got:?} against {want:?}"
            );
            assert!(
                close(g.score, w["score"].as_f64().unwrap()),
                "{key}: {got:?} against {want:?}"
            );
        }
    }
    // A classifier of several labels is not a reranker.
    let error = Rerank::new(&engine("models/bert-uncased-nli"), false)
        .err()
        .unwrap()
        .to_string();
    assert!(
        error.contains("a reranker scores with one label, this classifier has 3"),
        "{error}"
    );
}

#[test]
fn a_cross_encoder_whose_config_names_identity_scores_with_logits() {
    let fixture = fixture_json("cross_encoder.json");
    let source = fixtures().join(fixture["dir"].as_str().unwrap());
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(&source).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    let config_path = dir.path().join("config.json");
    let mut config: Value =
        serde_json::from_str(&std::fs::read_to_string(&config_path).unwrap()).unwrap();
    let write = |config: &Value| std::fs::write(&config_path, config.to_string()).unwrap();
    config["sbert_ce_default_activation_function"] = "torch.nn.modules.linear.Identity".into();
    write(&config);
    let engine = Engine::load(dir.path(), &Options::default()).unwrap();
    let predict = &fixture["predict"];
    let pair = &predict["pairs"][0];
    let got = Rerank::new(&engine, false)
        .unwrap()
        .scores(pair[0].as_str().unwrap(), &[pair[1].as_str().unwrap()])
        .unwrap()[0];
    assert!(close(got, predict["logits"][0].as_f64().unwrap()), "{got}");
    config["sbert_ce_default_activation_function"] = "torch.nn.modules.activation.Tanh".into();
    write(&config);
    let engine = Engine::load(dir.path(), &Options::default()).unwrap();
    let error = Rerank::new(&engine, false).err().unwrap().to_string();
    assert!(
        error.contains("activation \"torch.nn.modules.activation.Tanh\" is not supported"),
        "{error}"
    );
}

/// Each row of `logits` as probabilities (softmax over the row), flattened.
fn softmax_rows(logits: ndarray::Array2<f32>) -> Vec<f32> {
    let mut out = Vec::with_capacity(logits.len());
    for row in logits.rows() {
        let max = row.fold(f32::NEG_INFINITY, |m, &x| m.max(x));
        let sum: f32 = row.iter().map(|&x| (x - max).exp()).sum();
        out.extend(row.iter().map(|&x| (x - max).exp() / sum));
    }
    out
}

/// The head's probabilities on a few texts (per text for a sequence classifier, per token and
/// label for the others), computed in `dtype`.
fn head_probabilities(dir: &str, dtype: distil::Dtype) -> Vec<f32> {
    let options = Options {
        dtype,
        ..Options::default()
    };
    let engine = Engine::load(fixtures().join(dir), &options).unwrap();
    let texts = [
        "Ingrid Svensson was born in Malmö, Sweden, in 1956.",
        "Terrible, boring and far too long: I walked out.",
        "東京 and Zürich are 9,000 km apart 🙂",
    ];
    let encoded: Vec<Vec<u32>> = texts
        .iter()
        .map(|t| engine.tokenizer().encode(t).ids)
        .collect();
    let batch: Vec<&[u32]> = encoded.iter().map(Vec::as_slice).collect();
    let hidden = engine.forward(&batch).unwrap();
    let task = engine.task();
    let logits = match task {
        distil::Task::SequenceClassification => engine.sequence_logits(&hidden),
        _ => engine.token_logits(&hidden, task),
    };
    softmax_rows(logits.unwrap())
}

/// The heads compute in f32 whatever the dtype; the encoder under them in bf16 or int8 moves their
/// probabilities. Random weights at these small, awkward widths move them more than a trained
/// checkpoint's would (measured: bf16 ≤ 0.034, int8 ≤ 0.20), so the bounds guard against a
/// broken path (a head reading the wrong rows or scale), not for accuracy.
#[test]
fn the_heads_in_bf16_and_int8_stay_close_to_f32() {
    for dir in [
        "models/distilbert-cased-sst",
        "models/bert-uncased-nli",
        "models/distilbert-cased-ner",
        "models/bert-uncased-ner",
        "models/distilbert-cased-qa",
        "models/bert-uncased-qa",
    ] {
        let f32s = head_probabilities(dir, distil::Dtype::F32);
        for (dtype, bound) in [(distil::Dtype::Bf16, 0.05), (distil::Dtype::Int8, 0.25)] {
            let got = head_probabilities(dir, dtype);
            let worst = got
                .iter()
                .zip(&f32s)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(
                worst <= bound,
                "{dir} in {dtype}: max |Δp| {worst} > {bound}"
            );
        }
    }
}
