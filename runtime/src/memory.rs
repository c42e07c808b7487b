//! Linear memory (spec §4.2.8 "Memory Instances") on a virtual-memory
//! reservation with a guard region.
//!
//! A memory reserves `reservation + guard` bytes of address space with no
//! access, and makes the first `size` bytes readable and writable. Growing
//! within the reservation only changes protections: the base never moves,
//! so compiled code may keep it in a register, and (in a later tier) a
//! 32-bit index plus a static offset that lands in the guard region faults
//! instead of needing a bounds check. When the reservation is smaller than
//! the requested size (a `Config` with a small reservation), growing maps a
//! larger region and copies: the base moves, and every user re-reads it
//! from the [`VMMemoryDefinition`].

use kiln_environ::MemoryType;
use kiln_environ::vm::VMMemoryDefinition;
use rustix::mm::{MapFlags, MprotectFlags, ProtFlags};

/// Wasm page size in bytes.
pub const WASM_PAGE_SIZE: u64 = 65536;

/// Reservation and guard sizes, in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryConfig {
    /// Address space reserved for a memory's accessible bytes.
    pub reservation: u64,
    /// Inaccessible bytes after the reservation.
    pub guard: u64,
}

impl Default for MemoryConfig {
    /// 4 GiB reservation + 32 MiB guard on 64-bit hosts (every 32-bit
    /// memory fits without moving); 16 MiB + 64 KiB on 32-bit hosts.
    fn default() -> Self {
        if cfg!(target_pointer_width = "64") {
            MemoryConfig { reservation: 1 << 32, guard: 32 << 20 }
        } else {
            MemoryConfig { reservation: 16 << 20, guard: 1 << 16 }
        }
    }
}

/// An anonymous mapping with no access except its first `accessible` bytes.
struct Mapping {
    base: *mut u8,
    /// Total mapped bytes (reservation + guard).
    len: usize,
    /// Bytes of the mapping usable before moving.
    reserved: usize,
}

impl Mapping {
    fn new(reserved: usize, guard: usize, accessible: usize) -> Option<Mapping> {
        let len = reserved.checked_add(guard)?;
        if len == 0 {
            return Some(Mapping { base: core::ptr::NonNull::<u128>::dangling().as_ptr().cast(), len: 0, reserved: 0 });
        }
        // SAFETY: a fresh anonymous mapping at an address the kernel picks
        // aliases nothing.
        let base = unsafe {
            rustix::mm::mmap_anonymous(
                core::ptr::null_mut(),
                len,
                ProtFlags::empty(),
                MapFlags::PRIVATE | MapFlags::NORESERVE,
            )
        }
        .ok()? as *mut u8;
        let m = Mapping { base, len, reserved };
        m.make_accessible(0, accessible).then_some(m)
    }

    /// Makes `[start, end)` readable and writable.
    fn make_accessible(&self, start: usize, end: usize) -> bool {
        if end <= start {
            return true;
        }
        debug_assert!(end <= self.reserved);
        // SAFETY: `[start, end)` lies inside our own mapping (`end <=
        // reserved <= len`), which no Rust reference covers while it is
        // inaccessible.
        unsafe {
            rustix::mm::mprotect(self.base.add(start).cast(), end - start, MprotectFlags::READ | MprotectFlags::WRITE)
        }
        .is_ok()
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        if self.len != 0 {
            // SAFETY: we own the mapping; nothing refers to it once its
            // memory is dropped (instances that import it keep the store,
            // and with it this memory, alive).
            unsafe {
                let _ = rustix::mm::munmap(self.base.cast(), self.len);
            }
        }
    }
}

/// A linear memory. Its [`VMMemoryDefinition`] is at a stable address (the
/// memory lives in a `Box` owned by the store) that VMContexts point to.
pub struct LinearMemory {
    def: VMMemoryDefinition,
    mapping: Mapping,
    ty: MemoryType,
    config: MemoryConfig,
    pages: u64,
}

// SAFETY: the raw pointers refer to the memory's own mapping; access is
// synchronised by the owning store (`&mut` for mutation).
unsafe impl Send for LinearMemory {}
// SAFETY: as above; shared access only reads.
unsafe impl Sync for LinearMemory {}

impl LinearMemory {
    /// Creates a memory of type `ty` with its minimum size, zeroed.
    ///
    /// # Errors
    /// When the minimum size exceeds the address space or the mapping fails.
    pub fn new(ty: MemoryType, config: MemoryConfig) -> Result<Box<LinearMemory>, String> {
        let pages = ty.limits.min;
        if pages > ty.max_pages() {
            return Err(format!("memory minimum of {pages} pages exceeds the maximum"));
        }
        let bytes = pages
            .checked_mul(WASM_PAGE_SIZE)
            .and_then(|b| usize::try_from(b).ok())
            .ok_or_else(|| format!("memory of {pages} pages does not fit the address space"))?;
        let reserved = usize::try_from(config.reservation).unwrap_or(usize::MAX).max(bytes);
        let guard = usize::try_from(config.guard).unwrap_or(usize::MAX);
        let mapping = Mapping::new(reserved, guard, bytes)
            .ok_or_else(|| format!("cannot map {reserved} + {guard} bytes for a linear memory"))?;
        Ok(Box::new(LinearMemory {
            def: VMMemoryDefinition { base: mapping.base, current_length: bytes },
            mapping,
            ty,
            config,
            pages,
        }))
    }

    /// The memory's type, with its current size as the minimum.
    pub fn ty(&self) -> MemoryType {
        self.ty
    }

    /// Current size in pages.
    pub fn pages(&self) -> u64 {
        self.pages
    }

    /// Current size in bytes.
    pub fn byte_len(&self) -> usize {
        self.def.current_length
    }

    /// Pointer to the definition VMContexts refer to.
    pub fn definition(&mut self) -> *mut VMMemoryDefinition {
        &mut self.def
    }

    /// The accessible bytes.
    pub fn data(&self) -> &[u8] {
        // SAFETY: `[base, base + current_length)` is mapped read-write and
        // owned by this memory; `&self` prevents concurrent growth.
        unsafe { core::slice::from_raw_parts(self.def.base, self.def.current_length) }
    }

    /// The accessible bytes, mutably.
    pub fn data_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `data`, and `&mut self` makes the access unique.
        unsafe { core::slice::from_raw_parts_mut(self.def.base, self.def.current_length) }
    }

    /// Grows by `delta` pages (spec §4.4.7 `memory.grow`). Returns the old
    /// size in pages, or `None` (the guest sees -1) when the new size would
    /// exceed the memory's maximum or the host cannot provide it; the
    /// memory is then unchanged.
    pub fn grow(&mut self, delta: u64) -> Option<u64> {
        let old = self.pages;
        let new = old.checked_add(delta)?;
        if new > self.ty.max_pages() {
            return None;
        }
        if delta == 0 {
            return Some(old);
        }
        let old_bytes = self.def.current_length;
        let new_bytes = usize::try_from(new.checked_mul(WASM_PAGE_SIZE)?).ok()?;
        if new_bytes <= self.mapping.reserved {
            if !self.mapping.make_accessible(old_bytes, new_bytes) {
                return None;
            }
        } else {
            // The reservation is too small: move to a larger mapping,
            // doubling to amortise repeated growth.
            let max_bytes = usize::try_from(self.ty.max_pages().saturating_mul(WASM_PAGE_SIZE)).unwrap_or(usize::MAX);
            let reserved = new_bytes.max(self.mapping.reserved.saturating_mul(2).min(max_bytes));
            let guard = usize::try_from(self.config.guard).unwrap_or(usize::MAX);
            let mapping = Mapping::new(reserved, guard, new_bytes)?;
            // SAFETY: both ranges are accessible for `old_bytes` bytes and
            // belong to different mappings.
            unsafe { core::ptr::copy_nonoverlapping(self.mapping.base, mapping.base, old_bytes) };
            self.mapping = mapping;
            self.def.base = self.mapping.base;
        }
        self.def.current_length = new_bytes;
        self.pages = new;
        Some(old)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_environ::Limits;

    fn ty(min: u64, max: Option<u64>) -> MemoryType {
        MemoryType { limits: Limits { min, max }, memory64: false, shared: false }
    }

    #[test]
    fn grows_in_place_within_reservation() {
        let mut m = LinearMemory::new(ty(1, Some(4)), MemoryConfig::default()).unwrap();
        let base = m.data().as_ptr();
        m.data_mut()[65535] = 7;
        assert_eq!(m.grow(2), Some(1));
        assert_eq!(m.data().as_ptr(), base);
        assert_eq!(m.data().len(), 3 * 65536);
        assert_eq!(m.data()[65535], 7);
        assert_eq!(m.data()[3 * 65536 - 1], 0);
        assert_eq!(m.grow(2), None, "beyond max");
        assert_eq!(m.pages(), 3);
    }

    #[test]
    fn grows_by_moving_with_small_reservation() {
        let mut m = LinearMemory::new(ty(1, None), MemoryConfig { reservation: 0, guard: 0 }).unwrap();
        m.data_mut()[10] = 42;
        assert_eq!(m.grow(3), Some(1));
        assert_eq!(m.data()[10], 42);
        assert_eq!(m.data().len(), 4 * 65536);
        assert_eq!(m.grow(65536), None, "beyond the 32-bit index space");
    }

    #[test]
    fn zero_page_memory() {
        let mut m = LinearMemory::new(ty(0, None), MemoryConfig { reservation: 0, guard: 0 }).unwrap();
        assert!(m.data().is_empty());
        assert_eq!(m.grow(1), Some(0));
        assert_eq!(m.data().len(), 65536);
    }
}
