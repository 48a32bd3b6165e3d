//! A read-only memory map of a weights file.

use std::fs::File;
use std::io;

pub use memmap2::Mmap;

/// Maps `file` read-only.
///
/// # Safety of the result
/// The mapping is only sound while no one truncates or rewrites the file. distil never writes model
/// files; if another process truncates one while it is mapped, reads past the new end raise SIGBUS
/// (the process stops; no wrong value is read silently). Changed bytes are read as they are, and
/// the loader re-checks nothing after load, so a model file must not be rewritten while in use.
pub fn map_readonly(file: &File) -> io::Result<Mmap> {
    // SAFETY: the map is read-only and distil never writes through or to the file; the
    // remaining hazard (another process truncating it) is documented above and in the README.
    unsafe { Mmap::map(file) }
}
