//! What the server sends back: JSON bodies, `{"error": …}` with the right status, and the
//! headers that report truncation.

use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// Indices (from 0, in request order) of the inputs that truncation shortened.
pub const TRUNCATED: HeaderName = HeaderName::from_static("x-distil-truncated");
/// Indices of the inputs some of whose `[MASK]`s truncation cut off (not predicted).
pub const MASKS_CUT: HeaderName = HeaderName::from_static("x-distil-masks-cut");

/// A failed request: its status and a sentence saying why, sent as `{"error": "…"}`.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.message }).to_string();
        let mut response = (self.status, json_headers(), body).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            // Shedding and loading are brief: tell clients and load balancers to come back.
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

/// A 200 with a JSON body that is already serialised.
pub fn json(body: String) -> Response {
    (StatusCode::OK, json_headers(), body).into_response()
}

/// A 200 with a plain-text body.
pub fn text(body: &'static str) -> Response {
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        )],
        body,
    )
        .into_response()
}

fn json_headers() -> [(HeaderName, HeaderValue); 1] {
    [(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    )]
}

/// Adds `name: 0,3,…` listing `indices`, when there are any.
pub fn with_indices(mut response: Response, name: HeaderName, indices: &[usize]) -> Response {
    if indices.is_empty() {
        return response;
    }
    let list: Vec<String> = indices.iter().map(usize::to_string).collect();
    if let Ok(value) = HeaderValue::from_str(&list.join(",")) {
        response.headers_mut().insert(name, value);
    }
    response
}

/// `[a,b,…]` from elements that are already JSON.
pub fn json_list(items: &[String]) -> String {
    let mut out = String::with_capacity(items.iter().map(|s| s.len() + 1).sum::<usize>() + 2);
    out.push('[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(item);
    }
    out.push(']');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_list_joins_documents() {
        assert_eq!(json_list(&[]), "[]");
        assert_eq!(
            json_list(&["\"a\"".to_string(), "[1]".to_string()]),
            "[\"a\",[1]]"
        );
    }

    #[test]
    fn errors_are_json_with_retry_after_on_503() {
        let r = ApiError::unavailable("busy").into_response();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.headers()[header::RETRY_AFTER], "1");
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
        let r = ApiError::bad_request("no").into_response();
        assert!(r.headers().get(header::RETRY_AFTER).is_none());
    }
}
