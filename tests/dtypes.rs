//! `--dtype bf16` and `--dtype int8` against f32 and against Hugging Face.
//!
//! bf16 runs both ways the kernels multiply it: in pairs with AVX-512 BF16 (where the CPU has it)
//! and widened to f32 (the AVX2 kernels, on any CPU that has AVX2). Bounds (issue 13): sentence
//! embeddings of the real all-MiniLM-L6-v2 within cosine 0.9999 on average and 0.9998 at worst of
//! sentence-transformers' fp32 ones (PyTorch's own bf16 gives 0.99994 / 0.99986); hidden states
//! within cosine 0.9998 of distil's f32 ones at every token of the small random fixture models
//! (0.99989 at worst here, on the 51-wide DistilBERT; the base-sized random model's figures come
//! from `examples/dtype_accuracy.rs`); a batch gives each input exactly its single result.
//!
//! int8 runs on every instruction set the CPU has. Bounds (issue 14): MiniLM's embeddings within
//! cosine 0.995 on average and 0.99 at worst of sentence-transformers' fp32 ones (ONNX Runtime's
//! dynamic int8 gives 0.989 / 0.971 with per-channel weights); the fixture models' hidden states
//! within cosine 0.99 of f32's at every token; a batch gives each input exactly its single result. The int8 products are the same integers on every instruction set (VNNI,
//! AVX2, the scalar twin: `tests/kernels.rs` holds them to it bit for bit), so two CPUs with the
//! same f32 kernels (the AVX-512 ones, with or without VNNI) and attention in the same dtype give
//! the same answers. Across instruction sets the f32 kernels around them (layer norm, softmax,
//! GELU) differ within their tolerances, and a byte of an activation can then round the other way:
//! the embeddings stay within cosine 0.999 of each other (0.9993 at worst here). Attention in bf16
//! pairs (int8's default where bf16 pairs pay) is tested beside attention in f32 on CPUs with
//! AVX-512 BF16, each against sentence-transformers.

use std::path::{Path, PathBuf};

use distil::{Bf16Dot, Dtype, Embed, Engine, I8Dot, Isa, Options};
use distil_kernels::Kernels;
use ndarray::{Array2, ArrayView1};
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn read_json(name: &str) -> Value {
    let path = fixtures().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// How the kernels run: the instruction set and how bf16 or int8 products are multiplied (`None`:
/// the default).
#[derive(Clone, Copy, Default)]
struct Way {
    isa: Option<Isa>,
    bf16_dot: Option<Bf16Dot>,
    i8_dot: Option<I8Dot>,
}

/// The ways to load bf16 models: on the fastest kernels, widened and (where the CPU has AVX-512
/// BF16) in pairs, and on AVX2 (widened) where that differs.
fn ways() -> Vec<Way> {
    let fastest = Kernels::fastest();
    let mut ways: Vec<_> = Bf16Dot::ALL
        .into_iter()
        .filter(|&dot| fastest.with_bf16_dot(dot).is_ok())
        .map(|dot| Way {
            bf16_dot: Some(dot),
            ..Way::default()
        })
        .collect();
    if Isa::Avx2.is_supported() && fastest.isa() != Isa::Avx2 {
        ways.push(Way {
            isa: Some(Isa::Avx2),
            ..Way::default()
        });
    }
    ways
}

/// The ways to load int8 models: every instruction set this CPU has, with every way of
/// multiplying bytes its kernels have (AMX, VNNI, AVX2's), and the scalar twin.
fn i8_ways() -> Vec<Way> {
    let isas = Isa::ALL.into_iter().filter(|isa| isa.is_supported());
    isas.flat_map(|isa| {
        let kernels = Kernels::force(isa).unwrap();
        // Where the kernels can multiply bf16 in pairs, attention runs both ways: in bf16 pairs
        // (the default on AMD) and in f32 (widened, as on Intel).
        let attention: Vec<Option<Bf16Dot>> = match kernels.with_bf16_dot(Bf16Dot::Pairs) {
            Ok(_) => vec![Some(Bf16Dot::Pairs), Some(Bf16Dot::Widened)],
            Err(_) => vec![None],
        };
        I8Dot::ALL
            .into_iter()
            .filter(move |&dot| kernels.with_i8_dot(dot).is_ok())
            .filter(move |&dot| dot != I8Dot::Scalar || isa == Isa::Scalar)
            .flat_map(move |dot| {
                attention.clone().into_iter().map(move |bf16_dot| Way {
                    isa: Some(isa),
                    i8_dot: Some(dot),
                    bf16_dot,
                })
            })
    })
    .collect()
}

fn load(dir: &str, dtype: Dtype, way: Way) -> Engine {
    let options = Options {
        dtype,
        isa: way.isa,
        bf16_dot: way.bf16_dot,
        i8_dot: way.i8_dot,
        ..Options::default()
    };
    Engine::load(fixtures().join(dir), &options).unwrap_or_else(|e| panic!("{dir}: {e}"))
}

/// A label for assertion messages: the dtype, the kernels, and how bf16 or int8 was multiplied.
fn how(engine: &Engine) -> String {
    let dot = (engine.bf16_dot().map(Bf16Dot::name)).or(engine.i8_dot().map(I8Dot::name));
    format!(
        "{} on {} ({}, attention {})",
        engine.dtype(),
        engine.isa(),
        dot.unwrap_or("f32"),
        engine.attention_dtype()
    )
}

fn cosine(a: ArrayView1<'_, f32>, b: ArrayView1<'_, f32>) -> f64 {
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum();
    let norm = |v: ArrayView1<'_, f32>| v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    dot / (norm(a) * norm(b))
}

/// The real MiniLM's fixture: its directory, the sentences, and sentence-transformers' fp32
/// embeddings of them.
fn minilm() -> (String, Vec<String>, Vec<Vec<f32>>) {
    let reference = read_json("embeddings.json");
    let sentences = reference["sentences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect();
    let m = &reference["models"]["minilm"];
    let want = m["embeddings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            e.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect()
        })
        .collect();
    (m["dir"].as_str().unwrap().to_string(), sentences, want)
}

/// `engine`'s embeddings of `sentences`, and the mean and lowest cosine to `want`'s.
fn embeddings_against(
    engine: &Engine,
    sentences: &[String],
    want: &[Vec<f32>],
) -> (Array2<f32>, f64, f64) {
    let refs: Vec<&str> = sentences.iter().map(String::as_str).collect();
    let got = Embed::new(engine).unwrap().run(&refs).unwrap();
    let cosines: Vec<f64> = got
        .vectors
        .rows()
        .into_iter()
        .zip(want)
        .map(|(g, w)| cosine(g, ArrayView1::from(w)))
        .collect();
    assert_eq!(cosines.len(), sentences.len());
    let mean = cosines.iter().sum::<f64>() / cosines.len() as f64;
    let min = cosines.iter().copied().fold(1.0, f64::min);
    eprintln!(
        "minilm {}: cosine mean {mean:.6}, min {min:.6}",
        how(engine)
    );
    (got.vectors, mean, min)
}

#[test]
fn minilm_embeddings_stay_within_the_bounds_of_sentence_transformers_fp32() {
    let (dir, sentences, want) = minilm();
    for way in ways() {
        let engine = load(&dir, Dtype::Bf16, way);
        assert_eq!(engine.dtype(), Dtype::Bf16);
        let (_, mean, min) = embeddings_against(&engine, &sentences, &want);
        assert!(
            mean >= 0.9999 && min >= 0.9998,
            "minilm {}: cosine mean {mean}, min {min}",
            how(&engine)
        );
    }
}

#[test]
fn minilm_int8_embeddings_stay_within_the_bounds_and_close_across_instruction_sets() {
    let (dir, sentences, want) = minilm();
    let mut answers: Vec<(Dtype, String, Array2<f32>)> = Vec::new();
    for way in i8_ways() {
        let engine = load(&dir, Dtype::Int8, way);
        assert_eq!(engine.dtype(), Dtype::Int8);
        let (vectors, mean, min) = embeddings_against(&engine, &sentences, &want);
        assert!(
            mean >= 0.995 && min >= 0.99,
            "minilm {}: cosine mean {mean}, min {min}",
            how(&engine)
        );
        answers.push((engine.attention_dtype(), how(&engine), vectors));
    }
    // Ways with attention in the same dtype: the same integers, f32 kernels within their
    // tolerances. (Attention in bf16 against f32 moves the embeddings further, to cosine 0.997
    // here; each is held to sentence-transformers' above.)
    for (at, (attention, first, first_vectors)) in answers.iter().enumerate() {
        let same = answers[at + 1..].iter().filter(|(a, _, _)| a == attention);
        for (_, other, vectors) in same {
            let pairs = vectors.rows().into_iter().zip(first_vectors.rows());
            for (i, (a, b)) in pairs.enumerate() {
                let c = cosine(a, b);
                assert!(c >= 0.999, "sentence {i}: {other} and {first}: cosine {c}");
            }
        }
    }
}

/// The lowest cosine to f32's of an int8 hidden state, at any token of the small random fixture
/// models (0.9917 at worst here, on the one with bf16 weights; 0.9965 on the f32 DistilBERT). Their
/// rows are 51 wide, so a token's quantization error averages over few values: the real MiniLM's
/// figures above are the ones the issue sets.
const INT8_HIDDEN_COSINE: f64 = 0.99;

#[test]
fn hidden_states_stay_close_to_f32_and_a_batch_equals_its_singles() {
    let forward = read_json("forward.json");
    for (name, m) in forward["models"].as_object().unwrap() {
        let dir = m["dir"].as_str().unwrap();
        let seqs: Vec<Vec<u32>> = m["cases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                c["input_ids"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_u64().unwrap() as u32)
                    .collect()
            })
            .collect();
        let refs: Vec<&[u32]> = seqs.iter().map(Vec::as_slice).collect();
        let f32s = load(dir, Dtype::F32, Way::default())
            .forward(&refs)
            .unwrap();
        let int8 = i8_ways()
            .into_iter()
            .map(|way| (Dtype::Int8, way, INT8_HIDDEN_COSINE));
        let bf16 = ways().into_iter().map(|way| (Dtype::Bf16, way, 0.9998));
        for (dtype, way, bound) in bf16.chain(int8) {
            let engine = load(dir, dtype, way);
            let batch = engine.forward(&refs).unwrap();
            let worst = batch
                .states()
                .rows()
                .into_iter()
                .zip(f32s.states().rows())
                .map(|(b, f)| cosine(b, f))
                .fold(1.0, f64::min);
            eprintln!(
                "{name} {}: lowest cosine per token {worst:.7}",
                how(&engine)
            );
            assert!(worst >= bound, "{name} {}: cosine {worst}", how(&engine));
            for (i, seq) in refs.iter().enumerate() {
                let single = engine.forward(&[seq]).unwrap();
                assert_eq!(
                    batch.sequence(i).unwrap(),
                    single.sequence(0).unwrap(),
                    "{name} {}: input {i} in a batch differs from alone",
                    how(&engine)
                );
            }
        }
    }
}

#[test]
fn pairs_where_the_kernels_cannot_multiply_them_are_one_clear_error_at_load() {
    let options = Options {
        dtype: Dtype::Bf16,
        isa: Some(Isa::Scalar),
        bf16_dot: Some(Bf16Dot::Pairs),
        ..Options::default()
    };
    let err = match Engine::load(fixtures().join("models/distilbert-cased"), &options) {
        Ok(_) => panic!("the scalar kernels have no vdpbf16ps"),
        Err(err) => err,
    };
    assert_eq!(err.kind(), distil::ErrorKind::UnsupportedIsa);
    assert_eq!(
        err.to_string(),
        "instruction set: bf16 in pairs (vdpbf16ps) needs the avx512 kernels on a CPU with \
         AVX-512 BF16"
    );
}
