//! `distil quantize`.

use std::path::PathBuf;
use std::process::ExitCode;

use distil::quantize::{quantize_dir, sensitivity};
use distil::{hub, Error, Options, Result};

#[derive(clap::Args)]
pub struct QuantizeArgs {
    /// A model directory or a Hugging Face hub id.
    #[arg(long, default_value = "distilbert-base-cased")]
    model: String,
    /// Where to write the int8 model (a directory; created if needed).
    #[arg(long)]
    out: PathBuf,
    /// A linear layer to keep as it is, by its weight key (as the calibration table names it);
    /// repeat for several.
    #[arg(long, value_name = "KEY")]
    keep: Vec<String>,
    /// Texts, one per line, on which to measure each layer's sensitivity first: quantized alone,
    /// how far it moves the last hidden states and the MLM head's top-1 from f32's.
    #[arg(long, value_name = "FILE")]
    calibrate: Option<PathBuf>,
}

pub fn run(args: QuantizeArgs, options: &Options) -> Result<ExitCode> {
    let dir = hub::resolve(&args.model)?;
    if let Some(path) = &args.calibrate {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io_error(path, e))?;
        let texts: Vec<String> = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(String::from)
            .collect();
        if texts.is_empty() {
            return Err(Error::input(format!(
                "{}: no texts to calibrate on",
                path.display()
            )));
        }
        println!(
            "int8 sensitivity on {} texts, one layer quantized at a time (then all), against f32:",
            texts.len()
        );
        println!(
            "{:<60} {:>10} {:>10} {:>8}",
            "layer", "min cos", "mean cos", "top-1"
        );
        for s in sensitivity(&dir, &texts, options)? {
            let top1 = s
                .top1_agreement
                .map_or("-".to_string(), |a| format!("{:.2}%", 100.0 * a));
            println!(
                "{:<60} {:>10.6} {:>10.6} {:>8}",
                s.layer, s.min_cosine, s.mean_cosine, top1
            );
        }
    }
    let done = quantize_dir(&dir, &args.out, &args.keep, options)?;
    println!(
        "{}: {} linear layers in int8{}",
        args.out.join("model.safetensors").display(),
        done.int8.len(),
        if done.kept.is_empty() {
            String::new()
        } else {
            format!(", kept: {}", done.kept.join(", "))
        }
    );
    Ok(ExitCode::SUCCESS)
}
