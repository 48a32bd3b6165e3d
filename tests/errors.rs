//! Broken model directories give one clear error naming the file and the tensor, never a panic.

mod common;

use std::collections::HashMap;
use std::path::Path;

use common::{copy_model, fixture};
use distil::{Embed, Engine, ErrorKind, FillMask, FillMaskOptions, Options};
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};

/// Rewrites `dir/model.safetensors` after `edit` changes its tensors (name → (dtype, shape, bytes)).
fn rewrite_weights(
    dir: &Path,
    edit: impl FnOnce(&mut HashMap<String, (Dtype, Vec<usize>, Vec<u8>)>),
) {
    let path = dir.join("model.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let mut tensors: HashMap<String, (Dtype, Vec<usize>, Vec<u8>)> = file
        .tensors()
        .into_iter()
        .map(|(k, v)| (k, (v.dtype(), v.shape().to_vec(), v.data().to_vec())))
        .collect();
    edit(&mut tensors);
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .map(|(k, (d, s, b))| (k.clone(), TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    safetensors::serialize_to_file(views, None, &path).unwrap();
}

fn load_error(dir: &Path) -> String {
    match Engine::load(dir, &Options::default()) {
        Ok(_) => panic!("{} loaded", dir.display()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_missing_tensor_is_named() {
    let dir = copy_model("distilbert-cased");
    rewrite_weights(dir.path(), |t| {
        t.remove("distilbert.transformer.layer.1.ffn.lin2.weight")
            .unwrap();
    });
    let file = dir.path().join("model.safetensors");
    assert_eq!(
        load_error(dir.path()),
        format!(
            "{}: tensor \"distilbert.transformer.layer.1.ffn.lin2.weight\" is missing",
            file.display()
        )
    );
}

#[test]
fn a_shape_that_disagrees_with_config_json_is_named() {
    let dir = copy_model("distilbert-cased");
    let config = std::fs::read_to_string(dir.path().join("config.json")).unwrap();
    std::fs::write(
        dir.path().join("config.json"),
        config.replace("\"hidden_dim\": 100", "\"hidden_dim\": 101"),
    )
    .unwrap();
    let file = dir.path().join("model.safetensors");
    assert_eq!(
        load_error(dir.path()),
        format!(
            "{}: tensor \"distilbert.transformer.layer.0.ffn.lin1.weight\" has shape [100, 51] but config.json implies [101, 51]",
            file.display()
        )
    );
}

#[test]
fn a_tensor_of_integers_is_refused() {
    let dir = copy_model("distilbert-cased");
    rewrite_weights(dir.path(), |t| {
        let bias = t.get_mut("vocab_transform.bias").unwrap();
        bias.0 = Dtype::I32;
    });
    let err = load_error(dir.path());
    assert!(
        err.ends_with(
            "tensor \"vocab_transform.bias\" is stored as I32; weights must be F32, F16 or BF16"
        ),
        "{err}"
    );
}

#[test]
fn a_truncated_weights_file_is_refused() {
    let dir = copy_model("distilbert-cased");
    let path = dir.path().join("model.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    for (cut, says) in [
        (0, "the file is empty"),
        (5, "too short for the 8-byte header length"),
        (100, "(a truncated or corrupt file)"),
        (bytes.len() / 2, "(a truncated file or a corrupt header)"),
        (bytes.len() - 1, "(a truncated file or a corrupt header)"),
    ] {
        std::fs::write(&path, &bytes[..cut]).unwrap();
        let err = load_error(dir.path());
        assert!(
            err.starts_with(&format!("{}: ", path.display())) && err.ends_with(says),
            "cut at {cut}: {err}"
        );
    }
}

#[test]
fn a_vocabulary_larger_than_the_model_is_refused() {
    let dir = copy_model("distilbert-cased");
    let config = std::fs::read_to_string(dir.path().join("config.json")).unwrap();
    std::fs::write(
        dir.path().join("config.json"),
        config.replace("\"vocab_size\": 1906", "\"vocab_size\": 1000"),
    )
    .unwrap();
    let err = load_error(dir.path());
    assert!(
        err.ends_with("config.json: vocab_size is 1000 but vocab.txt has 1906 tokens"),
        "{err}"
    );
}

#[test]
fn a_missing_file_is_named() {
    let dir = copy_model("distilbert-cased");
    std::fs::remove_file(dir.path().join("model.safetensors")).unwrap();
    let err = load_error(dir.path());
    assert!(
        err.starts_with(&format!(
            "cannot read {}",
            dir.path().join("model.safetensors").display()
        )),
        "{err}"
    );
}

#[test]
fn a_model_without_an_mlm_head_cannot_fill_masks_but_still_embeds() {
    let engine = Engine::load(fixture("distilbert-uncased-bare"), &Options::default()).unwrap();
    let err = FillMask::new(&engine, FillMaskOptions::default())
        .err()
        .expect("a fill-mask pipeline for a model without an MLM head");
    assert_eq!(err.kind(), ErrorKind::Model);
    assert!(
        err.to_string()
            .ends_with("this model has no masked-language-model head, so it cannot fill masks"),
        "{err}"
    );
    // Its embedding of a reference text: the mean of transformers' last hidden states over the
    // tokens, normalised (the defaults without sentence-transformers files).
    let forward = fixture("../forward.json");
    let forward: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(forward).unwrap()).unwrap();
    let case = &forward["models"]["distilbert-uncased-bare"]["cases"][0];
    let states: Vec<f64> = case["last_hidden_state"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    let dim = engine.config().dim;
    let tokens = states.len() / dim;
    assert_eq!(tokens, case["input_ids"].as_array().unwrap().len());
    let mean: Vec<f64> = (0..dim)
        .map(|d| (0..tokens).map(|t| states[t * dim + d]).sum::<f64>() / tokens as f64)
        .collect();
    let norm = mean.iter().map(|x| x * x).sum::<f64>().sqrt();
    let text = case["text"].as_str().unwrap();
    let embeddings = Embed::new(&engine).unwrap().run(&[text]).unwrap();
    assert_eq!(embeddings.vectors.dim(), (1, dim));
    assert_eq!(embeddings.truncated, vec![0]);
    for (got, want) in embeddings.vectors.row(0).iter().zip(&mean) {
        let want = want / norm;
        assert!((*got as f64 - want).abs() < 1e-4, "{got} vs {want}");
    }
}

#[test]
fn f32_weights_are_read_in_place() {
    let weights =
        distil::weights::Weights::open(&fixture("distilbert-cased").join("model.safetensors"))
            .unwrap();
    let t = weights
        .tensor("distilbert.embeddings.word_embeddings.weight", (1906, 51))
        .unwrap();
    assert!(t.is_mapped(), "f32 tensor was copied");
    assert_eq!(t.view().dim(), (1906, 51));
    let half =
        distil::weights::Weights::open(&fixture("distilbert-cased-f16").join("model.safetensors"))
            .unwrap();
    let h = half
        .tensor("distilbert.embeddings.word_embeddings.weight", (1906, 51))
        .unwrap();
    assert!(!h.is_mapped());
    // f16 rounding of the same weights: close, not equal.
    let d = t
        .view()
        .iter()
        .zip(h.view().iter())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(d > 0.0 && d < 2e-3, "{d}");
}
