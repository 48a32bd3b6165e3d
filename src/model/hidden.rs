//! The output of a forward pass: the last hidden states of a batch, its sequences unpadded.

use std::ops::Range;

use ndarray::{Array2, ArrayView2, Axis};

/// The last hidden states of a batch: its sequences' token rows one after another, unpadded.
#[derive(Clone, Debug)]
pub struct Hidden {
    pub(super) states: Array2<f32>,
    pub(super) seqs: Vec<Range<usize>>,
}

impl Hidden {
    /// Every token's hidden state, the batch's sequences one after another: `[tokens, dim]`.
    pub fn states(&self) -> ArrayView2<'_, f32> {
        self.states.view()
    }

    /// How many sequences the batch holds.
    pub fn len(&self) -> usize {
        self.seqs.len()
    }

    /// Whether the batch holds no sequence.
    pub fn is_empty(&self) -> bool {
        self.seqs.is_empty()
    }

    /// The hidden states of sequence `i`, `[its tokens, dim]`, or `None` past the batch.
    pub fn sequence(&self, i: usize) -> Option<ArrayView2<'_, f32>> {
        let rows = self.seqs.get(i)?;
        Some(self.states.slice_axis(Axis(0), rows.clone().into()))
    }

    /// The hidden states of each sequence, in batch order.
    pub fn sequences(&self) -> impl ExactSizeIterator<Item = ArrayView2<'_, f32>> + '_ {
        self.seqs
            .iter()
            .map(|rows| self.states.slice_axis(Axis(0), rows.clone().into()))
    }

    /// The row of [`Hidden::states`] where sequence `i` starts, or `None` past the batch.
    pub fn first_row(&self, i: usize) -> Option<usize> {
        self.seqs.get(i).map(|rows| rows.start)
    }

    /// The batches `parts`, one after another, as one.
    pub(super) fn concat(parts: Vec<Hidden>, dim: usize) -> Hidden {
        let rows = parts.iter().map(|part| part.states.nrows()).sum();
        let mut states = Array2::zeros((rows, dim)); // [rows, dim]
        let mut seqs = Vec::new();
        let mut at = 0;
        for part in parts {
            let n = part.states.nrows();
            states
                .slice_axis_mut(Axis(0), (at..at + n).into())
                .assign(&part.states);
            seqs.extend(part.seqs.iter().map(|rows| rows.start + at..rows.end + at));
            at += n;
        }
        Hidden { states, seqs }
    }
}
