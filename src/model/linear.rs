//! `torch.nn.Linear`: `y = x·Wᵀ + b`, with `W` stored `[out, in]` as PyTorch saves it.

use distil_kernels::matmul::I8Layer;
use distil_kernels::quant::{padded_k, row_sums, I8Rows, I8Weights, PANEL_ROWS};
use distil_kernels::Kernels;
use half::bf16;
use ndarray::{Array2, ArrayView2, ArrayViewMut2, Zip};

use super::{flat, flat_mut};
use crate::weights::{I8Tensor, Prefix, Tensor1, Tensor2};
use crate::{Error, Result};

/// A linear layer read from `{name}.weight` (`[out, in]`) and `{name}.bias` (`[out]`), or, in a
/// checkpoint from `distil quantize`, from `{name}.weight_q` and `{name}.weight_scale`
/// ([`StoredI8`]) and the bias.
pub struct Linear {
    /// The checkpoint's key of `W` (`….q_lin.weight`), also when the file has it in int8 or ties
    /// it to the word embeddings.
    pub key: String,
    pub weight: Weight,
    pub bias: Tensor1,
}

/// A linear layer's `W`, in the dtype it is multiplied in.
pub enum Weight {
    /// As the checkpoint has it (f32 read in place, f16 or bf16 widened at load).
    F32(Tensor2),
    /// Rounded to bf16 (to nearest, ties to even) at load.
    Bf16(Array2<bf16>),
    /// Quantized to int8 per output channel at load.
    I8(I8Weights),
    /// In int8 as `distil quantize` stored it, read in place.
    StoredI8(StoredI8),
}

/// int8 weights from a checkpoint of `distil quantize`: `{key}_q`, the panels of
/// [`I8Weights`] as a tensor `[panels, k / 4, 16, 4]` (`k` padded as the panels pad it), and
/// `{key}_scale`, each row's scale (`[out]`, f32). Each row's sum is
/// recomputed at load, which also checks every weight is within the quantizer's range.
pub struct StoredI8 {
    q: I8Tensor,
    scale: Tensor1,
    sums: Vec<i32>,
    k: usize,
}

impl StoredI8 {
    /// All the rows, for the kernels.
    pub fn rows(&self) -> I8Rows<'_> {
        I8Rows {
            q: self.q.as_slice(),
            scale: self.scale.as_slice(),
            sums: &self.sums,
            k: self.k,
        }
    }

    /// Reads `{key}_q` and `{key}_scale` for a layer of `out × in`.
    fn load(p: &Prefix<'_>, key: &str, out_dim: usize, in_dim: usize) -> Result<Self> {
        let q_key = format!("{key}_q");
        let q = p.i8_tensor(&q_key)?;
        let path = p.path();
        if !matches!(q.shape(), [_, _, PANEL_ROWS, 4]) {
            // Panels of 8 rows: written by distil quantize before its panels became one layout.
            let hint = if q.shape().get(2) == Some(&8) {
                "; it was written by an older distil quantize (8-row panels): quantize the model again"
            } else {
                ""
            };
            return Err(Error::weights(
                path,
                format!(
                    "tensor {:?} has the shape {:?}; int8 panels are [panels, k/4, 16, 4]{hint}",
                    p.key(&q_key),
                    q.shape()
                ),
            ));
        }
        let want = [
            out_dim.div_ceil(PANEL_ROWS),
            padded_k(in_dim) / 4,
            PANEL_ROWS,
            4,
        ];
        if q.shape() != want {
            return Err(Error::shape_mismatch(
                path,
                &p.key(&q_key),
                &want,
                q.shape(),
            ));
        }
        let sums = row_sums(q.as_slice(), out_dim, in_dim).map_err(|(j, at)| {
            Error::weights(
                path,
                format!(
                    "tensor {:?} holds a weight outside ±{} in row {j}, column {at}; distil quantize writes none",
                    p.key(&q_key),
                    distil_kernels::quant::WEIGHT_MAX
                ),
            )
        })?;
        Ok(StoredI8 {
            q,
            scale: p.tensor(&format!("{key}_scale"), out_dim)?,
            sums,
            k: in_dim,
        })
    }
}

impl Linear {
    /// Reads `{name}.weight` (or its int8 form) and `{name}.bias` under `p`.
    pub fn load(p: &Prefix<'_>, name: &str, out_dim: usize, in_dim: usize) -> Result<Self> {
        let p = p.pp(name);
        Linear::from_keys(&p, "weight", "bias", (out_dim, in_dim), None)
    }

    /// The layer of `W` `weight` (or its int8 form, `{weight}_q`) and bias `bias` under `p`;
    /// without either form of `W` in the file, `tied` (the word embeddings a projector is tied
    /// to) if given.
    pub fn from_keys(
        p: &Prefix<'_>,
        weight: &str,
        bias: &str,
        (out_dim, in_dim): (usize, usize),
        tied: Option<&Tensor2>,
    ) -> Result<Self> {
        let weight_q = format!("{weight}_q");
        let w = if p.contains(&weight_q) {
            Weight::StoredI8(StoredI8::load(p, weight, out_dim, in_dim)?)
        } else {
            match tied {
                Some(tied) if !p.contains(weight) => Weight::F32(tied.clone()),
                _ => Weight::F32(p.tensor(weight, (out_dim, in_dim))?),
            }
        };
        Ok(Linear {
            key: p.key(weight),
            weight: w,
            bias: p.tensor(bias, out_dim)?,
        })
    }

    /// Output width.
    pub fn out_dim(&self) -> usize {
        self.bias.shape()[0]
    }

    /// Holds `W` in bf16 from now on (on the current rayon pool, in parallel).
    pub fn round_to_bf16(&mut self) {
        if let Weight::F32(w) = &self.weight {
            let mut rounded = Array2::from_elem(w.view().dim(), bf16::ZERO);
            Zip::from(&mut rounded)
                .and(w.view())
                .par_for_each(|r, &v| *r = bf16::from_f32(v));
            self.weight = Weight::Bf16(rounded);
        }
    }

    /// Holds `W` in int8 from now on. A row holding NaN or an infinity gets a NaN scale, so its
    /// outputs stay non-finite and the deferred scan of the mapped weights still names it.
    pub fn quantize_to_i8(&mut self) {
        if let Weight::F32(w) = &self.weight {
            let k = w.view().ncols();
            self.weight = Weight::I8(I8Weights::quantize(w.as_slice(), k));
        }
    }

    /// `W` in int8, if it is.
    pub fn i8_rows(&self) -> Option<I8Rows<'_>> {
        match &self.weight {
            Weight::I8(w) => Some(w.rows()),
            Weight::StoredI8(w) => Some(w.rows()),
            Weight::F32(_) | Weight::Bf16(_) => None,
        }
    }

    /// `y ← x·Wᵀ + b`, for `x: [rows, in]` and `y: [rows, out]`.
    pub fn forward(&self, k: &Kernels, x: ArrayView2<'_, f32>, y: ArrayViewMut2<'_, f32>) {
        let rows = x.nrows();
        let b = self.bias.as_slice();
        match &self.weight {
            Weight::F32(w) => k.linear(flat(x), w.as_slice(), b, flat_mut(y), rows),
            Weight::Bf16(w) => {
                // Cannot fail: `round_to_bf16` builds the array with `from_elem` (standard layout)
                // and nothing slices or transposes it afterwards.
                let w = w
                    .as_slice()
                    .expect("an array made by from_elem is in standard layout");
                k.linear_bf16(flat(x), w, b, flat_mut(y), rows)
            }
            Weight::I8(w) => k.linear_i8(flat(x), w.rows(), b, flat_mut(y), rows),
            Weight::StoredI8(w) => k.linear_i8(flat(x), w.rows(), b, flat_mut(y), rows),
        }
    }

    /// `ys[i] ← x·W_iᵀ + b_i` for each of `linears` (attention's `q_lin`, `k_lin`, `v_lin`): where
    /// all are int8 with one `k`, one call of `Kernels::linears_i8`, which quantizes `x` once for
    /// all of them (the same answers as one by one); otherwise one by one.
    pub fn forward_each<const N: usize>(
        k: &Kernels,
        x: ArrayView2<'_, f32>,
        linears: [&Linear; N],
        ys: [ArrayViewMut2<'_, f32>; N],
    ) {
        let rows = linears.map(Linear::i8_rows);
        // All int8, with one `k`.
        let shape = |w: &Option<I8Rows<'_>>| w.map(|w| w.k);
        let first = rows.first().and_then(shape);
        let one_quantization = first.is_some() && rows.iter().all(|w| shape(w) == first);
        if !one_quantization {
            for (linear, y) in linears.into_iter().zip(ys) {
                linear.forward(k, x, y);
            }
            return;
        }
        let mut layers: Vec<I8Layer<'_>> = rows
            .into_iter()
            .flatten()
            .zip(linears)
            .zip(ys)
            .map(|((w, linear), y)| I8Layer {
                w,
                bias: linear.bias.as_slice(),
                y: flat_mut(y),
            })
            .collect();
        k.linears_i8(flat(x), &mut layers, x.nrows());
    }
}
