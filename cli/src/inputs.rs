//! Where texts come from (the arguments, or standard input one per line), and the one rule every
//! command answers them by: an answer per input, in input order; an input that fails (not UTF-8,
//! no `[MASK]`, …) is reported on standard error as `distil: line 3: {reason}` and keeps its place
//! on standard output (an `{"error": …}` line with `--json`, an empty line in a format of one line
//! per input), the other inputs still get their answers, and the exit code is 1.

use std::io::Read;
use std::process::ExitCode;

/// One input text, or why it cannot be used.
pub struct Input {
    /// How to name the input in messages: `input 2` for an argument, `line 2` for standard input.
    pub name: String,
    pub text: Result<String, String>,
}

/// How a command lays out its answers on standard output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// One JSON document per line and input (`--json`).
    Json,
    /// One line of text per input (ids, a vector).
    Lines,
    /// A block of several lines per input, headed by its text (fill-mask's table).
    Blocks,
}

impl Layout {
    /// [`Layout::Json`] with `--json`, else the command's own `layout`.
    pub fn json_or(json: bool, layout: Layout) -> Layout {
        if json {
            Layout::Json
        } else {
            layout
        }
    }
}

impl Input {
    /// Reports that this input failed: `distil: {name}: {error}` on standard error, and on
    /// standard output what keeps the input's place in `layout`.
    fn report_failure(&self, error: &str, layout: Layout) {
        let message = format!("{}: {error}", self.name);
        eprintln!("distil: {message}");
        match layout {
            Layout::Json => println!("{}", serde_json::json!({ "error": message })),
            Layout::Lines => println!(),
            Layout::Blocks => {}
        }
    }
}

/// Answers `inputs` in order: `answers` holds one entry per input whose text could be read
/// (in order), which `print` writes; every failure is reported by the module's rule. The exit
/// code is 1 if any input failed.
pub fn answer_each<T, E: ToString>(
    inputs: &[Input],
    answers: impl IntoIterator<Item = Result<T, E>>,
    layout: Layout,
    mut print: impl FnMut(&Input, T),
) -> ExitCode {
    let mut answers = answers.into_iter();
    let mut failures = 0;
    for input in inputs {
        let answer = match &input.text {
            Err(e) => Err(e.clone()),
            Ok(_) => match answers.next() {
                Some(answer) => answer.map_err(|e| e.to_string()),
                None => Err("internal error: no answer".to_string()),
            },
        };
        match answer {
            Ok(answer) => print(input, answer),
            Err(e) => {
                failures += 1;
                input.report_failure(&e, layout);
            }
        }
    }
    if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The answers to `parsed` (each readable input parsed into what the command runs on, or its
/// own error), in order: `run` computes them for the inputs that parsed, the others keep their
/// errors.
pub fn run_parsed<P, T>(
    parsed: Vec<distil::Result<P>>,
    run: impl FnOnce(&[&P]) -> Vec<distil::Result<T>>,
) -> Vec<distil::Result<T>> {
    let ok: Vec<&P> = parsed.iter().filter_map(|p| p.as_ref().ok()).collect();
    let mut answers = run(&ok).into_iter();
    parsed
        .into_iter()
        .map(|p| match p {
            Ok(_) => answers
                .next()
                .unwrap_or_else(|| Err(distil::Error::input("internal error: no answer"))),
            Err(e) => Err(e),
        })
        .collect()
}

/// Warns on standard error that `input` was cut to the model's `max_length` tokens, if any of
/// its word pieces were (`cut`).
pub fn warn_truncated(input: &Input, max_length: usize, cut: usize) {
    if cut > 0 {
        eprintln!(
            "distil: warning: {}: truncated to the model's {max_length} tokens ({cut} word pieces cut)",
            input.name
        );
    }
}

/// The texts of the inputs that could be read, in order: what a command computes answers for.
pub fn texts(inputs: &[Input]) -> Vec<&str> {
    inputs
        .iter()
        .filter_map(|i| i.text.as_deref().ok())
        .collect()
}

/// The texts of the arguments, or when there are none, the lines of standard input (split on `\n`
/// only; a final newline does not start an empty line). A line that is not UTF-8 gets an error of
/// its own; the others are still read.
pub fn read(args: Vec<String>) -> Result<Vec<Input>, String> {
    if !args.is_empty() {
        return Ok(args
            .into_iter()
            .enumerate()
            .map(|(i, text)| Input {
                name: format!("input {}", i + 1),
                text: Ok(text),
            })
            .collect());
    }
    let mut bytes = Vec::new();
    std::io::stdin()
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read standard input: {e}"))?;
    Ok(split_lines(&bytes))
}

fn split_lines(bytes: &[u8]) -> Vec<Input> {
    let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    if bytes.is_empty() {
        return Vec::new();
    }
    body.split(|&b| b == b'\n')
        .enumerate()
        .map(|(i, line)| Input {
            name: format!("line {}", i + 1),
            text: String::from_utf8(line.to_vec())
                .map_err(|e| format!("not valid UTF-8 (byte {})", e.utf8_error().valid_up_to())),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_on_newlines_only() {
        let inputs = split_lines(b"a\r\nb\n\nc\xff\n");
        let texts: Vec<_> = inputs.iter().map(|i| i.text.clone()).collect();
        assert_eq!(
            texts,
            vec![
                Ok("a\r".to_string()),
                Ok("b".to_string()),
                Ok(String::new()),
                Err("not valid UTF-8 (byte 1)".to_string())
            ]
        );
        assert_eq!(inputs[3].name, "line 4");
        assert!(split_lines(b"").is_empty());
        assert_eq!(split_lines(b"\n").len(), 1);
    }
}
