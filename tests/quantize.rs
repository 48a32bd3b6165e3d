//! `distil quantize`: a checkpoint written in int8 loads to the very model that quantizing at load
//! gives (the same integers, read in place by every way of multiplying), keeps what it is told to
//! keep, refuses to be loaded as anything but int8, and is checked at load like any checkpoint.

use std::path::{Path, PathBuf};

use distil::quantize::{quantize_dir, sensitivity};
use distil::{Dtype, Engine, ErrorKind, I8Dot, Options};
use distil_kernels::Kernels;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/models")
        .join(name)
}

/// Every way this CPU multiplies int8 with its fastest kernels.
fn dots() -> Vec<I8Dot> {
    let fastest = Kernels::fastest();
    I8Dot::ALL
        .into_iter()
        .filter(|&dot| fastest.with_i8_dot(dot).is_ok())
        .collect()
}

fn int8(dot: I8Dot) -> Options {
    Options {
        dtype: Dtype::Int8,
        i8_dot: Some(dot),
        ..Options::default()
    }
}

const TEXTS: [&[u32]; 3] = [
    &[101, 7, 200, 1000, 102],
    &[101, 55, 102],
    &[101, 9, 9, 9, 9, 9, 102],
];

fn states(engine: &Engine) -> Vec<f32> {
    engine
        .forward(&TEXTS)
        .unwrap()
        .states()
        .iter()
        .copied()
        .collect()
}

#[test]
fn a_quantized_checkpoint_equals_quantizing_at_load_whoever_wrote_or_reads_it() {
    for model in ["distilbert-cased", "bert-mlm-uncased"] {
        let dir = fixture(model);
        let want = states(&Engine::load(&dir, &int8(dots()[0])).unwrap());
        // Written with each way of multiplying, read with each (the panels are one layout).
        for written in dots() {
            let out = tempfile::tempdir().unwrap();
            let done = quantize_dir(&dir, out.path(), &[], &int8(written)).unwrap();
            assert!(done.kept.is_empty() && !done.int8.is_empty());
            for read in dots() {
                let engine = Engine::load(out.path(), &int8(read)).unwrap();
                assert!(
                    states(&engine) == want,
                    "{model}: written with {written}, read with {read}: not the model quantized at load"
                );
            }
        }
    }
}

#[test]
fn kept_layers_stay_f32_and_the_file_is_int8_only_to_int8() {
    let dir = fixture("distilbert-cased");
    let out = tempfile::tempdir().unwrap();
    let keep = "vocab_projector.weight".to_string();
    let options = Options {
        dtype: Dtype::Int8,
        ..Options::default()
    };
    let done = quantize_dir(&dir, out.path(), std::slice::from_ref(&keep), &options).unwrap();
    assert_eq!(done.kept, [keep]);
    assert_eq!(done.int8.len(), 13);
    let engine = Engine::load(out.path(), &options).unwrap();
    let all_int8 = Engine::load(&dir, &options).unwrap();
    // The encoders are the same; the heads differ by the projector's precision.
    assert!(states(&engine) == states(&all_int8));
    let logits = |e: &Engine| {
        let hidden = e.forward(&TEXTS).unwrap();
        e.mlm_logits(&hidden, &[1, 2]).unwrap()
    };
    assert!(logits(&engine) != logits(&all_int8));
    for dtype in [Dtype::F32, Dtype::Bf16] {
        let options = Options {
            dtype,
            ..Options::default()
        };
        let err = Engine::load(out.path(), &options).err().unwrap();
        assert_eq!(err.kind(), ErrorKind::Weights);
        assert!(
            err.to_string().ends_with(&format!(
                "model.safetensors: holds int8 weights (written by distil quantize); load it with --dtype int8, not {dtype}"
            )),
            "{err}"
        );
    }
    let err = quantize_dir(&dir, out.path(), &["q_lin".to_string()], &options)
        .err()
        .unwrap();
    assert!(
        err.to_string()
            .starts_with("--keep \"q_lin\": no linear layer has this weight key"),
        "{err}"
    );
    let err = quantize_dir(&dir, &dir, &[], &options).err().unwrap();
    assert!(
        err.to_string()
            .ends_with("the output directory is the model's own; give another"),
        "{err}"
    );
}

/// Rewrites the header of `dir/model.safetensors` by `edit` (same data).
fn edit_header(dir: &Path, edit: impl Fn(&mut serde_json::Value)) {
    let path = dir.join("model.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    edit(&mut header);
    let mut text = serde_json::to_vec(&header).unwrap();
    text.resize(n.max(text.len()).next_multiple_of(8), b' ');
    let mut out = (text.len() as u64).to_le_bytes().to_vec();
    out.extend(text);
    out.extend(&bytes[8 + n..]);
    std::fs::write(&path, out).unwrap();
}

#[test]
fn a_corrupt_int8_tensor_is_one_clear_error() {
    let dir = fixture("distilbert-cased");
    let options = int8(dots()[0]);
    let out = tempfile::tempdir().unwrap();
    quantize_dir(&dir, out.path(), &[], &options).unwrap();
    let key = "distilbert.transformer.layer.1.ffn.lin2.weight_q";
    // A weight outside ±64.
    let path = out.path().join("model.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let start = header[key]["data_offsets"][0].as_u64().unwrap() as usize;
    let mut bad = bytes.clone();
    bad[8 + n + start] = 100;
    std::fs::write(&path, &bad).unwrap();
    let err = Engine::load(out.path(), &options).err().unwrap();
    assert!(
        err.to_string().ends_with(&format!(
            "tensor \"{key}\" holds a weight outside ±64 in row 0, column 0; distil quantize writes none"
        )),
        "{err}"
    );
    // Panels of another height; and of 8 rows, as distil quantize wrote them before.
    for (rows, end) in [
        (4, "int8 panels are [panels, k/4, 16, 4]"),
        (
            8,
            "it was written by an older distil quantize (8-row panels): quantize the model again",
        ),
    ] {
        std::fs::write(&path, &bytes).unwrap();
        edit_header(out.path(), |h| {
            let shape = &mut h[key]["shape"];
            let s: Vec<u64> = serde_json::from_value(shape.clone()).unwrap();
            *shape = serde_json::json!([s[0] * s[2] / rows, s[1], rows, 4]);
        });
        let err = Engine::load(out.path(), &options).err().unwrap();
        assert!(
            err.to_string()
                .contains(&format!("tensor {key:?} has the shape [")),
            "{err}"
        );
        assert!(err.to_string().ends_with(end), "{err}");
    }
    // Not int8 at all.
    std::fs::write(&path, &bytes).unwrap();
    edit_header(out.path(), |h| {
        h[key]["dtype"] = "U8".into();
    });
    let err = Engine::load(out.path(), &options).err().unwrap();
    assert!(
        err.to_string().ends_with(&format!(
            "tensor {key:?} is stored as U8; quantized weights are I8"
        )),
        "{err}"
    );
}

#[test]
fn sensitivity_names_every_layer_then_all_of_them() {
    let dir = fixture("distilbert-cased");
    let texts = [
        "Paris is the capital of France.",
        "A short one.",
        "ünïcödé and more words here",
    ]
    .map(String::from);
    let found = sensitivity(&dir, &texts, &Options::default()).unwrap();
    let keys = Engine::load(&dir, &Options::default())
        .unwrap()
        .model()
        .linear_keys();
    assert_eq!(found.len(), keys.len() + 1);
    assert_eq!(found.last().unwrap().layer, "all");
    let mut named: Vec<&str> = found[..keys.len()]
        .iter()
        .map(|s| s.layer.as_str())
        .collect();
    named.sort();
    let mut keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    keys.sort();
    assert_eq!(named, keys);
    for s in &found {
        assert!(
            s.min_cosine <= s.mean_cosine && s.mean_cosine <= 1.0 + 1e-9 && s.min_cosine > 0.9,
            "{s:?}"
        );
        assert!(
            s.top1_agreement.is_some_and(|a| (0.0..=1.0).contains(&a)),
            "{s:?}"
        );
    }
    assert!(found
        .windows(2)
        .take(keys.len() - 1)
        .all(|w| w[0].mean_cosine <= w[1].mean_cosine));
    // All layers at once move the states at least as far as the worst alone, here.
    assert!(found.last().unwrap().mean_cosine <= found[0].mean_cosine + 1e-6);
}
