//! `distil serve`: an HTTP inference server for fill-mask and embeddings, on axum and tokio.
//!
//! It answers the request shapes of an Azure ML online endpoint (`POST /score`), of the Hugging
//! Face inference API (`POST /fill-mask`) and of Text Embeddings Inference (`POST /embed`,
//! `POST /tokenize`), with the liveness and readiness routes load balancers probe and Prometheus
//! metrics. How a request flows:
//!
//! 1. `admit` (a middleware on the compute routes): 503 at once while the model loads; then the
//!    body is read whole within `--body-timeout` (408 and a closed connection past it, 413 past
//!    `--max-body-bytes`) before the request may take one of `--max-concurrent` places (503 when
//!    none is free), so a client that stalls its body holds no place; the admitted request holds
//!    it until its answer is sent, and gets 504 if that takes longer than `--request-timeout`;
//! 2. the handler parses the body (`requests/`: 400 naming the field) and queues the texts for
//!    the batcher (`batcher/`);
//! 3. the batcher groups what is queued into one engine call, run on the engine's thread pool off
//!    the async runtime, and sends each request its own answers;
//! 4. `observe` (a middleware on every route) counts the request for `/metrics` and logs one line.
//!
//! At most `--max-connections` connections are open at once (`connections.rs`: past it the oldest
//! idle one is closed); a client must send a request's headers within `--header-timeout`.
//!
//! The server starts listening before the model is loaded, so `/ready` can say 503 until it is
//! loaded and warmed up. On SIGTERM or Ctrl-C it stops accepting connections, answers every
//! request it has accepted, and returns.

pub mod batcher;
mod connections;
mod load;
pub mod metrics;
pub mod requests;
pub mod responses;
mod routes;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch, Notify, Semaphore};

use self::batcher::Batcher;
use self::connections::Connections;
use self::metrics::Metrics;
use distil::{Engine, Error, Options, Result};

/// How to run the server.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    /// A model directory or a Hugging Face hub id.
    pub model: String,
    /// Address to listen on.
    pub host: String,
    /// Port to listen on (0: any free port; the bound address is printed).
    pub port: u16,
    /// How to load and run the engine: threads, instruction set, and most tokens in one batch
    /// of requests, which is one forward pass (`max_batch_tokens`).
    pub engine: Options,
    /// Threads of the async runtime that handles connections (parsing, routing, answers).
    pub http_threads: usize,
    /// Most requests admitted at once; past it a request gets 503 at once.
    pub max_concurrent: usize,
    /// Most texts in one request.
    pub max_texts: usize,
    /// Largest request body.
    pub max_body_bytes: usize,
    /// Largest fill-mask answer one request may ask for (estimated before computing it).
    pub max_answer_bytes: usize,
    /// Longest a request may take from admission (its body read) to its answer (504 past it).
    pub request_timeout: Duration,
    /// Longest a client may take to send a request's body once its headers are in (408 past it).
    pub body_timeout: Duration,
    /// Most connections open at once; past it the oldest idle one is closed.
    pub max_connections: usize,
    /// Longest a client may take to send a request's headers, counted from its first byte or,
    /// on a kept-alive connection, from the previous answer; past it the connection is closed.
    pub header_timeout: Duration,
    /// How long the batcher waits for more requests after the first of a batch.
    pub batch_delay: Duration,
    /// A pause before loading the model (for tests of readiness).
    pub load_delay: Duration,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            model: "distilbert-base-cased".to_string(),
            host: "127.0.0.1".to_string(),
            port: 5001,
            // The engine's own batch limit: since the linear layers work in chunks of 128 tokens
            // (issue 13), a token costs no more in a large batch than in a small one (ms per
            // 128-token sequence at 32 × 128 were 0.67× those at 4 × 128 in the peers run of
            // 2026-12-02, 2 threads), so the server no longer caps batches below it.
            engine: Options::default(),
            http_threads: 1,
            max_concurrent: 64,
            max_texts: 256,
            max_body_bytes: 1 << 20,
            max_answer_bytes: 32 << 20,
            request_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(10),
            max_connections: 1024,
            header_timeout: Duration::from_secs(10),
            batch_delay: Duration::ZERO,
            load_delay: Duration::ZERO,
        }
    }
}

const LOADING: u8 = 0;
const READY: u8 = 1;
const STOPPING: u8 = 2;

/// What every handler shares.
pub(crate) struct App {
    config: ServeConfig,
    metrics: Arc<Metrics>,
    /// LOADING, READY or STOPPING.
    phase: AtomicU8,
    loaded: OnceLock<Loaded>,
    permits: Arc<Semaphore>,
    connections: Arc<Connections>,
}

/// The model once loaded and warmed up.
pub(crate) struct Loaded {
    engine: Arc<Engine>,
    batcher: Batcher,
    /// `Err(why)` when the model cannot fill masks (no MLM head or no `[MASK]`).
    fill_mask: std::result::Result<(), String>,
}

impl App {
    fn ready(&self) -> bool {
        self.phase.load(Ordering::Acquire) == READY
    }

    fn in_flight(&self) -> usize {
        self.config
            .max_concurrent
            .saturating_sub(self.permits.available_permits())
    }
}

/// Runs the server until SIGTERM or Ctrl-C; `Err` when it cannot listen or the model cannot be
/// loaded.
pub fn serve(config: ServeConfig) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.http_threads.max(1))
        .thread_name("distil-http")
        .enable_all()
        .build()
        .map_err(|e| Error::input(format!("cannot start the async runtime: {e}")))?;
    let app = Arc::new(App {
        permits: Arc::new(Semaphore::new(config.max_concurrent.max(1))),
        connections: Arc::new(Connections::new(config.max_connections)),
        config,
        metrics: Arc::new(Metrics::default()),
        phase: AtomicU8::new(LOADING),
        loaded: OnceLock::new(),
    });
    let result = runtime.block_on(run(Arc::clone(&app)));
    // Every accepted request has been answered; anything still queued belongs to a request that
    // timed out. Stop the batcher once it has drained.
    if let Some(loaded) = app.loaded.get() {
        loaded.batcher.stop();
    }
    result
}

async fn run(app: Arc<App>) -> Result<()> {
    let config = &app.config;
    let listener = TcpListener::bind((config.host.as_str(), config.port))
        .await
        .map_err(|e| {
            Error::input(format!(
                "cannot listen on {}:{}: {e}",
                config.host, config.port
            ))
        })?;
    let address: SocketAddr = listener
        .local_addr()
        .map_err(|e| Error::input(format!("cannot read the bound address: {e}")))?;
    // One parseable line for scripts and tests; the logs go to standard error.
    println!("distil: listening on http://{address}");
    tracing::info!(%address, model = %config.model, "listening; loading the model");

    let (failed_tx, failed_rx) = oneshot::channel::<Error>();
    let loader = Arc::clone(&app);
    std::thread::Builder::new()
        .name("distil-load".to_string())
        .spawn(move || match load::load(&loader) {
            Ok(()) => {}
            Err(e) => {
                let _ = failed_tx.send(e);
            }
        })
        .map_err(|e| Error::input(format!("cannot start the loading thread: {e}")))?;

    let load_error = Arc::new(Mutex::new(None));
    let stopping = Arc::new(Notify::new());
    let signal = shutdown_signal(
        Arc::clone(&app),
        failed_rx,
        Arc::clone(&load_error),
        Arc::clone(&stopping),
    );
    let router = routes::router(Arc::clone(&app));
    let server = serve_connections(
        listener,
        router,
        Arc::clone(&app.connections),
        config.header_timeout,
        signal,
    );
    // Accepted requests end within --body-timeout and --request-timeout; a connection still open
    // well after that is a client that sends nothing, and does not hold the exit.
    let grace = config.body_timeout + config.request_timeout + Duration::from_secs(5);
    tokio::select! {
        () = server => {}
        () = async { stopping.notified().await; tokio::time::sleep(grace).await } => {
            tracing::warn!(grace_s = grace.as_secs(), "connections still open after the grace period; exiting");
        }
    }
    if let Some(e) = load_error.lock().ok().and_then(|mut e| e.take()) {
        return Err(e);
    }
    tracing::info!("stopped: every accepted request was answered");
    Ok(())
}

/// Serves `router` to every connection `listener` accepts until `signal` resolves, then waits for
/// the open connections to finish the requests they have begun. HTTP/1.1 with keep-alive; a client
/// must send a request's headers within `header_timeout` of starting it (or of its previous
/// answer), so connections that trickle bytes or sit idle are closed instead of piling up; at most
/// `connections`' limit are open at once.
async fn serve_connections(
    listener: TcpListener,
    router: axum::Router,
    connections: Arc<Connections>,
    header_timeout: Duration,
    signal: impl std::future::Future<Output = ()>,
) {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    let (stop, stopped) = watch::channel(());
    let mut signal = std::pin::pin!(signal);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors, say: wait a moment rather than spin on it.
                    tracing::warn!("cannot accept a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut signal => break,
        };
        // A place for it among --max-connections (the oldest idle connection closed to make one).
        let slot = tokio::select! {
            slot = connections.slot() => slot,
            () = &mut signal => break,
        };
        // Answers are written whole, at once: nothing is gained by delaying them.
        let _ = stream.set_nodelay(true);
        let slot = Arc::new(slot);
        let inner = TowerToHyperService::new(router.clone());
        let on = Arc::clone(&slot);
        let service = hyper::service::service_fn(move |request| {
            let busy = on.busy();
            let answer = hyper::service::Service::call(&inner, request);
            async move {
                let answer = answer.await;
                drop(busy);
                answer
            }
        });
        let connection = http.serve_connection(TokioIo::new(stream), service);
        let mut stopped = stopped.clone();
        tokio::spawn(async move {
            let mut connection = std::pin::pin!(connection);
            let closing = tokio::select! {
                result = connection.as_mut() => Some(result),
                () = slot.evicted() => None,
                _ = stopped.changed() => None,
            };
            // Told to close: once its request in progress, if any, is answered.
            let result = match closing {
                Some(result) => result,
                None => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(e) = result {
                tracing::debug!("connection closed: {e}");
            }
        });
    }
    drop(listener);
    let _ = stop.send(());
    connections.all_closed().await;
}

/// Resolves SIGTERM, Ctrl-C or a failed load; marks the server as stopping.
async fn shutdown_signal(
    app: Arc<App>,
    failed: oneshot::Receiver<Error>,
    load_error: Arc<Mutex<Option<Error>>>,
    stopping: Arc<Notify>,
) {
    let terminate = async {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            match signal(SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        }
        #[cfg(not(unix))]
        std::future::pending::<()>().await
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("Ctrl-C: finishing the accepted requests"),
        () = terminate => tracing::info!("SIGTERM: finishing the accepted requests"),
        Ok(e) = failed => {
            tracing::error!("cannot load the model: {e}");
            if let Ok(mut slot) = load_error.lock() {
                *slot = Some(e);
            }
        }
    }
    app.phase.store(STOPPING, Ordering::Release);
    stopping.notify_one();
}
