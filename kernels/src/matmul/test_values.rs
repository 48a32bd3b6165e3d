//! Inputs for the unit tests of the matmul kernels.

/// Deterministic values in `[-1, 1)` with every mantissa bit in play.
pub(super) fn values(n: usize, seed: u32) -> Vec<f32> {
    (0..n as u32)
        .map(|i| {
            let h = (i ^ seed.wrapping_mul(0x27D4_EB2F))
                .wrapping_mul(0x9E37_79B9)
                .rotate_left(13)
                .wrapping_mul(0x85EB_CA6B);
            (h >> 8) as f32 / (1u32 << 23) as f32 - 1.0
        })
        .collect()
}
