//! `distil serve`.

use std::process::ExitCode;
use std::time::Duration;

use distil::{Error, Options, Result};
use distil_cli::server::{serve, ServeConfig};

#[derive(clap::Args)]
pub struct ServeArgs {
    /// A model directory or a Hugging Face hub id [default: $AZUREML_MODEL_DIR when set, else
    /// distilbert-base-cased].
    #[arg(long)]
    model: Option<String>,
    /// Address to listen on (0.0.0.0 in a container).
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port to listen on; 0 picks a free one [default: $PORT when set, else 5001].
    #[arg(long)]
    port: Option<u16>,
    /// Most tokens in one batch (one forward pass).
    #[arg(long, default_value_t = Options::default().max_batch_tokens as u32, value_parser = clap::value_parser!(u32).range(1..))]
    max_batch_tokens: u32,
    /// Most requests in progress at once; past it a request gets 503 at once.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..))]
    max_concurrent: u32,
    /// Seconds a request may take once admitted (its body read); past it, 504.
    #[arg(long, default_value = "30", value_parser = seconds)]
    request_timeout: Duration,
    /// Seconds a client may take to send a request's body once its headers are in; past it, 408
    /// and the connection is closed. A request takes a --max-concurrent place only with its body.
    #[arg(long, default_value = "10", value_parser = seconds)]
    body_timeout: Duration,
    /// Most connections open at once; past it the oldest idle one is closed to make room [default:
    /// 1024, or fewer when the open-files limit is lower: that limit less 64].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: Option<u32>,
    /// Seconds a client may take to send a request's headers (from its first byte, or on a kept-alive
    /// connection from the previous answer); past it the connection is closed.
    #[arg(long, default_value = "10", value_parser = seconds)]
    header_timeout: Duration,
    /// Most texts in one request.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..))]
    max_texts: u32,
    /// Largest request body in bytes; past it, 413.
    #[arg(long, default_value_t = 1 << 20, value_parser = clap::value_parser!(u32).range(64..))]
    max_body_bytes: u32,
    /// Milliseconds the batcher waits for more requests after the first of a batch (0: none; the
    /// next batch gathers while one runs anyway).
    #[arg(long, default_value_t = 0)]
    batch_delay_ms: u64,
    /// Threads handling connections. One is plenty for a model this size, and leaves the cores
    /// to the forward pass even under a flood of requests that are shed.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    http_threads: u32,
    /// Log level: error, warn, info (one line per request) or debug.
    #[arg(long, default_value = "info")]
    log_level: tracing::Level,
    /// Wait this long before loading the model (tests of readiness).
    #[arg(long, default_value_t = 0, hide = true)]
    load_delay_ms: u64,
}

pub fn run(args: ServeArgs, options: &Options) -> Result<ExitCode> {
    // Azure ML's inference server reads these two; so does distil.
    let model = match args.model {
        Some(model) => model,
        None => std::env::var("AZUREML_MODEL_DIR")
            .ok()
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| "distilbert-base-cased".to_string()),
    };
    let port = match args.port {
        Some(port) => port,
        None => match std::env::var("PORT") {
            Ok(p) if !p.is_empty() => p.trim().parse().map_err(|_| {
                Error::input(format!("PORT={p:?} is not a port number (0 to 65535)"))
            })?,
            _ => 5001,
        },
    };
    let _ = tracing_subscriber::fmt()
        .with_max_level(args.log_level)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
    let defaults = ServeConfig::default();
    serve(ServeConfig {
        model,
        host: args.host,
        port,
        engine: Options {
            max_batch_tokens: args.max_batch_tokens as usize,
            ..options.clone()
        },
        http_threads: args.http_threads as usize,
        max_concurrent: args.max_concurrent as usize,
        max_texts: args.max_texts as usize,
        max_body_bytes: args.max_body_bytes as usize,
        request_timeout: args.request_timeout,
        body_timeout: args.body_timeout,
        max_connections: args
            .max_connections
            .map_or_else(default_max_connections, |n| n as usize),
        header_timeout: args.header_timeout,
        batch_delay: Duration::from_millis(args.batch_delay_ms),
        load_delay: Duration::from_millis(args.load_delay_ms),
        ..defaults
    })?;
    Ok(ExitCode::SUCCESS)
}

/// 1024 connections, or the soft limit of open files less 64 (the model's files, the logs, the
/// runtime's own descriptors) when that is lower; the limit is read from `/proc/self/limits`
/// where there is one.
fn default_max_connections() -> usize {
    let soft_limit = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|limits| {
            let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
            line.split_whitespace().nth(3)?.parse::<usize>().ok()
        });
    match soft_limit {
        Some(limit) => limit.saturating_sub(64).clamp(16, 1024),
        None => 1024,
    }
}

/// A positive number of seconds.
fn seconds(s: &str) -> std::result::Result<Duration, String> {
    match s.parse::<f64>() {
        Ok(x) if x > 0.0 && x <= 86_400.0 => Ok(Duration::from_secs_f64(x)),
        _ => Err(format!(
            "{s:?} is not a number of seconds between 0 and 86400"
        )),
    }
}
