//! Activation functions, in place.
//!
//! GELU is the exact form BERT and DistilBERT use (`transformers`' `GELUActivation`):
//! `gelu(x) = x/2 · (1 + erf(x/√2))`. `erf` is Abramowitz & Stegun 7.1.26 (absolute error below
//! 1.5e-7), which vectorises with one `exp`.
//! `gelu_tanh` is the tanh approximation some BERT checkpoints ask for (`gelu_new`).
//!
//! The SIMD paths (`simd.rs`) vectorise the same formula with a polynomial `exp`; they match the
//! scalar spec to within 2e-7·max(1, |x|) (`tests/kernels.rs`). `gelu_tanh` and `relu` stay scalar
//! on every path: the compiler vectorises `relu` by itself, and `gelu_tanh` is rare among BERT
//! checkpoints.

mod scalar;
#[cfg(target_arch = "x86_64")]
mod simd;

use crate::{Isa, Kernels};
use rayon::prelude::*;

/// Elements per parallel task: 64 KB, a multiple of every vector width.
const CHUNK: usize = 16 * 1024;

impl Kernels {
    /// `x ← gelu(x)`, exact (erf) form, in parallel on the current rayon pool. Each element's
    /// result depends on its value alone: the chunks change nothing but which thread computes it.
    pub fn gelu(&self, x: &mut [f32]) {
        x.par_chunks_mut(CHUNK)
            .for_each(|chunk| self.gelu_serial(chunk));
    }

    fn gelu_serial(&self, x: &mut [f32]) {
        match self.isa() {
            Isa::Scalar => x.iter_mut().for_each(|v| *v = scalar::gelu(*v)),
            // SAFETY: a `Kernels` holds Avx2 only if the CPU has AVX2 and FMA (`Kernels::force`,
            // `Kernels::fastest`); the body reads and writes only inside `x`.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => unsafe { simd::gelu_avx2(x) },
            // SAFETY: a `Kernels` holds Avx512 only if the CPU has AVX-512 F; as above.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => unsafe { simd::gelu_avx512(x) },
            #[cfg(not(target_arch = "x86_64"))]
            Isa::Avx2 | Isa::Avx512 => {
                unreachable!("x86 instruction sets are never supported here")
            }
        }
    }

    /// `x ← x/2 · (1 + tanh(√(2/π) · (x + 0.044715 x³)))`.
    pub fn gelu_tanh(&self, x: &mut [f32]) {
        x.iter_mut().for_each(|v| *v = scalar::gelu_tanh(*v));
    }

    /// `x ← max(x, 0)`; NaN stays NaN, as in PyTorch.
    pub fn relu(&self, x: &mut [f32]) {
        x.iter_mut().for_each(|v| {
            if !v.is_nan() {
                *v = v.max(0.0)
            }
        });
    }
}

/// The error function, as the GELU kernels compute it.
pub fn erf(x: f32) -> f32 {
    scalar::erf(x)
}

#[cfg(test)]
mod tests {
    use crate::testing::all_kernels;

    #[test]
    fn relu_is_max_with_zero_and_keeps_nan() {
        for kernels in all_kernels() {
            let mut x = [-1.5, 0.0, 2.0, f32::NEG_INFINITY, f32::INFINITY, f32::NAN];
            kernels.relu(&mut x);
            assert_eq!(x[..5], [0.0, 0.0, 2.0, 0.0, f32::INFINITY]);
            assert!(x[5].is_nan(), "{}", kernels.isa());
        }
    }

    #[test]
    fn gelu_by_hand_on_every_isa() {
        // torch.nn.functional.gelu at these points; gelu(x) → x for large x, → 0 for very negative.
        let x = [0.0, 1.0, -1.0, 2.0, -3.0, 10.0, -10.0];
        let want = [
            0.0,
            0.841_344_7,
            -0.158_655_3,
            1.954_499_7,
            -0.004_049_7,
            10.0,
            0.0,
        ];
        for k in all_kernels() {
            let mut y = x;
            k.gelu(&mut y);
            for (got, want) in y.iter().zip(want) {
                assert!((got - want).abs() < 1e-6, "{}: {y:?}", k.isa());
            }
        }
    }
}
