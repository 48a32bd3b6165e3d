//! The activation buffers of one forward pass, allocated once per batch rather than per layer,
//! and kept between passes ([`ScratchPool`]): a pass over 512 tokens needs 16 MB of them, and
//! memory freshly mapped for each pass costs a page fault per 4 KB when first written.

use std::sync::Mutex;

use distil_kernels::Kernels;
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
    /// Each head's working space for attention over the longest sequence.
    pub heads: Vec<Vec<f32>>, // [n_heads][Kernels::attention_scratch]
}

/// Buffers of finished passes, for the next ones to reuse (one set per pass running at once).
#[derive(Default)]
pub struct ScratchPool(Mutex<Vec<Vec<f32>>>);

/// The most floats the pool keeps (256 MB): a rare huge batch does not hold its memory forever.
const POOL_MAX: usize = 64 << 20;

impl ScratchPool {
    /// A buffer of `len` floats: the pool's smallest that holds them, else its largest, else a
    /// new one (a reused buffer's contents are stale: every user writes its buffers in full
    /// before reading them).
    fn take(&self, len: usize) -> Vec<f32> {
        let reused = self.0.lock().ok().and_then(|mut pool| {
            let fits = |b: &&Vec<f32>| b.capacity() >= len;
            let best = (pool.iter().enumerate().filter(|(_, b)| fits(b)))
                .min_by_key(|(_, b)| b.capacity())
                .or_else(|| pool.iter().enumerate().max_by_key(|(_, b)| b.capacity()))
                .map(|(at, _)| at);
            best.map(|at| pool.swap_remove(at))
        });
        let mut buffer = reused.unwrap_or_default();
        buffer.truncate(len);
        buffer.resize(len, 0.0);
        buffer
    }

    /// Keeps `buffer` for a later pass, unless the pool is full.
    fn put(&self, buffer: Vec<f32>) {
        if let Ok(mut pool) = self.0.lock() {
            let kept: usize = pool.iter().map(Vec::capacity).sum();
            if kept + buffer.capacity() <= POOL_MAX {
                pool.push(buffer);
            }
        }
    }
}

impl Scratch {
    /// Buffers for `rows` tokens in sequences of at most `longest`, from `pool` where it has them.
    pub fn new(k: &Kernels, c: &Config, rows: usize, longest: usize, pool: &ScratchPool) -> Self {
        let head_dim = c.dim / c.n_heads;
        let per_head = k.attention_scratch(longest, longest, head_dim, head_dim);
        // Cannot fail: `take(len)` returns exactly `len` floats, here `rows × cols`.
        let array = |cols: usize| {
            Array2::from_shape_vec((rows, cols), pool.take(rows * cols))
                .expect("a buffer of rows × cols floats")
        };
        Scratch {
            q: array(c.dim),
            k: array(c.dim),
            v: array(c.dim),
            ctx: array(c.dim),
            attn_out: array(c.dim),
            ffn_hidden: array(c.hidden_dim),
            ffn_out: array(c.dim),
            heads: (0..c.n_heads).map(|_| pool.take(per_head)).collect(),
        }
    }

    /// Gives the buffers back to `pool`.
    pub fn recycle(self, pool: &ScratchPool) {
        let buffers = [
            self.q,
            self.k,
            self.v,
            self.ctx,
            self.attn_out,
            self.ffn_hidden,
            self.ffn_out,
        ];
        for array in buffers {
            let (buffer, _) = array.into_raw_vec_and_offset();
            pool.put(buffer);
        }
        self.heads.into_iter().for_each(|buffer| pool.put(buffer));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pool_hands_out_the_smallest_buffer_that_fits_and_keeps_at_most_its_cap() {
        let pool = ScratchPool::default();
        for len in [100, 400, 200] {
            pool.put(vec![1.0; len]);
        }
        // The smallest that holds 150 is the 200 one, cut to 150 (stale contents, no new memory).
        let b = pool.take(150);
        assert_eq!((b.len(), b.capacity()), (150, 200));
        // None holds 1000: the largest (400) grows.
        let b = pool.take(1000);
        assert_eq!(b.len(), 1000);
        assert!(b[400..].iter().all(|&v| v == 0.0));
        // The 100 one is left; an empty pool makes new buffers.
        assert_eq!(pool.take(10).capacity(), 100);
        assert_eq!(pool.take(10), vec![0.0; 10]);
        // A buffer past the cap is dropped.
        pool.put(vec![0.0; POOL_MAX + 1]);
        assert!(pool.0.lock().unwrap().is_empty());
    }
}
