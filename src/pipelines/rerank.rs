//! Reranking with a cross-encoder, as sentence-transformers' `CrossEncoder` does it
//! (`predict` and `rank`): each `(query, text)` pair through a sequence classifier with one label,
//! tokenized as one batched call tokenizes pairs (`[CLS] query [SEP] text [SEP]`, an empty text
//! kept as a pair) and cut `longest_first` to the tokenizer's maximum length; the score is the
//! sigmoid of the logit (`predict`'s default activation for one label), or the logit itself when
//! asked or when the checkpoint's config names `Identity` as its activation (as
//! `cross-encoder/ms-marco-MiniLM-L-6-v2`'s does, so that `CrossEncoder.predict` returns logits).
//! `rank` sorts the texts by score, best first (ties keep their order).

use serde::Serialize;

use super::classify::{pair_logits, ScoreFunction};
use crate::engine::Engine;
use crate::model::Task;
use crate::tokenizer::PairEncoding;
use crate::{Error, Result};

/// A text's place among the texts and its score.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Ranked {
    /// Its index among the texts given (0-based).
    pub index: usize,
    /// Its score.
    pub score: f32,
}

/// A cross-encoder over an engine.
pub struct Rerank<'e> {
    engine: &'e Engine,
    function: ScoreFunction,
}

impl<'e> Rerank<'e> {
    /// Fails unless the model is a sequence classifier of one label. With `raw_scores` the
    /// scores are the logits, else what the checkpoint's activation makes of them (sigmoid by
    /// default).
    pub fn new(engine: &'e Engine, raw_scores: bool) -> Result<Self> {
        engine.require_task(Task::SequenceClassification)?;
        let labels = engine.config().head.labels.len();
        if labels != 1 {
            return Err(Error::model(format!(
                "{}: a reranker scores with one label, this classifier has {labels} (classify pairs with `distil classify --pair`)",
                engine.dir().display()
            )));
        }
        let activation = engine.config().head.cross_encoder_activation.as_deref();
        let function = match (raw_scores, activation) {
            (true, _) => ScoreFunction::None,
            (false, None) => ScoreFunction::Sigmoid,
            (false, Some(path)) if path.ends_with(".Sigmoid") => ScoreFunction::Sigmoid,
            (false, Some(path)) if path.ends_with(".Identity") => ScoreFunction::None,
            (false, Some(path)) => {
                return Err(Error::model(format!(
                    "{}: the cross-encoder's activation {path:?} is not supported (Sigmoid or Identity; --raw-scores gives the logits)",
                    engine.dir().display()
                )))
            }
        };
        Ok(Rerank { engine, function })
    }

    /// The pair `(query, text)` as the cross-encoder reads it.
    pub fn encode(&self, query: &str, text: &str) -> PairEncoding {
        let max_length = self.engine.max_length();
        self.engine.tokenizer().encode_pair(query, text, max_length)
    }

    /// Each text's score against `query`, in the texts' order (`CrossEncoder.predict`).
    pub fn scores(&self, query: &str, texts: &[&str]) -> Result<Vec<f32>> {
        let encoded: Vec<PairEncoding> = texts.iter().map(|t| self.encode(query, t)).collect();
        self.scores_encoded(&encoded).into_iter().collect()
    }

    /// The score of each pair already tokenized ([`Rerank::encode`]); an error for the pairs of a
    /// batch that failed.
    pub fn scores_encoded(&self, pairs: &[PairEncoding]) -> Vec<Result<f32>> {
        pair_logits(self.engine, pairs)
            .into_iter()
            .map(|logits| Ok(self.function.apply(&logits?)[0]))
            .collect()
    }

    /// The texts by score against `query`, best first (`CrossEncoder.rank`).
    pub fn rank(&self, query: &str, texts: &[&str]) -> Result<Vec<Ranked>> {
        let mut ranked: Vec<Ranked> = self
            .scores(query, texts)?
            .into_iter()
            .enumerate()
            .map(|(index, score)| Ranked { index, score })
            .collect();
        ranked.sort_by(|a, b| b.score.total_cmp(&a.score));
        Ok(ranked)
    }
}
