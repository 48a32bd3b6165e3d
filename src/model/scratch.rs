//! The activation buffers of one forward pass, allocated once per batch rather than per layer.

use super::config::Config;

/// Buffers for a batch of `rows` tokens in all.
pub struct Scratch {
    pub q: Vec<f32>,          // [rows, dim]
    pub k: Vec<f32>,          // [rows, dim]
    pub v: Vec<f32>,          // [rows, dim]
    pub heads: Vec<f32>,      // per sequence: [heads, seq, head_dim]
    pub ctx: Vec<f32>,        // [rows, dim]
    pub attn_out: Vec<f32>,   // [rows, dim]
    pub ffn_hidden: Vec<f32>, // [rows, hidden_dim]
    pub ffn_out: Vec<f32>,    // [rows, dim]
}

impl Scratch {
    pub fn new(c: &Config, rows: usize) -> Self {
        let hidden = vec![0.0; rows * c.dim];
        Scratch {
            q: hidden.clone(),
            k: hidden.clone(),
            v: hidden.clone(),
            heads: hidden.clone(),
            ctx: hidden.clone(),
            attn_out: hidden.clone(),
            ffn_hidden: vec![0.0; rows * c.hidden_dim],
            ffn_out: hidden,
        }
    }
}
