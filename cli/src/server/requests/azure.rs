//! `POST /score`: the request shapes of an Azure ML online endpoint for fill-mask:
//! `{"input_data": ["…", …]}`, `{"input_data": {"input_string": ["…", …]}}`, the pandas "split"
//! frame `{"input_data": {"columns": […], "index": […], "data": [[…], …]}}` and the legacy
//! `{"inputs": […]}`, each with an optional `"params": {"top_k": K}` (also accepted as
//! `"parameters"` inside `input_data`, where Azure ML's model catalogue puts it).

use serde_json::{Map, Value};

use super::{
    as_object, count, key_list, kind, known_keys, object, positive_integer, quoted, texts,
    BadRequest, Limits,
};

/// `POST /score`: the texts, and `top_k` when the caller wants the pipeline's full objects
/// rather than the top-1 token strings (or labels).
#[derive(Clone, Debug, PartialEq)]
pub struct Score {
    pub texts: Vec<String>,
    pub top_k: Option<usize>,
}

/// Reads a `/score` body for fill-mask or a sequence classifier.
pub fn score(body: &[u8], limits: &Limits) -> Result<Score, BadRequest> {
    let map = object(body)?;
    let envelope = envelope(&map)?;
    let texts = envelope.texts(limits)?;
    let top_k = match envelope.params {
        None => None,
        Some((params, field)) => {
            known_keys(params, &format!("\"{field}\""), &["top_k"])?;
            params
                .get("top_k")
                .map(|k| positive_integer(k, &format!("{field}.top_k")))
                .transpose()?
        }
    };
    Ok(Score { texts, top_k })
}

/// What every `/score` body holds: its data (`input_data`, or the legacy `inputs`) and its
/// parameters (`params`, or `input_data.parameters` where Azure ML's model catalogue puts them)
/// with the field they came from.
pub(super) struct Envelope<'a> {
    pub(super) data: &'a Value,
    pub(super) field: &'static str,
    pub(super) params: Option<(&'a Map<String, Value>, &'static str)>,
}

/// The data and parameters of a `/score` body.
pub(super) fn envelope(map: &Map<String, Value>) -> Result<Envelope<'_>, BadRequest> {
    known_keys(map, "the request", &["input_data", "inputs", "params"])?;
    let (data, field) = match (map.get("input_data"), map.get("inputs")) {
        (Some(_), Some(_)) => {
            return Err(BadRequest::new(
                "the request has both \"input_data\" and \"inputs\"; send one of them",
            ))
        }
        (Some(data), None) => (data, "input_data"),
        (None, Some(inputs)) => (inputs, "inputs"),
        (None, None) => {
            return Err(BadRequest::new(
                "the request has no \"input_data\": expected {\"input_data\": [\"…\", …]}",
            ))
        }
    };
    let outer = map
        .get("params")
        .map(|p| as_object(p, "params").map(|p| (p, "params")))
        .transpose()?;
    let inner = match (field, data) {
        ("input_data", Value::Object(data)) => data
            .get("parameters")
            .map(|p| as_object(p, "input_data.parameters").map(|p| (p, "input_data.parameters")))
            .transpose()?,
        _ => None,
    };
    if outer.is_some() && inner.is_some() {
        return Err(BadRequest::new(
            "parameters are given both in \"params\" and in \"input_data.parameters\"; give them once",
        ));
    }
    Ok(Envelope {
        data,
        field,
        params: outer.or(inner),
    })
}

impl Envelope<'_> {
    /// The texts of the data: a list of strings (or one), `{"input_string": […]}`, or a pandas
    /// split frame.
    pub(super) fn texts(&self, limits: &Limits) -> Result<Vec<String>, BadRequest> {
        let Value::Object(map) = self.data else {
            return texts(self.data, self.field, limits);
        };
        if self.field == "inputs" {
            return Err(BadRequest::new(format!(
                "\"inputs\" must be a list of strings, not {}",
                kind(self.data)
            )));
        }
        if let Some(strings) = map.get("input_string") {
            known_keys(map, "\"input_data\"", &["input_string", "parameters"])?;
            return texts(strings, "input_data.input_string", limits);
        }
        if map.contains_key("columns") || map.contains_key("data") {
            known_keys(
                map,
                "\"input_data\"",
                &["columns", "index", "data", "parameters"],
            )?;
            return split_frame(map, limits);
        }
        Err(BadRequest::new(format!(
            "\"input_data\" is an object with neither \"input_string\" nor \"columns\" and \"data\" \
             (it has {}); expected [\"…\"], {{\"input_string\": [\"…\"]}} or a pandas split frame \
             {{\"columns\": [\"input_string\"], \"index\": [0], \"data\": [[\"…\"]]}}",
            key_list(map)
        )))
    }
}

/// The texts of a pandas "split" frame: the one column, or the column named `input_string`
/// (or `text`) when there are several. Rows keep their order; `index` only has to match in length.
fn split_frame(map: &Map<String, Value>, limits: &Limits) -> Result<Vec<String>, BadRequest> {
    let columns = map
        .get("columns")
        .ok_or_else(|| BadRequest::new("\"input_data\" has \"data\" but no \"columns\""))?;
    let Value::Array(columns) = columns else {
        return Err(BadRequest::new(format!(
            "\"input_data.columns\" must be a list of column names, not {}",
            kind(columns)
        )));
    };
    let mut names = Vec::with_capacity(columns.len());
    for (i, c) in columns.iter().enumerate() {
        match c {
            Value::String(s) => names.push(s.as_str()),
            other => {
                return Err(BadRequest::new(format!(
                    "\"input_data.columns[{i}]\" must be a string, not {}",
                    kind(other)
                )))
            }
        }
    }
    let column = match names.as_slice() {
        [] => return Err(BadRequest::new("\"input_data.columns\" is an empty list")),
        [_] => 0,
        _ => ["input_string", "text"]
            .iter()
            .find_map(|want| names.iter().position(|n| n == want))
            .ok_or_else(|| {
                BadRequest::new(format!(
                    "\"input_data.columns\" has {} columns ({}) and none is named \"input_string\" \
                     or \"text\", so which one holds the texts is not known",
                    names.len(),
                    quoted(&names)
                ))
            })?,
    };
    let data = map
        .get("data")
        .ok_or_else(|| BadRequest::new("\"input_data\" has \"columns\" but no \"data\""))?;
    let Value::Array(rows) = data else {
        return Err(BadRequest::new(format!(
            "\"input_data.data\" must be a list of rows, not {}",
            kind(data)
        )));
    };
    count(rows.len(), "input_data.data", limits)?;
    match map.get("index") {
        None => {}
        Some(Value::Array(labels)) if labels.len() == rows.len() => {}
        Some(Value::Array(labels)) => {
            return Err(BadRequest::new(format!(
                "\"input_data.index\" has {} labels but \"input_data.data\" has {} rows",
                labels.len(),
                rows.len()
            )))
        }
        Some(other) => {
            return Err(BadRequest::new(format!(
                "\"input_data.index\" must be a list, not {}",
                kind(other)
            )))
        }
    }
    let mut texts = Vec::with_capacity(rows.len());
    for (r, row) in rows.iter().enumerate() {
        let Value::Array(cells) = row else {
            return Err(BadRequest::new(format!(
                "\"input_data.data[{r}]\" must be a list (a row of {} values), not {}",
                names.len(),
                kind(row)
            )));
        };
        if cells.len() != names.len() {
            return Err(BadRequest::new(format!(
                "\"input_data.data[{r}]\" has {} values but there are {} columns",
                cells.len(),
                names.len()
            )));
        }
        match &cells[column] {
            Value::String(s) => texts.push(s.clone()),
            other => {
                return Err(BadRequest::new(format!(
                    "\"input_data.data[{r}][{column}]\" must be a string, not {}",
                    kind(other)
                )))
            }
        }
    }
    Ok(texts)
}

#[cfg(test)]
mod tests {
    use super::super::tests::{texts, LIMITS};
    use super::*;

    fn err(body: &str) -> String {
        score(body.as_bytes(), &LIMITS).unwrap_err().0
    }

    #[test]
    fn input_data_list() {
        let got = score(br#"{"input_data": ["a [MASK]", "b [MASK]"]}"#, &LIMITS).unwrap();
        assert_eq!(
            got,
            Score {
                texts: texts(&["a [MASK]", "b [MASK]"]),
                top_k: None
            }
        );
    }

    #[test]
    fn input_string() {
        let got = score(
            br#"{"input_data": {"input_string": ["a [MASK]"]}, "params": {"top_k": 3}}"#,
            &LIMITS,
        )
        .unwrap();
        assert_eq!(got.texts, texts(&["a [MASK]"]));
        assert_eq!(got.top_k, Some(3));
    }

    #[test]
    fn parameters_inside_input_data() {
        let got = score(
            br#"{"input_data": {"input_string": ["a [MASK]"], "parameters": {"top_k": 2}}}"#,
            &LIMITS,
        )
        .unwrap();
        assert_eq!(got.top_k, Some(2));
        let both = r#"{"input_data": {"input_string": ["a"], "parameters": {"top_k": 2}}, "params": {"top_k": 1}}"#;
        assert!(err(both).contains("give them once"));
    }

    #[test]
    fn pandas_split() {
        let body = br#"{"input_data": {"columns": ["input_string"], "index": [0, 1],
                         "data": [["a [MASK]"], ["b [MASK]"]]}}"#;
        let got = score(body, &LIMITS).unwrap();
        assert_eq!(got.texts, texts(&["a [MASK]", "b [MASK]"]));
        // Several columns: the one named input_string; no index is fine.
        let body =
            br#"{"input_data": {"columns": ["id", "input_string"], "data": [[7, "c [MASK]"]]}}"#;
        assert_eq!(score(body, &LIMITS).unwrap().texts, texts(&["c [MASK]"]));
        // One column of any name.
        let body =
            br#"{"input_data": {"columns": ["sentence"], "index": ["x"], "data": [["d [MASK]"]]}}"#;
        assert_eq!(score(body, &LIMITS).unwrap().texts, texts(&["d [MASK]"]));
    }

    #[test]
    fn legacy_inputs() {
        let got = score(br#"{"inputs": ["a [MASK]"]}"#, &LIMITS).unwrap();
        assert_eq!(got.texts, texts(&["a [MASK]"]));
        let got = score(br#"{"inputs": "one [MASK]"}"#, &LIMITS).unwrap();
        assert_eq!(got.texts, texts(&["one [MASK]"]));
    }

    #[test]
    fn errors_name_what_is_wrong() {
        assert!(err("{}").starts_with("the request has no \"input_data\""));
        for (body, message) in [
            (
                r#"{"input_date": ["a"]}"#,
                "the request has an unknown field \"input_date\"; the fields are \"input_data\", \"inputs\", \"params\"",
            ),
            (
                r#"{"input_data": []}"#,
                "\"input_data\" is an empty list; send at least one text",
            ),
            (
                r#"{"input_data": ["a", 3]}"#,
                "\"input_data[1]\" must be a string, not a number",
            ),
            (
                r#"{"input_data": 3}"#,
                "\"input_data\" must be a list of strings, not a number",
            ),
            (
                r#"{"input_data": {"input_string": [null]}}"#,
                "\"input_data.input_string[0]\" must be a string, not null",
            ),
        ] {
            assert_eq!(err(body), message, "{body}");
        }
        assert!(err(r#"{"input_data": {"strings": ["a"]}}"#)
            .starts_with("\"input_data\" is an object with neither"));
        for (body, message) in [
            (
                r#"{"input_data": ["a"], "inputs": ["b"]}"#,
                "the request has both \"input_data\" and \"inputs\"; send one of them",
            ),
            (
                r#"{"input_data": ["a","b","c","d","e"]}"#,
                "\"input_data\" has 5 texts; the limit is 4 per request (--max-texts)",
            ),
            (
                r#"{"input_data": ["a"], "params": {"top_k": 0}}"#,
                "\"params.top_k\" must be a positive integer, not 0",
            ),
            (
                r#"{"input_data": ["a"], "params": {"top_k": "3"}}"#,
                "\"params.top_k\" must be a positive integer, not \"3\"",
            ),
            (
                r#"{"input_data": ["a"], "params": {"topk": 3}}"#,
                "\"params\" has an unknown field \"topk\"; the fields are \"top_k\"",
            ),
            (
                r#"{"input_data": ["a"], "params": [1]}"#,
                "\"params\" must be an object, not a list",
            ),
        ] {
            assert_eq!(err(body), message, "{body}");
        }
    }

    #[test]
    fn pandas_split_errors() {
        let frame = |inner: &str| err(&format!("{{\"input_data\": {{{inner}}}}}"));
        for (body, message) in [
            (
                r#""columns": ["a", "b"], "data": [["x", "y"]]"#,
                "\"input_data.columns\" has 2 columns (\"a\", \"b\") and none is named \"input_string\" or \"text\", so which one holds the texts is not known",
            ),
            (
                r#""columns": ["input_string"], "data": [["x", "y"]]"#,
                "\"input_data.data[0]\" has 2 values but there are 1 columns",
            ),
            (
                r#""columns": ["input_string"], "data": ["x"]"#,
                "\"input_data.data[0]\" must be a list (a row of 1 values), not a string",
            ),
            (
                r#""columns": ["input_string"], "data": [[1]]"#,
                "\"input_data.data[0][0]\" must be a string, not a number",
            ),
            (
                r#""columns": ["input_string"], "index": [0, 1], "data": [["x"]]"#,
                "\"input_data.index\" has 2 labels but \"input_data.data\" has 1 rows",
            ),
            (
                r#""columns": ["input_string"], "data": []"#,
                "\"input_data.data\" is an empty list; send at least one text",
            ),
            (
                r#""columns": [], "data": [[]]"#,
                "\"input_data.columns\" is an empty list",
            ),
            (
                r#""data": [["x"]]"#,
                "\"input_data\" has \"data\" but no \"columns\"",
            ),
            (
                r#""columns": ["input_string"], "data": [["x"]], "dtype": "str""#,
                "\"input_data\" has an unknown field \"dtype\"; the fields are \"columns\", \"index\", \"data\", \"parameters\"",
            ),
        ] {
            assert_eq!(frame(body), message, "{body}");
        }
    }
}
