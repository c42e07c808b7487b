//! Builtins: the runtime helpers that compiled code calls, declared once.
//!
//! Compiled code never links against runtime symbols. It loads
//! `VMContextHeader::builtins` — a pointer to an array of function pointers,
//! one per [`BuiltinIndex`], in the order of `foreach_builtin!` — and calls
//! entry `index` indirectly with the target's default C calling convention
//! (System V on x86-64 Linux). So JIT and AOT code link against exactly the
//! same helpers and need no patching at load time.
//!
//! Conventions shared by every builtin:
//! * the first argument is the **calling instance's** `*mut VMContext`;
//! * `u32` arguments are wasm `i32` operands, zero-extended bit patterns;
//! * `ptr` arguments are pointer-sized reference values (null = 0);
//! * a `status` result is `0` on success, otherwise the
//!   [`TrapCode::to_u8`](crate::TrapCode::to_u8) byte of the trap to raise;
//!   the compiled code traps with exactly that code.

/// Calls `$mac!` with the list of builtins, each as
/// `index name(param: type, ...) -> result_type;` where types are `vmctx`,
/// `u32`, `ptr` and the result is `u32`, `status` (a `u32` trap status) or
/// `none`. The runtime uses it to build its table with the same order; the
/// compiler uses [`BUILTINS`].
#[macro_export]
macro_rules! foreach_builtin {
    ($mac:ident) => {
        $mac! {
            /// `memory.grow`: old size in pages, or `u32::MAX` on failure.
            0 memory_grow(vmctx: vmctx, mem: u32, delta: u32) -> u32;
            /// `memory.fill` (byte `val & 0xff`).
            1 memory_fill(vmctx: vmctx, mem: u32, dst: u32, val: u32, len: u32) -> status;
            /// `memory.copy` between two memories (possibly the same).
            2 memory_copy(vmctx: vmctx, dst_mem: u32, src_mem: u32, dst: u32, src: u32, len: u32) -> status;
            /// `memory.init` from passive data segment `data`.
            3 memory_init(vmctx: vmctx, mem: u32, data: u32, dst: u32, src: u32, len: u32) -> status;
            /// `data.drop`.
            4 data_drop(vmctx: vmctx, data: u32) -> none;
            /// `table.grow`: old size in elements, or `u32::MAX` on failure.
            5 table_grow(vmctx: vmctx, table: u32, delta: u32, init: ptr) -> u32;
            /// `table.fill`.
            6 table_fill(vmctx: vmctx, table: u32, dst: u32, val: ptr, len: u32) -> status;
            /// `table.copy` between two tables (possibly the same).
            7 table_copy(vmctx: vmctx, dst_table: u32, src_table: u32, dst: u32, src: u32, len: u32) -> status;
            /// `table.init` from passive element segment `elem`.
            8 table_init(vmctx: vmctx, table: u32, elem: u32, dst: u32, src: u32, len: u32) -> status;
            /// `elem.drop`.
            9 elem_drop(vmctx: vmctx, elem: u32) -> none;
            /// Unwinds to the nearest host→wasm entry with the store's
            /// pending error (a host function or interpreted callee
            /// failed); called by wasm→array trampolines when the
            /// array call returns `false`, with the trampoline's own frame
            /// pointer `fp` (where the runtime starts the wasm backtrace).
            /// Never returns.
            10 raise(vmctx: vmctx, fp: ptr) -> none;
        }
    };
}

/// The type of a builtin parameter or result.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum BuiltinType {
    /// The calling instance's `*mut VMContext`.
    VMContext,
    /// A 32-bit integer (`u32`).
    U32,
    /// A pointer-sized reference value.
    Ptr,
    /// A `u32` trap status: 0 = success, else a `TrapCode` byte.
    Status,
}

/// Index of a builtin in the runtime's builtin table.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct BuiltinIndex(pub u32);

/// One builtin: its index, name and signature.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Builtin {
    pub index: BuiltinIndex,
    pub name: &'static str,
    pub params: &'static [BuiltinType],
    /// `None` for builtins that return nothing.
    pub result: Option<BuiltinType>,
}

#[doc(hidden)]
#[macro_export]
macro_rules! __builtin_type {
    (vmctx) => {
        $crate::builtins::BuiltinType::VMContext
    };
    (u32) => {
        $crate::builtins::BuiltinType::U32
    };
    (ptr) => {
        $crate::builtins::BuiltinType::Ptr
    };
    (status) => {
        $crate::builtins::BuiltinType::Status
    };
}

macro_rules! declare_builtins {
    ($( $(#[$doc:meta])* $idx:literal $name:ident ( $($p:ident : $pty:ident),* ) -> $ret:ident; )*) => {
        impl BuiltinIndex {
            $(
                $(#[$doc])*
                pub const $name: BuiltinIndex = BuiltinIndex($idx);
            )*
        }

        /// Every builtin, in table order (`BUILTINS[i].index.0 == i`).
        pub const BUILTINS: &[Builtin] = &[
            $( Builtin {
                index: BuiltinIndex($idx),
                name: stringify!($name),
                params: &[ $( $crate::__builtin_type!($pty) ),* ],
                result: declare_builtins!(@ret $ret),
            }, )*
        ];
    };
    (@ret none) => { None };
    (@ret $t:ident) => { Some($crate::__builtin_type!($t)) };
}

#[allow(non_upper_case_globals)]
mod consts {
    use super::*;
    foreach_builtin!(declare_builtins);
}
pub use consts::BUILTINS;

impl BuiltinIndex {
    /// The builtin's declaration.
    pub fn builtin(self) -> &'static Builtin {
        &BUILTINS[self.0 as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_dense_and_ordered() {
        for (i, b) in BUILTINS.iter().enumerate() {
            assert_eq!(b.index.0 as usize, i, "{}", b.name);
            assert_eq!(b.params[0], BuiltinType::VMContext, "{}", b.name);
        }
        assert_eq!(BuiltinIndex::table_init.builtin().name, "table_init");
        assert_eq!(BuiltinIndex::memory_grow.builtin().result, Some(BuiltinType::U32));
    }
}
