//! Public type descriptors (spec §2.3 "Types").

use kiln_environ::Limits;
pub use kiln_environ::WasmFuncType as FuncType;
pub use kiln_environ::WasmValType as ValType;

/// Whether a global may be set.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Mutability {
    Const,
    Var,
}

/// A reference type.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum RefType {
    FuncRef,
    ExternRef,
}

impl From<RefType> for ValType {
    fn from(r: RefType) -> ValType {
        match r {
            RefType::FuncRef => ValType::FuncRef,
            RefType::ExternRef => ValType::ExternRef,
        }
    }
}

/// A global's type.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct GlobalType(pub(crate) kiln_environ::GlobalType);

impl GlobalType {
    /// A global of `content` type.
    pub fn new(content: ValType, mutability: Mutability) -> GlobalType {
        GlobalType(kiln_environ::GlobalType { ty: content, mutable: mutability == Mutability::Var })
    }
    /// The value type.
    pub fn content(&self) -> ValType {
        self.0.ty
    }
    /// The mutability.
    pub fn mutability(&self) -> Mutability {
        if self.0.mutable { Mutability::Var } else { Mutability::Const }
    }
}

/// A linear memory's type; sizes in 64 KiB pages.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct MemoryType(pub(crate) kiln_environ::MemoryType);

impl MemoryType {
    /// A 32-bit memory of at least `min` pages, at most `max`.
    pub fn new(min: u32, max: Option<u32>) -> MemoryType {
        MemoryType(kiln_environ::MemoryType {
            limits: Limits { min: min as u64, max: max.map(|m| m as u64) },
            memory64: false,
            shared: false,
        })
    }
    /// Minimum size in pages.
    pub fn minimum(&self) -> u64 {
        self.0.limits.min
    }
    /// Maximum size in pages, if any.
    pub fn maximum(&self) -> Option<u64> {
        self.0.limits.max
    }
}

/// A table's type; sizes in elements.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct TableType(pub(crate) kiln_environ::TableType);

impl TableType {
    /// A table of `element`s, at least `min`, at most `max`.
    pub fn new(element: RefType, min: u32, max: Option<u32>) -> TableType {
        TableType(kiln_environ::TableType {
            element: element.into(),
            limits: Limits { min: min as u64, max: max.map(|m| m as u64) },
            table64: false,
        })
    }
    /// The element type.
    pub fn element(&self) -> RefType {
        if self.0.element == ValType::ExternRef { RefType::ExternRef } else { RefType::FuncRef }
    }
    /// Minimum size.
    pub fn minimum(&self) -> u64 {
        self.0.limits.min
    }
    /// Maximum size, if any.
    pub fn maximum(&self) -> Option<u64> {
        self.0.limits.max
    }
}

/// The type of an import or export.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum ExternType {
    Func(FuncType),
    Global(GlobalType),
    Table(TableType),
    Memory(MemoryType),
}

impl ExternType {
    /// A short description for error messages.
    pub(crate) fn describe(&self) -> String {
        match self {
            ExternType::Func(f) => format!("function {f}"),
            ExternType::Global(g) => format!("global {}{}", if g.0.mutable { "mut " } else { "" }, g.0.ty),
            ExternType::Table(t) => format!("table {} {:?}", t.0.element, t.0.limits),
            ExternType::Memory(m) => format!("memory {:?}", m.0.limits),
        }
    }
}
