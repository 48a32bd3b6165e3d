//! The routes: what each one takes and answers, and the two middlewares (`admit`, `observe`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Serialize;
use serde_json::{json, Value};

use super::batcher::{Answer, Failure, Refused, Work};
use super::requests::{self, BadRequest, Limits};
use super::responses::{self, json_list, with_indices, ApiError, MASKS_CUT, TRUNCATED};
use super::{App, Loaded, LOADING, STOPPING};
use distil::ndarray::ArrayViewMut1;
use distil::pipelines::embed::normalize;
use distil::{FillMask, FillMaskOutput};

/// The routes, as metric labels (any other path is counted as `other`).
const ROUTES: [&str; 9] = [
    "/",
    "/health",
    "/ready",
    "/score",
    "/fill-mask",
    "/embed",
    "/tokenize",
    "/info",
    "/metrics",
];

/// Bodies larger than this are parsed, and their answers serialised, on a blocking thread
/// rather than on the async runtime.
const INLINE_BYTES: usize = 64 << 10;

/// How many texts a response answered, for the request log.
#[derive(Clone, Copy)]
struct Inputs(usize);

pub(crate) fn router(app: Arc<App>) -> Router {
    let compute = Router::new()
        .route("/score", post(score))
        .route("/fill-mask", post(fill_mask))
        .route("/embed", post(embed))
        .route("/tokenize", post(tokenize))
        .route_layer(middleware::from_fn_with_state(Arc::clone(&app), admit))
        .layer(DefaultBodyLimit::max(app.config.max_body_bytes));
    Router::new()
        .route("/", get(root))
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/info", get(info))
        .route("/metrics", get(metrics))
        .merge(compute)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(Arc::clone(&app), observe))
        .with_state(app)
}

/// Counts every request for `/metrics` and logs one line for it.
async fn observe(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let path = request.uri().path();
    let route = ROUTES
        .iter()
        .copied()
        .find(|r| *r == path)
        .unwrap_or("other");
    let method = request.method().clone();
    let response = next.run(request).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    app.metrics.observe_request(route, status, elapsed);
    let inputs = response.extensions().get::<Inputs>().map_or(0, |i| i.0);
    tracing::info!(
        %method,
        route,
        status,
        inputs,
        ms = (elapsed.as_secs_f64() * 1e4).round() / 10.0,
        "request"
    );
    response
}

/// The compute routes' gate: 503 while loading or shutting down, 503 at once past
/// `--max-concurrent`, 504 past `--request-timeout`.
async fn admit(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let refusal = match app.phase.load(std::sync::atomic::Ordering::Acquire) {
        LOADING => Some(ApiError::unavailable(
            "the model is still loading; GET /ready answers 200 once it is ready",
        )),
        STOPPING => Some(ApiError::unavailable("the server is shutting down")),
        _ => None,
    };
    if let Some(error) = refusal {
        return refuse(request, &app, error).await;
    }
    let Ok(_permit) = Arc::clone(&app.permits).try_acquire_owned() else {
        let error = ApiError::unavailable(format!(
            "the server is busy: {} requests are already in progress (--max-concurrent); \
             retry later",
            app.config.max_concurrent
        ));
        return refuse(request, &app, error).await;
    };
    let timeout = app.config.request_timeout;
    match tokio::time::timeout(timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            format!(
                "the request took longer than {} s (--request-timeout)",
                timeout.as_secs_f64()
            ),
        )
        .into_response(),
    }
}

/// Answers `error` to a request refused before its handler. Its body is read first (it has
/// usually arrived already), so that the connection stays open for the client's next request;
/// a body too large or too slow to read gets `Connection: close` instead.
async fn refuse(request: Request, app: &App, error: ApiError) -> Response {
    let body = axum::body::to_bytes(request.into_body(), app.config.max_body_bytes);
    let drained = matches!(
        tokio::time::timeout(Duration::from_millis(200), body).await,
        Ok(Ok(_))
    );
    let mut response = error.into_response();
    if !drained {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// `GET /`: Azure ML's liveness convention.
async fn root() -> Response {
    responses::text("Healthy")
}

/// `GET /health`: the process is up (whether or not the model is loaded yet).
async fn health() -> Response {
    responses::text("OK")
}

/// `GET /ready`: 200 once the model is loaded and warmed up; 503 before, and while shutting down.
async fn ready(State(app): State<Arc<App>>) -> Response {
    match app.phase.load(std::sync::atomic::Ordering::Acquire) {
        LOADING => ApiError::unavailable("the model is loading").into_response(),
        STOPPING => ApiError::unavailable("the server is shutting down").into_response(),
        _ => responses::text("Ready"),
    }
}

/// `GET /metrics`: Prometheus text.
async fn metrics(State(app): State<Arc<App>>) -> Response {
    let body = app.metrics.render(app.in_flight(), app.ready());
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        body,
    )
        .into_response()
}

/// `GET /info`: the model and the server's settings.
async fn info(State(app): State<Arc<App>>) -> Response {
    let c = &app.config;
    let mut info = json!({
        "model": c.model,
        "version": env!("CARGO_PKG_VERSION"),
        "ready": app.ready(),
        "max_batch_tokens": c.max_batch_tokens,
        "max_concurrent": c.max_concurrent,
        "max_texts": c.max_texts,
        "max_body_bytes": c.max_body_bytes,
        "request_timeout_s": c.request_timeout.as_secs_f64(),
    });
    if let (Some(loaded), Value::Object(map)) = (app.loaded.get(), &mut info) {
        let engine = &loaded.engine;
        let config = engine.model().config();
        let model_type = match config.architecture {
            distil::model::Architecture::DistilBert => "distilbert",
            distil::model::Architecture::Bert => "bert",
        };
        let mut tasks = vec!["embed", "tokenize"];
        if loaded.fill_mask.is_ok() {
            tasks.insert(0, "fill-mask");
        }
        let more = json!({
            "model_dir": engine.dir().display().to_string(),
            "model_type": model_type,
            "tasks": tasks,
            "dtype": engine.model().dtype(),
            "compute_dtype": "f32",
            "max_length": engine.max_length(),
            "vocab_size": config.vocab_size,
            "dim": config.dim,
            "layers": config.n_layers,
            "heads": config.n_heads,
            "threads": engine.threads(),
        });
        if let Value::Object(more) = more {
            map.extend(more);
        }
    }
    responses::json(info.to_string())
}

async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!(
            "no route {method} {}; the routes are GET /, /health, /ready, /info, /metrics and \
             POST /score, /fill-mask, /embed, /tokenize",
            uri.path()
        ),
    )
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    let path = uri.path();
    let allowed = if ["/score", "/fill-mask", "/embed", "/tokenize"].contains(&path) {
        "POST"
    } else {
        "GET"
    };
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{method} {path} is not allowed; use {allowed}"),
    )
}

/// `POST /score`: Azure ML's request shapes; the top-1 token string per input (a list of them
/// for an input with several masks), or with `params.top_k` the pipeline's full objects.
async fn score(
    State(app): State<Arc<App>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = Body::new(body, &app)?;
    let big = body.big;
    let loaded = fill_mask_model(&app)?;
    let request = body.parse(requests::score).await?;
    let full = request.top_k.is_some();
    let work = Work::FillMask {
        texts: request.texts,
        top_k: request.top_k.unwrap_or(1),
        targets: None,
    };
    fill_mask_reply(loaded, work, big, move |answers| {
        if full {
            json_list(
                &answers
                    .iter()
                    .map(FillMaskOutput::to_json)
                    .collect::<Vec<_>>(),
            )
        } else {
            Value::Array(answers.iter().map(top_token).collect()).to_string()
        }
    })
    .await
}

/// `POST /fill-mask`: the Hugging Face pipeline's answer, exactly: for one text its list of
/// candidates (a list of lists for several masks), for several texts a list of those.
async fn fill_mask(
    State(app): State<Arc<App>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = Body::new(body, &app)?;
    let big = body.big;
    let loaded = fill_mask_model(&app)?;
    let request = body.parse(requests::fill_mask).await?;
    let targets = match request.targets {
        None => None,
        Some(words) => {
            let engine = Arc::clone(&loaded.engine);
            Some(offload(big, move || target_ids(&engine, &words)).await?)
        }
    };
    let work = Work::FillMask {
        texts: request.texts,
        top_k: request.top_k,
        targets,
    };
    fill_mask_reply(loaded, work, big, |answers| match answers {
        // The pipeline unwraps a one-text list too (`outputs[0]`).
        [one] => one.to_json(),
        many => json_list(&many.iter().map(FillMaskOutput::to_json).collect::<Vec<_>>()),
    })
    .await
}

/// `POST /embed`: one vector per text, as Text Embeddings Inference answers.
async fn embed(
    State(app): State<Arc<App>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = Body::new(body, &app)?;
    let big = body.big;
    let loaded = loaded(&app)?;
    let request = body.parse(requests::embed).await?;
    let n = request.texts.len();
    let answer = submit(
        loaded,
        Work::Embed {
            texts: request.texts,
        },
    )
    .await?;
    let Answer::Embed(vectors) = answer else {
        return Err(ApiError::internal(
            "internal error: a fill-mask answer to /embed",
        ));
    };
    let normalize_them = request.normalize;
    offload(big, move || {
        let truncated: Vec<usize> = vectors
            .iter()
            .enumerate()
            .filter(|(_, (_, cut))| *cut > 0)
            .map(|(i, _)| i)
            .collect();
        let vectors: Vec<Vec<f32>> = vectors
            .into_iter()
            .map(|(mut v, _)| {
                if normalize_them {
                    normalize(ArrayViewMut1::from(&mut v[..]));
                }
                v
            })
            .collect();
        let body = serde_json::to_string(&vectors)
            .map_err(|e| ApiError::internal(format!("internal error: {e}")))?;
        let mut response = with_indices(responses::json(body), TRUNCATED, &truncated);
        response.extensions_mut().insert(Inputs(n));
        Ok(response)
    })
    .await
}

/// One token of `/tokenize`'s answer, as Text Embeddings Inference writes it. `start` and `stop`
/// are byte offsets into the text; `null` for the `[CLS]` and `[SEP]` the tokenizer adds.
#[derive(Serialize)]
struct Token<'a> {
    id: u32,
    text: &'a str,
    special: bool,
    start: Option<usize>,
    stop: Option<usize>,
}

/// `POST /tokenize`: each text's tokens (no truncation, as `distil tokenize`).
async fn tokenize(
    State(app): State<Arc<App>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = Body::new(body, &app)?;
    let loaded = loaded(&app)?;
    let request = body.parse(requests::tokenize).await?;
    let engine = Arc::clone(&loaded.engine);
    // Tokenizing is quick but not free: never on the async runtime.
    offload(true, move || {
        let tokenizer = engine.tokenizer();
        let mut out = Vec::with_capacity(request.texts.len());
        for text in &request.texts {
            let encoding = tokenizer.encode(text);
            let last = encoding.ids.len().saturating_sub(1);
            let tokens: Vec<Token> = encoding
                .ids
                .iter()
                .zip(&encoding.tokens)
                .zip(&encoding.offsets)
                .enumerate()
                .filter(|(i, _)| request.add_special_tokens || (*i != 0 && *i != last))
                .map(|(i, ((&id, token), &(start, stop)))| {
                    if i == 0 || i == last {
                        Token {
                            id,
                            text: token,
                            special: true,
                            start: None,
                            stop: None,
                        }
                    } else {
                        Token {
                            id,
                            text: text.get(start..stop).unwrap_or(token),
                            special: tokenizer.is_special(id),
                            start: Some(start),
                            stop: Some(stop),
                        }
                    }
                })
                .collect();
            out.push(
                serde_json::to_string(&tokens)
                    .map_err(|e| ApiError::internal(format!("internal error: {e}")))?,
            );
        }
        let mut response = responses::json(json_list(&out));
        response
            .extensions_mut()
            .insert(Inputs(request.texts.len()));
        Ok(response)
    })
    .await
}

/// Computes `work` and answers with the body `render` writes of its answers (on a blocking thread
/// when the request was `big`), with the truncation headers.
async fn fill_mask_reply(
    loaded: &Loaded,
    work: Work,
    big: bool,
    render: impl FnOnce(&[FillMaskOutput]) -> String + Send + 'static,
) -> Result<Response, ApiError> {
    let answers = fill_mask_answers(loaded, work).await?;
    offload(big, move || {
        Ok(fill_mask_response(render(&answers), &answers))
    })
    .await
}

/// The fill-mask answers of `work`, or a 400 naming the first text that has none.
async fn fill_mask_answers(loaded: &Loaded, work: Work) -> Result<Vec<FillMaskOutput>, ApiError> {
    let Answer::FillMask(results) = submit(loaded, work).await? else {
        return Err(ApiError::internal(
            "internal error: an embedding answer to fill-mask",
        ));
    };
    let n = results.len();
    results
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            r.map_err(|e| {
                let mut error = ApiError::bad_request(format!("input {i}: {e}"));
                if n > 1 {
                    error.message = format!("input {i} (of {n}, counted from 0): {e}");
                }
                error
            })
        })
        .collect()
}

/// Queues `work` for the batcher and waits for its answer.
async fn submit(loaded: &Loaded, work: Work) -> Result<Answer, ApiError> {
    let answer = loaded
        .batcher
        .submit(work)
        .map_err(|refused| match refused {
            Refused::Full => {
                ApiError::unavailable("the server is busy: the queue is full; retry later")
            }
            Refused::Stopped => ApiError::unavailable("the server is shutting down"),
        })?;
    match answer.await {
        Ok(Ok(answer)) => Ok(answer),
        Ok(Err(Failure::BadRequest(message))) => Err(ApiError::bad_request(message)),
        Ok(Err(Failure::Internal(message))) => Err(ApiError::internal(message)),
        Err(_) => Err(ApiError::internal(
            "internal error: this request failed in the engine",
        )),
    }
}

/// A fill-mask body with the truncation headers and the input count.
fn fill_mask_response(body: String, answers: &[FillMaskOutput]) -> Response {
    let truncated: Vec<usize> = (0..answers.len())
        .filter(|&i| answers[i].truncated > 0)
        .collect();
    let cut: Vec<usize> = (0..answers.len())
        .filter(|&i| answers[i].masks_cut > 0)
        .collect();
    if !truncated.is_empty() {
        tracing::warn!(inputs = ?truncated, "inputs truncated to the model's length");
    }
    let response = with_indices(responses::json(body), TRUNCATED, &truncated);
    let mut response = with_indices(response, MASKS_CUT, &cut);
    response.extensions_mut().insert(Inputs(answers.len()));
    response
}

/// Azure ML's plain answer for one text: the top token string, or a list of them (one per mask).
fn top_token(answer: &FillMaskOutput) -> Value {
    let top = |candidates: &Vec<distil::Prediction>| {
        candidates
            .first()
            .map_or(Value::Null, |p| Value::String(p.token_str.clone()))
    };
    match answer.masks.as_slice() {
        [one] => top(one),
        many => Value::Array(many.iter().map(top).collect()),
    }
}

/// The loaded model, if it can fill masks (else a 400 saying why not).
fn fill_mask_model(app: &App) -> Result<&Loaded, ApiError> {
    let loaded = loaded(app)?;
    loaded.fill_mask.clone().map_err(ApiError::bad_request)?;
    Ok(loaded)
}

fn loaded(app: &App) -> Result<&Loaded, ApiError> {
    app.loaded
        .get()
        .ok_or_else(|| ApiError::unavailable("the model is still loading"))
}

/// A compute route's body, and how to parse it.
struct Body {
    bytes: Bytes,
    limits: Limits,
    /// Parsed, and answered, on a blocking thread rather than on the async runtime.
    big: bool,
}

impl Body {
    /// The body, or 413 past the size limit.
    fn new(body: Result<Bytes, BytesRejection>, app: &App) -> Result<Body, ApiError> {
        let bytes = body.map_err(|r| rejected(r, app))?;
        Ok(Body {
            big: bytes.len() > INLINE_BYTES,
            bytes,
            limits: Limits {
                max_texts: app.config.max_texts,
            },
        })
    }

    /// The request `parse` reads from the body, or a 400 naming what is wrong.
    async fn parse<T: Send + 'static>(
        self,
        parse: fn(&[u8], &Limits) -> Result<T, BadRequest>,
    ) -> Result<T, ApiError> {
        let Body { bytes, limits, big } = self;
        offload(big, move || {
            parse(&bytes, &limits).map_err(|e| ApiError::bad_request(e.0))
        })
        .await
    }
}

/// The token ids of `/fill-mask`'s `parameters.targets`.
fn target_ids(engine: &distil::Engine, words: &[String]) -> Result<Vec<u32>, ApiError> {
    let (ids, warnings) = FillMask::target_ids(engine, words).map_err(|_| {
        ApiError::bad_request(
            "\"parameters.targets\": no word is in the vocabulary or has a word piece",
        )
    })?;
    for w in warnings {
        tracing::warn!("{w}");
    }
    Ok(ids)
}

/// A body that could not be read: 413 past the size limit.
fn rejected(rejection: BytesRejection, app: &App) -> ApiError {
    let status = rejection.status();
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::new(
            status,
            format!(
                "the request body is larger than {} bytes (--max-body-bytes)",
                app.config.max_body_bytes
            ),
        );
    }
    ApiError::new(
        status,
        format!("cannot read the request body: {}", rejection.body_text()),
    )
}

/// Runs `f` on a blocking thread when `blocking`, else here.
async fn offload<T: Send + 'static>(
    blocking: bool,
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    if !blocking {
        return f();
    }
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| ApiError::internal("internal error: a worker thread failed"))?
}
