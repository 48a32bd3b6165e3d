//! Token classification (named entities), as Hugging Face's `token-classification` pipeline does
//! it (`transformers/pipelines/token_classification.py`):
//!
//! 1. tokenize with offsets, truncated to the model's maximum length;
//! 2. run the encoder and the token classifier; a softmax over the labels of each token but
//!    `[CLS]` and `[SEP]` (in f32, as the pipeline's float32 NumPy);
//! 3. each token's word is its piece (`##ing`), or for `[UNK]` the text it covers; it continues
//!    the word before it when the piece is not as long as that text (the `##`), the pipeline's
//!    test for a WordPiece tokenizer;
//! 4. by the aggregation strategy: `none` gives each token's best label; `simple` groups those
//!    tokens; `first`, `average` and `max` first make one entity of each word (the label of its
//!    first token, of its tokens' mean scores, or of its most confident token), then group;
//! 5. grouping joins neighbours of the same entity type unless the later one is a `B-` tag, scores
//!    averaged, words joined as `convert_tokens_to_string` joins tokens; `O` is dropped.
//!
//! Offsets are character offsets into the text, as Python counts them (code points).

use ndarray::Axis;
use serde::Serialize;

use super::batches;
use super::chars::CharIndex;
use super::classify::ScoreFunction;
use crate::engine::Engine;
use crate::model::Task;
use crate::tokenizer::{Encoding, Tokenizer};
use crate::{Error, Result};

/// How tokens become entities (the pipeline's `aggregation_strategy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Aggregation {
    /// Every token with its best label (`entity`, `index`).
    #[default]
    None,
    /// Neighbouring tokens of one entity type grouped (`entity_group`).
    Simple,
    /// Each word takes its first token's label, then words are grouped.
    First,
    /// Each word takes the label of its tokens' mean scores, then words are grouped.
    Average,
    /// Each word takes the label of its most confident token, then words are grouped.
    Max,
}

impl Aggregation {
    /// The strategy named as the pipeline names it (`"none"`, `"simple"`, …).
    pub fn from_name(name: &str) -> Option<Aggregation> {
        Some(match name {
            "none" => Aggregation::None,
            "simple" => Aggregation::Simple,
            "first" => Aggregation::First,
            "average" => Aggregation::Average,
            "max" => Aggregation::Max,
            _ => return None,
        })
    }
}

/// One entity, as the pipeline writes it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Entity {
    /// A token (aggregation `none`).
    Token {
        /// Its best label (`B-PER`, …).
        entity: String,
        /// That label's probability.
        score: f32,
        /// Its position among the input's tokens (`[CLS]` is 0).
        index: usize,
        /// Its piece (`##son`), or the text of an `[UNK]`.
        word: String,
        /// The character range of the text it covers.
        start: usize,
        /// End of that range.
        end: usize,
    },
    /// Neighbouring tokens or words of one entity type.
    Group {
        /// The entity type (`PER`, the label without `B-`/`I-`).
        entity_group: String,
        /// The mean of the members' scores.
        score: f32,
        /// The members joined into text.
        word: String,
        /// Character range from the first member's start …
        start: usize,
        /// … to the last one's end.
        end: usize,
    },
}

/// One text's entities.
#[derive(Clone, Debug, PartialEq)]
pub struct NerOutput {
    /// The entities in text order, `O` left out.
    pub entities: Vec<Entity>,
    /// Pieces cut by truncation (0 if the text fit).
    pub truncated: usize,
}

impl NerOutput {
    /// The pipeline's JSON: the list of entities.
    pub fn to_json(&self) -> String {
        // Serialising strings, integers and floats cannot fail (a NaN score becomes null).
        serde_json::to_string(&self.entities).unwrap_or_default()
    }
}

/// A token classifier over an engine.
pub struct Ner<'e> {
    engine: &'e Engine,
    aggregation: Aggregation,
}

/// A token of the text with its label probabilities (the pipeline's "pre-entity").
struct Scored {
    word: String,
    scores: Vec<f32>,
    start: usize,
    end: usize,
    index: usize,
    is_subword: bool,
}

/// A token or word with its label (before grouping).
struct Labelled {
    label: usize,
    score: f32,
    word: String,
    start: usize,
    end: usize,
    index: usize,
}

impl<'e> Ner<'e> {
    /// Fails if the model has no token-classification head, naming what it has.
    pub fn new(engine: &'e Engine, aggregation: Aggregation) -> Result<Self> {
        engine.require_task(Task::TokenClassification)?;
        Ok(Ner {
            engine,
            aggregation,
        })
    }

    /// Each text's entities, in input order; an error for a text whose batch failed, without
    /// losing the other batches' answers.
    pub fn run(&self, texts: &[&str]) -> Vec<Result<NerOutput>> {
        let max_length = self.engine.max_length();
        let tokenizer = self.engine.tokenizer();
        let encoded: Vec<(Encoding, usize)> = texts
            .iter()
            .map(|text| tokenizer.encode_truncated(text, max_length))
            .collect();
        let lens: Vec<usize> = encoded.iter().map(|(e, _)| e.len()).collect();
        let mut results = Vec::with_capacity(texts.len());
        for group in batches(&lens, self.engine.max_batch_tokens()) {
            match self.tag_batch(&texts[group.clone()], &encoded[group.clone()]) {
                Ok(answers) => results.extend(answers.into_iter().map(Ok)),
                Err(err) => results.extend(group.map(|_| Err(err.for_each_input()))),
            }
        }
        results
    }

    fn tag_batch(&self, texts: &[&str], encoded: &[(Encoding, usize)]) -> Result<Vec<NerOutput>> {
        let ids: Vec<&[u32]> = encoded.iter().map(|(e, _)| e.ids.as_slice()).collect();
        let hidden = self.engine.forward(&ids)?;
        let logits = self
            .engine
            .token_logits(&hidden, Task::TokenClassification)?;
        let labels = &self.engine.config().head.labels;
        if logits.ncols() != labels.len() {
            return Err(Error::model(format!(
                "the token classifier gives {} logits for {} labels",
                logits.ncols(),
                labels.len()
            )));
        }
        let tokenizer = self.engine.tokenizer();
        let mut outputs = Vec::with_capacity(texts.len());
        for (i, (text, (encoding, truncated))) in texts.iter().zip(encoded).enumerate() {
            let first = hidden.first_row(i).unwrap_or(0);
            let rows = logits.slice_axis(Axis(0), (first..first + encoding.len()).into());
            let scored = scored_tokens(tokenizer, text, encoding, |t| {
                ScoreFunction::Softmax.apply(&rows.row(t).to_vec())
            });
            let entities = self.entities(tokenizer, scored, labels);
            outputs.push(NerOutput {
                entities,
                truncated: *truncated,
            });
        }
        Ok(outputs)
    }

    /// The pipeline's `aggregate`, `group_entities` and the `O` filter.
    fn entities(
        &self,
        tokenizer: &Tokenizer,
        scored: Vec<Scored>,
        labels: &[String],
    ) -> Vec<Entity> {
        let labelled: Vec<Labelled> = match self.aggregation {
            Aggregation::None | Aggregation::Simple => scored
                .into_iter()
                .map(|token| {
                    let label = argmax(&token.scores);
                    Labelled {
                        label,
                        score: token.scores[label],
                        word: token.word,
                        start: token.start,
                        end: token.end,
                        index: token.index,
                    }
                })
                .collect(),
            strategy => words(scored)
                .into_iter()
                .map(|word| label_word(tokenizer, &word, strategy))
                .collect(),
        };
        let entities: Vec<Entity> = if self.aggregation == Aggregation::None {
            labelled
                .into_iter()
                .map(|t| Entity::Token {
                    entity: labels[t.label].clone(),
                    score: t.score,
                    index: t.index,
                    word: t.word,
                    start: t.start,
                    end: t.end,
                })
                .collect()
        } else {
            group(tokenizer, &labelled, labels)
        };
        entities
            .into_iter()
            .filter(|e| match e {
                Entity::Token { entity, .. } => entity != "O",
                Entity::Group { entity_group, .. } => entity_group != "O",
            })
            .collect()
    }
}

/// The tokens of `text` but `[CLS]` and `[SEP]`, each with the probabilities `scores(t)` of its
/// row `t`, its word and whether it continues the word before (the pipeline's
/// `gather_pre_entities`).
fn scored_tokens(
    tokenizer: &Tokenizer,
    text: &str,
    encoding: &Encoding,
    scores: impl Fn(usize) -> Vec<f32>,
) -> Vec<Scored> {
    let chars = CharIndex::new(text);
    let last = encoding.len().saturating_sub(1);
    (1..last)
        .map(|t| {
            let (from, to) = encoding.offsets[t];
            let word_ref = &text[from..to];
            let (start, end) = (chars.of(from), chars.of(to));
            let mut word = encoding.tokens[t].clone();
            let mut is_subword = word.chars().count() != end - start;
            if encoding.ids[t] == tokenizer.unk_id() {
                word = word_ref.to_string();
                is_subword = false;
            }
            Scored {
                word,
                scores: scores(t),
                start,
                end,
                index: t,
                is_subword,
            }
        })
        .collect()
}

/// Tokens gathered into words: a token that continues a word joins the one before.
fn words(scored: Vec<Scored>) -> Vec<Vec<Scored>> {
    let mut words: Vec<Vec<Scored>> = Vec::new();
    for token in scored {
        match words.last_mut() {
            Some(word) if token.is_subword => word.push(token),
            _ => words.push(vec![token]),
        }
    }
    words
}

/// One word's label under `strategy` (the pipeline's `aggregate_word`).
fn label_word(tokenizer: &Tokenizer, word: &[Scored], strategy: Aggregation) -> Labelled {
    let scores = match strategy {
        Aggregation::Average => {
            let n = word.len() as f32;
            let mut mean = vec![0.0f32; word[0].scores.len()];
            for token in word {
                mean.iter_mut()
                    .zip(&token.scores)
                    .for_each(|(m, s)| *m += s);
            }
            mean.iter_mut().for_each(|m| *m /= n);
            mean
        }
        Aggregation::Max => {
            let best = |t: &Scored| t.scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            // The first of the most confident tokens, as Python's `max` keeps the first.
            let mut top = &word[0];
            for token in &word[1..] {
                if best(token) > best(top) {
                    top = token;
                }
            }
            top.scores.clone()
        }
        _ => word[0].scores.clone(),
    };
    let label = argmax(&scores);
    Labelled {
        label,
        score: scores[label],
        word: tokenizer.convert_tokens_to_string(word.iter().map(|t| t.word.as_str())),
        start: word[0].start,
        end: word[word.len() - 1].end,
        index: word[0].index,
    }
}

/// Neighbours of one entity type grouped (the pipeline's `group_entities`): an entity joins the
/// group before it when its type is the group's last one's and its tag is not `B-`.
fn group(tokenizer: &Tokenizer, labelled: &[Labelled], labels: &[String]) -> Vec<Entity> {
    let mut groups: Vec<&[Labelled]> = Vec::new();
    let mut start = 0;
    for i in 1..labelled.len() {
        let (bi, kind) = tag(&labels[labelled[i].label]);
        let (_, last_kind) = tag(&labels[labelled[i - 1].label]);
        if !(kind == last_kind && bi != "B") {
            groups.push(&labelled[start..i]);
            start = i;
        }
    }
    if start < labelled.len() {
        groups.push(&labelled[start..]);
    }
    groups
        .into_iter()
        .map(|members| {
            let first = &labels[members[0].label];
            let entity_group = first.split_once('-').map_or(first.as_str(), |(_, t)| t);
            let sum: f32 = members.iter().map(|m| m.score).sum();
            Entity::Group {
                entity_group: entity_group.to_string(),
                score: sum / members.len() as f32,
                word: tokenizer.convert_tokens_to_string(members.iter().map(|m| m.word.as_str())),
                start: members[0].start,
                end: members[members.len() - 1].end,
            }
        })
        .collect()
}

/// A label's `B`/`I` and entity type (`B-PER` → `("B", "PER")`); a label in neither form counts
/// as a continuation of its own type (the pipeline's `get_tag`).
fn tag(label: &str) -> (&str, &str) {
    match (label.strip_prefix("B-"), label.strip_prefix("I-")) {
        (Some(tag), _) => ("B", tag),
        (_, Some(tag)) => ("I", tag),
        _ => ("I", label),
    }
}

/// The first index of the largest value (NumPy's `argmax`).
fn argmax(values: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] {
            best = i;
        }
    }
    best
}
