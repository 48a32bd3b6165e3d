//! The request bodies `distil serve` accepts, read into texts and options, and a sentence naming
//! the field for everything it refuses.
//!
//! - `POST /score`, Azure ML's online-endpoint shapes for fill-mask:
//!   `{"input_data": ["…", …]}`, `{"input_data": {"input_string": ["…", …]}}`, the pandas
//!   "split" frame `{"input_data": {"columns": […], "index": […], "data": [[…], …]}}` and the
//!   legacy `{"inputs": […]}`, each with an optional `"params": {"top_k": K}` (also accepted as
//!   `"parameters"` inside `input_data`, where Azure ML's model catalogue puts it).
//! - `POST /fill-mask`, the Hugging Face inference format:
//!   `{"inputs": "…" | ["…", …], "parameters": {"top_k": K, "targets": "w" | ["w", …]}}`.
//! - `POST /embed` and `POST /tokenize`, Text Embeddings Inference's format:
//!   `{"inputs": "…" | ["…", …], "normalize": true}`, `{"inputs": …, "add_special_tokens": true}`.
//!
//! Unknown keys are refused rather than ignored, so that a misspelt `"input_date"` or `"topk"` is
//! a 400 naming it instead of an answer computed with the defaults.

use serde_json::{Map, Value};

/// Why a request body was refused: one sentence naming the field and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadRequest(pub String);

impl BadRequest {
    fn new(message: impl Into<String>) -> Self {
        BadRequest(message.into())
    }
}

/// What a request may ask for.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Most texts in one request.
    pub max_texts: usize,
}

/// `POST /score`: the texts, and `top_k` when the caller wants the pipeline's full objects
/// rather than the top-1 token strings.
#[derive(Clone, Debug, PartialEq)]
pub struct Score {
    pub texts: Vec<String>,
    pub top_k: Option<usize>,
}

/// `POST /fill-mask`: the texts and the pipeline's parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct FillMask {
    pub texts: Vec<String>,
    pub top_k: usize,
    pub targets: Option<Vec<String>>,
}

/// `POST /embed`: the texts, and whether to L2-normalise the vectors (TEI's default: yes).
#[derive(Clone, Debug, PartialEq)]
pub struct Embed {
    pub texts: Vec<String>,
    pub normalize: bool,
}

/// `POST /tokenize`: the texts, and whether to keep `[CLS]` and `[SEP]` (TEI's default: yes).
#[derive(Clone, Debug, PartialEq)]
pub struct Tokenize {
    pub texts: Vec<String>,
    pub add_special_tokens: bool,
}

/// The pipeline's default number of candidates per mask.
const DEFAULT_TOP_K: usize = 5;

/// Reads a `/score` body.
pub fn score(body: &[u8], limits: &Limits) -> Result<Score, BadRequest> {
    let map = object(body)?;
    known_keys(&map, "the request", &["input_data", "inputs", "params"])?;
    let mut top_k = None;
    if let Some(params) = map.get("params") {
        top_k = score_params(params, "params")?;
    }
    let texts = match (map.get("input_data"), map.get("inputs")) {
        (Some(_), Some(_)) => {
            return Err(BadRequest::new(
                "the request has both \"input_data\" and \"inputs\"; send one of them",
            ))
        }
        (Some(data), None) => {
            let (texts, inner_top_k) = input_data(data, limits)?;
            if inner_top_k.is_some() {
                if top_k.is_some() {
                    return Err(BadRequest::new(
                        "top_k is given both in \"params\" and in \"input_data.parameters\"; give it once",
                    ));
                }
                top_k = inner_top_k;
            }
            texts
        }
        (None, Some(inputs)) => texts(inputs, "inputs", limits)?,
        (None, None) => {
            return Err(BadRequest::new(
                "the request has no \"input_data\": expected {\"input_data\": [\"a text with [MASK]\", …]}",
            ))
        }
    };
    Ok(Score { texts, top_k })
}

/// Reads a `/fill-mask` body.
pub fn fill_mask(body: &[u8], limits: &Limits) -> Result<FillMask, BadRequest> {
    let map = object(body)?;
    known_keys(&map, "the request", &["inputs", "parameters", "options"])?;
    let inputs = map.get("inputs").ok_or_else(|| {
        BadRequest::new(
            "the request has no \"inputs\": expected {\"inputs\": \"a text with [MASK]\"}",
        )
    })?;
    let texts = texts(inputs, "inputs", limits)?;
    if let Some(options) = map.get("options") {
        // The Inference API's `{"wait_for_model": true, "use_cache": false}`: nothing to do here.
        if !options.is_object() {
            return Err(BadRequest::new(format!(
                "\"options\" must be an object, not {}",
                kind(options)
            )));
        }
    }
    let mut top_k = DEFAULT_TOP_K;
    let mut targets = None;
    if let Some(parameters) = map.get("parameters") {
        let parameters = as_object(parameters, "parameters")?;
        known_keys(parameters, "\"parameters\"", &["top_k", "targets"])?;
        if let Some(k) = parameters.get("top_k") {
            top_k = positive_integer(k, "parameters.top_k")?;
        }
        if let Some(t) = parameters.get("targets") {
            targets = Some(target_words(t, "parameters.targets")?);
        }
    }
    Ok(FillMask {
        texts,
        top_k,
        targets,
    })
}

/// Reads an `/embed` body. `truncate` is accepted for TEI's clients; distil always truncates to
/// the model's length (and says so in a response header).
pub fn embed(body: &[u8], limits: &Limits) -> Result<Embed, BadRequest> {
    let map = object(body)?;
    known_keys(&map, "the request", &["inputs", "normalize", "truncate"])?;
    let inputs = map.get("inputs").ok_or_else(|| {
        BadRequest::new("the request has no \"inputs\": expected {\"inputs\": [\"a text\", …]}")
    })?;
    let texts = texts(inputs, "inputs", limits)?;
    let normalize = map
        .get("normalize")
        .map_or(Ok(true), |v| boolean(v, "normalize"))?;
    if let Some(v) = map.get("truncate") {
        boolean(v, "truncate")?;
    }
    Ok(Embed { texts, normalize })
}

/// Reads a `/tokenize` body.
pub fn tokenize(body: &[u8], limits: &Limits) -> Result<Tokenize, BadRequest> {
    let map = object(body)?;
    known_keys(&map, "the request", &["inputs", "add_special_tokens"])?;
    let inputs = map.get("inputs").ok_or_else(|| {
        BadRequest::new("the request has no \"inputs\": expected {\"inputs\": [\"a text\", …]}")
    })?;
    let texts = texts(inputs, "inputs", limits)?;
    let add_special_tokens = map
        .get("add_special_tokens")
        .map_or(Ok(true), |v| boolean(v, "add_special_tokens"))?;
    Ok(Tokenize {
        texts,
        add_special_tokens,
    })
}

/// The texts of `input_data` in any of its three shapes, and the top_k of its `parameters`.
fn input_data(data: &Value, limits: &Limits) -> Result<(Vec<String>, Option<usize>), BadRequest> {
    let Value::Object(map) = data else {
        return Ok((texts(data, "input_data", limits)?, None));
    };
    let top_k = match map.get("parameters") {
        Some(p) => score_params(p, "input_data.parameters")?,
        None => None,
    };
    if let Some(strings) = map.get("input_string") {
        known_keys(map, "\"input_data\"", &["input_string", "parameters"])?;
        return Ok((texts(strings, "input_data.input_string", limits)?, top_k));
    }
    if map.contains_key("columns") || map.contains_key("data") {
        known_keys(
            map,
            "\"input_data\"",
            &["columns", "index", "data", "parameters"],
        )?;
        return Ok((split_frame(map, limits)?, top_k));
    }
    Err(BadRequest::new(format!(
        "\"input_data\" is an object with neither \"input_string\" nor \"columns\" and \"data\" \
         (it has {}); expected [\"…\"], {{\"input_string\": [\"…\"]}} or a pandas split frame \
         {{\"columns\": [\"input_string\"], \"index\": [0], \"data\": [[\"…\"]]}}",
        key_list(map)
    )))
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
    if let Some(index) = map.get("index") {
        match index {
            Value::Array(labels) if labels.len() == rows.len() => {}
            Value::Array(labels) => {
                return Err(BadRequest::new(format!(
                    "\"input_data.index\" has {} labels but \"input_data.data\" has {} rows",
                    labels.len(),
                    rows.len()
                )))
            }
            other => {
                return Err(BadRequest::new(format!(
                    "\"input_data.index\" must be a list, not {}",
                    kind(other)
                )))
            }
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

/// The top_k of Azure ML's `params` (or `input_data.parameters`).
fn score_params(params: &Value, field: &str) -> Result<Option<usize>, BadRequest> {
    let map = as_object(params, field)?;
    known_keys(map, &format!("\"{field}\""), &["top_k"])?;
    map.get("top_k")
        .map(|k| positive_integer(k, &format!("{field}.top_k")))
        .transpose()
}

/// A string (one text) or a non-empty list of strings, at most `limits.max_texts`.
fn texts(value: &Value, field: &str, limits: &Limits) -> Result<Vec<String>, BadRequest> {
    match value {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) => {
            count(items.len(), field, limits)?;
            items
                .iter()
                .enumerate()
                .map(|(i, item)| match item {
                    Value::String(s) => Ok(s.clone()),
                    other => Err(BadRequest::new(format!(
                        "\"{field}[{i}]\" must be a string, not {}",
                        kind(other)
                    ))),
                })
                .collect()
        }
        other => Err(BadRequest::new(format!(
            "\"{field}\" must be a list of strings, not {}",
            kind(other)
        ))),
    }
}

/// Refuses an empty list and one longer than the limit.
fn count(n: usize, field: &str, limits: &Limits) -> Result<(), BadRequest> {
    if n == 0 {
        return Err(BadRequest::new(format!(
            "\"{field}\" is an empty list; send at least one text"
        )));
    }
    if n > limits.max_texts {
        return Err(BadRequest::new(format!(
            "\"{field}\" has {n} texts; the limit is {} per request (--max-texts)",
            limits.max_texts
        )));
    }
    Ok(())
}

/// The pipeline's `targets`: one word or a non-empty list of words.
fn target_words(value: &Value, field: &str) -> Result<Vec<String>, BadRequest> {
    let words: Vec<String> = match value {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::String(s) => Ok(s.clone()),
                other => Err(BadRequest::new(format!(
                    "\"{field}[{i}]\" must be a string, not {}",
                    kind(other)
                ))),
            })
            .collect::<Result<_, _>>()?,
        other => {
            return Err(BadRequest::new(format!(
                "\"{field}\" must be a word or a list of words, not {}",
                kind(other)
            )))
        }
    };
    if words.is_empty() {
        return Err(BadRequest::new(format!(
            "\"{field}\" is an empty list; give at least one word, or leave it out"
        )));
    }
    Ok(words)
}

/// The body as a JSON object.
fn object(body: &[u8]) -> Result<Map<String, Value>, BadRequest> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(BadRequest::new(
            "the request body is empty; expected a JSON object",
        ));
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| BadRequest::new(format!("the request body is not valid JSON: {e}")))?;
    match value {
        Value::Object(map) => Ok(map),
        other => Err(BadRequest::new(format!(
            "the request body must be a JSON object, not {}",
            kind(&other)
        ))),
    }
}

fn as_object<'a>(value: &'a Value, field: &str) -> Result<&'a Map<String, Value>, BadRequest> {
    value.as_object().ok_or_else(|| {
        BadRequest::new(format!(
            "\"{field}\" must be an object, not {}",
            kind(value)
        ))
    })
}

/// Refuses a key of `map` that is not in `allowed`.
fn known_keys(map: &Map<String, Value>, what: &str, allowed: &[&str]) -> Result<(), BadRequest> {
    match map.keys().find(|k| !allowed.contains(&k.as_str())) {
        None => Ok(()),
        Some(unknown) => Err(BadRequest::new(format!(
            "{what} has an unknown field {}; the fields are {}",
            serde_json::Value::String(unknown.clone()),
            quoted(allowed)
        ))),
    }
}

fn positive_integer(value: &Value, field: &str) -> Result<usize, BadRequest> {
    match value.as_u64() {
        Some(n) if n >= 1 => Ok(usize::try_from(n).unwrap_or(usize::MAX)),
        _ => Err(BadRequest::new(format!(
            "\"{field}\" must be a positive integer, not {value}"
        ))),
    }
}

fn boolean(value: &Value, field: &str) -> Result<bool, BadRequest> {
    value.as_bool().ok_or_else(|| {
        BadRequest::new(format!(
            "\"{field}\" must be true or false, not {}",
            kind(value)
        ))
    })
}

/// `a number`, `an object`, … for messages.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn key_list(map: &Map<String, Value>) -> String {
    if map.is_empty() {
        return "no fields".to_string();
    }
    let keys: Vec<&str> = map.keys().map(String::as_str).collect();
    quoted(&keys)
}

/// `"a", "b"`, each JSON-escaped.
fn quoted(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| Value::String((*n).to_string()).to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits { max_texts: 4 };

    fn texts(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn score_err(body: &str) -> String {
        score(body.as_bytes(), &LIMITS).unwrap_err().0
    }

    fn fill_err(body: &str) -> String {
        fill_mask(body.as_bytes(), &LIMITS).unwrap_err().0
    }

    #[test]
    fn score_input_data_list() {
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
    fn score_input_string() {
        let got = score(
            br#"{"input_data": {"input_string": ["a [MASK]"]}, "params": {"top_k": 3}}"#,
            &LIMITS,
        )
        .unwrap();
        assert_eq!(got.texts, texts(&["a [MASK]"]));
        assert_eq!(got.top_k, Some(3));
    }

    #[test]
    fn score_parameters_inside_input_data() {
        let got = score(
            br#"{"input_data": {"input_string": ["a [MASK]"], "parameters": {"top_k": 2}}}"#,
            &LIMITS,
        )
        .unwrap();
        assert_eq!(got.top_k, Some(2));
        let both = r#"{"input_data": {"input_string": ["a"], "parameters": {"top_k": 2}}, "params": {"top_k": 1}}"#;
        assert!(score_err(both).contains("give it once"));
    }

    #[test]
    fn score_pandas_split() {
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
    fn score_legacy_inputs() {
        let got = score(br#"{"inputs": ["a [MASK]"]}"#, &LIMITS).unwrap();
        assert_eq!(got.texts, texts(&["a [MASK]"]));
        let got = score(br#"{"inputs": "one [MASK]"}"#, &LIMITS).unwrap();
        assert_eq!(got.texts, texts(&["one [MASK]"]));
    }

    #[test]
    fn score_errors_name_what_is_wrong() {
        assert_eq!(
            score_err(""),
            "the request body is empty; expected a JSON object"
        );
        assert!(score_err("{\"input_data\": [").starts_with("the request body is not valid JSON"));
        assert_eq!(
            score_err("[\"a\"]"),
            "the request body must be a JSON object, not a list"
        );
        assert!(score_err("{}").starts_with("the request has no \"input_data\""));
        assert_eq!(
            score_err(r#"{"input_date": ["a"]}"#),
            "the request has an unknown field \"input_date\"; the fields are \"input_data\", \"inputs\", \"params\""
        );
        assert_eq!(
            score_err(r#"{"input_data": []}"#),
            "\"input_data\" is an empty list; send at least one text"
        );
        assert_eq!(
            score_err(r#"{"input_data": ["a", 3]}"#),
            "\"input_data[1]\" must be a string, not a number"
        );
        assert_eq!(
            score_err(r#"{"input_data": 3}"#),
            "\"input_data\" must be a list of strings, not a number"
        );
        assert_eq!(
            score_err(r#"{"input_data": {"input_string": [null]}}"#),
            "\"input_data.input_string[0]\" must be a string, not null"
        );
        assert!(score_err(r#"{"input_data": {"strings": ["a"]}}"#)
            .starts_with("\"input_data\" is an object with neither"));
        assert_eq!(
            score_err(r#"{"input_data": ["a"], "inputs": ["b"]}"#),
            "the request has both \"input_data\" and \"inputs\"; send one of them"
        );
        assert_eq!(
            score_err(r#"{"input_data": ["a","b","c","d","e"]}"#),
            "\"input_data\" has 5 texts; the limit is 4 per request (--max-texts)"
        );
        assert_eq!(
            score_err(r#"{"input_data": ["a"], "params": {"top_k": 0}}"#),
            "\"params.top_k\" must be a positive integer, not 0"
        );
        assert_eq!(
            score_err(r#"{"input_data": ["a"], "params": {"top_k": "3"}}"#),
            "\"params.top_k\" must be a positive integer, not \"3\""
        );
        assert_eq!(
            score_err(r#"{"input_data": ["a"], "params": {"topk": 3}}"#),
            "\"params\" has an unknown field \"topk\"; the fields are \"top_k\""
        );
        assert_eq!(
            score_err(r#"{"input_data": ["a"], "params": [1]}"#),
            "\"params\" must be an object, not a list"
        );
    }

    #[test]
    fn pandas_split_errors() {
        let frame = |inner: &str| score_err(&format!("{{\"input_data\": {{{inner}}}}}"));
        assert_eq!(
            frame(r#""columns": ["a", "b"], "data": [["x", "y"]]"#),
            "\"input_data.columns\" has 2 columns (\"a\", \"b\") and none is named \"input_string\" or \"text\", so which one holds the texts is not known"
        );
        assert_eq!(
            frame(r#""columns": ["input_string"], "data": [["x", "y"]]"#),
            "\"input_data.data[0]\" has 2 values but there are 1 columns"
        );
        assert_eq!(
            frame(r#""columns": ["input_string"], "data": ["x"]"#),
            "\"input_data.data[0]\" must be a list (a row of 1 values), not a string"
        );
        assert_eq!(
            frame(r#""columns": ["input_string"], "data": [[1]]"#),
            "\"input_data.data[0][0]\" must be a string, not a number"
        );
        assert_eq!(
            frame(r#""columns": ["input_string"], "index": [0, 1], "data": [["x"]]"#),
            "\"input_data.index\" has 2 labels but \"input_data.data\" has 1 rows"
        );
        assert_eq!(
            frame(r#""columns": ["input_string"], "data": []"#),
            "\"input_data.data\" is an empty list; send at least one text"
        );
        assert_eq!(
            frame(r#""columns": [], "data": [[]]"#),
            "\"input_data.columns\" is an empty list"
        );
        assert_eq!(
            frame(r#""data": [["x"]]"#),
            "\"input_data\" has \"data\" but no \"columns\""
        );
        assert_eq!(
            frame(r#""columns": ["input_string"], "data": [["x"]], "dtype": "str""#),
            "\"input_data\" has an unknown field \"dtype\"; the fields are \"columns\", \"index\", \"data\", \"parameters\""
        );
    }

    #[test]
    fn fill_mask_hugging_face_format() {
        let got = fill_mask(br#"{"inputs": "a [MASK]"}"#, &LIMITS).unwrap();
        assert_eq!(
            got,
            FillMask {
                texts: texts(&["a [MASK]"]),
                top_k: 5,
                targets: None
            }
        );
        let got = fill_mask(
            br#"{"inputs": ["a [MASK]", "b [MASK]"], "parameters": {"top_k": 2, "targets": ["x", "y"]},
                 "options": {"wait_for_model": true}}"#,
            &LIMITS,
        )
        .unwrap();
        assert_eq!(got.texts, texts(&["a [MASK]", "b [MASK]"]));
        assert_eq!(got.top_k, 2);
        assert_eq!(got.targets, Some(texts(&["x", "y"])));
        let got = fill_mask(
            br#"{"inputs": "a", "parameters": {"targets": "x"}}"#,
            &LIMITS,
        )
        .unwrap();
        assert_eq!(got.targets, Some(texts(&["x"])));
    }

    #[test]
    fn fill_mask_errors() {
        assert!(fill_err("{\"inputs\": }").starts_with("the request body is not valid JSON"));
        assert!(
            fill_err(r#"{"input": "a"}"#).starts_with("the request has an unknown field \"input\"")
        );
        assert!(fill_err(r#"{"parameters": {}}"#).starts_with("the request has no \"inputs\""));
        assert_eq!(
            fill_err(r#"{"inputs": []}"#),
            "\"inputs\" is an empty list; send at least one text"
        );
        assert_eq!(
            fill_err(r#"{"inputs": [["a"]]}"#),
            "\"inputs[0]\" must be a string, not a list"
        );
        assert_eq!(
            fill_err(r#"{"inputs": "a", "parameters": {"top_k": -1}}"#),
            "\"parameters.top_k\" must be a positive integer, not -1"
        );
        assert_eq!(
            fill_err(r#"{"inputs": "a", "parameters": {"top_k": 1.5}}"#),
            "\"parameters.top_k\" must be a positive integer, not 1.5"
        );
        assert_eq!(
            fill_err(r#"{"inputs": "a", "parameters": {"targets": []}}"#),
            "\"parameters.targets\" is an empty list; give at least one word, or leave it out"
        );
        assert_eq!(
            fill_err(r#"{"inputs": "a", "parameters": {"targets": [1]}}"#),
            "\"parameters.targets[0]\" must be a string, not a number"
        );
        assert_eq!(
            fill_err(r#"{"inputs": "a", "parameters": {"targets": {}}}"#),
            "\"parameters.targets\" must be a word or a list of words, not an object"
        );
        assert_eq!(
            fill_err(r#"{"inputs": "a", "parameters": {"top_p": 1}}"#),
            "\"parameters\" has an unknown field \"top_p\"; the fields are \"top_k\", \"targets\""
        );
        assert_eq!(
            fill_err(r#"{"inputs": "a", "options": 1}"#),
            "\"options\" must be an object, not a number"
        );
    }

    #[test]
    fn embed_and_tokenize_tei_format() {
        let got = embed(br#"{"inputs": ["a", "b"]}"#, &LIMITS).unwrap();
        assert_eq!(
            got,
            Embed {
                texts: texts(&["a", "b"]),
                normalize: true
            }
        );
        let got = embed(
            br#"{"inputs": "a", "normalize": false, "truncate": true}"#,
            &LIMITS,
        )
        .unwrap();
        assert!(!got.normalize);
        assert_eq!(
            embed(br#"{"inputs": "a", "normalize": "no"}"#, &LIMITS)
                .unwrap_err()
                .0,
            "\"normalize\" must be true or false, not a string"
        );
        assert_eq!(
            embed(br#"{"inputs": {}}"#, &LIMITS).unwrap_err().0,
            "\"inputs\" must be a list of strings, not an object"
        );
        let got = tokenize(br#"{"inputs": "a", "add_special_tokens": false}"#, &LIMITS).unwrap();
        assert_eq!(
            got,
            Tokenize {
                texts: texts(&["a"]),
                add_special_tokens: false
            }
        );
        assert!(tokenize(br#"{"text": "a"}"#, &LIMITS)
            .unwrap_err()
            .0
            .starts_with("the request has an unknown field \"text\""));
    }

    #[test]
    fn unicode_and_escapes_survive() {
        let got = score(
            r#"{"input_data": ["東京 is [MASK]\u0000 \n"]}"#.as_bytes(),
            &LIMITS,
        )
        .unwrap();
        assert_eq!(got.texts, vec!["東京 is [MASK]\u{0} \n".to_string()]);
        // A lone surrogate escape is not a string serde_json can return.
        assert!(score_err(r#"{"input_data": ["\ud800"]}"#)
            .starts_with("the request body is not valid JSON"));
    }
}
