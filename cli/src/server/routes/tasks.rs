//! The routes of the fine-tuned heads: in Text Embeddings Inference's format `/predict` (a
//! sequence classifier's labels) and `/rerank` (a cross-encoder's scores), in Hugging Face's
//! `/token-classification` and `/question-answering`, and Azure ML's `/score` on each head. Each checks that the model has the head,
//! queues its inputs for the batcher and renders the answer.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::response::Response;
use serde::Serialize;

use crate::server::batcher::{Answer, Work};
use crate::server::requests::{self, BadRequest, Limits};
use crate::server::responses::{json_list, ApiError};
use crate::server::{App, Loaded};
use distil::{Aggregation, LabelScore, NerOutput, QaOptions, QaOutput, ScoreFunction, Task};

use super::compute::{loaded, offload, submit, Body};
use super::{answered, serialised};

/// `POST /predict`: every label's score for each text or pair, best first: one list for one
/// input, a list of lists for a batch. The scores are the pipeline's (sigmoid for one label or
/// multi-label models, softmax otherwise), or the logits with `"raw_scores": true`.
pub(super) async fn predict(
    State(app): State<Arc<App>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let (loaded, request, big) =
        accept(&app, body, Task::SequenceClassification, requests::predict).await?;
    let head = &loaded.engine.config().head;
    let function = match request.raw_scores {
        true => ScoreFunction::None,
        false => ScoreFunction::default_for(head.labels.len(), head.problem_type),
    };
    let n = request.inputs.len();
    let work = Work::Classify {
        inputs: request.inputs,
        function,
    };
    let Answer::Classify(results) = submit(loaded, work).await? else {
        return Err(ApiError::internal(
            "internal error: a wrong answer to /predict",
        ));
    };
    let answers = per_input(results)?;
    let batch = request.batch;
    offload(big, move || {
        let labels: Vec<&Vec<LabelScore>> = answers.iter().map(|a| &a.labels).collect();
        let truncated: Vec<usize> = (0..n).filter(|&i| answers[i].truncated > 0).collect();
        match (batch, labels.as_slice()) {
            (false, [one]) => serialised(one, n, &truncated),
            _ => serialised(&labels, n, &truncated),
        }
    })
    .await
}

/// `POST /score` on a sequence classifier (Azure ML's request shapes): the best label per input,
/// or with `params.top_k` the pipeline's `{"label", "score"}` lists, best first, per input.
pub(super) async fn score_labels(app: &App, body: Body) -> Result<Response, ApiError> {
    let (loaded, request, big) = body.read(app, loaded, requests::score).await?;
    let head = &loaded.engine.config().head;
    let work = Work::Classify {
        inputs: request.texts.into_iter().map(|t| (t, None)).collect(),
        function: ScoreFunction::default_for(head.labels.len(), head.problem_type),
    };
    let Answer::Classify(results) = submit(loaded, work).await? else {
        return Err(ApiError::internal(
            "internal error: a wrong answer to /score",
        ));
    };
    let answers = per_input(results)?;
    offload(big, move || {
        let n = answers.len();
        let truncated: Vec<usize> = (0..n).filter(|&i| answers[i].truncated > 0).collect();
        match request.top_k {
            None => {
                let best: Vec<&str> = answers
                    .iter()
                    .map(|a| a.labels.first().map_or("", |l| l.label.as_str()))
                    .collect();
                serialised(&best, n, &truncated)
            }
            Some(k) => {
                let top: Vec<&[LabelScore]> = answers
                    .iter()
                    .map(|a| &a.labels[..k.min(a.labels.len())])
                    .collect();
                serialised(&top, n, &truncated)
            }
        }
    })
    .await
}

/// One text of `/rerank`'s answer.
#[derive(Serialize)]
struct Ranked {
    index: usize,
    score: f32,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<String>,
}

/// `POST /rerank`: the texts by score against the query, best first, as TEI answers: `index`
/// (into `texts`, from 0), `score`, and the `text` with `"return_text": true`.
pub(super) async fn rerank(
    State(app): State<Arc<App>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let (loaded, request, big) =
        accept(&app, body, Task::SequenceClassification, requests::rerank).await?;
    let n = request.texts.len();
    let work = Work::Rerank {
        query: request.query,
        texts: request.texts.clone(),
        raw_scores: request.raw_scores,
    };
    let Answer::Rerank(results) = submit(loaded, work).await? else {
        return Err(ApiError::internal(
            "internal error: a wrong answer to /rerank",
        ));
    };
    let scores = per_input(results)?;
    offload(big, move || {
        let mut ranked: Vec<Ranked> = scores
            .into_iter()
            .enumerate()
            .map(|(index, score)| Ranked {
                index,
                score,
                text: None,
            })
            .collect();
        // Stable: equal scores keep the texts' order.
        ranked.sort_by(|a, b| b.score.total_cmp(&a.score));
        if request.return_text {
            for r in &mut ranked {
                r.text = Some(request.texts[r.index].clone());
            }
        }
        serialised(&ranked, n, &[])
    })
    .await
}

/// `POST /token-classification`: each text's entities, exactly `distil ner --json`'s line for
/// it: one list for one text, a list of them for a list of texts.
pub(super) async fn token_classification(
    State(app): State<Arc<App>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let (loaded, request, big) = accept(
        &app,
        body,
        Task::TokenClassification,
        requests::token_classification,
    )
    .await?;
    let answers = entities(loaded, request.texts, request.aggregation).await?;
    let batch = request.batch;
    offload(big, move || {
        let lines: Vec<String> = answers.iter().map(NerOutput::to_json).collect();
        let truncated: Vec<usize> = (0..answers.len())
            .filter(|&i| answers[i].truncated > 0)
            .collect();
        Ok(listed(lines, batch, &truncated))
    })
    .await
}

/// `POST /question-answering`: each question's answers, exactly `distil qa --json`'s line for
/// it (an object for `top_k` 1, else a list): one for one question, a list of them for a list.
pub(super) async fn question_answering(
    State(app): State<Arc<App>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let (loaded, request, big) = accept(
        &app,
        body,
        Task::QuestionAnswering,
        requests::question_answering,
    )
    .await?;
    let top_k = request.options.top_k;
    let answers = answers(loaded, request.questions, request.options).await?;
    let batch = request.batch;
    offload(big, move || {
        let lines: Vec<String> = answers.iter().map(|a| a.to_json(top_k)).collect();
        Ok(listed(lines, batch, &[]))
    })
    .await
}

/// `POST /score` on a token classifier (Azure ML's request shapes): each text's entities, as
/// `/token-classification` gives them, in a list of one per text.
pub(super) async fn score_entities(app: &App, body: Body) -> Result<Response, ApiError> {
    let (loaded, request, big) = body.read(app, loaded, requests::score_entities).await?;
    let answers = entities(loaded, request.texts, request.aggregation).await?;
    offload(big, move || {
        let lines: Vec<String> = answers.iter().map(NerOutput::to_json).collect();
        let truncated: Vec<usize> = (0..answers.len())
            .filter(|&i| answers[i].truncated > 0)
            .collect();
        Ok(listed(lines, true, &truncated))
    })
    .await
}

/// `POST /score` on a question-answering model (Azure ML's request shapes): the best answer's
/// text per question, or with `params.top_k` the pipeline's objects per question.
pub(super) async fn score_answers(app: &App, body: Body) -> Result<Response, ApiError> {
    let (loaded, request, big) = body.read(app, loaded, requests::score_answers).await?;
    let top_k = request.options.top_k;
    let answers = answers(loaded, request.questions, request.options).await?;
    offload(big, move || {
        if request.full {
            let lines: Vec<String> = answers.iter().map(|a| a.to_json(top_k)).collect();
            return Ok(listed(lines, true, &[]));
        }
        let best: Vec<&str> = answers
            .iter()
            .map(|a| a.answers.first().map_or("", |b| b.answer.as_str()))
            .collect();
        serialised(&best, best.len(), &[])
    })
    .await
}

/// Each text's entities, computed by the batcher.
async fn entities(
    loaded: &Loaded,
    texts: Vec<String>,
    aggregation: Aggregation,
) -> Result<Vec<NerOutput>, ApiError> {
    let work = Work::Ner { texts, aggregation };
    let Answer::Ner(results) = submit(loaded, work).await? else {
        return Err(ApiError::internal(
            "internal error: a wrong answer to a token classification",
        ));
    };
    per_input(results)
}

/// Each question's answers, computed by the batcher.
async fn answers(
    loaded: &Loaded,
    questions: Vec<(String, String)>,
    options: QaOptions,
) -> Result<Vec<QaOutput>, ApiError> {
    let work = Work::Qa { questions, options };
    let Answer::Qa(results) = submit(loaded, work).await? else {
        return Err(ApiError::internal(
            "internal error: a wrong answer to a question",
        ));
    };
    per_input(results)
}

/// The answers' JSON documents as one body: the only one, or a list of them for a `batch`, with
/// the truncation header and the input count.
fn listed(lines: Vec<String>, batch: bool, truncated: &[usize]) -> Response {
    let n = lines.len();
    let body = match (batch, lines.as_slice()) {
        (false, [one]) => one.clone(),
        _ => json_list(&lines),
    };
    answered(body, n, truncated)
}

/// What every task route does first: the body (413 past the limit), the model (503 while it
/// loads; 400 naming its class without the head `task` needs), and the request `parse` reads from
/// the body (400 naming the field); with whether the body is big enough to be handled off the
/// async runtime.
async fn accept<R: Send + 'static>(
    app: &App,
    body: Result<Bytes, BytesRejection>,
    task: Task,
    parse: fn(&[u8], &Limits) -> Result<R, BadRequest>,
) -> Result<(&Loaded, R, bool), ApiError> {
    let with_head = |app| {
        let loaded = loaded(app)?;
        loaded
            .engine
            .require_task(task)
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        Ok(loaded)
    };
    Body::new(body, app)?.read(app, with_head, parse).await
}

/// Each input's answer, or a 400 naming the first input that has none.
fn per_input<T>(results: Vec<Result<T, String>>) -> Result<Vec<T>, ApiError> {
    let n = results.len();
    results
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            r.map_err(|e| ApiError::bad_request(format!("input {i} (of {n}, counted from 0): {e}")))
        })
        .collect()
}
