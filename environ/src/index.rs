//! Entity index newtypes (spec §2.5.1 "Indices").
//!
//! Wasm index spaces put imported entities first; a `Defined*Index` counts
//! only the entities a module defines itself. [`crate::ModuleInfo`] converts
//! between the two.

macro_rules! entity_index {
    ($($(#[$attr:meta])* $name:ident;)*) => {$(
        $(#[$attr])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
        #[repr(transparent)]
        pub struct $name(pub u32);

        impl $name {
            /// Wraps a raw index.
            #[inline]
            pub const fn new(index: u32) -> Self { Self(index) }
            /// The raw index as `u32`.
            #[inline]
            pub const fn as_u32(self) -> u32 { self.0 }
            /// The raw index as `usize`, for indexing slices.
            #[inline]
            pub const fn index(self) -> usize { self.0 as usize }
        }

        impl From<u32> for $name {
            #[inline]
            fn from(i: u32) -> Self { Self(i) }
        }

        impl core::fmt::Display for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                write!(f, "{}", self.0)
            }
        }
    )*};
}

entity_index! {
    /// Index into a module's type section.
    TypeIndex;
    /// Index into the function index space (imports first).
    FuncIndex;
    /// Index of a function defined (not imported) by the module.
    DefinedFuncIndex;
    /// Index into the table index space (imports first).
    TableIndex;
    /// Index of a table defined by the module.
    DefinedTableIndex;
    /// Index into the memory index space (imports first).
    MemoryIndex;
    /// Index of a memory defined by the module.
    DefinedMemoryIndex;
    /// Index into the global index space (imports first).
    GlobalIndex;
    /// Index of a global defined by the module.
    DefinedGlobalIndex;
    /// Index of a data segment.
    DataIndex;
    /// Index of an element segment.
    ElemIndex;
    /// Engine-wide canonical id of a function type: two functions have the
    /// same `VMSharedTypeIndex` iff their types are equal, across modules.
    /// `call_indirect` compares these (spec §4.4.9, "call_indirect").
    VMSharedTypeIndex;
}
