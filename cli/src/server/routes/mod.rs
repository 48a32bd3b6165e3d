//! The router: which route answers what (`status.rs`: routes that compute nothing; `compute.rs`:
//! the routes that run the model for fill-mask and embeddings; `tasks.rs`: those of the
//! fine-tuned heads), behind the two middlewares of `layers.rs`.

mod compute;
mod layers;
mod openai;
mod status;
mod tasks;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;

use super::responses::{self, with_indices, ApiError, TRUNCATED};
use super::App;
use compute::{decode, embed, embed_all, fill_mask, score, tokenize};
use layers::{admit, observe};
use openai::embeddings;
use status::{health, info, method_not_allowed, metrics, not_found, ready, root};
use tasks::{predict, question_answering, rerank, token_classification};

/// The routes that compute nothing (GET).
const GET_ROUTES: [&str; 5] = ["/", "/health", "/ready", "/info", "/metrics"];

/// The routes that run the model (POST), behind `admit`.
const COMPUTE_ROUTES: [&str; 11] = [
    "/score",
    "/fill-mask",
    "/embed",
    "/tokenize",
    "/embed_all",
    "/decode",
    "/predict",
    "/rerank",
    "/token-classification",
    "/question-answering",
    "/v1/embeddings",
];

/// The route of `path`, as a metric label: one of the routes, or `other`.
fn route_label(path: &str) -> &'static str {
    GET_ROUTES
        .iter()
        .chain(&COMPUTE_ROUTES)
        .copied()
        .find(|r| *r == path)
        .unwrap_or("other")
}

/// Bodies larger than this are parsed, and their answers serialised, on a blocking thread
/// rather than on the async runtime.
const INLINE_BYTES: usize = 64 << 10;

/// How many texts a response answered, for the request log.
#[derive(Clone, Copy)]
struct Inputs(usize);

/// A 200 whose body is `body` (JSON), with the truncated inputs' indices in a header and the
/// number of inputs for the request log.
fn answered(body: String, inputs: usize, truncated: &[usize]) -> Response {
    let mut response = with_indices(responses::json(body), TRUNCATED, truncated);
    response.extensions_mut().insert(Inputs(inputs));
    response
}

/// [`answered`] with `answer` serialised.
fn serialised(
    answer: &impl serde::Serialize,
    inputs: usize,
    truncated: &[usize],
) -> Result<Response, ApiError> {
    let body = serde_json::to_string(answer)
        .map_err(|e| ApiError::internal(format!("internal error: {e}")))?;
    Ok(answered(body, inputs, truncated))
}

pub(crate) fn router(app: Arc<App>) -> Router {
    let compute = Router::new()
        .route("/score", post(score))
        .route("/fill-mask", post(fill_mask))
        .route("/embed", post(embed))
        .route("/tokenize", post(tokenize))
        .route("/embed_all", post(embed_all))
        .route("/decode", post(decode))
        .route("/predict", post(predict))
        .route("/rerank", post(rerank))
        .route("/token-classification", post(token_classification))
        .route("/question-answering", post(question_answering))
        .route("/v1/embeddings", post(embeddings))
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
