//! `distil`, the command line: `fill-mask`, `tokenize`, `embed`, `eval`, `bench`, `profile`,
//! `serve` and `quantize`, each a thin client of the `distil` library.
//!
//! `main` only calls `run`, prints its error on one line and exits non-zero.
mod bench;
mod classify;
mod embed;
mod eval;
mod fill_mask;
mod inputs;
mod ner;
mod profile;
mod qa;
mod quantize;
mod rerank;
mod serve;
mod tokenize;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use distil::{Bf16Dot, Dtype, Engine, Error, I8Dot, Isa, Options, Result};

/// A from-scratch transformer inference engine: DistilBERT fill-mask and BERT sentence embeddings.
#[derive(Parser)]
#[command(name = "distil", version, about)]
struct Args {
    /// Worker threads for the forward pass (default: one per core).
    #[arg(long, global = true)]
    threads: Option<usize>,
    /// What the linear layers compute in: f32 (Hugging Face's numbers), bf16 (weights rounded
    /// to bf16 at load; AVX-512 BF16 where the CPU has it) or int8 (weights per output channel,
    /// activations per token; AMX or VNNI where the CPU has them).
    #[arg(long, global = true, default_value = "f32")]
    dtype: Dtype,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Predict the tokens behind each [MASK], as Hugging Face's fill-mask pipeline does.
    FillMask(fill_mask::FillMaskArgs),
    /// Label each text or pair of texts, as Hugging Face's text-classification pipeline does.
    Classify(classify::ClassifyArgs),
    /// Tag named entities in each text, as Hugging Face's token-classification pipeline does.
    Ner(ner::NerArgs),
    /// Answer questions from a context (JSON lines), as Hugging Face's question-answering pipeline does.
    Qa(qa::QaArgs),
    /// Rank texts against a query with a cross-encoder, as sentence-transformers' CrossEncoder.rank.
    Rerank(rerank::RerankArgs),
    /// Print the token ids of each text ([CLS] … [SEP], no truncation).
    Tokenize(tokenize::TokenizeArgs),
    /// Print a sentence embedding per text (pooled and normalised as sentence-transformers does).
    Embed(embed::EmbedArgs),
    /// Evaluate fill-mask on a mask-filling dataset (accuracy, perplexity, throughput).
    Eval(eval::EvalArgs),
    /// Time forward passes on random token ids (median, min, max, GFLOP/s).
    Bench(bench::BenchArgs),
    /// Time each operation of a forward pass (same workload options as bench).
    Profile(profile::ProfileArgs),
    /// Serve fill-mask and embeddings over HTTP (Azure ML, Hugging Face and TEI request shapes).
    Serve(serve::ServeArgs),
    /// Write a model with its linear layers in int8, read in place at load (`--dtype int8`).
    Quantize(quantize::QuantizeArgs),
}

/// Runs the command; `Err` is a failure before any input was processed.
fn run(args: Args) -> Result<ExitCode> {
    let options = Options {
        threads: args.threads,
        isa: pinned(
            "DISTIL_ISA",
            Isa::from_name,
            "unknown instruction set (expected scalar, avx2 or avx512)",
        )?,
        dtype: args.dtype,
        bf16_dot: pinned(
            "DISTIL_BF16_DOT",
            Bf16Dot::from_name,
            "unknown way (expected vdpbf16ps or widened)",
        )?,
        i8_dot: pinned(
            "DISTIL_I8_DOT",
            I8Dot::from_name,
            "unknown way (expected tdpbusd, vpdpbusd, vpmaddubsw or scalar)",
        )?,
        ..Options::default()
    };
    match args.command {
        Command::FillMask(a) => fill_mask::run(a, &options),
        Command::Classify(a) => classify::run(a, &options),
        Command::Ner(a) => ner::run(a, &options),
        Command::Qa(a) => qa::run(a, &options),
        Command::Rerank(a) => rerank::run(a, &options),
        Command::Tokenize(a) => tokenize::run(a),
        Command::Embed(a) => embed::run(a, &options),
        Command::Eval(a) => eval::run(a, &options),
        Command::Bench(a) => bench::run(a, &options),
        Command::Profile(a) => profile::run(a, &options),
        Command::Serve(a) => serve::run(a, &options),
        Command::Quantize(a) => quantize::run(a, &options),
    }
}

/// What the environment variable `var` pins, if set, parsed by `parse`; `unknown` says what it
/// names and what it expects, for the error. `DISTIL_ISA` (the kernels' instruction set),
/// `DISTIL_BF16_DOT` (how bf16 weights are multiplied) and `DISTIL_I8_DOT` (how int8 bytes are)
/// pin one kernel path for tests and benchmarks.
fn pinned<T>(var: &str, parse: fn(&str) -> Option<T>, unknown: &str) -> Result<Option<T>> {
    match std::env::var(var) {
        Ok(name) if !name.is_empty() => match parse(&name) {
            Some(value) => Ok(Some(value)),
            None => Err(Error::input(format!("{var}={name:?}: {unknown}"))),
        },
        _ => Ok(None),
    }
}

/// Finds and loads `model` (a directory or a hub id).
fn load(model: &str, options: &Options) -> Result<Engine> {
    Engine::from_pretrained(model, options)
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("distil: {err}");
            ExitCode::FAILURE
        }
    }
}
