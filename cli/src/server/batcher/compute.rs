//! What the batcher thread computes for a batch: one pipeline call over the inputs of all its
//! jobs (they share a kind and parameters), split back into one answer per job.

use distil::tokenizer::PairEncoding;
use distil::{Encoded, FillMask, FillMaskOptions, Ner, Qa, Question, Rerank};

use super::worker::{Prepared, Worker};
use super::{Answer, Embedded, Failure, Work};

impl Worker {
    /// One engine call over every text of `batch`, split back into one answer per job.
    pub(super) fn compute(&self, batch: &[Prepared]) -> Vec<Result<Answer, Failure>> {
        let encoded: Vec<Encoded> = batch.iter().flat_map(|p| p.encoded.clone()).collect();
        match &batch[0].job.work {
            Work::FillMask { targets, .. } => {
                let top_k = batch
                    .iter()
                    .map(|p| match &p.job.work {
                        Work::FillMask { top_k, .. } => *top_k,
                        _ => 0,
                    })
                    .max()
                    .unwrap_or(1);
                let options = FillMaskOptions {
                    top_k,
                    targets: targets.clone(),
                };
                let fill_mask = match FillMask::new(&self.engine, options) {
                    Ok(pipeline) => pipeline,
                    Err(e) => {
                        return batch
                            .iter()
                            .map(|_| Err(Failure::BadRequest(e.to_string())))
                            .collect()
                    }
                };
                let mut results = fill_mask.run_encoded(&encoded).into_iter();
                batch
                    .iter()
                    .map(|p| {
                        let Work::FillMask { texts, top_k, .. } = &p.job.work else {
                            return Err(Failure::Internal(
                                "internal error: a job in the wrong batch".to_string(),
                            ));
                        };
                        let answers = results
                            .by_ref()
                            .take(texts.len())
                            .map(|r| match r {
                                Ok(mut answer) => {
                                    answer.masks.iter_mut().for_each(|m| m.truncate(*top_k));
                                    Ok(answer)
                                }
                                Err(e) => Err(e.to_string()),
                            })
                            .collect();
                        Ok(Answer::FillMask(answers))
                    })
                    .collect()
            }
            Work::Classify { function, .. } => {
                let pairs: Vec<PairEncoding> = batch.iter().flat_map(|p| p.pairs.clone()).collect();
                match self.classify(*function) {
                    Ok(classify) => {
                        let results = classify.run_encoded(&pairs);
                        split(batch, results, Answer::Classify)
                    }
                    Err(e) => refuse_all(batch, e),
                }
            }
            Work::Rerank { raw_scores, .. } => {
                let pairs: Vec<PairEncoding> = batch.iter().flat_map(|p| p.pairs.clone()).collect();
                match Rerank::new(&self.engine, *raw_scores) {
                    Ok(rerank) => split(batch, rerank.scores_encoded(&pairs), Answer::Rerank),
                    Err(e) => refuse_all(batch, e),
                }
            }
            Work::Ner { aggregation, .. } => match Ner::new(&self.engine, *aggregation) {
                Ok(ner) => {
                    let texts: Vec<&str> = batch
                        .iter()
                        .flat_map(|p| match &p.job.work {
                            Work::Ner { texts, .. } => texts.as_slice(),
                            _ => &[],
                        })
                        .map(String::as_str)
                        .collect();
                    split(batch, ner.run(&texts), Answer::Ner)
                }
                Err(e) => refuse_all(batch, e),
            },
            Work::Qa { options, .. } => match Qa::new(&self.engine, options.clone()) {
                Ok(qa) => {
                    let questions: Vec<Question<'_>> = batch
                        .iter()
                        .flat_map(|p| match &p.job.work {
                            Work::Qa { questions, .. } => questions.as_slice(),
                            _ => &[],
                        })
                        .map(|(question, context)| Question { question, context })
                        .collect();
                    split(batch, qa.run(&questions), Answer::Qa)
                }
                Err(e) => refuse_all(batch, e),
            },
            Work::EmbedAll { .. } => {
                let ids: Vec<&[u32]> = encoded.iter().map(|e| e.ids.as_slice()).collect();
                match self.engine.forward(&ids) {
                    Ok(hidden) => {
                        let mut answers = hidden.sequences().zip(&encoded).map(|(states, e)| {
                            let rows = states.rows().into_iter().map(|r| r.to_vec()).collect();
                            (rows, e.truncated)
                        });
                        batch
                            .iter()
                            .map(|p| {
                                Ok(Answer::EmbedAll(
                                    answers.by_ref().take(p.encoded.len()).collect(),
                                ))
                            })
                            .collect()
                    }
                    Err(e) => batch
                        .iter()
                        .map(|_| Err(Failure::Internal(e.to_string())))
                        .collect(),
                }
            }
            Work::Embed { .. } => match self.embed().run_encoded(&encoded) {
                Ok(embeddings) => {
                    let mut answers = embeddings
                        .vectors
                        .rows()
                        .into_iter()
                        .zip(embeddings.truncated)
                        .zip(&encoded)
                        .map(|((v, truncated), e)| Embedded {
                            vector: v.to_vec(),
                            tokens: e.ids.len(),
                            truncated,
                        });
                    batch
                        .iter()
                        .map(|p| {
                            Ok(Answer::Embed(
                                answers.by_ref().take(p.encoded.len()).collect(),
                            ))
                        })
                        .collect()
                }
                Err(e) => batch
                    .iter()
                    .map(|_| Err(Failure::Internal(e.to_string())))
                    .collect(),
            },
        }
    }
}

/// The same fault for every job of `batch`.
fn refuse_all(batch: &[Prepared], e: distil::Error) -> Vec<Result<Answer, Failure>> {
    batch
        .iter()
        .map(|_| Err(Failure::BadRequest(e.to_string())))
        .collect()
}

/// One answer per job of `batch` from the call's `results` (one per input, in order), each job
/// taking as many as it has inputs.
fn split<T>(
    batch: &[Prepared],
    results: Vec<distil::Result<T>>,
    answer: fn(Vec<Result<T, String>>) -> Answer,
) -> Vec<Result<Answer, Failure>> {
    let mut results = results.into_iter();
    batch
        .iter()
        .map(|p| {
            let mine = results
                .by_ref()
                .take(p.job.work.len())
                .map(|r| r.map_err(|e| e.to_string()))
                .collect();
            Ok(answer(mine))
        })
        .collect()
}
