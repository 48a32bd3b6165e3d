//! Reading a `model.safetensors` file: memory-mapped, checked once, and handed out as `f32` tensors
//! that lend `ndarray` views ([`Tensor::view`]).
//!
//! An f32 tensor whose bytes are 4-byte aligned in the file is used in place, straight from the
//! page cache (zero-copy). f16 and bf16 tensors are widened to f32 once, at load, since the kernels
//! compute in f32. Any other dtype is an error naming the tensor.
//!
//! A file is untrusted input: its header is checked in full before any tensor is read
//! (`header.rs`). NaN and infinities in the weights would turn answers into NaN without a word, so
//! the tensors the model takes are checked for them. A tensor widened from f16 or bf16 is checked
//! as it is made (it was just read). A mapped f32 tensor is not read at load, where reading all of
//! a 263 MB checkpoint once more cost a one-sentence `distil fill-mask` a sixth of its time: a
//! non-finite weight makes the outputs that depend on it non-finite (a NaN times anything is NaN,
//! an infinity times anything is an infinity or NaN, and GELU, ReLU, softmax and layer norm keep
//! them so), so the model scans the mapped tensors when an output first comes out non-finite
//! (`FiniteCheck`), and the answer becomes the error naming the tensor. The one exception is
//! ReLU turning −∞ into 0, where the answer is PyTorch's own. `distil serve` scans at start instead,
//! before it takes requests. The scan reads each weight once, branch-free per block so that it
//! vectorises, on the engine's threads in parallel; f32 tensors stay zero-copy.
//!
//! Keys are reached through a [`Prefix`], which nests like the checkpoint's own module paths:
//! `w.pp("transformer.layer.3").pp("attention.q_lin").tensor("weight", (dim, dim))` reads
//! `transformer.layer.3.attention.q_lin.weight` as a [`Tensor2`].

mod header;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use distil_kernels::mmap::{map_readonly, Mmap};
use half::{bf16, f16};
use ndarray::{ArrayView, Dimension, IntoDimension, Ix1, Ix2, IxDyn};
use rayon::prelude::*;
use safetensors::Dtype;

use crate::{files, Error, Result};

/// An opened safetensors file: its map and the table of its tensors.
pub struct Weights {
    path: PathBuf,
    mmap: Arc<Mmap>,
    tensors: HashMap<String, Entry>,
    /// Every mapped tensor handed out, under its key, for [`FiniteCheck`].
    taken: Mutex<Vec<(String, Tensor<IxDyn>)>>,
}

/// The mapped tensors a model took from its file, to be scanned for NaN and infinities once, when
/// first needed (see the module's documentation).
pub(crate) struct FiniteCheck {
    path: PathBuf,
    tensors: Vec<(String, Tensor<IxDyn>)>,
    /// The scan's finding: the first non-finite tensor's description, if any.
    finding: OnceLock<Option<String>>,
}

impl FiniteCheck {
    /// `Ok` if every tensor is finite, else the error naming the first that is not (in the order
    /// the model took them). Scans on the first call only; later calls repeat its finding.
    pub(crate) fn run(&self) -> Result<()> {
        // The scan runs outside the lock: it is parallel, and a thread of the pool waiting inside
        // `get_or_init` could be handed another job that calls `run` and waits on itself. Two
        // threads may scan at once; they find the same.
        let finding = match self.finding.get() {
            Some(finding) => finding,
            None => {
                let found = self.tensors.iter().find_map(|(key, tensor)| {
                    first_non_finite(tensor.as_slice()).map(|i| non_finite(key, tensor, i))
                });
                self.finding.get_or_init(|| found)
            }
        };
        match finding {
            None => Ok(()),
            Some(message) => Err(Error::weights(&self.path, message.clone())),
        }
    }

    /// [`FiniteCheck::run`] if `values` (an output computed from the tensors) holds a NaN or an
    /// infinity: whether non-finite weights are the cause.
    pub(crate) fn run_unless_finite(&self, values: &[f32]) -> Result<()> {
        match first_non_finite(values) {
            None => Ok(()),
            Some(_) => self.run(),
        }
    }
}

/// Where one tensor lies in the file.
struct Entry {
    dtype: Dtype,
    shape: Vec<usize>,
    /// Byte range in the whole file (header included).
    start: usize,
    end: usize,
}

/// An f32 tensor of shape `D`, either borrowed from the map or widened into memory of its own.
/// Cloning shares the data (a tied projector is the word-embedding table itself, not a copy).
#[derive(Clone)]
pub struct Tensor<D> {
    storage: Storage,
    shape: D,
}

/// An int8 tensor, read in place from the map (bytes need no alignment): the quantized weights of
/// a checkpoint from `distil quantize`.
#[derive(Clone)]
pub struct I8Tensor {
    mmap: Arc<Mmap>,
    start: usize,
    end: usize,
    shape: Vec<usize>,
}

impl I8Tensor {
    /// The elements in row-major order.
    pub fn as_slice(&self) -> &[i8] {
        bytemuck::cast_slice(&self.mmap[self.start..self.end])
    }

    /// The tensor's shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }
}

/// One tensor as the file stores it: its dtype, shape and bytes (for `distil quantize`, which
/// copies what it does not quantize).
pub struct Stored<'a> {
    /// The tensor's key.
    pub key: &'a str,
    /// Its dtype in the file.
    pub dtype: Dtype,
    /// Its shape.
    pub shape: &'a [usize],
    /// Its bytes, little-endian.
    pub bytes: &'a [u8],
}

/// A vector: a bias, a layer norm's γ or β.
pub type Tensor1 = Tensor<Ix1>;
/// A matrix: a linear layer's weight `[out, in]`, an embedding table `[rows, dim]`.
pub type Tensor2 = Tensor<Ix2>;

#[derive(Clone)]
enum Storage {
    Mapped {
        mmap: Arc<Mmap>,
        start: usize,
        end: usize,
    },
    Owned(Arc<[f32]>),
}

impl Weights {
    /// Maps `path` and checks its header (see `header.rs`): every tensor's byte range inside the
    /// file, the ranges tiling the data, each consistent with its tensor's shape and dtype.
    pub fn open(path: &Path) -> Result<Self> {
        let file = files::open(path)?;
        let mmap = map_readonly(&file).map_err(|e| Error::io(path, e))?;
        let tensors = header::parse(&mmap).map_err(|reason| Error::weights(path, reason))?;
        Ok(Weights {
            path: path.to_path_buf(),
            mmap: Arc::new(mmap),
            tensors,
            taken: Mutex::new(Vec::new()),
        })
    }

    /// The file these weights come from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the file holds a tensor under `key`.
    pub fn contains(&self, key: &str) -> bool {
        self.tensors.contains_key(key)
    }

    /// The dtype most of the file's bytes are stored in (what `distil` reports as the model dtype;
    /// `int8` for most checkpoints from `distil quantize`).
    pub fn dominant_dtype(&self) -> &'static str {
        let bytes_in = |dtype: Dtype| -> usize {
            self.tensors
                .values()
                .filter(|e| e.dtype == dtype)
                .map(|e| e.end - e.start)
                .sum()
        };
        [
            (Dtype::F32, "f32"),
            (Dtype::F16, "f16"),
            (Dtype::BF16, "bf16"),
            (Dtype::I8, "int8"),
        ]
        .into_iter()
        .max_by_key(|&(dtype, _)| bytes_in(dtype))
        .map_or("f32", |(_, name)| name)
    }

    /// Every tensor of the file as stored, in key order.
    pub fn stored(&self) -> Vec<Stored<'_>> {
        let mut all: Vec<Stored<'_>> = self
            .tensors
            .iter()
            .map(|(key, e)| Stored {
                key,
                dtype: e.dtype,
                shape: &e.shape,
                bytes: &self.mmap[e.start..e.end],
            })
            .collect();
        all.sort_by_key(|t| t.key);
        all
    }

    /// The int8 tensor `key`, of any shape (the caller checks it).
    pub fn i8_tensor(&self, key: &str) -> Result<I8Tensor> {
        let entry = self
            .tensors
            .get(key)
            .ok_or_else(|| Error::missing_tensor(&self.path, key))?;
        if entry.dtype != Dtype::I8 {
            return Err(Error::weights(
                &self.path,
                format!(
                    "tensor {key:?} is stored as {:?}; quantized weights are I8",
                    entry.dtype
                ),
            ));
        }
        Ok(I8Tensor {
            mmap: Arc::clone(&self.mmap),
            start: entry.start,
            end: entry.end,
            shape: entry.shape.clone(),
        })
    }

    /// The tensor `key`, which must have exactly `shape`.
    pub fn tensor<D: Dimension>(
        &self,
        key: &str,
        shape: impl IntoDimension<Dim = D>,
    ) -> Result<Tensor<D>> {
        let shape = shape.into_dimension();
        let entry = self
            .tensors
            .get(key)
            .ok_or_else(|| Error::missing_tensor(&self.path, key))?;
        if entry.shape != shape.slice() {
            return Err(Error::shape_mismatch(
                &self.path,
                key,
                shape.slice(),
                &entry.shape,
            ));
        }
        let bytes = &self.mmap[entry.start..entry.end];
        let storage = match entry.dtype {
            Dtype::F32 if bytemuck::try_cast_slice::<u8, f32>(bytes).is_ok() => Storage::Mapped {
                mmap: Arc::clone(&self.mmap),
                start: entry.start,
                end: entry.end,
            },
            Dtype::F32 => Storage::Owned(widen(bytes, f32::from_le_bytes)),
            Dtype::F16 => Storage::Owned(widen(bytes, |b| f16::from_le_bytes(b).to_f32())),
            Dtype::BF16 => Storage::Owned(widen(bytes, |b| bf16::from_le_bytes(b).to_f32())),
            other => {
                return Err(Error::weights(
                    &self.path,
                    format!(
                        "tensor {key:?} is stored as {other:?}; weights must be F32, F16 or BF16"
                    ),
                ))
            }
        };
        let tensor = Tensor { storage, shape };
        if tensor.is_mapped() {
            // Checked when an output first comes out non-finite (see the module's documentation).
            let dynamic = Tensor {
                storage: tensor.storage.clone(),
                shape: tensor.shape.clone().into_dyn(),
            };
            self.taken
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push((key.to_string(), dynamic));
        } else if let Some(i) = first_non_finite(tensor.as_slice()) {
            // Just widened, so in cache: checked now, and not kept alive for a later scan.
            return Err(Error::weights(&self.path, non_finite(key, &tensor, i)));
        }
        Ok(tensor)
    }

    /// The check of every mapped tensor taken so far, for the model built from them (a widened
    /// tensor was checked when it was made).
    pub(crate) fn finite_check(&self) -> FiniteCheck {
        let mut taken = self.taken.lock().unwrap_or_else(PoisonError::into_inner);
        FiniteCheck {
            path: self.path.clone(),
            tensors: std::mem::take(&mut *taken),
            finding: OnceLock::new(),
        }
    }

    /// The root of the key paths.
    pub fn root(&self) -> Prefix<'_> {
        Prefix {
            weights: self,
            path: String::new(),
        }
    }
}

/// The index of the first NaN or infinity in `values`. Blocks are tested without branches (the
/// exponent bits of every element, OR-ed together), so the common all-finite pass vectorises, and
/// in parallel on the current rayon pool (the engine's): one thread alone reads a mapped file from
/// the page cache at well under the memory's bandwidth.
fn first_non_finite(values: &[f32]) -> Option<usize> {
    const EXPONENT: u32 = 0x7f80_0000;
    const BLOCK: usize = 16 * 1024;
    let block = values.par_chunks(BLOCK).position_first(|block| {
        block
            .iter()
            .fold(false, |any, v| any | (v.to_bits() & EXPONENT == EXPONENT))
    })?;
    let start = block * BLOCK;
    let i = values[start..].iter().position(|v| !v.is_finite())?;
    Some(start + i)
}

/// Why the tensor `key` is refused: what its element `first` holds, where, and how many more.
fn non_finite<D: Dimension>(key: &str, tensor: &Tensor<D>, first: usize) -> String {
    let values = tensor.as_slice();
    let what = if values[first].is_nan() {
        "NaN"
    } else {
        "an infinity"
    };
    // The row-major index of element `first`.
    let mut index = vec![0; tensor.shape.ndim()];
    let mut rest = first;
    for (i, &d) in index.iter_mut().zip(tensor.shape.slice()).rev() {
        *i = rest % d;
        rest /= d;
    }
    let count = values.iter().filter(|v| !v.is_finite()).count();
    format!(
        "tensor {key:?} holds {what} at {index:?} ({count} of its {} values are NaN or infinite); weights must be finite",
        values.len()
    )
}

/// Decodes little-endian elements of `N` bytes into f32.
fn widen<const N: usize>(bytes: &[u8], decode: impl Fn([u8; N]) -> f32) -> Arc<[f32]> {
    bytes
        .chunks_exact(N)
        .map(|c| {
            let mut b = [0u8; N];
            b.copy_from_slice(c);
            decode(b)
        })
        .collect()
}

impl<D: Dimension> Tensor<D> {
    /// The tensor as an array view (row-major, over the mapped file when [`Tensor::is_mapped`]).
    pub fn view(&self) -> ArrayView<'_, f32, D> {
        // The shape's element count equals the data's length: checked when the tensor was made.
        ArrayView::from_shape(self.shape.clone(), self.as_slice())
            .expect("a tensor's data holds its shape")
    }

    /// The elements in row-major order, for the kernels (which take contiguous slices).
    pub fn as_slice(&self) -> &[f32] {
        match &self.storage {
            // Alignment and length were checked when the tensor was made; the map is read-only
            // (a file truncated while mapped is outside what distil promises: see the README).
            Storage::Mapped { mmap, start, end } => bytemuck::cast_slice(&mmap[*start..*end]),
            Storage::Owned(v) => v,
        }
    }

    /// The tensor's shape.
    pub fn shape(&self) -> &[usize] {
        self.shape.slice()
    }

    /// Whether the data is read in place from the memory map.
    pub fn is_mapped(&self) -> bool {
        matches!(self.storage, Storage::Mapped { .. })
    }
}

/// A position in the key hierarchy: `prefix.pp("layer.0")` is the `layer.0.` sub-module.
#[derive(Clone)]
pub struct Prefix<'a> {
    weights: &'a Weights,
    path: String,
}

impl<'a> Prefix<'a> {
    /// The sub-module `name` (push prefix).
    pub fn pp(&self, name: impl AsRef<str>) -> Prefix<'a> {
        Prefix {
            weights: self.weights,
            path: self.key(name.as_ref()),
        }
    }

    /// The full key of `name` under this prefix.
    pub fn key(&self, name: &str) -> String {
        if self.path.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.path)
        }
    }

    /// Whether `name` exists under this prefix.
    pub fn contains(&self, name: &str) -> bool {
        self.weights.contains(&self.key(name))
    }

    /// The tensor `name`, of exactly `shape`.
    pub fn tensor<D: Dimension>(
        &self,
        name: &str,
        shape: impl IntoDimension<Dim = D>,
    ) -> Result<Tensor<D>> {
        self.weights.tensor(&self.key(name), shape)
    }

    /// The int8 tensor `name`, of any shape.
    pub fn i8_tensor(&self, name: &str) -> Result<I8Tensor> {
        self.weights.i8_tensor(&self.key(name))
    }

    /// The file behind these weights.
    pub fn path(&self) -> &'a Path {
        self.weights.path()
    }
}

#[cfg(test)]
mod tests {
    use super::first_non_finite;

    #[test]
    fn the_first_non_finite_value_is_found_across_blocks_and_threads() {
        let mut values = vec![1.5f32; 100_000];
        assert_eq!(first_non_finite(&values), None);
        values[90_000] = f32::INFINITY;
        values[70_001] = f32::NAN;
        assert_eq!(first_non_finite(&values), Some(70_001));
        values[3] = f32::NEG_INFINITY;
        assert_eq!(first_non_finite(&values), Some(3));
        assert_eq!(first_non_finite(&[]), None);
        assert_eq!(first_non_finite(&[f32::MAX, f32::MIN_POSITIVE, -0.0]), None);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        assert_eq!(
            pool.install(|| first_non_finite(&values[4..])),
            Some(70_001 - 4)
        );
    }
}
