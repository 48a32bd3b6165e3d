//! The task heads against Hugging Face's pipelines (`tests/fixtures/heads/`, made by
//! `tests/fixtures/make_head_fixtures.py` from random-weight models of every head).

use std::path::{Path, PathBuf};

use distil::{
    Aggregation, Classify, ClassifyInput, ClassifyOptions, Engine, Ner, Options, ScoreFunction,
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
        for (case, input) in cases.iter().zip(&inputs) {
            let ids: Vec<u64> = match *input {
                ClassifyInput::Text(text) => engine.encode(text, engine.max_length()).ids,
                ClassifyInput::Pair(a, b) => {
                    engine
                        .tokenizer()
                        .encode_pair(a, b, engine.max_length())
                        .encoding
                        .ids
                }
            }
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
