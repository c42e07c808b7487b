//! The builtins table: the runtime helpers compiled code calls through
//! `VMContextHeader::builtins` (see `kiln_environ::builtins`).
//!
//! Every builtin of [`foreach_builtin!`](kiln_environ::foreach_builtin)
//! is an `unsafe extern "C" fn` here with exactly the declared signature
//! (`vmctx` → `*mut VMContext`, `u32` → `u32`, `ptr` → `usize`, `status` →
//! `u32`, `none` → `()`), delegating to [`crate::libcalls`]. [`BUILTINS_TABLE`]
//! is generated from the same macro, so its field order *is* the builtin
//! index order and each field's type *is* the declared signature (a
//! mismatch does not compile); a test checks every field's offset against
//! the index list of `kiln_environ::builtins::BUILTINS`.
//!
//! Results: `status` is 0 on success, else the trap's
//! [`TrapCode::to_u8`](kiln_environ::TrapCode::to_u8) byte;
//! `memory_grow`/`table_grow` return the old size or `u32::MAX`.
//!
//! Every builtin's contract (the `# Safety` of each function): `vmctx` is
//! the live VMContext of an instance whose store is not otherwise borrowed
//! during the call (compiled code runs inside a store call), and the
//! memory/table/segment indices were validated with the module. Guest
//! values (addresses, lengths, deltas) are checked by the libcalls and
//! never cause a panic.

use crate::instance::Instance;
use crate::libcalls;
use kiln_environ::TrapCode;
use kiln_environ::vm::VMContext;

/// A `status` result: 0 or the trap code byte.
#[inline]
fn status(r: Result<(), TrapCode>) -> u32 {
    match r {
        Ok(()) => 0,
        Err(c) => c.to_u8() as u32,
    }
}

/// The instance of `vmctx`.
///
/// # Safety
/// `vmctx` is a live instance VMContext.
#[inline(always)]
unsafe fn inst(vmctx: *mut VMContext) -> *mut Instance {
    // SAFETY: per the contract.
    unsafe { Instance::from_vmctx(vmctx) }
}

/// The builtin implementations, one per `foreach_builtin!` entry.
pub mod impls {
    use super::*;

    /// `memory.grow` of memory `mem` by `delta` pages: the old size in
    /// pages, or `u32::MAX` on failure.
    ///
    /// # Safety
    /// See the module docs.
    pub unsafe extern "C" fn memory_grow(vmctx: *mut VMContext, mem: u32, delta: u32) -> u32 {
        // SAFETY: see the module docs.
        unsafe { libcalls::memory_grow(inst(vmctx), mem, delta) as u32 }
    }

    /// `memory.fill` of `len` bytes at `dst` with `val & 0xff`.
    ///
    /// # Safety
    /// See the module docs.
    pub unsafe extern "C" fn memory_fill(vmctx: *mut VMContext, mem: u32, dst: u32, val: u32, len: u32) -> u32 {
        // SAFETY: see the module docs.
        status(unsafe { libcalls::memory_fill(inst(vmctx), mem, dst, val as u8, len) })
    }

    /// `memory.copy` of `len` bytes from `src_mem[src]` to `dst_mem[dst]`.
    ///
    /// # Safety
    /// See the module docs.
    pub unsafe extern "C" fn memory_copy(
        vmctx: *mut VMContext,
        dst_mem: u32,
        src_mem: u32,
        dst: u32,
        src: u32,
        len: u32,
    ) -> u32 {
        // SAFETY: see the module docs.
        status(unsafe { libcalls::memory_copy(inst(vmctx), dst_mem, dst, src_mem, src, len) })
    }

    /// `memory.init` of `len` bytes from data segment `data` at `src` to
    /// memory `mem` at `dst`.
    ///
    /// # Safety
    /// See the module docs.
    pub unsafe extern "C" fn memory_init(
        vmctx: *mut VMContext,
        mem: u32,
        data: u32,
        dst: u32,
        src: u32,
        len: u32,
    ) -> u32 {
        // SAFETY: see the module docs.
        status(unsafe { libcalls::memory_init(inst(vmctx), mem, data, dst, src, len) })
    }

    /// `data.drop`.
    ///
    /// # Safety
    /// See the module docs.
    pub unsafe extern "C" fn data_drop(vmctx: *mut VMContext, data: u32) {
        // SAFETY: see the module docs.
        unsafe { libcalls::data_drop(inst(vmctx), data) }
    }

    /// `table.grow` of table `table` by `delta` elements set to `init`:
    /// the old size, or `u32::MAX` on failure.
    ///
    /// # Safety
    /// See the module docs; `init` is null or a reference valid for the
    /// table's element type.
    pub unsafe extern "C" fn table_grow(vmctx: *mut VMContext, table: u32, delta: u32, init: usize) -> u32 {
        // SAFETY: see the module docs.
        unsafe { libcalls::table_grow(inst(vmctx), table, init, delta) as u32 }
    }

    /// `table.fill` of `len` elements at `dst` with `val`.
    ///
    /// # Safety
    /// As for [`table_grow`].
    pub unsafe extern "C" fn table_fill(vmctx: *mut VMContext, table: u32, dst: u32, val: usize, len: u32) -> u32 {
        // SAFETY: see the module docs.
        status(unsafe { libcalls::table_fill(inst(vmctx), table, dst, val, len) })
    }

    /// `table.copy` of `len` elements from `src_table[src]` to
    /// `dst_table[dst]`.
    ///
    /// # Safety
    /// See the module docs.
    pub unsafe extern "C" fn table_copy(
        vmctx: *mut VMContext,
        dst_table: u32,
        src_table: u32,
        dst: u32,
        src: u32,
        len: u32,
    ) -> u32 {
        // SAFETY: see the module docs.
        status(unsafe { libcalls::table_copy(inst(vmctx), dst_table, dst, src_table, src, len) })
    }

    /// `table.init` of `len` elements from element segment `elem` at `src`
    /// to table `table` at `dst`.
    ///
    /// # Safety
    /// See the module docs.
    pub unsafe extern "C" fn table_init(
        vmctx: *mut VMContext,
        table: u32,
        elem: u32,
        dst: u32,
        src: u32,
        len: u32,
    ) -> u32 {
        // SAFETY: see the module docs.
        status(unsafe { libcalls::table_init(inst(vmctx), table, elem, dst, src, len) })
    }

    /// `elem.drop`.
    ///
    /// # Safety
    /// See the module docs.
    pub unsafe extern "C" fn elem_drop(vmctx: *mut VMContext, elem: u32) {
        // SAFETY: see the module docs.
        unsafe { libcalls::elem_drop(inst(vmctx), elem) }
    }

    /// `raise`: unwinds to the nearest host→wasm entry with the store's
    /// pending error (called by wasm→array trampolines, with their frame
    /// pointer `fp`, when an array call fails). Never returns.
    ///
    /// # Safety
    /// See the module docs; only called from generated code running
    /// inside a host→native entry (`native_array_call`).
    pub unsafe extern "C" fn raise(_vmctx: *mut VMContext, fp: usize) {
        #[cfg(unix)]
        // SAFETY: called by a trampoline inside `catch_traps`: the frames
        // above are native code and trampolines owning nothing.
        unsafe {
            crate::traphandlers::unwind_to_entry(fp)
        }
        #[cfg(not(unix))]
        {
            let _ = fp;
            std::process::abort()
        }
    }
}

macro_rules! builtins_table {
    ($( $(#[$doc:meta])* $idx:literal $name:ident ( $($p:ident : $pty:ident),* ) -> $ret:ident; )*) => {
        /// The runtime's builtin functions, one pointer-sized field per
        /// builtin in index order (`#[repr(C)]`: field `i` is at byte
        /// offset `i * size_of::<usize>()`), typed with the declared
        /// signatures. `VMContextHeader::builtins` points at
        /// [`BUILTINS_TABLE`].
        #[repr(C)]
        pub struct BuiltinsTable {
            $(
                $(#[$doc])*
                pub $name: builtins_table!(@fn ($($pty),*) $ret),
            )*
        }

        /// The table every instance's `VMContextHeader::builtins` points to.
        pub static BUILTINS_TABLE: BuiltinsTable = BuiltinsTable {
            $( $name: impls::$name, )*
        };

        /// `(index, name, byte offset in BuiltinsTable)` of every field,
        /// in declaration order (for the drift test).
        #[doc(hidden)]
        pub const TABLE_FIELDS: &[(u32, &str, usize)] = &[
            $( ($idx, stringify!($name), core::mem::offset_of!(BuiltinsTable, $name)), )*
        ];
    };
    (@ty vmctx) => { *mut VMContext };
    (@ty u32) => { u32 };
    (@ty ptr) => { usize };
    (@fn ($($pty:ident),*) none) => { unsafe extern "C" fn($(builtins_table!(@ty $pty)),*) };
    (@fn ($($pty:ident),*) $ret:ident) => { unsafe extern "C" fn($(builtins_table!(@ty $pty)),*) -> u32 };
}

kiln_environ::foreach_builtin!(builtins_table);

impl BuiltinsTable {
    /// The table's address, as stored in `VMContextHeader::builtins`.
    pub fn as_ptr(&'static self) -> *const u8 {
        (self as *const BuiltinsTable).cast()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_environ::builtins::BUILTINS;

    #[test]
    fn table_matches_the_builtin_list() {
        assert_eq!(TABLE_FIELDS.len(), BUILTINS.len());
        assert_eq!(core::mem::size_of::<BuiltinsTable>(), BUILTINS.len() * core::mem::size_of::<usize>());
        for (b, (idx, name, off)) in BUILTINS.iter().zip(TABLE_FIELDS) {
            assert_eq!(b.index.0, *idx, "{name}");
            assert_eq!(b.name, *name);
            assert_eq!(*off, b.index.0 as usize * core::mem::size_of::<usize>(), "{name}");
        }
    }

    #[test]
    fn table_entries_are_the_impls() {
        // SAFETY: `BuiltinsTable` is `repr(C)` with only pointer-sized
        // function pointer fields (size checked above).
        let words = unsafe { core::slice::from_raw_parts(BUILTINS_TABLE.as_ptr().cast::<usize>(), BUILTINS.len()) };
        assert_eq!(
            words[kiln_environ::builtins::BuiltinIndex::memory_grow.0 as usize],
            impls::memory_grow as *const () as usize
        );
        assert_eq!(words[kiln_environ::builtins::BuiltinIndex::raise.0 as usize], impls::raise as *const () as usize);
        assert!(words.iter().all(|w| *w != 0));
    }
}
