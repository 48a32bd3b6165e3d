//! `distil serve` under load: throughput and p50/p99 latency at concurrency 1, 8, 32 and 128, with
//! short and 128-token inputs, on the base-shaped model; then 10 × the admitted concurrency, where
//! the server must shed with 503 and keep the accepted requests' latency.
//!
//! ```sh
//! cargo bench --bench serve                     # needs weights/distilbert-base-random (benches/peers.py makes it)
//! cargo bench --bench serve -- --model DIR --quick
//! ```
//!
//! A bounded load generator, on 127.0.0.1 only: each level sends a fixed number of requests (or
//! stops sending at its time limit) from one blocking HTTP client per thread, each thread sending
//! its next request when the previous one is answered (a closed loop). Every request sent is
//! counted as answered (200 or 503) or lost (any other outcome); the bench fails if one is lost.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use distil::tokenizer::Tokenizer;
use support::{uptime, Server};

const SHORT: &str = "Paris is [MASK] of France.";

/// How every server of this bench runs: the engine on both cores, only warnings logged.
const SERVE: &[&str] = &["--threads", "2", "--log-level", "warn"];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let model = args
        .iter()
        .position(|a| a == "--model")
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../weights/distilbert-base-random")
        });
    let quick = args.iter().any(|a| a == "--quick");
    if !model.join("model.safetensors").is_file() {
        eprintln!(
            "serve bench: no model at {} (benches/peers.py builds weights/distilbert-base-random); skipping",
            model.display()
        );
        return;
    }
    let tokenizer = Tokenizer::from_dir(&model).expect("the model's tokenizer");
    let long = text_of_tokens(&tokenizer, 128);
    let short_tokens = tokenizer.encode(SHORT).ids.len();
    println!("load before: {}", uptime());
    println!(
        "model {}; short input {short_tokens} tokens ({SHORT:?}), long input 128 tokens",
        model.display()
    );

    let scale = if quick { 4 } else { 1 };
    // Long queues at 128 clients of 128-token inputs: no request may time out.
    let server = Server::start(
        &model,
        &[
            SERVE,
            &["--max-concurrent", "256", "--request-timeout", "600"],
        ]
        .concat(),
    );
    let mut rows = Vec::new();
    let mut alone = Vec::new();
    for (name, text, tokens, counts) in [
        ("short", SHORT, short_tokens, [200, 400, 800, 1000]),
        ("128 tokens", long.as_str(), 128, [64, 80, 192, 384]),
    ] {
        let body = serde_json::json!({ "input_data": [text] }).to_string();
        run(
            &server.base,
            &body,
            4,
            20,
            Duration::from_secs(60),
            Duration::ZERO,
        );
        // One client, in rounds interleaved with `distil bench` on the same input (what one
        // forward pass costs on its own): the overhead is the median over rounds of the round's
        // p50 less its `distil bench`, so that a machine that slows down or speeds up between
        // rounds (this one is shared) moves both sides of each difference alike.
        let rounds = 8;
        let mut single = Outcome::default();
        let mut overheads = Vec::new();
        let before = ServerTimes::read(&server.base);
        for _ in 0..rounds {
            let bench = distil_bench(&model, tokens);
            let o = run(
                &server.base,
                &body,
                1,
                (counts[0] / scale / rounds).max(1),
                Duration::from_secs(120),
                Duration::ZERO,
            );
            overheads.push(o.percentile(50.0) - bench);
            single.merge(o);
        }
        let inside = ServerTimes::read(&server.base).since(&before);
        overheads.sort_by(f64::total_cmp);
        let overhead = (overheads[rounds / 2 - 1] + overheads[rounds / 2]) / 2.0;
        println!(
            "p50 at 1 client less distil bench --batch 1 --seq {tokens}, per round: {overheads:.2?} ms; median {overhead:.2} ms"
        );
        println!(
            "  inside the server, per request: {:.2} ms from request to response, {:.2} ms of it in the engine call",
            inside.request_ms, inside.batch_ms
        );
        alone.push((overhead, inside));
        rows.push((name, 1, single));
        println!("{}", row(&rows[rows.len() - 1]));
        for (clients, count) in [8, 32, 128].into_iter().zip(&counts[1..]) {
            let outcome = run(
                &server.base,
                &body,
                clients,
                (count / scale).max(clients),
                Duration::from_secs(120),
                Duration::ZERO,
            );
            rows.push((name, clients, outcome));
            println!("{}", row(&rows[rows.len() - 1]));
        }
    }
    server.stop();

    // 10 × capacity: 320 clients against a server that admits 32. First as clients should behave,
    // waiting the 503's Retry-After (1 s) before trying again; then as a flood that retries at
    // once, the worst case: the load generator's 320 threads, sending 10,000 requests a second
    // and more, then share the 2 cores with the forward pass, as no remote client would.
    let capacity = 32;
    let admits = capacity.to_string();
    let server = Server::start(&model, &[SERVE, &["--max-concurrent", &admits]].concat());
    let body = serde_json::json!({ "input_data": [SHORT] }).to_string();
    let limit = Duration::from_secs(if quick { 5 } else { 20 });
    let overload = run(
        &server.base,
        &body,
        10 * capacity,
        200_000,
        limit,
        Duration::from_secs(1),
    );
    let overload_row = (
        "short, admits 32, Retry-After",
        10 * capacity,
        overload.clone(),
    );
    println!("{}", row(&overload_row));
    let flood = run(
        &server.base,
        &body,
        10 * capacity,
        200_000,
        limit,
        Duration::ZERO,
    );
    let flood_row = (
        "short, admits 32, no back-off",
        10 * capacity,
        flood.clone(),
    );
    println!("{}", row(&flood_row));
    server.stop();
    println!("load after: {}", uptime());

    println!();
    println!("| inputs | concurrency | sent | 200 | 503 | lost | req/s | p50 ms | p99 ms |");
    println!("| --- | --: | --: | --: | --: | --: | --: | --: | --: |");
    for r in rows.iter().chain([&overload_row, &flood_row]) {
        println!("{}", row(r));
    }
    println!();

    let find = |name: &str, clients: usize| {
        rows.iter()
            .find(|(n, c, _)| *n == name && *c == clients)
            .map(|(_, _, o)| o.clone())
            .expect("a level")
    };
    let (c1, c32) = (find("short", 1), find("short", 32));
    let speedup = c32.throughput() / c1.throughput();
    println!(
        "batching: throughput at 32 clients / at 1 client, short inputs: {speedup:.2} (target ≥ 2.5) {}",
        mark(speedup >= 2.5)
    );
    for ((name, (over, inside)), target) in ["short", "128 tokens"]
        .iter()
        .zip(&alone)
        .zip([true, false])
    {
        println!(
            "overhead: p50 at 1 client, {name}: {over:+.2} ms over distil bench (median over rounds){}; in the server {:.2} ms per request besides the engine call",
            if target {
                format!(" (target ≤ +1.5) {}", mark(*over <= 1.5))
            } else {
                String::new()
            },
            inside.request_ms - inside.batch_ms
        );
    }
    let ratio = overload.percentile(99.0) / c32.percentile(99.0);
    println!(
        "overload: 10 × capacity ({} clients honouring Retry-After): {} shed with 503, accepted p99 {:.1} ms = {ratio:.2} × the 32-client p99 {:.1} ms (target < 2) {}",
        10 * capacity,
        overload.shed,
        overload.percentile(99.0),
        c32.percentile(99.0),
        mark(overload.shed > 0 && ratio < 2.0)
    );
    println!(
        "flood: 10 × capacity retrying at once: {} shed with 503, accepted p99 {:.1} ms = {:.2} × the 32-client p99",
        flood.shed,
        flood.percentile(99.0),
        flood.percentile(99.0) / c32.percentile(99.0)
    );
    let lost: usize =
        rows.iter().map(|(_, _, o)| o.lost).sum::<usize>() + overload.lost + flood.lost;
    println!("requests lost (neither 200 nor 503): {lost}");
    assert_eq!(lost, 0, "requests were lost");
}

fn mark(ok: bool) -> &'static str {
    if ok {
        "✓"
    } else {
        "✗"
    }
}

/// What one level measured.
#[derive(Clone, Debug, Default)]
struct Outcome {
    sent: usize,
    ok: usize,
    shed: usize,
    lost: usize,
    wall: Duration,
    /// Latencies of the 200s, in ms, sorted.
    latencies: Vec<f64>,
}

impl Outcome {
    /// Adds `other`'s counts, time and latencies (kept sorted).
    fn merge(&mut self, other: Outcome) {
        self.sent += other.sent;
        self.ok += other.ok;
        self.shed += other.shed;
        self.lost += other.lost;
        self.wall += other.wall;
        self.latencies.extend(other.latencies);
        self.latencies.sort_by(f64::total_cmp);
    }

    fn throughput(&self) -> f64 {
        self.ok as f64 / self.wall.as_secs_f64()
    }

    fn percentile(&self, p: f64) -> f64 {
        support::percentile(&self.latencies, p)
    }
}

fn row((name, clients, o): &(&str, usize, Outcome)) -> String {
    format!(
        "| {name} | {clients} | {} | {} | {} | {} | {:.1} | {:.1} | {:.1} |",
        o.sent,
        o.ok,
        o.shed,
        o.lost,
        o.throughput(),
        o.percentile(50.0),
        o.percentile(99.0)
    )
}

/// `clients` threads send `body` to `/score` until `requests` have been sent or `limit` has
/// passed, each waiting for its answer (and `backoff` after a 503) before sending the next.
fn run(
    base: &str,
    body: &str,
    clients: usize,
    requests: usize,
    limit: Duration,
    backoff: Duration,
) -> Outcome {
    let url = format!("{base}/score");
    let tickets = AtomicUsize::new(0);
    let errors = AtomicUsize::new(0);
    let results = Mutex::new(Outcome::default());
    let started = Instant::now();
    let deadline = started + limit;
    std::thread::scope(|s| {
        for _ in 0..clients {
            s.spawn(|| {
                let agent = ureq::AgentBuilder::new()
                    .timeout(Duration::from_secs(120))
                    .build();
                let mut mine = Outcome::default();
                while Instant::now() < deadline
                    && tickets.fetch_add(1, Ordering::Relaxed) < requests
                {
                    mine.sent += 1;
                    let sent = Instant::now();
                    let result = agent
                        .post(&url)
                        .set("Content-Type", "application/json")
                        .send_string(body);
                    // The whole answer read: status, headers and body.
                    let (status, read) = match result {
                        Ok(r) => (r.status(), r.into_string().is_ok()),
                        Err(ureq::Error::Status(code, r)) => (code, r.into_string().is_ok()),
                        Err(e) => {
                            if errors.fetch_add(1, Ordering::Relaxed) < 3 {
                                eprintln!("serve bench: a request failed: {e}");
                            }
                            (0, false)
                        }
                    };
                    let took = sent.elapsed();
                    match (status, read) {
                        (200, true) => {
                            mine.ok += 1;
                            mine.latencies.push(took.as_secs_f64() * 1e3);
                        }
                        (503, true) => {
                            mine.shed += 1;
                            std::thread::sleep(backoff);
                        }
                        _ => mine.lost += 1,
                    }
                }
                let mut all = results.lock().expect("results");
                all.sent += mine.sent;
                all.ok += mine.ok;
                all.shed += mine.shed;
                all.lost += mine.lost;
                all.latencies.extend(mine.latencies);
            });
        }
    });
    let mut outcome = results.into_inner().expect("results");
    outcome.wall = started.elapsed();
    outcome.latencies.sort_by(f64::total_cmp);
    outcome
}

/// A text of exactly `n` tokens ([CLS] and [SEP] included) with one [MASK].
fn text_of_tokens(tokenizer: &Tokenizer, n: usize) -> String {
    let words = [
        "the", "river", "runs", "past", "old", "mills", "and", "quiet", "towns", "where",
    ];
    let mut text = String::from("The [MASK] of it:");
    let mut i = 0;
    while tokenizer.encode(&text).ids.len() < n {
        text.push(' ');
        text.push_str(words[i % words.len()]);
        i += 1;
    }
    assert_eq!(tokenizer.encode(&text).ids.len(), n, "{text}");
    text
}

/// The median ms of `distil bench --batch 1 --seq SEQ --threads 2`.
fn distil_bench(model: &Path, seq: usize) -> f64 {
    let out = Command::new(env!("CARGO_BIN_EXE_distil"))
        .args([
            "bench",
            "--batch",
            "1",
            "--threads",
            "2",
            "--runs",
            "30",
            "--json",
        ])
        .args(["--seq", &seq.to_string()])
        .arg("--model")
        .arg(model)
        .output()
        .expect("distil bench");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("distil bench --json");
    report["median_ms"].as_f64().expect("median_ms")
}

/// The server's own account of its `/score` requests, from `/metrics`: time summed over requests
/// (from the request read to its response) and over engine calls.
#[derive(Clone, Copy, Debug)]
struct ServerTimes {
    requests: f64,
    request_seconds: f64,
    batches: f64,
    batch_seconds: f64,
}

/// Per request, between two readings of [`ServerTimes`].
#[derive(Clone, Copy, Debug)]
struct Inside {
    request_ms: f64,
    batch_ms: f64,
}

impl ServerTimes {
    fn read(base: &str) -> ServerTimes {
        let text = ureq::get(&format!("{base}/metrics"))
            .call()
            .expect("/metrics")
            .into_string()
            .expect("/metrics text");
        let value = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.trim().parse::<f64>().ok())
                .unwrap_or_else(|| panic!("no {name} in /metrics"))
        };
        ServerTimes {
            requests: value("distil_request_duration_seconds_count{route=\"/score\"}"),
            request_seconds: value("distil_request_duration_seconds_sum{route=\"/score\"}"),
            batches: value("distil_batch_duration_seconds_count"),
            batch_seconds: value("distil_batch_duration_seconds_sum"),
        }
    }

    fn since(&self, before: &ServerTimes) -> Inside {
        let per = |seconds: f64, count: f64| 1e3 * seconds / count.max(1.0);
        Inside {
            request_ms: per(
                self.request_seconds - before.request_seconds,
                self.requests - before.requests,
            ),
            batch_ms: per(
                self.batch_seconds - before.batch_seconds,
                self.batches - before.batches,
            ),
        }
    }
}
