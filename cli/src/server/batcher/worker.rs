//! The batcher thread: takes jobs off the queue, tokenizes them, groups those that can share one
//! engine call within the engine's tokens per pass, runs each group and answers its jobs.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::sync::Arc;
use std::time::Instant;

use distil::tokenizer::PairEncoding;
use distil::{
    Aggregation, Classify, ClassifyInput, ClassifyOptions, Embed, EmbedConfig, Encoded, Engine,
    Ner, Qa, QaOptions, Rerank, ScoreFunction,
};

use super::{BatchLimits, Failure, Job, Message, Work};
use crate::server::metrics::Metrics;

/// A job with its texts tokenized, and what grouping needs: its tokens and which calls it can
/// share.
pub(super) struct Prepared {
    pub job: Job,
    /// A fill-mask or embedding job's texts.
    pub encoded: Vec<Encoded>,
    /// A classification or reranking job's inputs.
    pub pairs: Vec<PairEncoding>,
    tokens: usize,
    key: Key,
}

/// Jobs with equal keys can share one engine call.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Key {
    FillMask {
        targets: Option<Vec<u32>>,
        /// 0 for any top_k ≤ SMALL_TOP_K, else the top_k itself.
        top_k_class: usize,
    },
    Embed,
    EmbedAll,
    Classify(ScoreFunction),
    Rerank {
        raw_scores: bool,
    },
    Ner(Aggregation),
    Qa(QaOptions),
}

/// Fill-mask jobs asking for at most this many candidates share calls whatever their top_k.
const SMALL_TOP_K: usize = 16;

/// Bytes of JSON per candidate besides its sequence (score, token, token_str, keys).
const CANDIDATE_OVERHEAD: usize = 80;

pub(super) struct Worker {
    pub engine: Arc<Engine>,
    pub embed_config: EmbedConfig,
    pub limits: BatchLimits,
    pub metrics: Arc<Metrics>,
}

impl Worker {
    /// Serves the queue until it is told to stop or closed.
    pub fn run(self, jobs: Receiver<Message>) {
        let mut next: Option<Prepared> = None;
        let mut stopping = false;
        loop {
            let first = match next.take() {
                Some(p) => p,
                None if stopping => return,
                None => match self.receive(&jobs, None) {
                    Received::Job(job) => match self.prepare_safely(job) {
                        Some(p) => p,
                        None => continue,
                    },
                    Received::Stop | Received::Closed => return,
                    Received::Nothing => continue,
                },
            };
            let mut batch = vec![first];
            let mut tokens = batch[0].tokens;
            let deadline = Instant::now() + self.limits.batch_delay;
            let max_tokens = self.engine.max_batch_tokens();
            while !stopping && tokens < max_tokens {
                match self.receive(&jobs, Some(deadline)) {
                    Received::Job(job) => {
                        let Some(p) = self.prepare_safely(job) else {
                            continue;
                        };
                        if p.key == batch[0].key && tokens + p.tokens <= max_tokens {
                            tokens += p.tokens;
                            batch.push(p);
                        } else {
                            next = Some(p);
                            break;
                        }
                    }
                    Received::Stop | Received::Closed => stopping = true,
                    Received::Nothing => break,
                }
            }
            self.run_batch(batch, tokens);
        }
    }

    /// The next message: waiting for one when `deadline` is `None`, else until the deadline
    /// (not at all once it has passed).
    fn receive(&self, jobs: &Receiver<Message>, deadline: Option<Instant>) -> Received {
        let message = match deadline {
            None => jobs.recv().map_err(|_| RecvTimeoutError::Disconnected),
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    jobs.try_recv().map_err(|e| match e {
                        TryRecvError::Empty => RecvTimeoutError::Timeout,
                        TryRecvError::Disconnected => RecvTimeoutError::Disconnected,
                    })
                } else {
                    jobs.recv_timeout(left)
                }
            }
        };
        match message {
            Ok(Message::Job(job)) => {
                self.metrics.queue_depth.fetch_sub(1, Ordering::Relaxed);
                Received::Job(job)
            }
            Ok(Message::Stop) => Received::Stop,
            Err(RecvTimeoutError::Timeout) => Received::Nothing,
            Err(RecvTimeoutError::Disconnected) => Received::Closed,
        }
    }

    /// [`Worker::prepare`], and if tokenizing panics, that job alone fails (its caller gets a
    /// 500) and the batcher goes on.
    fn prepare_safely(&self, job: Job) -> Option<Prepared> {
        catch_unwind(AssertUnwindSafe(|| self.prepare(job))).unwrap_or_else(|_| {
            tracing::error!("the tokenizer panicked on a request");
            None
        })
    }

    /// Tokenizes the job's texts, or answers it at once: when its caller has gone (timed out) or
    /// when its answer would be too large.
    fn prepare(&self, job: Job) -> Option<Prepared> {
        if job.reply.is_closed() {
            return None;
        }
        let engine = &self.engine;
        let max_length = engine.max_length();
        match &job.work {
            Work::FillMask {
                texts,
                top_k,
                targets,
            } => {
                let mask_id = engine.tokenizer().mask_id();
                let candidates = targets
                    .as_ref()
                    .map_or(engine.config().vocab_size, Vec::len);
                let per_mask = (*top_k).min(candidates);
                let encoded: Vec<Encoded> =
                    texts.iter().map(|t| engine.encode(t, max_length)).collect();
                let mut answer_bytes = 0usize;
                for (text, encoded) in texts.iter().zip(&encoded) {
                    let masks = encoded
                        .ids
                        .iter()
                        .filter(|&&id| Some(id) == mask_id)
                        .count();
                    let per_candidate = text.len().min(8 * max_length) + CANDIDATE_OVERHEAD;
                    answer_bytes = answer_bytes.saturating_add(
                        masks.saturating_mul(per_mask).saturating_mul(per_candidate),
                    );
                }
                if answer_bytes > self.limits.max_answer_bytes {
                    let _ = job.reply.send(Err(Failure::BadRequest(format!(
                        "the answer would be about {} MB (every [MASK] × top_k {per_mask} candidates, \
                         each with its sequence); the limit is {} MB: ask for a smaller top_k or \
                         send fewer texts per request",
                        answer_bytes.div_ceil(1 << 20),
                        self.limits.max_answer_bytes >> 20
                    ))));
                    return None;
                }
                let key = Key::FillMask {
                    targets: targets.clone(),
                    top_k_class: if *top_k <= SMALL_TOP_K { 0 } else { *top_k },
                };
                Some(Prepared {
                    tokens: encoded.iter().map(|e| e.ids.len()).sum(),
                    encoded,
                    pairs: Vec::new(),
                    key,
                    job,
                })
            }
            Work::Embed { texts } => {
                let max_length = self.embed().max_length();
                let encoded: Vec<Encoded> =
                    texts.iter().map(|t| engine.encode(t, max_length)).collect();
                Some(Prepared {
                    tokens: encoded.iter().map(|e| e.ids.len()).sum(),
                    encoded,
                    pairs: Vec::new(),
                    key: Key::Embed,
                    job,
                })
            }
            Work::EmbedAll { texts } => {
                let encoded: Vec<Encoded> =
                    texts.iter().map(|t| engine.encode(t, max_length)).collect();
                let tokens: usize = encoded.iter().map(|e| e.ids.len()).sum();
                // About 12 bytes of JSON per float.
                let answer_bytes = tokens
                    .saturating_mul(engine.config().dim)
                    .saturating_mul(12);
                if answer_bytes > self.limits.max_answer_bytes {
                    let _ = job.reply.send(Err(Failure::BadRequest(format!(
                        "the answer would be about {} MB ({tokens} tokens × {} floats); the limit \
                         is {} MB: send fewer or shorter texts per request",
                        answer_bytes.div_ceil(1 << 20),
                        engine.config().dim,
                        self.limits.max_answer_bytes >> 20
                    ))));
                    return None;
                }
                Some(Prepared {
                    tokens,
                    encoded,
                    pairs: Vec::new(),
                    key: Key::EmbedAll,
                    job,
                })
            }
            Work::Classify { inputs, function } => {
                let classify = match self.classify(*function) {
                    Ok(classify) => classify,
                    Err(e) => return refuse(job, e),
                };
                let pairs = inputs
                    .iter()
                    .map(|(a, b)| match b {
                        Some(b) => classify.encode(&ClassifyInput::Pair(a, b)),
                        None => classify.encode(&ClassifyInput::Text(a)),
                    })
                    .collect();
                let key = Key::Classify(*function);
                Some(paired(job, pairs, key))
            }
            Work::Rerank {
                query,
                texts,
                raw_scores,
            } => {
                let rerank = match Rerank::new(engine, *raw_scores) {
                    Ok(rerank) => rerank,
                    Err(e) => return refuse(job, e),
                };
                let pairs = texts.iter().map(|t| rerank.encode(query, t)).collect();
                let key = Key::Rerank {
                    raw_scores: *raw_scores,
                };
                Some(paired(job, pairs, key))
            }
            Work::Ner { texts, aggregation } => {
                if let Err(e) = Ner::new(engine, *aggregation) {
                    return refuse(job, e);
                }
                let tokens = texts
                    .iter()
                    .map(|t| engine.tokenizer().encode(t).len().min(max_length))
                    .sum();
                let key = Key::Ner(*aggregation);
                Some(counted(job, tokens, key))
            }
            Work::Qa { questions, options } => {
                if let Err(e) = Qa::new(engine, options.clone()) {
                    return refuse(job, e);
                }
                let tokenizer = engine.tokenizer();
                let tokens = questions
                    .iter()
                    .map(|(q, c)| tokenizer.encode(q).len() + tokenizer.encode(c).len())
                    .sum();
                let key = Key::Qa(options.clone());
                Some(counted(job, tokens, key))
            }
        }
    }

    /// The classifier with every label, scored by `function`.
    pub(super) fn classify(&self, function: ScoreFunction) -> distil::Result<Classify<'_>> {
        let options = ClassifyOptions {
            top_k: None,
            function: Some(function),
        };
        Classify::new(&self.engine, options)
    }

    /// Runs `batch` as one engine call and answers each job; after a panic, runs each job alone.
    fn run_batch(&self, batch: Vec<Prepared>, tokens: usize) {
        let batch: Vec<Prepared> = batch
            .into_iter()
            .filter(|p| !p.job.reply.is_closed())
            .collect();
        if batch.is_empty() {
            return;
        }
        let texts: usize = batch.iter().map(|p| p.encoded.len()).sum();
        let started = Instant::now();
        let answers = catch_unwind(AssertUnwindSafe(|| self.compute(&batch)));
        self.metrics
            .observe_batch(batch.len(), texts, tokens, started.elapsed());
        match answers {
            Ok(answers) => {
                for (p, answer) in batch.into_iter().zip(answers) {
                    let _ = p.job.reply.send(answer);
                }
            }
            Err(_) if batch.len() > 1 => {
                tracing::error!(
                    requests = batch.len(),
                    "the engine panicked on a batch; running its requests one at a time"
                );
                for p in batch {
                    let tokens = p.tokens;
                    self.run_batch(vec![p], tokens);
                }
            }
            Err(_) => {
                tracing::error!("the engine panicked on a request");
                for p in batch {
                    let _ = p.job.reply.send(Err(Failure::Internal(
                        "internal error: the engine failed on this request".to_string(),
                    )));
                }
            }
        }
    }

    /// The embedding pipeline, with the model's pooling and without normalising.
    pub(super) fn embed(&self) -> Embed<'_> {
        Embed::with_config(&self.engine, self.embed_config.clone())
    }
}

/// A classification or reranking job with its pairs tokenized.
fn paired(job: Job, pairs: Vec<PairEncoding>, key: Key) -> Prepared {
    Prepared {
        tokens: pairs.iter().map(|p: &PairEncoding| p.encoding.len()).sum(),
        encoded: Vec::new(),
        pairs,
        key,
        job,
    }
}

/// An entity or question job, its tokens counted to size the batch (its pipeline tokenizes it).
fn counted(job: Job, tokens: usize, key: Key) -> Prepared {
    Prepared {
        tokens,
        encoded: Vec::new(),
        pairs: Vec::new(),
        key,
        job,
    }
}

/// Answers `job` at once with the request's fault `e` (the model cannot do what it asks).
fn refuse(job: Job, e: distil::Error) -> Option<Prepared> {
    let _ = job.reply.send(Err(Failure::BadRequest(e.to_string())));
    None
}

enum Received {
    Job(Job),
    Stop,
    Closed,
    /// Nothing arrived before the deadline.
    Nothing,
}
