//! `distil eval --shard K/N` and `--merge`: a dataset split across processes (every N-th row from
//! row K, counted from 0 over the non-empty lines), each writing its partial totals, then added
//! up into the summary one run over the whole file gives.

use std::path::PathBuf;

use distil::{Error, Result};
use serde::{Deserialize, Serialize};

use distil::Totals;

/// Shard `index` of `count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    /// Whether row `row` (from 0) is this shard's.
    pub fn takes(&self, row: usize) -> bool {
        row % self.count == self.index
    }
}

/// `K/N` with `K < N`.
pub fn parse(s: &str) -> std::result::Result<Shard, String> {
    let bad = || format!("{s:?} is not a shard K/N (0 ≤ K < N), e.g. 0/3");
    let (k, n) = s.split_once('/').ok_or_else(bad)?;
    let (index, count) = (
        k.trim().parse().map_err(|_| bad())?,
        n.trim().parse().map_err(|_| bad())?,
    );
    if index >= count {
        return Err(bad());
    }
    Ok(Shard { index, count })
}

/// What a shard writes: its place, the settings its figures depend on, and its totals.
#[derive(Debug, Serialize, Deserialize)]
pub struct Partial {
    pub shard: Shard,
    pub top_k: usize,
    pub window_tokens: usize,
    pub seconds: f64,
    pub totals: Totals,
}

/// The shards' files added up: the totals, `top_k`, the window and the longest shard's seconds
/// (the wall time when they ran side by side). Every shard of one split must be there once, with
/// the same settings.
pub fn merge(files: &[PathBuf]) -> Result<(Totals, usize, usize, f64)> {
    let mut partials: Vec<(PathBuf, Partial)> = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(file).map_err(|e| Error::io_error(file, e))?;
        let partial: Partial = serde_json::from_str(&text).map_err(|e| {
            Error::input(format!(
                "{}: not a shard's totals (distil eval --shard K/N prints them): {e}",
                file.display()
            ))
        })?;
        partials.push((file.clone(), partial));
    }
    let Some((first_file, first)) = partials.first() else {
        return Err(Error::input("--merge: no files"));
    };
    let count = first.shard.count;
    for (file, p) in &partials {
        if (p.shard.count, p.top_k, p.window_tokens) != (count, first.top_k, first.window_tokens) {
            return Err(Error::input(format!(
                "{}: shard {}/{} with top_k {} and {}-token windows does not belong with {} \
                 (shard {}/{}, top_k {}, {}-token windows)",
                file.display(),
                p.shard.index,
                p.shard.count,
                p.top_k,
                p.window_tokens,
                first_file.display(),
                first.shard.index,
                count,
                first.top_k,
                first.window_tokens
            )));
        }
    }
    for index in 0..count {
        let n = partials
            .iter()
            .filter(|(_, p)| p.shard.index == index)
            .count();
        if n != 1 {
            return Err(Error::input(format!(
                "--merge: shard {index}/{count} is given {n} times; give each of the {count} once"
            )));
        }
    }
    let (top_k, window_tokens) = (first.top_k, first.window_tokens);
    let seconds = partials.iter().map(|(_, p)| p.seconds).fold(0.0, f64::max);
    let mut totals = Totals::default();
    for (_, p) in partials {
        totals.merge(p.totals);
    }
    Ok((totals, top_k, window_tokens, seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_read_as_k_of_n() {
        assert_eq!(parse("1/3"), Ok(Shard { index: 1, count: 3 }));
        for bad in ["3/3", "1", "a/2", "1/0", "-1/2"] {
            assert!(
                parse(bad).unwrap_err().contains("is not a shard K/N"),
                "{bad}"
            );
        }
        let shard = Shard { index: 1, count: 3 };
        let rows: Vec<usize> = (0..8).filter(|&r| shard.takes(r)).collect();
        assert_eq!(rows, [1, 4, 7]);
    }
}
