//! One row of a mask-filling dataset, in either of its two layouts:
//!
//! - the dataset's own (`rcds/wikipedia-for-mask-filling`): `texts`, the text with each masked span
//!   written `<mask>` (sometimes glued to other text: `A<mask>`, `<mask><mask>`, `<mask>'s`), and
//!   `masks`, the true spans in order;
//! - Azure ML's preparation of it: `input_string`, the text with `[MASK]` already in place, and
//!   `title`, the true span (`masks[0]`) of every mask.
//!
//! Either way the row becomes the text with the model's mask token at each span, and one gold span
//! per mask.

use serde_json::Value;

/// The dataset's marker for a masked span.
pub const DATASET_MASK: &str = "<mask>";

/// Whether a line of a dataset is blank (whitespace only): not a row, neither evaluated nor
/// counted, so that the rows of a file are numbered over its other lines.
pub fn is_blank(line: &[u8]) -> bool {
    std::str::from_utf8(line).is_ok_and(|line| line.trim().is_empty())
}

/// A row ready to evaluate.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// The text, each masked span replaced by the model's mask token.
    pub text: String,
    /// The true span of each mask, in text order.
    pub golds: Vec<String>,
    /// The row's `id` (any JSON value; `null` when absent), to name it in predictions.
    pub id: Value,
}

impl Row {
    /// Parses one JSON line. `mask_token` is the model's (`[MASK]`). The error says what is wrong
    /// with the row, for the caller to report with its line number.
    pub fn parse(line: &str, mask_token: &str) -> Result<Row, String> {
        let value: Value = serde_json::from_str(line).map_err(|_| "not JSON".to_owned())?;
        let Value::Object(fields) = value else {
            return Err("not a JSON object".into());
        };
        let id = fields.get("id").cloned().unwrap_or(Value::Null);
        let string = |key: &str| -> Result<Option<&str>, String> {
            match fields.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s)),
                Some(_) => Err(format!("`{key}` is not a string")),
            }
        };
        if let Some(texts) = string("texts")? {
            let golds = match fields.get("masks") {
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|v| v.as_str().map(str::to_owned))
                    .collect::<Option<Vec<_>>>()
                    .ok_or("`masks` is not a list of strings")?,
                _ => return Err("`masks` is missing or not a list".into()),
            };
            if texts.contains(mask_token) {
                return Err(format!("`texts` already contains {mask_token}"));
            }
            let markers = texts.matches(DATASET_MASK).count();
            if markers != golds.len() {
                return Err(format!(
                    "`texts` has {markers} {DATASET_MASK} but `masks` has {} spans",
                    golds.len()
                ));
            }
            if markers == 0 {
                return Err("no masked span".into());
            }
            let text = texts.replace(DATASET_MASK, mask_token);
            return Ok(Row { text, golds, id });
        }
        if let Some(input) = string("input_string")? {
            let title = string("title")?.ok_or("`title` is missing")?;
            let masks = input.matches(mask_token).count();
            if masks == 0 {
                return Err(format!("`input_string` has no {mask_token}"));
            }
            return Ok(Row {
                text: input.to_owned(),
                golds: vec![title.to_owned(); masks],
                id,
            });
        }
        Err("neither `texts` (with `masks`) nor `input_string` (with `title`)".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dataset_layout_with_glued_masks() {
        let line = r#"{"id": 7, "texts": "A<mask> met <mask><mask>'s sister.", "masks": ["da", "Jo", "hn"]}"#;
        let row = Row::parse(line, "[MASK]").unwrap();
        assert_eq!(row.text, "A[MASK] met [MASK][MASK]'s sister.");
        assert_eq!(row.golds, ["da", "Jo", "hn"]);
        assert_eq!(row.id, Value::from(7));
    }

    #[test]
    fn the_azure_layout_repeats_the_title_per_mask() {
        let line = r#"{"input_string": "[MASK] was born. [MASK] died.", "title": "Ada Lovelace"}"#;
        let row = Row::parse(line, "[MASK]").unwrap();
        assert_eq!(row.golds, ["Ada Lovelace", "Ada Lovelace"]);
        assert_eq!(row.id, Value::Null);
    }

    #[test]
    fn malformed_rows_say_what_is_wrong() {
        let err = |line: &str| Row::parse(line, "[MASK]").unwrap_err();
        assert_eq!(err("{not json"), "not JSON");
        assert_eq!(err("[1, 2]"), "not a JSON object");
        assert_eq!(
            err(r#"{"title": "x"}"#),
            "neither `texts` (with `masks`) nor `input_string` (with `title`)"
        );
        assert_eq!(
            err(r#"{"texts": "<mask> and <mask>", "masks": ["a"]}"#),
            "`texts` has 2 <mask> but `masks` has 1 spans"
        );
        assert_eq!(
            err(r#"{"texts": "x <mask>", "masks": [1]}"#),
            "`masks` is not a list of strings"
        );
        assert_eq!(
            err(r#"{"texts": "x <mask>"}"#),
            "`masks` is missing or not a list"
        );
        assert_eq!(
            err(r#"{"texts": 3, "masks": []}"#),
            "`texts` is not a string"
        );
        assert_eq!(err(r#"{"texts": "none", "masks": []}"#), "no masked span");
        assert_eq!(
            err(r#"{"input_string": "no mask", "title": "x"}"#),
            "`input_string` has no [MASK]"
        );
        assert_eq!(
            err(r#"{"texts": "[MASK] <mask>", "masks": ["a"]}"#),
            "`texts` already contains [MASK]"
        );
    }
}
