//! `distil ner`.

use std::process::ExitCode;

use distil::{Aggregation, Entity, Error, Ner, NerOutput, Options, Result};

use super::inputs::{self, Input, Layout};

#[derive(clap::Args)]
pub struct NerArgs {
    /// A model directory or a Hugging Face hub id (a token classifier).
    #[arg(long, default_value = "dslim/bert-base-NER")]
    model: String,
    /// How tokens become entities, as the pipeline's aggregation_strategy.
    #[arg(long, default_value = "none", value_parser = ["none", "simple", "first", "average", "max"])]
    aggregation: String,
    /// One JSON document per input: the pipeline's list of entities.
    #[arg(long)]
    json: bool,
    /// Texts; read from standard input, one per line, when absent.
    texts: Vec<String>,
}

pub fn run(args: NerArgs, options: &Options) -> Result<ExitCode> {
    let inputs = inputs::read(args.texts).map_err(Error::input)?;
    let engine = super::load(&args.model, options)?;
    let aggregation = Aggregation::from_name(&args.aggregation).unwrap_or_default();
    // A model without a token classifier is one error, not one per input.
    let ner = Ner::new(&engine, aggregation)?;
    let answers = ner.run(&inputs::texts(&inputs));
    let layout = Layout::json_or(args.json, Layout::Blocks);
    Ok(inputs::answer_each(
        &inputs,
        answers,
        layout,
        |input, answer| {
            inputs::warn_truncated(input, engine.max_length(), answer.truncated);
            if args.json {
                println!("{}", answer.to_json());
            } else {
                print_table(input, &answer);
            }
        },
    ))
}

fn print_table(input: &Input, answer: &NerOutput) {
    println!("{}", input.text.as_deref().unwrap_or(""));
    for entity in &answer.entities {
        let (label, score, word, start, end) = match entity {
            Entity::Token {
                entity,
                score,
                word,
                start,
                end,
                ..
            } => (entity, score, word, start, end),
            Entity::Group {
                entity_group,
                score,
                word,
                start,
                end,
            } => (entity_group, score, word, start, end),
        };
        println!("  {label:<8} {score:>7.4}  {start:>4}..{end:<4}  {word}");
    }
    println!();
}
