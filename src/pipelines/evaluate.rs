//! Fill-mask evaluated on a mask-filling dataset (`distil eval`, the Python `Engine.evaluate`):
//! each row's masks predicted and scored against their true spans.
//!
//! Each row's masks are all `[MASK]` in one text, and each mask is predicted on its own from one
//! forward pass, as the fill-mask pipeline does. A mask is scored against its gold token: the
//! first word piece of its true span, tokenized alone (after the model's own normalisation, so
//! lowercased for an uncased model). A text longer than the model's positions is not cut: each
//! mask is predicted from the window of word pieces around it (`window.rs`).
//!
//! Rows that cannot be read are skipped with a reason ([`Row::parse`]), as are masks whose span
//! has no word piece; the [`Totals`] count both and add up across batches, processes and machines
//! into one [`Summary`].

mod row;
mod totals;
mod window;

use std::ops::Range;

pub use row::{is_blank, Row, DATASET_MASK};
pub use totals::{MaskScore, Skipped, Summary, Totals};
use window::window;

use crate::ndarray::{Array2, ArrayView1};
use crate::pipelines::batches;
use crate::pipelines::masked_lm::{self, Scores};
use crate::{Engine, Error, Result};

/// What the model made of one mask.
#[derive(Clone, Debug)]
pub struct MaskResult {
    /// The true span.
    pub gold: String,
    /// The gold token, or why the mask was not scored.
    pub gold_token: Result<u32, String>,
    /// The score, when there is a gold token.
    pub score: Option<MaskScore>,
    /// The `top_k` most likely `(token, probability)`, most likely first.
    pub predictions: Vec<(u32, f32)>,
    /// The word pieces (`[CLS]` not counted) the mask was predicted from.
    pub window: Range<usize>,
}

/// What became of one line of a dataset.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// The row was read and its masks predicted and scored.
    Scored {
        /// The row as read.
        row: Row,
        /// Its masks, in text order.
        masks: Vec<MaskResult>,
    },
    /// The row was skipped, for this reason.
    Skipped(String),
}

/// One forward pass's worth of a row: a window and the masks predicted from it.
struct Sequence {
    row: usize,
    ids: Vec<u32>,              // [CLS] window [SEP]
    masks: Vec<(usize, usize)>, // (mask index in the row, position in ids)
    window: Range<usize>,
    /// Whether the row is longer than the window.
    windowed: bool,
}

/// The evaluation pipeline: fill-mask over an engine, each prediction scored against its gold
/// token, keeping the `top_k` candidates of each mask.
pub struct Evaluate<'e> {
    engine: &'e Engine,
    mask_id: u32,
    top_k: usize,
}

impl<'e> Evaluate<'e> {
    /// The pipeline for `engine`, or why its model cannot fill masks.
    pub fn new(engine: &'e Engine, top_k: usize) -> Result<Self> {
        Ok(Evaluate {
            mask_id: engine.mask_id()?,
            engine,
            top_k,
        })
    }

    /// The model's mask token as text: what a row's masked spans become.
    pub fn mask_token(&self) -> String {
        let tokenizer = self.engine.tokenizer();
        tokenizer
            .id_to_token(self.mask_id)
            .unwrap_or("[MASK]")
            .to_owned()
    }

    /// The candidates kept per mask; a gold token among them counts for top-k accuracy.
    pub fn top_k(&self) -> usize {
        self.top_k
    }

    /// Reads and evaluates lines of a dataset, one JSON row each (leave blank lines out: they
    /// are not rows, see [`is_blank`]). A line that is not a row, or whose masks the tokenizer
    /// does not find one for one, is [`Outcome::Skipped`] with the reason; the others are
    /// unaffected.
    pub fn lines(&self, lines: &[&[u8]]) -> Result<Vec<Outcome>> {
        let mask_token = self.mask_token();
        let parsed: Vec<std::result::Result<Row, String>> = lines
            .iter()
            .map(|line| {
                let line = std::str::from_utf8(line).map_err(|_| "not UTF-8".to_owned())?;
                Row::parse(line, &mask_token)
            })
            .collect();
        let rows: Vec<Row> = parsed.iter().flatten().cloned().collect();
        let mut results = self.run(&rows)?.into_iter();
        Ok(parsed
            .into_iter()
            .map(|parsed| {
                let row = parsed?;
                match results.next() {
                    Some(Ok(masks)) => Ok(Outcome::Scored { row, masks }),
                    Some(Err(reason)) => Err(reason),
                    None => Err("internal error: a row has no result".to_owned()),
                }
            })
            .map(|outcome| outcome.unwrap_or_else(Outcome::Skipped))
            .collect())
    }

    /// Predicts and scores every mask of `rows`. A row whose masks the tokenizer does not find
    /// one for one gets `Err` with the reason; the others are unaffected.
    pub fn run(&self, rows: &[Row]) -> Result<Vec<std::result::Result<Vec<MaskResult>, String>>> {
        evaluate(self.engine, self.mask_id, rows, self.top_k)
    }
}

fn evaluate(
    engine: &Engine,
    mask_id: u32,
    rows: &[Row],
    top_k: usize,
) -> Result<Vec<std::result::Result<Vec<MaskResult>, String>>> {
    let tokenizer = engine.tokenizer();
    let (cls, sep) = (tokenizer.cls_id(), tokenizer.sep_id());
    let span = engine.max_length() - 2;
    let mut results = Vec::with_capacity(rows.len());
    let mut sequences: Vec<Sequence> = Vec::new();
    for (r, row) in rows.iter().enumerate() {
        let encoding = tokenizer.encode(&row.text);
        let pieces = encoding
            .ids
            .get(1..encoding.ids.len().saturating_sub(1))
            .unwrap_or(&[]);
        let positions: Vec<usize> = (0..pieces.len())
            .filter(|&i| pieces[i] == mask_id)
            .collect();
        if positions.len() != row.golds.len() {
            results.push(Err(format!(
                "the text tokenizes to {} mask tokens for {} spans",
                positions.len(),
                row.golds.len()
            )));
            continue;
        }
        let mut masks = Vec::with_capacity(positions.len());
        for (j, (&pos, gold)) in positions.iter().zip(&row.golds).enumerate() {
            let gold_token = tokenizer
                .encode(gold)
                .ids
                .get(1)
                .copied()
                .filter(|&id| id != sep)
                .ok_or_else(|| "gold span has no word pieces".to_owned());
            let window = window(pieces.len(), pos, span);
            match sequences.last_mut() {
                Some(s) if s.row == r && s.window == window => {
                    s.masks.push((j, pos - window.start + 1))
                }
                _ => {
                    let mut ids = Vec::with_capacity(window.len() + 2);
                    ids.push(cls);
                    ids.extend_from_slice(&pieces[window.clone()]);
                    ids.push(sep);
                    sequences.push(Sequence {
                        row: r,
                        ids,
                        masks: vec![(j, pos - window.start + 1)],
                        window: window.clone(),
                        windowed: pieces.len() > span,
                    });
                }
            }
            masks.push(MaskResult {
                gold: gold.clone(),
                gold_token,
                score: None,
                predictions: Vec::new(),
                window,
            });
        }
        results.push(Ok(masks));
    }
    let lens: Vec<usize> = sequences.iter().map(|s| s.ids.len()).collect();
    for group in batches(&lens, engine.max_batch_tokens()) {
        let group = &sequences[group];
        let logits = mask_logits(engine, group)?;
        let mut rows_of_logits = logits.rows().into_iter();
        for seq in group {
            for &(j, _) in &seq.masks {
                let logits = rows_of_logits
                    .next()
                    .ok_or_else(|| Error::input("internal error: a mask has no logits"))?;
                if let Ok(masks) = &mut results[seq.row] {
                    score_mask(&mut masks[j], logits, top_k, seq.windowed);
                }
            }
        }
    }
    Ok(results)
}

/// The MLM logits at every mask of `group`, in order: `[masks, vocab]`.
fn mask_logits(engine: &Engine, group: &[Sequence]) -> Result<Array2<f32>> {
    let ids: Vec<&[u32]> = group.iter().map(|s| s.ids.as_slice()).collect();
    let positions: Vec<Vec<usize>> = group
        .iter()
        .map(|s| s.masks.iter().map(|&(_, p)| p).collect())
        .collect();
    let positions: Vec<&[usize]> = positions.iter().map(Vec::as_slice).collect();
    masked_lm::predict(engine, &ids, &positions, Scores::Logits)
}

/// Scores `mask` against `logits` (`[vocab]`): the gold token's rank and log-probability (in
/// f64: `ln p(g) = l_g - ln Σ exp(l_t)`) and the `top_k` candidates with their probabilities.
/// Tokens are ranked by logit, ties by lower id, as the pipeline's candidates are.
fn score_mask(mask: &mut MaskResult, logits: ArrayView1<'_, f32>, top_k: usize, windowed: bool) {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let sum: f64 = logits.iter().map(|&l| (l as f64 - max).exp()).sum();
    let log_z = max + sum.ln();
    mask.predictions = masked_lm::top_k(logits, top_k, None)
        .into_iter()
        .map(|(t, l)| (t, (l as f64 - log_z).exp() as f32))
        .collect();
    if let Ok(g) = mask.gold_token {
        let Some(&gold) = logits.get(g as usize) else {
            return;
        };
        // Tokens ranked before the gold one: a higher logit, or the same and a lower id.
        let rank = logits
            .iter()
            .enumerate()
            .filter(|&(t, &l)| {
                l.total_cmp(&gold)
                    .then((t as u32).cmp(&g).reverse())
                    .is_gt()
            })
            .count();
        mask.score = Some(MaskScore {
            rank,
            log_prob: gold as f64 - log_z,
            windowed,
        });
    }
}
