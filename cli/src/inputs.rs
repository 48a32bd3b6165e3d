//! Where texts come from: the arguments, or standard input one per line.

use std::io::Read;

/// One input text, or why it cannot be used.
pub struct Input {
    /// How to name the input in messages: `input 2` for an argument, `line 2` for standard input.
    pub name: String,
    pub text: Result<String, String>,
}

impl Input {
    /// Reports that this input failed: `distil: {name}: {error}` on standard error and, for
    /// `--json`, an `{"error": …}` line on standard output so that output lines stay aligned with
    /// input lines.
    pub fn report_failure(&self, error: &str, json: bool) {
        let message = format!("{}: {error}", self.name);
        eprintln!("distil: {message}");
        if json {
            println!("{}", serde_json::json!({ "error": message }));
        }
    }
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
