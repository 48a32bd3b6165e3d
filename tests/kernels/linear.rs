//! The linear layer in f32, bf16 and int8 against its scalar twins and against f64.

use distil_kernels::matmul::I8Layer;
use distil_kernels::quant::{I8Weights, TokenQuant};
use distil_kernels::testing::i8_kernels;

use super::*;

/// Tokens, inner and output dimensions of the linear cases: one token (the MLM head at a `[MASK]`),
/// counts around the tiles' widths (8, 16, 32 tokens) and rows (6, 8, 12), the model's 768, and 1906
/// (odd, and split unevenly over two threads).
const LINEAR_M: [usize; 7] = [1, 2, 5, 12, 17, 128, 130];
const LINEAR_K: [usize; 5] = [1, 7, 51, 100, 768];
const LINEAR_N: [usize; 7] = [1, 5, 13, 51, 100, 768, 1906];

/// Rayon pools of one and two threads.
fn pools() -> Vec<rayon::ThreadPool> {
    [1, 2]
        .into_iter()
        .map(|t| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(t)
                .build()
                .unwrap()
        })
        .collect()
}

/// One linear case: `x: m×k`, `W: n×k`, `b: n`, and the scalar twin's `y`.
struct LinearCase {
    m: usize,
    k: usize,
    n: usize,
    x: Vec<f32>,
    w: Vec<f32>,
    bias: Vec<f32>,
    want: Vec<f32>,
}

/// Every shape of `LINEAR_M × LINEAR_K × LINEAR_N`, with random values, and the scalar twin's
/// answer, made once and shared by the tests.
fn linear_cases() -> &'static [LinearCase] {
    static CASES: std::sync::OnceLock<Vec<LinearCase>> = std::sync::OnceLock::new();
    CASES.get_or_init(|| {
        let mut rng = Rng(5);
        let mut cases = Vec::new();
        for m in LINEAR_M {
            for k in LINEAR_K {
                for n in LINEAR_N {
                    let x = rng.vec(m * k, 1.0);
                    let w = rng.vec(n * k, 0.1);
                    let bias = rng.vec(n, 1.0);
                    let mut want = vec![f32::NAN; m * n];
                    Kernels::scalar().linear(&x, &w, &bias, &mut want, m);
                    cases.push(LinearCase {
                        m,
                        k,
                        n,
                        x,
                        w,
                        bias,
                        want,
                    });
                }
            }
        }
        cases
    })
}

#[test]
fn linear_equals_its_scalar_twin_bit_for_bit_on_one_and_two_threads() {
    // The twin's own independence of the thread count is checked with the batch below.
    let simd = simd_kernels();
    let pools = pools();
    for case in linear_cases() {
        let LinearCase { m, k, n, .. } = *case;
        for (threads, pool) in [1, 2].into_iter().zip(&pools) {
            for &kernels in &simd {
                let mut y = vec![f32::NAN; m * n];
                pool.install(|| kernels.linear(&case.x, &case.w, &case.bias, &mut y, m));
                if let Some(at) = (0..m * n).find(|&e| y[e].to_bits() != case.want[e].to_bits()) {
                    panic!(
                        "linear/{} {m}x{k}x{n} on {threads} threads ({}, {}): got {:e}, the twin {:e}",
                        kernels.isa(),
                        at / n,
                        at % n,
                        y[at],
                        case.want[at]
                    );
                }
            }
        }
    }
}

#[test]
fn linear_scalar_twin_is_within_its_rounding_bound_of_f64() {
    let u = f64::from(f32::EPSILON) / 2.0;
    let mut worst = 0.0f64;
    for case in linear_cases() {
        let LinearCase { m, k, n, .. } = *case;
        let rounds = (k + 1) as f64;
        let gamma = rounds * u / (1.0 - rounds * u);
        for i in 0..m {
            let x_row = &case.x[i * k..(i + 1) * k];
            for j in 0..n {
                let w_row = &case.w[j * k..(j + 1) * k];
                let b = f64::from(case.bias[j]);
                let (mut sum, mut scale) = (b, b.abs());
                for (&xp, &wp) in x_row.iter().zip(w_row) {
                    let prod = f64::from(xp) * f64::from(wp);
                    sum += prod;
                    scale += prod.abs();
                }
                let got = f64::from(case.want[i * n + j]);
                assert!(
                    (got - sum).abs() <= gamma * scale,
                    "linear {m}x{k}x{n} ({i}, {j}): the twin gives {got:e}, f64 {sum:e}"
                );
                worst = worst.max((got - sum).abs() / (gamma * scale).max(f64::MIN_POSITIVE));
            }
        }
    }
    eprintln!("linear: worst error {worst:.3} of the bound");
}

#[test]
fn linear_rows_do_not_depend_on_the_batch_or_the_threads() {
    // Bit for bit: the model relies on a batch giving each sequence its result alone.
    let mut rng = Rng(6);
    let (m, k, n) = (40, 100, 200);
    let x = rng.vec(m * k, 1.0);
    let w = rng.vec(n * k, 0.1);
    let bias = rng.vec(n, 1.0);
    let pools = pools();
    for kernels in all_kernels() {
        let mut batch = vec![0.0; m * n];
        pools[0].install(|| kernels.linear(&x, &w, &bias, &mut batch, m));
        let mut on_two = vec![0.0; m * n];
        pools[1].install(|| kernels.linear(&x, &w, &bias, &mut on_two, m));
        assert!(
            batch == on_two,
            "linear/{}: 1 and 2 threads differ",
            kernels.isa()
        );
        for (i, want) in batch.chunks_exact(n).enumerate() {
            let mut alone = vec![0.0; n];
            let row = &x[i * k..(i + 1) * k];
            pools[0].install(|| kernels.linear(row, &w, &bias, &mut alone, 1));
            assert!(
                alone == want,
                "linear/{}: row {i} alone differs",
                kernels.isa()
            );
        }
    }
}

/// The int8 layer of each linear case: `W` quantized, and the scalar twin's `y`.
struct I8Case {
    w: I8Weights,
    want: Vec<f32>,
}

fn i8_cases() -> &'static [I8Case] {
    static CASES: std::sync::OnceLock<Vec<I8Case>> = std::sync::OnceLock::new();
    CASES.get_or_init(|| {
        linear_cases()
            .iter()
            .map(|case| {
                let w = I8Weights::quantize(&case.w, case.k);
                let mut want = vec![f32::NAN; case.m * case.n];
                Kernels::scalar().linear_i8(&case.x, w.rows(), &case.bias, &mut want, case.m);
                I8Case { w, want }
            })
            .collect()
    })
}

#[test]
fn linear_i8_equals_its_scalar_twin_bit_for_bit_on_one_and_two_threads() {
    // Integer sums: AMX, VNNI, AVX2's vpmaddubsw and the twin give the same answers, whatever the
    // tile, the blocking or the threads (k not a multiple of 4 takes the twin).
    let ways = i8_kernels();
    let pools = pools();
    for (case, I8Case { w, want }) in linear_cases().iter().zip(i8_cases()) {
        let LinearCase { m, k, n, .. } = *case;
        for (threads, pool) in [1, 2].into_iter().zip(&pools) {
            for &kernels in &ways {
                let mut y = vec![f32::NAN; m * n];
                pool.install(|| kernels.linear_i8(&case.x, w.rows(), &case.bias, &mut y, m));
                if let Some(at) = (0..m * n).find(|&e| y[e].to_bits() != want[e].to_bits()) {
                    panic!(
                        "linear_i8/{} ({}) {m}x{k}x{n} on {threads} threads ({}, {}): got {:e}, the twin {:e}",
                        kernels.isa(),
                        kernels.i8_dot(),
                        at / n,
                        at % n,
                        y[at],
                        want[at]
                    );
                }
            }
        }
    }
}

#[test]
fn linears_i8_of_one_input_equal_each_layer_alone_bit_for_bit() {
    // Attention's q, k and v from one quantization of x: three layers of different widths (two
    // tiles' worth of rows, and a count no tile divides) against `linear_i8` one at a time.
    let mut rng = Rng(9);
    let ways = i8_kernels();
    for (m, k) in [(1, 8), (12, 64), (33, 100), (130, 768)] {
        let x = rng.vec(m * k, 2.0);
        let widths = [16, 40, 13];
        let weights = widths.map(|n| I8Weights::quantize(&rng.vec(n * k, 0.5), k));
        let biases = widths.map(|n| rng.vec(n, 0.1));
        for &kernels in &ways {
            let mut together = widths.map(|n| vec![f32::NAN; m * n]);
            let mut layers: Vec<I8Layer<'_>> = together
                .iter_mut()
                .zip(&weights)
                .zip(&biases)
                .map(|((y, w), bias)| I8Layer {
                    w: w.rows(),
                    bias,
                    y,
                })
                .collect();
            kernels.linears_i8(&x, &mut layers, m);
            for ((y, w), bias) in together.iter().zip(&weights).zip(&biases) {
                let mut alone = vec![f32::NAN; y.len()];
                kernels.linear_i8(&x, w.rows(), bias, &mut alone, m);
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(
                    bits(y),
                    bits(&alone),
                    "{} ({}) {m}x{k}",
                    kernels.isa(),
                    kernels.i8_dot()
                );
            }
        }
    }
}

#[test]
fn linear_i8_is_within_its_quantization_bound_of_f64() {
    // Each weight is off by at most half its row's step, each activation by half its token's:
    // |Δ| ≤ Σₚ (½s_w·|x| + ½s_x·|w| + ¼s_x·s_w), plus f32 rounding of the dequantization.
    let mut worst = 0.0f64;
    for (case, I8Case { want: got, .. }) in linear_cases().iter().zip(i8_cases()) {
        let LinearCase { m, k, n, .. } = *case;
        for i in 0..m {
            let x_row = &case.x[i * k..(i + 1) * k];
            let s_x = f64::from(TokenQuant::of(x_row).scale);
            for j in 0..n {
                let w_row = &case.w[j * k..(j + 1) * k];
                let max_w = w_row.iter().fold(0.0f32, |a, v| a.max(v.abs()));
                let s_w = f64::from(max_w) / f64::from(distil_kernels::quant::WEIGHT_MAX);
                let (mut sum, mut bound) = (f64::from(case.bias[j]), 0.0);
                for (&xp, &wp) in x_row.iter().zip(w_row) {
                    let (xp, wp) = (f64::from(xp), f64::from(wp));
                    sum += xp * wp;
                    bound += 0.5 * s_w * xp.abs() + 0.5 * s_x * wp.abs() + 0.25 * s_x * s_w;
                }
                let bound = bound + 1e-6 * (sum.abs() + bound + f64::from(case.bias[j].abs()));
                let got = f64::from(got[i * n + j]);
                assert!(
                    (got - sum).abs() <= bound,
                    "linear_i8 {m}x{k}x{n} ({i}, {j}): got {got:e}, f64 {sum:e}, bound {bound:e}"
                );
                worst = worst.max((got - sum).abs() / bound.max(f64::MIN_POSITIVE));
            }
        }
    }
    eprintln!("linear_i8: worst error {worst:.3} of the bound");
}

#[test]
fn linear_i8_turns_a_non_finite_token_into_nan_and_leaves_the_others() {
    let mut rng = Rng(7);
    let (m, k, n) = (20, 64, 24);
    let mut x = rng.vec(m * k, 1.0);
    x[3 * k + 5] = f32::NAN;
    x[11 * k] = f32::INFINITY;
    let w = rng.vec(n * k, 0.1);
    let bias = rng.vec(n, 1.0);
    for kernels in i8_kernels() {
        let w = I8Weights::quantize(&w, k);
        let mut y = vec![0.0; m * n];
        kernels.linear_i8(&x, w.rows(), &bias, &mut y, m);
        for (i, row) in y.chunks_exact(n).enumerate() {
            let broken = i == 3 || i == 11;
            assert!(
                row.iter()
                    .all(|v| v.is_nan() == broken && (broken || v.is_finite())),
                "linear_i8/{} ({}) row {i}: {row:?}",
                kernels.isa(),
                kernels.i8_dot()
            );
        }
    }
}
