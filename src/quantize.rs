//! Quantizing a checkpoint ahead of time (`distil quantize`), and measuring what int8 costs each
//! linear layer.
//!
//! [`quantize_dir`] writes a model directory whose `model.safetensors` holds the linear layers in
//! int8 as the kernels read them (`{key}_q`: the panels of [`distil_kernels::quant::I8Weights`],
//! `{key}_scale`: each row's scale; see `StoredI8` in `src/model/linear.rs`) and every other tensor
//! as the source has it. Loading it (`--dtype int8`) reads the panels in place, with no
//! quantizing at load, on every CPU (the panels are one layout for every instruction set). Layers
//! named in `keep` stay as they were, and stay so when the file is loaded.
//!
//! [`sensitivity`] quantizes one layer at a time and compares the model's last hidden states (and
//! the MLM head's top-1, where there is one) with f32's on calibration texts: the measurement
//! behind which layers to keep.

use std::collections::HashMap;
use std::path::Path;

use distil_kernels::quant::{padded_k, PANEL_ROWS};
use ndarray::{ArrayView1, Axis};
use safetensors::tensor::TensorView;
use safetensors::Dtype as StoredDtype;

use crate::pipelines::masked_lm::top_k;
use crate::weights::Weights;
use crate::{Dtype, Engine, Error, Options, Result};

/// What [`quantize_dir`] did: the keys of the layers written in int8, and of those kept.
#[derive(Clone, Debug, PartialEq)]
pub struct Quantized {
    /// The layers written in int8.
    pub int8: Vec<String>,
    /// The layers kept as the source has them.
    pub kept: Vec<String>,
}

/// Writes `dir`'s model with its linear layers in int8 (all but those whose weight key is in
/// `keep`) into `out` (created if needed; it must not be `dir`), with the tokenizer's and the
/// config's files copied. Quantized on `options`' kernels, in their layout.
pub fn quantize_dir(
    dir: &Path,
    out: &Path,
    keep: &[String],
    options: &Options,
) -> Result<Quantized> {
    let mut engine = Engine::load(
        dir,
        &Options {
            dtype: Dtype::F32,
            ..options.clone()
        },
    )?;
    let keys = engine.model().linear_keys();
    if let Some(unknown) = keep.iter().find(|k| !keys.contains(k)) {
        return Err(Error::input(format!(
            "--keep {unknown:?}: no linear layer has this weight key (they are {})",
            keys.join(", ")
        )));
    }
    if same_dir(dir, out) {
        return Err(Error::input(format!(
            "{}: the output directory is the model's own; give another",
            out.display()
        )));
    }
    engine.quantize_linears(|key| !keep.iter().any(|k| k == key));
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    copy_model_files(dir, out)?;
    let source = Weights::open(&dir.join("model.safetensors"))?;
    let model = engine.model();
    let mut replaced = HashMap::new();
    let (mut int8, mut kept) = (Vec::new(), Vec::new());
    for linear in model.linears() {
        match linear.i8_rows() {
            Some(rows) => {
                let shape = vec![
                    rows.n().div_ceil(PANEL_ROWS),
                    padded_k(rows.k) / 4,
                    PANEL_ROWS,
                    4,
                ];
                let q: &[u8] = bytemuck::cast_slice(rows.q);
                let scale: &[u8] = bytemuck::cast_slice(rows.scale);
                replaced.insert(format!("{}_q", linear.key), (StoredDtype::I8, shape, q));
                replaced.insert(
                    format!("{}_scale", linear.key),
                    (StoredDtype::F32, vec![rows.n()], scale),
                );
                int8.push(linear.key.clone());
            }
            None => kept.push(linear.key.clone()),
        }
    }
    let mut tensors = Vec::new();
    for t in source.stored() {
        if !int8.iter().any(|k| k == t.key) {
            tensors.push((t.key.to_string(), view(t.dtype, t.shape.to_vec(), t.bytes)?));
        }
    }
    for (key, (dtype, shape, bytes)) in replaced {
        tensors.push((key, view(dtype, shape, bytes)?));
    }
    let metadata = HashMap::from([
        ("format".to_string(), "pt".to_string()),
        (
            "distil.quantize".to_string(),
            format!(
                "int8 per output channel (symmetric, ±{}), {} linear layers, {} kept",
                distil_kernels::quant::WEIGHT_MAX,
                int8.len(),
                kept.len()
            ),
        ),
    ]);
    let path = out.join("model.safetensors");
    safetensors::serialize_to_file(tensors, Some(metadata), &path)
        .map_err(|e| Error::weights(&path, format!("cannot write: {e}")))?;
    Ok(Quantized { int8, kept })
}

fn view(dtype: StoredDtype, shape: Vec<usize>, bytes: &[u8]) -> Result<TensorView<'_>> {
    TensorView::new(dtype, shape, bytes)
        .map_err(|e| Error::model(format!("cannot write a tensor: {e}")))
}

/// Whether `a` and `b` name the same existing directory.
fn same_dir(a: &Path, b: &Path) -> bool {
    matches!((a.canonicalize(), b.canonicalize()), (Ok(a), Ok(b)) if a == b)
}

/// Copies the model directory's files other than weights (config, vocabulary, tokenizer and
/// pooling files, sub-directories included) into `out`.
fn copy_model_files(dir: &Path, out: &Path) -> Result<()> {
    const WEIGHTS: [&str; 6] = ["safetensors", "bin", "onnx", "h5", "msgpack", "ot"];
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let (from, to) = (entry.path(), out.join(entry.file_name()));
        let is_weights = from
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| WEIGHTS.contains(&e));
        if from.is_dir() {
            std::fs::create_dir_all(&to).map_err(|e| Error::io(&to, e))?;
            copy_model_files(&from, &to)?;
        } else if !is_weights {
            std::fs::copy(&from, &to).map_err(|e| Error::io(&from, e))?;
        }
    }
    Ok(())
}

/// What quantizing one linear layer alone (or, for `"all"`, every one) does to the model's outputs
/// on the calibration texts, against f32.
#[derive(Clone, Debug, PartialEq)]
pub struct Sensitivity {
    /// The layer's weight key, or `all`.
    pub layer: String,
    /// The lowest cosine between a token's last hidden state and f32's.
    pub min_cosine: f64,
    /// The mean of those cosines.
    pub mean_cosine: f64,
    /// The share of tokens where the MLM head's top-1 is f32's (`None` without a head).
    pub top1_agreement: Option<f64>,
}

/// [`Sensitivity`] of every linear layer of `dir`'s model on `texts` (each truncated at the
/// model's length), most sensitive (lowest mean cosine) first, and of all of them at once.
pub fn sensitivity(dir: &Path, texts: &[String], options: &Options) -> Result<Vec<Sensitivity>> {
    let f32_options = Options {
        dtype: Dtype::F32,
        ..options.clone()
    };
    let reference = Engine::load(dir, &f32_options)?;
    let max = reference.max_length();
    let ids: Vec<Vec<u32>> = texts.iter().map(|t| reference.encode(t, max).ids).collect();
    let batch: Vec<&[u32]> = ids.iter().map(Vec::as_slice).collect();
    let outputs = |engine: &Engine| -> Result<(ndarray::Array2<f32>, Option<Vec<u32>>)> {
        let hidden = engine.forward(&batch)?;
        let top1 = match engine.model().has_mlm_head() {
            true => {
                let rows: Vec<usize> = (0..hidden.states().nrows()).collect();
                let logits = engine.mlm_logits(&hidden, &rows)?;
                // The pipeline's top-1 (ties to the lower id).
                let top1 = |row| top_k(row, 1, None)[0].0;
                Some(logits.axis_iter(Axis(0)).map(top1).collect())
            }
            false => None,
        };
        Ok((hidden.states().to_owned(), top1))
    };
    let (want, want_top1) = outputs(&reference)?;
    let keys = reference.model().linear_keys();
    let mut found = Vec::new();
    for layer in keys.iter().map(Some).chain([None]) {
        let mut engine = Engine::load(dir, &f32_options)?;
        engine.quantize_linears(|key| layer.is_none_or(|l| l == key));
        let (got, top1) = outputs(&engine)?;
        let cosines: Vec<f64> = got
            .axis_iter(Axis(0))
            .zip(want.axis_iter(Axis(0)))
            .map(|(a, b)| cosine(a, b))
            .collect();
        let agreement = top1.zip(want_top1.as_ref()).map(|(a, b)| {
            a.iter().zip(b).filter(|(a, b)| a == b).count() as f64 / a.len().max(1) as f64
        });
        found.push(Sensitivity {
            layer: layer.map_or("all".to_string(), String::clone),
            min_cosine: cosines.iter().copied().fold(1.0, f64::min),
            mean_cosine: cosines.iter().sum::<f64>() / cosines.len().max(1) as f64,
            top1_agreement: agreement,
        });
    }
    let all = found.pop();
    found.sort_by(|a, b| a.mean_cosine.total_cmp(&b.mean_cosine));
    found.extend(all);
    Ok(found)
}

fn cosine(a: ArrayView1<'_, f32>, b: ArrayView1<'_, f32>) -> f64 {
    let (mut ab, mut aa, mut bb) = (0.0f64, 0.0f64, 0.0f64);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (f64::from(x), f64::from(y));
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    ab / (aa * bb).sqrt().max(f64::MIN_POSITIVE)
}
