//! Fill-mask, as Hugging Face's `fill-mask` pipeline does it (`transformers/pipelines/fill_mask.py`):
//!
//! 1. tokenize, with truncation to the model's maximum length;
//! 2. run the encoder, then the MLM head at each `[MASK]` position only;
//! 3. per mask, `softmax` over the whole vocabulary, then the `top_k` most likely tokens (or, with
//!    `targets`, the `top_k` most likely of those tokens, scored by their full-vocabulary probability);
//! 4. each candidate becomes `{score, token, token_str, sequence}`, where `sequence` is the input
//!    with that mask replaced, decoded without special tokens when the text has one mask and with
//!    them when it has several (the pipeline's own rule).
//!
//! Several masks are predicted independently, from one forward pass, as the pipeline does.

use serde::Serialize;

use super::batches;
use super::masked_lm::{self, Scores};
use crate::engine::{Encoded, Engine};
use crate::{Error, Result};

/// What to return.
#[derive(Clone, Debug)]
pub struct FillMaskOptions {
    /// Candidates per mask (the pipeline's default is 5).
    pub top_k: usize,
    /// Restrict candidates to these token ids (see [`FillMask::target_ids`]).
    pub targets: Option<Vec<u32>>,
}

impl Default for FillMaskOptions {
    fn default() -> Self {
        FillMaskOptions {
            top_k: 5,
            targets: None,
        }
    }
}

/// One candidate for one mask, in the pipeline's format.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Prediction {
    /// The candidate's probability (a softmax over the whole vocabulary).
    pub score: f32,
    /// Its token id.
    pub token: u32,
    /// Its token as text (a word piece keeps its `##`).
    pub token_str: String,
    /// The input with this candidate in the mask's place, decoded.
    pub sequence: String,
}

/// The answer for one text: a list of candidates per `[MASK]`, in text order.
#[derive(Clone, Debug, PartialEq)]
pub struct FillMaskOutput {
    /// Per mask, its candidates, most likely first.
    pub masks: Vec<Vec<Prediction>>,
    /// Word pieces dropped by truncation (0 when the text fit).
    pub truncated: usize,
    /// `[MASK]` tokens lost to truncation (their positions were past the limit).
    pub masks_cut: usize,
}

impl FillMaskOutput {
    /// The pipeline's JSON: a list of candidates for one mask, a list of such lists for several,
    /// keys in the pipeline's order (`score`, `token`, `token_str`, `sequence`).
    pub fn to_json(&self) -> String {
        // Serialising strings, integers and floats cannot fail (a NaN score becomes null).
        match self.masks.as_slice() {
            [one] => serde_json::to_string(one),
            many => serde_json::to_string(many),
        }
        .unwrap_or_default()
    }
}

/// The fill-mask pipeline over an engine, with its options.
pub struct FillMask<'e> {
    engine: &'e Engine,
    mask_id: u32,
    options: FillMaskOptions,
}

impl<'e> FillMask<'e> {
    /// The pipeline for `engine`, or why its model cannot fill masks (no MLM head, no mask token).
    pub fn new(engine: &'e Engine, options: FillMaskOptions) -> Result<Self> {
        Ok(FillMask {
            mask_id: engine.mask_id()?,
            engine,
            options,
        })
    }

    /// The options in use.
    pub fn options(&self) -> &FillMaskOptions {
        &self.options
    }

    /// Token ids for the pipeline's `targets`: a word that is a vocabulary entry is used as it is;
    /// any other is tokenized and its first piece used (the pipeline's fallback, with a warning per
    /// target; here [`TargetNotes`], which says it in one line however many there are).
    /// Duplicates are dropped.
    pub fn target_ids(engine: &Engine, targets: &[String]) -> Result<(Vec<u32>, TargetNotes)> {
        let tokenizer = engine.tokenizer();
        let mut ids = Vec::new();
        let mut notes = TargetNotes::default();
        for target in targets {
            let Some(resolved) = tokenizer.resolve_target(target) else {
                notes.ignored.push(target.clone());
                continue;
            };
            let id = resolved.id;
            if !resolved.in_vocab {
                let piece = tokenizer.id_to_token(id).unwrap_or("?");
                notes.replaced.push((target.clone(), piece.to_string()));
            }
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        if ids.is_empty() {
            return Err(Error::input("--targets: no usable target token"));
        }
        Ok((ids, notes))
    }

    /// Fills the masks of every text, truncated to the model's maximum length. Each text gets
    /// its own result: one bad text does not cost the others their answers.
    pub fn run(&self, texts: &[&str]) -> Vec<Result<FillMaskOutput>> {
        let max_length = self.engine.max_length();
        let encoded: Vec<Encoded> = texts
            .iter()
            .map(|text| self.engine.encode(text, max_length))
            .collect();
        self.run_encoded(&encoded)
    }

    /// [`FillMask::run`] on texts already tokenized with [`Engine::encode`].
    pub fn run_encoded(&self, inputs: &[Encoded]) -> Vec<Result<FillMaskOutput>> {
        let mut results: Vec<Option<Result<FillMaskOutput>>> = Vec::with_capacity(inputs.len());
        let mut runnable: Vec<(usize, &Encoded, Vec<usize>)> = Vec::new();
        for (i, encoded) in inputs.iter().enumerate() {
            let positions: Vec<usize> = (0..encoded.ids.len())
                .filter(|&p| encoded.ids[p] == self.mask_id)
                .collect();
            if positions.is_empty() && encoded.masks_cut == 0 {
                results.push(Some(Err(Error::input("no [MASK] token in the text"))));
            } else if positions.is_empty() {
                results.push(Some(Err(Error::input(format!(
                    "every [MASK] lies beyond the model's {} tokens and was cut off by truncation",
                    self.engine.max_length()
                )))));
            } else {
                results.push(None);
                runnable.push((i, encoded, positions));
            }
        }
        let lens: Vec<usize> = runnable.iter().map(|(_, e, _)| e.ids.len()).collect();
        for group in batches(&lens, self.engine.max_batch_tokens()) {
            let group = &runnable[group];
            match self.fill_batch(group) {
                Ok(answers) => {
                    for ((i, _, _), answer) in group.iter().zip(answers) {
                        results[*i] = Some(Ok(answer));
                    }
                }
                Err(err) => {
                    for (i, _, _) in group {
                        results[*i] = Some(Err(err.for_each_input()));
                    }
                }
            }
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(Error::input("internal error: input was not run"))))
            .collect()
    }

    /// One forward pass over `group` (input index, tokens, mask positions), then the head at its
    /// masks.
    fn fill_batch(&self, group: &[(usize, &Encoded, Vec<usize>)]) -> Result<Vec<FillMaskOutput>> {
        let seqs: Vec<&[u32]> = group.iter().map(|(_, e, _)| e.ids.as_slice()).collect();
        let positions: Vec<&[usize]> = group.iter().map(|(_, _, p)| p.as_slice()).collect();
        let probs = masked_lm::predict(self.engine, &seqs, &positions, Scores::Probabilities)?;
        let mut rows = probs.rows().into_iter();
        let targets = self.options.targets.as_deref();
        let mut answers = Vec::with_capacity(group.len());
        for (_, encoded, positions) in group {
            let single = positions.len() == 1;
            let masks = positions
                .iter()
                .zip(rows.by_ref())
                .map(|(&pos, p)| {
                    masked_lm::top_k(p, self.options.top_k, targets)
                        .into_iter()
                        .map(|(token, score)| {
                            self.prediction(&encoded.ids, pos, token, score, single)
                        })
                        .collect()
                })
                .collect();
            answers.push(FillMaskOutput {
                masks,
                truncated: encoded.truncated,
                masks_cut: encoded.masks_cut,
            });
        }
        Ok(answers)
    }

    /// The pipeline's record for `token` at `pos` of `ids`.
    fn prediction(
        &self,
        ids: &[u32],
        pos: usize,
        token: u32,
        score: f32,
        single_mask: bool,
    ) -> Prediction {
        let tokenizer = self.engine.tokenizer();
        let mut filled: Vec<u32> = ids.to_vec();
        filled[pos] = token;
        filled.retain(|&id| id != tokenizer.pad_id());
        Prediction {
            score,
            token,
            token_str: tokenizer.decode_token(token),
            sequence: tokenizer.decode(&filled, single_mask),
        }
    }
}

/// The targets [`FillMask::target_ids`] could not use as given.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TargetNotes {
    /// Targets not in the vocabulary, each with the first word piece used instead.
    pub replaced: Vec<(String, String)>,
    /// Targets with no word piece at all, left out.
    pub ignored: Vec<String>,
}

impl TargetNotes {
    /// Targets that were replaced or left out.
    pub fn len(&self) -> usize {
        self.replaced.len() + self.ignored.len()
    }

    /// Every target was used as given.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// One line saying what became of them, naming at most `examples` of each kind: `3 targets
    /// not in the vocabulary, replaced by their first word piece: "Pariss" → "Paris", …`.
    pub fn summary(&self, examples: usize) -> Option<String> {
        let mut parts = Vec::new();
        if !self.replaced.is_empty() {
            let named = self
                .replaced
                .iter()
                .map(|(target, piece)| format!("{target:?} → {piece:?}"));
            parts.push(format!(
                "{} not in the vocabulary, replaced by their first word piece: {}",
                targets(self.replaced.len()),
                listed(named, self.replaced.len(), examples)
            ));
        }
        if !self.ignored.is_empty() {
            let named = self.ignored.iter().map(|target| format!("{target:?}"));
            parts.push(format!(
                "{} with no word piece, left out: {}",
                targets(self.ignored.len()),
                listed(named, self.ignored.len(), examples)
            ));
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}

/// `1 target`, `20000 targets`.
fn targets(n: usize) -> String {
    match n {
        1 => "1 target".to_string(),
        n => format!("{n} targets"),
    }
}

/// The first `examples` of `named` (`n` in all), with `…` when some are left unnamed.
fn listed(named: impl Iterator<Item = String>, n: usize, examples: usize) -> String {
    let mut shown: Vec<String> = named.take(examples).collect();
    if n > examples {
        shown.push("…".to_string());
    }
    shown.join(", ")
}

#[cfg(test)]
mod tests {
    use super::TargetNotes;

    #[test]
    fn the_summary_is_one_line_naming_a_few() {
        assert_eq!(TargetNotes::default().summary(3), None);
        let notes = TargetNotes {
            replaced: (0..20_000)
                .map(|i| (format!("w{i}x"), format!("w{i}")))
                .collect(),
            ignored: vec!["\u{1}".to_string()],
        };
        assert_eq!(notes.len(), 20_001);
        assert_eq!(
            notes.summary(2).unwrap(),
            "20000 targets not in the vocabulary, replaced by their first word piece: \
             \"w0x\" → \"w0\", \"w1x\" → \"w1\", …; 1 target with no word piece, left out: \"\\u{1}\""
        );
    }
}
