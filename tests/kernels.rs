//! One case table per kernel, run on every SIMD instruction set and compared with the scalar spec
//! (`Kernels::scalar()`), each with the tolerance it is held to:
//!
//! | kernel | tolerance against the scalar spec |
//! | --- | --- |
//! | softmax | `|Δ| ≤ (1e-6 + n·ε/4)·|y| + MIN_POSITIVE` (`n` the row length: the scalar sum's own rounding) |
//! | layernorm, add+layernorm | `|Δ| ≤ |γ|·(2e-6·max(1, |x̂|) + √n·ε·|μ|/σ) + 2e-6·|β|` (`μ`, `σ` the row's mean and deviation) |
//! | gelu | `|Δ| ≤ 2e-7·max(1, |x|)` |
//! | attention | `|Δ| ≤ 2(1e-6 + n·ε/4)·Σ_j p_j·|v_jc|` (`n` keys; the softmax's bound, weighted by `v`) |
//! | attention in bf16 pairs | the same plus `2⁻⁸·Σ_j p_j·|v_jc|` (a probability rounded to bf16 one step the other way) |
//! | linear (f32, int8; `linears_i8` against `linear_i8` alone) | none: bit for bit, on 1 and 2 threads |
//!
//! attention is held to `|Δ| ≤ 2(1e-6 + n·ε/4)·Σ_j p_j·|v_jc|` against the scalar spec (its scores
//! are the spec's bit for bit; the softmax's bound carries through the weighted sum), and on every
//! path to the same plus the scores' rounding against f64; linear's scalar twin to `|Δ| ≤ γ_{k+1}·(Σ_p |x_ip·w_jp| + |b_j|)` against f64, with
//! `γ_n = n·u/(1 - n·u)` and `u = 2⁻²⁴` (its `k` fused multiply-adds and the bias add each round
//! once); and GELU on every instruction set against `erf` computed in f64 from a series.
//!
//! Lengths include ones that are not multiples of 8 or 16 (the vector widths), so every SIMD
//! kernel's partial last vector is exercised.
//!
//! A comparison with the spec runs on [`simd_kernels`] (never the spec against itself), a check of
//! a property or of a value worked out independently on [`all_kernels`] (the spec too). Where this
//! CPU lacks an instruction set, both leave it out and say so, or fail under `CI=true`
//! ([`distil_kernels::testing::supported_or_skip`]).
//!
//! Attention's and the linear layer's cases are in `kernels/attention.rs` and `kernels/linear.rs`.

use distil_kernels::testing::{all_kernels, simd_kernels};
use distil_kernels::Kernels;

#[path = "kernels/attention.rs"]
mod attention;
#[path = "kernels/linear.rs"]
mod linear;

/// Row lengths for the row kernels: short, odd, around the vector widths, and the model's own.
const LENGTHS: [usize; 9] = [1, 7, 9, 15, 17, 51, 100, 768, 3072];

/// A small deterministic generator (SplitMix64), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[-1, 1)`.
    fn unit(&mut self) -> f32 {
        ((self.next_u64() >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }

    /// Uniform in `[-scale, scale)`, `n` of them.
    fn vec(&mut self, n: usize, scale: f32) -> Vec<f32> {
        (0..n).map(|_| self.unit() * scale).collect()
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// The row inputs of one case: a name for failure messages, and values.
struct Case {
    name: String,
    row_len: usize,
    x: Vec<f32>,
}

/// Random rows of every length in `LENGTHS`, `[-scale, scale)`, a few rows each.
fn random_cases(rng: &mut Rng, label: &str, scale: f32) -> Vec<Case> {
    LENGTHS
        .iter()
        .map(|&n| {
            let rows = 1 + rng.below(3);
            Case {
                name: format!("{label} {rows}x{n}"),
                row_len: n,
                x: rng.vec(rows * n, scale),
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Softmax

fn softmax_cases() -> Vec<Case> {
    let mut rng = Rng(1);
    let mut cases = Vec::new();
    cases.extend(random_cases(&mut rng, "uniform ±1", 1.0));
    cases.extend(random_cases(&mut rng, "attention scores ±30", 30.0));
    // Large magnitudes: most weights underflow to 0 and the maximum takes nearly all.
    cases.extend(random_cases(&mut rng, "large ±1e4", 1e4));
    cases.extend(random_cases(&mut rng, "huge ±1e30", 1e30));
    for &n in &LENGTHS {
        // Masked positions (-inf) scattered through the row, one finite entry at least.
        let mut x = rng.vec(2 * n, 8.0);
        for (i, v) in x.iter_mut().enumerate() {
            if i % n != 0 && rng.below(3) == 0 {
                *v = f32::NEG_INFINITY;
            }
        }
        cases.push(Case {
            name: format!("masked 2x{n}"),
            row_len: n,
            x,
        });
        // Constant rows: every weight is exactly 1/n in the spec.
        cases.push(Case {
            name: format!("constant 1x{n}"),
            row_len: n,
            x: vec![-3.25; n],
        });
        // Values near the bottom of exp's range relative to the maximum.
        let x = (0..n).map(|i| -(i as f32) * 90.0 / n as f32).collect();
        cases.push(Case {
            name: format!("ramp 0..-90 1x{n}"),
            row_len: n,
            x,
        });
    }
    cases
}

#[test]
fn softmax_matches_scalar_on_every_simd_isa() {
    for kernels in simd_kernels() {
        for case in softmax_cases() {
            let mut want = case.x.clone();
            Kernels::scalar().softmax_rows(&mut want, case.row_len);
            let mut got = case.x.clone();
            kernels.softmax_rows(&mut got, case.row_len);
            let rel = 1e-6 + case.row_len as f32 * f32::EPSILON / 4.0;
            for (i, (&g, &w)) in got.iter().zip(&want).enumerate() {
                let tol = rel * w.abs() + f32::MIN_POSITIVE;
                assert!(
                    (g - w).abs() <= tol,
                    "softmax/{} {} [{i}]: got {g:e}, want {w:e} (x = {:e})",
                    kernels.isa(),
                    case.name,
                    case.x[i]
                );
            }
            for row in got.chunks(case.row_len) {
                let sum: f32 = row.iter().sum();
                assert!(
                    (sum - 1.0).abs() < 1e-4,
                    "{}: a row sums to {sum}",
                    case.name
                );
            }
        }
    }
}

#[test]
fn softmax_masked_entries_are_exactly_zero() {
    for kernels in all_kernels() {
        for n in LENGTHS {
            let mut x: Vec<f32> = (0..n)
                .map(|i| if i % 2 == 0 { 0.5 } else { f32::NEG_INFINITY })
                .collect();
            kernels.softmax_rows(&mut x, n);
            let kept = n.div_ceil(2) as f32;
            for (i, v) in x.iter().enumerate() {
                let want = if i % 2 == 0 { 1.0 / kept } else { 0.0 };
                assert!(
                    (v - want).abs() <= 1e-6 * want,
                    "{}: [{i}] = {v}",
                    kernels.isa()
                );
            }
        }
    }
}

#[test]
fn softmax_of_an_all_masked_row_is_nan_on_every_isa() {
    for kernels in all_kernels() {
        let mut x = vec![f32::NEG_INFINITY; 2 * 17];
        x[17..].fill(1.0);
        kernels.softmax_rows(&mut x, 17);
        assert!(x[..17].iter().all(|v| v.is_nan()), "{}", kernels.isa());
        assert!(x[17..].iter().all(|v| (v - 1.0 / 17.0).abs() < 1e-7));
    }
}

// ---------------------------------------------------------------------------------------------
// Layer norm

/// A layer-norm case: rows of `x`, a residual, and the row's parameters.
struct NormCase {
    name: String,
    x: Vec<f32>,
    residual: Vec<f32>,
    gamma: Vec<f32>,
    beta: Vec<f32>,
    eps: f32,
}

fn layernorm_cases() -> Vec<NormCase> {
    let mut rng = Rng(2);
    let mut cases = Vec::new();
    for &n in &LENGTHS {
        let gamma: Vec<f32> = rng.vec(n, 1.0).iter().map(|g| 1.0 + 0.5 * g).collect();
        let beta = rng.vec(n, 0.5);
        let rows = 1 + rng.below(3);
        // (label, scale, offset, eps): DistilBERT's eps is 1e-12.
        for (label, scale, offset, eps) in [
            ("centred ±1", 1.0, 0.0, 1e-12),
            ("offset 5 ±1", 1.0, 5.0, 1e-12),
            ("hidden states ±30", 30.0, 0.0, 1e-12),
            ("outliers ±300, eps 1e-5", 300.0, -2.0, 1e-5),
        ] {
            let x = rng
                .vec(rows * n, scale)
                .iter()
                .map(|v| v + offset)
                .collect();
            let residual = rng.vec(rows * n, scale);
            cases.push(NormCase {
                name: format!("{label} {rows}x{n}"),
                x,
                residual,
                gamma: gamma.clone(),
                beta: beta.clone(),
                eps,
            });
        }
    }
    cases
}

/// `|Δ| ≤ |γ|·(2e-6·max(1, |x̂|) + √n·ε·|μ|/σ) + 2e-6·|β|`, with `x̂ = (x - μ)/σ` the normalised
/// value of the input `x` (after any residual add).
///
/// The `√n·ε·|μ|/σ` term is the spec's own rounding: its left-to-right f32 sum of a row with a
/// large mean `μ` is off by about `√n·ε·|μ|` per element (the SIMD sum, in 32 partial sums, is
/// closer), and normalising divides that by `σ`.
fn assert_layernorm_close(what: &str, input: &[f32], got: &[f32], want: &[f32], case: &NormCase) {
    let n = case.gamma.len();
    for (r, row) in input.chunks(n).enumerate() {
        let mean = row.iter().map(|&v| f64::from(v)).sum::<f64>() / n as f64;
        let var = row
            .iter()
            .map(|&v| (f64::from(v) - mean).powi(2))
            .sum::<f64>()
            / n as f64;
        let std = (var + f64::from(case.eps)).sqrt();
        let mean_error = (n as f64).sqrt() * f64::from(f32::EPSILON) * mean.abs() / std;
        for (j, &x) in row.iter().enumerate() {
            let i = r * n + j;
            let (g, w) = (got[i], want[i]);
            let normalised = (f64::from(x) - mean).abs() / std;
            let tol = f64::from(case.gamma[j].abs()) * (2e-6 * normalised.max(1.0) + mean_error)
                + 2e-6 * f64::from(case.beta[j].abs());
            assert!(
                f64::from(g - w).abs() <= tol,
                "{what} [{i}]: got {g}, want {w}"
            );
        }
    }
}

#[test]
fn layernorm_matches_scalar_on_every_simd_isa() {
    for kernels in simd_kernels() {
        for case in layernorm_cases() {
            let mut want = case.x.clone();
            Kernels::scalar().layernorm_rows(&mut want, &case.gamma, &case.beta, case.eps);
            let mut got = case.x.clone();
            kernels.layernorm_rows(&mut got, &case.gamma, &case.beta, case.eps);
            let what = format!("layernorm/{} {}", kernels.isa(), case.name);
            assert_layernorm_close(&what, &case.x, &got, &want, &case);
        }
    }
}

#[test]
fn add_layernorm_matches_scalar_on_every_simd_isa() {
    for kernels in simd_kernels() {
        for case in layernorm_cases() {
            let (gamma, beta, eps) = (&case.gamma, &case.beta, case.eps);
            let mut want = case.x.clone();
            Kernels::scalar().add_layernorm_rows(&mut want, &case.residual, gamma, beta, eps);
            let mut got = case.x.clone();
            kernels.add_layernorm_rows(&mut got, &case.residual, gamma, beta, eps);
            let what = format!("add_layernorm/{} {}", kernels.isa(), case.name);
            let input: Vec<f32> = case
                .x
                .iter()
                .zip(&case.residual)
                .map(|(x, r)| x + r)
                .collect();
            assert_layernorm_close(&what, &input, &got, &want, &case);
        }
    }
}

#[test]
fn layernorm_of_constant_rows_is_beta_on_every_isa() {
    // Constants whose sums are exact in f32, so mean = c and var = 0 exactly, on every path.
    for kernels in all_kernels() {
        for n in LENGTHS {
            for c in [0.0, 2.5, -7.0, 1024.0] {
                let gamma = vec![3.0; n];
                let beta: Vec<f32> = (0..n).map(|i| i as f32 * 0.25).collect();
                let mut x = vec![c; 2 * n];
                kernels.layernorm_rows(&mut x, &gamma, &beta, 1e-12);
                assert_eq!(&x[..n], &beta[..], "{}: c = {c}, n = {n}", kernels.isa());
                assert_eq!(&x[n..], &beta[..]);
                let mut x = vec![c / 2.0; n];
                kernels.add_layernorm_rows(&mut x, &vec![c / 2.0; n], &gamma, &beta, 1e-12);
                assert_eq!(x, beta, "{}: c = {c}, n = {n} (residual)", kernels.isa());
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// GELU

fn gelu_inputs() -> Vec<(String, Vec<f32>)> {
    let mut rng = Rng(3);
    let mut cases = Vec::new();
    for (label, scale) in [("±1", 1.0), ("±5", 5.0), ("±20", 20.0), ("±1e4", 1e4)] {
        for &n in &LENGTHS {
            cases.push((format!("{label} {n}"), rng.vec(n, scale)));
        }
    }
    // Every 1/256 over [-10, 10]: where erf bends and where 1 + erf(x/√2) cancels.
    cases.push((
        "dense -10..10".into(),
        (-2560..=2560).map(|i| i as f32 / 256.0).collect(),
    ));
    cases.push((
        "extremes".into(),
        vec![
            0.0,
            -0.0,
            1e-30,
            -1e-30,
            f32::MIN_POSITIVE,
            13.0,
            -13.0,
            1e30,
            -1e30,
            f32::MAX,
            f32::MIN,
            f32::INFINITY,
        ],
    ));
    cases
}

#[test]
fn gelu_matches_scalar_on_every_simd_isa() {
    for kernels in simd_kernels() {
        for (name, x) in gelu_inputs() {
            let mut want = x.clone();
            Kernels::scalar().gelu(&mut want);
            let mut got = x.clone();
            kernels.gelu(&mut got);
            for ((&g, &w), &v) in got.iter().zip(&want).zip(&x) {
                let tol = 2e-7 * v.abs().max(1.0);
                assert!(
                    g == w || (g - w).abs() <= tol,
                    "gelu/{} {name}: gelu({v:e}) = {g:e}, want {w:e}",
                    kernels.isa()
                );
            }
        }
    }
}

#[test]
fn gelu_gives_the_same_bits_on_one_thread_or_several() {
    // Long enough to be cut into several parallel chunks, with a ragged end.
    let mut rng = Rng(7);
    let x = rng.vec(100_003, 8.0);
    let pool = |threads| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
    };
    for kernels in all_kernels() {
        let mut alone = x.clone();
        pool(1).install(|| kernels.gelu(&mut alone));
        let mut shared = x.clone();
        pool(3).install(|| kernels.gelu(&mut shared));
        let same = alone
            .iter()
            .zip(&shared)
            .all(|(a, b)| a.to_bits() == b.to_bits());
        assert!(same, "gelu/{}: threads changed a result", kernels.isa());
    }
}

#[test]
fn gelu_of_non_finite_inputs_follows_the_formula() {
    for kernels in all_kernels() {
        let mut x = [f32::INFINITY, f32::NEG_INFINITY, f32::NAN];
        kernels.gelu(&mut x);
        // -inf/2 · (1 + erf(-inf)) = -inf · 0 is NaN, as in PyTorch.
        assert_eq!(x[0], f32::INFINITY, "{}", kernels.isa());
        assert!(x[1].is_nan() && x[2].is_nan(), "{}: {x:?}", kernels.isa());
    }
}

/// `erf(x)` in f64 from the series `erf x = 2/√π · e^(-x²) · Σ_n 2ⁿ x^(2n+1) / (1·3·…·(2n+1))`,
/// whose terms are all positive (no cancellation), accurate to about 1e-15 for `|x| ≤ 10`.
fn erf_f64(x: f64) -> f64 {
    let mut term = x;
    let mut sum = x;
    let mut n = 0.0;
    while term.abs() > 1e-17 * sum.abs() {
        n += 1.0;
        term *= 2.0 * x * x / (2.0 * n + 1.0);
        sum += term;
    }
    2.0 / std::f64::consts::PI.sqrt() * (-x * x).exp() * sum
}

#[test]
fn erf_series_matches_tabulated_values() {
    // Abramowitz & Stegun table 7.1, and erf(3) to 16 digits.
    for (x, want) in [
        (0.1, 0.112_462_916_018_284_9),
        (0.5, 0.520_499_877_813_046_5),
        (1.0, 0.842_700_792_949_714_9),
        (2.0, 0.995_322_265_018_952_7),
        (3.0, 0.999_977_909_503_001_4),
    ] {
        assert!(
            (erf_f64(x) - want).abs() < 1e-15,
            "erf({x}) = {}",
            erf_f64(x)
        );
        assert!((erf_f64(-x) + want).abs() < 1e-15);
    }
}

#[test]
fn erf_is_within_abramowitz_stegun_bound_of_f64() {
    // A&S 7.1.26 promises |error| ≤ 1.5e-7. Evaluating it in f32 adds a few roundings of values
    // up to 1.5 (the polynomial's partial sums), under 3ε: this sweep's worst is 4.7e-7.
    let mut worst = 0.0f64;
    for i in -5000..=5000 {
        let x = i as f32 / 1000.0;
        let err = (f64::from(distil_kernels::gelu::erf(x)) - erf_f64(f64::from(x))).abs();
        assert!(err <= 1.5e-7 + 3.0 * 1.19e-7, "erf({x}): error {err:e}");
        worst = worst.max(err);
    }
    eprintln!("erf: worst error {worst:e}");
}

#[test]
fn gelu_is_close_to_f64_on_every_isa() {
    // gelu(x) = x/2·(1 + erf(x/√2)): the erf error (≤ 3.9e-7, above) times |x|/2, plus rounding.
    let x: Vec<f32> = (-8000..=8000).map(|i| i as f32 / 1000.0).collect();
    for kernels in all_kernels() {
        let mut got = x.clone();
        kernels.gelu(&mut got);
        let mut worst = 0.0f64;
        for (&g, &v) in got.iter().zip(&x) {
            let v64 = f64::from(v);
            let want = 0.5 * v64 * (1.0 + erf_f64(v64 / std::f64::consts::SQRT_2));
            let tol = 2.5e-7 * v64.abs().max(1.0);
            worst = worst.max((f64::from(g) - want).abs() / v64.abs().max(1.0));
            assert!(
                (f64::from(g) - want).abs() <= tol,
                "gelu/{}({v}) = {g:e}, want {want:e}",
                kernels.isa()
            );
        }
        eprintln!("gelu/{}: worst error {worst:e}·max(1, |x|)", kernels.isa());
    }
}
