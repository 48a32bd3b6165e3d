//! Every kernel on every instruction set this CPU supports, at DistilBERT's shapes
//! (`dim` 768, `hidden_dim` 3072, 12 heads, sequences of 128).
//!
//! Names are `"<kernel>/<isa>"` and the shape: `"softmax/avx2", "12x128x128"`; matrix products
//! are `m×k×n` and add the thread count: `"linear/avx2/2t", "128x768x3072"`. Throughput is in
//! elements, and for matrix products in FLOPs (`2·m·k·n`), so criterion's `Gelem/s` reads as
//! GFLOP/s there.
//!
//! `cargo bench --bench kernels -- --warm-up-time 1 --measurement-time 2` runs them all in a few
//! minutes; `-- softmax` (or any part of a name) picks some.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, SamplingMode, Throughput};
use distil_kernels::quant::I8Weights;
use distil_kernels::{Bf16Dot, I8Dot, Isa, Kernels};
use ndarray::{Array2, Axis, Slice};
use std::hint::black_box;

/// Every instruction set this CPU runs.
fn supported() -> Vec<Kernels> {
    Isa::ALL
        .into_iter()
        .filter_map(|isa| Kernels::force(isa).ok())
        .collect()
}

/// Deterministic values in `[-scale, scale)` (a multiplicative hash of the index).
fn values(n: usize, scale: f32) -> Vec<f32> {
    (0..n as u32)
        .map(|i| {
            let h = i
                .wrapping_mul(0x9E37_79B9)
                .rotate_left(13)
                .wrapping_mul(0x85EB_CA6B);
            (h >> 8) as f32 / (1u32 << 24) as f32 * 2.0 * scale - scale
        })
        .collect()
}

/// A rayon pool of `threads` threads, to run a kernel on exactly that many.
fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a rayon pool")
}

/// Attention probabilities: 12 heads × 128 queries, rows of 128 keys. Softmax is applied again
/// and again to the same buffer; its output is a valid input, so each run does the same work.
fn softmax(c: &mut Criterion) {
    let (heads, seq) = (12, 128);
    for kernels in supported() {
        let mut group = c.benchmark_group(format!("softmax/{}", kernels.isa()));
        group.throughput(Throughput::Elements((heads * seq * seq) as u64));
        let mut x = values(heads * seq * seq, 8.0);
        group.bench_function(format!("{heads}x{seq}x{seq}"), |b| {
            b.iter(|| kernels.softmax_rows(black_box(&mut x), seq))
        });
        group.finish();
    }
}

/// The block's layer norms: 128 tokens × 768, plain and with the residual add fused. Repeated in
/// place, as the output of a layer norm is a fine input to the next.
fn layernorm(c: &mut Criterion) {
    let (tokens, dim) = (128, 768);
    let gamma: Vec<f32> = values(dim, 0.5).iter().map(|g| 1.0 + g).collect();
    let beta = values(dim, 0.5);
    let residual = values(tokens * dim, 2.0);
    for kernels in supported() {
        let mut group = c.benchmark_group(format!("layernorm/{}", kernels.isa()));
        group.throughput(Throughput::Elements((tokens * dim) as u64));
        let mut x = values(tokens * dim, 3.0);
        group.bench_function(format!("{tokens}x{dim}"), |b| {
            b.iter(|| kernels.layernorm_rows(black_box(&mut x), &gamma, &beta, 1e-12))
        });
        group.finish();

        let mut group = c.benchmark_group(format!("add_layernorm/{}", kernels.isa()));
        group.throughput(Throughput::Elements((tokens * dim) as u64));
        group.bench_function(format!("{tokens}x{dim}"), |b| {
            b.iter(|| {
                kernels.add_layernorm_rows(black_box(&mut x), &residual, &gamma, &beta, 1e-12)
            })
        });
        group.finish();
    }
}

/// The feed-forward activation: 128 tokens × 3072. GELU is not idempotent (repeated, it drives
/// values toward subnormals), so every run starts from a fresh copy, made outside the timing.
fn gelu(c: &mut Criterion) {
    let (tokens, hidden) = (128, 3072);
    let x = values(tokens * hidden, 4.0);
    for kernels in supported() {
        let mut group = c.benchmark_group(format!("gelu/{}", kernels.isa()));
        group.throughput(Throughput::Elements((tokens * hidden) as u64));
        group.bench_function(format!("{tokens}x{hidden}"), |b| {
            b.iter_batched_ref(|| x.clone(), |x| kernels.gelu(x), BatchSize::LargeInput)
        });
        group.finish();
    }
}

/// Word embeddings: 128 ids into distilbert-base-cased's 28996 × 768 table, then the position
/// embeddings added. The same scalar copy on every instruction set.
fn gather(c: &mut Criterion) {
    let (vocab, dim, tokens) = (28_996, 768, 128);
    let table = values(vocab * dim, 1.0);
    let positions = values(512 * dim, 1.0);
    let ids: Vec<u32> = (0..tokens as u32)
        .map(|i| i.wrapping_mul(7919) % vocab as u32)
        .collect();
    let position_ids: Vec<u32> = (0..tokens as u32).collect();
    let mut out = vec![0.0; tokens * dim];
    for kernels in supported() {
        let mut group = c.benchmark_group(format!("gather/{}", kernels.isa()));
        group.throughput(Throughput::Elements((tokens * dim) as u64));
        group.bench_function(format!("{tokens}x{dim}"), |b| {
            b.iter(|| {
                kernels.gather_rows(&table, dim, black_box(&ids), &mut out);
                kernels.gather_add_rows(&positions, dim, &position_ids, &mut out);
            })
        });
        group.finish();
    }
}

/// Every projection of the model: `y = x·Wᵀ + b` for the attention's q/k/v/out (768 → 768) and the
/// feed-forward network's two layers (768 → 3072, 3072 → 768), at 1, 12, 128 and 512 tokens, and
/// the MLM head's vocabulary projection (768 → 28996) at one token (a single `[MASK]`), on one and
/// two threads. The scalar twin is timed at 1 and 12 tokens only (it takes seconds beyond).
///
/// Before each shape the FP32 FMA peak on as many threads ([`distil_kernels::peak::fma_gflops`])
/// is measured and printed (`peak/avx2/2t/128x768x768: … GFLOP/s`), so that the kernel's GFLOP/s
/// can be read as a share of a peak measured at the same time: the machine may be shared, and the
/// share of it this process gets may change from one shape to the next.
fn linear(c: &mut Criterion) {
    let shapes = [(768, 768), (768, 3072), (3072, 768)];
    let head = (768, 28_996);
    for kernels in supported() {
        for threads in [1, 2] {
            let pool = pool(threads);
            let mut group = c.benchmark_group(format!("linear/{}/{threads}t", kernels.isa()));
            group.sample_size(10).sampling_mode(SamplingMode::Flat);
            for m in [1, 12, 128, 512] {
                if kernels.isa() == Isa::Scalar && m > 12 {
                    continue;
                }
                let with_head = (m == 1).then_some(head);
                for (k, n) in shapes.into_iter().chain(with_head) {
                    let x = values(m * k, 1.0);
                    let w = values(n * k, 0.05);
                    let bias = values(n, 0.1);
                    let mut y = vec![0.0; m * n];
                    let shape = format!("{m}x{k}x{n}");
                    let mut peak_measured = false;
                    group.throughput(Throughput::Elements((2 * m * k * n) as u64));
                    group.bench_function(&shape, |b| {
                        // Criterion calls this for the warm-up and again for the samples (and not
                        // at all if the filter leaves the shape out): the peak once, first.
                        if !peak_measured {
                            let peak = distil_kernels::peak::fma_gflops(kernels, threads, 0.25);
                            eprintln!(
                                "peak/{}/{threads}t/{shape}: {peak:.1} GFLOP/s",
                                kernels.isa()
                            );
                            peak_measured = true;
                        }
                        pool.install(|| {
                            b.iter(|| kernels.linear(black_box(&x), &w, &bias, &mut y, m))
                        })
                    });
                }
            }
            group.finish();
        }
    }
}

/// The linear layer with bf16 weights, at the shapes and thread counts of [`linear`] (2 threads
/// only), both ways this CPU can multiply them: in pairs (`vdpbf16ps`, with AVX-512 BF16) and
/// widened to f32 (`"linear_bf16/avx512/widened/2t"`).
fn linear_bf16(c: &mut Criterion) {
    let shapes = [(768, 768), (768, 3072), (3072, 768)];
    let threads = 2;
    let pool = pool(threads);
    for kernels in supported().into_iter().filter(|k| k.isa() != Isa::Scalar) {
        let ways = Bf16Dot::ALL.map(|dot| kernels.with_bf16_dot(dot));
        for kernels in ways.into_iter().flatten() {
            let name = format!(
                "linear_bf16/{}/{}/{threads}t",
                kernels.isa(),
                kernels.bf16_dot()
            );
            let mut group = c.benchmark_group(name);
            group.sample_size(10).sampling_mode(SamplingMode::Flat);
            for m in [1, 12, 128, 512] {
                for (k, n) in shapes {
                    let x = values(m * k, 1.0);
                    let w: Vec<half::bf16> = values(n * k, 0.05)
                        .into_iter()
                        .map(half::bf16::from_f32)
                        .collect();
                    let bias = values(n, 0.1);
                    let mut y = vec![0.0; m * n];
                    group.throughput(Throughput::Elements((2 * m * k * n) as u64));
                    group.bench_function(format!("{m}x{k}x{n}"), |b| {
                        pool.install(|| {
                            b.iter(|| kernels.linear_bf16(black_box(&x), &w, &bias, &mut y, m))
                        })
                    });
                }
            }
            group.finish();
        }
    }
}

/// The int8 linear layer ([`Kernels::linear_i8`]) at the shapes of [`linear`], on 2 threads, with
/// each instruction set's ways of multiplying bytes that this CPU has
/// (`"linear_i8/avx512/tdpbusd/2t"`, `"linear_i8/avx512/vpdpbusd/2t"`,
/// `"linear_i8/avx2/vpmaddubsw/2t"`). The time includes quantizing `x`, as the model pays it.
fn linear_i8(c: &mut Criterion) {
    let shapes = [(768, 768), (768, 3072), (3072, 768)];
    let threads = 2;
    let pool = pool(threads);
    let ways = supported()
        .into_iter()
        .flat_map(|k| I8Dot::ALL.map(|dot| k.with_i8_dot(dot)));
    for kernels in ways.flatten().filter(|k| k.i8_dot() != I8Dot::Scalar) {
        let name = format!(
            "linear_i8/{}/{}/{threads}t",
            kernels.isa(),
            kernels.i8_dot().name()
        );
        let mut group = c.benchmark_group(name);
        group.sample_size(10).sampling_mode(SamplingMode::Flat);
        for m in [1, 12, 128, 512] {
            for (k, n) in shapes {
                let x = values(m * k, 1.0);
                let w = I8Weights::quantize(&values(n * k, 0.05), k);
                let bias = values(n, 0.1);
                let mut y = vec![0.0; m * n];
                group.throughput(Throughput::Elements((2 * m * k * n) as u64));
                group.bench_function(format!("{m}x{k}x{n}"), |b| {
                    pool.install(|| {
                        b.iter(|| kernels.linear_i8(black_box(&x), w.rows(), &bias, &mut y, m))
                    })
                });
            }
        }
        group.finish();
    }
}

/// Attention of every head (`softmax(q_h·k_hᵀ/8)·v_h`) on strided views of the `[seq, 768]` q, k,
/// v matrices as the model has them, 12 heads of 64 at 128 and 512 tokens, on one thread: in f32
/// (`"attention/avx512/f32"`) and over pairs of bf16 (`"attention/avx512/bf16-pairs"` with
/// `vdpbf16ps`, `"attention/avx512/bf16-widened"` without).
fn attention(c: &mut Criterion) {
    let (dim, heads) = (768, 12);
    let head_dim = dim / heads;
    let head = |h: usize| Slice::from(h * head_dim..(h + 1) * head_dim);
    let ways = supported().into_iter().flat_map(|k| {
        // The scalar twin in bf16 is a spec, not a kernel to time.
        let simd = k.isa() != Isa::Scalar;
        let bf16 = Bf16Dot::ALL.map(|dot| k.with_bf16_dot(dot).ok().filter(|_| simd));
        let bf16 = bf16.map(|k| k.map(|k| (k, true)));
        std::iter::once(Some((k, false))).chain(bf16).flatten()
    });
    for (kernels, bf16) in ways {
        let products = if bf16 {
            format!("bf16-{}", kernels.bf16_dot())
        } else {
            "f32".to_string()
        };
        let mut group = c.benchmark_group(format!("attention/{}/{products}", kernels.isa()));
        group.sample_size(10).sampling_mode(SamplingMode::Flat);
        for seq in [128, 512] {
            let matrix = || Array2::from_shape_vec((seq, dim), values(seq * dim, 1.0)).unwrap();
            let (q, k, v) = (matrix(), matrix(), matrix());
            let mut context = Array2::<f32>::zeros((seq, dim));
            let mut scratch = vec![0.0; kernels.attention_scratch(seq, seq, head_dim, head_dim)];
            group.throughput(Throughput::Elements(
                (4 * heads * seq * seq * head_dim) as u64,
            ));
            group.bench_function(format!("{heads}x{seq}x{head_dim}"), |b| {
                b.iter(|| {
                    for h in 0..heads {
                        let (qh, kh, vh) = (
                            q.slice_axis(Axis(1), head(h)),
                            k.slice_axis(Axis(1), head(h)),
                            v.slice_axis(Axis(1), head(h)),
                        );
                        let out = context.slice_axis_mut(Axis(1), head(h));
                        if bf16 {
                            kernels.attention_bf16(0.125, qh, kh, vh, out, &mut scratch);
                        } else {
                            kernels.attention(0.125, qh, kh, vh, out, &mut scratch);
                        }
                    }
                })
            });
        }
        group.finish();
    }
}

criterion_group!(
    benches,
    linear_i8,
    softmax,
    layernorm,
    gelu,
    gather,
    linear,
    linear_bf16,
    attention
);
criterion_main!(benches);
