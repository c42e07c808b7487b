//! The VM structures that native code and the interpreter share, and the
//! layout of a VMContext.
//!
//! Each structure is declared once with `vm_structs!`: the declaration
//! generates the `#[repr(C)]` Rust type *and* a `*Layout` type whose
//! `for_target(ptr)` computes the field offsets for any pointer size with
//! C layout rules, so the Cranelift translator can compile for a target whose
//! pointer size differs from the host's (AOT cross-compilation). A test
//! checks for every structure that the computed host layout equals what
//! rustc laid out.
//!
//! A **VMContext** is one allocation per instance: the [`VMContextHeader`]
//! followed by arrays whose offsets [`VMOffsets`] computes from the module's
//! entity counts:
//!
//! ```text
//! header            VMContextHeader
//! func_ptrs         [*const VMFuncRef; num_funcs]          every function, imports first
//! memory_ptrs       [*mut VMMemoryDefinition; num_memories]
//! table_ptrs        [*mut VMTableDefinition; num_tables]
//! global_ptrs       [*mut VMGlobalDefinition; num_globals]
//! globals           [VMGlobalDefinition; num_defined_globals]   16-byte aligned
//! func_refs         [VMFuncRef; num_defined_funcs]
//! ```
//!
//! Every access to a function, memory, table or global — from any tier —
//! goes through the `*_ptrs` array, so imported and defined entities look
//! alike, and a tier-up only changes the entries of a `VMFuncRef`.
//! Memory and table definitions live in store-owned objects at stable
//! addresses (a memory's definition changes when it grows, a table's when it
//! grows; every instance that imports them sees the change at once); defined
//! globals and function references live inline in the VMContext.

use crate::VMSharedTypeIndex;
use crate::module::ModuleInfo;

/// Pointer size of a compilation target, in bytes (4 or 8).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct PtrSize(pub u8);

impl PtrSize {
    /// The pointer size of the host that runs this code.
    pub const HOST: PtrSize = PtrSize(core::mem::size_of::<usize>() as u8);
}

/// Field kinds the layout calculator knows: their size and alignment for a
/// given pointer size.
#[doc(hidden)]
pub const fn kind_size(kind: &str, ptr: PtrSize) -> u32 {
    match kind.as_bytes() {
        b"ptr" => ptr.0 as u32,
        b"u32" => 4,
        b"u64" => 8,
        b"v128" => 16,
        _ => panic!("unknown VM field kind"),
    }
}

const fn align_up(x: u32, a: u32) -> u32 {
    x.div_ceil(a) * a
}

macro_rules! vm_structs {
    ($(
        $(#[$meta:meta])*
        pub struct $name:ident / $layout:ident $(align($al:literal))? {
            $( $(#[$fmeta:meta])* pub $field:ident : $ty:ty = $kind:literal, )*
        }
    )*) => {$(
        $(#[$meta])*
        #[repr(C $(, align($al))?)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )*
        }

        #[doc = concat!("Byte offsets of the fields of [`", stringify!($name), "`] for one target.")]
        #[derive(Clone, Copy, PartialEq, Eq, Debug)]
        pub struct $layout {
            $( #[doc = concat!("Offset of `", stringify!($field), "`.")] pub $field: u32, )*
            /// Size of the structure, padded to its alignment.
            pub size: u32,
            /// Alignment of the structure.
            pub align: u32,
        }

        impl $layout {
            /// Computes the layout with C rules for pointer size `ptr`.
            #[allow(unused_assignments)]
            pub const fn for_target(ptr: PtrSize) -> $layout {
                let mut off = 0u32;
                let mut align = 1u32;
                $(
                    let sz = kind_size($kind, ptr);
                    off = align_up(off, sz);
                    let $field = off;
                    off += sz;
                    if sz > align { align = sz; }
                )*
                $( if $al > align { align = $al; } )?
                $layout { $( $field, )* size: align_up(off, align), align }
            }

            /// The layout for the host.
            pub const HOST: $layout = $layout::for_target(PtrSize::HOST);

            /// Asserts that the computed host layout equals rustc's layout
            /// of the Rust type (run by the test suite).
            #[doc(hidden)]
            pub fn assert_matches_host() {
                let l = $layout::HOST;
                $( assert_eq!(l.$field as usize, core::mem::offset_of!($name, $field),
                    concat!(stringify!($name), ".", stringify!($field))); )*
                assert_eq!(l.size as usize, core::mem::size_of::<$name>(), stringify!($name));
                assert_eq!(l.align as usize, core::mem::align_of::<$name>(), stringify!($name));
            }
        }
    )*};
}

/// An opaque VMContext: the header followed by the per-module arrays.
#[repr(C, align(16))]
pub struct VMContext {
    _opaque: [u8; 0],
}

/// One value slot of the array-call ABI and of interpreter frames: 8 bytes,
/// little-endian bits of an i32 (zero-extended), i64, f32 bits, f64 bits or
/// a reference pointer. A `v128` takes two consecutive slots.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
#[repr(transparent)]
pub struct ValRaw(pub u64);

impl ValRaw {
    #[inline]
    pub const fn i32(v: i32) -> Self {
        ValRaw(v as u32 as u64)
    }
    #[inline]
    pub const fn i64(v: i64) -> Self {
        ValRaw(v as u64)
    }
    #[inline]
    pub const fn f32(bits: u32) -> Self {
        ValRaw(bits as u64)
    }
    #[inline]
    pub const fn f64(bits: u64) -> Self {
        ValRaw(bits)
    }
    #[inline]
    pub fn ptr<T>(p: *const T) -> Self {
        ValRaw(p as usize as u64)
    }
    #[inline]
    pub const fn get_i32(self) -> i32 {
        self.0 as u32 as i32
    }
    #[inline]
    pub const fn get_i64(self) -> i64 {
        self.0 as i64
    }
    #[inline]
    pub const fn get_f32(self) -> u32 {
        self.0 as u32
    }
    #[inline]
    pub const fn get_f64(self) -> u64 {
        self.0
    }
    #[inline]
    pub fn get_ptr<T>(self) -> *mut T {
        self.0 as usize as *mut T
    }
}

/// The array-call ABI: one host-callable entry for every signature.
///
/// `callee` is the function's own `VMFuncRef` (its `vmctx` gives the
/// instance or host context); `caller_vmctx` is the calling instance's
/// VMContext (null when the host calls); `args` points to `args_len`
/// slots holding the parameters on entry and the results on a successful
/// return (`args_len >= max(param slots, result slots)`). Returns `false`
/// when the call trapped or the host function failed; the error is then
/// recorded in the store, never unwound through the caller.
pub type VMArrayCallFn = unsafe extern "C" fn(
    callee: *const VMFuncRef,
    caller_vmctx: *mut VMContext,
    args: *mut ValRaw,
    args_len: usize,
) -> bool;

vm_structs! {
    /// A function reference: what `funcref` values, tables and `call`
    /// instructions point to. One per defined function per instance, one
    /// per host function. Tier-up replaces `array_call` / `wasm_call`
    /// without touching callers.
    ///
    /// **Calling `wasm_call`.** Callers (compiled wasm, trampolines) pass
    /// the funcref pointer itself as the first argument (`callee`) and
    /// their own VMContext as the second. A compiled wasm function finds
    /// its instance's VMContext at a constant offset from its funcref
    /// (`VMOffsets::func_ref`): the funcrefs of defined functions live
    /// inside their instance's VMContext and are never copied.
    ///
    /// **A null `wasm_call`** means the function has no native entry yet
    /// (it is interpreted; tiered mode). Compiled callers then call the
    /// per-signature *wasm→array trampoline* instead, which calls
    /// `array_call(callee, caller_vmctx, slots, n)` and, when that returns
    /// `false`, the `raise` builtin (the error is the store's pending
    /// error). Host functions carry that trampoline as their `wasm_call`.
    pub struct VMFuncRef / VMFuncRefLayout {
        /// Entry with the array-call ABI ([`VMArrayCallFn`]).
        pub array_call: VMArrayCallFn = "ptr",
        /// Native entry with the wasm-call (register) ABI; null while the
        /// function has no native code.
        pub wasm_call: *const u8 = "ptr",
        /// Canonical type id, compared by `call_indirect`.
        pub type_index: VMSharedTypeIndex = "u32",
        /// Index in the owning module's function space (`u32::MAX` for
        /// host functions).
        pub func_index: u32 = "u32",
        /// The callee's context: an instance VMContext for wasm functions,
        /// a host-function context for host functions.
        pub vmctx: *mut VMContext = "ptr",
    }

    /// A linear memory's current extent (spec §4.2.8, "Memory Instances").
    /// `base` never changes while the memory fits its reservation.
    pub struct VMMemoryDefinition / VMMemoryDefinitionLayout {
        /// Start of the accessible bytes.
        pub base: *mut u8 = "ptr",
        /// Accessible length in bytes (a multiple of the page size).
        pub current_length: usize = "ptr",
    }

    /// A table's current extent (spec §4.2.7, "Table Instances").
    /// Elements are pointer-sized: a `*const VMFuncRef` for funcref tables,
    /// an externref pointer for externref tables; null is `ref.null`.
    pub struct VMTableDefinition / VMTableDefinitionLayout {
        pub base: *mut usize = "ptr",
        /// Number of elements.
        pub current_elements: usize = "ptr",
    }

    /// A global's value storage: 16 bytes (room for `v128`), value bits
    /// little-endian at offset 0, as in [`ValRaw`].
    pub struct VMGlobalDefinition / VMGlobalDefinitionLayout align(16) {
        pub bits: u128 = "v128",
    }

    /// Per-store state that generated code reads.
    pub struct VMStoreContext / VMStoreContextLayout {
        /// Lowest stack address native wasm code may use (JIT stack checks).
        pub stack_limit: usize = "ptr",
        /// The engine's epoch counter (`Engine::increment_epoch`).
        pub epoch_ptr: *const core::sync::atomic::AtomicU64 = "ptr",
        /// Guest code traps with "interrupt" once the epoch reaches this.
        pub epoch_deadline: u64 = "u64",
    }

    /// The fixed start of every VMContext.
    pub struct VMContextHeader / VMContextHeaderLayout {
        /// [`VMCONTEXT_MAGIC`], checked by debug assertions.
        pub magic: u32 = "u32",
        /// Padding; zero.
        pub _reserved: u32 = "u32",
        /// The owning store's [`VMStoreContext`].
        pub store_context: *mut VMStoreContext = "ptr",
        /// The runtime's table of builtin functions (libcalls).
        pub builtins: *const u8 = "ptr",
        /// Canonical type ids, indexed by the module's `TypeIndex`.
        pub type_ids: *const VMSharedTypeIndex = "ptr",
        /// Back pointer to the runtime's instance record.
        pub instance: *mut u8 = "ptr",
    }
}

/// Value of [`VMContextHeader::magic`]: `b"kiln"` little-endian.
pub const VMCONTEXT_MAGIC: u32 = u32::from_le_bytes(*b"kiln");

/// Offsets of every part of a VMContext for one module and target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VMOffsets {
    pub ptr: PtrSize,
    pub num_funcs: u32,
    pub num_defined_funcs: u32,
    pub num_memories: u32,
    pub num_defined_memories: u32,
    pub num_tables: u32,
    pub num_defined_tables: u32,
    pub num_globals: u32,
    pub num_defined_globals: u32,
    pub header: VMContextHeaderLayout,
    pub func_ref: VMFuncRefLayout,
    pub memory: VMMemoryDefinitionLayout,
    pub table: VMTableDefinitionLayout,
    pub global: VMGlobalDefinitionLayout,
    pub func_ptrs: u32,
    pub memory_ptrs: u32,
    pub table_ptrs: u32,
    pub global_ptrs: u32,
    pub defined_globals: u32,
    pub func_refs: u32,
    /// Total size of the VMContext in bytes.
    pub size: u32,
}

impl VMOffsets {
    /// Computes the layout for `module` on a target with pointer size `ptr`.
    pub fn new(ptr: PtrSize, module: &ModuleInfo) -> VMOffsets {
        Self::from_counts(
            ptr,
            [
                module.functions.len() as u32,
                module.num_defined_funcs(),
                module.memories.len() as u32,
                module.num_defined_memories(),
                module.tables.len() as u32,
                module.num_defined_tables(),
                module.globals.len() as u32,
                module.num_defined_globals(),
            ],
        )
    }

    /// Computes the layout from entity counts: `[funcs, defined funcs,
    /// memories, defined memories, tables, defined tables, globals,
    /// defined globals]`.
    pub fn from_counts(ptr: PtrSize, counts: [u32; 8]) -> VMOffsets {
        let [nf, ndf, nm, ndm, nt, ndt, ng, ndg] = counts;
        let header = VMContextHeaderLayout::for_target(ptr);
        let func_ref = VMFuncRefLayout::for_target(ptr);
        let memory = VMMemoryDefinitionLayout::for_target(ptr);
        let table = VMTableDefinitionLayout::for_target(ptr);
        let global = VMGlobalDefinitionLayout::for_target(ptr);
        let p = ptr.0 as u32;
        let mut off = header.size;
        let mut take = |align: u32, bytes: u32| {
            off = align_up(off, align);
            let at = off;
            off += bytes;
            at
        };
        let func_ptrs = take(p, p * nf);
        let memory_ptrs = take(p, p * nm);
        let table_ptrs = take(p, p * nt);
        let global_ptrs = take(p, p * ng);
        let defined_globals = take(global.align, global.size * ndg);
        let func_refs = take(func_ref.align, func_ref.size * ndf);
        let size = align_up(off, 16);
        VMOffsets {
            ptr,
            num_funcs: nf,
            num_defined_funcs: ndf,
            num_memories: nm,
            num_defined_memories: ndm,
            num_tables: nt,
            num_defined_tables: ndt,
            num_globals: ng,
            num_defined_globals: ndg,
            header,
            func_ref,
            memory,
            table,
            global,
            func_ptrs,
            memory_ptrs,
            table_ptrs,
            global_ptrs,
            defined_globals,
            func_refs,
            size,
        }
    }

    /// Offset of `func_ptrs[index]`.
    #[inline]
    pub fn func_ptr(&self, index: u32) -> u32 {
        self.func_ptrs + index * self.ptr.0 as u32
    }
    /// Offset of `memory_ptrs[index]`.
    #[inline]
    pub fn memory_ptr(&self, index: u32) -> u32 {
        self.memory_ptrs + index * self.ptr.0 as u32
    }
    /// Offset of `table_ptrs[index]`.
    #[inline]
    pub fn table_ptr(&self, index: u32) -> u32 {
        self.table_ptrs + index * self.ptr.0 as u32
    }
    /// Offset of `global_ptrs[index]`.
    #[inline]
    pub fn global_ptr(&self, index: u32) -> u32 {
        self.global_ptrs + index * self.ptr.0 as u32
    }
    /// Offset of the defined global `index`'s [`VMGlobalDefinition`].
    #[inline]
    pub fn defined_global(&self, index: u32) -> u32 {
        self.defined_globals + index * self.global.size
    }
    /// Offset of the defined function `index`'s [`VMFuncRef`].
    #[inline]
    pub fn func_ref(&self, index: u32) -> u32 {
        self.func_refs + index * self.func_ref.size
    }
}

/// A fingerprint of everything compiled code assumes about the runtime's
/// data layout and helper tables on a target with pointer size `ptr`: the
/// field offsets of every VM structure, a sample [`VMOffsets`], the
/// builtin table (names and signatures, in order), the library calls and
/// the trap codes. `.aot` files record it; a runtime whose fingerprint
/// differs refuses them (FNV-1a 64 over their `Debug` text).
pub fn layout_fingerprint(ptr: PtrSize) -> u64 {
    let text = format!(
        "{:?}{:?}{:?}{:?}{:?}{:?}{:?}{:?}{:?}{:?}",
        VMFuncRefLayout::for_target(ptr),
        VMMemoryDefinitionLayout::for_target(ptr),
        VMTableDefinitionLayout::for_target(ptr),
        VMGlobalDefinitionLayout::for_target(ptr),
        VMStoreContextLayout::for_target(ptr),
        VMContextHeaderLayout::for_target(ptr),
        VMOffsets::from_counts(ptr, [7, 5, 2, 1, 3, 2, 4, 3]),
        crate::builtins::BUILTINS,
        crate::LibCall::ALL,
        crate::TrapCode::ALL,
    );
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn computed_layouts_match_rustc() {
        VMFuncRefLayout::assert_matches_host();
        VMMemoryDefinitionLayout::assert_matches_host();
        VMTableDefinitionLayout::assert_matches_host();
        VMGlobalDefinitionLayout::assert_matches_host();
        VMStoreContextLayout::assert_matches_host();
        VMContextHeaderLayout::assert_matches_host();
    }

    #[test]
    fn layout_for_32_bit_targets() {
        let l = VMFuncRefLayout::for_target(PtrSize(4));
        assert_eq!((l.array_call, l.wasm_call, l.type_index, l.func_index, l.vmctx), (0, 4, 8, 12, 16));
        assert_eq!(l.size, 20);
        let h = VMFuncRefLayout::for_target(PtrSize(8));
        assert_eq!((h.vmctx, h.size), (24, 32));
    }

    #[test]
    fn vmoffsets_arrays_do_not_overlap_and_are_aligned() {
        let o = VMOffsets::from_counts(PtrSize(8), [5, 3, 1, 1, 2, 1, 3, 2]);
        assert_eq!(o.func_ptrs, o.header.size);
        assert!(o.memory_ptrs >= o.func_ptr(5));
        assert!(o.table_ptrs >= o.memory_ptr(1));
        assert!(o.global_ptrs >= o.table_ptr(2));
        assert!(o.defined_globals >= o.global_ptr(3));
        assert_eq!(o.defined_globals % 16, 0);
        assert!(o.func_refs >= o.defined_global(2));
        assert_eq!(o.size, o.func_ref(3).div_ceil(16) * 16);
    }
}
