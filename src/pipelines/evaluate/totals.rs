//! The summary of an evaluation: accuracies over masks, the masked-token perplexity and the counts.
//!
//! For mask `j` with gold token `g_j` (the first word piece of its true span) and the model's
//! distribution `p_j` over the vocabulary at that position:
//!
//! ```text
//! top-1 accuracy = mean_j [g_j is the most likely token]
//! top-k accuracy = mean_j [g_j is among the k most likely]
//! perplexity     = exp(mean_j -ln p_j(g_j))
//! ```
//!
//! The sum of `-ln p` is kept in fixed point (units of 2^-40), so that it does not depend on the
//! order of its terms: totals of parts of a dataset (`distil eval --shard K/N`, batches on Ray
//! workers) merged give exactly one run's figures.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Outcome;

/// Units of the fixed-point sum of `-ln p`: 2^40 per nat (a term is off by at most 2^-41).
const UNITS_PER_NAT: f64 = (1u64 << 40) as f64;

/// What one mask scored.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MaskScore {
    /// The gold token's rank among all tokens (0 = most likely).
    pub rank: usize,
    /// `ln p(gold)`.
    pub log_prob: f64,
    /// Whether the mask was predicted from a window of a longer text.
    pub windowed: bool,
}

/// The running totals: what a part of a dataset adds up to, and what parts merge into.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    /// Rows evaluated.
    pub rows: usize,
    /// Masks scored.
    pub masks: usize,
    /// Masks whose gold token was the most likely.
    pub top1: usize,
    /// Masks whose gold token was among the `top_k` most likely.
    pub topk: usize,
    /// `Σ -ln p(gold)`, in units of 2^-40 nats.
    pub neg_log_prob: i128,
    /// Masks predicted from a window of a longer text.
    pub windowed_masks: usize,
    /// Rows skipped, by reason.
    pub skipped_rows: BTreeMap<String, usize>,
    /// The line numbers of the skipped rows.
    pub skipped_lines: Vec<usize>,
    /// Masks skipped (in rows that were kept), by reason.
    pub skipped_masks: BTreeMap<String, usize>,
}

impl Totals {
    /// Counts what became of the line numbered `line` (from 1) at `top_k`.
    pub fn add(&mut self, line: usize, outcome: &Outcome, top_k: usize) {
        match outcome {
            Outcome::Skipped(reason) => self.skip_row(reason, line),
            Outcome::Scored { masks, .. } => {
                self.add_row();
                for mask in masks {
                    match (&mask.gold_token, mask.score) {
                        (Ok(_), Some(score)) => self.add_mask(score, top_k),
                        (Err(reason), _) => self.skip_mask(reason),
                        (Ok(_), None) => self.skip_mask("no logits for the gold token"),
                    }
                }
            }
        }
    }

    /// Counts one evaluated row (its masks are added with [`Totals::add_mask`]).
    pub fn add_row(&mut self) {
        self.rows += 1;
    }

    /// Counts one scored mask at `top_k`.
    pub fn add_mask(&mut self, score: MaskScore, top_k: usize) {
        self.masks += 1;
        self.top1 += usize::from(score.rank == 0);
        self.topk += usize::from(score.rank < top_k);
        self.neg_log_prob += (-score.log_prob * UNITS_PER_NAT).round() as i128;
        self.windowed_masks += usize::from(score.windowed);
    }

    /// Counts a row skipped at `line` (1-based) for `reason`.
    pub fn skip_row(&mut self, reason: &str, line: usize) {
        *self.skipped_rows.entry(reason.to_owned()).or_default() += 1;
        self.skipped_lines.push(line);
    }

    /// Counts a mask skipped for `reason` (in a row that was kept).
    pub fn skip_mask(&mut self, reason: &str) {
        *self.skipped_masks.entry(reason.to_owned()).or_default() += 1;
    }

    /// Adds another part's totals to these.
    pub fn merge(&mut self, other: Totals) {
        self.rows += other.rows;
        self.masks += other.masks;
        self.top1 += other.top1;
        self.topk += other.topk;
        self.neg_log_prob += other.neg_log_prob;
        self.windowed_masks += other.windowed_masks;
        for (reason, n) in other.skipped_rows {
            *self.skipped_rows.entry(reason).or_default() += n;
        }
        self.skipped_lines.extend(other.skipped_lines);
        self.skipped_lines.sort_unstable();
        for (reason, n) in other.skipped_masks {
            *self.skipped_masks.entry(reason).or_default() += n;
        }
    }

    /// The summary after `seconds` of work.
    pub fn summary(&self, top_k: usize, window_tokens: usize, seconds: f64) -> Summary {
        let per = |hits: usize| (self.masks > 0).then(|| hits as f64 / self.masks as f64);
        Summary {
            rows: self.rows,
            masks: self.masks,
            top_k,
            top1_accuracy: per(self.top1),
            topk_accuracy: per(self.topk),
            perplexity: (self.masks > 0)
                .then(|| (self.neg_log_prob as f64 / UNITS_PER_NAT / self.masks as f64).exp()),
            skipped: Skipped {
                rows: self.skipped_rows.values().sum(),
                masks: self.skipped_masks.values().sum(),
                lines: self.skipped_lines.clone(),
                rows_by_reason: self.skipped_rows.clone(),
                masks_by_reason: self.skipped_masks.clone(),
            },
            windowed_masks: self.windowed_masks,
            window_tokens,
            seconds,
            rows_per_second: rate(self.rows, seconds),
            masks_per_second: rate(self.masks, seconds),
            interrupted: false,
        }
    }
}

fn rate(count: usize, seconds: f64) -> f64 {
    if seconds > 0.0 {
        count as f64 / seconds
    } else {
        0.0
    }
}

/// The summary `distil eval --json` prints.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    /// Rows evaluated.
    pub rows: usize,
    /// Masks scored.
    pub masks: usize,
    /// The k of top-k accuracy.
    pub top_k: usize,
    /// `null` when no mask was evaluated.
    pub top1_accuracy: Option<f64>,
    /// `null` when no mask was evaluated.
    pub topk_accuracy: Option<f64>,
    /// `exp` of the mean `-ln p(gold)`; `null` when no mask was evaluated.
    pub perplexity: Option<f64>,
    /// What was skipped, and why.
    pub skipped: Skipped,
    /// Masks predicted from a window of a text longer than the model's positions.
    pub windowed_masks: usize,
    /// The tokens a window holds, `[CLS]` and `[SEP]` included (the model's maximum length).
    pub window_tokens: usize,
    /// The wall time of the run.
    pub seconds: f64,
    /// Rows evaluated per second of `seconds`.
    pub rows_per_second: f64,
    /// Masks scored per second of `seconds`.
    pub masks_per_second: f64,
    /// Whether Ctrl-C stopped the run early (the figures cover what was done).
    pub interrupted: bool,
}

/// Skipped rows and masks, in all and by reason.
#[derive(Clone, Debug, Serialize)]
pub struct Skipped {
    /// Rows skipped.
    pub rows: usize,
    /// Masks skipped in the rows that were kept.
    pub masks: usize,
    /// The line numbers of the skipped rows.
    pub lines: Vec<usize>,
    /// Rows skipped, by reason.
    pub rows_by_reason: BTreeMap<String, usize>,
    /// Masks skipped, by reason.
    pub masks_by_reason: BTreeMap<String, usize>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accuracies_and_perplexity_by_hand() {
        let mut t = Totals::default();
        t.add_row();
        // Ranks 0, 2, 7 at top-5, with p = 1/2, 1/4, 1/8: perplexity = exp(mean(ln 2, ln 4, ln 8))
        // = exp(2 ln 2) = 4.
        for (rank, p) in [(0, 0.5f64), (2, 0.25), (7, 0.125)] {
            let score = MaskScore {
                rank,
                log_prob: p.ln(),
                windowed: rank == 7,
            };
            t.add_mask(score, 5);
        }
        t.skip_mask("gold span has no word pieces");
        t.skip_row("not a JSON object", 4);
        let s = t.summary(5, 512, 2.0);
        assert_eq!((s.rows, s.masks, s.windowed_masks), (1, 3, 1));
        assert_eq!(s.top1_accuracy, Some(1.0 / 3.0));
        assert_eq!(s.topk_accuracy, Some(2.0 / 3.0));
        assert!((s.perplexity.unwrap() - 4.0).abs() < 1e-12);
        assert_eq!((s.skipped.rows, s.skipped.masks), (1, 1));
        assert_eq!(s.skipped.lines, [4]);
        assert_eq!(s.masks_per_second, 1.5);
    }

    #[test]
    fn merged_shards_are_one_run() {
        let score = |rank: usize, p: f64| MaskScore {
            rank,
            log_prob: p.ln(),
            windowed: false,
        };
        let scores = [(0, 0.3), (4, 0.01), (1, 0.2), (9, 1e-9), (0, 0.7)];
        let mut one = Totals::default();
        let mut shards = [Totals::default(), Totals::default()];
        for (i, &(rank, p)) in scores.iter().enumerate() {
            one.add_mask(score(rank, p), 5);
            shards[i % 2].add_mask(score(rank, p), 5);
        }
        one.skip_row("not JSON", 3);
        one.skip_row("not JSON", 8);
        shards[1].skip_row("not JSON", 8);
        shards[0].skip_row("not JSON", 3);
        let [mut merged, other] = shards;
        merged.merge(other);
        assert_eq!(merged, one);
    }

    #[test]
    fn no_masks_means_no_figures() {
        let s = Totals::default().summary(5, 512, 0.0);
        assert_eq!((s.top1_accuracy, s.perplexity), (None, None));
        assert_eq!(s.masks_per_second, 0.0);
    }
}
