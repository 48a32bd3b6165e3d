//! Broken model directories give one clear error naming the file and the tensor, never a panic.

mod common;

use std::collections::HashMap;
use std::path::Path;

use common::{copy_model, fixture};
use distil::{Engine, FillMaskOptions, Options};
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
    let engine = Engine::load(&fixture("distilbert-uncased-bare"), &Options::default()).unwrap();
    let results = engine.fill_mask(
        &["paris is the [MASK] of france."],
        &FillMaskOptions::default(),
    );
    let err = results[0].as_ref().unwrap_err().to_string();
    assert!(
        err.ends_with("this model has no masked-language-model head, so it cannot fill masks"),
        "{err}"
    );
}

#[test]
fn f32_weights_are_read_in_place() {
    let weights =
        distil::weights::Weights::open(&fixture("distilbert-cased").join("model.safetensors"))
            .unwrap();
    let t = weights
        .tensor("distilbert.embeddings.word_embeddings.weight", &[1906, 51])
        .unwrap();
    assert!(t.is_mapped(), "f32 tensor was copied");
    let half =
        distil::weights::Weights::open(&fixture("distilbert-cased-f16").join("model.safetensors"))
            .unwrap();
    let h = half
        .tensor("distilbert.embeddings.word_embeddings.weight", &[1906, 51])
        .unwrap();
    assert!(!h.is_mapped());
    // f16 rounding of the same weights: close, not equal.
    let d = t
        .iter()
        .zip(h.iter())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(d > 0.0 && d < 2e-3, "{d}");
}
