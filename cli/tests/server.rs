//! `distil serve`, run as a deployment runs it: the real binary on a loopback port, a real HTTP
//! client. Each answer is compared with what `distil fill-mask --json` (or `embed`, `tokenize`)
//! prints for the same text, and with the pipeline's stored answers.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
}

fn model(name: &str) -> String {
    fixtures().join("models").join(name).display().to_string()
}

/// A `distil serve` child process on a free loopback port, killed when dropped.
struct Server {
    child: Child,
    base: String,
    log: Arc<Mutex<String>>,
    /// The thread that copies standard error into `log`; it ends at the child's exit.
    log_reader: Option<thread::JoinHandle<()>>,
}

impl Server {
    /// Starts `distil serve --port 0 ARGS…` and waits for its `listening on` line (not for the
    /// model: see [`Server::ready`]).
    fn spawn(args: &[&str], env: &[(&str, &str)]) -> Server {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_distil"));
        cmd.arg("serve")
            .args(["--threads", "2"])
            .args(args)
            .env_remove("PORT")
            .env_remove("AZUREML_MODEL_DIR")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if !args.contains(&"--port") && !env.iter().any(|(k, _)| *k == "PORT") {
            cmd.args(["--port", "0"]);
        }
        let mut child = cmd.spawn().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = Arc::clone(&log);
        let log_reader = thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let base = line
            .trim()
            .strip_prefix("distil: listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}: {}", log.lock().unwrap()))
            .to_string();
        Server {
            child,
            base,
            log,
            log_reader: Some(log_reader),
        }
    }

    /// Starts a server on the model `name` and waits until it is ready.
    fn start(name: &str, args: &[&str]) -> Server {
        let model = model(name);
        let mut all = vec!["--model", model.as_str()];
        all.extend_from_slice(args);
        let server = Server::spawn(&all, &[]);
        server.ready();
        server
    }

    /// Waits until `GET /ready` answers 200.
    fn ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while get(&self.url("/ready")).0 != 200 {
            assert!(Instant::now() < deadline, "not ready: {}", self.log());
            thread::sleep(Duration::from_millis(20));
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn post(&self, path: &str, body: &Value) -> Reply {
        post(&self.url(path), &body.to_string())
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits for the child to exit and for its whole standard error: its status and its log.
    fn wait(&mut self) -> (std::process::ExitStatus, String) {
        let status = self.child.wait().unwrap();
        if let Some(reader) = self.log_reader.take() {
            reader.join().unwrap();
        }
        (status, self.log())
    }

    /// The value of the Prometheus sample `name` (labels included, as written).
    fn metric(&self, name: &str) -> f64 {
        let (_, _, text) = get(&self.url("/metrics"));
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in\n{text}"))
    }

    /// Sends SIGTERM.
    fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Status, headers (lower-case names) and body.
type Reply = (u16, Vec<(String, String)>, String);

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(120))
        .build()
}

fn reply(result: Result<ureq::Response, ureq::Error>) -> Reply {
    let response = match result {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("transport error: {e}"),
    };
    let status = response.status();
    let headers = response
        .headers_names()
        .into_iter()
        .map(|name| {
            let value = response.header(&name).unwrap_or_default().to_string();
            (name.to_lowercase(), value)
        })
        .collect();
    (status, headers, response.into_string().unwrap())
}

fn get(url: &str) -> Reply {
    reply(agent().get(url).call())
}

fn post(url: &str, body: &str) -> Reply {
    reply(
        agent()
            .post(url)
            .set("Content-Type", "application/json")
            .send_string(body),
    )
}

fn header<'a>(reply: &'a Reply, name: &str) -> Option<&'a str> {
    reply
        .1
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn json_of(reply: &Reply) -> Value {
    serde_json::from_str(&reply.2).unwrap_or_else(|e| panic!("{e}: {:?}", reply.2))
}

/// Asserts a 4xx/5xx with `{"error": …}` containing `needle`.
fn assert_error(reply: &Reply, status: u16, needle: &str) {
    assert_eq!(reply.0, status, "{:?}", reply.2);
    let error = json_of(reply)["error"].as_str().unwrap().to_string();
    assert!(error.contains(needle), "{error:?} lacks {needle:?}");
    assert_eq!(header(reply, "content-type"), Some("application/json"));
}

/// What `distil fill-mask --json ARGS… TEXTS…` prints, one document per text.
fn cli_fill_mask(model_name: &str, args: &[&str], texts: &[&str]) -> Vec<Value> {
    cli_fill_mask_lines(model_name, args, texts)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The lines `distil fill-mask --json ARGS… TEXTS…` prints.
fn cli_fill_mask_lines(model_name: &str, args: &[&str], texts: &[&str]) -> Vec<String> {
    let args: Vec<&str> = args.iter().chain(texts).copied().collect();
    cli_lines("fill-mask", model_name, &args, "")
}

const PARIS: &str = "Paris is the [MASK] of France.";
const TWO_MASKS: &str = "The [MASK] sat on the [MASK].";
const SHORT: &str = "[MASK] is good.";

#[test]
fn score_accepts_every_azure_ml_request_shape() {
    let server = Server::start("distilbert-cased", &[]);
    let texts = [PARIS, TWO_MASKS, SHORT];
    let cli = cli_fill_mask("distilbert-cased", &["--top-k", "1"], &texts);
    // Top-1 token_str per input; a list of them for the input with two masks.
    let want = json!([
        cli[0][0]["token_str"],
        [cli[1][0][0]["token_str"], cli[1][1][0]["token_str"]],
        cli[2][0]["token_str"],
    ]);
    let shapes = [
        json!({"input_data": texts}),
        json!({"input_data": {"input_string": texts}}),
        json!({"input_data": {"columns": ["input_string"], "index": [0, 1, 2],
                              "data": [[PARIS], [TWO_MASKS], [SHORT]]}}),
        json!({"inputs": texts}),
    ];
    for body in &shapes {
        let reply = server.post("/score", body);
        assert_eq!(reply.0, 200, "{body}: {}", reply.2);
        assert_eq!(header(&reply, "content-type"), Some("application/json"));
        assert_eq!(json_of(&reply), want, "{body}");
    }
    // One text gets a one-element list: ["##ang"], as the Azure ML endpoint answers ["part"].
    let reply = server.post("/score", &json!({"input_data": [PARIS]}));
    assert_eq!(json_of(&reply), json!([cli[0][0]["token_str"]]));
}

#[test]
fn score_with_top_k_returns_the_pipeline_objects() {
    let server = Server::start("distilbert-cased", &[]);
    let texts = [PARIS, TWO_MASKS];
    let cli = cli_fill_mask("distilbert-cased", &["--top-k", "3"], &texts);
    for body in [
        json!({"input_data": texts, "params": {"top_k": 3}}),
        json!({"input_data": {"input_string": texts, "parameters": {"top_k": 3}}}),
    ] {
        let reply = server.post("/score", &body);
        assert_eq!(reply.0, 200, "{}", reply.2);
        assert_eq!(json_of(&reply), Value::Array(cli.clone()));
    }
}

#[test]
fn fill_mask_is_exactly_the_pipelines_answer() {
    let server = Server::start("distilbert-cased", &[]);
    let default = cli_fill_mask("distilbert-cased", &[], &[PARIS, TWO_MASKS]);
    // A string: its answer. A one-text list: the same (the pipeline unwraps it). Several: a list.
    let reply = server.post("/fill-mask", &json!({"inputs": PARIS}));
    assert_eq!(reply.0, 200, "{}", reply.2);
    assert_eq!(json_of(&reply), default[0]);
    let reply = server.post("/fill-mask", &json!({"inputs": [TWO_MASKS]}));
    assert_eq!(json_of(&reply), default[1]);
    let reply = server.post("/fill-mask", &json!({"inputs": [PARIS, TWO_MASKS]}));
    assert_eq!(json_of(&reply), Value::Array(default.clone()));
    // The bytes, not only the values: same floats, same key order.
    let lines = cli_fill_mask_lines("distilbert-cased", &[], &[PARIS, TWO_MASKS]);
    assert_eq!(
        server.post("/fill-mask", &json!({"inputs": PARIS})).2,
        lines[0]
    );
    assert_eq!(
        server
            .post("/fill-mask", &json!({"inputs": [PARIS, TWO_MASKS]}))
            .2,
        format!("[{},{}]", lines[0], lines[1])
    );

    let targets = cli_fill_mask(
        "distilbert-cased",
        &["--top-k", "2", "--targets", "this,city,Floopgarbinator"],
        &[PARIS],
    );
    let reply = server.post(
        "/fill-mask",
        &json!({"inputs": PARIS, "parameters": {"top_k": 2, "targets": ["this", "city", "Floopgarbinator"]}}),
    );
    assert_eq!(reply.0, 200, "{}", reply.2);
    assert_eq!(json_of(&reply), targets[0]);
}

/// Every stored pipeline answer of the fill-mask fixtures, asked for all at once so that the
/// requests are batched together.
#[test]
fn fill_mask_matches_the_stored_pipeline_answers_when_batched() {
    let all: Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("fill_mask.json")).unwrap())
            .unwrap();
    for name in ["distilbert-cased", "bert-mlm-uncased"] {
        let server = Server::start(name, &["--batch-delay-ms", "30"]);
        let cases: Vec<&Value> = all["cases"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["model"] == name)
            .collect();
        assert!(cases.len() > 5);
        let barrier = Barrier::new(cases.len());
        thread::scope(|s| {
            for case in &cases {
                let (server, barrier) = (&server, &barrier);
                s.spawn(move || {
                    let mut parameters = json!({});
                    if !case["top_k"].is_null() {
                        parameters["top_k"] = case["top_k"].clone();
                    }
                    if !case["targets"].is_null() {
                        parameters["targets"] = case["targets"].clone();
                    }
                    let body = json!({"inputs": case["text"], "parameters": parameters});
                    barrier.wait();
                    let reply = server.post("/fill-mask", &body);
                    match case["error"]["message"].as_str() {
                        None => {
                            assert_eq!(reply.0, 200, "{}: {}", case["text"], reply.2);
                            assert_same_answer(&json_of(&reply), &case["result"], &case["text"]);
                        }
                        // The pipeline finds no mask (none given, or all truncated away).
                        Some(m) if m.contains("No mask_token") => assert_eq!(reply.0, 400),
                        // Over 512 tokens without truncation the pipeline crashes; distil
                        // truncates, as the pipeline's truncation=True cases check: an answer,
                        // or a 400 when every mask was past the limit.
                        Some(_) => assert!([200, 400].contains(&reply.0), "{}", reply.2),
                    }
                });
            }
        });
        assert!(
            server.metric("distil_batch_requests_sum")
                > server.metric("distil_batch_requests_count"),
            "no batch held two requests"
        );
    }
}

/// Tokens, strings and sequences identical; scores within 1e-5.
fn assert_same_answer(got: &Value, want: &Value, text: &Value) {
    match (got, want) {
        (Value::Array(g), Value::Array(w)) => {
            assert_eq!(g.len(), w.len(), "{text}");
            for (g, w) in g.iter().zip(w) {
                assert_same_answer(g, w, text);
            }
        }
        (Value::Object(g), Value::Object(w)) => {
            for key in ["token", "token_str", "sequence"] {
                assert_eq!(g[key], w[key], "{text}: {key}");
            }
            let (gs, ws) = (g["score"].as_f64().unwrap(), w["score"].as_f64().unwrap());
            assert!((gs - ws).abs() <= 1e-5, "{text}: score {gs} vs {ws}");
        }
        _ => panic!("{text}: {got} vs {want}"),
    }
}

/// Many clients at once, each text alone first: every batched answer is byte for byte the one
/// the text gets alone, whatever it was batched with.
#[test]
fn batched_answers_equal_single_answers_under_concurrency() {
    let server = Server::start("distilbert-cased", &["--batch-delay-ms", "5"]);
    let long = format!("{} [MASK] {}", "word ".repeat(100), "end ".repeat(50));
    let texts: Vec<String> = vec![
        PARIS.into(),
        TWO_MASKS.into(),
        SHORT.into(),
        "Émile visited 東京 and the [MASK].".into(),
        long,
        "[MASK] [MASK] [MASK]".into(),
    ];
    let requests: Vec<(&str, Value)> = texts
        .iter()
        .enumerate()
        .flat_map(|(i, t)| {
            [
                ("/score", json!({"input_data": [t]})),
                (
                    "/score",
                    json!({"input_data": [t, PARIS], "params": {"top_k": 1 + i}}),
                ),
                ("/fill-mask", json!({"inputs": t})),
                (
                    "/fill-mask",
                    json!({"inputs": t, "parameters": {"top_k": 20 + i}}),
                ),
                (
                    "/fill-mask",
                    json!({"inputs": [t], "parameters": {"targets": ["this", "city"]}}),
                ),
            ]
        })
        .collect();
    let alone: Vec<String> = requests
        .iter()
        .map(|(path, body)| {
            let r = server.post(path, body);
            assert_eq!(r.0, 200, "{body}: {}", r.2);
            r.2
        })
        .collect();
    let clients = 8;
    let barrier = Barrier::new(clients);
    thread::scope(|s| {
        for c in 0..clients {
            let (server, barrier, requests, alone) = (&server, &barrier, &requests, &alone);
            s.spawn(move || {
                barrier.wait();
                for round in 0..3 {
                    for k in 0..requests.len() {
                        let i = (k * 7 + c * 5 + round) % requests.len();
                        let (path, body) = &requests[i];
                        let r = server.post(path, body);
                        assert_eq!(r.0, 200, "{}", r.2);
                        assert_eq!(r.2, alone[i], "{path} {body}");
                    }
                }
            });
        }
    });
    assert!(
        server.metric("distil_batch_requests_sum") > server.metric("distil_batch_requests_count"),
        "no batch held two requests"
    );
}

#[test]
fn embed_and_tokenize_match_the_command_line() {
    let server = Server::start("bert-uncased", &[]);
    let texts = ["A sentence to embed.", "Émile visited 東京."];
    let out = Command::new(env!("CARGO_BIN_EXE_distil"))
        .args(["embed", "--json", "--model", &model("bert-uncased")])
        .args(texts)
        .output()
        .unwrap();
    assert!(out.status.success());
    let cli: Vec<Vec<f32>> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let reply = server.post("/embed", &json!({"inputs": texts}));
    assert_eq!(reply.0, 200, "{}", reply.2);
    let got: Vec<Vec<f32>> = serde_json::from_str(&reply.2).unwrap();
    assert_eq!(got, cli);
    // One string: still a list of vectors (TEI). normalize=false: the same direction, unscaled.
    let reply = server.post("/embed", &json!({"inputs": texts[0], "normalize": false}));
    let raw: Vec<Vec<f32>> = serde_json::from_str(&reply.2).unwrap();
    assert_eq!(raw.len(), 1);
    let norm = raw[0].iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!(
        (norm - 1.0).abs() > 1e-3,
        "the raw vector is already unit length"
    );
    for (r, c) in raw[0].iter().zip(&cli[0]) {
        assert!((r / norm - c).abs() < 1e-6);
    }

    let out = Command::new(env!("CARGO_BIN_EXE_distil"))
        .args(["tokenize", "--json", "--model", &model("bert-uncased")])
        .args(texts)
        .output()
        .unwrap();
    let cli: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let reply = server.post("/tokenize", &json!({"inputs": texts}));
    assert_eq!(reply.0, 200, "{}", reply.2);
    let got = json_of(&reply);
    for (tokens, want) in got.as_array().unwrap().iter().zip(&cli) {
        let ids: Vec<Value> = tokens
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].clone())
            .collect();
        assert_eq!(Value::Array(ids), want["ids"]);
    }
    assert_eq!(
        got[1][1],
        json!({"id": want_id(&cli[1], 1), "text": "Émile", "special": false, "start": 0, "stop": 6})
    );
    assert_eq!(got[1][0]["special"], true);
    assert_eq!(got[1][0]["start"], Value::Null);
    let reply = server.post(
        "/tokenize",
        &json!({"inputs": texts[0], "add_special_tokens": false}),
    );
    let bare = json_of(&reply);
    assert_eq!(
        bare[0].as_array().unwrap().len() + 2,
        got[0].as_array().unwrap().len()
    );
}

fn want_id(tokenized: &Value, i: usize) -> Value {
    tokenized["ids"][i].clone()
}

#[test]
fn bad_requests_get_400_naming_what_is_wrong() {
    let server = Server::start("distilbert-cased", &[]);
    let cases: [(&str, &str, &str); 12] = [
        ("/score", "this is not json", "not valid JSON"),
        ("/score", "", "the request body is empty"),
        (
            "/score",
            r#"["a [MASK]"]"#,
            "must be a JSON object, not a list",
        ),
        (
            "/score",
            r#"{"input_data": 5}"#,
            "\"input_data\" must be a list of strings",
        ),
        (
            "/score",
            r#"{"input_data": []}"#,
            "\"input_data\" is an empty list",
        ),
        (
            "/score",
            r#"{"input_data": ["a [MASK]", 7]}"#,
            "\"input_data[1]\" must be a string, not a number",
        ),
        (
            "/score",
            r#"{"input_data": ["a [MASK]", "no mask"]}"#,
            "input 1 (of 2, counted from 0): no [MASK] token in the text",
        ),
        (
            "/score",
            r#"{"input_dta": ["a [MASK]"]}"#,
            "unknown field \"input_dta\"",
        ),
        (
            "/fill-mask",
            r#"{"inputs": "no mask"}"#,
            "input 0: no [MASK] token in the text",
        ),
        (
            "/fill-mask",
            r#"{"inputs": "a [MASK]", "parameters": {"top_k": 0}}"#,
            "\"parameters.top_k\" must be a positive integer",
        ),
        (
            "/fill-mask",
            r#"{"inputs": "a [MASK]", "parameters": {"targets": ["\u0000"]}}"#,
            "no word is in the vocabulary",
        ),
        (
            "/embed",
            r#"{"inputs": [null]}"#,
            "\"inputs[0]\" must be a string, not null",
        ),
    ];
    for (path, body, needle) in cases {
        let reply = post(&server.url(path), body);
        assert_error(&reply, 400, needle);
    }
    assert_error(&get(&server.url("/nowhere")), 404, "no route GET /nowhere");
    assert_error(
        &get(&server.url("/score")),
        405,
        "GET /score is not allowed; use POST",
    );
    assert_error(
        &get(&server.url("/question-answering")),
        405,
        "GET /question-answering is not allowed; use POST",
    );
    assert_error(
        &post(&server.url("/metrics"), "{}"),
        405,
        "POST /metrics is not allowed; use GET",
    );
    assert_error(
        &get(&server.url("/nowhere")),
        404,
        "the routes are GET /, /health, /ready, /info, /metrics and POST /score, /fill-mask, \
         /embed, /tokenize, /embed_all, /decode, /predict, /rerank, /token-classification, \
         /question-answering, /v1/embeddings",
    );
    // The server still answers, and answers right.
    let reply = server.post("/fill-mask", &json!({"inputs": PARIS}));
    assert_eq!(
        json_of(&reply),
        cli_fill_mask("distilbert-cased", &[], &[PARIS])[0]
    );

    // A model without an MLM head embeds but does not fill masks.
    let bert = Server::start("bert-uncased", &[]);
    assert_error(
        &bert.post("/score", &json!({"input_data": ["a [MASK]"]})),
        400,
        "cannot fill masks",
    );
    assert_error(
        &bert.post("/fill-mask", &json!({"inputs": "a [MASK]"})),
        400,
        "cannot fill masks",
    );
}

#[test]
fn limits_body_size_texts_and_answer_size() {
    let server = Server::start(
        "distilbert-cased",
        &["--max-body-bytes", "2000", "--max-texts", "3"],
    );
    let big = json!({"input_data": ["x [MASK] ".repeat(300)]});
    assert_error(&server.post("/score", &big), 413, "larger than 2000 bytes");
    let many = json!({"input_data": [SHORT, SHORT, SHORT, SHORT]});
    assert_error(
        &server.post("/score", &many),
        400,
        "has 4 texts; the limit is 3 per request",
    );
    // 150 masks × 1,906 candidates, each with its sequence: far past the 32 MB answer limit.
    let masks = json!({"inputs": "[MASK] ".repeat(150), "parameters": {"top_k": 100000}});
    assert_error(
        &server.post("/fill-mask", &masks),
        400,
        "the limit is 32 MB",
    );
    let reply = server.post("/score", &json!({"input_data": [SHORT, SHORT, SHORT]}));
    assert_eq!(reply.0, 200, "{}", reply.2);
}

#[test]
fn long_texts_are_truncated_as_the_command_line_does_with_a_header_saying_so() {
    let server = Server::start("distilbert-cased", &[]);
    let long = format!("The [MASK] is here. {}", "word ".repeat(600));
    let cut = format!(
        "A [MASK] here, {} and one [MASK] too far.",
        "word ".repeat(600)
    );
    let reply = server.post("/fill-mask", &json!({"inputs": [PARIS, long, cut]}));
    assert_eq!(reply.0, 200, "{}", reply.2);
    assert_eq!(header(&reply, "x-distil-truncated"), Some("1,2"));
    assert_eq!(header(&reply, "x-distil-masks-cut"), Some("2"));
    let cli = cli_fill_mask("distilbert-cased", &[], &[PARIS, &long, &cut]);
    assert_eq!(json_of(&reply), Value::Array(cli));
    let reply = server.post("/score", &json!({"input_data": [long]}));
    assert_eq!(header(&reply, "x-distil-truncated"), Some("0"));
    assert!(header(
        &server.post("/score", &json!({"input_data": [PARIS]})),
        "x-distil-truncated"
    )
    .is_none());
    let beyond = format!("{}[MASK]", "word ".repeat(600));
    assert_error(
        &server.post("/score", &json!({"input_data": [beyond]})),
        400,
        "every [MASK] lies beyond the model's 512 tokens",
    );
}

#[test]
fn readiness_waits_for_the_model() {
    let model = model("distilbert-cased");
    let server = Server::spawn(&["--model", &model, "--load-delay-ms", "1500"], &[]);
    // Listening, alive, not ready: the compute routes say so with a 503 at once.
    let root = get(&server.url("/"));
    assert_eq!((root.0, root.2.as_str()), (200, "Healthy"));
    assert_eq!(get(&server.url("/health")).0, 200);
    assert_error(&get(&server.url("/ready")), 503, "loading");
    let reply = server.post("/score", &json!({"input_data": [PARIS]}));
    assert_error(&reply, 503, "still loading");
    assert_eq!(header(&reply, "retry-after"), Some("1"));
    assert_eq!(json_of(&get(&server.url("/info")))["ready"], false);
    server.ready();
    assert_eq!(get(&server.url("/ready")).0, 200);
    assert_eq!(
        server.post("/score", &json!({"input_data": [PARIS]})).0,
        200
    );
    let info = json_of(&get(&server.url("/info")));
    assert_eq!(info["ready"], true);
    assert_eq!(info["max_length"], 512);
    assert_eq!(info["model_type"], "distilbert");
    assert_eq!(info["dtype"], "f32");
    assert_eq!(info["weights_dtype"], "f32");
    assert!(["scalar", "avx2", "avx512"].contains(&info["isa"].as_str().unwrap()));
    assert_eq!(info["bf16_dot"], Value::Null, "f32 multiplies no bf16");
    assert_eq!(info["threads"], 2);
    assert_eq!(info["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(info["tasks"], json!(["fill-mask", "embed", "tokenize"]));
    assert_eq!(
        (&info["task"], &info["architecture"]),
        (&json!("fill-mask"), &json!("DistilBertForMaskedLM"))
    );
}

#[test]
fn past_max_concurrent_requests_get_503_at_once() {
    // Two admitted requests wait 800 ms in the batcher; the others must not wait at all.
    let server = Server::start(
        "distilbert-cased",
        &["--max-concurrent", "2", "--batch-delay-ms", "800"],
    );
    let clients = 6;
    let barrier = Barrier::new(clients);
    let replies: Vec<(Reply, Duration)> = thread::scope(|s| {
        let handles: Vec<_> = (0..clients)
            .map(|_| {
                let (server, barrier) = (&server, &barrier);
                s.spawn(move || {
                    barrier.wait();
                    let started = Instant::now();
                    let r = server.post("/score", &json!({"input_data": [PARIS]}));
                    (r, started.elapsed())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let ok = replies.iter().filter(|(r, _)| r.0 == 200).count();
    let shed: Vec<_> = replies.iter().filter(|(r, _)| r.0 == 503).collect();
    assert_eq!(ok + shed.len(), clients, "{replies:?}");
    assert!(ok >= 1 && !shed.is_empty(), "{replies:?}");
    for (r, took) in shed {
        assert_error(r, 503, "the server is busy");
        assert_eq!(header(r, "retry-after"), Some("1"));
        assert!(*took < Duration::from_millis(600), "a 503 took {took:?}");
    }
    assert!(server.metric("distil_requests_total{route=\"/score\",status=\"503\"}") >= 1.0);
}

/// One HTTP/1.1 exchange on an open connection: the status and body of the answer.
fn exchange(stream: &mut TcpStream, path: &str, body: &str) -> (u16, String) {
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    );
    // The body a moment after the head, as a slow client sends it.
    stream.write_all(head.as_bytes()).unwrap();
    thread::sleep(Duration::from_millis(30));
    stream.write_all(body.as_bytes()).unwrap();
    let mut reader = BufReader::new(stream);
    let mut status_line = String::new();
    reader.read_line(&mut status_line).unwrap();
    let status = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let mut length = 0;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        if line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap();
        }
    }
    let mut answer = vec![0; length];
    reader.read_exact(&mut answer).unwrap();
    (status, String::from_utf8(answer).unwrap())
}

#[test]
fn a_shed_request_leaves_its_connection_open_for_the_next() {
    let server = Server::start(
        "distilbert-cased",
        &["--max-concurrent", "1", "--batch-delay-ms", "1500"],
    );
    thread::scope(|s| {
        let held = s.spawn(|| server.post("/score", &json!({"input_data": [PARIS]})));
        let deadline = Instant::now() + Duration::from_secs(10);
        while server.metric("distil_requests_in_flight") < 1.0 {
            assert!(Instant::now() < deadline, "the first request never arrived");
            thread::sleep(Duration::from_millis(5));
        }
        let body = json!({"input_data": [PARIS]}).to_string();
        let mut stream = TcpStream::connect(server.base.trim_start_matches("http://")).unwrap();
        // Both refused, on one connection: the refused body was read, not left in the way (an
        // unread body would make the server close the connection under the client's feet).
        for _ in 0..2 {
            let (status, answer) = exchange(&mut stream, "/score", &body);
            assert_eq!(status, 503, "{answer}");
            assert!(answer.contains("the server is busy"), "{answer}");
        }
        assert_eq!(held.join().unwrap().0, 200);
        // And the same connection carries an admitted request afterwards.
        let (status, _) = exchange(&mut stream, "/score", &body);
        assert_eq!(status, 200);
    });
}

#[test]
fn a_client_that_trickles_its_headers_or_sits_idle_is_disconnected() {
    let server = Server::start("distilbert-cased", &["--header-timeout", "0.5"]);
    let address = server.base.trim_start_matches("http://").to_string();
    let closed_within = |stream: &mut TcpStream, limit: Duration| {
        stream.set_read_timeout(Some(limit)).unwrap();
        let started = Instant::now();
        let mut rest = Vec::new();
        // EOF or a reset: the server closed the connection (a read timeout is not that).
        let closed = match stream.read_to_end(&mut rest) {
            Ok(_) => true,
            Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
        };
        (closed && rest.is_empty(), started.elapsed())
    };
    // Half a head, then nothing (slowloris).
    let mut trickle = TcpStream::connect(&address).unwrap();
    trickle
        .write_all(b"POST /score HTTP/1.1\r\nHost: localhost\r\n")
        .unwrap();
    let (closed, after) = closed_within(&mut trickle, Duration::from_secs(5));
    assert!(closed, "the server answered a request it never got whole");
    assert!(after < Duration::from_secs(3), "closed after {after:?}");
    // A kept-alive connection: one answer, then silence.
    let mut idle = TcpStream::connect(&address).unwrap();
    let body = json!({"input_data": [PARIS]}).to_string();
    assert_eq!(exchange(&mut idle, "/score", &body).0, 200);
    let (closed, after) = closed_within(&mut idle, Duration::from_secs(5));
    assert!(
        closed && after < Duration::from_secs(3),
        "closed {closed} after {after:?}"
    );
    // And the server goes on.
    assert_eq!(
        server.post("/score", &json!({"input_data": [PARIS]})).0,
        200
    );
}

#[test]
fn a_request_past_the_timeout_gets_504_and_the_server_goes_on() {
    let server = Server::start(
        "distilbert-cased",
        &["--request-timeout", "0.3", "--batch-delay-ms", "1000"],
    );
    let started = Instant::now();
    let reply = server.post("/score", &json!({"input_data": [PARIS]}));
    assert_error(&reply, 504, "longer than 0.3 s");
    assert!(started.elapsed() < Duration::from_millis(900));
    assert_eq!(server.metric("distil_requests_in_flight"), 0.0);
    // The abandoned job is dropped, not computed.
    thread::sleep(Duration::from_millis(1200));
    assert_eq!(server.metric("distil_batch_requests_count"), 0.0);
    assert_eq!(get(&server.url("/ready")).0, 200);
}

#[test]
fn sigterm_answers_every_request_in_flight_then_exits_0() {
    let mut server = Server::start("distilbert-cased", &["--batch-delay-ms", "700"]);
    let clients = 6;
    let want = cli_fill_mask("distilbert-cased", &["--top-k", "1"], &[PARIS]);
    let answers = thread::scope(|s| {
        let handles: Vec<_> = (0..clients)
            .map(|_| {
                let server = &server;
                s.spawn(move || server.post("/score", &json!({"input_data": [PARIS]})))
            })
            .collect();
        // Wait until all are admitted, then ask the server to stop.
        let deadline = Instant::now() + Duration::from_secs(10);
        while server.metric("distil_requests_in_flight") < clients as f64 {
            assert!(Instant::now() < deadline, "requests not in flight");
            thread::sleep(Duration::from_millis(5));
        }
        server.terminate();
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect::<Vec<_>>()
    });
    for reply in &answers {
        assert_eq!(reply.0, 200, "{}", reply.2);
        assert_eq!(json_of(reply), json!([want[0][0]["token_str"]]));
    }
    let (status, log) = server.wait();
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(
        log.contains("SIGTERM: finishing the accepted requests"),
        "{log}"
    );
    assert!(log.contains("every accepted request was answered"), "{log}");
    // Nothing listens any more.
    let address = server.base.trim_start_matches("http://");
    assert!(TcpStream::connect(address).is_err());
}

#[test]
fn hostile_requests_neither_crash_the_server_nor_change_other_answers() {
    let server = Server::start("distilbert-cased", &[]);
    let want = server.post("/fill-mask", &json!({"inputs": PARIS})).2;
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let bodies: Vec<(&str, String)> = vec![
        ("/score", deep),
        (
            "/score",
            String::from_utf8_lossy(&[0xff, 0xfe, 0x00, 0x7b]).into_owned(),
        ),
        ("/score", r#"{"input_data": ["\ud800 [MASK]"]}"#.to_string()),
        (
            "/score",
            json!({"input_data": ["\u{0}\u{7}[MASK]\u{202e}"]}).to_string(),
        ),
        ("/score", json!({"input_data": [""]}).to_string()),
        (
            "/score",
            json!({"input_data": ["[MASK]"], "params": {"top_k": u64::MAX}}).to_string(),
        ),
        (
            "/fill-mask",
            json!({"inputs": "[MASK]".repeat(2000)}).to_string(),
        ),
        (
            "/fill-mask",
            json!({"inputs": "x".repeat(200_000) + " [MASK]"}).to_string(),
        ),
        (
            "/fill-mask",
            json!({"inputs": "[MASK]", "parameters": {"targets": "", "top_k": 3}}).to_string(),
        ),
        (
            "/embed",
            json!({"inputs": ["", "\u{0}", "東".repeat(5000)]}).to_string(),
        ),
        (
            "/tokenize",
            json!({"inputs": ["[MASK][CLS]##", "\u{10ffff}"]}).to_string(),
        ),
    ];
    thread::scope(|s| {
        for (path, body) in &bodies {
            let server = &server;
            s.spawn(move || {
                let reply = post(&server.url(path), body);
                assert!(
                    [200, 400, 413].contains(&reply.0),
                    "{path}: {} {}",
                    reply.0,
                    reply.2
                );
                if reply.0 != 200 {
                    assert!(json_of(&reply)["error"].is_string());
                }
            });
            s.spawn(|| {
                let reply = server.post("/fill-mask", &json!({"inputs": PARIS}));
                assert_eq!(reply.2, want);
            });
        }
    });
    // Not HTTP at all, and a connection dropped mid-request.
    for raw in [
        &b"GARBAGE\r\n\r\n"[..],
        b"POST /score HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"input",
    ] {
        let mut stream = TcpStream::connect(server.base.trim_start_matches("http://")).unwrap();
        stream.write_all(raw).unwrap();
        stream.shutdown(std::net::Shutdown::Write).unwrap();
        let mut sink = Vec::new();
        let _ = stream.read_to_end(&mut sink);
    }
    assert_eq!(server.post("/fill-mask", &json!({"inputs": PARIS})).2, want);
}

#[test]
fn metrics_and_logs_count_every_request() {
    let server = Server::start("distilbert-cased", &[]);
    server.post("/score", &json!({"input_data": [PARIS, SHORT]}));
    server.post("/score", &json!({"input_data": []}));
    get(&server.url("/nowhere"));
    let (status, headers, text) = get(&server.url("/metrics"));
    assert_eq!(status, 200);
    assert!(headers
        .iter()
        .any(|(n, v)| n == "content-type" && v.starts_with("text/plain; version=0.0.4")));
    for line in [
        "distil_requests_total{route=\"/score\",status=\"200\"} 1",
        "distil_requests_total{route=\"/score\",status=\"400\"} 1",
        "distil_requests_total{route=\"other\",status=\"404\"} 1",
        "distil_request_duration_seconds_count{route=\"/score\"} 2",
        "# TYPE distil_batch_size histogram",
        "# TYPE distil_batch_tokens histogram",
        "distil_queue_depth 0",
        "distil_ready 1",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} not in\n{text}");
    }
    // The warm-up is not a batch; the one good request is: 2 texts.
    assert_eq!(server.metric("distil_batch_size_sum"), 2.0);
    // The log line is written after the answer, and read from the server's standard error by a
    // thread of the test's: wait for it.
    for needle in [
        "route=\"/score\" status=200 inputs=2 ms=",
        "route=\"/score\" status=400",
    ] {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !server.log().lines().any(|l| l.contains(needle)) {
            assert!(
                Instant::now() < deadline,
                "{needle} not in\n{}",
                server.log()
            );
            thread::sleep(Duration::from_millis(10));
        }
    }
}

#[test]
fn port_and_model_come_from_azure_mls_environment() {
    // $AZUREML_MODEL_DIR is the mount; the model is one directory below it.
    let mount = tempfile::tempdir().unwrap();
    let registered = mount.path().join("distil-model");
    std::fs::create_dir(&registered).unwrap();
    std::os::unix::fs::symlink(model("distilbert-cased"), registered.join("1")).unwrap();
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let server = Server::spawn(
        &[],
        &[
            ("PORT", &port.to_string()),
            ("AZUREML_MODEL_DIR", &mount.path().display().to_string()),
        ],
    );
    assert_eq!(server.base, format!("http://127.0.0.1:{port}"));
    server.ready();
    let info = json_of(&get(&server.url("/info")));
    assert!(
        info["model_dir"]
            .as_str()
            .unwrap()
            .ends_with("distil-model/1"),
        "{info}"
    );
    assert_eq!(
        server.post("/score", &json!({"input_data": [PARIS]})).0,
        200
    );

    // A PORT that is not a port is one clear error.
    let out = Command::new(env!("CARGO_BIN_EXE_distil"))
        .args(["serve", "--model", &model("distilbert-cased")])
        .env("PORT", "http")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "distil: PORT=\"http\" is not a port number (0 to 65535)\n"
    );
}

#[test]
fn a_model_that_cannot_load_is_one_error_and_exit_1() {
    let out = Command::new(env!("CARGO_BIN_EXE_distil"))
        .args(["serve", "--port", "0", "--model", "/nonexistent/model/dir"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.lines()
            .last()
            .unwrap()
            .starts_with("distil: model /nonexistent/model/dir"),
        "{err}"
    );
}

/// The lines `distil COMMAND --json --model MODEL ARGS…` prints, with `stdin`.
fn cli_lines(command: &str, model_name: &str, args: &[&str], stdin: &str) -> Vec<String> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_distil"))
        .args([command, "--json", "--model", &model(model_name)])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn predict_answers_as_the_classify_command_for_texts_pairs_and_batches() {
    let server = Server::start("bert-uncased-nli", &[]);
    let (a, b) = ("A man is eating pizza.", "Someone eats food.");
    let pair = cli_lines(
        "classify",
        "bert-uncased-nli",
        &["--pair", "--all"],
        &format!("{a}\t{b}\n"),
    );
    let single = cli_lines(
        "classify",
        "bert-uncased-nli",
        &["--all"],
        "Just one text.\n",
    );
    // A list of two strings is one pair (TEI), answered with one list.
    let reply = server.post("/predict", &json!({"inputs": [a, b]}));
    assert_eq!(reply.0, 200, "{}", reply.2);
    assert_eq!(reply.2, pair[0]);
    // A batch: a list of lists, in order.
    let reply = server.post("/predict", &json!({"inputs": [[a, b], "Just one text."]}));
    assert_eq!(reply.2, format!("[{},{}]", pair[0], single[0]));
    // Raw scores are the logits, as `--function none`.
    let raw = cli_lines(
        "classify",
        "bert-uncased-nli",
        &["--all", "--function", "none"],
        "Just one text.\n",
    );
    let reply = server.post(
        "/predict",
        &json!({"inputs": "Just one text.", "raw_scores": true}),
    );
    assert_eq!(reply.2, raw[0]);
    // Bad bodies name the field; a model without the head needed names what it is.
    assert_error(
        &server.post("/predict", &json!({"inputs": [["a", "b", "c"]]})),
        400,
        "\"inputs[0]\" has 3 texts",
    );
    assert_error(
        &server.post("/rerank", &json!({"query": "q", "texts": ["a"]})),
        400,
        "a reranker scores with one label, this classifier has 3",
    );
    // Azure ML's /score on a classifier: the best label per input, or the pipeline's lists.
    let texts = ["Just one text.", "Another text, longer than the first."];
    let all = cli_lines(
        "classify",
        "bert-uncased-nli",
        &["--all"],
        &(texts.join("\n") + "\n"),
    );
    let best: Vec<Value> = all
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()[0]["label"].clone())
        .collect();
    let reply = server.post("/score", &json!({"input_data": texts}));
    assert_eq!(reply.0, 200, "{}", reply.2);
    assert_eq!(json_of(&reply), json!(best));
    let two = cli_lines(
        "classify",
        "bert-uncased-nli",
        &["--top-k", "2"],
        &(texts.join("\n") + "\n"),
    );
    let reply = server.post(
        "/score",
        &json!({"input_data": texts, "params": {"top_k": 2}}),
    );
    assert_eq!(reply.2, format!("[{},{}]", two[0], two[1]));
    let info = json_of(&get(&server.url("/info")));
    assert_eq!(info["task"], "text-classification");
    assert_eq!(
        info["labels"],
        json!(["contradiction", "entailment", "neutral"])
    );
    assert_eq!(info["tasks"], json!(["embed", "tokenize", "predict"]));
    let fill = Server::start("distilbert-cased", &[]);
    assert_error(
        &fill.post("/predict", &json!({"inputs": "a"})),
        400,
        "no sequence-classification head (it is a DistilBertForMaskedLM)",
    );
}

#[test]
fn rerank_answers_as_the_rerank_command() {
    let server = Server::start("bert-uncased-crossencoder", &[]);
    let texts = [
        "The Louvre is a museum in Paris.",
        "Cats sleep a lot.",
        "",
        "Paris has many museums.",
    ];
    let query = "Where is the Louvre?";
    for (raw, flag) in [(false, None), (true, Some("--raw-scores"))] {
        let mut args = vec!["--query", query];
        args.extend(flag);
        let want = cli_lines(
            "rerank",
            "bert-uncased-crossencoder",
            &args,
            &(texts.join("\n") + "\n"),
        );
        let reply = server.post(
            "/rerank",
            &json!({"query": query, "texts": texts, "raw_scores": raw}),
        );
        assert_eq!(reply.0, 200, "{}", reply.2);
        assert_eq!(reply.2, want[0]);
    }
    let reply = server.post(
        "/rerank",
        &json!({"query": query, "texts": texts, "return_text": true}),
    );
    for r in json_of(&reply).as_array().unwrap() {
        let index = r["index"].as_u64().unwrap() as usize;
        assert_eq!(r["text"], texts[index]);
    }
    assert_error(
        &server.post("/rerank", &json!({"query": query})),
        400,
        "no \"texts\"",
    );
}

#[test]
fn token_classification_answers_as_the_ner_command() {
    let server = Server::start("distilbert-cased-ner", &[]);
    let texts = [
        "Ingrid Svensson was born in Malmö, Sweden.",
        "Émile Zola wrote in Paris.",
    ];
    let stdin = texts.join("\n") + "\n";
    for strategy in ["none", "simple", "average"] {
        let want = cli_lines(
            "ner",
            "distilbert-cased-ner",
            &["--aggregation", strategy],
            &stdin,
        );
        let parameters = json!({"aggregation_strategy": strategy});
        let one = server.post(
            "/token-classification",
            &json!({"inputs": texts[0], "parameters": parameters}),
        );
        assert_eq!(one.0, 200, "{}", one.2);
        assert_eq!(one.2, want[0]);
        let both = server.post(
            "/token-classification",
            &json!({"inputs": texts, "parameters": parameters}),
        );
        assert_eq!(both.2, format!("[{},{}]", want[0], want[1]));
    }
    // Azure ML's /score: a list of each text's entities, whatever the request's shape.
    let want = cli_lines(
        "ner",
        "distilbert-cased-ner",
        &["--aggregation", "simple"],
        &stdin,
    );
    let listed = format!("[{},{}]", want[0], want[1]);
    for body in [
        json!({"input_data": texts, "params": {"aggregation_strategy": "simple"}}),
        json!({"input_data": {"input_string": texts, "parameters": {"aggregation_strategy": "simple"}}}),
    ] {
        let reply = server.post("/score", &body);
        assert_eq!((reply.0, &reply.2), (200, &listed), "{body}");
    }
    let plain = cli_lines("ner", "distilbert-cased-ner", &[], &stdin);
    let reply = server.post("/score", &json!({"input_data": [texts[1]]}));
    assert_eq!(reply.2, format!("[{}]", plain[1]));
    assert_error(
        &server.post(
            "/score",
            &json!({"input_data": texts, "params": {"top_k": 2}}),
        ),
        400,
        "\"params\" has an unknown field \"top_k\"",
    );
    assert_error(
        &server.post(
            "/token-classification",
            &json!({"inputs": "a", "parameters": {"aggregation_strategy": "mean"}}),
        ),
        400,
        "must be one of",
    );
    assert_error(
        &server.post(
            "/question-answering",
            &json!({"inputs": {"question": "q", "context": "c"}}),
        ),
        400,
        "no question-answering head (it is a DistilBertForTokenClassification)",
    );
    assert_eq!(
        json_of(&get(&server.url("/info")))["task"],
        "token-classification"
    );
}

#[test]
fn question_answering_answers_as_the_qa_command() {
    let server = Server::start("distilbert-cased-qa", &[]);
    let questions = [
        json!({"question": "Where was Ingrid born?", "context": "Ingrid Svensson was born in Malmö, Sweden, in 1956."}),
        json!({"question": "What is it?", "context": "Paris"}),
    ];
    let stdin: String = questions.iter().map(|q| format!("{q}\n")).collect();
    for (top_k, parameters) in [
        ("1", json!({})),
        ("3", json!({"top_k": 3, "doc_stride": 64})),
    ] {
        let mut args = vec!["--top-k", top_k];
        if top_k == "3" {
            args.extend(["--doc-stride", "64"]);
        }
        let want = cli_lines("qa", "distilbert-cased-qa", &args, &stdin);
        let one = server.post(
            "/question-answering",
            &json!({"inputs": questions[0], "parameters": parameters}),
        );
        assert_eq!(one.0, 200, "{}", one.2);
        assert_eq!(one.2, want[0]);
        let both = server.post(
            "/question-answering",
            &json!({"inputs": questions, "parameters": parameters}),
        );
        assert_eq!(both.2, format!("[{},{}]", want[0], want[1]));
    }
    assert_error(
        &server.post("/question-answering", &json!({"inputs": {"question": "q"}})),
        400,
        "\"inputs\" has no \"context\"",
    );
    // Azure ML's /score: the best answer's text per question, or the pipeline's objects with top_k.
    let want = cli_lines("qa", "distilbert-cased-qa", &[], &stdin);
    let text =
        |line: &str| serde_json::from_str::<serde_json::Value>(line).unwrap()["answer"].clone();
    let columns = json!({
        "question": [questions[0]["question"], questions[1]["question"]],
        "context": [questions[0]["context"], questions[1]["context"]],
    });
    let reply = server.post("/score", &json!({"input_data": columns}));
    assert_eq!(reply.0, 200, "{}", reply.2);
    assert_eq!(json_of(&reply), json!([text(&want[0]), text(&want[1])]));
    let reply = server.post(
        "/score",
        &json!({"input_data": questions, "params": {"top_k": 1}}),
    );
    assert_eq!(reply.2, format!("[{},{}]", want[0], want[1]));
    // One context for several questions, as the pipeline pairs them.
    let context = questions[0]["context"].clone();
    let reply = server.post(
        "/score",
        &json!({"input_data": {"question": ["Who?", "When?"], "context": context}, "params": {"top_k": 2}}),
    );
    let stdin: String = ["Who?", "When?"]
        .iter()
        .map(|q| format!("{}\n", json!({"question": q, "context": context})))
        .collect();
    let want = cli_lines("qa", "distilbert-cased-qa", &["--top-k", "2"], &stdin);
    assert_eq!(reply.2, format!("[{},{}]", want[0], want[1]));
    assert_error(
        &server.post(
            "/score",
            &json!({"input_data": {"question": ["a", "b"], "context": ["c"]}}),
        ),
        400,
        "has 2 questions and 1 contexts",
    );
}

#[test]
fn openai_embeddings_are_the_embed_routes_vectors() {
    let server = Server::start("bert-uncased", &[]);
    let texts = ["A first sentence.", "Another one, a little longer."];
    let embed = json_of(&server.post("/embed", &json!({"inputs": texts})));
    let reply = server.post("/v1/embeddings", &json!({"input": texts, "model": "mine"}));
    assert_eq!(reply.0, 200, "{}", reply.2);
    let got = json_of(&reply);
    assert_eq!(
        (&got["object"], &got["model"]),
        (&json!("list"), &json!("mine"))
    );
    // prompt_tokens: every token the vectors were computed from, [CLS] and [SEP] included.
    let tokens: usize = texts
        .iter()
        .map(|t| {
            json_of(&server.post("/tokenize", &json!({"inputs": t})))[0]
                .as_array()
                .unwrap()
                .len()
        })
        .sum();
    assert_eq!(
        got["usage"],
        json!({"prompt_tokens": tokens, "total_tokens": tokens})
    );
    for (i, item) in got["data"].as_array().unwrap().iter().enumerate() {
        assert_eq!(
            (&item["object"], &item["index"]),
            (&json!("embedding"), &json!(i))
        );
        assert_eq!(item["embedding"], embed[i]);
    }
    // base64: the same floats' little-endian bytes.
    let reply = server.post(
        "/v1/embeddings",
        &json!({"input": texts[0], "encoding_format": "base64"}),
    );
    let encoded = json_of(&reply)["data"][0]["embedding"]
        .as_str()
        .unwrap()
        .to_string();
    let floats = decode_base64_floats(&encoded);
    let want: Vec<f32> = embed[0]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap() as f32)
        .collect();
    assert_eq!(floats, want);
    // dimensions: the first d, normalised again.
    let reply = server.post(
        "/v1/embeddings",
        &json!({"input": texts[0], "dimensions": 8}),
    );
    let cut: Vec<f64> = json_of(&reply)["data"][0]["embedding"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(cut.len(), 8);
    let norm: f64 = want[..8]
        .iter()
        .map(|&v| f64::from(v).powi(2))
        .sum::<f64>()
        .sqrt();
    for (c, w) in cut.iter().zip(&want[..8]) {
        assert!(
            (c - f64::from(*w) / norm).abs() < 1e-6,
            "{c} against {}",
            f64::from(*w) / norm
        );
    }
    assert_error(
        &server.post("/v1/embeddings", &json!({"input": "a", "dimensions": 9999})),
        400,
        "\"dimensions\" is 9999; the model's vectors have 51",
    );
}

/// The f32s whose little-endian bytes `text` holds in standard base64.
fn decode_base64_floats(text: &str) -> Vec<f32> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let mut bytes = Vec::new();
    for chunk in text.as_bytes().chunks(4) {
        let digits: Vec<u8> = chunk
            .iter()
            .filter(|&&c| c != b'=')
            .map(|&c| value(c))
            .collect();
        let group = digits
            .iter()
            .enumerate()
            .fold(0u32, |g, (i, &d)| g | u32::from(d) << (18 - 6 * i));
        bytes.extend((0..digits.len() - 1).map(|i| (group >> (16 - 8 * i)) as u8));
    }
    bytes
        .chunks(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

#[test]
fn embed_all_gives_every_tokens_state_and_decode_gives_the_text_back() {
    let server = Server::start("bert-uncased", &[]);
    let texts = ["A first sentence.", "Two"];
    let reply = server.post("/embed_all", &json!({"inputs": texts}));
    assert_eq!(reply.0, 200, "{}", reply.2);
    let states = json_of(&reply);
    let tokenized = json_of(&server.post("/tokenize", &json!({"inputs": texts})));
    for (i, per_text) in states.as_array().unwrap().iter().enumerate() {
        let rows = per_text.as_array().unwrap();
        assert_eq!(
            rows.len(),
            tokenized[i].as_array().unwrap().len(),
            "one vector per token, [CLS] and [SEP] included"
        );
        assert!(rows.iter().all(|r| r.as_array().unwrap().len() == 51));
    }
    // A text's states do not depend on the others in the request.
    let alone = json_of(&server.post("/embed_all", &json!({"inputs": texts[1]})));
    assert_eq!(alone[0], states[1]);

    let ids: Vec<Value> = tokenized[0]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].clone())
        .collect();
    let reply = server.post("/decode", &json!({"ids": ids}));
    assert_eq!(json_of(&reply), json!(["a first sentence."]));
    let reply = server.post(
        "/decode",
        &json!({"ids": [ids.clone(), ids], "skip_special_tokens": false}),
    );
    assert_eq!(
        json_of(&reply),
        json!([
            "[CLS] a first sentence. [SEP]",
            "[CLS] a first sentence. [SEP]"
        ])
    );
    assert_error(
        &server.post("/decode", &json!({"ids": [2, 99999]})),
        400,
        "99999 is outside the vocabulary",
    );
    // 200 texts of 512 tokens would answer 62 MB of floats: refused before computing.
    let long = "word ".repeat(520);
    let many = vec![long.as_str(); 200];
    assert_error(
        &server.post("/embed_all", &json!({"inputs": many})),
        400,
        "send fewer or shorter texts",
    );
}

/// Reads one answer's status line and headers off `stream` (lower-case names), and its body.
fn read_answer(stream: &mut TcpStream) -> (u16, Vec<(String, String)>, String) {
    let mut reader = BufReader::new(stream);
    let mut status_line = String::new();
    reader.read_line(&mut status_line).unwrap();
    let status = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        if line == "\r\n" {
            break;
        }
        let (name, value) = line.split_once(':').unwrap();
        headers.push((name.to_ascii_lowercase(), value.trim().to_string()));
    }
    let length = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .map_or(0, |(_, v)| v.parse().unwrap());
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    (status, headers, String::from_utf8(body).unwrap())
}

/// The median of `n` timed `/score` requests.
fn median_latency(server: &Server, n: usize) -> Duration {
    let mut took: Vec<Duration> = (0..n)
        .map(|_| {
            let started = Instant::now();
            let reply = server.post("/score", &json!({"input_data": [PARIS]}));
            assert_eq!(reply.0, 200, "{}", reply.2);
            started.elapsed()
        })
        .collect();
    took.sort();
    took[n / 2]
}

#[test]
fn clients_stalling_their_bodies_hold_no_place_and_get_408() {
    let server = Server::start(
        "distilbert-cased",
        &["--max-concurrent", "4", "--body-timeout", "2"],
    );
    let usual = median_latency(&server, 21);
    let address = server.base.trim_start_matches("http://").to_string();
    // 256 clients send their headers and 10 of the 100 bytes of their bodies, then nothing.
    let mut stalled: Vec<TcpStream> = (0..256)
        .map(|_| {
            let mut stream = TcpStream::connect(&address).unwrap();
            stream
                .write_all(
                    b"POST /score HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
                      Content-Length: 100\r\n\r\n{\"input_da",
                )
                .unwrap();
            stream
        })
        .collect();
    let started = Instant::now();
    // Past --max-concurrent many times over, and a well-behaved client is answered as usual.
    let meanwhile = median_latency(&server, 21);
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "the well-behaved requests outlasted the stalls"
    );
    assert!(
        meanwhile <= usual * 2 + Duration::from_millis(5),
        "{meanwhile:?} with the stalled clients, {usual:?} without"
    );
    // Each stalled body gets 408 and its connection closed, 2 s after its headers.
    for stream in &mut stalled {
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let (status, headers, body) = read_answer(stream);
        assert_eq!(status, 408, "{body}");
        assert!(body.contains("did not arrive whole within 2 s (--body-timeout)"));
        assert!(headers.contains(&("connection".to_string(), "close".to_string())));
        let mut rest = Vec::new();
        assert_eq!(
            stream
                .read_to_end(&mut rest)
                .map(|_| rest.len())
                .unwrap_or(0),
            0
        );
    }
    assert!(started.elapsed() >= Duration::from_millis(1900));
    assert_eq!(
        server.metric("distil_requests_total{route=\"/score\",status=\"408\"}"),
        256.0
    );
    let (_, _, metrics) = get(&server.url("/metrics"));
    assert!(!metrics.contains("status=\"504\""), "{metrics}");
}

#[test]
fn past_max_connections_the_oldest_idle_connection_is_closed() {
    let server = Server::start("distilbert-cased", &["--max-connections", "4"]);
    let address = server.base.trim_start_matches("http://").to_string();
    let body = json!({"input_data": [PARIS]}).to_string();
    // Four connections: the first answered once and then idle, the next three open and silent.
    let mut first = TcpStream::connect(&address).unwrap();
    assert_eq!(exchange(&mut first, "/score", &body).0, 200);
    thread::sleep(Duration::from_millis(50));
    let mut silent: Vec<TcpStream> = (0..3)
        .map(|_| TcpStream::connect(&address).unwrap())
        .collect();
    thread::sleep(Duration::from_millis(100));
    // A fifth client is served: the oldest idle connection, the first, is closed for it.
    let reply = server.post("/score", &json!({"input_data": [PARIS]}));
    assert_eq!(reply.0, 200, "{}", reply.2);
    first
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let mut rest = Vec::new();
    assert_eq!(
        first.read_to_end(&mut rest).unwrap(),
        0,
        "the first was not closed"
    );
    // The silent ones were not: each still gets an answer.
    let mut second = silent.remove(0);
    assert_eq!(exchange(&mut second, "/score", &body).0, 200);
    // /info says the limits (its connection, too, takes the place of an idle one).
    let info = json_of(&get(&server.url("/info")));
    assert_eq!(
        (&info["max_connections"], &info["body_timeout_s"]),
        (&json!(4), &json!(10.0))
    );
}

#[test]
fn a_request_naming_20000_unknown_targets_adds_one_log_line() {
    let server = Server::start("distilbert-cased", &[]);
    let targets: Vec<String> = (0..20_000).map(|i| format!("Parisq{i}")).collect();
    let before = server.log().lines().count();
    let reply = server.post(
        "/fill-mask",
        &json!({"inputs": PARIS, "parameters": {"targets": targets, "top_k": 2}}),
    );
    assert_eq!(reply.0, 200, "{}", reply.2);
    // The request's own line lands after the answer is sent; wait for it.
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.log().lines().count() < before + 2 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
    }
    thread::sleep(Duration::from_millis(100));
    let log = server.log();
    let added: Vec<&str> = log.lines().skip(before).collect();
    assert_eq!(added.len(), 2, "{added:#?}");
    let warning = added.iter().find(|l| l.contains("WARN")).unwrap();
    assert!(
        warning.contains(
            "\"parameters.targets\": 20000 targets not in the vocabulary, replaced by their first \
             word piece: \"Parisq0\" → \"Paris\""
        ),
        "{warning}"
    );
    assert!(warning.len() < 400, "{warning}");
}
