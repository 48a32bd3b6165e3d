//! What a checkpoint was trained to do, from `config.json`: the class in `architectures`
//! (`DistilBertForSequenceClassification`, `BertForTokenClassification`, …), its labels
//! (`id2label`, `num_labels`) and `problem_type`, as `transformers`' `PretrainedConfig` reads them.

use std::path::Path;

use serde_json::{Map, Value};

use crate::{Error, Result};

/// The head on top of the encoder that the checkpoint's class names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Task {
    /// `DistilBertModel`, `BertModel`, or no `architectures` at all: the hidden states.
    Encoder,
    /// `…ForMaskedLM`: logits over the vocabulary.
    MaskedLm,
    /// `…ForSequenceClassification`: one row of label logits per input (cross-encoders too).
    SequenceClassification,
    /// `…ForTokenClassification`: label logits per token.
    TokenClassification,
    /// `…ForQuestionAnswering`: start and end logits per token.
    QuestionAnswering,
}

impl Task {
    /// The head's name in messages: "sequence-classification", ….
    pub fn head_name(self) -> &'static str {
        match self {
            Task::Encoder => "encoder",
            Task::MaskedLm => "masked-language-model",
            Task::SequenceClassification => "sequence-classification",
            Task::TokenClassification => "token-classification",
            Task::QuestionAnswering => "question-answering",
        }
    }
}

/// `problem_type`, which decides the classification pipeline's default score function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProblemType {
    /// `"regression"`: the logits are the answer.
    Regression,
    /// `"single_label_classification"`: one label per input (softmax).
    SingleLabel,
    /// `"multi_label_classification"`: each label on its own (sigmoid).
    MultiLabel,
}

/// The task and its labels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Head {
    /// The head the class names.
    pub task: Task,
    /// The class named in `architectures`, as written (`None` when absent).
    pub class: Option<String>,
    /// Label `i`'s name (`id2label`, else `LABEL_i` for each of `num_labels`, else two).
    pub labels: Vec<String>,
    /// `problem_type` (`None` when absent).
    pub problem_type: Option<ProblemType>,
    /// The activation sentence-transformers' `CrossEncoder` applies to the logits, as
    /// `config.json` names it (`sentence_transformers.activation_fn`, or the older
    /// `sbert_ce_default_activation_function`): `torch.nn.modules.linear.Identity`, ….
    pub cross_encoder_activation: Option<String>,
}

impl Head {
    /// Reads the head from `config.json`'s `fields` (`path` names the file in errors).
    pub(super) fn read(fields: &Map<String, Value>, path: &Path) -> Result<Head> {
        let class = match fields.get("architectures") {
            None | Some(Value::Null) => None,
            Some(Value::Array(classes)) => match classes.first() {
                None => None,
                Some(Value::String(class)) => Some(class.clone()),
                Some(other) => {
                    return Err(Error::config(
                        path,
                        format!("\"architectures\" must list class names, not {other}"),
                    ))
                }
            },
            Some(other) => {
                return Err(Error::config(
                    path,
                    format!("\"architectures\" must be a list, not {other}"),
                ))
            }
        };
        let task = class.as_deref().map_or(Task::Encoder, task_of);
        let problem_type = match fields.get("problem_type") {
            None | Some(Value::Null) => None,
            Some(Value::String(kind)) => Some(match kind.as_str() {
                "regression" => ProblemType::Regression,
                "single_label_classification" => ProblemType::SingleLabel,
                "multi_label_classification" => ProblemType::MultiLabel,
                _ => {
                    return Err(Error::config(
                        path,
                        format!("unknown \"problem_type\" {kind:?}"),
                    ))
                }
            }),
            Some(other) => {
                return Err(Error::config(
                    path,
                    format!("\"problem_type\" must be a string, not {other}"),
                ))
            }
        };
        let nested = fields
            .get("sentence_transformers")
            .and_then(|st| st.get("activation_fn"));
        let cross_encoder_activation =
            match nested.or_else(|| fields.get("sbert_ce_default_activation_function")) {
                None | Some(Value::Null) => None,
                Some(Value::String(path)) => Some(path.clone()),
                Some(other) => {
                    return Err(Error::config(
                        path,
                        format!("the cross-encoder's activation must be a name, not {other}"),
                    ))
                }
            };
        Ok(Head {
            task,
            class,
            labels: labels(fields, path)?,
            problem_type,
            cross_encoder_activation,
        })
    }
}

/// The task of a `transformers` class of the two families; the encoder's for any other class
/// (`BertForMultipleChoice`, …), whose hidden states are still what the encoder computes.
fn task_of(class: &str) -> Task {
    let head = class
        .strip_prefix("DistilBert")
        .or_else(|| class.strip_prefix("Bert"))
        .unwrap_or(class);
    match head {
        "ForMaskedLM" | "ForPreTraining" => Task::MaskedLm,
        "ForSequenceClassification" => Task::SequenceClassification,
        "ForTokenClassification" => Task::TokenClassification,
        "ForQuestionAnswering" => Task::QuestionAnswering,
        _ => Task::Encoder,
    }
}

/// The labels: `id2label` (keys `"0"`…`"n-1"`, each once), else `LABEL_i` for each of
/// `num_labels`, else `LABEL_0` and `LABEL_1` (`PretrainedConfig`'s default of two).
fn labels(fields: &Map<String, Value>, path: &Path) -> Result<Vec<String>> {
    let count = match fields.get("num_labels") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => match n.as_u64() {
            Some(n) if (1..=1 << 20).contains(&n) => Some(n as usize),
            _ => {
                return Err(Error::config(
                    path,
                    format!("\"num_labels\" must be a positive integer, not {n}"),
                ))
            }
        },
        Some(other) => {
            return Err(Error::config(
                path,
                format!("\"num_labels\" must be an integer, not {other}"),
            ))
        }
    };
    let names = match fields.get("id2label") {
        None | Some(Value::Null) => None,
        Some(Value::Object(names)) => Some(names),
        Some(other) => {
            return Err(Error::config(
                path,
                format!("\"id2label\" must be an object, not {other}"),
            ))
        }
    };
    let Some(names) = names else {
        return Ok((0..count.unwrap_or(2))
            .map(|i| format!("LABEL_{i}"))
            .collect());
    };
    let mut labels = vec![None; names.len()];
    for (id, name) in names {
        let slot = id
            .parse::<usize>()
            .ok()
            .and_then(|i| labels.get_mut(i))
            .ok_or_else(|| {
                Error::config(
                    path,
                    format!(
                        "\"id2label\" has the id {id:?}, not one of 0 to {}",
                        names.len() - 1
                    ),
                )
            })?;
        let Value::String(name) = name else {
            return Err(Error::config(
                path,
                format!("\"id2label\" names label {id} with {name}, not a string"),
            ));
        };
        *slot = Some(name.clone());
    }
    let labels: Vec<String> = labels.into_iter().flatten().collect();
    if labels.len() < names.len() {
        return Err(Error::config(
            path,
            "\"id2label\" names a label twice (as \"1\" and \"01\")",
        ));
    }
    match count {
        Some(count) if count != labels.len() => Err(Error::config(
            path,
            format!(
                "\"num_labels\" is {count} but \"id2label\" names {}",
                labels.len()
            ),
        )),
        _ => Ok(labels),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &str) -> Result<Head> {
        let Value::Object(fields) = serde_json::from_str(text).unwrap() else {
            panic!("not an object")
        };
        Head::read(&fields, Path::new("config.json"))
    }

    #[test]
    fn reads_the_class_labels_and_problem_type() {
        let h = head(
            r#"{"architectures": ["DistilBertForTokenClassification"],
                "id2label": {"1": "B-PER", "0": "O", "2": "I-PER"}}"#,
        )
        .unwrap();
        assert_eq!(h.task, Task::TokenClassification);
        assert_eq!(h.class.as_deref(), Some("DistilBertForTokenClassification"));
        assert_eq!(h.labels, ["O", "B-PER", "I-PER"]);
        assert_eq!(h.problem_type, None);
        let h = head(
            r#"{"architectures": ["BertForSequenceClassification"], "num_labels": 1,
                "problem_type": "multi_label_classification"}"#,
        )
        .unwrap();
        assert_eq!(
            (h.task, h.labels),
            (Task::SequenceClassification, vec!["LABEL_0".to_string()])
        );
        assert_eq!(h.problem_type, Some(ProblemType::MultiLabel));
        let h = head(
            r#"{"sentence_transformers": {"activation_fn": "torch.nn.modules.linear.Identity"}}"#,
        )
        .unwrap();
        assert_eq!(
            h.cross_encoder_activation.as_deref(),
            Some("torch.nn.modules.linear.Identity")
        );
        let h = head(
            r#"{"sbert_ce_default_activation_function": "torch.nn.modules.activation.Sigmoid"}"#,
        )
        .unwrap();
        assert_eq!(
            h.cross_encoder_activation.as_deref(),
            Some("torch.nn.modules.activation.Sigmoid")
        );
        let h = head("{}").unwrap();
        assert_eq!(h.cross_encoder_activation, None);
        assert_eq!((h.task, h.labels.len()), (Task::Encoder, 2));
        assert_eq!(
            head(r#"{"architectures": ["BertForMaskedLM"]}"#)
                .unwrap()
                .task,
            Task::MaskedLm
        );
    }

    #[test]
    fn names_what_is_wrong() {
        for (text, says) in [
            (r#"{"architectures": "BertModel"}"#, "must be a list"),
            (r#"{"id2label": {"0": "a", "2": "b"}}"#, "the id \"2\""),
            (r#"{"id2label": {"0": "a", "x": "b"}}"#, "the id \"x\""),
            (r#"{"id2label": {"0": 7}}"#, "not a string"),
            (r#"{"id2label": {"0": "a", "00": "b"}}"#, "twice"),
            (
                r#"{"num_labels": 3, "id2label": {"0": "a"}}"#,
                "\"num_labels\" is 3",
            ),
            (r#"{"num_labels": 0}"#, "positive integer"),
            (r#"{"problem_type": "ranking"}"#, "unknown \"problem_type\""),
        ] {
            let error = head(text).unwrap_err().to_string();
            assert!(error.contains(says), "{text}: {error}");
            assert!(error.contains("config.json"), "{text}: {error}");
        }
    }
}
