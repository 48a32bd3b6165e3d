//! Issue 5: broken model files, hostile text and bad paths. Every case gives one clear error that
//! names the file, tensor or input and says what is wrong. Through the library that is an `Err`
//! (never a panic); through the `distil` binary it is one line `distil: {error}` on standard error,
//! exit code 1, nothing on standard output, and the good inputs among bad ones still get their
//! answers.
//!
//! Broken model directories come in tables of named cases (weights, config.json, vocabularies,
//! unreadable files); each case runs through the library and through the binary, and a table fails
//! with the list of its cases that went wrong. Hostile text and bad paths are tests of their own
//! that run the binary as a user does.

#[path = "../../tests/common/mod.rs"]
mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::{copy_model, fixture};
use distil::{Engine, FillMask, FillMaskOptions, FillMaskOutput, Options};
use serde_json::{json, Map, Value};

const TEXT: &str = "Paris is the [MASK] of France.";

/// Runs the binary with `args` and `stdin`; a run longer than two minutes is a hang, and fails.
fn distil(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_distil"))
        .args(args)
        .env("HF_HUB_OFFLINE", "1")
        .env(
            "HF_HUB_CACHE",
            std::env::temp_dir().join("distil-hostile-no-cache"),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut pipe = child.stdin.take().unwrap();
    let input = stdin.to_vec();
    // The binary may exit before reading all of standard input (a load error): ignore EPIPE.
    std::thread::spawn(move || {
        let _ = pipe.write_all(&input);
    });
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || done.send(child.wait_with_output().unwrap()));
    match finished.recv_timeout(Duration::from_secs(120)) {
        Ok(out) => out,
        Err(_) => {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            let shown: Vec<String> = args.iter().map(|a| a.chars().take(40).collect()).collect();
            panic!("distil {shown:?} hung");
        }
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// `out` is a clean failure whose only output is `distil: {message}` on standard error.
fn check_clean_failure(out: &Output, message: &str) -> Result<(), String> {
    let stderr = text(&out.stderr);
    if stderr.contains("panicked") {
        return Err(format!("panicked: {stderr}"));
    }
    if out.status.code() != Some(1) {
        return Err(format!("exit status {:?}, stderr {stderr:?}", out.status));
    }
    if !out.stdout.is_empty() {
        return Err(format!("wrote to stdout: {:?}", text(&out.stdout)));
    }
    if stderr != format!("distil: {message}\n") {
        return Err(format!(
            "stderr is {stderr:?}, expected {:?}",
            format!("distil: {message}\n")
        ));
    }
    Ok(())
}

/// What the message of a case must be: exactly a text, or a text with these fragments in order.
/// `{dir}` stands for the model directory.
enum Expect {
    Is(&'static str),
    Has(&'static [&'static str]),
}

impl Expect {
    fn check(&self, message: &str, dir: &Path) -> Result<(), String> {
        let fill = |t: &str| t.replace("{dir}", &dir.display().to_string());
        match self {
            Expect::Is(t) if message == fill(t) => Ok(()),
            Expect::Is(t) => Err(format!("message {message:?}, expected {:?}", fill(t))),
            Expect::Has(parts) => {
                let mut rest = message;
                for part in parts.iter().map(|p| fill(p)) {
                    match rest.find(&part) {
                        Some(i) => rest = &rest[i + part.len()..],
                        None => return Err(format!("message {message:?} lacks {part:?}")),
                    }
                }
                Ok(())
            }
        }
    }
}

/// One broken model directory: a fixture, what breaks it, and the error that must follow.
struct Case {
    name: &'static str,
    model: &'static str,
    breaks: fn(&Path),
    expect: Expect,
}

/// The first error of loading `dir` and filling the mask of [`TEXT`] through the library, as
/// `distil fill-mask` words it: an error of the answer itself under the input's name, `input 1`.
fn library_error(dir: &Path) -> Option<String> {
    let engine = match Engine::load(dir, &Options::default()) {
        Ok(engine) => engine,
        Err(e) => return Some(e.to_string()),
    };
    let fill_mask = match FillMask::new(&engine, FillMaskOptions::default()) {
        Ok(pipeline) => pipeline,
        Err(e) => return Some(e.to_string()),
    };
    let results = fill_mask.run(&[TEXT]);
    assert_eq!(results.len(), 1);
    results
        .into_iter()
        .next()
        .and_then(|r| r.err())
        .map(|e| format!("input 1: {e}"))
}

/// The answer for [`TEXT`] with the default options.
fn fill_text(engine: &Engine) -> FillMaskOutput {
    let fill_mask = FillMask::new(engine, FillMaskOptions::default()).unwrap();
    let mut results = fill_mask.run(&[TEXT]);
    assert_eq!(results.len(), 1);
    results.remove(0).unwrap()
}

/// Runs every case of a group: the library gives the expected error, the binary prints it as one
/// line and exits 1. Panics with the names of the failing cases.
fn run_cases(cases: &[Case]) {
    let mut failures = Vec::new();
    for case in cases {
        let dir = copy_model(case.model);
        (case.breaks)(dir.path());
        let result = match library_error(dir.path()) {
            None => Err("the library loaded the model and filled the mask".to_string()),
            Some(message) => case.expect.check(&message, dir.path()).and_then(|()| {
                let model = dir.path().display().to_string();
                let out = distil(&["fill-mask", "--model", &model, TEXT], b"");
                check_clean_failure(&out, &message)
            }),
        };
        if let Err(why) = result {
            failures.push(format!("{}: {why}", case.name));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

// ---- Breaking a model directory ----

fn weights_path(dir: &Path) -> PathBuf {
    dir.join("model.safetensors")
}

/// The header of `dir`'s weights file and the data after it.
fn read_weights(dir: &Path) -> (Map<String, Value>, Vec<u8>) {
    let bytes = std::fs::read(weights_path(dir)).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    (header, bytes[8 + n..].to_vec())
}

fn write_weights(dir: &Path, header: &Map<String, Value>, data: &[u8]) {
    let json = serde_json::to_vec(header).unwrap();
    let mut bytes = (json.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(&json);
    bytes.extend_from_slice(data);
    std::fs::write(weights_path(dir), bytes).unwrap();
}

/// Changes the header of `dir`'s weights file, keeping the data as it is.
fn edit_header(dir: &Path, edit: impl FnOnce(&mut Map<String, Value>)) {
    let (mut header, data) = read_weights(dir);
    edit(&mut header);
    write_weights(dir, &header, &data);
}

/// One tensor of a weights file being rebuilt: key, dtype, shape, bytes.
type Tensor = (String, String, Vec<usize>, Vec<u8>);

/// Rewrites `dir`'s weights file from its tensors after `edit`, laying them out in list order
/// with a consistent header.
fn rebuild(dir: &Path, edit: impl FnOnce(&mut Vec<Tensor>)) {
    let (header, data) = read_weights(dir);
    let mut tensors: Vec<Tensor> = header
        .iter()
        .filter(|(k, _)| *k != "__metadata__")
        .map(|(k, v)| {
            let [start, end] = [0, 1].map(|i| v["data_offsets"][i].as_u64().unwrap() as usize);
            let shape = v["shape"].as_array().unwrap();
            (
                k.clone(),
                v["dtype"].as_str().unwrap().to_string(),
                shape.iter().map(|d| d.as_u64().unwrap() as usize).collect(),
                data[start..end].to_vec(),
            )
        })
        .collect();
    edit(&mut tensors);
    let mut header = Map::new();
    let mut data = Vec::new();
    for (key, dtype, shape, bytes) in tensors {
        let offsets = [data.len(), data.len() + bytes.len()];
        header.insert(
            key,
            json!({"dtype": dtype, "shape": shape, "data_offsets": offsets}),
        );
        data.extend_from_slice(&bytes);
    }
    write_weights(dir, &header, &data);
}

/// Replaces the tensor `key` by one of `dtype` and `shape` whose bytes are all zero.
fn retype(dir: &Path, key: &str, dtype: &str, shape: &[usize], bytes_per_element: usize) {
    rebuild(dir, |tensors| {
        let t = tensors.iter_mut().find(|t| t.0 == key).unwrap();
        let elements: usize = shape.iter().product();
        *t = (
            key.to_string(),
            dtype.to_string(),
            shape.to_vec(),
            vec![0; elements * bytes_per_element],
        );
    });
}

/// Overwrites element `index` of the tensor `key` with `bytes` (its little-endian encoding), in
/// place: the header's bytes stay as they are, so the data keeps its alignment (an f32 tensor
/// stays mapped rather than copied).
fn poke(dir: &Path, key: &str, index: usize, bytes: &[u8]) {
    let (header, data) = read_weights(dir);
    let mut file = std::fs::read(weights_path(dir)).unwrap();
    let data_start = file.len() - data.len();
    let start = header[key]["data_offsets"][0].as_u64().unwrap() as usize;
    let at = data_start + start + index * bytes.len();
    file[at..at + bytes.len()].copy_from_slice(bytes);
    std::fs::write(weights_path(dir), file).unwrap();
}

/// Sets the `data_offsets` of the tensor `key`.
fn set_offsets(dir: &Path, key: &str, start: u64, end: u64) {
    edit_header(dir, |h| h[key]["data_offsets"] = json!([start, end]));
}

/// Overwrites the 8-byte header length of `dir`'s weights file with `n`.
fn set_header_length(dir: &Path, n: u64) {
    let path = weights_path(dir);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[..8].copy_from_slice(&n.to_le_bytes());
    std::fs::write(path, bytes).unwrap();
}

/// Cuts `dir/file` to its first `len` bytes.
fn cut(dir: &Path, file: &str, len: usize) {
    let path = dir.join(file);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..len]).unwrap();
}

/// Replaces the one occurrence of `from` in `dir/file` by `to`.
fn replace(dir: &Path, file: &str, from: &str, to: &[u8]) {
    let path = dir.join(file);
    let bytes = std::fs::read(&path).unwrap();
    let at = bytes
        .windows(from.len())
        .position(|w| w == from.as_bytes())
        .unwrap_or_else(|| panic!("{from:?} not in {file}"));
    let mut out = bytes[..at].to_vec();
    out.extend_from_slice(to);
    out.extend_from_slice(&bytes[at + from.len()..]);
    std::fs::write(&path, out).unwrap();
}

fn write(dir: &Path, file: &str, bytes: &[u8]) {
    std::fs::write(dir.join(file), bytes).unwrap();
}

fn remove(dir: &Path, file: &str) {
    std::fs::remove_file(dir.join(file)).unwrap();
}

// The distilbert-cased fixture: a 4,544-byte header, then 681,624 bytes of f32 data.
const FFN: &str = "distilbert.transformer.layer.0.ffn.lin1.weight"; // [100, 51]
const WORDS: &str = "distilbert.embeddings.word_embeddings.weight"; // [1906, 51]
const LN_WEIGHT: &str = "distilbert.embeddings.LayerNorm.weight"; // [51], data [204, 408]
const LAST: &str = "vocab_transform.weight"; // [51, 51], data [671220, 681624]

#[test]
fn broken_weights_files() {
    run_cases(&[
        Case {
            name: "empty file",
            model: "distilbert-cased",
            breaks: |d| cut(d, "model.safetensors", 0),
            expect: Expect::Is("{dir}/model.safetensors: the file is empty"),
        },
        Case {
            name: "truncated in the header length",
            model: "distilbert-cased",
            breaks: |d| cut(d, "model.safetensors", 5),
            expect: Expect::Is(
                "{dir}/model.safetensors: the file is only 5 bytes, too short for the 8-byte header length",
            ),
        },
        Case {
            name: "truncated inside the header",
            model: "distilbert-cased",
            breaks: |d| cut(d, "model.safetensors", 100),
            expect: Expect::Is(
                "{dir}/model.safetensors: the header length field says 4544 bytes, but only 92 bytes follow it (a truncated or corrupt file)",
            ),
        },
        Case {
            name: "truncated inside the data",
            model: "distilbert-cased",
            breaks: |d| cut(d, "model.safetensors", 8 + 4544 + 681_624 - 1000),
            expect: Expect::Is(
                "{dir}/model.safetensors: tensor \"vocab_transform.weight\" has data_offsets [671220, 681624], past the end of the file's 680624 bytes of data (a truncated file or a corrupt header)",
            ),
        },
        Case {
            name: "header length larger than the file",
            model: "distilbert-cased",
            breaks: |d| set_header_length(d, 686_176),
            expect: Expect::Is(
                "{dir}/model.safetensors: the header length field says 686176 bytes, but only 686168 bytes follow it (a truncated or corrupt file)",
            ),
        },
        Case {
            name: "absurd header length",
            model: "distilbert-cased",
            breaks: |d| set_header_length(d, u64::MAX),
            expect: Expect::Is(
                "{dir}/model.safetensors: the header length field says 18446744073709551615 bytes, beyond the 100000000-byte limit of a safetensors header",
            ),
        },
        Case {
            name: "header not JSON",
            model: "distilbert-cased",
            breaks: |d| replace(d, "model.safetensors", "{\"", b"<\""),
            expect: Expect::Is(
                "{dir}/model.safetensors: the header is not valid JSON: expected value at line 1 column 1",
            ),
        },
        Case {
            name: "header not UTF-8",
            model: "distilbert-cased",
            breaks: |d| replace(d, "model.safetensors", "__metadata__", b"__meta\xffdata__"),
            expect: Expect::Has(&[
                "{dir}/model.safetensors: the header is not valid UTF-8 (byte ",
                " of the header)",
            ]),
        },
        Case {
            name: "header not a JSON object",
            model: "distilbert-cased",
            breaks: |d| write(d, "model.safetensors", b"\x02\0\0\0\0\0\0\0[]"),
            expect: Expect::Is("{dir}/model.safetensors: the header is not a JSON object"),
        },
        Case {
            name: "tensor offsets past the end",
            model: "distilbert-cased",
            breaks: |d| set_offsets(d, LAST, 671_220, 781_624),
            expect: Expect::Is(
                "{dir}/model.safetensors: tensor \"vocab_transform.weight\" has data_offsets [671220, 781624], past the end of the file's 681624 bytes of data (a truncated file or a corrupt header)",
            ),
        },
        Case {
            name: "tensor offsets overlapping",
            model: "distilbert-cased",
            breaks: |d| set_offsets(d, LN_WEIGHT, 0, 204),
            expect: Expect::Is(
                "{dir}/model.safetensors: tensors \"distilbert.embeddings.LayerNorm.bias\" (data_offsets [0, 204]) and \"distilbert.embeddings.LayerNorm.weight\" (data_offsets [0, 204]) overlap",
            ),
        },
        Case {
            name: "tensor offsets out of order (end before start)",
            model: "distilbert-cased",
            breaks: |d| set_offsets(d, LN_WEIGHT, 408, 204),
            expect: Expect::Is(
                "{dir}/model.safetensors: tensor \"distilbert.embeddings.LayerNorm.weight\" has data_offsets [408, 204], which end before they start",
            ),
        },
        Case {
            name: "tensor offsets leaving a gap",
            model: "distilbert-cased",
            breaks: |d| set_offsets(d, LN_WEIGHT, 208, 412),
            expect: Expect::Is(
                "{dir}/model.safetensors: tensor \"distilbert.embeddings.LayerNorm.weight\" starts at byte 208 of the data, but the tensor before it, \"distilbert.embeddings.LayerNorm.bias\", ends at byte 204 (a gap the format does not allow)",
            ),
        },
        Case {
            name: "stray bytes after the data",
            model: "distilbert-cased",
            breaks: |d| {
                let mut f = std::fs::OpenOptions::new()
                    .append(true)
                    .open(weights_path(d))
                    .unwrap();
                f.write_all(b"xyz").unwrap();
            },
            expect: Expect::Is(
                "{dir}/model.safetensors: 3 stray bytes follow the last tensor's data (a corrupt header or trailing garbage)",
            ),
        },
        Case {
            name: "dtype I64",
            model: "distilbert-cased",
            breaks: |d| retype(d, "vocab_transform.bias", "I64", &[51], 8),
            expect: Expect::Is(
                "{dir}/model.safetensors: tensor \"vocab_transform.bias\" is stored as I64; weights must be F32, F16 or BF16",
            ),
        },
        Case {
            name: "dtype BOOL",
            model: "distilbert-cased",
            breaks: |d| retype(d, FFN, "BOOL", &[100, 51], 1),
            expect: Expect::Is(
                "{dir}/model.safetensors: tensor \"distilbert.transformer.layer.0.ffn.lin1.weight\" is stored as BOOL; weights must be F32, F16 or BF16",
            ),
        },
        Case {
            name: "unknown dtype",
            model: "distilbert-cased",
            breaks: |d| edit_header(d, |h| h[LAST]["dtype"] = json!("Q4_K")),
            expect: Expect::Is(
                "{dir}/model.safetensors: tensor \"vocab_transform.weight\" has the unknown dtype \"Q4_K\"",
            ),
        },
        Case {
            name: "shape disagrees with the byte range",
            model: "distilbert-cased",
            breaks: |d| edit_header(d, |h| h[WORDS]["shape"] = json!([1906, 50])),
            expect: Expect::Is(
                "{dir}/model.safetensors: tensor \"distilbert.embeddings.word_embeddings.weight\" has the shape [1906, 50] of F32, which takes 381200 bytes, but its data_offsets [104856, 493680] hold 388824 bytes",
            ),
        },
        Case {
            name: "shape too large to address",
            model: "distilbert-cased",
            breaks: |d| edit_header(d, |h| h[WORDS]["shape"] = json!([1u64 << 40, 1u64 << 40])),
            expect: Expect::Is(
                "{dir}/model.safetensors: tensor \"distilbert.embeddings.word_embeddings.weight\" has the shape [1099511627776, 1099511627776], too large to address",
            ),
        },
        Case {
            name: "tensor missing",
            model: "distilbert-cased",
            breaks: |d| rebuild(d, |t| t.retain(|t| t.0 != FFN)),
            expect: Expect::Is(
                "{dir}/model.safetensors: tensor \"distilbert.transformer.layer.0.ffn.lin1.weight\" is missing",
            ),
        },
        Case {
            name: "tensor of the wrong shape for config.json",
            model: "distilbert-cased",
            breaks: |d| retype(d, FFN, "F32", &[99, 51], 4),
            expect: Expect::Is(
                "{dir}/model.safetensors: tensor \"distilbert.transformer.layer.0.ffn.lin1.weight\" has shape [99, 51] but config.json implies [100, 51]",
            ),
        },
        Case {
            name: "NaN weight",
            model: "distilbert-cased",
            breaks: |d| poke(d, FFN, 3 * 51 + 7, &f32::NAN.to_le_bytes()),
            expect: Expect::Is(
                "input 1: {dir}/model.safetensors: tensor \"distilbert.transformer.layer.0.ffn.lin1.weight\" holds NaN at [3, 7] (1 of its 5100 values are NaN or infinite); weights must be finite",
            ),
        },
        Case {
            name: "infinite weights",
            model: "distilbert-cased",
            breaks: |d| {
                poke(d, WORDS, 1906 * 51 - 1, &f32::NEG_INFINITY.to_le_bytes());
                poke(d, WORDS, 1906 * 51 - 2, &f32::INFINITY.to_le_bytes());
            },
            expect: Expect::Is(
                "input 1: {dir}/model.safetensors: tensor \"distilbert.embeddings.word_embeddings.weight\" holds an infinity at [1905, 49] (2 of its 97206 values are NaN or infinite); weights must be finite",
            ),
        },
        Case {
            name: "NaN in f16 weights",
            model: "distilbert-cased-f16",
            breaks: |d| poke(d, "vocab_projector.bias", 7, &0x7e00u16.to_le_bytes()),
            expect: Expect::Is(
                "{dir}/model.safetensors: tensor \"vocab_projector.bias\" holds NaN at [7] (1 of its 1906 values are NaN or infinite); weights must be finite",
            ),
        },
        Case {
            name: "infinity in bf16 weights",
            model: "distilbert-cased-bf16",
            breaks: |d| poke(d, LN_WEIGHT, 0, &0x7f80u16.to_le_bytes()),
            expect: Expect::Is(
                "{dir}/model.safetensors: tensor \"distilbert.embeddings.LayerNorm.weight\" holds an infinity at [0] (1 of its 51 values are NaN or infinite); weights must be finite",
            ),
        },
    ]);
}

#[test]
fn weights_laid_out_in_another_order_than_the_header_load() {
    let dir = copy_model("distilbert-cased");
    // The header lists keys alphabetically; the data now runs in reverse.
    rebuild(dir.path(), |tensors| tensors.reverse());
    let reference = Engine::load(fixture("distilbert-cased"), &Options::default()).unwrap();
    let engine = Engine::load(dir.path(), &Options::default()).unwrap();
    assert_eq!(fill_text(&engine), fill_text(&reference));
}

/// The weights are scanned for NaN and infinities when an answer comes out non-finite (the four
/// cases of `broken_weights_files`), or when asked (`distil serve` asks at start): a NaN in a row of
/// the position embeddings that no sentence here reaches changes no answer, and the scan names it.
#[test]
fn a_non_finite_weight_no_answer_reaches_is_found_when_asked() {
    let dir = copy_model("distilbert-cased");
    let positions = "distilbert.embeddings.position_embeddings.weight"; // [512, 51]
    poke(dir.path(), positions, 500 * 51 + 3, &f32::NAN.to_le_bytes());
    let reference = Engine::load(fixture("distilbert-cased"), &Options::default()).unwrap();
    let engine = Engine::load(dir.path(), &Options::default()).unwrap();
    assert_eq!(fill_text(&engine), fill_text(&reference));
    let error = engine.check_weights().unwrap_err().to_string();
    assert_eq!(
        error,
        format!(
            "{}/model.safetensors: tensor \"{positions}\" holds NaN at [500, 3] (1 of its 26112 values are NaN or infinite); weights must be finite",
            dir.path().display()
        )
    );
    // Once found, every later check says the same without scanning again.
    assert_eq!(engine.check_weights().unwrap_err().to_string(), error);
    // A NaN that answers reach fails each of them as a weights error.
    let reached = copy_model("distilbert-cased");
    poke(reached.path(), FFN, 3 * 51 + 7, &f32::NAN.to_le_bytes());
    let engine = Engine::load(reached.path(), &Options::default()).unwrap();
    let fill_mask = FillMask::new(&engine, FillMaskOptions::default()).unwrap();
    for result in fill_mask.run(&[TEXT, TEXT]) {
        assert_eq!(result.unwrap_err().kind(), distil::ErrorKind::Weights);
    }
    // A server scans before it takes requests, and does not start.
    let model = dir.path().display().to_string();
    let out = distil(&["serve", "--port", "0", "--model", &model], b"");
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert_eq!(
        stderr.lines().last(),
        Some(format!("distil: {error}").as_str()),
        "{stderr}"
    );
}

#[test]
fn broken_config_json() {
    run_cases(&[
        Case {
            name: "missing",
            model: "distilbert-cased",
            breaks: |d| remove(d, "config.json"),
            expect: Expect::Is(
                "cannot read {dir}/config.json: No such file or directory (os error 2)",
            ),
        },
        Case {
            name: "empty",
            model: "distilbert-cased",
            breaks: |d| write(d, "config.json", b""),
            expect: Expect::Is(
                "{dir}/config.json is not valid JSON: EOF while parsing a value at line 1 column 0",
            ),
        },
        Case {
            name: "not JSON",
            model: "distilbert-cased",
            breaks: |d| write(d, "config.json", b"dim = 51\n"),
            expect: Expect::Is(
                "{dir}/config.json is not valid JSON: expected value at line 1 column 1",
            ),
        },
        Case {
            name: "not a JSON object",
            model: "distilbert-cased",
            breaks: |d| write(d, "config.json", b"[\"distilbert\"]"),
            expect: Expect::Is("{dir}/config.json: the file is not a JSON object"),
        },
        Case {
            name: "wrong type for a field",
            model: "distilbert-cased",
            breaks: |d| replace(d, "config.json", "\"dim\": 51", b"\"dim\": \"51\""),
            expect: Expect::Is("{dir}/config.json: \"dim\" must be an integer, not \"51\""),
        },
        Case {
            name: "a field missing",
            model: "distilbert-cased",
            breaks: |d| replace(d, "config.json", "\"n_heads\": 3,", b""),
            expect: Expect::Is("{dir}/config.json: \"n_heads\" is missing"),
        },
        Case {
            name: "dim not divisible by n_heads",
            model: "distilbert-cased",
            breaks: |d| replace(d, "config.json", "\"n_heads\": 3", b"\"n_heads\": 4"),
            expect: Expect::Is(
                "{dir}/config.json: the width 51 is not divisible by the 4 attention heads",
            ),
        },
        Case {
            name: "zero size",
            model: "distilbert-cased",
            breaks: |d| replace(d, "config.json", "\"n_layers\": 2", b"\"n_layers\": 0"),
            expect: Expect::Is("{dir}/config.json: \"n_layers\" must be a positive integer, not 0"),
        },
        Case {
            name: "negative size",
            model: "distilbert-cased",
            breaks: |d| replace(d, "config.json", "\"hidden_dim\": 100", b"\"hidden_dim\": -100"),
            expect: Expect::Is(
                "{dir}/config.json: \"hidden_dim\" must be a positive integer, not -100",
            ),
        },
        Case {
            name: "size beyond the limit",
            model: "distilbert-cased",
            breaks: |d| {
                replace(d, "config.json", "\"max_position_embeddings\": 512", b"\"max_position_embeddings\": 99999999999")
            },
            expect: Expect::Is(
                "{dir}/config.json: max_position_embeddings = 99999999999 is beyond distil's limit of 1048576",
            ),
        },
        Case {
            name: "vocab_size disagrees with the embedding matrix",
            model: "distilbert-cased",
            breaks: |d| replace(d, "config.json", "\"vocab_size\": 1906", b"\"vocab_size\": 2000"),
            expect: Expect::Is(
                "{dir}/model.safetensors: tensor \"distilbert.embeddings.word_embeddings.weight\" has shape [1906, 51] but config.json implies [2000, 51]",
            ),
        },
        Case {
            name: "vocab_size disagrees with vocab.txt",
            model: "distilbert-cased",
            breaks: |d| replace(d, "config.json", "\"vocab_size\": 1906", b"\"vocab_size\": 1000"),
            expect: Expect::Is("{dir}/config.json: vocab_size is 1000 but vocab.txt has 1906 tokens"),
        },
        Case {
            name: "unknown model_type",
            model: "distilbert-cased",
            breaks: |d| replace(d, "config.json", "\"distilbert\"", b"\"gpt2\""),
            expect: Expect::Is(
                "{dir}/config.json: model_type \"gpt2\" is not supported (expected \"distilbert\" or \"bert\")",
            ),
        },
        Case {
            name: "unknown activation",
            model: "distilbert-cased",
            breaks: |d| replace(d, "config.json", "\"gelu\"", b"\"swish\""),
            expect: Expect::Is(
                "{dir}/config.json: unsupported \"activation\" \"swish\" (expected gelu, gelu_new or relu)",
            ),
        },
        Case {
            name: "unknown BERT hidden_act",
            model: "bert-mlm-uncased",
            breaks: |d| replace(d, "config.json", "\"gelu\"", b"\"silu\""),
            expect: Expect::Is(
                "{dir}/config.json: unsupported \"hidden_act\" \"silu\" (expected gelu, gelu_new or relu)",
            ),
        },
    ]);
}

#[test]
fn broken_vocabularies_and_tokenizer_configs() {
    run_cases(&[
        Case {
            name: "vocab.txt missing",
            model: "distilbert-cased",
            breaks: |d| remove(d, "vocab.txt"),
            expect: Expect::Is("cannot read {dir}/vocab.txt: No such file or directory (os error 2)"),
        },
        Case {
            name: "vocab.txt empty",
            model: "distilbert-cased",
            breaks: |d| write(d, "vocab.txt", b""),
            expect: Expect::Is("{dir}/vocab.txt: the vocabulary is empty"),
        },
        Case {
            name: "vocab.txt without [MASK]",
            model: "distilbert-cased",
            breaks: |d| replace(d, "vocab.txt", "\n[MASK]\n", b"\n[MASQUE]\n"),
            expect: Expect::Is(
                "{dir}/vocab.txt: the vocabulary has no mask token, so this model cannot fill masks",
            ),
        },
        Case {
            name: "vocab.txt without [CLS]",
            model: "distilbert-cased",
            breaks: |d| replace(d, "vocab.txt", "\n[CLS]\n", b"\n[CLASS]\n"),
            expect: Expect::Is(
                "{dir}/vocab.txt: the special token \"[CLS]\" is not in the vocabulary",
            ),
        },
        Case {
            name: "vocab.txt without [SEP]",
            model: "distilbert-cased",
            breaks: |d| replace(d, "vocab.txt", "\n[SEP]\n", b"\n[SEPARATOR]\n"),
            expect: Expect::Is(
                "{dir}/vocab.txt: the special token \"[SEP]\" is not in the vocabulary",
            ),
        },
        Case {
            name: "vocab.txt without [UNK]",
            model: "distilbert-cased",
            breaks: |d| replace(d, "vocab.txt", "\n[UNK]\n", b"\n[UNKNOWN]\n"),
            expect: Expect::Is(
                "{dir}/vocab.txt: the unknown token \"[UNK]\" is not in the vocabulary",
            ),
        },
        Case {
            name: "vocab.txt not UTF-8",
            model: "distilbert-cased",
            breaks: |d| replace(d, "vocab.txt", "\n[MASK]\n", b"\n[MASK]\n\xff\xfe\n"),
            expect: Expect::Is("{dir}/vocab.txt: line 6 is not valid UTF-8"),
        },
        Case {
            name: "vocab.txt longer than vocab_size",
            model: "distilbert-cased",
            breaks: |d| replace(d, "vocab.txt", "\n[MASK]\n", b"\n[MASK]\nextra\n"),
            expect: Expect::Is("{dir}/config.json: vocab_size is 1906 but vocab.txt has 1907 tokens"),
        },
        Case {
            name: "tokenizer_config.json empty",
            model: "distilbert-cased",
            breaks: |d| write(d, "tokenizer_config.json", b""),
            expect: Expect::Is(
                "{dir}/tokenizer_config.json is not valid JSON: EOF while parsing a value at line 1 column 0",
            ),
        },
        Case {
            name: "tokenizer_config.json not UTF-8",
            model: "distilbert-cased",
            breaks: |d| write(d, "tokenizer_config.json", b"{\"mask_token\": \"[MA\xffSK]\"}"),
            expect: Expect::Has(&["{dir}/tokenizer_config.json is not valid JSON: ", " at line 1 column "]),
        },
        Case {
            name: "tokenizer_config.json with a field of the wrong type",
            model: "distilbert-cased",
            breaks: |d| write(d, "tokenizer_config.json", b"{\"do_lower_case\": \"no\"}"),
            expect: Expect::Is(
                "{dir}/tokenizer_config.json is not valid JSON: invalid type: string \"no\", expected a boolean at line 1 column 22",
            ),
        },
        Case {
            name: "tokenizer_config.json naming a [CLS] the vocabulary lacks",
            model: "distilbert-cased",
            breaks: |d| {
                remove(d, "special_tokens_map.json");
                write(d, "tokenizer_config.json", b"{\"cls_token\": \"<s>\"}");
            },
            expect: Expect::Is("{dir}/vocab.txt: the special token \"<s>\" is not in the vocabulary"),
        },
        Case {
            name: "tokenizer_config.json naming a [MASK] the vocabulary lacks",
            model: "distilbert-cased",
            breaks: |d| {
                remove(d, "special_tokens_map.json");
                write(d, "tokenizer_config.json", b"{\"mask_token\": \"<mask>\"}");
            },
            expect: Expect::Is(
                "{dir}/vocab.txt: the vocabulary has no mask token, so this model cannot fill masks",
            ),
        },
    ]);
}

#[test]
fn duplicate_vocabulary_tokens_keep_the_later_id_as_hugging_face_does() {
    let dir = copy_model("distilbert-cased");
    // Line 1001 (id 1000) becomes a second "Paris" (tokenizers' `WordPiece::read_file` keeps the
    // later id of a token listed twice, and the earlier id decodes to nothing).
    let vocab = std::fs::read_to_string(dir.path().join("vocab.txt")).unwrap();
    let paris = vocab.lines().position(|l| l == "Paris").unwrap() as u32;
    let mut lines: Vec<&str> = vocab.lines().collect();
    lines[1000] = "Paris";
    write(
        dir.path(),
        "vocab.txt",
        format!("{}\n", lines.join("\n")).as_bytes(),
    );
    let engine = Engine::load(dir.path(), &Options::default()).unwrap();
    let tokenizer = engine.tokenizer();
    assert!(paris < 1000);
    assert_eq!(tokenizer.token_to_id("Paris"), Some(1000));
    assert_eq!(tokenizer.id_to_token(paris), None);
    assert_eq!(fill_text(&engine).masks[0].len(), 5);
}

#[test]
fn a_missing_tokenizer_config_gets_bert_defaults() {
    let dir = copy_model("distilbert-cased");
    remove(dir.path(), "tokenizer_config.json");
    let engine = Engine::load(dir.path(), &Options::default()).unwrap();
    // transformers' BertTokenizer defaults to do_lower_case=True.
    assert_eq!(engine.tokenizer().encode("The").tokens[1], "the");
    assert_eq!(fill_text(&engine).masks[0].len(), 5);
}

// ---- Hostile text, through the binary ----

fn model(name: &str) -> String {
    fixture(name).display().to_string()
}

/// `distil fill-mask --json` on the cased fixture.
fn fill_mask_json(texts: &[&str], stdin: &[u8]) -> Output {
    let model = model("distilbert-cased");
    let mut args = vec!["fill-mask", "--model", &model, "--json"];
    args.extend_from_slice(texts);
    distil(&args, stdin)
}

fn stdout_lines(out: &Output) -> Vec<String> {
    text(&out.stdout).lines().map(str::to_string).collect()
}

fn no_panic(out: &Output) {
    assert!(
        !text(&out.stderr).contains("panicked"),
        "{}",
        text(&out.stderr)
    );
}

/// The answer the binary gives for `text` alone, a valid input.
fn answer_alone(text: &str) -> String {
    let out = fill_mask_json(&[text], b"");
    assert!(out.status.success(), "{out:?}");
    stdout_lines(&out).remove(0)
}

#[test]
fn text_without_a_mask() {
    let out = fill_mask_json(&["Paris is the capital of France."], b"");
    check_clean_failure_json(&out, "input 1: no [MASK] token in the text");
}

/// A failed input with `--json`: the error on standard error, an `{"error"}` line on standard
/// output (to keep output lines aligned with input lines), exit 1.
fn check_clean_failure_json(out: &Output, message: &str) {
    no_panic(out);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stderr), format!("distil: {message}\n"));
    assert_eq!(stdout_lines(out), [json!({ "error": message }).to_string()]);
}

#[test]
fn text_that_is_only_a_mask() {
    let out = fill_mask_json(&["[MASK]"], b"");
    no_panic(&out);
    assert!(out.status.success());
    let answer: Value = serde_json::from_str(&stdout_lines(&out)[0]).unwrap();
    assert_eq!(answer.as_array().unwrap().len(), 5);
}

#[test]
fn text_of_100000_characters_is_truncated_as_the_pipeline_does() {
    // "[MASK]" then 20,000 × " the" (one piece each): 20,001 pieces, cut to [CLS] + 510 + [SEP].
    let long = format!("[MASK]{}", " the".repeat(24_999));
    assert_eq!(long.len(), 100_002);
    let out = fill_mask_json(&[&long], b"");
    no_panic(&out);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stderr),
        "distil: warning: input 1: truncated to the model's 512 tokens (24490 word pieces cut)\n"
    );
    // The same answer as the text already cut to 512 tokens.
    let cut = format!("[MASK]{}", " the".repeat(509));
    assert_eq!(stdout_lines(&out), [answer_alone(&cut)]);

    // A mask that truncation cuts off is an error for that text.
    let late = format!("{} [MASK]", "the ".repeat(25_000));
    let out = fill_mask_json(&[&late], b"");
    check_clean_failure_json(
        &out,
        "input 1: every [MASK] lies beyond the model's 512 tokens and was cut off by truncation",
    );
}

#[test]
fn text_of_10000_masks() {
    let masks = "[MASK] ".repeat(10_000);
    let out = fill_mask_json(&[&masks], b"");
    no_panic(&out);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stderr),
        "distil: warning: input 1: truncated to the model's 512 tokens (9490 word pieces cut)\n\
         distil: warning: input 1: 9490 [MASK] beyond the 512-token limit not predicted\n"
    );
    let answer: Value = serde_json::from_str(&stdout_lines(&out)[0]).unwrap();
    let masks = answer.as_array().unwrap();
    assert_eq!(masks.len(), 510);
    assert!(masks.iter().all(|m| m.as_array().unwrap().len() == 5));
}

#[test]
fn invalid_utf8_on_standard_input_costs_only_its_line() {
    let good = ["Paris is the [MASK] of France.", "The [MASK] is here."];
    // Line 2 is "café [MASK]" in Latin-1, not UTF-8.
    let mut bytes = format!("{}\n", good[0]).into_bytes();
    bytes.extend_from_slice(b"caf\xe9 [MASK]\n");
    bytes.extend_from_slice(format!("{}\n", good[1]).as_bytes());
    check_bad_middle_line(&bytes, good, "line 2: not valid UTF-8 (byte 3)");
}

/// Three lines on standard input, the middle one bad: exit 1, one line `distil: {error}` on
/// standard error, and on standard output the good lines' answers around the bad one's error.
fn check_bad_middle_line(stdin: &[u8], good: [&str; 2], error: &str) {
    let out = fill_mask_json(&[], stdin);
    no_panic(&out);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stderr), format!("distil: {error}\n"));
    assert_eq!(
        stdout_lines(&out),
        [
            answer_alone(good[0]),
            json!({ "error": error }).to_string(),
            answer_alone(good[1]),
        ]
    );
}

#[test]
fn nul_bytes_are_removed_as_hugging_face_removes_them() {
    let out = fill_mask_json(&[], b"Paris is\0 the [MASK] of\0\0 France.\n");
    no_panic(&out);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // BertNormalizer's clean_text drops U+0000, so the answer is that of the text without them
    // (the sequence is decoded from the tokens, so it matches too).
    assert_eq!(stdout_lines(&out), [answer_alone(TEXT)]);
}

#[test]
fn text_of_only_whitespace() {
    let out = fill_mask_json(&[" \t \u{3000} "], b"");
    check_clean_failure_json(&out, "input 1: no [MASK] token in the text");
    // Embedding it is fine: it is [CLS] [SEP], as sentence-transformers embeds it.
    let model = model("bert-uncased");
    let out = distil(&["embed", "--model", &model, "--json", " \t "], b"");
    no_panic(&out);
    assert!(out.status.success());
    let v: Vec<f32> = serde_json::from_str(&stdout_lines(&out)[0]).unwrap();
    assert_eq!(v.len(), 51);
}

#[test]
fn an_empty_line_among_good_ones() {
    let good = ["Paris is the [MASK] of France.", "The [MASK] is here."];
    let stdin = format!("{}\n\n{}\n", good[0], good[1]);
    check_bad_middle_line(
        stdin.as_bytes(),
        good,
        "line 2: no [MASK] token in the text",
    );
    // embed answers every line, the empty one included.
    let model = model("bert-uncased");
    let out = distil(&["embed", "--model", &model, "--json"], stdin.as_bytes());
    no_panic(&out);
    assert!(out.status.success());
    assert_eq!(stdout_lines(&out).len(), 3);
}

// ---- Paths ----

#[test]
fn the_model_directory_missing() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("no-such-model");
    let err = Engine::load(&missing, &Options::default()).err().unwrap();
    assert_eq!(
        err.to_string(),
        format!(
            "cannot read {}: No such file or directory (os error 2)",
            missing.display()
        )
    );
    let out = distil(
        &["fill-mask", "--model", &missing.display().to_string(), TEXT],
        b"",
    );
    check_clean_failure(
        &out,
        &format!(
            "model {}: no such directory, and it is not a valid hub id",
            missing.display()
        ),
    )
    .unwrap();
}

#[test]
fn a_file_where_the_model_directory_is_expected() {
    let file = fixture("distilbert-cased").join("config.json");
    let err = Engine::load(&file, &Options::default()).err().unwrap();
    assert_eq!(
        err.to_string(),
        format!("{}: not a model directory (a file)", file.display())
    );
    let out = distil(
        &["fill-mask", "--model", &file.display().to_string(), TEXT],
        b"",
    );
    check_clean_failure(
        &out,
        &format!(
            "model {}: expected a model directory or a hub id, found a file",
            file.display()
        ),
    )
    .unwrap();
}

#[test]
fn model_files_that_cannot_be_read() {
    run_cases(&[
        Case {
            name: "config.json is a directory",
            model: "distilbert-cased",
            breaks: |d| {
                remove(d, "config.json");
                std::fs::create_dir(d.join("config.json")).unwrap();
            },
            expect: Expect::Is("cannot read {dir}/config.json: it is a directory, not a file"),
        },
        Case {
            name: "model.safetensors is a directory",
            model: "distilbert-cased",
            breaks: |d| {
                remove(d, "model.safetensors");
                std::fs::create_dir(d.join("model.safetensors")).unwrap();
            },
            expect: Expect::Is(
                "cannot read {dir}/model.safetensors: it is a directory, not a file",
            ),
        },
        Case {
            name: "vocab.txt is a FIFO (which would block a reader forever)",
            model: "distilbert-cased",
            breaks: |d| {
                remove(d, "vocab.txt");
                let status = Command::new("mkfifo").arg(d.join("vocab.txt")).status();
                assert!(status.unwrap().success());
            },
            expect: Expect::Is("cannot read {dir}/vocab.txt: it is not a regular file"),
        },
        Case {
            name: "a dangling link to tokenizer_config.json",
            model: "distilbert-cased",
            breaks: |d| {
                remove(d, "tokenizer_config.json");
                std::os::unix::fs::symlink(d.join("gone"), d.join("tokenizer_config.json"))
                    .unwrap();
            },
            expect: Expect::Is(
                "cannot read {dir}/tokenizer_config.json: No such file or directory (os error 2)",
            ),
        },
        Case {
            name: "config.json unreadable",
            model: "distilbert-cased",
            breaks: make_unreadable,
            expect: Expect::Has(&["cannot read {dir}/config.json: "]),
        },
    ]);
}

/// Makes `dir/config.json` unreadable: no read permission, or, for root (whom permissions do not
/// stop), a link to itself (which no one can open).
fn make_unreadable(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("config.json");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000)).unwrap();
    if std::fs::read(&path).is_ok() {
        remove(dir, "config.json");
        std::os::unix::fs::symlink(&path, &path).unwrap();
    }
}

#[test]
fn library_calls_with_no_inputs_or_rows_outside_the_batch() {
    let engine = Engine::load(fixture("distilbert-cased"), &Options::default()).unwrap();
    let fill_mask = FillMask::new(&engine, FillMaskOptions::default()).unwrap();
    assert!(fill_mask.run(&[]).is_empty());
    let embeddings = distil::Embed::new(&engine).unwrap().run(&[]).unwrap();
    assert_eq!(embeddings.vectors.dim(), (0, 51));
    assert!(embeddings.truncated.is_empty());
    let model = engine.model();
    let hidden = model.forward(&[]).unwrap();
    assert!(hidden.is_empty() && hidden.states().is_empty());
    let err = model.forward(&[&[]]).err().unwrap();
    assert_eq!(err.to_string(), "input 0 has no tokens");
    let err = model.forward(&[&[2, 5000, 3]]).err().unwrap();
    assert_eq!(
        err.to_string(),
        "input 0 has token id 5000, outside the vocabulary of 1906"
    );
    let hidden = model.forward(&[&[2, 4, 3]]).unwrap();
    let err = model.mlm_logits(&hidden, &[1, 3]).err().unwrap();
    assert_eq!(
        err.to_string(),
        "MLM head asked for row 3 of hidden states that have 3 rows"
    );
}
