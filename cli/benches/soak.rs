//! `distil serve` soaked: valid requests of every route, at a steady half of the measured
//! capacity, first alone and then beside hostile clients (5% malformed bodies, 2% stalled bodies, 1%
//! oversized bodies, 1% connections dropped mid-request), with every answer checked and each
//! server's resident memory and open file descriptors sampled every second.
//!
//! ```sh
//! cargo bench -p distil-cli --bench soak                  # 10 minutes of hostile traffic
//! cargo bench -p distil-cli --bench soak -- --seconds 60  # the CI version
//! ```
//!
//! Five servers run at once, one per test model, so that every route has a model to answer it:
//! the masked-LM fixture (`/score`, `/fill-mask`, `/embed`, `/tokenize`, `/embed_all`, `/decode`,
//! `/v1/embeddings` and the GET routes), a sentence classifier (`/predict`, `/score`), a
//! cross-encoder (`/rerank`), a token classifier (`/token-classification`, `/score`) and a
//! question-answering model (`/question-answering`, `/score`). Each valid request's answer must
//! be the bytes the server gave it alone before the soak began, and those are checked against the
//! command line's `--json` output where a route promises it (`/fill-mask`, `/predict`, `/rerank`,
//! `/token-classification`, `/question-answering`). Loopback only; Linux (`/proc`) for the samples.
//!
//! The phases: the capacity with the valid requests alone (16 clients back to back); a warm-up
//! with the hostile clients at half of it (a tenth of the soak's time, at least 10 s), so that the
//! allocator's pools and the runtime's threads reach their size under the whole mix; then the
//! soak, in rounds of 10 s of the valid requests alone followed by 10 s beside the hostile
//! clients (`--seconds` of these in all), interleaved so that the shared machine's own ups and
//! downs fall on both alike. It passes when no valid request is lost or answered wrongly, their
//! p99 beside the hostile clients stays within 2× of their p99 alone (enforced from 5 minutes of
//! soak: a shorter run's tail is mostly the shared machine's doing), each server's RSS after
//! the soak is within 10% of its RSS after the warm-up, and its open descriptors return to their
//! count before any of it.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::json;
use support::{uptime, Server};

/// The servers' limits, small so that the hostile clients reach them often and cheaply.
const MAX_BODY_BYTES: usize = 64 << 10;
const BODY_TIMEOUT_S: u64 = 3;
/// The valid requests' rate, as a share of the capacity measured with them alone.
const LOAD: f64 = 0.5;
/// Seconds of each round of the soak, alone and then beside the hostile clients: short, so that
/// the machine's hiccups fall on both sides alike.
const ROUND_S: u64 = 10;
/// The shortest soak whose p99 is held to the 2× bound.
const ENFORCED_P99_S: u64 = 300;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let seconds: u64 = args
        .iter()
        .position(|a| a == "--seconds")
        .and_then(|i| args.get(i + 1)?.parse().ok())
        .unwrap_or(600);
    let warm_up = Duration::from_secs((seconds / 10).max(10));
    println!("load before: {}", uptime());

    let servers: Vec<Served> = MODELS.iter().map(|m| Served::start(m)).collect();
    let valid = valid_requests(&servers);
    println!(
        "{} servers, {} kinds of valid request; references checked against the CLI",
        servers.len(),
        valid.len()
    );

    // Capacity: 16 clients sending the valid mix back to back for 5 s.
    let capacity = drive(&valid, 16, Duration::from_secs(5), None);
    assert_eq!(capacity.lost + capacity.wrong, 0, "{capacity:?}");
    let rate = LOAD * capacity.ok as f64 / capacity.wall.as_secs_f64();
    println!(
        "capacity {:.0} valid requests/s (16 clients, back to back); soaking at {rate:.0}/s ({:.0}%)",
        capacity.ok as f64 / capacity.wall.as_secs_f64(),
        LOAD * 100.0
    );
    thread::sleep(Duration::from_secs(1));
    let fds_before: Vec<usize> = servers.iter().map(Served::fds).collect();

    let sampler = Sampler::start(&servers);
    // Warm-up with the whole mix, so that the allocator's pools and the runtime's threads reach
    // their size under it; the soak proper must then hold its memory flat.
    let bases: Vec<&str> = servers.iter().map(Served::base).collect();
    let hostile = Hostile::default();
    let warm = with_hostile_clients(&bases, &hostile, rate, || {
        drive(&valid, 32, warm_up, Some(rate))
    });
    let rss_warm: Vec<usize> = servers.iter().map(Served::rss_kib).collect();
    println!("warm-up:       {}", warm.line());

    // The soak: rounds of the valid requests alone and beside the hostile clients, interleaved,
    // so that the machine's own ups and downs (it is shared) fall on both alike.
    let (mut baseline, mut soaked) = (Outcome::default(), Outcome::default());
    let rounds = seconds.div_ceil(ROUND_S);
    let round = Duration::from_secs(ROUND_S.min(seconds));
    for r in 1..=rounds {
        let alone = drive(&valid, 32, round, Some(rate));
        let beside = with_hostile_clients(&bases, &hostile, rate, || {
            drive(&valid, 32, round, Some(rate))
        });
        let rss: Vec<String> = servers.iter().map(|s| s.rss_kib().to_string()).collect();
        println!(
            "round {r}/{rounds}: p99 alone {:.2} ms, beside hostile clients {:.2} ms ({:.2}×); RSS {} KiB",
            alone.percentile(99.0),
            beside.percentile(99.0),
            beside.percentile(99.0) / alone.percentile(99.0),
            rss.join(" / ")
        );
        baseline.merge(alone);
        soaked.merge(beside);
    }
    println!("valid alone:   {}", baseline.line());
    println!("valid hostile: {}", soaked.line());
    // The stalled bodies still open get their 408 within the body timeout; then nothing is open.
    thread::sleep(Duration::from_secs(BODY_TIMEOUT_S + 2));
    let samples = sampler.stop();
    let fds_after: Vec<usize> = servers.iter().map(Served::fds).collect();
    let rss_after: Vec<usize> = servers.iter().map(Served::rss_kib).collect();
    println!("hostile requests: {}", hostile.summary());

    println!();
    println!("| server | RSS after warm-up | RSS after soak | ratio | max RSS | fds before | fds after | max fds |");
    println!("| --- | --: | --: | --: | --: | --: | --: | --: |");
    let mut ok = true;
    for (i, server) in servers.iter().enumerate() {
        let ratio = rss_after[i] as f64 / rss_warm[i] as f64;
        let max_rss = samples.iter().map(|s| s.rss[i]).max().unwrap_or(0);
        let max_fds = samples.iter().map(|s| s.fds[i]).max().unwrap_or(0);
        println!(
            "| {} | {} KiB | {} KiB | {ratio:.3} | {max_rss} KiB | {} | {} | {max_fds} |",
            server.name, rss_warm[i], rss_after[i], fds_before[i], fds_after[i]
        );
        ok &= check(
            ratio <= 1.10,
            &format!("{}: RSS within 10% of warm-up", server.name),
        );
        ok &= check(
            fds_after[i] == fds_before[i],
            &format!(
                "{}: open descriptors back to {}",
                server.name, fds_before[i]
            ),
        );
    }
    let p99 = (baseline.percentile(99.0), soaked.percentile(99.0));
    ok &= check(
        [&baseline, &warm, &soaked]
            .iter()
            .all(|o| o.lost + o.wrong == 0),
        "no valid request lost or answered wrongly",
    );
    let latency = format!(
        "p99 beside hostile clients {:.2} ms ≤ 2 × {:.2} ms alone ({:.2}×)",
        p99.1,
        p99.0,
        p99.1 / p99.0
    );
    if seconds >= ENFORCED_P99_S {
        ok &= check(p99.1 <= 2.0 * p99.0, &latency);
    } else {
        // A minute's tail on a shared machine is mostly its neighbours' doing (60-s runs here
        // gave 1.13×, 1.85× and 1.90×): reported, and enforced on the long soak only.
        println!("({latency}: reported, enforced from {ENFORCED_P99_S} s of soak)");
    }
    ok &= check(
        hostile.all_as_expected(),
        "every hostile request answered as the limits say",
    );
    for served in servers {
        served.server.stop();
    }
    println!("load after: {}", uptime());
    assert!(ok, "the soak failed");
}

fn check(ok: bool, what: &str) -> bool {
    println!("{} {what}", if ok { "✓" } else { "✗" });
    ok
}

/// The test models, and what each is there for.
const MODELS: [&str; 5] = [
    "distilbert-cased",
    "distilbert-cased-sst",
    "bert-uncased-crossencoder",
    "distilbert-cased-ner",
    "distilbert-cased-qa",
];

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/models")
}

/// A running `distil serve` of one test model.
struct Served {
    name: &'static str,
    server: Server,
}

impl Served {
    fn start(name: &'static str) -> Served {
        let (body_bytes, body_timeout) = (MAX_BODY_BYTES.to_string(), BODY_TIMEOUT_S.to_string());
        let args = [
            "--threads",
            "1",
            "--log-level",
            "error",
            "--max-body-bytes",
            &body_bytes,
            "--body-timeout",
            &body_timeout,
        ];
        let server = Server::start(&fixtures().join(name), &args);
        Served { name, server }
    }

    fn pid(&self) -> u32 {
        self.server.child.id()
    }

    fn base(&self) -> &str {
        &self.server.base
    }

    fn rss_kib(&self) -> usize {
        rss_kib(self.pid())
    }

    fn fds(&self) -> usize {
        fds(self.pid())
    }
}

/// The resident memory of process `pid`, in KiB (0 if unknown).
fn rss_kib(pid: u32) -> usize {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The open file descriptors of process `pid`.
fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// One kind of valid request, and the answer it must get.
struct Valid {
    url: String,
    /// `None` for a GET.
    body: Option<String>,
    /// The body of the answer; `None` where it changes by itself (`/metrics`).
    want: Option<String>,
}

const PARIS: &str = "Paris is the [MASK] of France.";
const INGRID: &str = "Ingrid Svensson was born in Malmö, Sweden, in 1956.";

/// The valid requests of every route, each with the answer the server gives it alone, checked
/// against the command line's where the route promises its bytes.
fn valid_requests(servers: &[Served]) -> Vec<Valid> {
    let base = |name: &str| {
        servers
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.base().to_string())
            .expect("a server")
    };
    let mlm = base("distilbert-cased");
    let post = |base: &str, path: &str, body: serde_json::Value| {
        (format!("{base}{path}"), Some(body.to_string()))
    };
    let mut requests = vec![
        post(
            &mlm,
            "/score",
            json!({"input_data": [PARIS, "The [MASK] sat on the [MASK]."]}),
        ),
        post(
            &mlm,
            "/score",
            json!({"input_data": {"input_string": [PARIS]}, "params": {"top_k": 2}}),
        ),
        post(
            &mlm,
            "/fill-mask",
            json!({"inputs": PARIS, "parameters": {"top_k": 3}}),
        ),
        post(
            &mlm,
            "/embed",
            json!({"inputs": ["A first sentence.", "Émile Zola 東京 🙂"]}),
        ),
        post(&mlm, "/tokenize", json!({"inputs": "Émile Zola 東京 🙂"})),
        post(&mlm, "/embed_all", json!({"inputs": "short"})),
        post(&mlm, "/decode", json!({"ids": [5, 100, 1000, 1500]})),
        post(
            &mlm,
            "/v1/embeddings",
            json!({"input": ["one", "two"], "encoding_format": "base64"}),
        ),
    ];
    for path in ["/", "/health", "/ready", "/info", "/metrics"] {
        requests.push((format!("{mlm}{path}"), None));
    }
    let sst = base("distilbert-cased-sst");
    requests.push(post(
        &sst,
        "/predict",
        json!({"inputs": ["I loved this film.", "Boring.", "It was fine."]}),
    ));
    requests.push(post(
        &sst,
        "/score",
        json!({"input_data": ["Terrible, boring and far too long."]}),
    ));
    let cross = base("bert-uncased-crossencoder");
    let texts = [
        "The Louvre is a museum in Paris.",
        "Cats sleep a lot.",
        "Paris has many museums.",
    ];
    requests.push(post(
        &cross,
        "/rerank",
        json!({"query": "Where is the Louvre?", "texts": texts}),
    ));
    let ner = base("distilbert-cased-ner");
    requests.push(post(
        &ner,
        "/token-classification",
        json!({"inputs": INGRID, "parameters": {"aggregation_strategy": "simple"}}),
    ));
    requests.push(post(&ner, "/score", json!({"input_data": [INGRID]})));
    let qa = base("distilbert-cased-qa");
    let question = json!({"question": "Where was Ingrid born?", "context": INGRID});
    requests.push(post(
        &qa,
        "/question-answering",
        json!({"inputs": question}),
    ));
    requests.push(post(
        &qa,
        "/score",
        json!({"input_data": {"question": ["Who?", "When?"], "context": INGRID}}),
    ));

    let agent = ureq::agent();
    let valid: Vec<Valid> = requests
        .into_iter()
        .map(|(url, body)| {
            let (status, text) = send(&agent, &url, body.as_deref());
            assert_eq!(status, 200, "{url}: {text}");
            let want = (!url.ends_with("/metrics")).then_some(text);
            Valid { url, body, want }
        })
        .collect();
    let answer = |path: &str, server: &str| {
        valid
            .iter()
            .find(|v| v.url == format!("{}{path}", base(server)))
            .and_then(|v| v.want.clone())
            .expect("an answer")
    };
    for (path, server, command, args, stdin) in [
        (
            "/fill-mask",
            "distilbert-cased",
            "fill-mask",
            vec!["--top-k", "3", PARIS],
            String::new(),
        ),
        (
            "/predict",
            "distilbert-cased-sst",
            "classify",
            vec!["--all"],
            "I loved this film.\nBoring.\nIt was fine.\n".to_string(),
        ),
        (
            "/rerank",
            "bert-uncased-crossencoder",
            "rerank",
            vec!["--query", "Where is the Louvre?"],
            texts.join("\n") + "\n",
        ),
        (
            "/token-classification",
            "distilbert-cased-ner",
            "ner",
            vec!["--aggregation", "simple", INGRID],
            String::new(),
        ),
        (
            "/question-answering",
            "distilbert-cased-qa",
            "qa",
            vec![],
            format!("{question}\n"),
        ),
    ] {
        let lines = cli_lines(command, server, &args, &stdin);
        let want = match path {
            "/predict" => format!("[{}]", lines.join(",")),
            _ => lines.join("\n"),
        };
        assert_eq!(
            answer(path, server),
            want,
            "{path} and distil {command} differ"
        );
    }
    valid
}

/// The lines `distil COMMAND --json --model MODEL ARGS…` prints, given `stdin`.
fn cli_lines(command: &str, model: &str, args: &[&str], stdin: &str) -> Vec<String> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_distil"))
        .args([command, "--json", "--model"])
        .arg(fixtures().join(model))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("distil");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("distil");
    assert!(out.status.success(), "distil {command} failed");
    String::from_utf8(out.stdout)
        .expect("UTF-8")
        .lines()
        .map(str::to_string)
        .collect()
}

/// The status and body of one request (`body`: POST, else GET); 0 for a transport error.
fn send(agent: &ureq::Agent, url: &str, body: Option<&str>) -> (u16, String) {
    let result = match body {
        Some(body) => agent
            .post(url)
            .set("Content-Type", "application/json")
            .send_string(body),
        None => agent.get(url).call(),
    };
    match result {
        Ok(r) => (r.status(), r.into_string().unwrap_or_default()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap_or_default()),
        Err(e) => (0, e.to_string()),
    }
}

/// What a phase of valid requests gave.
#[derive(Debug, Default)]
struct Outcome {
    ok: usize,
    /// Answered 200 with other bytes than the reference.
    wrong: usize,
    /// Any other status, or no answer.
    lost: usize,
    wall: Duration,
    /// Latencies of the answers, in ms, sorted.
    latencies: Vec<f64>,
}

impl Outcome {
    fn record(&mut self, valid: &Valid, status: u16, text: &str, took: Duration) {
        match (status, &valid.want) {
            (200, Some(want)) if want != text => {
                self.wrong += 1;
                eprintln!(
                    "soak: {} answered {text:.200} instead of {want:.200}",
                    valid.url
                );
            }
            (200, _) => self.ok += 1,
            _ => {
                self.lost += 1;
                eprintln!("soak: {} answered {status}: {text:.200}", valid.url);
            }
        }
        self.latencies.push(took.as_secs_f64() * 1e3);
    }

    /// Adds `other`'s counts, time and latencies (kept sorted).
    fn merge(&mut self, other: Outcome) {
        self.ok += other.ok;
        self.wrong += other.wrong;
        self.lost += other.lost;
        self.wall += other.wall;
        self.latencies.extend(other.latencies);
        self.latencies.sort_by(f64::total_cmp);
    }

    fn percentile(&self, p: f64) -> f64 {
        support::percentile(&self.latencies, p)
    }

    fn line(&self) -> String {
        format!(
            "{} answered right, {} wrong, {} lost in {:.0} s; p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            self.ok,
            self.wrong,
            self.lost,
            self.wall.as_secs_f64(),
            self.percentile(50.0),
            self.percentile(99.0),
            self.latencies.last().copied().unwrap_or(f64::NAN)
        )
    }
}

/// Runs `valid` (the valid requests) beside the hostile clients, sending at their shares of
/// `rate` to the servers at `bases` in turn, then waits for the stalled bodies' answers.
fn with_hostile_clients(
    bases: &[&str],
    hostile: &Hostile,
    rate: f64,
    valid: impl FnOnce() -> Outcome,
) -> Outcome {
    let stop = AtomicBool::new(false);
    thread::scope(|s| {
        let (stalled_tx, stalled_rx) = mpsc::channel::<TcpStream>();
        s.spawn(|| hostile.reap_stalled(stalled_rx));
        let attackers = [
            (0.05, Attack::Malformed),
            (0.02, Attack::Stalled),
            (0.01, Attack::Oversized),
            (0.01, Attack::Dropped),
        ];
        for (share, attack) in attackers {
            let (stop, stalled) = (&stop, stalled_tx.clone());
            s.spawn(move || {
                let interval = Duration::from_secs_f64(1.0 / (share * rate));
                let started = Instant::now();
                let mut k = 0u32;
                while !stop.load(Ordering::Relaxed) {
                    let due = started + interval * k;
                    thread::sleep(due.saturating_duration_since(Instant::now()));
                    hostile.attack(attack, bases[k as usize % bases.len()], k, &stalled);
                    k += 1;
                }
            });
        }
        drop(stalled_tx);
        let outcome = valid();
        stop.store(true, Ordering::Relaxed);
        outcome
    })
}

/// `clients` threads sending the valid requests in turn for `limit`: with a `rate`, each request
/// at its time whatever the earlier ones are doing (an open loop; a request's latency counts from
/// the time it was due, so a server that falls behind shows it); without, each client's next as
/// soon as its previous answer is in (a closed loop, to measure capacity).
fn drive(valid: &[Valid], clients: usize, limit: Duration, rate: Option<f64>) -> Outcome {
    let all = Mutex::new(Outcome::default());
    let started = Instant::now();
    thread::scope(|s| {
        for c in 0..clients {
            let all = &all;
            s.spawn(move || {
                let agent = ureq::agent();
                let mut mine = Outcome::default();
                for k in (c..).step_by(clients) {
                    let due = match rate {
                        Some(rate) => started + Duration::from_secs_f64(k as f64 / rate),
                        None => Instant::now(),
                    };
                    if due.duration_since(started) >= limit {
                        break;
                    }
                    thread::sleep(due.saturating_duration_since(Instant::now()));
                    let v = &valid[k % valid.len()];
                    let (status, text) = send(&agent, &v.url, v.body.as_deref());
                    mine.record(v, status, &text, due.elapsed());
                }
                all.lock().expect("outcome").merge(mine);
            });
        }
    });
    let mut outcome = all.into_inner().expect("outcome");
    outcome.wall = started.elapsed();
    outcome.latencies.sort_by(f64::total_cmp);
    outcome
}

/// The hostile clients' kinds of request.
#[derive(Clone, Copy, Debug)]
enum Attack {
    /// A body that is not a valid request (bad JSON, wrong shapes, bytes that are not UTF-8).
    Malformed,
    /// Headers and part of a body, then nothing: 408 after the body timeout.
    Stalled,
    /// A body past `--max-body-bytes`: 413.
    Oversized,
    /// A connection closed mid-body, or right after its request without reading the answer.
    Dropped,
}

/// The bodies of the malformed requests, in turn.
const MALFORMED: [&[u8]; 8] = [
    b"{\"input_data\": [\"Paris is the [MASK]",
    b"{\"inputs\": 3}",
    b"[1, 2, 3]",
    b"{\"input_data\": [\"\\ud800\"]}",
    b"\xff\xfe{\"inputs\": \"a\"}",
    b"{\"query\": \"q\", \"texts\": []}",
    b"{\"inputs\": {\"question\": \"q\"}}",
    b"{\"input_data\": [\"a\"], \"params\": {\"top_k\": -1}}",
];

/// The compute routes the hostile requests go to, in turn.
const ROUTES: [&str; 6] = [
    "/score",
    "/fill-mask",
    "/embed",
    "/rerank",
    "/question-answering",
    "/predict",
];

/// What the hostile requests got, by kind: the statuses seen (0: no answer).
#[derive(Default)]
struct Hostile {
    statuses: Mutex<Vec<(&'static str, u16)>>,
}

impl Hostile {
    fn attack(&self, attack: Attack, base: &str, k: u32, stalled: &mpsc::Sender<TcpStream>) {
        let address = base.trim_start_matches("http://");
        let route = ROUTES[k as usize % ROUTES.len()];
        let Ok(mut stream) = TcpStream::connect(address) else {
            self.note("connect", 0);
            return;
        };
        let head = |length: usize| {
            format!(
                "POST {route} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
                 Content-Length: {length}\r\n\r\n"
            )
        };
        match attack {
            Attack::Malformed => {
                let body = MALFORMED[k as usize % MALFORMED.len()];
                let _ = stream.write_all(head(body.len()).as_bytes());
                let _ = stream.write_all(body);
                self.note("malformed", status_of(&mut stream));
            }
            Attack::Stalled => {
                let _ = stream.write_all(head(200).as_bytes());
                let _ = stream.write_all(b"{\"input_data\": [\"Par");
                let _ = stalled.send(stream);
            }
            Attack::Oversized => {
                let body = format!("{{\"input_data\": [\"{}\"]}}", "a ".repeat(MAX_BODY_BYTES));
                let _ = stream.write_all(head(body.len()).as_bytes());
                // The server answers 413 and closes once past the limit: the rest may not go.
                let _ = stream.write_all(body.as_bytes());
                self.note("oversized", status_of(&mut stream));
            }
            Attack::Dropped => {
                let body = json!({"input_data": [PARIS]}).to_string();
                let _ = stream.write_all(head(body.len()).as_bytes());
                let sent = if k.is_multiple_of(2) {
                    body.len() / 2
                } else {
                    body.len()
                };
                let _ = stream.write_all(&body.as_bytes()[..sent]);
                // Closed without reading: the server's answer, if any, has nowhere to go.
                self.note("dropped", 0);
            }
        }
    }

    /// Reads each stalled connection's answer, in the order they stalled.
    fn reap_stalled(&self, stalled: mpsc::Receiver<TcpStream>) {
        for mut stream in stalled {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(BODY_TIMEOUT_S + 10)));
            self.note("stalled", status_of(&mut stream));
        }
    }

    fn note(&self, kind: &'static str, status: u16) {
        self.statuses.lock().expect("statuses").push((kind, status));
    }

    /// Malformed bodies got a 4xx that says so, stalled ones 408, oversized ones 413.
    fn all_as_expected(&self) -> bool {
        let statuses = self.statuses.lock().expect("statuses");
        !statuses.is_empty()
            && statuses.iter().all(|&(kind, status)| match kind {
                "malformed" => status == 400,
                "stalled" => status == 408,
                "oversized" => status == 413,
                "dropped" => status == 0,
                _ => false,
            })
    }

    /// `malformed 400 × 1234, stalled 408 × 560, …`.
    fn summary(&self) -> String {
        let statuses = self.statuses.lock().expect("statuses");
        let mut counts: Vec<((&str, u16), usize)> = Vec::new();
        for &key in statuses.iter() {
            match counts.iter_mut().find(|(k, _)| *k == key) {
                Some((_, n)) => *n += 1,
                None => counts.push((key, 1)),
            }
        }
        counts.sort();
        counts
            .iter()
            .map(|((kind, status), n)| format!("{kind} {status} × {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The status of the answer waiting on `stream` (0 if none comes).
fn status_of(stream: &mut TcpStream) -> u16 {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let mut line = String::new();
    let _ = BufReader::new(stream).read_line(&mut line);
    line.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Each server's RSS and open descriptors, every second, on a thread of its own.
struct Sampler {
    stop: mpsc::Sender<()>,
    thread: thread::JoinHandle<Vec<Sample>>,
}

struct Sample {
    rss: Vec<usize>,
    fds: Vec<usize>,
}

impl Sampler {
    fn start(servers: &[Served]) -> Sampler {
        let pids: Vec<u32> = servers.iter().map(Served::pid).collect();
        let (stop, stopped) = mpsc::channel();
        let thread = thread::spawn(move || {
            let mut samples = Vec::new();
            while stopped.recv_timeout(Duration::from_secs(1)).is_err() {
                samples.push(Sample {
                    rss: pids.iter().map(|p| rss_kib(*p)).collect(),
                    fds: pids.iter().map(|p| fds(*p)).collect(),
                });
            }
            samples
        });
        Sampler { stop, thread }
    }

    fn stop(self) -> Vec<Sample> {
        let _ = self.stop.send(());
        self.thread.join().expect("the sampler")
    }
}
