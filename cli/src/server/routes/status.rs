//! The routes that compute nothing: liveness, readiness, metrics, model information, and the
//! answers to unknown paths and methods.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
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
    // The model's part, once it is loaded.
    if let (Some(loaded), Value::Object(map)) = (app.loaded.get(), &mut info) {
        if let Ok(Value::Object(model)) = serde_json::to_value(loaded.engine.info()) {
            map.extend(model);
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
