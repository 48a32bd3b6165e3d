//! Where a task's tiles read the rows of `W`: in place (f32, or bf16 multiplied in pairs), or
//! widened from bf16 to f32 one panel and pass at a time.

use std::marker::PhantomData;
use std::ops::Range;

use half::bf16;

use super::tile::{F32Fma, Panel, Step};
use super::widen;
use crate::quant::{I8Layout, I8Rows};
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
            step: S::PER_STEP,
            ks,
        }
    }
}

/// int8 `W` in panels of 8 rows ([`I8Layout::Vectors`]), multiplied as `S` says
/// (a quad of bytes a step): the task's rows start on a panel.
pub(super) struct I8Panels<'a, S> {
    w: I8Rows<'a>,
    step: PhantomData<S>,
}

impl<'a, S> I8Panels<'a, S> {
    pub(super) fn new(w: I8Rows<'a>) -> Self {
        I8Panels {
            w,
            step: PhantomData,
        }
    }
}

impl<V: Vector, S: Step<V, W = i8>> Rows<V> for I8Panels<'_, S> {
    type D = S;

    #[inline(always)]
    fn panel<'a>(
        &'a self,
        j: usize,
        rows: usize,
        ks: Range<usize>,
        _: &mut [f32],
    ) -> Panel<'a, i8> {
        let layout = self.w.layout;
        assert_eq!(
            layout,
            I8Layout::Vectors,
            "W is not in panels for the vector tiles"
        );
        let panel_rows = layout.panel_rows();
        assert!(j.is_multiple_of(panel_rows) && rows <= panel_rows);
        let len = layout.panel_len(self.w.k);
        // All the panel's rows, even past `rows`: the last panel is padded with zero rows, and with
        // a constant count the tile reads every row at a constant offset from one pointer.
        Panel {
            w: &self.w.q[j / panel_rows * len..][..len],
            rows: panel_rows,
            stride: S::PER_STEP,
            step: panel_rows * S::PER_STEP,
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
            step: 1,
            ks: 0..steps,
        }
    }
}
