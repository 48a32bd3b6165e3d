//! Dynamic batching: requests that arrive together share one forward pass.
//!
//! Handlers put a [`Work`] on a bounded queue and await its answer on a oneshot channel. One
//! thread, `distil-batcher`, takes the first waiting job, then every job that has arrived
//! meanwhile (and, with `--batch-delay-ms`, those that arrive within that time), as long as they
//! can share a call and their tokens fit in `--max-batch-tokens` (the engine's own limit on a
//! forward pass, so a batch is one pass); it runs them as one pipeline call (`FillMask`, `Embed`, `Classify`, `Rerank`, `Ner`, `Qa`)
//! on the engine's thread pool and splits the answers. Each text is tokenized once, when its job
//! is taken from the queue: the pipeline gets the tokens.
//! While a batch runs, the next one gathers in the queue, so under load batches grow by
//! themselves and at low load a request waits for nothing.
//!
//! Batches are ragged (no padding: each sequence attends only to itself), so grouping by length
//! would save nothing, and an input's answer is bit for bit the one it gets alone. Jobs are taken
//! in arrival order; a job that cannot join the batch being formed starts the next one.
//!
//! Classification jobs share a call when they ask for the same score function, reranking jobs
//! when they ask for the same form of score (each pair is one input of the call), entity jobs
//! when they aggregate alike and question jobs when their parameters are equal. Entity and
//! question jobs are tokenized when taken (to size the batch) and again by their pipeline.
//!
//! Fill-mask jobs share a call when they have the same `targets` and either the same `top_k` or
//! both a small one (≤ 16): the call computes the largest and each job keeps its own first
//! `top_k` candidates, which are exactly the candidates a call with its `top_k` returns (the
//! order — score, then token id — is total).
//!
//! A panic in the engine costs no other request its answer: the batch is run again one job at a
//! time, and only the job that panics alone gets a 500. A panic while tokenizing a job fails that
//! job only. Either way the batcher thread goes on.

use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::oneshot;

use super::metrics::Metrics;
use worker::Worker;

mod compute;
mod worker;
use distil::{
    Aggregation, Classification, EmbedConfig, Engine, FillMaskOutput, NerOutput, QaOptions,
    QaOutput, ScoreFunction,
};

/// What a request asks the engine to compute.
#[derive(Clone, Debug)]
pub enum Work {
    FillMask {
        texts: Vec<String>,
        top_k: usize,
        /// Token ids (from [`FillMask::target_ids`]).
        targets: Option<Vec<u32>>,
    },
    /// Pooled embeddings, not normalised (the handler normalises when asked).
    Embed { texts: Vec<String> },
    /// Every token's last hidden state.
    EmbedAll { texts: Vec<String> },
    /// Every label's score for each text or pair of texts, best first.
    Classify {
        inputs: Vec<(String, Option<String>)>,
        function: ScoreFunction,
    },
    /// Each text's score against the query with a cross-encoder (logits when `raw_scores`).
    Rerank {
        query: String,
        texts: Vec<String>,
        raw_scores: bool,
    },
    /// Each text's entities.
    Ner {
        texts: Vec<String>,
        aggregation: Aggregation,
    },
    /// Each (question, context)'s answers.
    Qa {
        questions: Vec<(String, String)>,
        options: QaOptions,
    },
}

impl Work {
    /// How many inputs (texts, pairs, questions) the work holds: its answer has one entry each.
    pub(crate) fn len(&self) -> usize {
        match self {
            Work::FillMask { texts, .. }
            | Work::Embed { texts }
            | Work::EmbedAll { texts }
            | Work::Rerank { texts, .. }
            | Work::Ner { texts, .. } => texts.len(),
            Work::Classify { inputs, .. } => inputs.len(),
            Work::Qa { questions, .. } => questions.len(),
        }
    }
}

/// The engine's answer, one entry per text.
#[derive(Debug)]
pub enum Answer {
    /// Each text's result, or the reason it has none (`no [MASK] token in the text`, …).
    FillMask(Vec<Result<FillMaskOutput, String>>),
    /// Each text's vector.
    Embed(Vec<Embedded>),
    /// Each text's token vectors, and the word pieces truncation dropped.
    EmbedAll(Vec<(Vec<Vec<f32>>, usize)>),
    /// Each input's labels, or why it has none.
    Classify(Vec<Result<Classification, String>>),
    /// Each text's score, or why it has none.
    Rerank(Vec<Result<f32, String>>),
    /// Each text's entities, or why it has none.
    Ner(Vec<Result<NerOutput, String>>),
    /// Each question's answers, or why it has none.
    Qa(Vec<Result<QaOutput, String>>),
}

/// A text's pooled vector (not normalised), the tokens it was computed from, and the word pieces
/// truncation dropped.
#[derive(Debug)]
pub struct Embedded {
    pub vector: Vec<f32>,
    pub tokens: usize,
    pub truncated: usize,
}

/// Why a job got no answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The request itself is at fault (400).
    BadRequest(String),
    /// distil is (500).
    Internal(String),
}

/// Why a job was not queued.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// The queue is full.
    Full,
    /// The batcher has stopped.
    Stopped,
}

/// Limits the batcher applies (besides the engine's tokens per batch).
#[derive(Clone, Copy, Debug)]
pub struct BatchLimits {
    /// How long to wait for more jobs after the first of a batch arrives.
    pub batch_delay: Duration,
    /// Largest answer one request may ask for, in bytes (estimated before computing it).
    pub max_answer_bytes: usize,
}

type Reply = oneshot::Sender<Result<Answer, Failure>>;

struct Job {
    work: Work,
    reply: Reply,
}

enum Message {
    Job(Job),
    Stop,
}

/// The queue's sending end and the batcher thread.
pub struct Batcher {
    queue: SyncSender<Message>,
    thread: Mutex<Option<JoinHandle<()>>>,
    metrics: Arc<Metrics>,
}

impl Batcher {
    /// Starts the batcher thread with a queue of `capacity` jobs.
    pub fn start(
        engine: Arc<Engine>,
        embed_config: EmbedConfig,
        limits: BatchLimits,
        capacity: usize,
        metrics: Arc<Metrics>,
    ) -> std::io::Result<Batcher> {
        let (queue, jobs) = mpsc::sync_channel(capacity.max(1));
        let worker = Worker {
            engine,
            embed_config: EmbedConfig {
                normalize: false,
                ..embed_config
            },
            limits,
            metrics: Arc::clone(&metrics),
        };
        let thread = std::thread::Builder::new()
            .name("distil-batcher".to_string())
            .spawn(move || worker.run(jobs))?;
        Ok(Batcher {
            queue,
            thread: Mutex::new(Some(thread)),
            metrics,
        })
    }

    /// Queues `work`; the answer comes on the returned channel. Never blocks.
    pub fn submit(
        &self,
        work: Work,
    ) -> Result<oneshot::Receiver<Result<Answer, Failure>>, Refused> {
        let (reply, answer) = oneshot::channel();
        self.metrics.queue_depth.fetch_add(1, Ordering::Relaxed);
        match self.queue.try_send(Message::Job(Job { work, reply })) {
            Ok(()) => Ok(answer),
            Err(e) => {
                self.metrics.queue_depth.fetch_sub(1, Ordering::Relaxed);
                Err(match e {
                    TrySendError::Full(_) => Refused::Full,
                    TrySendError::Disconnected(_) => Refused::Stopped,
                })
            }
        }
    }

    /// Answers every job already queued, then stops the thread and waits for it.
    pub fn stop(&self) {
        // `send` waits for room: the jobs ahead are answered first.
        let _ = self.queue.send(Message::Stop);
        let thread = self.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}
