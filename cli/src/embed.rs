//! `distil embed`.

use std::process::ExitCode;

use distil::{Embed, Options, Result};

use super::inputs;

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
    let good: Vec<&str> = inputs
        .iter()
        .filter_map(|i| i.text.as_deref().ok())
        .collect();
    let embeddings = embed.run(&good)?;
    let mut embeddings = embeddings.vectors.rows().into_iter();
    let mut failures = 0;
    for input in &inputs {
        let text = input.text.as_ref().map(|_| embeddings.next());
        match text {
            Ok(Some(v)) if args.json => println!("{}", serde_json::json!(v.to_vec())),
            Ok(Some(v)) => {
                let cells: Vec<String> = v.iter().map(|x| format!("{x:.6}")).collect();
                println!("{}", cells.join(" "));
            }
            Ok(None) | Err(_) => {
                let e = input
                    .text
                    .as_ref()
                    .err()
                    .map_or("no embedding computed", String::as_str);
                failures += 1;
                input.report_failure(e, args.json);
            }
        }
    }
    Ok(super::exit_code(failures))
}
