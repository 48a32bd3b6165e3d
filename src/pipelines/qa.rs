//! Extractive question answering, as Hugging Face's `question-answering` pipeline does it in
//! transformers 4.57 (`transformers/pipelines/question_answering.py`, a fast tokenizer):
//!
//! 1. the context is cut into windows of `max_seq_len` tokens, `[CLS] question [SEP] context
//!    piece [SEP]`, consecutive windows sharing `doc_stride` pieces (`tokenizers`' overflowing
//!    tokens with `only_second` truncation);
//! 2. per window, a softmax of the start logits and one of the end logits over the context's
//!    tokens and `[CLS]` (the question and the `[SEP]`s masked out), then `[CLS]`'s probabilities
//!    set to 0 (their product is the window's "no answer" score);
//! 3. every span of at most `max_answer_len` tokens scores `p_start · p_end`; the window's best
//!    `2·top_k + 10` become answers: from the start of the first token's word to the end of the
//!    last token's word, in characters of the context;
//! 4. answers of the same text (ignoring case), in any window, are one answer whose scores add
//!    up; with `handle_impossible_answer` the lowest "no answer" score joins as `""`;
//! 5. the best `top_k` by score.
//!
//! The probabilities and span scores are f32, their sums f64, as in the pipeline.

use ndarray::Axis;
use serde::Serialize;

use super::batches;
use super::chars::CharIndex;
use super::classify::ScoreFunction;
use crate::engine::Engine;
use crate::model::Task;
use crate::tokenizer::Encoding;
use crate::{Error, Result};

/// The pipeline's keyword arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QaOptions {
    /// Answers per question (1 by default).
    pub top_k: usize,
    /// Longest answer, in tokens (15 by default).
    pub max_answer_len: usize,
    /// Tokens per window; `None` takes min(the model's length, 384).
    pub max_seq_len: Option<usize>,
    /// Context pieces shared by consecutive windows; `None` takes min(window / 2, 128).
    pub doc_stride: Option<usize>,
    /// Also offer the empty answer, scored by the lowest "no answer" score of the windows.
    pub handle_impossible_answer: bool,
}

impl Default for QaOptions {
    fn default() -> Self {
        QaOptions {
            top_k: 1,
            max_answer_len: 15,
            max_seq_len: None,
            doc_stride: None,
            handle_impossible_answer: false,
        }
    }
}

/// One answer: a span of the context.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Answer {
    /// Its probability (summed over the spans of the same text).
    pub score: f64,
    /// Its first character in the context.
    pub start: usize,
    /// The character after its last.
    pub end: usize,
    /// The context's characters `start..end`.
    pub answer: String,
}

/// One question's answers, best first.
#[derive(Clone, Debug, PartialEq)]
pub struct QaOutput {
    /// At most `top_k` answers.
    pub answers: Vec<Answer>,
    /// The windows the context was read in.
    pub windows: usize,
}

impl QaOutput {
    /// The pipeline's JSON: the best answer as an object when `top_k` is 1, else a list (also of
    /// one answer, where the pipeline would return a bare object).
    pub fn to_json(&self, top_k: usize) -> String {
        // Serialising strings, integers and floats cannot fail (a NaN score becomes null).
        match (top_k, self.answers.first()) {
            (1, Some(best)) => serde_json::to_string(best),
            _ => serde_json::to_string(&self.answers),
        }
        .unwrap_or_default()
    }
}

/// A question and its context.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Question<'a> {
    /// What is asked.
    pub question: &'a str,
    /// Where the answer is looked for.
    pub context: &'a str,
}

/// A question-answering model over an engine.
pub struct Qa<'e> {
    engine: &'e Engine,
    options: QaOptions,
}

/// A window's start and end logits, one per token.
struct SpanLogits {
    start: Vec<f32>,
    end: Vec<f32>,
}

/// A question's tokens: the question's pieces, the context's with their words, and the windows.
struct Tokenized<'a> {
    context: &'a str,
    question: Encoding,
    pieces: Encoding,
    words: Vec<usize>,
    windows: Vec<std::ops::Range<usize>>,
}

impl Tokenized<'_> {
    /// Window `w`'s ids, `[CLS] question [SEP] pieces [SEP]`.
    fn window_ids(&self, w: usize, cls: u32, sep: u32) -> Vec<u32> {
        let mut ids = Vec::with_capacity(self.question.len() + self.windows[w].len() + 3);
        ids.push(cls);
        ids.extend(&self.question.ids);
        ids.push(sep);
        ids.extend(&self.pieces.ids[self.windows[w].clone()]);
        ids.push(sep);
        ids
    }

    /// The first context token of a window.
    fn context_start(&self) -> usize {
        self.question.len() + 2
    }
}

impl<'e> Qa<'e> {
    /// Fails if the model has no question-answering head, naming what it has, or if the options
    /// make no window (`top_k` or `max_answer_len` of 0).
    pub fn new(engine: &'e Engine, options: QaOptions) -> Result<Self> {
        engine.require_task(Task::QuestionAnswering)?;
        if options.top_k == 0 || options.max_answer_len == 0 {
            return Err(Error::input("top_k and max_answer_len must be at least 1"));
        }
        Ok(Qa { engine, options })
    }

    /// The options in use.
    pub fn options(&self) -> &QaOptions {
        &self.options
    }

    /// Each question's answers, in input order; an error for a question whose windows cannot
    /// be made (a question longer than a window) or whose batch failed, without losing the
    /// others' answers.
    pub fn run(&self, questions: &[Question<'_>]) -> Vec<Result<QaOutput>> {
        let tokenized: Vec<Result<Tokenized<'_>>> =
            questions.iter().map(|q| self.tokenize(q)).collect();
        let (cls, sep) = (
            self.engine.tokenizer().cls_id(),
            self.engine.tokenizer().sep_id(),
        );
        // Every window of every question that has windows, in order: its ids and where its
        // context starts.
        let windows: Vec<(Vec<u32>, usize)> = tokenized
            .iter()
            .flatten()
            .flat_map(|t| {
                (0..t.windows.len()).map(move |w| (t.window_ids(w, cls, sep), t.context_start()))
            })
            .collect();
        let lens: Vec<usize> = windows.iter().map(|(ids, _)| ids.len()).collect();
        let mut logits: Vec<Result<SpanLogits>> = Vec::with_capacity(windows.len());
        for group in batches(&lens, self.engine.max_batch_tokens()) {
            let group = &windows[group];
            match self.window_logits(group) {
                Ok(rows) => logits.extend(rows.into_iter().map(Ok)),
                Err(err) => logits.extend(group.iter().map(|_| Err(err.for_each_input()))),
            }
        }
        let mut logits = logits.into_iter();
        tokenized
            .into_iter()
            .map(|t| {
                let t = t?;
                let rows: Result<Vec<SpanLogits>> = logits.by_ref().take(t.windows.len()).collect();
                Ok(self.answers(&t, &rows?))
            })
            .collect()
    }

    /// The question's pieces, the context's, and the windows of context pieces.
    fn tokenize<'a>(&self, q: &Question<'a>) -> Result<Tokenized<'a>> {
        let tokenizer = self.engine.tokenizer();
        let (question, _) = tokenizer.encode_words(q.question);
        let (pieces, words) = tokenizer.encode_words(q.context);
        let max_seq_len = self
            .options
            .max_seq_len
            .unwrap_or(384)
            .min(self.engine.max_length());
        let stride = self
            .options
            .doc_stride
            .unwrap_or((max_seq_len / 2).min(128));
        let room = max_seq_len.saturating_sub(question.len() + 3);
        if room == 0 || stride >= room {
            return Err(Error::input(format!(
                "the question and [CLS] [SEP] [SEP] take {} of a window's {max_seq_len} tokens: the {room} left for the context must be more than the doc_stride of {stride}",
                question.len() + 3
            )));
        }
        Ok(Tokenized {
            context: q.context,
            windows: windows(pieces.len(), room, stride),
            question,
            pieces,
            words,
        })
    }

    /// Each window's start and end logits (`windows`: ids, and where the context starts).
    fn window_logits(&self, windows: &[(Vec<u32>, usize)]) -> Result<Vec<SpanLogits>> {
        let batch: Vec<&[u32]> = windows.iter().map(|(ids, _)| ids.as_slice()).collect();
        let second: Vec<usize> = windows.iter().map(|&(_, second)| second).collect();
        let hidden = self.engine.forward_segments(&batch, &second)?;
        let logits = self.engine.token_logits(&hidden, Task::QuestionAnswering)?;
        Ok((0..batch.len())
            .map(|i| {
                let first = hidden.first_row(i).unwrap_or(0);
                let rows = logits.slice_axis(Axis(0), (first..first + batch[i].len()).into());
                SpanLogits {
                    start: rows.column(0).to_vec(),
                    end: rows.column(1).to_vec(),
                }
            })
            .collect())
    }

    /// The pipeline's `postprocess` over one question's windows.
    fn answers(&self, t: &Tokenized<'_>, logits: &[SpanLogits]) -> QaOutput {
        let o = &self.options;
        let chars = CharIndex::new(t.context);
        let context_chars: Vec<char> = t.context.chars().collect();
        let mut answers: Vec<Answer> = Vec::new();
        let mut min_null = 1_000_000.0f64;
        let first = t.context_start();
        for (
            window,
            SpanLogits {
                start: start_logits,
                end: end_logits,
            },
        ) in t.windows.iter().zip(logits)
        {
            let len = start_logits.len();
            // [CLS] and the context's tokens may answer; the question and the [SEP]s may not.
            let allowed = |i: usize| i == 0 || (first..len - 1).contains(&i);
            let probabilities = |logits: &[f32]| {
                let masked: Vec<f32> = (0..len)
                    .map(|i| if allowed(i) { logits[i] } else { -10000.0 })
                    .collect();
                ScoreFunction::Softmax.apply(&masked)
            };
            let (mut p_start, mut p_end) = (probabilities(start_logits), probabilities(end_logits));
            min_null = min_null.min(f64::from(p_start[0] * p_end[0]));
            p_start[0] = 0.0;
            p_end[0] = 0.0;
            for (s, e, score) in
                best_spans(&p_start, &p_end, first, o.max_answer_len, 2 * o.top_k + 10)
            {
                let (from, to) = self.span_chars(t, window, &chars, first, s, e);
                let text: String = if from < to {
                    context_chars[from..to].iter().collect()
                } else {
                    String::new()
                };
                let lower = text.to_lowercase();
                match answers
                    .iter_mut()
                    .find(|a| a.answer.to_lowercase() == lower)
                {
                    Some(same) => same.score += f64::from(score),
                    None => answers.push(Answer {
                        score: f64::from(score),
                        start: from,
                        end: to,
                        answer: text,
                    }),
                }
            }
        }
        if o.handle_impossible_answer {
            answers.push(Answer {
                score: min_null,
                start: 0,
                end: 0,
                answer: String::new(),
            });
        }
        // Stable, as Python's `sorted`: equal scores keep their order.
        answers.sort_by(|a, b| b.score.total_cmp(&a.score));
        answers.truncate(o.top_k);
        QaOutput {
            answers,
            windows: t.windows.len(),
        }
    }

    /// The characters of the context the span of window tokens `s..=e` stands for: from the
    /// start of `s`'s word to the end of `e`'s (the words' tokens in this window), or, for a span
    /// touching `[CLS]`, the tokens' own offsets (`[CLS]`'s are 0).
    fn span_chars(
        &self,
        t: &Tokenized<'_>,
        window: &std::ops::Range<usize>,
        chars: &CharIndex,
        first: usize,
        s: usize,
        e: usize,
    ) -> (usize, usize) {
        let piece = |i: usize| window.start + i - first;
        if s == 0 || e == 0 {
            let from = if s == 0 {
                0
            } else {
                t.pieces.offsets[piece(s)].0
            };
            let to = if e == 0 {
                0
            } else {
                t.pieces.offsets[piece(e)].1
            };
            return (chars.of(from), chars.of(to));
        }
        let in_window = &t.words[window.clone()];
        let word_start = |word: usize| {
            let p = in_window.iter().position(|&w| w == word).unwrap_or(0);
            t.pieces.offsets[window.start + p].0
        };
        let word_end = |word: usize| {
            let p = in_window.iter().rposition(|&w| w == word).unwrap_or(0);
            t.pieces.offsets[window.start + p].1
        };
        let (from, to) = (word_start(t.words[piece(s)]), word_end(t.words[piece(e)]));
        (chars.of(from), chars.of(to))
    }
}

/// The windows of `pieces` context pieces, `room` at a time, each starting `room - stride` after
/// the one before, until one reaches the end (`tokenizers`' overflowing parts; `stride < room`).
pub fn windows(pieces: usize, room: usize, stride: usize) -> Vec<std::ops::Range<usize>> {
    let mut windows = Vec::new();
    let mut start = 0;
    loop {
        let end = (start + room).min(pieces);
        windows.push(start..end);
        if end == pieces {
            return windows;
        }
        start += room - stride;
    }
}

/// The `count` best spans `(start, end, score)` of a window (`decode_spans`): tokens from `first`
/// on (the context's) with `start ≤ end < start + max_len`, scored `p_start[start] · p_end[end]`,
/// best first, ties in order of `(start, end)`. When the window has fewer spans than asked, the
/// `[CLS]` span `(0, 0)` of score 0 follows them: the pipeline then takes spans of score 0, in the
/// order numpy's `argpartition` leaves ties (machine-dependent); the empty answer is among them,
/// the others are pieces of words, left out here (README, `distil qa`).
fn best_spans(
    p_start: &[f32],
    p_end: &[f32],
    first: usize,
    max_len: usize,
    count: usize,
) -> Vec<(usize, usize, f32)> {
    let last = p_start.len().saturating_sub(1); // the final [SEP]
    let mut spans: Vec<(usize, usize, f32)> = (first..last)
        .flat_map(|s| (s..last.min(s + max_len)).map(move |e| (s, e, p_start[s] * p_end[e])))
        .filter(|&(_, _, score)| score > 0.0)
        .collect();
    spans.sort_by(|a, b| b.2.total_cmp(&a.2).then((a.0, a.1).cmp(&(b.0, b.1))));
    spans.truncate(count);
    if spans.len() < count {
        spans.push((0, 0, 0.0));
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::windows;

    #[test]
    fn windows_overlap_by_the_stride_until_one_reaches_the_end() {
        assert_eq!(
            windows(1162, 374, 128),
            vec![0..374, 246..620, 492..866, 738..1112, 984..1162]
        );
        assert_eq!(
            windows(1162, 374, 64),
            vec![0..374, 310..684, 620..994, 930..1162]
        );
        assert_eq!(windows(620, 374, 128), vec![0..374, 246..620]);
        assert_eq!(windows(5, 374, 128), vec![0..5]);
        assert_eq!(windows(0, 374, 128), vec![0..0]);
    }
}
