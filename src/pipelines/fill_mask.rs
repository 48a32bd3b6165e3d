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
use crate::engine::{Encoded, Engine};
use crate::{Error, Result};

/// What to return.
#[derive(Clone, Debug)]
pub struct FillMaskOptions {
    /// Candidates per mask (the pipeline's default is 5).
    pub top_k: usize,
    /// Restrict candidates to these token ids (see [`Engine::target_ids`]).
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
    pub score: f32,
    pub token: u32,
    pub token_str: String,
    pub sequence: String,
}

/// The answer for one text: a list of candidates per `[MASK]`, in text order.
#[derive(Clone, Debug, PartialEq)]
pub struct FillMask {
    pub masks: Vec<Vec<Prediction>>,
    /// Word pieces dropped by truncation (0 when the text fit).
    pub truncated: usize,
    /// `[MASK]` tokens lost to truncation (their positions were past the limit).
    pub masks_cut: usize,
}

impl FillMask {
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

impl Engine {
    /// Token ids for the pipeline's `targets`: a word that is a vocabulary entry is used as it is;
    /// any other is tokenized and its first piece used (the pipeline's fallback, with a warning,
    /// returned here as text). Duplicates are dropped.
    pub fn target_ids(&self, targets: &[String]) -> Result<(Vec<u32>, Vec<String>)> {
        let tokenizer = self.tokenizer();
        let mut ids = Vec::new();
        let mut warnings = Vec::new();
        for target in targets {
            let Some(resolved) = tokenizer.resolve_target(target) else {
                warnings.push(format!(
                    "target {target:?} is not in the vocabulary and has no word pieces; ignoring it"
                ));
                continue;
            };
            let id = resolved.id;
            if !resolved.in_vocab {
                warnings.push(format!(
                    "target {target:?} is not in the vocabulary; using its first piece {:?}",
                    tokenizer.id_to_token(id).unwrap_or("?")
                ));
            }
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        if ids.is_empty() {
            return Err(Error::input("--targets: no usable target token"));
        }
        Ok((ids, warnings))
    }

    /// Fills the masks of every text. Each text gets its own result: one bad text does not cost
    /// the others their answers.
    pub fn fill_mask(&self, texts: &[&str], options: &FillMaskOptions) -> Vec<Result<FillMask>> {
        let mask_id = match self.mask_id() {
            Ok(id) => id,
            Err(err) => {
                let reason = err.to_string();
                return texts.iter().map(|_| Err(Error::model(&reason))).collect();
            }
        };
        let max_length = self.max_length();
        let mut results: Vec<Option<Result<FillMask>>> = Vec::with_capacity(texts.len());
        let mut runnable: Vec<(usize, Encoded, usize)> = Vec::new();
        for (i, text) in texts.iter().enumerate() {
            let count_masks = |ids: &[u32]| ids.iter().filter(|&&id| id == mask_id).count();
            let mut encoding = self.tokenizer().encode(text);
            let full_masks = count_masks(&encoding.ids);
            // max_length ≥ 2 (the model has positions for [CLS] and [SEP]), so this cannot fail.
            let truncated = encoding.truncate(max_length).unwrap_or(0);
            let masks = count_masks(&encoding.ids);
            let encoded = Encoded {
                ids: encoding.ids,
                truncated,
            };
            if full_masks == 0 {
                results.push(Some(Err(Error::input("no [MASK] token in the text"))));
            } else if masks == 0 {
                results.push(Some(Err(Error::input(format!(
                    "every [MASK] lies beyond the model's {max_length} tokens and was cut off by truncation"
                )))));
            } else {
                results.push(None);
                runnable.push((i, encoded, full_masks - masks));
            }
        }
        let lens: Vec<usize> = runnable.iter().map(|(_, e, _)| e.ids.len()).collect();
        for group in batches(&lens) {
            let group = &runnable[group];
            match self.fill_batch(group, mask_id, options) {
                Ok(answers) => {
                    for ((i, _, _), answer) in group.iter().zip(answers) {
                        results[*i] = Some(Ok(answer));
                    }
                }
                Err(err) => {
                    for (i, _, _) in group {
                        results[*i] = Some(Err(Error::input(err.to_string())));
                    }
                }
            }
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(Error::input("internal error: input was not run"))))
            .collect()
    }

    /// One forward pass over `group`, then the head at its masks.
    fn fill_batch(
        &self,
        group: &[(usize, Encoded, usize)],
        mask_id: u32,
        options: &FillMaskOptions,
    ) -> Result<Vec<FillMask>> {
        let seqs: Vec<&[u32]> = group.iter().map(|(_, e, _)| e.ids.as_slice()).collect();
        let (hidden, logits, mask_rows) = self.install(|| -> Result<_> {
            let hidden = self.model().forward(&seqs)?;
            let mask_rows: Vec<usize> = hidden
                .seqs
                .iter()
                .zip(&seqs)
                .flat_map(|(range, ids)| {
                    ids.iter()
                        .enumerate()
                        .filter(|&(_, &id)| id == mask_id)
                        .map(move |(p, _)| range.start + p)
                })
                .collect();
            let mut logits = self.model().mlm_logits(&hidden, &mask_rows)?;
            let vocab = self.model().config().vocab_size;
            self.model().kernels().softmax_rows(&mut logits, vocab);
            Ok((hidden, logits, mask_rows))
        })?;
        let vocab = self.model().config().vocab_size;
        let mut probs = logits.chunks_exact(vocab);
        let mut answers = Vec::with_capacity(group.len());
        for (s, (_, encoded, masks_cut)) in group.iter().enumerate() {
            let start = hidden.seqs[s].start;
            let positions: Vec<usize> = mask_rows
                .iter()
                .filter(|&&r| hidden.seqs[s].contains(&r))
                .map(|&r| r - start)
                .collect();
            let single = positions.len() == 1;
            let masks = positions
                .iter()
                .map(|&pos| {
                    let p = probs.next().unwrap_or(&[]);
                    self.candidates(p, options)
                        .into_iter()
                        .map(|(token, score)| {
                            self.prediction(&encoded.ids, pos, token, score, single)
                        })
                        .collect()
                })
                .collect();
            answers.push(FillMask {
                masks,
                truncated: encoded.truncated,
                masks_cut: *masks_cut,
            });
        }
        Ok(answers)
    }

    /// The `top_k` (token, probability) pairs of `probs`, most likely first, over the targets when
    /// given. Ties keep the lower token id first.
    fn candidates(&self, probs: &[f32], options: &FillMaskOptions) -> Vec<(u32, f32)> {
        let mut scored: Vec<(u32, f32)> = match &options.targets {
            Some(ids) => ids
                .iter()
                .filter_map(|&id| probs.get(id as usize).map(|&p| (id, p)))
                .collect(),
            None => probs
                .iter()
                .enumerate()
                .map(|(id, &p)| (id as u32, p))
                .collect(),
        };
        let k = options.top_k.min(scored.len());
        let order = |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        if k > 0 && k < scored.len() {
            scored.select_nth_unstable_by(k - 1, order);
        }
        scored.truncate(k);
        scored.sort_by(order);
        scored
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
        let tokenizer = self.tokenizer();
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
