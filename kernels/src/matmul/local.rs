//! Buffers kept per thread between calls, so that a forward pass does not allocate: one for the
//! activations' words (`quads.rs`), one for `x~` (`pack.rs`), one for a task's sums (`task.rs`).

use std::cell::RefCell;
use std::thread::LocalKey;

/// A thread's buffer, grown to the largest length asked of it and never shrunk.
pub(super) type Buffer = LocalKey<RefCell<Vec<f32>>>;

/// Runs `f` on `len` floats of the calling thread's `buffer` (what they hold on entry is left
/// from earlier calls), or of a fresh buffer if a call further up this thread's stack holds it (as
/// when a rayon worker that waits inside `linear` picks up another `linear`).
pub(super) fn with_buffer<R>(
    buffer: &'static Buffer,
    len: usize,
    f: impl FnOnce(&mut [f32]) -> R,
) -> R {
    let run = |buf: &mut Vec<f32>| {
        buf.resize(buf.len().max(len), 0.0);
        f(&mut buf[..len])
    };
    buffer.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => run(&mut buf),
        Err(_) => run(&mut Vec::new()),
    })
}
