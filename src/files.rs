//! Opening the files of a model directory. Only regular files are opened: a FIFO put where a file
//! should be would block `open` forever, a device such as `/dev/zero` would never end, and a
//! directory cannot be read; each is an error naming the path instead.

use std::fs::File;
use std::io;
use std::path::Path;

use crate::{Error, Result};

/// Opens `path` for reading, if it is a regular file (or a link to one).
pub(crate) fn open(path: &Path) -> Result<File> {
    let metadata = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if !metadata.is_file() {
        let what = if metadata.is_dir() {
            "it is a directory, not a file"
        } else {
            "it is not a regular file"
        };
        return Err(Error::io(path, io::Error::other(what)));
    }
    File::open(path).map_err(|e| Error::io(path, e))
}

/// The bytes of the regular file `path`.
pub(crate) fn read(path: &Path) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    io::Read::read_to_end(&mut open(path)?, &mut bytes).map_err(|e| Error::io(path, e))?;
    Ok(bytes)
}

/// The bytes of `path`, or `None` when there is no such file (an optional file of the model).
pub(crate) fn read_optional(path: &Path) -> Result<Option<Vec<u8>>> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        _ => read(path).map(Some),
    }
}
