//! `distil bench`: timed forward passes on random token ids; `distil profile` runs the same
//! workload.

use std::process::ExitCode;
use std::time::Instant;

use distil::model::profile::Profiler;
use distil::{Bf16Dot, Dtype, Engine, Error, I8Dot, Model, Options, Result};

#[derive(clap::Args)]
pub struct BenchArgs {
    /// A model directory or a Hugging Face hub id.
    #[arg(long, default_value = "distilbert-base-cased")]
    pub model: String,
    /// Sequences per forward pass.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub batch: u32,
    /// Tokens per sequence, [CLS] and [SEP] included.
    #[arg(long, default_value_t = 128, value_parser = clap::value_parser!(u32).range(3..))]
    pub seq: u32,
    /// Stop at the last hidden state (no MLM head).
    #[arg(long, conflicts_with = "full_logits")]
    pub encoder_only: bool,
    /// Compute the MLM head at every position, as the peers do (default: at the [MASK] only).
    #[arg(long)]
    pub full_logits: bool,
    /// Timed runs; the first `--warmup` runs are not timed.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    pub runs: u32,
    #[arg(long, default_value_t = 3)]
    pub warmup: u32,
    /// One JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// The token ids of a benchmark and the rows its MLM head is computed at.
pub struct Workload {
    pub sequences: Vec<Vec<u32>>,
    pub head_rows: Vec<usize>,
    pub mode: &'static str,
}

impl Workload {
    /// The workload `args` describe, for the model of `engine`.
    pub fn new(args: &BenchArgs, engine: &Engine) -> Result<Self> {
        let tokenizer = engine.tokenizer();
        let (batch, seq) = (args.batch as usize, args.seq as usize);
        if seq > engine.max_length() {
            return Err(Error::input(format!(
                "--seq {seq} is longer than the model's {} positions",
                engine.max_length()
            )));
        }
        let mask_id = tokenizer.mask_id().unwrap_or(tokenizer.unk_id());
        let specials = [tokenizer.cls_id(), mask_id, tokenizer.sep_id()];
        let vocab = engine.model().config().vocab_size;
        let sequences =
            random_sequences(batch, seq, vocab, |id| tokenizer.is_special(id), specials);
        let (head_rows, mode) = if args.encoder_only {
            (Vec::new(), "encoder-only")
        } else if args.full_logits {
            ((0..batch * seq).collect(), "full-logits")
        } else {
            ((0..batch).map(|b| b * seq + seq / 2).collect(), "fill-mask")
        };
        Ok(Workload {
            sequences,
            head_rows,
            mode,
        })
    }

    /// One forward pass (and the head with its softmax, unless encoder-only).
    pub fn run(&self, model: &Model, prof: &Profiler) -> Result<()> {
        let refs: Vec<&[u32]> = self.sequences.iter().map(Vec::as_slice).collect();
        let hidden = model.forward_profiled(&refs, prof)?;
        if !self.head_rows.is_empty() {
            model.mlm_probabilities_profiled(&hidden, &self.head_rows, prof)?;
        }
        Ok(())
    }

    /// FLOPs of one pass.
    pub fn flops(&self, model: &Model) -> f64 {
        let lens: Vec<usize> = self.sequences.iter().map(Vec::len).collect();
        model.flops(&lens, self.head_rows.len())
    }
}

pub fn run(args: BenchArgs, options: &Options) -> Result<ExitCode> {
    let engine = super::load(&args.model, options)?;
    let model = engine.model();
    let work = Workload::new(&args, &engine)?;
    let (batch, seq) = (args.batch as usize, args.seq as usize);
    let pass = || work.run(model, &Profiler::off());
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
    let flops = work.flops(model);
    let gflops = flops / (median * 1e-3) / 1e9;
    let mode = work.mode;
    if args.json {
        let doc = serde_json::json!({
            "median_ms": median, "min_ms": min, "max_ms": max, "gflops": gflops,
            "batch": batch, "seq": seq, "threads": engine.threads(), "mode": mode,
            "dtype": engine.dtype().name(), "isa": engine.isa().name(),
            "bf16_dot": engine.bf16_dot().map(Bf16Dot::name), "i8_dot": engine.i8_dot().map(I8Dot::name),
            "attention_dtype": engine.attention_dtype().name(),
            "runs": args.runs,
        });
        println!("{doc}");
    } else {
        println!(
            "{mode} {batch}x{seq}, {} threads, {} kernels, {}: median {median:.2} ms (min {min:.2}, max {max:.2}), {gflops:.1} GFLOP/s",
            engine.threads(),
            engine.isa(),
            dtype_label(&engine),
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `f32`, `bf16 (vdpbf16ps)` / `bf16 (widened)` or `int8 (vpdpbusd)` / `int8 (vpdpbusd,
/// attention bf16)` / …: the dtype, how its products are multiplied, and attention's dtype where
/// it is not f32.
pub fn dtype_label(engine: &Engine) -> String {
    let attention = match engine.attention_dtype() {
        Dtype::F32 => String::new(),
        other => format!(", attention {other}"),
    };
    match (engine.bf16_dot(), engine.i8_dot()) {
        (Some(dot), _) => format!("{} ({dot}{attention})", engine.dtype()),
        (None, Some(dot)) => format!("{} ({dot}{attention})", engine.dtype()),
        (None, None) => engine.dtype().to_string(),
    }
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
