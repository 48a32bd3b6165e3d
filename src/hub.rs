//! Finding a model: a local directory, a Hugging Face cache entry, or (with the `hub` feature) a
//! download.
//!
//! A hub id such as `distilbert-base-cased` or `sentence-transformers/all-MiniLM-L6-v2` is looked up
//! first in the Hugging Face cache, the layout Python's `huggingface_hub` writes:
//! `{cache}/models--{org}--{name}/refs/main` holds a commit hash and
//! `{cache}/models--{org}--{name}/snapshots/{hash}/` the files. `{cache}` is `$HF_HUB_CACHE`, else
//! `$HF_HOME/hub`, else `~/.cache/huggingface/hub`. So a model a user already fetched with Python
//! is used as it is, offline.

use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// The files distil needs from a model repository; `tokenizer_config.json` is optional.
pub const REQUIRED_FILES: [&str; 3] = ["config.json", "vocab.txt", "model.safetensors"];
/// Files used when present.
pub const OPTIONAL_FILES: [&str; 4] = [
    "tokenizer_config.json",
    "sentence_bert_config.json",
    "modules.json",
    "1_Pooling/config.json",
];

/// The directory holding the model named `model`, as every command and the server find it: a
/// path to a directory (or the one model directory below it, as Azure ML mounts a registered
/// model: see [`find_model_dir`]), or a hub id found in the cache or, with the `hub` feature,
/// downloaded into it.
pub fn resolve(model: &str) -> Result<PathBuf> {
    let path = Path::new(model);
    if path.is_dir() {
        return Ok(find_model_dir(path).unwrap_or_else(|| path.to_path_buf()));
    }
    if path.exists() {
        return Err(Error::input(format!(
            "model {model}: expected a model directory or a hub id, found a file"
        )));
    }
    if !is_hub_id(model) {
        return Err(Error::input(format!(
            "model {model}: no such directory, and it is not a valid hub id"
        )));
    }
    let cache = cache_dir();
    if let Some(dir) = find_in_cache(&cache, model) {
        return Ok(dir);
    }
    download(&cache, model)
}

/// `dir` itself when it holds a `config.json`; else, as Azure ML mounts a registered model at
/// `$AZUREML_MODEL_DIR/<name>/…`, the one directory at most two levels down that has one (`None`
/// when there is none, or several at the same depth).
pub fn find_model_dir(dir: &Path) -> Option<PathBuf> {
    if dir.join("config.json").is_file() {
        return Some(dir.to_path_buf());
    }
    let mut level = vec![dir.to_path_buf()];
    for _ in 0..2 {
        let mut found = Vec::new();
        let mut next = Vec::new();
        for d in &level {
            let Ok(entries) = std::fs::read_dir(d) else {
                continue;
            };
            for path in entries.flatten().map(|e| e.path()).filter(|p| p.is_dir()) {
                if path.join("config.json").is_file() {
                    found.push(path);
                } else {
                    next.push(path);
                }
            }
        }
        match found.len() {
            0 => level = next,
            1 => return found.pop(),
            _ => return None,
        }
    }
    None
}

/// Whether `id` looks like `name` or `org/name` as the hub spells repository ids.
fn is_hub_id(id: &str) -> bool {
    let parts: Vec<&str> = id.split('/').collect();
    parts.len() <= 2
        && parts.iter().all(|p| {
            !p.is_empty()
                && !p.starts_with('.')
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        })
}

/// The Hugging Face hub cache directory, as `huggingface_hub` chooses it.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = env_path("HF_HUB_CACHE") {
        return dir;
    }
    if let Some(home) = env_path("HF_HOME") {
        return home.join("hub");
    }
    let base = env_path("XDG_CACHE_HOME")
        .or_else(|| env_path("HOME").map(|h| h.join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"));
    base.join("huggingface").join("hub")
}

fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// The snapshot directory of `id` in `cache` that holds every required file: the one `refs/main`
/// names if it is complete, else any complete snapshot.
pub fn find_in_cache(cache: &Path, id: &str) -> Option<PathBuf> {
    let repo = cache.join(format!("models--{}", id.replace('/', "--")));
    let complete = |dir: &Path| REQUIRED_FILES.iter().all(|f| dir.join(f).is_file());
    let snapshots = repo.join("snapshots");
    if let Ok(hash) = std::fs::read_to_string(repo.join("refs").join("main")) {
        let dir = snapshots.join(hash.trim());
        if complete(&dir) {
            return Some(dir);
        }
    }
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&snapshots)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| complete(p))
        .collect();
    dirs.sort();
    dirs.pop()
}

/// The path of `file` in dataset `id` (`org/name`): from the cache (`datasets--{org}--{name}`,
/// the snapshot `refs/main` names, else any that has it) or, with the `hub` feature, downloaded
/// into it.
pub fn dataset_file(id: &str, file: &str) -> Result<PathBuf> {
    if !is_hub_id(id) {
        return Err(Error::input(format!("--dataset {id}: not a valid hub id")));
    }
    let cache = cache_dir();
    if let Some(path) = find_dataset_file(&cache, id, file) {
        return Ok(path);
    }
    download_dataset_file(&cache, id, file)
}

/// `file` of dataset `id` in `cache`, if a snapshot holds it.
pub fn find_dataset_file(cache: &Path, id: &str, file: &str) -> Option<PathBuf> {
    let repo = cache.join(format!("datasets--{}", id.replace('/', "--")));
    let snapshots = repo.join("snapshots");
    if let Ok(hash) = std::fs::read_to_string(repo.join("refs").join("main")) {
        let path = snapshots.join(hash.trim()).join(file);
        if path.is_file() {
            return Some(path);
        }
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir(&snapshots)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join(file)))
        .filter(|p| p.is_file())
        .collect();
    found.sort();
    found.pop()
}

#[cfg(feature = "hub")]
fn download_dataset_file(cache: &Path, id: &str, file: &str) -> Result<PathBuf> {
    use hf_hub::api::sync::ApiBuilder;

    let missing = format!(
        "dataset file {id}/{file} is not in the Hugging Face cache at {}",
        cache.display()
    );
    if std::env::var("HF_HUB_OFFLINE").is_ok_and(|v| v == "1" || v == "true") {
        return Err(Error::input(format!(
            "{missing} and HF_HUB_OFFLINE is set: download it once, or pass --data FILE"
        )));
    }
    let unreachable = |e: hf_hub::api::sync::ApiError| {
        Error::input(format!(
            "{missing} and the hub could not be reached ({e}): pass --data FILE"
        ))
    };
    let api = ApiBuilder::from_cache(hf_hub::Cache::new(cache.to_path_buf()))
        .with_progress(true)
        .build()
        .map_err(unreachable)?;
    api.dataset(id.to_string()).get(file).map_err(unreachable)
}

#[cfg(not(feature = "hub"))]
fn download_dataset_file(cache: &Path, id: &str, file: &str) -> Result<PathBuf> {
    Err(Error::input(format!(
        "dataset file {id}/{file} is not in the Hugging Face cache at {}, and this build of distil has no hub support (feature \"hub\"): pass --data FILE",
        cache.display()
    )))
}

/// How to get a model that is not in the cache, for error messages.
fn how_to_get(id: &str) -> String {
    format!(
        "download it once with `huggingface-cli download {id}` (or Python's from_pretrained), or pass --model DIR"
    )
}

#[cfg(feature = "hub")]
fn download(cache: &Path, id: &str) -> Result<PathBuf> {
    use hf_hub::api::sync::ApiBuilder;

    let offline = std::env::var("HF_HUB_OFFLINE").is_ok_and(|v| v == "1" || v == "true");
    if offline {
        return Err(Error::input(format!(
            "model {id} is not in the Hugging Face cache at {} and HF_HUB_OFFLINE is set: {}",
            cache.display(),
            how_to_get(id)
        )));
    }
    let unreachable = |e: hf_hub::api::sync::ApiError| {
        Error::input(format!(
            "model {id} is not in the Hugging Face cache at {} and the hub could not be reached ({e}): {}",
            cache.display(),
            how_to_get(id)
        ))
    };
    let api = ApiBuilder::from_cache(hf_hub::Cache::new(cache.to_path_buf()))
        .with_progress(true)
        .build()
        .map_err(unreachable)?;
    let repo = api.model(id.to_string());
    let mut dir = None;
    for file in REQUIRED_FILES {
        let path = repo.get(file).map_err(unreachable)?;
        dir = path.parent().map(Path::to_path_buf);
    }
    // Optional: a checkpoint without it gets BERT's defaults.
    let _ = repo.get("tokenizer_config.json");
    dir.ok_or_else(|| Error::input(format!("model {id}: the hub returned no files")))
}

#[cfg(not(feature = "hub"))]
fn download(cache: &Path, id: &str) -> Result<PathBuf> {
    Err(Error::input(format!(
        "model {id} is not in the Hugging Face cache at {}, and this build of distil has no hub support (feature \"hub\"): {}",
        cache.display(),
        how_to_get(id)
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lays out `models--{id}` in a cache as huggingface_hub does, with the required files.
    fn lay_out(cache: &Path, id: &str, hash: &str, files: &[&str], refs_main: bool) -> PathBuf {
        let repo = cache.join(format!("models--{}", id.replace('/', "--")));
        let snap = repo.join("snapshots").join(hash);
        std::fs::create_dir_all(&snap).unwrap();
        for f in files {
            std::fs::write(snap.join(f), b"{}").unwrap();
        }
        if refs_main {
            std::fs::create_dir_all(repo.join("refs")).unwrap();
            std::fs::write(repo.join("refs/main"), format!("{hash}\n")).unwrap();
        }
        snap
    }

    #[test]
    fn finds_the_snapshot_refs_main_names() {
        let tmp = tempfile::tempdir().unwrap();
        lay_out(tmp.path(), "org/model", "aaaa", &REQUIRED_FILES, false);
        let main = lay_out(tmp.path(), "org/model", "bbbb", &REQUIRED_FILES, true);
        assert_eq!(find_in_cache(tmp.path(), "org/model"), Some(main));
    }

    #[test]
    fn skips_incomplete_snapshots() {
        let tmp = tempfile::tempdir().unwrap();
        let full = lay_out(
            tmp.path(),
            "distilbert-base-cased",
            "1111",
            &REQUIRED_FILES,
            false,
        );
        lay_out(
            tmp.path(),
            "distilbert-base-cased",
            "2222",
            &["config.json"],
            true,
        );
        assert_eq!(
            find_in_cache(tmp.path(), "distilbert-base-cased"),
            Some(full)
        );
        assert_eq!(find_in_cache(tmp.path(), "other"), None);
    }

    #[test]
    fn finds_a_dataset_file_in_the_cache() {
        let cache = tempfile::tempdir().unwrap();
        let id = "rcds/wikipedia-for-mask-filling";
        let file = "data/original_512.jsonl.xz";
        assert_eq!(find_dataset_file(cache.path(), id, file), None);
        let repo = cache
            .path()
            .join("datasets--rcds--wikipedia-for-mask-filling");
        let path = repo.join("snapshots").join("abc").join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, b"").unwrap();
        assert_eq!(find_dataset_file(cache.path(), id, file), Some(path));
    }

    #[test]
    fn hub_ids() {
        assert!(is_hub_id("distilbert-base-cased"));
        assert!(is_hub_id("sentence-transformers/all-MiniLM-L6-v2"));
        assert!(!is_hub_id("a/b/c"));
        assert!(!is_hub_id("../x"));
        assert!(!is_hub_id("with space"));
    }

    #[test]
    fn azure_ml_model_dir_is_found_below_the_mount() {
        let root = tempfile::tempdir().unwrap();
        let model = root.path().join("distil-model").join("1");
        std::fs::create_dir_all(&model).unwrap();
        std::fs::write(model.join("config.json"), "{}").unwrap();
        assert_eq!(find_model_dir(root.path()), Some(model.clone()));
        assert_eq!(find_model_dir(&model), Some(model.clone()));
        // Two candidates at the same depth: ambiguous, so none.
        let other = root.path().join("other").join("2");
        std::fs::create_dir_all(&other).unwrap();
        std::fs::write(other.join("config.json"), "{}").unwrap();
        assert_eq!(find_model_dir(root.path()), None);
    }
}
