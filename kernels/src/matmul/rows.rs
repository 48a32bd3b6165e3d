//! Where a task's tiles read the rows of `W`: in place (f32, or bf16 multiplied in pairs), or
//! widened from bf16 to f32 one panel and pass at a time.

use std::marker::PhantomData;
use std::ops::Range;

use half::bf16;

use super::tile::{F32Fma, Panel, Step};
use super::widen;
use crate::simd::Vector;

/// Rows of `W` where a task's tiles read them.
pub(super) trait Rows<V: Vector> {
    /// How a step multiplies.
    type D: Step<V>;
    /// Rows `j..j + rows` of the task's `W` over the steps `ks`, as the tiles read them. `buf` has
    /// room for `rows · ks.len()` floats, for a panel that is converted before use.
    fn panel<'a>(
        &'a self,
        j: usize,
        rows: usize,
        ks: Range<usize>,
        buf: &'a mut [f32],
    ) -> Panel<'a, <Self::D as Step<V>>::W>;
}

/// `W` read in place, `k` elements of type `W` a row, each step multiplied as `S` says (f32 FMAs,
/// or bf16 pairs).
pub(super) struct InPlace<'a, W, S> {
    w: &'a [W],
    k: usize,
    step: PhantomData<S>,
}

impl<'a, W, S> InPlace<'a, W, S> {
    /// `w`, `k` elements a row.
    pub(super) fn new(w: &'a [W], k: usize) -> Self {
        InPlace {
            w,
            k,
            step: PhantomData,
        }
    }
}

impl<V: Vector, W: Copy, S: Step<V, W = W>> Rows<V> for InPlace<'_, W, S> {
    type D = S;

    #[inline(always)]
    fn panel<'a>(&'a self, j: usize, rows: usize, ks: Range<usize>, _: &mut [f32]) -> Panel<'a, W> {
        Panel {
            w: &self.w[j * self.k..(j + rows) * self.k],
            rows,
            stride: self.k,
            ks,
        }
    }
}

/// bf16 `W`, `k` elements a row, widened to f32 one panel and pass at a time (exactly: a bf16 is
/// the high half of an f32).
pub(super) struct Widened<'a> {
    pub w: &'a [bf16],
    pub k: usize,
}

impl<V: Vector> Rows<V> for Widened<'_> {
    type D = F32Fma;

    #[inline(always)]
    fn panel<'a>(
        &'a self,
        j: usize,
        rows: usize,
        ks: Range<usize>,
        buf: &'a mut [f32],
    ) -> Panel<'a, f32> {
        let (w, k, steps) = (self.w, self.k, ks.len());
        let buf = &mut buf[..rows * steps];
        for (r, dst) in buf.chunks_exact_mut(steps).enumerate() {
            let src = &w[(j + r) * k..][ks.clone()];
            for (d, &s) in dst.iter_mut().zip(src) {
                *d = widen(s);
            }
        }
        Panel {
            w: buf,
            rows,
            stride: steps,
            ks: 0..steps,
        }
    }
}
