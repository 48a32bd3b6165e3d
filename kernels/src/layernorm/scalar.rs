//! The reference layer normalisation of one row.

/// `x ← (x - mean) / sqrt(var + eps) * gamma + beta`, statistics in two f32 passes (the mean
/// first, then the mean squared deviation from it, which stays accurate when the mean is large).
pub fn layernorm(x: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
    let n = x.len() as f32;
    let mean = x.iter().sum::<f32>() / n;
    let var = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
    let inv_std = 1.0 / (var + eps).sqrt();
    for ((v, g), b) in x.iter_mut().zip(gamma).zip(beta) {
        *v = (*v - mean) * inv_std * g + b;
    }
}

/// `x ← LayerNorm(x + residual)`.
pub fn add_layernorm(x: &mut [f32], residual: &[f32], gamma: &[f32], beta: &[f32], eps: f32) {
    for (v, r) in x.iter_mut().zip(residual) {
        *v += r;
    }
    layernorm(x, gamma, beta, eps);
}
