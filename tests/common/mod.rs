//! What the test files that break model directories share: the fixture models, and copies of them
//! to break.

use std::path::{Path, PathBuf};

/// The fixture model `name` (`tests/fixtures/models/{name}` at the repository's root, whichever of
/// its crates, the library or the command line, compiles this file).
pub fn fixture(name: &str) -> PathBuf {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = crate_dir
        .ancestors()
        .find(|dir| dir.join("tests/fixtures").is_dir())
        .unwrap_or(crate_dir);
    root.join("tests/fixtures/models").join(name)
}

/// A copy of the fixture model `name` in a temporary directory.
pub fn copy_model(name: &str) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(fixture(name)).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), tmp.path().join(entry.file_name())).unwrap();
        }
    }
    tmp
}
