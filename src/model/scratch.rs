//! The activation buffers of one forward pass, allocated once per batch rather than per layer.

use ndarray::Array2;

use super::config::Config;

/// Buffers for a batch of `rows` tokens in all.
pub struct Scratch {
    pub q: Array2<f32>,          // [rows, dim]
    pub k: Array2<f32>,          // [rows, dim]
    pub v: Array2<f32>,          // [rows, dim]
    pub ctx: Array2<f32>,        // [rows, dim]
    pub attn_out: Array2<f32>,   // [rows, dim]
    pub ffn_hidden: Array2<f32>, // [rows, hidden_dim]
    pub ffn_out: Array2<f32>,    // [rows, dim]
}

impl Scratch {
    pub fn new(c: &Config, rows: usize) -> Self {
        let hidden = Array2::zeros((rows, c.dim));
        Scratch {
            q: hidden.clone(),
            k: hidden.clone(),
            v: hidden.clone(),
            ctx: hidden.clone(),
            attn_out: hidden.clone(),
            ffn_hidden: Array2::zeros((rows, c.hidden_dim)),
            ffn_out: hidden,
        }
    }
}
