//! The routes that compute nothing: liveness, readiness, metrics, model information, and the
//! answers to unknown paths and methods.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use distil::{Bf16Dot, I8Dot};
use serde_json::{json, Value};

use crate::server::responses::{self, ApiError};
use crate::server::{App, LOADING, STOPPING};

use super::{COMPUTE_ROUTES, GET_ROUTES};

/// `GET /`: Azure ML's liveness convention.
pub(super) async fn root() -> Response {
    responses::text("Healthy")
}

/// `GET /health`: the process is up (whether or not the model is loaded yet).
pub(super) async fn health() -> Response {
    responses::text("OK")
}

/// `GET /ready`: 200 once the model is loaded and warmed up; 503 before, and while shutting down.
pub(super) async fn ready(State(app): State<Arc<App>>) -> Response {
    match app.phase.load(std::sync::atomic::Ordering::Acquire) {
        LOADING => ApiError::unavailable("the model is loading").into_response(),
        STOPPING => ApiError::unavailable("the server is shutting down").into_response(),
        _ => responses::text("Ready"),
    }
}

/// `GET /metrics`: Prometheus text.
pub(super) async fn metrics(State(app): State<Arc<App>>) -> Response {
    let body = app
        .metrics
        .render(app.in_flight(), app.connections.count(), app.ready());
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
pub(super) async fn info(State(app): State<Arc<App>>) -> Response {
    let c = &app.config;
    let mut info = json!({
        "model": c.model,
        "version": env!("CARGO_PKG_VERSION"),
        "ready": app.ready(),
        "max_batch_tokens": c.engine.max_batch_tokens,
        "max_concurrent": c.max_concurrent,
        "max_texts": c.max_texts,
        "max_body_bytes": c.max_body_bytes,
        "request_timeout_s": c.request_timeout.as_secs_f64(),
        "body_timeout_s": c.body_timeout.as_secs_f64(),
        "header_timeout_s": c.header_timeout.as_secs_f64(),
        "max_connections": c.max_connections,
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
        // What the checkpoint was fine-tuned for, and the routes that serve it.
        let head = &config.head;
        let task = match engine.task() {
            distil::Task::Encoder => "feature-extraction",
            distil::Task::MaskedLm => "fill-mask",
            distil::Task::SequenceClassification if head.labels.len() == 1 => {
                tasks.extend(["predict", "rerank"]);
                "text-classification"
            }
            distil::Task::SequenceClassification => {
                tasks.push("predict");
                "text-classification"
            }
            distil::Task::TokenClassification => {
                tasks.push("token-classification");
                "token-classification"
            }
            distil::Task::QuestionAnswering => {
                tasks.push("question-answering");
                "question-answering"
            }
        };
        let more = json!({
            "model_dir": engine.dir().display().to_string(),
            "model_type": model_type,
            "tasks": tasks,
            "task": task,
            "architecture": head.class,
            "labels": head.labels,
            "dtype": engine.dtype().name(),
            "weights_dtype": engine.model().stored_dtype(),
            "isa": engine.isa().name(),
            "bf16_dot": engine.bf16_dot().map(Bf16Dot::name),
            "i8_dot": engine.i8_dot().map(I8Dot::name),
            "attention_dtype": engine.attention_dtype().name(),
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

pub(super) async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!(
            "no route {method} {}; the routes are GET {} and POST {}",
            uri.path(),
            GET_ROUTES.join(", "),
            COMPUTE_ROUTES.join(", ")
        ),
    )
}

pub(super) async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    let path = uri.path();
    let allowed = if COMPUTE_ROUTES.contains(&path) {
        "POST"
    } else {
        "GET"
    };
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{method} {path} is not allowed; use {allowed}"),
    )
}
