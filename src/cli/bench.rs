//! `distil bench`: timed forward passes on random token ids.

use std::process::ExitCode;
use std::time::Instant;

use distil::{Error, Options, Result};

#[derive(clap::Args)]
pub struct BenchArgs {
    /// A model directory or a Hugging Face hub id.
    #[arg(long, default_value = "distilbert-base-cased")]
    model: String,
    /// Sequences per forward pass.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=4096))]
    batch: u32,
    /// Tokens per sequence, [CLS] and [SEP] included.
    #[arg(long, default_value_t = 128, value_parser = clap::value_parser!(u32).range(3..))]
    seq: u32,
    /// Stop at the last hidden state (no MLM head).
    #[arg(long, conflicts_with = "full_logits")]
    encoder_only: bool,
    /// Compute the MLM head at every position, as the peers do (default: at the [MASK] only).
    #[arg(long)]
    full_logits: bool,
    /// Timed runs; the first `--warmup` runs are not timed.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    runs: u32,
    #[arg(long, default_value_t = 3)]
    warmup: u32,
    /// Weight dtype to compute with.
    #[arg(long, default_value = "f32", value_parser = ["f32", "bf16"])]
    dtype: String,
    /// One JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(args: BenchArgs, options: &Options) -> Result<ExitCode> {
    if args.dtype != "f32" {
        return Err(Error::input(
            "--dtype bf16: the bf16 compute path is not built yet",
        ));
    }
    let engine = super::load(&args.model, options)?;
    let model = engine.model();
    let tokenizer = engine.tokenizer();
    let (batch, seq) = (args.batch as usize, args.seq as usize);
    if seq > engine.max_length() {
        return Err(Error::input(format!(
            "--seq {seq} is longer than the model's {} positions",
            engine.max_length()
        )));
    }
    let mask_id = tokenizer.mask_id().unwrap_or(tokenizer.unk_id());
    let sequences = random_sequences(
        batch,
        seq,
        model.config().vocab_size,
        |id| tokenizer.is_special(id),
        [tokenizer.cls_id(), mask_id, tokenizer.sep_id()],
    );
    let refs: Vec<&[u32]> = sequences.iter().map(Vec::as_slice).collect();
    let head_rows: Vec<usize> = if args.encoder_only {
        Vec::new()
    } else if args.full_logits {
        (0..batch * seq).collect()
    } else {
        (0..batch).map(|b| b * seq + seq / 2).collect()
    };
    let pass = || -> Result<()> {
        let hidden = model.forward(&refs)?;
        if !head_rows.is_empty() {
            let mut logits = model.mlm_logits(&hidden, &head_rows)?;
            model
                .kernels()
                .softmax_rows(&mut logits, model.config().vocab_size);
        }
        Ok(())
    };
    let mut times = Vec::with_capacity(args.runs as usize);
    engine.install(|| -> Result<()> {
        for _ in 0..args.warmup {
            pass()?;
        }
        for _ in 0..args.runs {
            let start = Instant::now();
            pass()?;
            times.push(start.elapsed().as_secs_f64() * 1e3);
        }
        Ok(())
    })?;
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    let (min, max) = (times[0], times[times.len() - 1]);
    let flops = model.flops(&vec![seq; batch], head_rows.len());
    let gflops = flops / (median * 1e-3) / 1e9;
    let mode = if args.encoder_only {
        "encoder-only"
    } else if args.full_logits {
        "full-logits"
    } else {
        "fill-mask"
    };
    if args.json {
        let doc = serde_json::json!({
            "median_ms": median, "min_ms": min, "max_ms": max, "gflops": gflops,
            "batch": batch, "seq": seq, "threads": engine.threads(), "mode": mode,
            "dtype": args.dtype, "isa": model.kernels().isa().name(), "runs": args.runs,
        });
        println!("{doc}");
    } else {
        println!(
            "{mode} {batch}x{seq}, {} threads, {} kernels: median {median:.2} ms (min {min:.2}, max {max:.2}), {gflops:.1} GFLOP/s",
            engine.threads(),
            model.kernels().isa()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `batch` sequences of `seq` ids: `[CLS]`, random non-special ids with one `[MASK]` in the middle,
/// `[SEP]`. A fixed-seed generator, so every run and every engine sees the same ids.
fn random_sequences(
    batch: usize,
    seq: usize,
    vocab: usize,
    is_special: impl Fn(u32) -> bool,
    [cls, mask, sep]: [u32; 3],
) -> Vec<Vec<u32>> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        // xorshift64*
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize
    };
    (0..batch)
        .map(|_| {
            let mut ids = vec![cls];
            while ids.len() < seq - 1 {
                let id = (next() % vocab) as u32;
                if !is_special(id) {
                    ids.push(id);
                }
            }
            ids[seq / 2] = mask;
            ids.push(sep);
            ids
        })
        .collect()
}
