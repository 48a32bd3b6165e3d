//! The non-linearity of the feed-forward network and the MLM head, as `config.json` names it
//! (`activation` for DistilBERT, `hidden_act` for BERT; `ACT2FN` in `transformers/activations.py`).
//!
//! ```text
//! gelu(x)      = x/2 · (1 + erf(x/√2))
//! gelu_new(x)  = x/2 · (1 + tanh(√(2/π) · (x + 0.044715·x³)))
//! relu(x)      = max(x, 0)
//! ```

use distil_kernels::Kernels;

/// An activation function, applied element-wise in place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Activation {
    /// `x/2 · (1 + erf(x/√2))` (`"gelu"`).
    Gelu,
    /// The tanh approximation (`"gelu_new"`, `"gelu_pytorch_tanh"`, `"gelu_fast"`).
    GeluTanh,
    /// `max(x, 0)` (`"relu"`).
    Relu,
}

impl Activation {
    /// The activation `config.json` calls `name`.
    pub(crate) fn parse(name: &str) -> Option<Self> {
        match name {
            "gelu" => Some(Activation::Gelu),
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Some(Activation::GeluTanh),
            "relu" => Some(Activation::Relu),
            _ => None,
        }
    }

    /// `x ← act(x)`, element-wise.
    pub(crate) fn apply(self, k: &Kernels, x: &mut [f32]) {
        match self {
            Activation::Gelu => k.gelu(x),
            Activation::GeluTanh => k.gelu_tanh(x),
            Activation::Relu => k.relu(x),
        }
    }
}
