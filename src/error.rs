//! The one error type of the library: an opaque [`Error`] over a private kind, each with the context
//! a user needs to act (the file, the tensor, the input) and a `Display` that is a whole sentence.

use std::fmt;
use std::path::{Path, PathBuf};

/// Everything that can go wrong when loading a model or running it on input.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
}

/// What went wrong. Private so that variants can grow without breaking users; match on
/// [`Error::to_string`] in tests.
#[derive(Debug)]
enum ErrorKind {
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
    Config {
        path: PathBuf,
        reason: String,
    },
    Weights {
        path: PathBuf,
        reason: String,
    },
    MissingTensor {
        path: PathBuf,
        key: String,
    },
    ShapeMismatch {
        path: PathBuf,
        key: String,
        expected: Vec<usize>,
        got: Vec<usize>,
    },
    Vocab {
        path: PathBuf,
        reason: String,
    },
    Input {
        reason: String,
    },
    Model {
        reason: String,
    },
    Kernels(distil_kernels::UnsupportedIsa),
}

/// Shorthand for results whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A file that cannot be read or written.
    pub fn io_error(path: &Path, source: std::io::Error) -> Self {
        Error::io(path, source)
    }

    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        ErrorKind::Io {
            path: path.to_path_buf(),
            source,
        }
        .into()
    }

    pub(crate) fn json(path: &Path, source: serde_json::Error) -> Self {
        ErrorKind::Json {
            path: path.to_path_buf(),
            source,
        }
        .into()
    }

    pub(crate) fn config(path: &Path, reason: impl Into<String>) -> Self {
        ErrorKind::Config {
            path: path.to_path_buf(),
            reason: reason.into(),
        }
        .into()
    }

    pub(crate) fn weights(path: &Path, reason: impl Into<String>) -> Self {
        ErrorKind::Weights {
            path: path.to_path_buf(),
            reason: reason.into(),
        }
        .into()
    }

    pub(crate) fn missing_tensor(path: &Path, key: &str) -> Self {
        ErrorKind::MissingTensor {
            path: path.to_path_buf(),
            key: key.to_string(),
        }
        .into()
    }

    pub(crate) fn shape_mismatch(
        path: &Path,
        key: &str,
        expected: &[usize],
        got: &[usize],
    ) -> Self {
        ErrorKind::ShapeMismatch {
            path: path.to_path_buf(),
            key: key.to_string(),
            expected: expected.to_vec(),
            got: got.to_vec(),
        }
        .into()
    }

    pub(crate) fn vocab(path: &Path, reason: impl Into<String>) -> Self {
        ErrorKind::Vocab {
            path: path.to_path_buf(),
            reason: reason.into(),
        }
        .into()
    }

    /// An input text or request that cannot be run (no `[MASK]`, empty, …).
    pub fn input(reason: impl Into<String>) -> Self {
        ErrorKind::Input {
            reason: reason.into(),
        }
        .into()
    }

    /// A model that cannot do what was asked (fill-mask without an MLM head, …).
    pub(crate) fn model(reason: impl Into<String>) -> Self {
        ErrorKind::Model {
            reason: reason.into(),
        }
        .into()
    }

    /// Whether the error is about one input rather than the model or its files.
    pub fn is_input_error(&self) -> bool {
        matches!(self.kind, ErrorKind::Input { .. })
    }
}

impl From<ErrorKind> for Error {
    fn from(kind: ErrorKind) -> Self {
        Error { kind }
    }
}

impl From<distil_kernels::UnsupportedIsa> for Error {
    fn from(err: distil_kernels::UnsupportedIsa) -> Self {
        ErrorKind::Kernels(err).into()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ErrorKind::Io { path, source } => {
                write!(f, "cannot read {}: {source}", path.display())
            }
            ErrorKind::Json { path, source } => {
                write!(f, "{} is not valid JSON: {source}", path.display())
            }
            ErrorKind::Config { path, reason } => write!(f, "{}: {reason}", path.display()),
            ErrorKind::Weights { path, reason } => write!(f, "{}: {reason}", path.display()),
            ErrorKind::MissingTensor { path, key } => {
                write!(f, "{}: tensor {key:?} is missing", path.display())
            }
            ErrorKind::ShapeMismatch {
                path,
                key,
                expected,
                got,
            } => write!(
                f,
                "{}: tensor {key:?} has shape {got:?} but config.json implies {expected:?}",
                path.display()
            ),
            ErrorKind::Vocab { path, reason } => write!(f, "{}: {reason}", path.display()),
            ErrorKind::Input { reason } => f.write_str(reason),
            ErrorKind::Model { reason } => f.write_str(reason),
            ErrorKind::Kernels(err) => write!(f, "DISTIL_ISA: {err}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            ErrorKind::Io { source, .. } => Some(source),
            ErrorKind::Json { source, .. } => Some(source),
            _ => None,
        }
    }
}
