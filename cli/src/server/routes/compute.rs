//! The compute routes: Azure ML's `/score`, Hugging Face's `/fill-mask`, TEI's `/embed` and
//! `/tokenize`; each reads its body, parses it, queues its work for the batcher and renders the
//! answer.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;
use serde_json::Value;

use crate::server::batcher::{Answer, Embedded, Failure, Refused, Work};
use crate::server::requests::{self, BadRequest, Limits};
use crate::server::responses::{self, json_list, with_indices, ApiError, MASKS_CUT, TRUNCATED};
use crate::server::{App, Loaded};
use distil::ndarray::ArrayViewMut1;
use distil::pipelines::embed::normalize;
use distil::{FillMask, FillMaskOutput, Task};

use super::{serialised, Inputs, INLINE_BYTES};

/// `POST /score`: Azure ML's request shapes; the top-1 token string per input (a list of them
/// for an input with several masks), or with `params.top_k` the pipeline's full objects. On a
/// fine-tuned head, that head's answers instead (`tasks::score_labels`, `score_entities`,
/// `score_answers`).
pub(super) async fn score(
    State(app): State<Arc<App>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = Body::new(body, &app)?;
    match loaded(&app)?.engine.task() {
        Task::SequenceClassification => return super::tasks::score_labels(&app, body).await,
        Task::TokenClassification => return super::tasks::score_entities(&app, body).await,
        Task::QuestionAnswering => return super::tasks::score_answers(&app, body).await,
        Task::MaskedLm | Task::Encoder => {}
    }
    let (loaded, request, big) = body.read(&app, fill_mask_model, requests::score).await?;
    let full = request.top_k.is_some();
    let work = Work::FillMask {
        texts: request.texts,
        top_k: request.top_k.unwrap_or(1),
        targets: None,
    };
    fill_mask_reply(loaded, work, big, move |answers| {
        if full {
            outputs_json(answers)
        } else {
            Value::Array(answers.iter().map(top_token).collect()).to_string()
        }
    })
    .await
}

/// The pipeline's answers, one per text, as one JSON list.
fn outputs_json(answers: &[FillMaskOutput]) -> String {
    json_list(
        &answers
            .iter()
            .map(FillMaskOutput::to_json)
            .collect::<Vec<_>>(),
    )
}

/// `POST /fill-mask`: the Hugging Face pipeline's answer, exactly: for one text its list of
/// candidates (a list of lists for several masks), for several texts a list of those.
pub(super) async fn fill_mask(
    State(app): State<Arc<App>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let (loaded, request, big) = Body::new(body, &app)?
        .read(&app, fill_mask_model, requests::fill_mask)
        .await?;
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
        many => outputs_json(many),
    })
    .await
}

/// `POST /embed`: one vector per text, as Text Embeddings Inference answers.
pub(super) async fn embed(
    State(app): State<Arc<App>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let (loaded, request, big) = Body::new(body, &app)?
        .read(&app, loaded, requests::embed)
        .await?;
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
            .filter(|(_, v)| v.truncated > 0)
            .map(|(i, _)| i)
            .collect();
        let vectors: Vec<Vec<f32>> = vectors
            .into_iter()
            .map(|Embedded { vector: mut v, .. }| {
                if normalize_them {
                    normalize(ArrayViewMut1::from(&mut v[..]));
                }
                v
            })
            .collect();
        serialised(&vectors, n, &truncated)
    })
    .await
}

/// `POST /embed_all`: every token's last hidden state (`[CLS]` and `[SEP]` included, not
/// normalised), a list of them per text, as Text Embeddings Inference answers.
pub(super) async fn embed_all(
    State(app): State<Arc<App>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let (loaded, texts, _) = Body::new(body, &app)?
        .read(&app, loaded, requests::embed_all)
        .await?;
    let n = texts.len();
    let Answer::EmbedAll(states) = submit(loaded, Work::EmbedAll { texts }).await? else {
        return Err(ApiError::internal(
            "internal error: a wrong answer to /embed_all",
        ));
    };
    offload(true, move || {
        let truncated: Vec<usize> = (0..n).filter(|&i| states[i].1 > 0).collect();
        let vectors: Vec<&Vec<Vec<f32>>> = states.iter().map(|(rows, _)| rows).collect();
        serialised(&vectors, n, &truncated)
    })
    .await
}

/// `POST /decode`: each sequence of ids as text, as `tokenizer.decode` gives it (TEI's answer:
/// a list of strings); an id outside the vocabulary is a 400 naming it.
pub(super) async fn decode(
    State(app): State<Arc<App>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let (loaded, request, _) = Body::new(body, &app)?
        .read(&app, loaded, requests::decode)
        .await?;
    let engine = Arc::clone(&loaded.engine);
    offload(true, move || {
        let tokenizer = engine.tokenizer();
        let vocab = tokenizer.vocab_size();
        for (i, ids) in request.ids.iter().enumerate() {
            if let Some(j) = ids.iter().position(|&id| id as usize >= vocab) {
                return Err(ApiError::bad_request(format!(
                    "\"ids\" sequence {i}, position {j}: {} is outside the vocabulary of {vocab}",
                    ids[j]
                )));
            }
        }
        let texts: Vec<String> = request
            .ids
            .iter()
            .map(|ids| tokenizer.decode(ids, request.skip_special_tokens))
            .collect();
        let body = serde_json::to_string(&texts)
            .map_err(|e| ApiError::internal(format!("internal error: {e}")))?;
        let mut response = responses::json(body);
        response.extensions_mut().insert(Inputs(texts.len()));
        Ok(response)
    })
    .await
}

/// One token of `/tokenize`'s answer, as Text Embeddings Inference writes it. `start` and `stop`
/// are byte offsets into the text; `null` for the `[CLS]` and `[SEP]` the tokenizer adds.
#[derive(Serialize)]
pub(super) struct Token<'a> {
    id: u32,
    text: &'a str,
    special: bool,
    start: Option<usize>,
    stop: Option<usize>,
}

/// `POST /tokenize`: each text's tokens (no truncation, as `distil tokenize`).
pub(super) async fn tokenize(
    State(app): State<Arc<App>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let (loaded, request, _) = Body::new(body, &app)?
        .read(&app, loaded, requests::tokenize)
        .await?;
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
pub(super) async fn fill_mask_reply(
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
pub(super) async fn fill_mask_answers(
    loaded: &Loaded,
    work: Work,
) -> Result<Vec<FillMaskOutput>, ApiError> {
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
pub(super) async fn submit(loaded: &Loaded, work: Work) -> Result<Answer, ApiError> {
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
pub(super) fn fill_mask_response(body: String, answers: &[FillMaskOutput]) -> Response {
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
pub(super) fn top_token(answer: &FillMaskOutput) -> Value {
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
pub(super) fn fill_mask_model(app: &App) -> Result<&Loaded, ApiError> {
    let loaded = loaded(app)?;
    loaded.fill_mask.clone().map_err(ApiError::bad_request)?;
    Ok(loaded)
}

pub(super) fn loaded(app: &App) -> Result<&Loaded, ApiError> {
    app.loaded
        .get()
        .ok_or_else(|| ApiError::unavailable("the model is still loading"))
}

/// A compute route's body, and how to parse it.
pub(super) struct Body {
    bytes: Bytes,
    limits: Limits,
    /// Parsed, and answered, on a blocking thread rather than on the async runtime.
    pub(super) big: bool,
}

impl Body {
    /// The body, or 413 past the size limit.
    pub(super) fn new(body: Result<Bytes, BytesRejection>, app: &App) -> Result<Body, ApiError> {
        let bytes = body.map_err(|r| rejected(r, app))?;
        Ok(Body {
            big: bytes.len() > INLINE_BYTES,
            bytes,
            limits: Limits {
                max_texts: app.config.max_texts,
            },
        })
    }

    /// What every compute route does first: the model `model` picks (503 while it loads; 400 when
    /// it cannot serve the route) and the request `parse` reads from the body (400 naming what is
    /// wrong); with whether the body is big enough to be handled off the async runtime.
    pub(super) async fn read<'a, T: Send + 'static>(
        self,
        app: &'a App,
        model: impl FnOnce(&'a App) -> Result<&'a Loaded, ApiError>,
        parse: fn(&[u8], &Limits) -> Result<T, BadRequest>,
    ) -> Result<(&'a Loaded, T, bool), ApiError> {
        let loaded = model(app)?;
        let Body { bytes, limits, big } = self;
        let request = offload(big, move || {
            parse(&bytes, &limits).map_err(|e| ApiError::bad_request(e.0))
        })
        .await?;
        Ok((loaded, request, big))
    }
}

/// How many unusable targets a warning names (it gives the count of all of them).
const NAMED_TARGETS: usize = 5;

/// The token ids of `/fill-mask`'s `parameters.targets`.
pub(super) fn target_ids(engine: &distil::Engine, words: &[String]) -> Result<Vec<u32>, ApiError> {
    let (ids, notes) = FillMask::target_ids(engine, words).map_err(|_| {
        ApiError::bad_request(
            "\"parameters.targets\": no word is in the vocabulary or has a word piece",
        )
    })?;
    // One line however many targets a request names: the log stays a line per request.
    if let Some(summary) = notes.summary(NAMED_TARGETS) {
        tracing::warn!("\"parameters.targets\": {summary}");
    }
    Ok(ids)
}

/// A body that could not be read: 413 past the size limit.
pub(super) fn rejected(rejection: BytesRejection, app: &App) -> ApiError {
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
pub(super) async fn offload<T: Send + 'static>(
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
