//! The FP32 peak of this CPU, measured: independent chains of fused multiply-adds, enough of them
//! to hide the FMA latency, on each of `threads` threads at once. What `distil profile` divides by
//! to report each operation's share of the peak.

use std::time::Instant;

use crate::{Isa, Kernels};

/// Chains in flight per thread: FMA latency (4 cycles) × 2 ports, plus slack.
const CHAINS: usize = 12;

/// Measured GFLOP/s of `threads` threads running FMAs for about `seconds`.
pub fn fma_gflops(kernels: Kernels, threads: usize, seconds: f64) -> f64 {
    let threads = threads.max(1);
    let start = Instant::now();
    let flops: f64 = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| s.spawn(move || run(kernels.isa(), seconds)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or(0.0)).sum()
    });
    flops / start.elapsed().as_secs_f64() / 1e9
}

/// FLOPs done by one thread in about `seconds`.
fn run(isa: Isa, seconds: f64) -> f64 {
    const ITERS: usize = 1 << 20;
    let start = Instant::now();
    let mut flops = 0.0;
    let mut sink = 0.0f32;
    while start.elapsed().as_secs_f64() < seconds {
        let (f, s) = match isa {
            Isa::Scalar => scalar(ITERS / 8),
            // SAFETY: a `Kernels` holds Avx2 only if the CPU has AVX2 and FMA.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => unsafe { avx2(ITERS) },
            // SAFETY: a `Kernels` holds Avx512 only if the CPU has AVX-512 F.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => unsafe { avx512(ITERS) },
            #[cfg(not(target_arch = "x86_64"))]
            _ => scalar(ITERS / 8),
        };
        flops += f;
        sink += s;
    }
    // Keep the result observable so the loops are not optimised away.
    std::hint::black_box(sink);
    flops
}

fn scalar(iters: usize) -> (f64, f32) {
    let mut acc = [1.0f32; CHAINS];
    for _ in 0..iters {
        for a in acc.iter_mut() {
            *a = a.mul_add(0.999_999, 1e-7);
        }
    }
    ((iters * CHAINS * 2) as f64, acc.iter().sum())
}

/// `iters` rounds of `CHAINS` AVX2 fused multiply-adds: the FLOPs, and a sum to keep.
///
/// # Safety
/// The CPU must have AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn avx2(iters: usize) -> (f64, f32) {
    use std::arch::x86_64::*;
    let (mul, add) = (_mm256_set1_ps(0.999_999), _mm256_set1_ps(1e-7));
    let mut acc = [_mm256_set1_ps(1.0); CHAINS];
    for _ in 0..iters {
        for a in acc.iter_mut() {
            *a = _mm256_fmadd_ps(*a, mul, add);
        }
    }
    let mut lanes = [0.0f32; 8];
    let mut sum = _mm256_setzero_ps();
    for a in acc {
        sum = _mm256_add_ps(sum, a);
    }
    // SAFETY: AVX, which this fn's # Safety guarantees; `lanes` holds the 8 floats stored.
    unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), sum) };
    ((iters * CHAINS * 8 * 2) as f64, lanes.iter().sum())
}

/// `iters` rounds of `CHAINS` AVX-512 fused multiply-adds: the FLOPs, and a sum to keep.
///
/// # Safety
/// The CPU must have AVX-512 F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn avx512(iters: usize) -> (f64, f32) {
    use std::arch::x86_64::*;
    let (mul, add) = (_mm512_set1_ps(0.999_999), _mm512_set1_ps(1e-7));
    let mut acc = [_mm512_set1_ps(1.0); CHAINS];
    for _ in 0..iters {
        for a in acc.iter_mut() {
            *a = _mm512_fmadd_ps(*a, mul, add);
        }
    }
    let mut sum = _mm512_setzero_ps();
    for a in acc {
        sum = _mm512_add_ps(sum, a);
    }
    ((iters * CHAINS * 16 * 2) as f64, _mm512_reduce_add_ps(sum))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_a_plausible_peak() {
        let gflops = fma_gflops(Kernels::fastest(), 1, 0.05);
        // Any x86 core of the last decade does 1-300 GFLOP/s of FP32 FMAs.
        assert!(gflops > 0.5 && gflops < 1000.0, "{gflops}");
    }
}
