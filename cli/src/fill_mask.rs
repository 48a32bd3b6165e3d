//! `distil fill-mask`.

use std::process::ExitCode;

use distil::{FillMask, FillMaskOptions, FillMaskOutput, Options, Result};

use super::inputs::{self, Input, Layout};

#[derive(clap::Args)]
pub struct FillMaskArgs {
    /// A model directory or a Hugging Face hub id.
    #[arg(long, default_value = "distilbert-base-cased")]
    model: String,
    /// Candidates per mask.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    top_k: u32,
    /// Only score these words (comma-separated), as the pipeline's `targets`.
    #[arg(long, value_delimiter = ',')]
    targets: Option<Vec<String>>,
    /// One JSON document per input, in the Hugging Face pipeline's format.
    #[arg(long)]
    json: bool,
    /// Texts with one or more [MASK]; read from standard input, one per line, when absent.
    texts: Vec<String>,
}

/// How many unusable targets the warning names (it gives the count of all of them).
const NAMED_TARGETS: usize = 10;

pub fn run(args: FillMaskArgs, options: &Options) -> Result<ExitCode> {
    let inputs = inputs::read(args.texts).map_err(distil::Error::input)?;
    let engine = super::load(&args.model, options)?;
    let targets = match &args.targets {
        None => None,
        Some(words) => {
            let (ids, notes) = FillMask::target_ids(&engine, words)?;
            if let Some(summary) = notes.summary(NAMED_TARGETS) {
                eprintln!("distil: warning: {summary}");
            }
            Some(ids)
        }
    };
    // A model that cannot fill masks is one error, not one per input.
    let fill_mask = FillMask::new(
        &engine,
        FillMaskOptions {
            top_k: args.top_k as usize,
            targets,
        },
    )?;
    let answers = fill_mask.run(&inputs::texts(&inputs));
    let layout = Layout::json_or(args.json, Layout::Blocks);
    Ok(inputs::answer_each(
        &inputs,
        answers,
        layout,
        |input, answer| {
            warn_truncation(input, &answer, engine.max_length());
            if args.json {
                println!("{}", answer.to_json());
            } else {
                print_table(input, &answer);
            }
        },
    ))
}

fn warn_truncation(input: &Input, answer: &FillMaskOutput, max_length: usize) {
    inputs::warn_truncated(input, max_length, answer.truncated);
    if answer.masks_cut > 0 {
        eprintln!(
            "distil: warning: {}: {} [MASK] beyond the {max_length}-token limit not predicted",
            input.name, answer.masks_cut
        );
    }
}

fn print_table(input: &Input, answer: &FillMaskOutput) {
    println!("{}", input.text.as_deref().unwrap_or(""));
    let several = answer.masks.len() > 1;
    for (m, candidates) in answer.masks.iter().enumerate() {
        if several {
            println!("  [MASK] {} of {}", m + 1, answer.masks.len());
        }
        println!("  {:>8}  {:<16} sequence", "score", "token");
        for c in candidates {
            println!("  {:>8.4}  {:<16} {}", c.score, c.token_str, c.sequence);
        }
    }
    println!();
}
