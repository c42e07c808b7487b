//! Executable memory for native wasm code, and the process-global registry
//! of published code that the trap handler and backtraces consult (unix:
//! memory is mapped with rustix).
//!
//! # Why not cranelift-jit
//!
//! kiln compiles each function with Cranelift's `Context::compile` and maps
//! the bytes itself instead of using `cranelift-jit`'s `JITModule`, because
//! it needs per-function code that can be published independently (a tier-up
//! publishes one function at a time) and freed when no frame can run it any
//! more, one loading path for JIT batches and for mapped `.aot` files, and
//! trap tables that kiln owns (the signal handler reads them; `JITModule`
//! neither exposes nor frees per-function code with its trap sites). This
//! module takes plain bytes plus trap tables, so the runtime does not depend
//! on Cranelift or on `kiln-compiler`.
//!
//! # CodeMemory: new → write → relocate → publish
//!
//! [`CodeMemory::new`] lays the functions out (each at its alignment, the
//! text padded to whole pages) in a fresh anonymous read-write mapping and
//! copies them in; [`CodeMemory::apply`] patches relocations while the
//! mapping is still writable; [`CodeMemory::publish`] flushes the
//! instruction cache and switches the whole mapping to read+execute. The
//! mapping is **never writable and executable at once (W^X)**: a writable
//! executable page would let any memory-corruption bug in the host or any
//! guest escape become arbitrary code execution, and some hardened kernels
//! (PaX, SELinux `execmem`, macOS hardened runtime) refuse such mappings.
//! After `publish` the code is immutable until the mapping is unmapped on
//! drop.
//!
//! # The code registry
//!
//! [`register`] records a published [`CodeMemory`] with one sorted trap
//! table per function; the returned [`CodeRegistration`] unregisters on
//! drop. [`lookup_trap`] and [`lookup_func`] map a program counter back to
//! a trap code or a function and are **async-signal-safe**: no allocation,
//! no lock, only atomic loads and reads of immutable data.
//!
//! Writers (register, unregister) serialise on a `Mutex` and publish an
//! immutable `Snapshot` (registrations sorted by start address) through an
//! `AtomicPtr`. Readers announce themselves in a global counter `READERS`
//! *before* loading the pointer and leave it after their last access. A
//! writer swaps in the new snapshot, puts the old one on a retired list and
//! frees the retired snapshots only when it then observes `READERS == 0`.
//! All these operations are `SeqCst`, so they fall into one total order:
//! if the writer's load of `READERS` sees 0, every reader either finished
//! (decremented) before it — and holds nothing — or incremented after it,
//! and then its load of the pointer comes after the swap and yields the
//! *new* snapshot, never a retired one. Retired snapshots that could not be
//! freed wait for the next writer that sees no readers (they are few: one
//! per registration change). A reader interrupted by a signal whose handler
//! reads too just nests (the counter goes to 2 and back).

use std::ops::Range;
use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};

use kiln_aot_format::compiled::RelocKind;
use kiln_environ::TrapCode;
use rustix::mm::{MapFlags, MprotectFlags, ProtFlags};

unsafe extern "C" {
    /// From `traphandlers/helpers.c`: `__builtin___clear_cache`.
    fn kiln_flush_icache(start: *mut core::ffi::c_void, end: *mut core::ffi::c_void);
}

/// A page-aligned mapping holding the machine code of some functions.
/// See the module documentation for its life cycle.
pub struct CodeMemory {
    /// Start of the mapping (page aligned).
    base: *mut u8,
    /// Length of the mapping (whole pages, at least one).
    mapped_len: usize,
    /// Offset range of each function in the mapping.
    funcs: Vec<Range<usize>>,
    /// Whether [`CodeMemory::publish`] switched the mapping to RX.
    published: bool,
    /// For code inside a mapped `.aot` file ([`CodeMemory::in_file_map`]):
    /// the whole file's mapping, which owns the pages (unmapped when the
    /// last reference goes, not by this `CodeMemory`).
    file_map: Option<Arc<memmap2::Mmap>>,
    /// Whether the pages are writable (always before publication, except
    /// for code in a file mapping until the first relocation).
    writable: bool,
}

// SAFETY: `CodeMemory` owns its mapping exclusively (nothing else aliases
// `base`); it is only written through `&mut self` before publication and is
// immutable (RX) afterwards, so sharing `&CodeMemory` across threads and
// moving it between threads is sound.
unsafe impl Send for CodeMemory {}
// SAFETY: see `Send`: `&self` methods only read addresses and ranges.
unsafe impl Sync for CodeMemory {}

fn align_up(x: usize, align: usize) -> Option<usize> {
    debug_assert!(align.is_power_of_two());
    Some(x.checked_add(align - 1)? & !(align - 1))
}

impl CodeMemory {
    /// Lays out `functions` (`(bytes, alignment)`; alignment 0 means 1),
    /// maps read-write memory for them (padded to whole pages) and copies
    /// them in. The result is writable and not executable until
    /// [`publish`](Self::publish).
    pub fn new(functions: &[(&[u8], u32)]) -> Result<CodeMemory, String> {
        let page = rustix::param::page_size();
        let mut funcs = Vec::with_capacity(functions.len());
        let mut end = 0usize;
        for (i, (bytes, align)) in functions.iter().enumerate() {
            let align = (*align).max(1) as usize;
            if !align.is_power_of_two() || align > page {
                return Err(format!("function {i}: alignment {align} is not a power of two up to the page size"));
            }
            let start = align_up(end, align).ok_or("code size overflow")?;
            end = start.checked_add(bytes.len()).ok_or("code size overflow")?;
            funcs.push(start..end);
        }
        let mapped_len = align_up(end.max(1), page).ok_or("code size overflow")?;
        // SAFETY: a fresh private anonymous mapping at an address the kernel
        // chooses aliases no Rust object.
        let base = unsafe {
            rustix::mm::mmap_anonymous(
                core::ptr::null_mut(),
                mapped_len,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::PRIVATE,
            )
        }
        .map_err(|e| format!("cannot map {mapped_len} bytes for code: {e}"))?
        .cast::<u8>();
        let mem = CodeMemory { base, mapped_len, funcs, published: false, file_map: None, writable: true };
        for ((bytes, _), range) in functions.iter().zip(&mem.funcs) {
            // SAFETY: `range` lies inside the `mapped_len` read-write bytes
            // at `base` (laid out above), and `bytes` is a distinct Rust
            // slice, so the regions do not overlap.
            unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), base.add(range.start), bytes.len()) };
        }
        Ok(mem)
    }

    /// Uses the `len` bytes at `offset` (a multiple of the page size) of
    /// `map` — a whole `.aot` file mapped privately and read-only
    /// (`memmap2::MmapOptions::map_copy_read_only`) — as the code of
    /// functions at the byte ranges `funcs` of that region, without copying:
    /// the pages stay read-only, become read-write at the first relocation
    /// ([`apply`](Self::apply); a written page becomes a private copy, the
    /// file never changes), and [`publish`](Self::publish) makes them
    /// read+execute. Pages no relocation touches stay shared with the page
    /// cache.
    pub fn in_file_map(
        map: Arc<memmap2::Mmap>,
        offset: usize,
        len: usize,
        funcs: Vec<Range<usize>>,
    ) -> Result<CodeMemory, String> {
        let page = rustix::param::page_size();
        let start = map.as_ptr() as usize + offset;
        if !start.is_multiple_of(page) {
            return Err(format!("code at file offset {offset} is not page aligned"));
        }
        if len == 0 || offset.checked_add(len).is_none_or(|end| end > map.len()) {
            return Err(format!("code at {offset} with {len} bytes is not inside the {}-byte file", map.len()));
        }
        if let Some(f) = funcs.iter().find(|f| f.start > f.end || f.end > len) {
            return Err(format!("function code {f:?} outside the {len}-byte text"));
        }
        // The mapping covers whole pages up to the file's last byte, and
        // `start` is page aligned, so the rounded length stays inside it.
        let mapped_len = align_up(len, page).ok_or("code size overflow")?;
        let base = start as *mut u8;
        // The pages stay read-only until a relocation needs to write
        // (`apply` makes them writable then).
        Ok(CodeMemory { base, mapped_len, funcs, published: false, file_map: Some(map), writable: false })
    }

    /// Copies `text` (an `.aot` file's text section, already laid out) into
    /// a fresh read-write anonymous mapping, as the code of functions at
    /// the byte ranges `funcs` of it.
    pub fn from_text(text: &[u8], funcs: Vec<Range<usize>>) -> Result<CodeMemory, String> {
        if let Some(f) = funcs.iter().find(|f| f.start > f.end || f.end > text.len()) {
            return Err(format!("function code {f:?} outside the {}-byte text", text.len()));
        }
        let mut mem = CodeMemory::new(&[(text, 1)])?;
        mem.funcs = funcs;
        Ok(mem)
    }

    /// Patches one relocation at `offset` bytes into function `func` (an
    /// index into the slice given to [`new`](Self::new)) with the address
    /// `target` plus `addend`. Only before [`publish`](Self::publish).
    pub fn apply(
        &mut self,
        func: usize,
        offset: u32,
        kind: RelocKind,
        target: usize,
        addend: i64,
    ) -> Result<(), String> {
        if self.published {
            return Err("relocation applied after the code was published".into());
        }
        let range = self.funcs.get(func).ok_or_else(|| format!("no function {func} in this code memory"))?.clone();
        let size = kind.size() as usize;
        let at = range.start.checked_add(offset as usize).filter(|at| at + size <= range.end);
        let at = at.ok_or_else(|| format!("relocation at {offset} outside function {func}"))?;
        if !self.writable {
            // SAFETY: `base..base + mapped_len` is the code's own range of
            // a private mapping kept alive by `file_map`; no Rust reference
            // into it exists (only addresses are handed out).
            unsafe {
                rustix::mm::mprotect(self.base.cast(), self.mapped_len, MprotectFlags::READ | MprotectFlags::WRITE)
            }
            .map_err(|e| format!("cannot make the mapped code writable for relocation: {e}"))?;
            self.writable = true;
        }
        // SAFETY: `at + size <= range.end <= mapped_len`, checked above.
        let site = unsafe { self.base.add(at) };
        let value = (target as i64).wrapping_add(addend);
        match kind {
            RelocKind::Abs8 => {
                // SAFETY: `site` is 8 writable bytes in our RW mapping
                // (unpublished); the write is unaligned-tolerant.
                unsafe { site.cast::<u64>().write_unaligned(value as u64) };
            }
            RelocKind::X86PCRel4 | RelocKind::X86CallPCRel4 => {
                let delta = value.wrapping_sub(site as i64);
                let delta = i32::try_from(delta)
                    .map_err(|_| format!("PC-relative relocation target {target:#x} out of ±2 GiB range"))?;
                // SAFETY: `site` is 4 writable bytes in our RW mapping.
                unsafe { site.cast::<i32>().write_unaligned(delta) };
            }
            RelocKind::Arm64Call => {
                let delta = value.wrapping_sub(site as i64);
                if !kind.fits(delta) {
                    return Err(format!("branch relocation target {target:#x} out of ±128 MiB range"));
                }
                let imm26 = ((delta >> 2) as u32) & 0x03ff_ffff;
                // SAFETY: `site` is 4 writable bytes in our RW mapping.
                unsafe {
                    let insn = site.cast::<u32>().read_unaligned();
                    site.cast::<u32>().write_unaligned((insn & !0x03ff_ffff) | imm26);
                }
            }
        }
        Ok(())
    }

    /// Makes the code executable: flushes the instruction cache and
    /// switches the mapping from read-write to read+execute (W^X: it is
    /// never both writable and executable). Idempotent.
    pub fn publish(&mut self) -> Result<(), String> {
        if self.published {
            return Ok(());
        }
        // SAFETY: the range is our own mapping; after the flush the bytes
        // written through `new`/`apply` are what instruction fetch sees.
        unsafe { kiln_flush_icache(self.base.cast(), self.base.add(self.mapped_len).cast()) };
        // SAFETY: `base..base+mapped_len` is exactly our mapping; no Rust
        // reference into it exists (we only hand out addresses), so
        // revoking write access invalidates nothing.
        unsafe { rustix::mm::mprotect(self.base.cast(), self.mapped_len, MprotectFlags::READ | MprotectFlags::EXEC) }
            .map_err(|e| format!("cannot make code executable: {e}"))?;
        self.published = true;
        Ok(())
    }

    /// Whether [`publish`](Self::publish) made the code read+execute.
    pub fn is_published(&self) -> bool {
        self.published
    }

    /// Number of functions.
    pub fn len(&self) -> usize {
        self.funcs.len()
    }

    /// Whether there is no function.
    pub fn is_empty(&self) -> bool {
        self.funcs.is_empty()
    }

    /// Address range of the whole mapping.
    pub fn mapped_range(&self) -> Range<usize> {
        self.base as usize..self.base as usize + self.mapped_len
    }

    /// Address range of function `i`'s code (panics if out of range).
    pub fn func_range(&self, i: usize) -> Range<usize> {
        let r = &self.funcs[i];
        self.base as usize + r.start..self.base as usize + r.end
    }

    /// Entry address of function `i` (panics if out of range).
    pub fn func_ptr(&self, i: usize) -> *const u8 {
        self.func_range(i).start as *const u8
    }
}

impl Drop for CodeMemory {
    fn drop(&mut self) {
        if self.file_map.is_some() {
            // The file's mapping owns the pages (`in_file_map`).
            return;
        }
        // SAFETY: our own mapping, unmapped once. Callers keep the
        // `CodeMemory` (via `Arc`, also held by the registry snapshots)
        // alive while any frame may run its code.
        let _ = unsafe { rustix::mm::munmap(self.base.cast(), self.mapped_len) };
    }
}

impl core::fmt::Debug for CodeMemory {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CodeMemory")
            .field("range", &self.mapped_range())
            .field("funcs", &self.funcs.len())
            .field("published", &self.published)
            .finish()
    }
}

// ---------------------------------------------------------------------------
// The registry.

/// One function of a registration.
struct FuncEntry {
    /// Absolute code range.
    range: Range<usize>,
    func_index: u32,
    /// (offset from the function start, code), sorted by offset.
    traps: Box<[(u32, TrapCode)]>,
}

/// One registered [`CodeMemory`]; immutable once built.
struct Registered {
    id: u64,
    range: Range<usize>,
    /// Sorted by start address (layout order).
    funcs: Box<[FuncEntry]>,
    /// Keeps the code mapped while any snapshot can point at it.
    _code: Arc<CodeMemory>,
}

/// An immutable view of all registrations, sorted by start address.
struct Snapshot {
    entries: Box<[Arc<Registered>]>,
}

struct Writer {
    /// The registrations of the current snapshot.
    current: Vec<Arc<Registered>>,
    /// Swapped-out snapshots that a reader may still hold.
    retired: Vec<*mut Snapshot>,
}

// SAFETY: the raw pointers in `retired` are owned boxes only touched under
// the `WRITER` mutex.
unsafe impl Send for Writer {}

static WRITER: Mutex<Writer> = Mutex::new(Writer { current: Vec::new(), retired: Vec::new() });
static SNAPSHOT: AtomicPtr<Snapshot> = AtomicPtr::new(core::ptr::null_mut());
static READERS: AtomicUsize = AtomicUsize::new(0);
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A registration in the code registry; unregisters on drop.
#[derive(Debug)]
pub struct CodeRegistration {
    id: u64,
}

impl CodeRegistration {
    /// The registration's id, as [`lookup_func`] reports it.
    pub fn id(&self) -> u64 {
        self.id
    }
}

impl Drop for CodeRegistration {
    fn drop(&mut self) {
        let id = self.id;
        update(|current| current.retain(|r| r.id != id));
    }
}

/// Applies `change` to the registration list under the writer lock and
/// publishes the result as a new snapshot (see the module documentation).
fn update(change: impl FnOnce(&mut Vec<Arc<Registered>>)) {
    let mut w = WRITER.lock().unwrap_or_else(|e| e.into_inner());
    change(&mut w.current);
    w.current.sort_by_key(|r| r.range.start);
    let new = Box::into_raw(Box::new(Snapshot { entries: w.current.clone().into_boxed_slice() }));
    let old = SNAPSHOT.swap(new, SeqCst);
    if !old.is_null() {
        w.retired.push(old);
    }
    if READERS.load(SeqCst) == 0 {
        for old in w.retired.drain(..) {
            // SAFETY: `old` came from `Box::into_raw` above, is no longer
            // reachable through `SNAPSHOT`, and with no reader active no
            // reader can hold it (module documentation); freed once since
            // it is drained from the list.
            drop(unsafe { Box::from_raw(old) });
        }
    }
}

/// Registers published code: `traps[i]` is function `i`'s trap table
/// (offsets from the function start; sorted here), `func_indices[i]` its
/// wasm function index. Both must have one entry per function of `code`.
pub fn register(
    code: Arc<CodeMemory>,
    traps: Vec<Vec<(u32, TrapCode)>>,
    func_indices: Vec<u32>,
) -> Result<CodeRegistration, String> {
    if !code.is_published() {
        return Err("code must be published before it is registered".into());
    }
    if traps.len() != code.len() || func_indices.len() != code.len() {
        return Err(format!(
            "{} functions but {} trap tables and {} function indices",
            code.len(),
            traps.len(),
            func_indices.len()
        ));
    }
    let mut funcs = Vec::with_capacity(code.len());
    for (i, (mut t, func_index)) in traps.into_iter().zip(func_indices).enumerate() {
        if !t.is_sorted_by_key(|&(off, _)| off) {
            t.sort_by_key(|&(off, _)| off);
        }
        let range = code.func_range(i);
        if let Some(&(off, _)) = t.iter().find(|&&(off, _)| off as usize >= range.len()) {
            return Err(format!("function {i}: trap offset {off} outside its {} bytes", range.len()));
        }
        funcs.push(FuncEntry { range, func_index, traps: t.into_boxed_slice() });
    }
    let id = NEXT_ID.fetch_add(1, SeqCst);
    let reg = Arc::new(Registered { id, range: code.mapped_range(), funcs: funcs.into_boxed_slice(), _code: code });
    update(|current| current.push(reg));
    Ok(CodeRegistration { id })
}

/// Runs `f` on the current snapshot's entries, as a registered reader.
/// Async-signal-safe if `f` is: no allocation, no lock.
#[inline]
fn with_snapshot<R>(f: impl FnOnce(&[Arc<Registered>]) -> R) -> R {
    READERS.fetch_add(1, SeqCst);
    let p = SNAPSHOT.load(SeqCst);
    let r = if p.is_null() {
        f(&[])
    } else {
        // SAFETY: `p` was loaded after we incremented `READERS`, so no
        // writer frees it until we decrement (module documentation); the
        // snapshot is immutable.
        f(unsafe { &(*p).entries })
    };
    READERS.fetch_sub(1, SeqCst);
    r
}

/// Finds the registration and function containing `pc`.
fn find(entries: &[Arc<Registered>], pc: usize) -> Option<(&Registered, &FuncEntry)> {
    let i = entries.partition_point(|r| r.range.start <= pc).checked_sub(1)?;
    let reg = &*entries[i];
    if !reg.range.contains(&pc) {
        return None;
    }
    let j = reg.funcs.partition_point(|f| f.range.start <= pc).checked_sub(1)?;
    let func = &reg.funcs[j];
    func.range.contains(&pc).then_some((reg, func))
}

/// The trap code of the trap site exactly at `pc`, if `pc` is one in
/// registered code. Async-signal-safe (no allocation, no lock).
pub fn lookup_trap(pc: usize) -> Option<TrapCode> {
    with_snapshot(|entries| {
        let (_, func) = find(entries, pc)?;
        let off = u32::try_from(pc - func.range.start).ok()?;
        let k = func.traps.binary_search_by_key(&off, |&(o, _)| o).ok()?;
        Some(func.traps[k].1)
    })
}

/// For a `pc` inside registered code: (registration id, wasm function
/// index, offset of `pc` from the function's start), for backtraces.
/// Async-signal-safe (no allocation, no lock).
pub fn lookup_func(pc: usize) -> Option<(u64, u32, u32)> {
    with_snapshot(|entries| {
        let (reg, func) = find(entries, pc)?;
        Some((reg.id, func.func_index, (pc - func.range.start) as u32))
    })
}

#[cfg(test)]
// The tests pass lists of executable ranges that often hold one range.
#[allow(clippy::single_range_in_vec_init)]
mod tests {
    use super::*;

    #[test]
    fn layout_respects_alignment_and_pages() {
        let a = [0x90u8; 3];
        let b = [0xccu8; 5];
        let c = [0xc3u8; 1];
        let mem = CodeMemory::new(&[(&a, 1), (&b, 16), (&c, 32)]).unwrap();
        let page = rustix::param::page_size();
        let base = mem.mapped_range().start;
        assert_eq!(base % page, 0);
        assert_eq!(mem.mapped_range().len() % page, 0);
        assert_eq!(mem.func_range(0), base..base + 3);
        assert_eq!(mem.func_range(1), base + 16..base + 21);
        assert_eq!(mem.func_range(2), base + 32..base + 33);
        // SAFETY: the mapping is readable (RW before publish) and the range
        // is inside it.
        let got = unsafe { core::slice::from_raw_parts(mem.func_ptr(1), 5) };
        assert_eq!(got, &b);
        assert!(CodeMemory::new(&[(&a, 3)]).is_err());
        let empty = CodeMemory::new(&[]).unwrap();
        assert!(empty.is_empty());
        assert_eq!(empty.mapped_range().len(), page);
    }

    /// Protection flags of the mapping containing `addr`, from /proc/self/maps.
    fn perms(addr: usize) -> String {
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        for line in maps.lines() {
            let mut it = line.split_whitespace();
            let range = it.next().unwrap();
            let (lo, hi) = range.split_once('-').unwrap();
            let (lo, hi) = (usize::from_str_radix(lo, 16).unwrap(), usize::from_str_radix(hi, 16).unwrap());
            if (lo..hi).contains(&addr) {
                return it.next().unwrap()[..3].to_string();
            }
        }
        panic!("{addr:#x} not mapped");
    }

    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    fn ret42() -> &'static [u8] {
        #[cfg(target_arch = "x86_64")]
        return &[0xb8, 0x2a, 0x00, 0x00, 0x00, 0xc3]; // mov eax, 42; ret
        #[cfg(target_arch = "aarch64")]
        return &[0x40, 0x05, 0x80, 0x52, 0xc0, 0x03, 0x5f, 0xd6]; // mov w0, #42; ret
    }

    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    #[test]
    fn published_code_is_rx_and_runs() {
        let mut mem = CodeMemory::new(&[(&[0u8; 7], 1), (ret42(), 16)]).unwrap();
        let addr = mem.func_ptr(1) as usize;
        if cfg!(target_os = "linux") {
            assert_eq!(perms(addr), "rw-");
        }
        mem.publish().unwrap();
        assert!(mem.is_published());
        if cfg!(target_os = "linux") {
            assert_eq!(perms(addr), "r-x");
        }
        // SAFETY: the function's bytes are a complete `extern "C" fn() ->
        // i32` for this architecture (`mov 42 into the return register;
        // ret`), the mapping is published RX and `mem` outlives the call.
        let f: extern "C" fn() -> i32 = unsafe { core::mem::transmute(mem.func_ptr(1)) };
        assert_eq!(f(), 42);
        assert!(mem.apply(1, 0, RelocKind::Abs8, 0, 0).is_err());
    }

    #[test]
    fn relocations_patch_before_publish() {
        let mut mem = CodeMemory::new(&[(&[0u8; 16], 16)]).unwrap();
        mem.apply(0, 0, RelocKind::Abs8, 0x1122_3344_5566_7788, 0).unwrap();
        let site = mem.func_range(0).start + 8;
        mem.apply(0, 8, RelocKind::X86CallPCRel4, site + 0x100, -4).unwrap();
        assert!(mem.apply(0, 12, RelocKind::Abs8, 0, 0).is_err(), "crosses the function's end");
        assert!(mem.apply(0, 12, RelocKind::X86PCRel4, site.wrapping_add(1 << 40), 0).is_err());
        mem.publish().unwrap();
        // SAFETY: the mapping is readable (RX) and 16 bytes long.
        let bytes = unsafe { core::slice::from_raw_parts(mem.func_ptr(0), 16) };
        assert_eq!(u64::from_le_bytes(bytes[..8].try_into().unwrap()), 0x1122_3344_5566_7788);
        assert_eq!(i32::from_le_bytes(bytes[8..12].try_into().unwrap()), 0x100 - 4);
    }

    #[test]
    fn arm64_call_relocation_patches_imm26() {
        // Two `bl #0` words (0x94000000), the second's target 0x100 bytes
        // back, the first's 0x40 ahead; out-of-range and misaligned targets
        // are refused.
        let code = [0x94000000u32.to_le_bytes(), 0x94000000u32.to_le_bytes()].concat();
        let mut mem = CodeMemory::new(&[(&code, 4)]).unwrap();
        let base = mem.func_range(0).start;
        mem.apply(0, 0, RelocKind::Arm64Call, base + 0x40, 0).unwrap();
        mem.apply(0, 4, RelocKind::Arm64Call, base + 4 - 0x100, 0).unwrap();
        assert!(mem.apply(0, 0, RelocKind::Arm64Call, base + (1 << 28), 0).is_err());
        assert!(mem.apply(0, 0, RelocKind::Arm64Call, base + 2, 0).is_err());
        mem.publish().unwrap();
        // SAFETY: the mapping is readable and 8 bytes long.
        let words = unsafe { core::slice::from_raw_parts(mem.func_ptr(0).cast::<u32>(), 2) };
        assert_eq!(words[0], 0x94000000 | 0x10);
        assert_eq!(words[1], 0x94000000 | (((-0x40i32) as u32) & 0x03ff_ffff));
    }

    /// Code used in place from a private read-only file mapping: made
    /// writable only for its relocation, then read+execute; the file is
    /// unchanged.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn code_in_a_file_mapping_is_relocated_and_runs_in_place() {
        use std::io::Write;
        let page = rustix::param::page_size();
        let mut bytes = vec![0u8; page];
        bytes.extend_from_slice(&[0x48, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0xc3]); // movabs rax, imm64; ret
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&bytes).unwrap();
        // SAFETY: a private read-only mapping of our own temporary file.
        let map = Arc::new(unsafe { memmap2::MmapOptions::new().map_copy_read_only(&file) }.unwrap());
        let mut mem = CodeMemory::in_file_map(map.clone(), page, 11, vec![0..11]).unwrap();
        assert_eq!(mem.func_ptr(0), map[page..].as_ptr());
        if cfg!(target_os = "linux") {
            assert_eq!(perms(mem.func_ptr(0) as usize), "r--");
        }
        mem.apply(0, 2, RelocKind::Abs8, 0x1234_5678_9abc_def0, 0).unwrap();
        mem.publish().unwrap();
        if cfg!(target_os = "linux") {
            assert_eq!(perms(mem.func_ptr(0) as usize), "r-x");
        }
        // SAFETY: the entry is `movabs rax, imm64; ret`, relocated above,
        // published RX; `mem` (and the mapping) outlive the call.
        let f: extern "C" fn() -> u64 = unsafe { core::mem::transmute(mem.func_ptr(0)) };
        assert_eq!(f(), 0x1234_5678_9abc_def0);
        let mut on_disk = Vec::new();
        std::io::Seek::rewind(&mut file).unwrap();
        std::io::Read::read_to_end(&mut file, &mut on_disk).unwrap();
        assert_eq!(on_disk, bytes, "the file is never written");
        assert!(CodeMemory::in_file_map(map.clone(), 1, 4, vec![0..4]).is_err(), "unaligned");
        assert!(CodeMemory::in_file_map(map, page, page + 1, vec![]).is_err(), "beyond the file");
    }

    /// Relocations as Cranelift emits them, executed: an absolute 64-bit
    /// immediate and a PC-relative call (addend -4) to a sibling function.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn relocated_code_runs() {
        let imm: &[u8] = &[0x48, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0xc3]; // movabs rax, imm64; ret
        let callee: &[u8] = &[0xb8, 0x07, 0x00, 0x00, 0x00, 0xc3]; // mov eax, 7; ret
        let caller: &[u8] = &[0xe8, 0, 0, 0, 0, 0x83, 0xc0, 0x01, 0xc3]; // call rel32; add eax, 1; ret
        let mut mem = CodeMemory::new(&[(imm, 16), (callee, 16), (caller, 16)]).unwrap();
        mem.apply(0, 2, RelocKind::Abs8, 0x0123_4567_89ab_cdef, 0).unwrap();
        let target = mem.func_range(1).start;
        mem.apply(2, 1, RelocKind::X86CallPCRel4, target, -4).unwrap();
        mem.publish().unwrap();
        // SAFETY: each function is a complete `extern "C"` leaf or calls a
        // leaf sibling, relocated above; the mapping is RX and outlives the
        // calls.
        let (f0, f2) = unsafe {
            (
                core::mem::transmute::<*const u8, extern "C" fn() -> u64>(mem.func_ptr(0)),
                core::mem::transmute::<*const u8, extern "C" fn() -> i32>(mem.func_ptr(2)),
            )
        };
        assert_eq!(f0(), 0x0123_4567_89ab_cdef);
        assert_eq!(f2(), 8);
    }

    fn published(sizes: &[usize]) -> Arc<CodeMemory> {
        let bufs: Vec<Vec<u8>> = sizes.iter().map(|&n| vec![0xccu8; n]).collect();
        let funcs: Vec<(&[u8], u32)> = bufs.iter().map(|b| (&b[..], 16)).collect();
        let mut mem = CodeMemory::new(&funcs).unwrap();
        mem.publish().unwrap();
        Arc::new(mem)
    }

    #[test]
    fn registry_finds_exact_trap_sites() {
        let code = published(&[40, 20]);
        let f0 = code.func_range(0).start;
        let f1 = code.func_range(1).start;
        let unpub = CodeMemory::new(&[(&[0u8; 4], 1)]).unwrap();
        assert!(register(Arc::new(unpub), vec![vec![]], vec![0]).is_err());
        assert!(register(code.clone(), vec![vec![]], vec![0, 1]).is_err());
        assert!(register(code.clone(), vec![vec![(40, TrapCode::InternalError)], vec![]], vec![3, 4]).is_err());
        let reg = register(
            code.clone(),
            vec![
                vec![(30, TrapCode::IntegerDivisionByZero), (4, TrapCode::MemoryOutOfBounds)],
                vec![(0, TrapCode::StackOverflow)],
            ],
            vec![7, 9],
        )
        .unwrap();
        assert_eq!(lookup_trap(f0 + 4), Some(TrapCode::MemoryOutOfBounds));
        assert_eq!(lookup_trap(f0 + 30), Some(TrapCode::IntegerDivisionByZero));
        assert_eq!(lookup_trap(f1), Some(TrapCode::StackOverflow));
        assert_eq!(lookup_trap(f0 + 5), None);
        assert_eq!(lookup_trap(f0 + 3), None);
        assert_eq!(lookup_trap(f0 + 40), None, "padding between functions");
        assert_eq!(lookup_trap(code.mapped_range().end), None);
        assert_eq!(lookup_trap(0), None);
        assert_eq!(lookup_func(f0 + 5), Some((reg.id(), 7, 5)));
        assert_eq!(lookup_func(f1 + 19), Some((reg.id(), 9, 19)));
        assert_eq!(lookup_func(f1 + 20), None);
        drop(reg);
        assert_eq!(lookup_trap(f0 + 4), None);
        assert_eq!(lookup_func(f0 + 5), None);
    }

    #[test]
    fn concurrent_register_and_lookup() {
        use std::sync::atomic::AtomicBool;
        let stable = published(&[64]);
        let start = stable.func_range(0).start;
        let _keep = register(stable.clone(), vec![vec![(10, TrapCode::UnreachableCodeReached)]], vec![1]).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let mut n = 0u64;
                    while n < 10_000 || !stop.load(SeqCst) {
                        assert_eq!(lookup_trap(start + 10), Some(TrapCode::UnreachableCodeReached));
                        assert_eq!(lookup_trap(start + 11), None);
                        assert_eq!(lookup_func(start + 11).map(|(_, f, o)| (f, o)), Some((1, 11)));
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        let writers: Vec<_> = (0..2)
            .map(|t| {
                std::thread::spawn(move || {
                    for i in 0..200u32 {
                        let code = published(&[32, 32]);
                        let at = code.func_range(1).start + 8;
                        // `code` stays mapped until the end of the iteration, so no
                        // other thread can get its addresses in between.
                        let reg = register(code.clone(), vec![vec![], vec![(8, TrapCode::BadSignature)]], vec![t, i])
                            .unwrap();
                        assert_eq!(lookup_trap(at), Some(TrapCode::BadSignature));
                        assert_eq!(lookup_func(at).map(|(id, f, _)| (id, f)), Some((reg.id(), i)));
                        drop(reg);
                        assert_eq!(lookup_trap(at), None);
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        stop.store(true, SeqCst);
        for r in readers {
            assert!(r.join().unwrap() > 0);
        }
    }
}
