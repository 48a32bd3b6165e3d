//! `distil profile`: where the time of a forward pass goes, per operation, beside the machine's
//! measured FP32 peak (the share of it only for the operations that compute in f32: under
//! `--dtype bf16` or `int8` the linear layers' GFLOP/s stand alone, and so do attention's where
//! it multiplies bf16 pairs). Profiled passes are not split by sequences or rows between the threads (see
//! `Model::forward`), so that each operation's time is its own: `distil bench` times the split
//! schedule, which can be faster from 128 tokens up.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use distil::model::profile::{Op, OpTotal, Profiler};
use distil::{Dtype, Error, Options, Result};
use distil_kernels::{peak, Kernels};

use super::bench::{BenchArgs, Workload};

#[derive(clap::Args)]
pub struct ProfileArgs {
    #[command(flatten)]
    bench: BenchArgs,
    /// Also draw the breakdown as an SVG bar chart into this file.
    #[arg(long)]
    svg: Option<PathBuf>,
}

pub fn run(args: ProfileArgs, options: &Options) -> Result<ExitCode> {
    let engine = super::load(&args.bench.model, options)?;
    let model = engine.model();
    let work = Workload::new(&args.bench, &engine)?;
    let threads = engine.threads();
    let peak = peak::fma_gflops(Kernels::force(engine.isa())?, threads, 0.2);
    let prof = Profiler::on();
    let mut wall = 0.0;
    engine.install(|| -> Result<()> {
        for _ in 0..args.bench.warmup {
            work.run(model, &Profiler::off())?;
        }
        let start = Instant::now();
        for _ in 0..args.bench.runs {
            work.run(model, &prof)?;
        }
        wall = start.elapsed().as_secs_f64();
        Ok(())
    })?;
    let runs = args.bench.runs as f64;
    let totals: Vec<(Op, OpTotal)> = prof.totals();
    let timed: f64 = totals.iter().map(|(_, t)| t.seconds).sum();
    println!(
        "{} {}x{}, {threads} threads, {} kernels, {}, operations in turn; measured FP32 peak {peak:.0} GFLOP/s; {:.2} ms per pass ({} passes)",
        work.mode,
        args.bench.batch,
        args.bench.seq,
        engine.isa(),
        crate::bench::dtype_label(&engine),
        wall / runs * 1e3,
        args.bench.runs
    );
    println!(
        "{:<32} {:>9} {:>7} {:>9} {:>7}",
        "operation", "ms", "share", "GFLOP/s", "% peak"
    );
    for (op, t) in &totals {
        if t.seconds == 0.0 {
            continue;
        }
        let ms = t.seconds / runs * 1e3;
        let gflops = t.flops / t.seconds / 1e9;
        // An int8 or bf16 linear layer, or attention in bf16 pairs, has a peak of its own, which
        // this does not measure.
        let f32_op = match op {
            Op::Attention => engine.attention_dtype() == Dtype::F32,
            op => engine.dtype() == Dtype::F32 || !op.is_linear(),
        };
        let (g, p) = if t.flops > 0.0 && f32_op {
            (
                format!("{gflops:.1}"),
                format!("{:.0}%", gflops / peak * 100.0),
            )
        } else if t.flops > 0.0 {
            (format!("{gflops:.1}"), "-".to_string())
        } else {
            ("-".to_string(), "-".to_string())
        };
        println!(
            "{:<32} {ms:>9.3} {:>6.1}% {g:>9} {p:>7}",
            op.name(),
            t.seconds / timed * 100.0
        );
    }
    let other = (wall - timed).max(0.0) / runs * 1e3;
    println!("{:<32} {other:>9.3}", "(untimed: scratch, batching)");
    if let Some(path) = &args.svg {
        std::fs::write(path, svg(&totals, runs)).map_err(|e| Error::io_error(path, e))?;
        eprintln!("distil: wrote {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// A horizontal bar per operation, its length the milliseconds per pass.
fn svg(totals: &[(Op, OpTotal)], runs: f64) -> String {
    let rows: Vec<(&str, f64)> = totals
        .iter()
        .filter(|(_, t)| t.seconds > 0.0)
        .map(|(op, t)| (op.name(), t.seconds / runs * 1e3))
        .collect();
    let max = rows.iter().map(|r| r.1).fold(f64::MIN_POSITIVE, f64::max);
    let (label_w, bar_w, row_h) = (250.0, 400.0, 22.0);
    let height = row_h * rows.len() as f64 + 10.0;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{height}" font-family="sans-serif" font-size="12">"#,
        label_w + bar_w + 80.0
    );
    for (i, (name, ms)) in rows.iter().enumerate() {
        let y = 5.0 + i as f64 * row_h;
        let w = ms / max * bar_w;
        let _ = writeln!(
            out,
            r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#,
            label_w - 6.0,
            y + 15.0,
            escape(name)
        );
        let _ = writeln!(
            out,
            r##"<rect x="{label_w}" y="{}" width="{w:.1}" height="{}" fill="#4e79a7"/>"##,
            y + 3.0,
            row_h - 6.0
        );
        let _ = writeln!(
            out,
            r#"<text x="{}" y="{}">{ms:.2} ms</text>"#,
            label_w + w + 4.0,
            y + 15.0
        );
    }
    out.push_str("</svg>\n");
    out
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
