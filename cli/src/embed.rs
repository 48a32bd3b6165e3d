//! `distil embed`.

use std::process::ExitCode;

use distil::{Embed, Options, Result};

use super::inputs::{self, Layout};

#[derive(clap::Args)]
pub struct EmbedArgs {
    /// A model directory or a Hugging Face hub id.
    #[arg(long, default_value = "sentence-transformers/all-MiniLM-L6-v2")]
    model: String,
    /// One JSON array of floats per input.
    #[arg(long)]
    json: bool,
    /// Texts; read from standard input, one per line, when absent.
    texts: Vec<String>,
}

pub fn run(args: EmbedArgs, options: &Options) -> Result<ExitCode> {
    let inputs = inputs::read(args.texts).map_err(distil::Error::input)?;
    let engine = super::load(&args.model, options)?;
    let embed = Embed::new(&engine)?;
    let embeddings = embed.run(&inputs::texts(&inputs))?;
    let answers = embeddings
        .vectors
        .rows()
        .into_iter()
        .zip(embeddings.truncated)
        .map(Ok::<_, String>);
    let layout = Layout::json_or(args.json, Layout::Lines);
    Ok(inputs::answer_each(
        &inputs,
        answers,
        layout,
        |input, (v, truncated)| {
            if truncated > 0 {
                eprintln!(
                    "distil: warning: {}: truncated to {} tokens ({truncated} word pieces cut)",
                    input.name,
                    embed.max_length()
                );
            }
            if args.json {
                println!("{}", serde_json::json!(v.to_vec()));
            } else {
                let cells: Vec<String> = v.iter().map(|x| format!("{x:.6}")).collect();
                println!("{}", cells.join(" "));
            }
        },
    ))
}
