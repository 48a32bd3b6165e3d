//! `distil classify`.

use std::process::ExitCode;

use distil::{
    Classification, Classify, ClassifyInput, ClassifyOptions, Error, Options, Result, ScoreFunction,
};

use super::inputs::{self, Input, Layout};

#[derive(clap::Args)]
pub struct ClassifyArgs {
    /// A model directory or a Hugging Face hub id (a sequence classifier or a cross-encoder).
    #[arg(
        long,
        default_value = "distilbert-base-uncased-finetuned-sst-2-english"
    )]
    model: String,
    /// Labels per input, best first.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..), conflicts_with = "all")]
    top_k: u32,
    /// Every label, best first.
    #[arg(long)]
    all: bool,
    /// How logits become scores (default: sigmoid for one label or multi-label models, softmax
    /// for the others, as the pipeline chooses).
    #[arg(long, value_parser = ["softmax", "sigmoid", "none"])]
    function: Option<String>,
    /// Each input is a pair of texts, `text<TAB>text_pair` (NLI, paraphrase, STS-B).
    #[arg(long)]
    pair: bool,
    /// One JSON document per input: the pipeline's list of {"label", "score"}.
    #[arg(long)]
    json: bool,
    /// Texts (or pairs with --pair); read from standard input, one per line, when absent.
    texts: Vec<String>,
}

pub fn run(args: ClassifyArgs, options: &Options) -> Result<ExitCode> {
    let inputs = inputs::read(args.texts).map_err(Error::input)?;
    let engine = super::load(&args.model, options)?;
    let function = args.function.as_deref().map(|f| match f {
        "softmax" => ScoreFunction::Softmax,
        "sigmoid" => ScoreFunction::Sigmoid,
        _ => ScoreFunction::None,
    });
    let top_k = (!args.all).then_some(args.top_k as usize);
    // A model without a classifier is one error, not one per input.
    let classify = Classify::new(&engine, ClassifyOptions { top_k, function })?;
    let texts = inputs::texts(&inputs);
    let parsed: Vec<Result<ClassifyInput<'_>>> = texts
        .iter()
        .map(|&text| match (args.pair, text.split_once('\t')) {
            (false, _) => Ok(ClassifyInput::Text(text)),
            (true, Some((a, b))) => Ok(ClassifyInput::Pair(a, b)),
            (true, None) => Err(Error::input(
                "a pair needs a tab between its two texts (text<TAB>text_pair)",
            )),
        })
        .collect();
    let answers = inputs::run_parsed(parsed, |ok| {
        classify.run(&ok.iter().map(|&&input| input).collect::<Vec<_>>())
    });
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

fn print_table(input: &Input, answer: &Classification) {
    println!(
        "{}",
        input.text.as_deref().unwrap_or("").replace('\t', "  |  ")
    );
    for label in &answer.labels {
        println!("  {:>10.4}  {}", label.score, label.label);
    }
    println!();
}
