//! How far `--dtype bf16` moves a model's outputs from f32:
//! `cargo run --release --example dtype_accuracy -- MODEL [BATCH] [SEQ]`.
//!
//! Runs `BATCH` sequences of `SEQ` random token ids (a fixed seed; 20 × 128 by default) through the
//! model in f32 and in bf16, every way the kernels multiply bf16 on this CPU (pairs with AVX-512
//! BF16; widened to f32, on the fastest kernels and on AVX2), and prints the cosine of the hidden states to
//! f32's per token (mean and lowest) and of all of them at once; with an MLM head, how often the
//! top-1 token agrees with f32's at every 4th position.
use distil::{Bf16Dot, Dtype, Engine, Hidden, Isa, Options};
use ndarray::{ArrayView1, Axis};

fn main() -> distil::Result<()> {
    let mut args = std::env::args().skip(1);
    let model = args
        .next()
        .expect("usage: dtype_accuracy MODEL [BATCH] [SEQ]");
    let mut number = |default: usize| args.next().map_or(default, |a| a.parse().expect("a count"));
    let (batch, seq) = (number(20), number(128));

    let load = |dtype, isa, bf16_dot| {
        let options = Options {
            dtype,
            isa,
            bf16_dot,
            ..Options::default()
        };
        Engine::load(&model, &options)
    };
    let f32s = load(Dtype::F32, None, None)?;
    let sequences = random_ids(batch, seq, f32s.config().vocab_size as u32);
    let refs: Vec<&[u32]> = sequences.iter().map(Vec::as_slice).collect();
    let want = f32s.forward(&refs)?;
    let rows: Vec<usize> = (0..batch * seq).step_by(4).collect();
    let want_top1 = f32s
        .mask_id()
        .is_ok()
        .then(|| top1(&f32s, &want, &rows))
        .transpose()?;

    let ways = [
        (Some(Isa::Avx512), Some(Bf16Dot::Pairs)),
        (None, Some(Bf16Dot::Widened)),
        (Some(Isa::Avx2), None),
    ];
    for (isa, bf16_dot) in ways {
        let engine = match load(Dtype::Bf16, isa, bf16_dot) {
            Ok(engine) => engine,
            Err(e) => {
                println!("skipping bf16 on {isa:?} with {bf16_dot:?}: {e}");
                continue;
            }
        };
        let got = engine.forward(&refs)?;
        let per_token: Vec<f64> = got
            .states()
            .rows()
            .into_iter()
            .zip(want.states().rows())
            .map(|(g, w)| cosine(g, w))
            .collect();
        let mean = per_token.iter().sum::<f64>() / per_token.len() as f64;
        let lowest = per_token.iter().copied().fold(1.0, f64::min);
        let flat = |h: &Hidden| h.states().iter().copied().collect::<Vec<f32>>();
        let all = cosine(
            ArrayView1::from(&flat(&got)),
            ArrayView1::from(&flat(&want)),
        );
        print!(
            "bf16 on {} ({}), {batch}x{seq}: hidden states cosine per token mean {mean:.7}, lowest {lowest:.7}; all at once {all:.7}",
            engine.isa(),
            engine.bf16_dot().map_or("no bf16", Bf16Dot::name)
        );
        if let Some(want_top1) = &want_top1 {
            let got_top1 = top1(&engine, &got, &rows)?;
            let same = got_top1
                .iter()
                .zip(want_top1)
                .filter(|(g, w)| g == w)
                .count();
            print!(
                "; MLM top-1 as f32's at {:.1}% of {} positions",
                100.0 * same as f64 / rows.len() as f64,
                rows.len()
            );
        }
        println!();
    }
    Ok(())
}

/// The MLM head's most likely token at each of `rows`.
fn top1(engine: &Engine, hidden: &Hidden, rows: &[usize]) -> distil::Result<Vec<usize>> {
    let logits = engine.mlm_logits(hidden, rows)?;
    Ok(logits
        .axis_iter(Axis(0))
        .map(|row| {
            row.iter()
                .enumerate()
                .fold(
                    (0, f32::MIN),
                    |best, (i, &v)| if v > best.1 { (i, v) } else { best },
                )
                .0
        })
        .collect())
}

fn cosine(a: ArrayView1<'_, f32>, b: ArrayView1<'_, f32>) -> f64 {
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum();
    let norm = |v: ArrayView1<'_, f32>| v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    dot / (norm(a) * norm(b))
}

/// `batch` sequences of `seq` ids in `5..vocab` (past the special tokens of BERT vocabularies), from
/// a fixed-seed generator.
fn random_ids(batch: usize, seq: usize, vocab: u32) -> Vec<Vec<u32>> {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    (0..batch)
        .map(|_| {
            (0..seq)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    5 + (state % u64::from(vocab - 5)) as u32
                })
                .collect()
        })
        .collect()
}
