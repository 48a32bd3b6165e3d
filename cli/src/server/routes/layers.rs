//! The two middlewares: `admit` (on the compute routes: 503 while loading, stopping or busy; 504
//! past the request timeout) and `observe` (on every route: metrics and one log line).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::server::responses::ApiError;
use crate::server::{App, LOADING, STOPPING};

use super::{Inputs, ROUTES};

/// Counts every request for `/metrics` and logs one line for it.
pub(super) async fn observe(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
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
pub(super) async fn admit(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
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
pub(super) async fn refuse(request: Request, app: &App, error: ApiError) -> Response {
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
