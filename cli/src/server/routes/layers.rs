//! The two middlewares: `admit` (on the compute routes: 503 while loading or stopping; the body
//! read whole, 408 past the body timeout; 503 when busy; 504 past the request timeout) and
//! `observe` (on every route: metrics and one log line).

use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::server::responses::ApiError;
use crate::server::{App, LOADING, STOPPING};

use super::{route_label, Inputs};

/// Counts every request for `/metrics` and logs one line for it.
pub(super) async fn observe(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let path = request.uri().path();
    let route = route_label(path);
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

/// The compute routes' gate: 503 while loading or shutting down; then the body, read whole
/// within `--body-timeout` (408 past it, 413 past `--max-body-bytes`), before the request may
/// take a place: 503 at once past `--max-concurrent`, 504 past `--request-timeout`.
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
    // The body before a place: a client that stalls its body holds a connection, no more.
    let (parts, body) = request.into_parts();
    let bytes = match read_body(body, &app).await {
        Ok(bytes) => bytes,
        Err(error) => return closing(error.into_response()),
    };
    let request = Request::from_parts(parts, Body::from(bytes));
    let Ok(_permit) = Arc::clone(&app.permits).try_acquire_owned() else {
        let error = ApiError::unavailable(format!(
            "the server is busy: {} requests are already in progress (--max-concurrent); \
             retry later",
            app.config.max_concurrent
        ));
        return error.into_response();
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

/// The whole body, within `--body-timeout` and `--max-body-bytes`.
async fn read_body(mut body: Body, app: &App) -> Result<Bytes, ApiError> {
    let limit = app.config.max_body_bytes;
    let timeout = app.config.body_timeout;
    let read = async {
        let mut bytes = Vec::new();
        while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await
        {
            let frame = frame
                .map_err(|e| ApiError::bad_request(format!("cannot read the request body: {e}")))?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            if bytes.len() + data.len() > limit {
                return Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("the request body is larger than {limit} bytes (--max-body-bytes)"),
                ));
            }
            bytes.extend_from_slice(&data);
        }
        Ok(Bytes::from(bytes))
    };
    match tokio::time::timeout(timeout, read).await {
        Ok(result) => result,
        Err(_) => Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "the request body did not arrive whole within {} s (--body-timeout)",
                timeout.as_secs_f64()
            ),
        )),
    }
}

/// `response` with `Connection: close`: what is left of the request is not read.
fn closing(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
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
    match drained {
        true => error.into_response(),
        false => closing(error.into_response()),
    }
}
