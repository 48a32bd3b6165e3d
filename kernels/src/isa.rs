//! Choosing the instruction set once, at load.

use std::fmt;
use std::sync::OnceLock;

/// An instruction set a kernel can be written for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Isa {
    /// Plain Rust: the reference every other path is tested against.
    Scalar,
    /// AVX2 with FMA (256-bit vectors, 8 lanes of f32).
    Avx2,
    /// AVX-512 F (512-bit vectors, 16 lanes of f32).
    ///
    /// Softmax, layer norm, GELU, attention and the linear layer run at 16 lanes: the same generic
    /// bodies as AVX2, over the 16-lane vector type (the unit tests also run those bodies at 16
    /// lanes on AVX2, through a two-vector stand-in). Gathers are plain copies on every
    /// instruction set.
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
            None => match I8Dot::from_name(&self.requested) {
                Some(I8Dot::Tdpbusd) => write!(
                    f,
                    "int8 on AMX tiles (tdpbusd) needs the avx512 kernels on a CPU with AMX-INT8 \
                     that the OS lets this process use"
                ),
                Some(I8Dot::Vpdpbusd) => write!(
                    f,
                    "int8 with vpdpbusd needs the avx512 kernels on a CPU with AVX-512 VNNI"
                ),
                Some(_) => write!(f, "int8 with vpmaddubsw needs the avx2 or avx512 kernels"),
                None => write!(
                    f,
                    "unknown instruction set {:?} (expected scalar, avx2 or avx512)",
                    self.requested
                ),
            },
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

/// Whether this CPU has AMX's int8 tiles (`tdpbusd`) and this process may use them. On Linux a
/// process must first ask for the tiles' register state (`arch_prctl(ARCH_REQ_XCOMP_PERM,
/// XFEATURE_XTILEDATA)`), or its first tile instruction faults; the permission holds for all its
/// threads. Asked once.
fn has_amx_int8() -> bool {
    static USABLE: OnceLock<bool> = OnceLock::new();
    *USABLE.get_or_init(|| cpu_has_amx_int8() && amx_permitted())
}

/// CPUID leaf 7: AMX-TILE (EDX bit 24) and AMX-INT8 (bit 25). (`is_x86_feature_detected!` does not
/// know AMX on stable Rust.)
fn cpu_has_amx_int8() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{__cpuid, __cpuid_count};
        if __cpuid(0).eax < 7 {
            return false;
        }
        let edx = __cpuid_count(7, 0).edx;
        edx & (1 << 24) != 0 && edx & (1 << 25) != 0
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// Asks Linux for the AMX tile data state; true if granted (an older kernel, or one without AMX
/// support, refuses).
fn amx_permitted() -> bool {
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    {
        const ARCH_REQ_XCOMP_PERM: libc::c_long = 0x1023;
        const XFEATURE_XTILEDATA: libc::c_long = 18;
        // SAFETY: `arch_prctl` with these two integer arguments reads and writes no memory of
        // ours; it only changes which register states the kernel lets this process use.
        let granted = unsafe {
            libc::syscall(
                libc::SYS_arch_prctl,
                ARCH_REQ_XCOMP_PERM,
                XFEATURE_XTILEDATA,
            )
        };
        granted == 0
    }
    #[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
    false
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
    /// How [`Kernels::linear_i8`] multiplies bytes.
    i8_dot: I8Dot,
}

/// How [`Kernels::linear_i8`] multiplies bytes. Every way computes the same integers, so the same
/// answers bit for bit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum I8Dot {
    /// AMX tiles (`tdpbusd`: 16 tokens × 16 rows × 64 values of `k` per instruction).
    Tdpbusd,
    /// AVX-512 VNNI (`vpdpbusd`: four products a lane).
    Vpdpbusd,
    /// AVX2's `vpmaddubsw` and `vpmaddwd` (the same four products in three instructions).
    Vpmaddubsw,
    /// The scalar twin: plain `i32` sums.
    Scalar,
}

impl I8Dot {
    /// Every way, fastest first.
    pub const ALL: [I8Dot; 4] = [
        I8Dot::Tdpbusd,
        I8Dot::Vpdpbusd,
        I8Dot::Vpmaddubsw,
        I8Dot::Scalar,
    ];

    /// The name `DISTIL_I8_DOT`, `/info` and the benchmarks use: the instruction.
    pub fn name(self) -> &'static str {
        match self {
            I8Dot::Tdpbusd => "tdpbusd",
            I8Dot::Vpdpbusd => "vpdpbusd",
            I8Dot::Vpmaddubsw => "vpmaddubsw",
            I8Dot::Scalar => "scalar",
        }
    }

    /// Parses a name as [`I8Dot::name`] spells it.
    pub fn from_name(name: &str) -> Option<I8Dot> {
        I8Dot::ALL.into_iter().find(|dot| dot.name() == name)
    }

    /// Whether `isa`'s kernels can multiply this way on this CPU.
    fn is_supported(self, isa: Isa) -> bool {
        match self {
            I8Dot::Tdpbusd => isa == Isa::Avx512 && has_amx_int8(),
            I8Dot::Vpdpbusd => isa == Isa::Avx512 && has_avx512_vnni(),
            I8Dot::Vpmaddubsw => isa != Isa::Scalar,
            I8Dot::Scalar => true,
        }
    }
}

impl fmt::Display for I8Dot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
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
        let i8_dot = I8Dot::ALL
            .into_iter()
            .find(|dot| dot.is_supported(isa))
            .unwrap_or(I8Dot::Scalar);
        Kernels {
            isa,
            bf16_dot,
            i8_dot,
        }
    }

    /// The same kernels with bytes multiplied as `dot` says, or an error if this CPU or these
    /// kernels' instruction set cannot: to compare the ways on one machine (`DISTIL_I8_DOT`).
    pub fn with_i8_dot(self, dot: I8Dot) -> Result<Self, UnsupportedIsa> {
        if !dot.is_supported(self.isa) {
            return Err(UnsupportedIsa {
                requested: dot.name().to_string(),
            });
        }
        Ok(Kernels {
            i8_dot: dot,
            ..self
        })
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

    /// How [`Kernels::linear_i8`] multiplies bytes. The answers are the same every way.
    pub fn i8_dot(&self) -> I8Dot {
        self.i8_dot
    }

    /// The instruction set in use.
    pub fn isa(&self) -> Isa {
        self.isa
    }
}
