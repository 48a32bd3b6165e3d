//! The header of a `model.safetensors` file, read and checked before any tensor is touched.
//!
//! ```text
//! [u64 little-endian n] [n bytes of UTF-8 JSON] [data]
//! JSON: {"key": {"dtype": "F32", "shape": [rows, cols], "data_offsets": [start, end]}, …,
//!        "__metadata__": {…}}                      (offsets are relative to the data)
//! ```
//!
//! The format (<https://github.com/huggingface/safetensors#format>) requires the tensors' byte
//! ranges to tile the data exactly: no overlap, no gap, nothing after the last one. Every rule
//! is checked here, with arithmetic that cannot overflow, so that a tensor's range is always
//! inside the file; each failure names the tensor and says what is wrong with it. (The
//! `safetensors` crate checks the same rules, but its errors do not name the tensor whose shape
//! disagrees with its bytes, and call a truncated file "incomplete metadata".)

use std::collections::HashMap;

use safetensors::Dtype;
use serde_json::Value;

use super::Entry;

/// The longest header the `safetensors` crate and Python's loader accept.
pub const MAX_HEADER_BYTES: u64 = 100_000_000;

/// The tensors of a whole safetensors file `bytes`, by key, with byte ranges in the file. The
/// error is the sentence to report (the caller adds the file name).
pub fn parse(bytes: &[u8]) -> Result<HashMap<String, Entry>, String> {
    let json = header_json(bytes)?;
    let data_start = 8 + json.len();
    let data_len = bytes.len() - data_start;
    let text = std::str::from_utf8(json).map_err(|e| {
        format!(
            "the header is not valid UTF-8 (byte {} of the header)",
            e.valid_up_to()
        )
    })?;
    let header: Value =
        serde_json::from_str(text).map_err(|e| format!("the header is not valid JSON: {e}"))?;
    let Value::Object(header) = header else {
        return Err("the header is not a JSON object".to_string());
    };
    let mut tensors = Vec::with_capacity(header.len());
    for (key, value) in header {
        if key == "__metadata__" {
            continue;
        }
        let info = Info::read(key, &value)?;
        info.check_extent(data_len)?;
        tensors.push(info);
    }
    check_tiling(&mut tensors, data_len)?;
    Ok(tensors
        .into_iter()
        .map(|t| {
            let entry = Entry {
                dtype: t.dtype,
                shape: t.shape,
                start: data_start + t.start,
                end: data_start + t.end,
            };
            (t.key, entry)
        })
        .collect())
}

/// One tensor as the header describes it; `start..end` is relative to the data.
struct Info {
    key: String,
    dtype: Dtype,
    shape: Vec<usize>,
    start: usize,
    end: usize,
}

/// The header's JSON bytes, after checking that the length field and the header fit the file.
fn header_json(bytes: &[u8]) -> Result<&[u8], String> {
    let Some(length) = bytes.get(..8) else {
        return Err(if bytes.is_empty() {
            "the file is empty".to_string()
        } else {
            format!(
                "the file is only {} bytes, too short for the 8-byte header length",
                bytes.len()
            )
        });
    };
    let mut field = [0u8; 8];
    field.copy_from_slice(length);
    let n = u64::from_le_bytes(field);
    if n > MAX_HEADER_BYTES {
        return Err(format!(
            "the header length field says {n} bytes, beyond the {MAX_HEADER_BYTES}-byte limit of a safetensors header"
        ));
    }
    let rest = &bytes[8..];
    // n ≤ MAX_HEADER_BYTES fits in usize.
    let n = n as usize;
    rest.get(..n).ok_or_else(|| {
        format!(
            "the header length field says {n} bytes, but only {} bytes follow it (a truncated or corrupt file)",
            rest.len()
        )
    })
}

impl Info {
    /// The tensor `key` from its header entry `value`.
    fn read(key: String, value: &Value) -> Result<Info, String> {
        let bad = |what: &str| format!("tensor {key:?} has {what}");
        let dtype = match value.get("dtype") {
            Some(Value::String(name)) => {
                serde_json::from_value::<Dtype>(Value::String(name.clone()))
                    .map_err(|_| bad(&format!("the unknown dtype {name:?}")))?
            }
            _ => return Err(bad("no \"dtype\" string")),
        };
        let shape = value
            .get("shape")
            .and_then(|s| serde_json::from_value::<Vec<usize>>(s.clone()).ok())
            .ok_or_else(|| bad("no \"shape\" list of non-negative integers"))?;
        let (start, end) = value
            .get("data_offsets")
            .and_then(|o| serde_json::from_value::<(usize, usize)>(o.clone()).ok())
            .ok_or_else(|| bad("no \"data_offsets\" pair of non-negative integers"))?;
        Ok(Info {
            key,
            dtype,
            shape,
            start,
            end,
        })
    }

    /// Checks that the byte range is ordered, inside the data, and exactly as long as the shape
    /// and dtype make it.
    fn check_extent(&self, data_len: usize) -> Result<(), String> {
        let Info {
            key,
            dtype,
            shape,
            start,
            end,
        } = self;
        if end < start {
            return Err(format!(
                "tensor {key:?} has data_offsets [{start}, {end}], which end before they start"
            ));
        }
        if *end > data_len {
            return Err(format!(
                "tensor {key:?} has data_offsets [{start}, {end}], past the end of the file's {data_len} bytes of data (a truncated file or a corrupt header)"
            ));
        }
        let too_large = || format!("tensor {key:?} has the shape {shape:?}, too large to address");
        let bits = shape
            .iter()
            .try_fold(dtype.bitsize(), |acc, &d| acc.checked_mul(d))
            .ok_or_else(too_large)?;
        if bits % 8 != 0 {
            return Err(format!(
                "tensor {key:?} has the shape {shape:?} of {dtype:?}, {bits} bits, not a whole number of bytes"
            ));
        }
        if bits / 8 != end - start {
            return Err(format!(
                "tensor {key:?} has the shape {shape:?} of {dtype:?}, which takes {} bytes, but its data_offsets [{start}, {end}] hold {} bytes",
                bits / 8,
                end - start
            ));
        }
        Ok(())
    }
}

/// Checks that the tensors' ranges tile `0..data_len`: sorted by offset, each starts where the one
/// before it ends and the last ends at the end of the file. Sorts `tensors` by offset.
fn check_tiling(tensors: &mut [Info], data_len: usize) -> Result<(), String> {
    tensors.sort_by(|a, b| {
        (a.start, a.end)
            .cmp(&(b.start, b.end))
            .then_with(|| a.key.cmp(&b.key))
    });
    let mut covered = 0;
    for (i, t) in tensors.iter().enumerate() {
        let (key, start, end) = (&t.key, t.start, t.end);
        match i.checked_sub(1).map(|b| &tensors[b]) {
            Some(before) if start < before.end => {
                return Err(format!(
                    "tensors {:?} (data_offsets [{}, {}]) and {key:?} (data_offsets [{start}, {end}]) overlap",
                    before.key, before.start, before.end
                ))
            }
            Some(before) if start > before.end => {
                return Err(format!(
                    "tensor {key:?} starts at byte {start} of the data, but the tensor before it, {:?}, ends at byte {} (a gap the format does not allow)",
                    before.key, before.end
                ))
            }
            None if start > 0 => {
                return Err(format!(
                    "the first tensor, {key:?}, starts at byte {start} of the data instead of 0"
                ))
            }
            _ => {}
        }
        covered = end;
    }
    if covered != data_len {
        return Err(format!(
            "{} stray bytes follow the last tensor's data (a corrupt header or trailing garbage)",
            data_len - covered
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file with `header` as its JSON and `data` after it.
    fn file(header: &str, data: &[u8]) -> Vec<u8> {
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(header.as_bytes());
        bytes.extend_from_slice(data);
        bytes
    }

    #[test]
    fn reads_two_tensors_in_any_header_order() {
        let bytes = file(
            r#"{"b": {"dtype": "F16", "shape": [2], "data_offsets": [8, 12]},
                "__metadata__": {"format": "pt"},
                "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}"#,
            &[0; 12],
        );
        let tensors = parse(&bytes).unwrap();
        let data_start = bytes.len() - 12;
        let b = &tensors["b"];
        assert_eq!(
            (b.dtype, b.shape.as_slice(), b.start, b.end),
            (Dtype::F16, &[2][..], data_start + 8, data_start + 12)
        );
        assert_eq!(tensors.len(), 2);
    }

    #[test]
    fn refuses_bad_lengths_and_ranges() {
        let err = |header: &str, data_len: usize| {
            parse(&file(header, &vec![0; data_len]))
                .err()
                .unwrap_or_default()
        };
        assert_eq!(parse(&[]).err().unwrap_or_default(), "the file is empty");
        let t = |dtype: &str, shape: &str, offsets: &str| {
            format!(
                r#"{{"t": {{"dtype": "{dtype}", "shape": {shape}, "data_offsets": {offsets}}}}}"#
            )
        };
        assert_eq!(
            err(&t("F32", "[2]", "[8, 0]"), 8),
            "tensor \"t\" has data_offsets [8, 0], which end before they start"
        );
        assert_eq!(
            err(&t("F32", "[3]", "[0, 8]"), 8),
            "tensor \"t\" has the shape [3] of F32, which takes 12 bytes, but its data_offsets [0, 8] hold 8 bytes"
        );
        assert!(err(&t("F32", "[2]", "[0, 8]"), 9)
            .starts_with("1 stray bytes follow the last tensor's data"));
        assert!(err(
            &t("F32", "[4294967296, 4294967296, 4294967296]", "[0, 8]"),
            8
        )
        .contains("too large to address"));
        assert_eq!(
            err(&t("Q4", "[2]", "[0, 8]"), 8),
            "tensor \"t\" has the unknown dtype \"Q4\""
        );
    }
}
