//! `POST /v1/embeddings`, in OpenAI's format, which many clients and frameworks speak: the same
//! vectors as `/embed` (normalised), as lists of floats or as base64 of their little-endian
//! bytes, cut to `dimensions` and normalised again when asked (Matryoshka models), with the
//! tokens counted in `usage`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::response::Response;
use serde::Serialize;

use crate::server::batcher::{Answer, Embedded, Work};
use crate::server::requests;
use crate::server::responses::ApiError;
use crate::server::App;
use distil::ndarray::ArrayViewMut1;
use distil::pipelines::embed::normalize;

use super::compute::{loaded, offload, submit, Body};
use super::serialised;

/// `POST /v1/embeddings`: `{"object": "list", "data": [{"object": "embedding", "embedding",
/// "index"}], "model", "usage": {"prompt_tokens", "total_tokens"}}`.
pub(super) async fn embeddings(
    State(app): State<Arc<App>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let (loaded, request, big) = Body::new(body, &app)?
        .read(&app, loaded, requests::embeddings)
        .await?;
    let dim = loaded.engine.config().dim;
    if let Some(d) = request.dimensions.filter(|&d| d > dim) {
        return Err(ApiError::bad_request(format!(
            "\"dimensions\" is {d}; the model's vectors have {dim}"
        )));
    }
    let model = request
        .model
        .clone()
        .unwrap_or_else(|| app.config.model.clone());
    let n = request.texts.len();
    let Answer::Embed(vectors) = submit(
        loaded,
        Work::Embed {
            texts: request.texts,
        },
    )
    .await?
    else {
        return Err(ApiError::internal(
            "internal error: a wrong answer to /v1/embeddings",
        ));
    };
    offload(big, move || {
        let tokens: usize = vectors.iter().map(|v| v.tokens).sum();
        let truncated: Vec<usize> = (0..n).filter(|&i| vectors[i].truncated > 0).collect();
        let data: Vec<Item> = vectors
            .into_iter()
            .enumerate()
            .map(|(index, Embedded { mut vector, .. })| {
                vector.truncate(request.dimensions.unwrap_or(vector.len()));
                normalize(ArrayViewMut1::from(&mut vector[..]));
                let embedding = match request.base64 {
                    true => Embedding::Base64(base64(&vector)),
                    false => Embedding::Floats(vector),
                };
                Item {
                    object: "embedding",
                    embedding,
                    index,
                }
            })
            .collect();
        let list = List {
            object: "list",
            data,
            model,
            usage: Usage {
                prompt_tokens: tokens,
                total_tokens: tokens,
            },
        };
        serialised(&list, n, &truncated)
    })
    .await
}

/// The answer (typed, so that the floats are written as f32, the way `/embed` writes them).
#[derive(Serialize)]
struct List {
    object: &'static str,
    data: Vec<Item>,
    model: String,
    usage: Usage,
}

#[derive(Serialize)]
struct Item {
    object: &'static str,
    embedding: Embedding,
    index: usize,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Embedding {
    Floats(Vec<f32>),
    Base64(String),
}

#[derive(Serialize)]
struct Usage {
    prompt_tokens: usize,
    total_tokens: usize,
}

/// The standard base64 (RFC 4648, with padding) of the floats' little-endian bytes, as OpenAI's
/// `encoding_format: "base64"` sends them.
fn base64(floats: &[f32]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes: Vec<u8> = floats.iter().flat_map(|f| f.to_le_bytes()).collect();
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let group = chunk
            .iter()
            .enumerate()
            .fold(0u32, |g, (i, &b)| g | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(group >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::base64;

    #[test]
    fn base64_of_little_endian_floats() {
        // 1.0f32 is 00 00 80 3f; -2.0 is 00 00 00 c0.
        assert_eq!(base64(&[1.0]), "AACAPw==");
        assert_eq!(base64(&[1.0, -2.0]), "AACAPwAAAMA=");
        assert_eq!(base64(&[]), "");
        assert_eq!(base64(&[0.0, 0.0, 0.0]), "AAAAAAAAAAAAAAAA");
    }
}
