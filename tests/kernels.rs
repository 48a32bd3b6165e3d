//! One case table per kernel, run on every SIMD instruction set and compared with the scalar spec
//! (`Kernels::scalar()`), each with the tolerance it is held to:
//!
//! | kernel | tolerance against the scalar spec |
//! | --- | --- |
//! | softmax | `|Δ| ≤ (1e-6 + n·ε/4)·|y| + MIN_POSITIVE` (`n` the row length: the scalar sum's own rounding) |
//! | layernorm, add+layernorm | `|Δ| ≤ |γ|·(2e-6·max(1, |x̂|) + √n·ε·|μ|/σ) + 2e-6·|β|` (`μ`, `σ` the row's mean and deviation) |
//! | gelu | `|Δ| ≤ 2e-7·max(1, |x|)` |
//! | attention | `|Δ| ≤ 2(1e-6 + n·ε/4)·Σ_j p_j·|v_jc|` (`n` keys; the softmax's bound, weighted by `v`) |
//! | linear | none: bit for bit, on 1 and 2 threads |
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

use distil_kernels::matmul::I8Layer;
use distil_kernels::quant::{I8Layout, I8Weights, TokenQuant};
use distil_kernels::testing::{all_kernels, i8_kernels, simd_kernels};
use distil_kernels::{Bf16Dot, Kernels};
use ndarray::{ArrayView2, ArrayViewMut2, Axis, Slice};

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

// ---------------------------------------------------------------------------------------------
// Attention

/// Queries, keys, head width and `v` width of the attention cases: one query or key, the shapes
/// around the tiles (8 queries, 16 or 48 keys), widths that are not multiples of 8 or 16, and the
/// model's heads (64 wide, 12 to 300 tokens).
const ATTENTION_CASES: [(usize, usize, usize, usize); 9] = [
    (1, 1, 1, 1),
    (1, 12, 64, 64),
    (5, 7, 3, 10),
    (12, 12, 64, 64),
    (8, 48, 16, 16),
    (17, 33, 13, 17),
    (40, 129, 32, 32),
    (128, 128, 64, 64),
    (9, 300, 64, 48),
];

/// One attention case's inputs, each a column slice of a wider matrix (as a head is of the
/// model's `q`, `k`, `v`), and the f64 facts its bounds need.
struct AttentionCase {
    shape: (usize, usize, usize, usize),
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    scale: f32,
}

/// Extra columns around each head: the views' row strides exceed their widths.
const LEFT: usize = 2;
const RIGHT: usize = 3;

impl AttentionCase {
    fn new(rng: &mut Rng, shape: (usize, usize, usize, usize)) -> Self {
        let (m, n, d, dv) = shape;
        AttentionCase {
            shape,
            q: rng.vec(m * (LEFT + d + RIGHT), 2.0),
            k: rng.vec(n * (LEFT + d + RIGHT), 2.0),
            v: rng.vec(n * (LEFT + dv + RIGHT), 1.0),
            scale: 1.0 / (d as f32).sqrt(),
        }
    }

    /// The head: columns `LEFT..LEFT + width` of a matrix with `rows` rows.
    fn head(data: &[f32], rows: usize, width: usize) -> ArrayView2<'_, f32> {
        let full = ArrayView2::from_shape((rows, LEFT + width + RIGHT), data).unwrap();
        full.slice_axis_move(Axis(1), Slice::from(LEFT..LEFT + width))
    }

    /// `ctx` from `kernels` in the head columns of a wider matrix whose other columns hold NaN
    /// (checked untouched), with a NaN-filled scratch.
    fn run(&self, kernels: Kernels) -> Vec<f32> {
        self.run_in(kernels, false)
    }

    /// [`run`](Self::run), with the products over pairs of bf16 if `bf16`.
    fn run_in(&self, kernels: Kernels, bf16: bool) -> Vec<f32> {
        let (m, n, d, dv) = self.shape;
        let width = LEFT + dv + RIGHT;
        let mut out = vec![f32::NAN; m * width];
        let mut full = ArrayViewMut2::from_shape((m, width), &mut out).unwrap();
        let ctx = full.slice_axis_mut(Axis(1), Slice::from(LEFT..LEFT + dv));
        let mut scratch = vec![f32::NAN; kernels.attention_scratch(m, n, d, dv)];
        let (q, k) = (Self::head(&self.q, m, d), Self::head(&self.k, n, d));
        let v = Self::head(&self.v, n, dv);
        if bf16 {
            kernels.attention_bf16(self.scale, q, k, v, ctx, &mut scratch);
        } else {
            kernels.attention(self.scale, q, k, v, ctx, &mut scratch);
        }
        let mut head = Vec::with_capacity(m * dv);
        for row in out.chunks_exact(width) {
            assert!(row[..LEFT]
                .iter()
                .chain(&row[LEFT + dv..])
                .all(|x| x.is_nan()));
            head.extend_from_slice(&row[LEFT..LEFT + dv]);
        }
        head
    }

    /// In f64: `ctx`, and per element the scale of its error, `Σ_j p_j·|v_jc|`, and per query the
    /// most any f32 score can be off (`γ_d·scale·Σ_t |q_t·k_jt|`, its chain's rounding).
    fn reference(&self) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let (m, n, d, dv) = self.shape;
        let (q, k) = (Self::head(&self.q, m, d), Self::head(&self.k, n, d));
        let v = Self::head(&self.v, n, dv);
        let gamma = |n: usize| n as f64 * f64::from(f32::EPSILON) / 2.0 * 1.01;
        let (mut ctx, mut size, mut score_err) = (vec![], vec![], vec![]);
        for q_i in q.rows() {
            let (mut s, mut err) = (vec![0.0f64; n], 0.0f64);
            for (s_j, k_j) in s.iter_mut().zip(k.rows()) {
                let products = q_i
                    .iter()
                    .zip(k_j)
                    .map(|(a, b)| f64::from(*a) * f64::from(*b));
                let (dot, abs) = products.fold((0.0, 0.0), |(d, a), p| (d + p, a + p.abs()));
                *s_j = dot * f64::from(self.scale);
                err = err.max(gamma(d + 1) * abs * f64::from(self.scale));
            }
            let max = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = s.iter().map(|x| (x - max).exp()).collect();
            let sum: f64 = e.iter().sum();
            for c in 0..dv {
                let column = v.column(c);
                let weighted = e.iter().zip(column).map(|(e, x)| e / sum * f64::from(*x));
                ctx.push(weighted.clone().sum());
                size.push(weighted.map(f64::abs).sum());
            }
            score_err.push(err);
        }
        (ctx, size, score_err)
    }
}

#[test]
fn attention_simd_is_within_the_softmax_bound_of_the_scalar_spec() {
    let mut rng = Rng(4);
    for shape in ATTENTION_CASES {
        let case = AttentionCase::new(&mut rng, shape);
        let (_, n, _, dv) = shape;
        let (_, size, _) = case.reference();
        let want = case.run(Kernels::scalar());
        for kernels in simd_kernels() {
            // The scores are the spec's bit for bit; each probability is within the softmax's bound
            // (`(1e-6 + n·ε/4)·p`, doubled for the product's own rounding) and the context adds
            // them up weighted by |v|.
            let tol = 2.0 * (1e-6 + n as f64 * f64::from(f32::EPSILON) / 4.0);
            for (at, (got, want)) in case.run(kernels).iter().zip(&want).enumerate() {
                let bound = tol * size[at] + 1e-30;
                assert!(
                    (f64::from(*got) - f64::from(*want)).abs() <= bound,
                    "attention/{} {shape:?} ({}, {}): {got} against {want}",
                    kernels.isa(),
                    at / dv,
                    at % dv
                );
            }
        }
    }
}

#[test]
fn attention_is_within_its_rounding_bound_of_f64_on_every_isa() {
    let mut rng = Rng(5);
    for shape in ATTENTION_CASES {
        let case = AttentionCase::new(&mut rng, shape);
        let (_, n, _, dv) = shape;
        let (ctx, size, score_err) = case.reference();
        for kernels in all_kernels() {
            for (at, got) in case.run(kernels).iter().enumerate() {
                // A score off by δ moves the weights by a factor within e^(±2δ); then the
                // softmax's and the context's own roundings.
                let rel =
                    2.5 * score_err[at / dv] + 2e-6 + 2.0 * n as f64 * f64::from(f32::EPSILON);
                let bound = rel * size[at] + 1e-30;
                assert!(
                    (f64::from(*got) - ctx[at]).abs() <= bound,
                    "attention/{} {shape:?} ({}, {}): {got} against {}",
                    kernels.isa(),
                    at / dv,
                    at % dv,
                    ctx[at]
                );
            }
        }
    }
}

#[test]
fn attention_bf16_simd_is_within_a_bf16_rounding_of_the_scalar_spec() {
    let mut rng = Rng(6);
    for shape in ATTENTION_CASES {
        let case = AttentionCase::new(&mut rng, shape);
        let (_, n, _, dv) = shape;
        let (_, size, _) = case.reference();
        let want = case.run_in(Kernels::scalar(), true);
        for kernels in simd_kernels() {
            // The scores are the spec's bit for bit, the probabilities within the softmax's bound
            // of its; rounded to bf16 a probability can then land one bf16 step (2⁻⁸ relative)
            // away from the spec's.
            let tol = 2.0 * (1e-6 + n as f64 * f64::from(f32::EPSILON) / 4.0) + 2f64.powi(-8);
            for (at, (got, want)) in case.run_in(kernels, true).iter().zip(&want).enumerate() {
                let bound = tol * size[at] + 1e-30;
                assert!(
                    (f64::from(*got) - f64::from(*want)).abs() <= bound,
                    "attention_bf16/{}/{} {shape:?} ({}, {}): {got} against {want}",
                    kernels.isa(),
                    kernels.bf16_dot(),
                    at / dv,
                    at % dv
                );
            }
        }
    }
}

#[test]
fn attention_bf16_is_within_its_rounding_bound_of_f64_on_every_isa() {
    let mut rng = Rng(7);
    let gamma = |n: usize| n as f64 * f64::from(f32::EPSILON) / 2.0 * 1.01;
    for shape in ATTENTION_CASES {
        let case = AttentionCase::new(&mut rng, shape);
        let (_, n, d, dv) = shape;
        let (ctx, size, score_err) = case.reference();
        for kernels in all_kernels() {
            for (at, got) in case.run_in(kernels, true).iter().enumerate() {
                // q and k rounded to bf16 (2⁻⁹ relative each) move each product by up to 2⁻⁸ of
                // its size, on top of the chain's rounding; the probabilities and v rounded to
                // bf16 move the context by up to 2⁻⁸ of its size.
                let bf16_score_err =
                    score_err[at / dv] * (1.0 + 2f64.powi(-8) * 1.01 / gamma(d + 1));
                let rel = 2.5 * bf16_score_err
                    + 2f64.powi(-8) * 1.01
                    + 2e-6
                    + 2.0 * n as f64 * f64::from(f32::EPSILON);
                let bound = rel * size[at] + 1e-30;
                assert!(
                    (f64::from(*got) - ctx[at]).abs() <= bound,
                    "attention_bf16/{} {shape:?} ({}, {}): {got} against {}",
                    kernels.isa(),
                    at / dv,
                    at % dv,
                    ctx[at]
                );
            }
        }
    }
}

#[test]
fn attention_bf16_by_vdpbf16ps_equals_the_widened_pairs_bit_for_bit() {
    let fastest = Kernels::fastest();
    let (Ok(pairs), Ok(widened)) = (
        fastest.with_bf16_dot(Bf16Dot::Pairs),
        fastest.with_bf16_dot(Bf16Dot::Widened),
    ) else {
        eprintln!("skipped: this CPU has no AVX-512 BF16");
        return;
    };
    let mut rng = Rng(8);
    for shape in ATTENTION_CASES {
        let case = AttentionCase::new(&mut rng, shape);
        let bits = |ctx: Vec<f32>| ctx.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(
            bits(case.run_in(pairs, true)),
            bits(case.run_in(widened, true)),
            "{shape:?}"
        );
    }
}

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

/// The int8 layer of each linear case: `W` quantized once in each layout, and the scalar twin's
/// `y`.
struct I8Case {
    w: [I8Weights; 2],
    want: Vec<f32>,
}

fn i8_cases() -> &'static [I8Case] {
    static CASES: std::sync::OnceLock<Vec<I8Case>> = std::sync::OnceLock::new();
    CASES.get_or_init(|| {
        linear_cases()
            .iter()
            .map(|case| {
                let w = I8_LAYOUTS.map(|layout| I8Weights::quantize(&case.w, case.k, layout));
                let mut want = vec![f32::NAN; case.m * case.n];
                Kernels::scalar().linear_i8(&case.x, w[0].rows(), &case.bias, &mut want, case.m);
                I8Case { w, want }
            })
            .collect()
    })
}

const I8_LAYOUTS: [I8Layout; 2] = [I8Layout::Vectors, I8Layout::Amx];

#[test]
fn linear_i8_equals_its_scalar_twin_bit_for_bit_on_one_and_two_threads() {
    // Integer sums: AMX, VNNI, AVX2's vpmaddubsw and the twin give the same answers, whatever the
    // tile, the blocking, the threads or the weights' layout (k not a multiple of 4, or a layout
    // the way does not read, takes the twin; the twin reads both layouts).
    let ways = i8_kernels();
    let pools = pools();
    for (case, I8Case { w, want }) in linear_cases().iter().zip(i8_cases()) {
        let LinearCase { m, k, n, .. } = *case;
        for (threads, pool) in [1, 2].into_iter().zip(&pools) {
            for (w, layout) in w.iter().zip(I8_LAYOUTS) {
                for &kernels in &ways {
                    let mut y = vec![f32::NAN; m * n];
                    pool.install(|| kernels.linear_i8(&case.x, w.rows(), &case.bias, &mut y, m));
                    if let Some(at) = (0..m * n).find(|&e| y[e].to_bits() != want[e].to_bits()) {
                        panic!(
                            "linear_i8/{} ({}, W {layout:?}) {m}x{k}x{n} on {threads} threads ({}, {}): got {:e}, the twin {:e}",
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
        for layout in I8_LAYOUTS {
            let weights = widths.map(|n| I8Weights::quantize(&rng.vec(n * k, 0.5), k, layout));
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
                        "{} ({}, W {layout:?}) {m}x{k}",
                        kernels.isa(),
                        kernels.i8_dot()
                    );
                }
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
        let w = I8Weights::quantize(&w, k, kernels.i8_layout());
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
