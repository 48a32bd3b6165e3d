//! The number format the linear layers compute with.

use std::fmt;
use std::str::FromStr;

/// What the weights of the linear layers (attention, feed-forward, the MLM head's) are held and
/// multiplied in. Embeddings, layer norms, softmax, GELU, residuals and every sum stay f32.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Dtype {
    /// f32 throughout: Hugging Face's numbers (the default).
    #[default]
    F32,
    /// bf16 weights (an f32 checkpoint is rounded once, at load), multiplied with AVX-512 BF16
    /// where the CPU has it (the activations rounded to bf16 too), else widened to f32 in
    /// registers; f32 sums. Half the bytes of the weights to read.
    Bf16,
    /// Every linear layer in int8 (the encoder's and the MLM head's): weights quantized per output
    /// channel at load, activations per token at run time, exact integer sums (AVX-512 VNNI where
    /// the CPU has it; the same answers without). A quarter of the bytes.
    Int8,
}

impl Dtype {
    /// Every dtype, as `--dtype` lists them.
    pub const ALL: [Dtype; 3] = [Dtype::F32, Dtype::Bf16, Dtype::Int8];

    /// The name `--dtype` and `/info` use: `f32`, `bf16` or `int8`.
    pub fn name(self) -> &'static str {
        match self {
            Dtype::F32 => "f32",
            Dtype::Bf16 => "bf16",
            Dtype::Int8 => "int8",
        }
    }
}

impl fmt::Display for Dtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The name is not a [`Dtype`]'s.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownDtype(pub String);

impl fmt::Display for UnknownDtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown dtype {:?} (expected f32, bf16 or int8)", self.0)
    }
}

impl std::error::Error for UnknownDtype {}

impl FromStr for Dtype {
    type Err = UnknownDtype;

    fn from_str(name: &str) -> Result<Dtype, UnknownDtype> {
        Dtype::ALL
            .into_iter()
            .find(|d| d.name() == name)
            .ok_or_else(|| UnknownDtype(name.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_ones_are_refused() {
        for dtype in Dtype::ALL {
            assert_eq!(dtype.name().parse::<Dtype>(), Ok(dtype));
        }
        let err = "fp16".parse::<Dtype>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown dtype \"fp16\" (expected f32, bf16 or int8)"
        );
    }
}
