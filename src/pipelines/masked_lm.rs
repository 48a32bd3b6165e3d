//! The masked-LM step that fill-mask and evaluation share: one forward pass over a batch of
//! sequences, the MLM head at the chosen positions only (it costs `2·dim·vocab` FLOPs a row), and
//! the top-k of each row.

use ndarray::{Array2, ArrayView1};

use crate::{Engine, Result};

/// What the head's rows hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scores {
    /// The raw logits.
    Logits,
    /// A softmax over the vocabulary.
    Probabilities,
}

/// The head's scores `[Σ positions, vocab]` at `positions[s]` of each sequence `seqs[s]`, rows in
/// sequence order then position order; one forward pass for the whole batch.
pub fn predict(
    engine: &Engine,
    seqs: &[&[u32]],
    positions: &[&[usize]],
    scores: Scores,
) -> Result<Array2<f32>> {
    let hidden = engine.forward(seqs)?;
    let mut rows = Vec::with_capacity(positions.iter().map(|p| p.len()).sum());
    for (s, positions) in positions.iter().enumerate() {
        let first = hidden.first_row(s).unwrap_or(0);
        rows.extend(positions.iter().map(|&p| first + p));
    }
    match scores {
        Scores::Logits => engine.mlm_logits(&hidden, &rows),
        Scores::Probabilities => engine.mlm_probabilities(&hidden, &rows),
    }
}

/// The `k` highest `(token, score)` pairs of `scores` (`[vocab]`), highest first, ties to the
/// lower token id (the pipeline's order); with `targets`, only among those tokens.
pub fn top_k(scores: ArrayView1<'_, f32>, k: usize, targets: Option<&[u32]>) -> Vec<(u32, f32)> {
    let mut scored: Vec<(u32, f32)> = match targets {
        Some(ids) => ids
            .iter()
            .filter_map(|&id| scores.get(id as usize).map(|&p| (id, p)))
            .collect(),
        None => scores
            .iter()
            .enumerate()
            .map(|(id, &p)| (id as u32, p))
            .collect(),
    };
    let k = k.min(scored.len());
    let order = |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
    if k > 0 && k < scored.len() {
        scored.select_nth_unstable_by(k - 1, order);
    }
    scored.truncate(k);
    scored.sort_by(order);
    scored
}

#[cfg(test)]
mod tests {
    use ndarray::arr1;

    use super::top_k;

    #[test]
    fn top_k_orders_by_score_then_lower_id() {
        let scores = arr1(&[0.1, 0.4, 0.2, 0.4, 0.0]);
        assert_eq!(
            top_k(scores.view(), 3, None),
            vec![(1, 0.4), (3, 0.4), (2, 0.2)]
        );
        assert_eq!(
            top_k(scores.view(), 9, Some(&[4, 0, 7])),
            vec![(0, 0.1), (4, 0.0)]
        );
        assert_eq!(top_k(scores.view(), 0, None), vec![]);
    }
}
