//! Per-operation timing of the forward pass, for `distil profile`.
//!
//! The model calls [`Profiler::time`] around each operation; a disabled profiler only runs the
//! closure (one branch), so the same code path is timed and used. Inside attention the heads run
//! in parallel, each timing its own `softmax(q·kᵀ)·v`: those add thread time
//! divided by the pool's thread count, an estimate of their share of the wall time.

// Without the `profile` feature only `Profiler::off` and `time` are used (by the forward pass).
#![cfg_attr(not(feature = "profile"), allow(dead_code))]

use std::sync::Mutex;
use std::time::Instant;

/// The operations of a forward pass, in the order they run ([`Op::name`] gives each its
/// checkpoint name).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[allow(missing_docs)]
pub enum Op {
    Embeddings,
    QkvLin,
    Attention,
    OutLin,
    SaLayerNorm,
    Lin1,
    Activation,
    Lin2,
    OutputLayerNorm,
    MlmHead,
}

impl Op {
    /// Every operation, in the order they run.
    pub const ALL: [Op; 10] = [
        Op::Embeddings,
        Op::QkvLin,
        Op::Attention,
        Op::OutLin,
        Op::SaLayerNorm,
        Op::Lin1,
        Op::Activation,
        Op::Lin2,
        Op::OutputLayerNorm,
        Op::MlmHead,
    ];

    /// Whether the operation's arithmetic is a linear layer's (in the dtype of `--dtype`); the
    /// others (attention's products, the row kernels) always compute in f32.
    pub fn is_linear(self) -> bool {
        matches!(
            self,
            Op::QkvLin | Op::OutLin | Op::Lin1 | Op::Lin2 | Op::MlmHead
        )
    }

    /// The name in the checkpoint's terms.
    pub fn name(self) -> &'static str {
        match self {
            Op::Embeddings => "embeddings",
            Op::QkvLin => "attention.{q,k,v}_lin",
            Op::Attention => "attention softmax(q·kᵀ)·v",
            Op::OutLin => "attention.out_lin",
            Op::SaLayerNorm => "sa_layer_norm (+residual)",
            Op::Lin1 => "ffn.lin1",
            Op::Activation => "ffn activation (GELU)",
            Op::Lin2 => "ffn.lin2",
            Op::OutputLayerNorm => "output_layer_norm (+residual)",
            Op::MlmHead => "MLM head",
        }
    }
}

/// Time and work of one operation, summed over layers.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct OpTotal {
    /// Wall time (thread time over the pool's threads, for the per-head steps of attention).
    pub seconds: f64,
    /// Floating-point operations (a multiply-add counts as two).
    pub flops: f64,
}

/// Collects [`OpTotal`]s when enabled.
pub struct Profiler {
    totals: Option<Mutex<Vec<OpTotal>>>,
}

impl Profiler {
    /// A profiler that records nothing.
    pub fn off() -> Self {
        Profiler { totals: None }
    }

    /// A profiler that records every operation.
    pub fn on() -> Self {
        Profiler {
            totals: Some(Mutex::new(vec![OpTotal::default(); Op::ALL.len()])),
        }
    }

    /// Whether this profiler records.
    pub fn is_on(&self) -> bool {
        self.totals.is_some()
    }

    /// Runs `f`, recording its wall time and `flops` under `op`.
    pub fn time<R>(&self, op: Op, flops: f64, f: impl FnOnce() -> R) -> R {
        if !self.is_on() {
            return f();
        }
        let start = Instant::now();
        let out = f();
        self.add(op, start.elapsed().as_secs_f64(), flops);
        out
    }

    /// Runs `f` on one of `threads` parallel tasks: records its time divided by `threads`.
    pub fn time_parallel<R>(&self, op: Op, flops: f64, threads: usize, f: impl FnOnce() -> R) -> R {
        if !self.is_on() {
            return f();
        }
        let start = Instant::now();
        let out = f();
        self.add(
            op,
            start.elapsed().as_secs_f64() / threads.max(1) as f64,
            flops,
        );
        out
    }

    fn add(&self, op: Op, seconds: f64, flops: f64) {
        if let Some(totals) = &self.totals {
            // A poisoned lock only means another task panicked; the totals are still plain numbers.
            let mut totals = totals.lock().unwrap_or_else(|e| e.into_inner());
            let t = &mut totals[op as usize];
            t.seconds += seconds;
            t.flops += flops;
        }
    }

    /// The totals per operation, in [`Op::ALL`] order.
    pub fn totals(&self) -> Vec<(Op, OpTotal)> {
        let totals = match &self.totals {
            Some(t) => t.lock().unwrap_or_else(|e| e.into_inner()).clone(),
            None => vec![OpTotal::default(); Op::ALL.len()],
        };
        Op::ALL.into_iter().zip(totals).collect()
    }
}
