//! The whole forward pass of a distilbert-base-cased-shaped model (random weights, written once to
//! a temporary model directory beside the cased fixture's vocabulary), at the shapes of issue 4: `"fill-mask/2t", "1x128"` is one
//! sequence of 128 tokens with the MLM head at its one `[MASK]`, on two threads; `encoder/…` stops at
//! the last hidden state. Throughput is in FLOPs, so criterion's `Gelem/s` reads as GFLOP/s.
//!
//! `cargo bench --bench forward -- --warm-up-time 2 --measurement-time 10`; `-- 1x128` picks one.

use std::collections::HashMap;
use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use distil::{Engine, Options};
use safetensors::tensor::TensorView;
use safetensors::Dtype;

const CONFIG: &str = r#"{"model_type": "distilbert", "vocab_size": 28996, "dim": 768, "n_layers": 6,
    "n_heads": 12, "hidden_dim": 3072, "max_position_embeddings": 512, "activation": "gelu"}"#;

/// The tensors of `DistilBertForMaskedLM` with these sizes, filled with small pseudo-random values.
fn write_random_checkpoint(path: &Path) {
    let (v, d, h, p) = (28996, 768, 3072, 512);
    let mut shapes: Vec<(String, Vec<usize>)> = vec![
        (
            "distilbert.embeddings.word_embeddings.weight".into(),
            vec![v, d],
        ),
        (
            "distilbert.embeddings.position_embeddings.weight".into(),
            vec![p, d],
        ),
        ("vocab_transform.weight".into(), vec![d, d]),
        ("vocab_projector.bias".into(), vec![v]),
    ];
    let norms = ["distilbert.embeddings.LayerNorm", "vocab_layer_norm"];
    let mut vectors: Vec<(String, usize)> = norms
        .iter()
        .flat_map(|n| [(format!("{n}.weight"), d), (format!("{n}.bias"), d)])
        .chain([("vocab_transform.bias".to_string(), d)])
        .collect();
    for l in 0..6 {
        let layer = format!("distilbert.transformer.layer.{l}");
        for lin in ["q_lin", "k_lin", "v_lin", "out_lin"] {
            shapes.push((format!("{layer}.attention.{lin}.weight"), vec![d, d]));
            vectors.push((format!("{layer}.attention.{lin}.bias"), d));
        }
        shapes.push((format!("{layer}.ffn.lin1.weight"), vec![h, d]));
        vectors.push((format!("{layer}.ffn.lin1.bias"), h));
        shapes.push((format!("{layer}.ffn.lin2.weight"), vec![d, h]));
        vectors.push((format!("{layer}.ffn.lin2.bias"), d));
        for norm in ["sa_layer_norm", "output_layer_norm"] {
            vectors.push((format!("{layer}.{norm}.weight"), d));
            vectors.push((format!("{layer}.{norm}.bias"), d));
        }
    }
    shapes.extend(vectors.into_iter().map(|(k, n)| (k, vec![n])));
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let data: HashMap<String, Vec<u8>> = shapes
        .iter()
        .map(|(k, s)| {
            let n: usize = s.iter().product();
            let bytes = (0..n)
                .flat_map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    let x = (seed >> 40) as f32 / (1u64 << 24) as f32 * 0.1 - 0.05;
                    x.to_le_bytes()
                })
                .collect();
            (k.clone(), bytes)
        })
        .collect();
    let views: Vec<(String, TensorView<'_>)> = shapes
        .iter()
        .map(|(k, s)| {
            (
                k.clone(),
                TensorView::new(Dtype::F32, s.clone(), &data[k]).unwrap(),
            )
        })
        .collect();
    safetensors::serialize_to_file(views, None, path).unwrap();
}

fn forward(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    write_random_checkpoint(&dir.path().join("model.safetensors"));
    std::fs::write(dir.path().join("config.json"), CONFIG).unwrap();
    let vocab =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/models/distilbert-cased");
    for file in ["vocab.txt", "tokenizer_config.json"] {
        std::fs::copy(vocab.join(file), dir.path().join(file)).unwrap();
    }
    for threads in [1, 2] {
        let options = Options {
            threads: Some(threads),
            ..Options::default()
        };
        let engine = Engine::load(dir.path(), &options).unwrap();
        for (batch, seq) in [(1, 12), (1, 128), (8, 128), (1, 512)] {
            // [CLS]=101-like ids; the content does not change the work.
            let seqs: Vec<Vec<u32>> = (0..batch)
                .map(|b| {
                    (0..seq)
                        .map(|i| ((i * 7919 + b * 104_729) % 28_000 + 100) as u32)
                        .collect()
                })
                .collect();
            let refs: Vec<&[u32]> = seqs.iter().map(Vec::as_slice).collect();
            let masks: Vec<usize> = (0..batch).map(|b| b * seq + seq / 2).collect();
            let lens = vec![seq; batch];
            for (name, head_rows) in [("encoder", &[][..]), ("fill-mask", &masks[..])] {
                let mut group = c.benchmark_group(format!("{name}/{threads}t"));
                group.sampling_mode(SamplingMode::Flat).sample_size(10);
                let flops = engine.model().flops(&lens, head_rows.len());
                group.throughput(Throughput::Elements(flops as u64));
                group.bench_function(format!("{batch}x{seq}"), |b| {
                    b.iter(|| {
                        let hidden = engine.forward(&refs).unwrap();
                        if !head_rows.is_empty() {
                            engine.mlm_logits(&hidden, head_rows).unwrap();
                        }
                    })
                });
                group.finish();
            }
        }
    }
}

criterion_group!(benches, forward);
criterion_main!(benches);
