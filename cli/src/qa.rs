//! `distil qa`.

use std::process::ExitCode;

use distil::{Error, Options, Qa, QaOptions, QaOutput, Question, Result};
use serde_json::Value;

use super::inputs::{self, Input, Layout};

#[derive(clap::Args)]
pub struct QaArgs {
    /// A model directory or a Hugging Face hub id (an extractive question-answering model).
    #[arg(long, default_value = "distilbert-base-cased-distilled-squad")]
    model: String,
    /// Answers per question, best first.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    top_k: u32,
    /// Longest answer, in tokens.
    #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(u32).range(1..))]
    max_answer_len: u32,
    /// Context tokens shared by consecutive windows of a long context (default: min(window / 2, 128)).
    #[arg(long)]
    doc_stride: Option<usize>,
    /// Tokens per window (default: min(the model's length, 384)).
    #[arg(long)]
    max_seq_len: Option<usize>,
    /// Also offer the empty answer, scored by how likely the model finds no answer.
    #[arg(long)]
    handle_impossible_answer: bool,
    /// One JSON document per input, in the pipeline's format.
    #[arg(long)]
    json: bool,
    /// Questions as JSON objects {"question": …, "context": …}; read from standard input, one
    /// per line, when absent.
    inputs: Vec<String>,
}

pub fn run(args: QaArgs, options: &Options) -> Result<ExitCode> {
    let inputs = inputs::read(args.inputs).map_err(Error::input)?;
    let engine = super::load(&args.model, options)?;
    let top_k = args.top_k as usize;
    // A model without the head is one error, not one per input.
    let qa = Qa::new(
        &engine,
        QaOptions {
            top_k,
            max_answer_len: args.max_answer_len as usize,
            max_seq_len: args.max_seq_len,
            doc_stride: args.doc_stride,
            handle_impossible_answer: args.handle_impossible_answer,
        },
    )?;
    let parsed: Vec<Result<(String, String)>> =
        inputs::texts(&inputs).into_iter().map(parse).collect();
    let answers = inputs::run_parsed(parsed, |ok| {
        let questions: Vec<Question<'_>> = ok
            .iter()
            .map(|(question, context)| Question { question, context })
            .collect();
        qa.run(&questions)
    });
    let layout = Layout::json_or(args.json, Layout::Blocks);
    Ok(inputs::answer_each(
        &inputs,
        answers,
        layout,
        |input, answer| {
            if args.json {
                println!("{}", answer.to_json(top_k));
            } else {
                print_table(input, &answer);
            }
        },
    ))
}

/// A line's question and context.
fn parse(line: &str) -> Result<(String, String)> {
    let value: Value =
        serde_json::from_str(line).map_err(|e| Error::input(format!("not JSON: {e}")))?;
    let field = |name: &str| match value.get(name) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(Error::input(format!("\"{name}\" must be a string"))),
        None => Err(Error::input(format!(
            "no \"{name}\": each line is {{\"question\": …, \"context\": …}}"
        ))),
    };
    Ok((field("question")?, field("context")?))
}

fn print_table(input: &Input, answer: &QaOutput) {
    let question = input
        .text
        .as_deref()
        .ok()
        .and_then(|line| parse(line).ok())
        .map(|(q, _)| q)
        .unwrap_or_default();
    println!("{question}");
    for a in &answer.answers {
        println!(
            "  {:>8.4}  {:>5}..{:<5}  {}",
            a.score, a.start, a.end, a.answer
        );
    }
    println!();
}
