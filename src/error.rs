//! The one error type of the library: an opaque [`Error`] over a private kind, each with the context
//! a user needs to act (the file, the tensor, the input) and a `Display` that is a whole sentence.

use std::fmt;
use std::path::{Path, PathBuf};

/// Everything that can go wrong when loading a model or running it on input.
#[derive(Debug)]
pub struct Error {
    repr: Repr,
}

/// What kind of thing went wrong, for a program to act on ([`Error::kind`]); the error's
/// `Display` says the rest (the file, the tensor, the input). More kinds may come.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A file of the model cannot be read (missing, unreadable, not a regular file).
    Io,
    /// A JSON file of the model is not valid JSON.
    Json,
    /// `config.json` (or another settings file) holds a value distil cannot use.
    Config,
    /// `model.safetensors` is broken: its header, a tensor's bytes, NaN or infinite weights.
    Weights,
    /// A tensor the model needs is not in `model.safetensors`.
    MissingTensor,
    /// A tensor's shape is not the one `config.json` implies.
    ShapeMismatch,
    /// `vocab.txt` or `tokenizer_config.json` cannot be used.
    Vocab,
    /// One input (a text, a request) cannot be run; the other inputs are unaffected.
    Input,
    /// The model cannot do what was asked (fill-mask without an MLM head or a mask token).
    Model,
    /// The instruction set asked for in [`crate::Options::isa`] is not supported by this CPU.
    UnsupportedIsa,
}

/// What went wrong, with its context. Private so that variants can grow without breaking users.
#[derive(Debug)]
enum Repr {
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
        Repr::Io {
            path: path.to_path_buf(),
            source,
        }
        .into()
    }

    pub(crate) fn json(path: &Path, source: serde_json::Error) -> Self {
        Repr::Json {
            path: path.to_path_buf(),
            source,
        }
        .into()
    }

    pub(crate) fn config(path: &Path, reason: impl Into<String>) -> Self {
        Repr::Config {
            path: path.to_path_buf(),
            reason: reason.into(),
        }
        .into()
    }

    pub(crate) fn weights(path: &Path, reason: impl Into<String>) -> Self {
        Repr::Weights {
            path: path.to_path_buf(),
            reason: reason.into(),
        }
        .into()
    }

    pub(crate) fn missing_tensor(path: &Path, key: &str) -> Self {
        Repr::MissingTensor {
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
        Repr::ShapeMismatch {
            path: path.to_path_buf(),
            key: key.to_string(),
            expected: expected.to_vec(),
            got: got.to_vec(),
        }
        .into()
    }

    pub(crate) fn vocab(path: &Path, reason: impl Into<String>) -> Self {
        Repr::Vocab {
            path: path.to_path_buf(),
            reason: reason.into(),
        }
        .into()
    }

    /// An input text or request that cannot be run (no `[MASK]`, empty, …).
    pub fn input(reason: impl Into<String>) -> Self {
        Repr::Input {
            reason: reason.into(),
        }
        .into()
    }

    /// This error of a batch, for one of its inputs: broken weights stay a weights error (every
    /// input fails alike), anything else becomes that input's error with the same message.
    pub(crate) fn for_each_input(&self) -> Self {
        match &self.repr {
            Repr::Weights { path, reason } => Error::weights(path, reason.clone()),
            _ => Error::input(self.to_string()),
        }
    }

    /// A model that cannot do what was asked (fill-mask without an MLM head, …).
    pub fn model(reason: impl Into<String>) -> Self {
        Repr::Model {
            reason: reason.into(),
        }
        .into()
    }

    /// What kind of error this is.
    pub fn kind(&self) -> ErrorKind {
        match &self.repr {
            Repr::Io { .. } => ErrorKind::Io,
            Repr::Json { .. } => ErrorKind::Json,
            Repr::Config { .. } => ErrorKind::Config,
            Repr::Weights { .. } => ErrorKind::Weights,
            Repr::MissingTensor { .. } => ErrorKind::MissingTensor,
            Repr::ShapeMismatch { .. } => ErrorKind::ShapeMismatch,
            Repr::Vocab { .. } => ErrorKind::Vocab,
            Repr::Input { .. } => ErrorKind::Input,
            Repr::Model { .. } => ErrorKind::Model,
            Repr::Kernels(_) => ErrorKind::UnsupportedIsa,
        }
    }
}

impl From<Repr> for Error {
    fn from(repr: Repr) -> Self {
        Error { repr }
    }
}

impl From<distil_kernels::UnsupportedIsa> for Error {
    fn from(err: distil_kernels::UnsupportedIsa) -> Self {
        Repr::Kernels(err).into()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Io { path, source } => {
                write!(f, "cannot read {}: {source}", path.display())
            }
            Repr::Json { path, source } => {
                write!(f, "{} is not valid JSON: {source}", path.display())
            }
            Repr::Config { path, reason } => write!(f, "{}: {reason}", path.display()),
            Repr::Weights { path, reason } => write!(f, "{}: {reason}", path.display()),
            Repr::MissingTensor { path, key } => {
                write!(f, "{}: tensor {key:?} is missing", path.display())
            }
            Repr::ShapeMismatch {
                path,
                key,
                expected,
                got,
            } => write!(
                f,
                "{}: tensor {key:?} has shape {got:?} but config.json implies {expected:?}",
                path.display()
            ),
            Repr::Vocab { path, reason } => write!(f, "{}: {reason}", path.display()),
            Repr::Input { reason } => f.write_str(reason),
            Repr::Model { reason } => f.write_str(reason),
            Repr::Kernels(err) => write!(f, "instruction set: {err}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.repr {
            Repr::Io { source, .. } => Some(source),
            Repr::Json { source, .. } => Some(source),
            _ => None,
        }
    }
}
