//! `distil rerank`.

use std::process::ExitCode;

use distil::{Error, Options, Rerank, Result};

use super::inputs;

#[derive(clap::Args)]
pub struct RerankArgs {
    /// A model directory or a Hugging Face hub id (a cross-encoder: a classifier of one label).
    #[arg(long, default_value = "cross-encoder/ms-marco-MiniLM-L-6-v2")]
    model: String,
    /// What the texts are ranked against.
    #[arg(long)]
    query: String,
    /// Scores are the logits, not their sigmoid.
    #[arg(long)]
    raw_scores: bool,
    /// One JSON document: a list of {"index", "score"}, best first (indices into the texts, from 0).
    #[arg(long)]
    json: bool,
    /// Texts to rank; read from standard input, one per line, when absent.
    texts: Vec<String>,
}

pub fn run(args: RerankArgs, options: &Options) -> Result<ExitCode> {
    let inputs = inputs::read(args.texts).map_err(Error::input)?;
    let engine = super::load(&args.model, options)?;
    let rerank = Rerank::new(&engine, args.raw_scores)?;
    // A line that cannot be read is reported and left out; the others keep their indices.
    let mut failed = false;
    let mut readable: Vec<(usize, &str)> = Vec::new();
    for (index, input) in inputs.iter().enumerate() {
        match &input.text {
            Ok(text) => readable.push((index, text)),
            Err(e) => {
                eprintln!("distil: {}: {e}", input.name);
                failed = true;
            }
        }
    }
    let texts: Vec<&str> = readable.iter().map(|&(_, text)| text).collect();
    let mut ranked = rerank.rank(&args.query, &texts)?;
    for r in &mut ranked {
        r.index = readable[r.index].0;
    }
    if args.json {
        // Serialising integers and floats cannot fail (a NaN score becomes null).
        println!("{}", serde_json::to_string(&ranked).unwrap_or_default());
    } else {
        println!("{}", args.query);
        for r in &ranked {
            let text = inputs[r.index].text.as_deref().unwrap_or("");
            println!("  {:>9.4}  {:>4}  {text}", r.score, r.index);
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
