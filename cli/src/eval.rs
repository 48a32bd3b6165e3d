//! `distil eval`: fill-mask on a mask-filling dataset, with a progress bar and a summary.

mod shard;

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use distil::pipelines::evaluate::{self, MaskResult, Outcome, Row, Summary, Totals};
use distil::{Engine, Error, Evaluate, Options, Result};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use shard::{Partial, Shard};

#[derive(clap::Args)]
pub struct EvalArgs {
    /// A model directory or a Hugging Face hub id.
    #[arg(long, default_value = "distilbert-base-cased")]
    model: String,
    /// The dataset as JSON lines, plain or `.xz`.
    #[arg(long, conflicts_with = "dataset", required_unless_present_any = ["dataset", "merge"])]
    data: Option<PathBuf>,
    /// A hub dataset to fetch instead (its file `data/{config}.jsonl.xz`).
    #[arg(long)]
    dataset: Option<String>,
    /// The dataset's configuration, with --dataset.
    #[arg(long, default_value = "original_512")]
    config: String,
    /// Evaluate the first N rows only.
    #[arg(long)]
    limit: Option<usize>,
    /// A mask counts for top-k accuracy if its gold token is among the K most likely.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..))]
    top_k: u16,
    /// Rows per batch of forward passes.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..))]
    batch: u16,
    /// Print the summary as one JSON object.
    #[arg(long)]
    json: bool,
    /// Write each row's predictions, beside its gold spans, to this file (JSON lines).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Evaluate shard K of N only (every N-th row from row K, from 0) and print its totals as JSON,
    /// for `--merge`.
    #[arg(long, value_parser = shard::parse)]
    shard: Option<Shard>,
    /// Add up the totals that `--shard` runs printed into one summary, the one a single run gives.
    #[arg(long, num_args = 1.., conflicts_with_all = ["data", "dataset", "shard", "out", "limit"])]
    merge: Vec<PathBuf>,
}

pub fn run(args: EvalArgs, options: &Options) -> Result<ExitCode> {
    if !args.merge.is_empty() {
        let (totals, top_k, window_tokens, seconds) = shard::merge(&args.merge)?;
        report(&totals.summary(top_k, window_tokens, seconds), args.json);
        return Ok(ExitCode::SUCCESS);
    }
    let path = match (&args.data, &args.dataset) {
        (Some(path), _) => path.clone(),
        (None, Some(id)) => {
            distil::hub::dataset_file(id, &format!("data/{}.jsonl.xz", args.config))?
        }
        (None, None) => return Err(Error::input("give --data FILE or --dataset ID")),
    };
    let engine = super::load(&args.model, options)?;
    let top_k = usize::from(args.top_k);
    let evaluate = Evaluate::new(&engine, top_k)?;
    let (mut lines, progress, decoder) = open(&path)?;
    let mut out = match &args.out {
        Some(p) => Some(BufWriter::new(
            File::create(p).map_err(|e| Error::io_error(p, e))?,
        )),
        None => None,
    };
    let interrupted = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&interrupted);
    // If a handler cannot be installed, Ctrl-C ends the process as usual, without a summary.
    let _ = ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst));

    let limit = args.limit.unwrap_or(usize::MAX);
    let mut totals = Totals::default();
    let start = Instant::now();
    let mut line_no = 0;
    let mut read = 0;
    let mut buf = Vec::new();
    let name = path.display().to_string();
    'rows: loop {
        // Up to --batch rows, with their line numbers.
        let mut batch: Vec<(usize, Vec<u8>)> = Vec::new();
        while batch.len() < usize::from(args.batch) && read < limit {
            buf.clear();
            let n = lines
                .read_until(b'\n', &mut buf)
                .map_err(|e| Error::io_error(&path, e))?;
            if n == 0 {
                break;
            }
            line_no += 1;
            if evaluate::is_blank(&buf) {
                continue;
            }
            let row = read;
            read += 1;
            if args.shard.is_none_or(|shard| shard.takes(row)) {
                batch.push((line_no, buf.clone()));
            }
        }
        if batch.is_empty() {
            break;
        }
        let lines: Vec<&[u8]> = batch.iter().map(|(_, line)| line.as_slice()).collect();
        let outcomes = evaluate.lines(&lines)?;
        for (&(line, _), outcome) in batch.iter().zip(&outcomes) {
            totals.add(line, outcome, top_k);
            match outcome {
                Outcome::Skipped(reason) => {
                    progress.suspend(|| eprintln!("distil: {name}:{line}: row skipped: {reason}"))
                }
                Outcome::Scored { row, masks } => {
                    if let Some(out) = out.as_mut() {
                        let record = prediction_line(&engine, line, row, masks);
                        writeln!(out, "{record}").map_err(|e| out_error(&args.out, e))?;
                    }
                }
            }
        }
        let seconds = start.elapsed().as_secs_f64();
        progress.set_message(format!(
            "{} rows, {} masks, {:.1} rows/s, {:.1} masks/s",
            totals.rows,
            totals.masks,
            totals.rows as f64 / seconds,
            totals.masks as f64 / seconds
        ));
        if interrupted.load(Ordering::SeqCst) {
            break 'rows;
        }
    }
    progress.finish_and_clear();
    drop(lines);
    if let Some(decoder) = decoder {
        if !interrupted.load(Ordering::SeqCst) && read < limit {
            match decoder.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(Error::input(format!("{name}: {e}"))),
                Err(_) => return Err(Error::input(format!("{name}: the .xz decoder failed"))),
            }
        }
    }
    if let Some(mut out) = out {
        out.flush().map_err(|e| out_error(&args.out, e))?;
    }
    let seconds = start.elapsed().as_secs_f64();
    let interrupted = interrupted.load(Ordering::SeqCst);
    if let Some(shard) = args.shard {
        if interrupted {
            // Partial totals of a partial shard would merge into a wrong summary.
            return Err(Error::input(format!(
                "shard {}/{} interrupted: its totals are not printed",
                shard.index, shard.count
            )));
        }
        let window_tokens = engine.max_length();
        let partial = Partial {
            shard,
            top_k,
            window_tokens,
            seconds,
            totals,
        };
        println!("{}", serde_json::to_string(&partial).unwrap_or_default());
        return Ok(ExitCode::SUCCESS);
    }
    let mut summary = totals.summary(top_k, engine.max_length(), seconds);
    summary.interrupted = interrupted;
    report(&summary, args.json);
    Ok(if summary.interrupted {
        ExitCode::from(130)
    } else {
        ExitCode::SUCCESS
    })
}

/// The data's lines, a progress bar over the bytes of the file, and for `.xz` the thread that
/// decompresses it into a pipe (so that rows stream: the file is never held decompressed).
type Opened = (
    Box<dyn BufRead>,
    ProgressBar,
    Option<JoinHandle<std::io::Result<()>>>,
);

fn open(path: &Path) -> Result<Opened> {
    let file = File::open(path).map_err(|e| Error::io_error(path, e))?;
    let len = file.metadata().map_err(|e| Error::io_error(path, e))?.len();
    let progress = ProgressBar::new(len).with_style(
        ProgressStyle::with_template("{bar:30} {percent:>3}% {msg} (ETA {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let raw = progress.wrap_read(file);
    if path.extension().is_some_and(|e| e == "xz") {
        let (reader, writer) = std::io::pipe().map_err(|e| Error::io_error(path, e))?;
        let decoder = std::thread::spawn(move || {
            let mut input = BufReader::new(raw);
            let mut output = BufWriter::new(writer);
            lzma_rs::xz_decompress(&mut input, &mut output)
                .map_err(|e| std::io::Error::other(format!("not a valid .xz file: {e}")))?;
            output.flush()
        });
        Ok((Box::new(BufReader::new(reader)), progress, Some(decoder)))
    } else {
        Ok((Box::new(BufReader::new(raw)), progress, None))
    }
}

fn out_error(path: &Option<PathBuf>, e: std::io::Error) -> Error {
    Error::io_error(path.as_deref().unwrap_or(Path::new("--out")), e)
}

/// One `--out` line: the row's predictions per mask beside its gold spans.
fn prediction_line(engine: &Engine, line: usize, row: &Row, masks: &[MaskResult]) -> String {
    let tokenizer = engine.tokenizer();
    let masks: Vec<_> = masks
        .iter()
        .map(|m| {
            json!({
                "gold": m.gold,
                "gold_token": m.gold_token.as_ref().ok().map(|&t| tokenizer.decode_token(t)),
                "rank": m.score.map(|s| s.rank),
                "log_prob": m.score.map(|s| s.log_prob),
                "window": [m.window.start, m.window.end],
                "predictions": m.predictions.iter().map(|&(token, score)| json!({
                    "token": token,
                    "token_str": tokenizer.decode_token(token),
                    "score": score,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({ "line": line, "id": row.id, "masks": masks }).to_string()
}

/// The summary as one JSON object (`--json`) or as a table.
fn report(summary: &Summary, json: bool) {
    if json {
        println!("{}", serde_json::to_string(summary).unwrap_or_default());
    } else {
        print_table(summary);
    }
}

fn print_table(s: &Summary) {
    let figure =
        |v: Option<f64>, digits: usize| v.map_or("-".to_owned(), |v| format!("{v:.digits$}"));
    println!(
        "rows            {} evaluated, {} skipped",
        s.rows, s.skipped.rows
    );
    println!(
        "masks           {} scored, {} skipped; {} predicted from {}-token windows of longer texts",
        s.masks, s.skipped.masks, s.windowed_masks, s.window_tokens
    );
    println!("top-1 accuracy  {}", figure(s.top1_accuracy, 4));
    println!("top-{} accuracy  {}", s.top_k, figure(s.topk_accuracy, 4));
    println!("perplexity      {}", figure(s.perplexity, 3));
    println!(
        "throughput      {:.1} rows/s, {:.1} masks/s ({:.1} s)",
        s.rows_per_second, s.masks_per_second, s.seconds
    );
    for (reason, n) in s
        .skipped
        .rows_by_reason
        .iter()
        .chain(&s.skipped.masks_by_reason)
    {
        println!("skipped         {n} × {reason}");
    }
    if s.interrupted {
        println!("interrupted     (Ctrl-C): the figures cover the rows done so far");
    }
}
