//! Choosing the instruction set once, at load.

use std::fmt;

/// An instruction set a kernel can be written for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Isa {
    /// Plain Rust: the reference every other path is tested against.
    Scalar,
    /// AVX2 with FMA (256-bit vectors, 8 lanes of f32).
    Avx2,
    /// AVX-512 F (512-bit vectors, 16 lanes of f32).
    ///
    /// Softmax, layer norm, GELU and the linear layer run at 16 lanes: the same generic bodies as
    /// AVX2, over the 16-lane vector type (the unit tests also run those bodies at 16 lanes on
    /// AVX2, through a two-vector stand-in). `gemm` stays on `matrixmultiply`'s AVX2/FMA
    /// micro-kernel (it has no AVX-512 one), exactly as under `Avx2`. Gathers are plain copies on
    /// every instruction set.
    Avx512,
}

impl Isa {
    /// Every instruction set, slowest first.
    pub const ALL: [Isa; 3] = [Isa::Scalar, Isa::Avx2, Isa::Avx512];

    /// The SIMD instruction sets: each is tested against the scalar twin.
    pub const SIMD: [Isa; 2] = [Isa::Avx2, Isa::Avx512];

    /// The name used by `DISTIL_ISA` and in benchmark labels.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
        }
    }

    /// Whether this CPU can run the instruction set.
    pub fn is_supported(self) -> bool {
        match self {
            Isa::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"),
            #[cfg(target_arch = "x86_64")]
            // AVX2 and FMA too, so that Avx512 can run all that Avx2 runs (no CPU has AVX-512
            // without them, but the kernels must not rely on that).
            Isa::Avx512 => {
                is_x86_feature_detected!("avx512f")
                    && is_x86_feature_detected!("avx2")
                    && is_x86_feature_detected!("fma")
            }
            #[cfg(not(target_arch = "x86_64"))]
            Isa::Avx2 | Isa::Avx512 => false,
        }
    }

    /// Parses a name as `DISTIL_ISA` spells it.
    pub fn from_name(name: &str) -> Option<Isa> {
        Isa::ALL.into_iter().find(|isa| isa.name() == name)
    }
}

impl fmt::Display for Isa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The requested instruction set is unknown or this CPU lacks it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnsupportedIsa {
    /// What was asked for.
    pub requested: String,
}

impl fmt::Display for UnsupportedIsa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match Isa::from_name(&self.requested) {
            Some(isa) => write!(f, "this CPU cannot run the {isa} kernels"),
            None if self.requested == Bf16Dot::Pairs.name() => write!(
                f,
                "bf16 in pairs (vdpbf16ps) needs the avx512 kernels on a CPU with AVX-512 BF16"
            ),
            None => write!(
                f,
                "unknown instruction set {:?} (expected scalar, avx2 or avx512)",
                self.requested
            ),
        }
    }
}

impl std::error::Error for UnsupportedIsa {}

/// Whether this CPU has AVX-512 BF16 (`vdpbf16ps`).
fn has_avx512_bf16() -> bool {
    #[cfg(target_arch = "x86_64")]
    return is_x86_feature_detected!("avx512bf16");
    #[cfg(not(target_arch = "x86_64"))]
    return false;
}

/// Whether this CPU has AVX-512 VNNI (`vpdpbusd`).
fn has_avx512_vnni() -> bool {
    #[cfg(target_arch = "x86_64")]
    return is_x86_feature_detected!("avx512vnni");
    #[cfg(not(target_arch = "x86_64"))]
    return false;
}

/// Whether bf16 weights are best multiplied in pairs with `vdpbf16ps` on this CPU, rather than
/// widened to f32: it has AVX-512 BF16, and the instruction outruns f32 FMAs there. It does on AMD
/// (Zen 4 and 5: twice an FMA's products per instruction at about an FMA's rate; 367 against 221
/// GFLOP/s per core measured on Zen 5). It does not on the Intel Xeons measured here (Emerald
/// Rapids, without AMX): 83 against 132 GFLOP/s per core, and the bf16 encoder at 1×12 ran at
/// 15.2 ms in pairs against 12.1 ms in f32. So: AMD's, and only where the CPU has it.
fn bf16_pairs_pay() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        let id = std::arch::x86_64::__cpuid(0);
        let vendor = [id.ebx, id.edx, id.ecx].map(u32::to_le_bytes).concat();
        has_avx512_bf16() && vendor == b"AuthenticAMD"
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// The kernels chosen for this CPU. Cheap to copy; pass it to every kernel call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Kernels {
    isa: Isa,
    /// How [`Kernels::linear_bf16`] multiplies.
    bf16_dot: Bf16Dot,
    /// Whether [`Kernels::linear_i8`] multiplies with AVX-512 VNNI (`vpdpbusd`).
    vnni: bool,
}

/// How [`Kernels::linear_bf16`] multiplies bf16 weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Bf16Dot {
    /// In pairs with AVX-512 BF16 (`vdpbf16ps`), the activations rounded to bf16 too.
    Pairs,
    /// Each weight widened to the f32 it equals, then f32 fused multiply-adds.
    Widened,
}

impl Bf16Dot {
    /// Both ways.
    pub const ALL: [Bf16Dot; 2] = [Bf16Dot::Pairs, Bf16Dot::Widened];

    /// The name `DISTIL_BF16_DOT`, `/info` and the benchmarks use: `vdpbf16ps` or `widened`.
    pub fn name(self) -> &'static str {
        match self {
            Bf16Dot::Pairs => "vdpbf16ps",
            Bf16Dot::Widened => "widened",
        }
    }

    /// Parses a name as [`Bf16Dot::name`] spells it.
    pub fn from_name(name: &str) -> Option<Bf16Dot> {
        Bf16Dot::ALL.into_iter().find(|dot| dot.name() == name)
    }
}

impl fmt::Display for Bf16Dot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Kernels {
    /// The fastest instruction set this CPU supports, unless `DISTIL_ISA` pins one.
    pub fn detect() -> Result<Self, UnsupportedIsa> {
        match std::env::var("DISTIL_ISA") {
            Ok(name) if !name.is_empty() => match Isa::from_name(&name) {
                Some(isa) => Kernels::force(isa),
                None => Err(UnsupportedIsa { requested: name }),
            },
            _ => Ok(Kernels::fastest()),
        }
    }

    /// The fastest instruction set this CPU supports, ignoring the environment: the widest one.
    /// Under `Avx512` every kernel is either the `Avx2` body at 16 lanes (same instruction count
    /// for twice the elements) or the very code `Avx2` runs.
    pub fn fastest() -> Self {
        let isa = Isa::ALL
            .into_iter()
            .rev()
            .find(|isa| isa.is_supported())
            .unwrap_or(Isa::Scalar);
        Kernels::with_isa(isa)
    }

    /// `isa`'s kernels, with bf16 pairs wherever they pay ([`bf16_pairs_pay`]).
    fn with_isa(isa: Isa) -> Self {
        let bf16_dot = if isa == Isa::Avx512 && bf16_pairs_pay() {
            Bf16Dot::Pairs
        } else {
            Bf16Dot::Widened
        };
        let vnni = isa == Isa::Avx512 && has_avx512_vnni();
        Kernels {
            isa,
            bf16_dot,
            vnni,
        }
    }

    /// The same kernels with bf16 weights multiplied as `dot` says, or an error if that needs
    /// AVX-512 BF16 and these kernels are not AVX-512 on a CPU that has it: to compare the two
    /// ways on one machine (`DISTIL_BF16_DOT`).
    pub fn with_bf16_dot(self, dot: Bf16Dot) -> Result<Self, UnsupportedIsa> {
        if dot == Bf16Dot::Pairs && !(self.isa == Isa::Avx512 && has_avx512_bf16()) {
            return Err(UnsupportedIsa {
                requested: dot.name().to_string(),
            });
        }
        Ok(Kernels {
            bf16_dot: dot,
            ..self
        })
    }

    /// Exactly this instruction set, or an error if the CPU lacks it.
    pub fn force(isa: Isa) -> Result<Self, UnsupportedIsa> {
        if isa.is_supported() {
            Ok(Kernels::with_isa(isa))
        } else {
            Err(UnsupportedIsa {
                requested: isa.name().to_string(),
            })
        }
    }

    /// The plain scalar kernels, available everywhere.
    pub fn scalar() -> Self {
        Kernels::with_isa(Isa::Scalar)
    }

    /// How [`Kernels::linear_bf16`] multiplies.
    pub fn bf16_dot(&self) -> Bf16Dot {
        self.bf16_dot
    }

    /// Whether [`Kernels::linear_i8`] runs on AVX-512 VNNI (`vpdpbusd`); otherwise AVX2's
    /// `vpmaddubsw` (or the scalar twin). The answers are the same either way.
    pub fn vnni(&self) -> bool {
        self.vnni
    }

    /// The instruction [`Kernels::linear_i8`] multiplies bytes with: `vpdpbusd`, `vpmaddubsw` or
    /// `scalar`.
    pub fn i8_dot_name(&self) -> &'static str {
        match self.isa {
            Isa::Scalar => "scalar",
            _ if self.vnni => "vpdpbusd",
            _ => "vpmaddubsw",
        }
    }

    /// The instruction set in use.
    pub fn isa(&self) -> Isa {
        self.isa
    }
}
