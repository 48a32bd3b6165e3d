//! The position-wise feed-forward network: `y = act(x·W1ᵀ + b1)·W2ᵀ + b2`
//! (`FFN` in `modeling_distilbert.py`; `BertIntermediate` + `BertOutput.dense` in `modeling_bert.py`).

use distil_kernels::Kernels;
use ndarray::{ArrayView2, ArrayViewMut2};

use super::config::{Activation, Config};
use super::flat_mut;
use super::linear::Linear;
use super::profile::{Op, Profiler};
use crate::weights::Prefix;
use crate::Result;

pub struct Ffn {
    pub lin1: Linear, // [hidden_dim, dim]
    pub lin2: Linear, // [dim, hidden_dim]
    pub activation: Activation,
}

impl Ffn {
    /// DistilBERT keys: `ffn.lin1`, `ffn.lin2`.
    pub fn load_distilbert(p: &Prefix<'_>, c: &Config) -> Result<Self> {
        let p = p.pp("ffn");
        Ok(Ffn {
            lin1: Linear::load(&p, "lin1", c.hidden_dim, c.dim)?,
            lin2: Linear::load(&p, "lin2", c.dim, c.hidden_dim)?,
            activation: c.activation,
        })
    }

    /// BERT keys: `intermediate.dense`, `output.dense`.
    pub fn load_bert(p: &Prefix<'_>, c: &Config) -> Result<Self> {
        Ok(Ffn {
            lin1: Linear::load(&p.pp("intermediate"), "dense", c.hidden_dim, c.dim)?,
            lin2: Linear::load(&p.pp("output"), "dense", c.dim, c.hidden_dim)?,
            activation: c.activation,
        })
    }

    /// `out ← FFN(x)` for some rows of the batch, through `hidden: [rows, hidden_dim]`.
    pub fn forward(
        &self,
        k: &Kernels,
        x: ArrayView2<'_, f32>,
        mut hidden: ArrayViewMut2<'_, f32>,
        out: ArrayViewMut2<'_, f32>,
        prof: &Profiler,
    ) {
        let flops = 2.0 * (x.nrows() * self.lin1.out_dim() * self.lin2.out_dim()) as f64;
        prof.time(Op::Lin1, flops, || {
            self.lin1.forward(k, x, hidden.view_mut()); // [rows, hidden_dim]
        });
        prof.time(Op::Activation, 0.0, || {
            self.activation.apply(k, flat_mut(hidden.view_mut()))
        });
        prof.time(Op::Lin2, flops, || {
            self.lin2.forward(k, hidden.view(), out); // [rows, dim]
        });
    }
}
