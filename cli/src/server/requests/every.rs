//! Every route's reader at once, for the fuzz target (`cli/fuzz`) and the test that replays its
//! corpus: besides not panicking, a reader that accepts a body must keep the limits it enforces.

use super::{
    decode, embed, embed_all, embeddings, fill_mask, predict, question_answering, rerank, score,
    score_answers, score_entities, token_classification, tokenize, Limits,
};

/// Reads `body` with every route's reader: how many accepted it, or the first that accepted it
/// with no inputs or more than `limits.max_texts` of them.
pub fn every_reader(body: &[u8], limits: &Limits) -> Result<usize, String> {
    let counts = [
        ("/score", score(body, limits).map(|r| r.texts.len())),
        (
            "/score (entities)",
            score_entities(body, limits).map(|r| r.texts.len()),
        ),
        (
            "/score (answers)",
            score_answers(body, limits).map(|r| r.questions.len()),
        ),
        ("/fill-mask", fill_mask(body, limits).map(|r| r.texts.len())),
        ("/embed", embed(body, limits).map(|r| r.texts.len())),
        ("/tokenize", tokenize(body, limits).map(|r| r.texts.len())),
        ("/embed_all", embed_all(body, limits).map(|r| r.len())),
        ("/decode", decode(body, limits).map(|r| r.ids.len())),
        ("/predict", predict(body, limits).map(|r| r.inputs.len())),
        ("/rerank", rerank(body, limits).map(|r| r.texts.len())),
        (
            "/token-classification",
            token_classification(body, limits).map(|r| r.texts.len()),
        ),
        (
            "/question-answering",
            question_answering(body, limits).map(|r| r.questions.len()),
        ),
        (
            "/v1/embeddings",
            embeddings(body, limits).map(|r| r.texts.len()),
        ),
    ];
    let mut accepted = 0;
    for (route, count) in counts {
        let Ok(n) = count else { continue };
        if n == 0 || n > limits.max_texts {
            return Err(format!(
                "{route} accepted {n} inputs; the limit is 1 to {}",
                limits.max_texts
            ));
        }
        accepted += 1;
    }
    Ok(accepted)
}
