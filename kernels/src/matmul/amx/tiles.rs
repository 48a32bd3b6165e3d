//! The tile unit the AMX loops run on: the CPU's tiles (`Amx`, `ldtilecfg`, `tileloadd`,
//! `tdpbusd`, `tilestored` in inline assembly) and, for the tests, the same eight tiles in plain
//! Rust (`Emulated`).

/// Rows of a tile: tokens in `A` and `C`, quads of `k` in `B`.
pub(super) const ROWS: usize = 16;

/// Bytes in a tile's row: 64 values of `k` in `A`, 16 quads in `B`, 16 `i32` in `C`.
pub(super) const ROW_BYTES: usize = 64;

/// Bytes of `W` in one tile of `B`: 16 rows of `W` by 64 values of `k`.
const B_BYTES: usize = ROWS * ROW_BYTES;

/// What the loops need of a tile unit: eight tile registers, numbered as the instructions number
/// them (`C`: 0-3, `A`: 4-5, `B`: 6-7 here).
///
/// # Safety
/// Every method but `configure` needs `configure` called before on this thread (and `release` not
/// since), on a CPU that has the unit's instructions.
pub(super) trait Tiles {
    /// Every tile 16 rows of 64 bytes.
    unsafe fn configure(&mut self);
    /// Gives the tile registers back.
    unsafe fn release(&mut self);
    /// Tile `C` ← 0.
    unsafe fn zero<const C: u8>(&mut self);
    /// Tile `T` ← 16 rows of 64 bytes of `a`, `stride` bytes apart.
    unsafe fn load_a<const T: u8>(&mut self, a: &[u8], stride: usize);
    /// Tile `T` ← the first 1 KB of `b` (16 quads of 16 rows of `W`).
    unsafe fn load_b<const T: u8>(&mut self, b: &[i8]);
    /// `C += A·B`, in `i32` (`tdpbusd`).
    unsafe fn dot<const C: u8, const A: u8, const B: u8>(&mut self);
    /// `to` ← tile `C`, 16 rows of 16 `i32`.
    unsafe fn store<const C: u8>(&mut self, to: &mut [i32; ROWS * ROWS]);
}

/// The CPU's AMX tiles.
#[cfg(target_arch = "x86_64")]
pub(super) struct Amx;

/// The tile configuration `ldtilecfg` reads: palette 1, and every one of the eight tiles 16 rows
/// of 64 bytes (the bytes per row of tile `t` at 16 + 2t, its rows at 48 + t).
#[cfg(target_arch = "x86_64")]
#[repr(C, align(64))]
struct Config([u8; 64]);

#[cfg(target_arch = "x86_64")]
static CONFIG: Config = {
    let mut bytes = [0u8; 64];
    bytes[0] = 1;
    let mut t = 0;
    while t < 8 {
        bytes[16 + 2 * t] = ROW_BYTES as u8;
        bytes[48 + t] = ROWS as u8;
        t += 1;
    }
    Config(bytes)
};

#[cfg(target_arch = "x86_64")]
impl Tiles for Amx {
    #[inline(always)]
    unsafe fn configure(&mut self) {
        // SAFETY: the caller guarantees AMX (and the OS's permission); `CONFIG` is 64 bytes,
        // 64-aligned, in the format `ldtilecfg` reads.
        unsafe { std::arch::asm!("ldtilecfg [{}]", in(reg) CONFIG.0.as_ptr(), options(nostack)) }
    }

    #[inline(always)]
    unsafe fn release(&mut self) {
        // SAFETY: the caller guarantees AMX.
        unsafe { std::arch::asm!("tilerelease", options(nostack, nomem)) }
    }

    #[inline(always)]
    unsafe fn zero<const C: u8>(&mut self) {
        // SAFETY: the caller guarantees configured tiles.
        unsafe { std::arch::asm!("tilezero tmm{c}", c = const C, options(nostack, nomem)) }
    }

    #[inline(always)]
    unsafe fn load_a<const T: u8>(&mut self, a: &[u8], stride: usize) {
        assert!(a.len() >= (ROWS - 1) * stride + ROW_BYTES);
        // SAFETY: the caller guarantees configured tiles; the load reads 64 bytes at each of
        // `a + r·stride`, r < 16, all inside `a` (asserted).
        unsafe {
            std::arch::asm!(
                "tileloadd tmm{t}, [{p} + {s} * 1]",
                t = const T, p = in(reg) a.as_ptr(), s = in(reg) stride,
                options(nostack, readonly)
            )
        }
    }

    #[inline(always)]
    unsafe fn load_b<const T: u8>(&mut self, b: &[i8]) {
        assert!(b.len() >= B_BYTES);
        // SAFETY: as `load_a`'s: 16 rows of 64 bytes, 64 apart, inside `b` (asserted).
        unsafe {
            std::arch::asm!(
                "tileloadd tmm{t}, [{p} + {s} * 1]",
                t = const T, p = in(reg) b.as_ptr(), s = in(reg) ROW_BYTES,
                options(nostack, readonly)
            )
        }
    }

    #[inline(always)]
    unsafe fn dot<const C: u8, const A: u8, const B: u8>(&mut self) {
        // SAFETY: the caller guarantees configured tiles.
        unsafe {
            std::arch::asm!(
                "tdpbusd tmm{c}, tmm{a}, tmm{b}",
                c = const C, a = const A, b = const B,
                options(nostack, nomem)
            )
        }
    }

    #[inline(always)]
    unsafe fn store<const C: u8>(&mut self, to: &mut [i32; ROWS * ROWS]) {
        // SAFETY: the caller guarantees configured tiles; the store writes 16 rows of 64 bytes,
        // 64 apart: the 1 KB of `to`.
        unsafe {
            std::arch::asm!(
                "tilestored [{p} + {s} * 1], tmm{c}",
                c = const C, p = in(reg) to.as_mut_ptr(), s = in(reg) ROW_BYTES,
                options(nostack)
            )
        }
    }
}

/// The tiles in plain Rust: eight arrays of 1 KB, and `tdpbusd`'s sums written out.
#[cfg(test)]
pub(super) struct Emulated {
    tiles: [[u8; ROWS * ROW_BYTES]; 8],
}

#[cfg(test)]
impl Default for Emulated {
    fn default() -> Self {
        Emulated {
            tiles: [[0; ROWS * ROW_BYTES]; 8],
        }
    }
}

#[cfg(test)]
impl Emulated {
    fn c(&self, c: u8) -> [i32; ROWS * ROWS] {
        let tile = &self.tiles[usize::from(c)];
        std::array::from_fn(|e| i32::from_le_bytes(tile[e * 4..][..4].try_into().unwrap()))
    }
}

#[cfg(test)]
impl Tiles for Emulated {
    unsafe fn configure(&mut self) {}

    unsafe fn release(&mut self) {}

    unsafe fn zero<const C: u8>(&mut self) {
        self.tiles[usize::from(C)] = [0; ROWS * ROW_BYTES];
    }

    unsafe fn load_a<const T: u8>(&mut self, a: &[u8], stride: usize) {
        for (r, row) in self.tiles[usize::from(T)]
            .chunks_exact_mut(ROW_BYTES)
            .enumerate()
        {
            row.copy_from_slice(&a[r * stride..][..ROW_BYTES]);
        }
    }

    unsafe fn load_b<const T: u8>(&mut self, b: &[i8]) {
        for (to, &from) in self.tiles[usize::from(T)].iter_mut().zip(&b[..B_BYTES]) {
            *to = from as u8;
        }
    }

    unsafe fn dot<const C: u8, const A: u8, const B: u8>(&mut self) {
        let mut c = self.c(C);
        let (a, b) = (&self.tiles[usize::from(A)], &self.tiles[usize::from(B)]);
        for (e, sum) in c.iter_mut().enumerate() {
            let (token, row) = (e / ROWS, e % ROWS);
            for p in 0..ROW_BYTES {
                let x = i32::from(a[token * ROW_BYTES + p]);
                let w = i32::from(b[(p / 4) * ROW_BYTES + row * 4 + p % 4] as i8);
                *sum += x * w;
            }
        }
        let tile = &mut self.tiles[usize::from(C)];
        for (bytes, sum) in tile.chunks_exact_mut(4).zip(c) {
            bytes.copy_from_slice(&sum.to_le_bytes());
        }
    }

    unsafe fn store<const C: u8>(&mut self, to: &mut [i32; ROWS * ROWS]) {
        *to = self.c(C);
    }
}
