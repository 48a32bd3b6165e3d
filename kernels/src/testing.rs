//! What the tests of the kernels (this crate's and the workspace's) share: which instruction sets
//! to run, and what to do about one this CPU lacks.
//!
//! A test that compares a SIMD path with the scalar twin proves nothing on a CPU without that
//! path, so it must not pass quietly there. The rule, in [`supported_or_skip`] and nowhere else:
//! under `CI=true` a missing instruction set fails the test; elsewhere the test skips it and says
//! why on standard error.

use crate::{I8Dot, Isa, Kernels};

/// Whether the tests can run `isa` here: `true` if the CPU has it. If not, panics when the
/// environment variable `CI` is `true` (CI must not pass by skipping), and otherwise prints why
/// the caller skips it and returns `false`.
///
/// One exception: AVX-512 on a CPU with AVX2 (the project's machines include an AVX2-only Zen 3).
/// Its 16-lane bodies are the AVX2 bodies' generic code over `F32x16`, and the `*_16_lanes` unit
/// tests run them there through `F32x8x2`, two AVX2 vectors, against the scalar twin; only the
/// dispatch to real `zmm` registers goes untested, which the skip says.
pub fn supported_or_skip(isa: Isa) -> bool {
    if isa.is_supported() {
        return true;
    }
    if isa == Isa::Avx512 && Isa::Avx2.is_supported() {
        eprintln!(
            "skipping the avx512 kernels: this CPU cannot run them; their 16-lane bodies are \
             tested through F32x8x2 on AVX2"
        );
        return false;
    }
    if std::env::var("CI").is_ok_and(|ci| ci == "true") {
        panic!("CI=true, but this CPU cannot run the {isa} kernels: their tests would be skipped");
    }
    eprintln!("skipping the {isa} kernels: this CPU cannot run them (under CI=true this fails)");
    false
}

/// The kernels of every SIMD instruction set ([`Isa::SIMD`]) that [`supported_or_skip`] keeps:
/// the paths to compare with the scalar twin (never the twin itself).
pub fn simd_kernels() -> Vec<Kernels> {
    Isa::SIMD
        .into_iter()
        .filter(|&isa| supported_or_skip(isa))
        .map(|isa| Kernels::force(isa).expect("supported_or_skip said the CPU has it"))
        .collect()
}

/// The scalar kernels, then [`simd_kernels`]: for checks each path must pass on its own (a value
/// worked out by hand, a property), not against another path.
pub fn all_kernels() -> Vec<Kernels> {
    let mut all = vec![Kernels::scalar()];
    all.extend(simd_kernels());
    all
}

/// Every kernels of [`all_kernels`] with every way of multiplying bytes ([`I8Dot`]) this CPU has
/// for it: the int8 paths to compare. A way the CPU lacks (AMX or VNNI on most machines) is left
/// out silently: its loops are tested on every CPU through emulation (`amx/`, the `*_16_lanes`
/// tests).
pub fn i8_kernels() -> Vec<Kernels> {
    let mut ways: Vec<Kernels> = Vec::new();
    for kernels in all_kernels() {
        for dot in I8Dot::ALL {
            if let Ok(k) = kernels.with_i8_dot(dot) {
                if !ways
                    .iter()
                    .any(|w| (w.isa(), w.i8_dot()) == (k.isa(), k.i8_dot()))
                {
                    ways.push(k);
                }
            }
        }
    }
    ways
}
