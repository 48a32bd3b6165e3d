//! Attention against its scalar spec and against f64, in f32 and over pairs of bf16.

use distil_kernels::Bf16Dot;
use ndarray::{ArrayView2, ArrayViewMut2, Axis, Slice};

use super::*;

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
