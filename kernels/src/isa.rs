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
            None => write!(
                f,
                "unknown instruction set {:?} (expected scalar, avx2 or avx512)",
                self.requested
            ),
        }
    }
}

impl std::error::Error for UnsupportedIsa {}

/// The kernels chosen for this CPU. Cheap to copy; pass it to every kernel call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Kernels {
    isa: Isa,
    /// Whether [`Kernels::linear_bf16`] multiplies in pairs with AVX-512 BF16 (`vdpbf16ps`).
    bf16_pairs: bool,
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

    /// `isa`'s kernels, with bf16 pairs wherever the CPU can multiply them.
    fn with_isa(isa: Isa) -> Self {
        #[cfg(target_arch = "x86_64")]
        let bf16_pairs = isa == Isa::Avx512 && is_x86_feature_detected!("avx512bf16");
        #[cfg(not(target_arch = "x86_64"))]
        let bf16_pairs = false;
        Kernels { isa, bf16_pairs }
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

    /// The same kernels, but with bf16 weights always widened to f32 (as on a CPU without
    /// AVX-512 BF16): to compare the two ways on one machine.
    pub fn widening_bf16(self) -> Self {
        Kernels {
            bf16_pairs: false,
            ..self
        }
    }

    /// Whether bf16 weights are multiplied in pairs with AVX-512 BF16 (`vdpbf16ps`); if not,
    /// they are widened to f32.
    pub fn has_bf16_pairs(&self) -> bool {
        self.bf16_pairs
    }

    /// How [`Kernels::linear_bf16`] multiplies: `"vdpbf16ps"` or `"widened"`.
    pub fn bf16_dot(&self) -> &'static str {
        if self.bf16_pairs {
            "vdpbf16ps"
        } else {
            "widened"
        }
    }

    /// The instruction set in use.
    pub fn isa(&self) -> Isa {
        self.isa
    }
}
