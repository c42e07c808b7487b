//! Wasm types (spec §2.3 "Types") in kiln's own vocabulary, and the import
//! matching rules of spec §4.5.2 ("Import subtyping": limits and globals).

use core::fmt;

/// A value type (spec §2.3.4, "Value Types").
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum WasmValType {
    I32,
    I64,
    F32,
    F64,
    /// 128-bit vector (SIMD; not executable yet, decoded for completeness).
    V128,
    FuncRef,
    ExternRef,
}

impl WasmValType {
    /// Whether this is a reference type.
    pub const fn is_ref(self) -> bool {
        matches!(self, WasmValType::FuncRef | WasmValType::ExternRef)
    }

    /// How many 8-byte value slots (`ValRaw`) a value of this type takes
    /// in the array-call ABI and in interpreter frames: 2 for `v128`, else 1.
    pub const fn slots(self) -> u32 {
        match self {
            WasmValType::V128 => 2,
            _ => 1,
        }
    }

    /// Converts from wasmparser's value type; `None` for types outside
    /// Wasm 2.0 (typed function references, GC types).
    pub fn from_wasmparser(ty: wasmparser::ValType) -> Option<Self> {
        use wasmparser::ValType as V;
        Some(match ty {
            V::I32 => WasmValType::I32,
            V::I64 => WasmValType::I64,
            V::F32 => WasmValType::F32,
            V::F64 => WasmValType::F64,
            V::V128 => WasmValType::V128,
            V::Ref(r) => Self::from_ref_type(r)?,
        })
    }

    /// Converts a wasmparser reference type (only `funcref` and `externref`).
    pub fn from_ref_type(r: wasmparser::RefType) -> Option<Self> {
        if r == wasmparser::RefType::FUNCREF {
            Some(WasmValType::FuncRef)
        } else if r == wasmparser::RefType::EXTERNREF {
            Some(WasmValType::ExternRef)
        } else {
            None
        }
    }
}

impl fmt::Display for WasmValType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WasmValType::I32 => "i32",
            WasmValType::I64 => "i64",
            WasmValType::F32 => "f32",
            WasmValType::F64 => "f64",
            WasmValType::V128 => "v128",
            WasmValType::FuncRef => "funcref",
            WasmValType::ExternRef => "externref",
        })
    }
}

/// A function type (spec §2.3.6).
#[derive(Clone, PartialEq, Eq, Hash, Debug, Default)]
pub struct WasmFuncType {
    pub params: Box<[WasmValType]>,
    pub results: Box<[WasmValType]>,
}

impl WasmFuncType {
    /// Builds a function type.
    pub fn new(params: impl IntoIterator<Item = WasmValType>, results: impl IntoIterator<Item = WasmValType>) -> Self {
        WasmFuncType { params: params.into_iter().collect(), results: results.into_iter().collect() }
    }

    /// The parameter types.
    pub fn params(&self) -> &[WasmValType] {
        &self.params
    }

    /// The result types.
    pub fn results(&self) -> &[WasmValType] {
        &self.results
    }

    /// Value slots the parameters take in the array-call ABI.
    pub fn param_slots(&self) -> u32 {
        self.params.iter().map(|t| t.slots()).sum()
    }

    /// Value slots the results take in the array-call ABI.
    pub fn result_slots(&self) -> u32 {
        self.results.iter().map(|t| t.slots()).sum()
    }

    /// Length (in `ValRaw` slots) of the buffer an array-call needs:
    /// `max(param_slots, result_slots)`.
    pub fn array_call_len(&self) -> u32 {
        self.param_slots().max(self.result_slots())
    }
}

impl fmt::Display for WasmFuncType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "(func")?;
        if !self.params.is_empty() {
            write!(f, " (param")?;
            for p in self.params.iter() {
                write!(f, " {p}")?;
            }
            write!(f, ")")?;
        }
        if !self.results.is_empty() {
            write!(f, " (result")?;
            for r in self.results.iter() {
                write!(f, " {r}")?;
            }
            write!(f, ")")?;
        }
        write!(f, ")")
    }
}

/// Limits of a table or memory, in elements or pages (spec §2.3.7).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Limits {
    pub min: u64,
    pub max: Option<u64>,
}

impl Limits {
    /// Spec §4.5.2.2 "Limits": `self` (the provided import) matches
    /// `expected` iff its min is at least the expected min, and, when a max
    /// is expected, it has a max no greater than that.
    pub fn matches(&self, expected: &Limits) -> bool {
        self.min >= expected.min
            && match expected.max {
                None => true,
                Some(emax) => matches!(self.max, Some(m) if m <= emax),
            }
    }
}

/// A table type (spec §2.3.9).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct TableType {
    /// `FuncRef` or `ExternRef`.
    pub element: WasmValType,
    /// In elements.
    pub limits: Limits,
    /// `table64` proposal (not enabled yet).
    pub table64: bool,
}

/// A memory type (spec §2.3.8).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct MemoryType {
    /// In pages of 64 KiB.
    pub limits: Limits,
    pub memory64: bool,
    pub shared: bool,
}

impl MemoryType {
    /// The wasm page size in bytes.
    pub const PAGE_SIZE: u64 = 65536;

    /// Largest page count a memory of this type can ever have: its max, or
    /// the index-space limit (65536 pages for 32-bit memories).
    pub fn max_pages(&self) -> u64 {
        let index_limit = if self.memory64 { 1 << 48 } else { 1 << 16 };
        self.limits.max.unwrap_or(index_limit).min(index_limit)
    }

    /// Spec §4.5.2.2 "Memories": import matching.
    pub fn matches(&self, expected: &MemoryType) -> bool {
        self.memory64 == expected.memory64 && self.shared == expected.shared && self.limits.matches(&expected.limits)
    }
}

impl TableType {
    /// Largest element count a table of this type can ever have.
    pub fn max_elements(&self) -> u64 {
        self.limits.max.unwrap_or(u32::MAX as u64)
    }

    /// Spec §4.5.2.2 "Tables": import matching.
    pub fn matches(&self, expected: &TableType) -> bool {
        self.element == expected.element && self.table64 == expected.table64 && self.limits.matches(&expected.limits)
    }
}

/// A global type (spec §2.3.10).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct GlobalType {
    pub ty: WasmValType,
    pub mutable: bool,
}
