//! Module metadata (spec §2.5 "Modules") decoded and validated from a wasm
//! binary with `wasmparser`, shared by every tier.
//!
//! [`ModuleInfo::parse`] validates the whole module — every function body
//! included — against a [`WasmFeatureSet`], and records what instantiation
//! and the tiers need. It never panics on any input: every failure is a
//! [`ModuleError`] naming the byte offset and the reason.

use crate::index::*;
use crate::types::*;
use std::collections::HashMap;
use std::ops::Range;
use wasmparser::{Parser, Payload, Validator, WasmFeatures};

/// A decoding, validation or implementation-limit error, with the byte
/// offset in the binary where it was found.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message} (at offset 0x{offset:x})")]
pub struct ModuleError {
    /// Byte offset into the wasm binary.
    pub offset: u64,
    /// What is wrong.
    pub message: String,
}

impl From<wasmparser::BinaryReaderError> for ModuleError {
    fn from(e: wasmparser::BinaryReaderError) -> Self {
        ModuleError { offset: e.offset(), message: e.message().to_string() }
    }
}

fn unsupported(offset: u64, what: impl Into<String>) -> ModuleError {
    ModuleError { offset, message: what.into() }
}

/// The set of wasm proposals a module may use.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct WasmFeatureSet(pub WasmFeatures);

impl WasmFeatureSet {
    /// Exactly WebAssembly 2.0 (mutable-global import/export,
    /// sign-extension, non-trapping float-to-int, multi-value, bulk memory,
    /// reference types) **without SIMD**, which kiln does not execute yet.
    pub fn wasm2() -> Self {
        WasmFeatureSet(WasmFeatures::WASM2.difference(WasmFeatures::SIMD))
    }
}

impl Default for WasmFeatureSet {
    fn default() -> Self {
        Self::wasm2()
    }
}

/// An entity in one of the four index spaces.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum EntityIndex {
    Function(FuncIndex),
    Table(TableIndex),
    Memory(MemoryIndex),
    Global(GlobalIndex),
}

/// An import: module name, field name, and the entity it defines in this
/// module's index space (whose type is in [`ModuleInfo`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Import {
    pub module: String,
    pub name: String,
    pub index: EntityIndex,
}

/// An export.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Export {
    pub name: String,
    pub index: EntityIndex,
}

/// One operation of a constant expression (spec §3.3.10 "Constant
/// Expressions"; the arithmetic ops are the extended-const proposal's).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ConstOp {
    I32Const(i32),
    I64Const(i64),
    F32Const(u32),
    F64Const(u64),
    V128Const(u128),
    RefNull(WasmValType),
    RefFunc(FuncIndex),
    GlobalGet(GlobalIndex),
    I32Add,
    I32Sub,
    I32Mul,
    I64Add,
    I64Sub,
    I64Mul,
}

/// A validated constant expression, evaluated on a small stack.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct ConstExpr {
    pub ops: Box<[ConstOp]>,
}

impl ConstExpr {
    fn parse(expr: &wasmparser::ConstExpr<'_>) -> Result<ConstExpr, ModuleError> {
        use wasmparser::Operator as O;
        let mut reader = expr.get_operators_reader();
        let mut ops = Vec::new();
        loop {
            let offset = reader.original_position();
            let op = reader.read()?;
            ops.push(match op {
                O::End => break,
                O::I32Const { value } => ConstOp::I32Const(value),
                O::I64Const { value } => ConstOp::I64Const(value),
                O::F32Const { value } => ConstOp::F32Const(value.bits()),
                O::F64Const { value } => ConstOp::F64Const(value.bits()),
                O::V128Const { value } => ConstOp::V128Const(u128::from_le_bytes(*value.bytes())),
                O::RefNull { hty } => {
                    let ty = match hty {
                        wasmparser::HeapType::Abstract { ty: wasmparser::AbstractHeapType::Func, .. } => {
                            WasmValType::FuncRef
                        }
                        wasmparser::HeapType::Abstract { ty: wasmparser::AbstractHeapType::Extern, .. } => {
                            WasmValType::ExternRef
                        }
                        _ => return Err(unsupported(offset, "unsupported heap type in constant expression")),
                    };
                    ConstOp::RefNull(ty)
                }
                O::RefFunc { function_index } => ConstOp::RefFunc(FuncIndex(function_index)),
                O::GlobalGet { global_index } => ConstOp::GlobalGet(GlobalIndex(global_index)),
                O::I32Add => ConstOp::I32Add,
                O::I32Sub => ConstOp::I32Sub,
                O::I32Mul => ConstOp::I32Mul,
                O::I64Add => ConstOp::I64Add,
                O::I64Sub => ConstOp::I64Sub,
                O::I64Mul => ConstOp::I64Mul,
                _ => return Err(unsupported(offset, "unsupported operator in constant expression")),
            });
        }
        Ok(ConstExpr { ops: ops.into_boxed_slice() })
    }
}

/// Where an element segment goes (spec §2.5.7 "Element Segments").
#[derive(Clone, Debug, PartialEq)]
pub enum ElemSegmentKind {
    Passive,
    Active { table: TableIndex, offset: ConstExpr },
    Declared,
}

/// The items of an element segment.
#[derive(Clone, Debug, PartialEq)]
pub enum ElemItems {
    /// `funcref` items given as function indices.
    Functions(Box<[FuncIndex]>),
    /// Items given as constant expressions.
    Exprs(Box<[ConstExpr]>),
}

impl ElemItems {
    /// Number of items.
    pub fn len(&self) -> usize {
        match self {
            ElemItems::Functions(f) => f.len(),
            ElemItems::Exprs(e) => e.len(),
        }
    }
    /// Whether there are no items.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// An element segment.
#[derive(Clone, Debug, PartialEq)]
pub struct ElemSegment {
    pub kind: ElemSegmentKind,
    /// `FuncRef` or `ExternRef`.
    pub element: WasmValType,
    pub items: ElemItems,
}

/// Where a data segment goes (spec §2.5.8 "Data Segments").
#[derive(Clone, Debug, PartialEq)]
pub enum DataSegmentKind {
    Passive,
    Active { memory: MemoryIndex, offset: ConstExpr },
}

/// A data segment; its bytes are a range of the module's wasm binary.
#[derive(Clone, Debug, PartialEq)]
pub struct DataSegment {
    pub kind: DataSegmentKind,
    pub data: Range<usize>,
}

/// A defined function's body: its byte range in the wasm binary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FunctionBody {
    pub range: Range<usize>,
}

/// Everything kiln knows about a module apart from code.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ModuleInfo {
    /// Module name from the name section.
    pub name: Option<String>,
    /// The type section.
    pub types: Vec<WasmFuncType>,
    pub imports: Vec<Import>,
    /// Type of every function, imports first.
    pub functions: Vec<TypeIndex>,
    /// Every table, imports first.
    pub tables: Vec<TableType>,
    /// Initialiser of each defined table (`None`: all null).
    pub table_inits: Vec<Option<ConstExpr>>,
    /// Every memory, imports first.
    pub memories: Vec<MemoryType>,
    /// Every global, imports first.
    pub globals: Vec<GlobalType>,
    /// Initialiser of each defined global.
    pub global_inits: Vec<ConstExpr>,
    pub exports: Vec<Export>,
    pub start: Option<FuncIndex>,
    pub elem_segments: Vec<ElemSegment>,
    pub data_segments: Vec<DataSegment>,
    /// Body of each defined function.
    pub function_bodies: Vec<FunctionBody>,
    /// Function names from the name section.
    pub func_names: HashMap<FuncIndex, String>,
    pub num_imported_funcs: u32,
    pub num_imported_tables: u32,
    pub num_imported_memories: u32,
    pub num_imported_globals: u32,
    export_map: HashMap<String, usize>,
}

/// Modules at least this large validate their function bodies in parallel
/// (see [`ModuleInfo::parse`]).
const PARALLEL_VALIDATION_BYTES: usize = 256 << 10;

type DeferredBody<'a> = (wasmparser::FuncToValidate<wasmparser::ValidatorResources>, wasmparser::FunctionBody<'a>);

/// Validates `bodies` on up to one thread per core, in contiguous chunks;
/// returns the error of the first invalid body in module order.
fn validate_bodies(bodies: Vec<DeferredBody<'_>>) -> Result<(), ModuleError> {
    if bodies.is_empty() {
        return Ok(());
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(bodies.len());
    let chunk = bodies.len().div_ceil(threads);
    let mut chunks: Vec<Vec<DeferredBody<'_>>> = Vec::new();
    let mut it = bodies.into_iter();
    loop {
        let c: Vec<_> = it.by_ref().take(chunk).collect();
        if c.is_empty() {
            break;
        }
        chunks.push(c);
    }
    let validate = |c: Vec<DeferredBody<'_>>| -> Result<(), ModuleError> {
        let mut allocs = wasmparser::FuncValidatorAllocations::default();
        for (func, body) in c {
            let mut v = func.into_validator(allocs);
            v.validate(&body)?;
            allocs = v.into_allocations();
        }
        Ok(())
    };
    let results: Vec<Result<(), ModuleError>> = std::thread::scope(|s| {
        let mut chunks = chunks.into_iter();
        let first = chunks.next();
        let handles: Vec<_> = chunks.map(|c| s.spawn(move || validate(c))).collect();
        let mut results = vec![first.map_or(Ok(()), validate)];
        for h in handles {
            results
                .push(h.join().unwrap_or_else(|_| {
                    Err(ModuleError { offset: 0, message: "function validation panicked".into() })
                }));
        }
        results
    });
    // Chunks are in module order: the first error is the earliest.
    results.into_iter().collect()
}

impl ModuleInfo {
    /// Decodes and fully validates `wasm` (spec §5 "Binary Format", §3
    /// "Validation") with the given features.
    ///
    /// # Errors
    /// A [`ModuleError`] with the byte offset of the first malformed or
    /// invalid construct, or of a construct kiln does not support.
    pub fn parse(wasm: &[u8], features: WasmFeatureSet) -> Result<ModuleInfo, ModuleError> {
        let mut info = ModuleInfo::default();
        let mut validator = Validator::new_with_features(features.0);
        let mut allocs = wasmparser::FuncValidatorAllocations::default();
        let base = wasm.as_ptr() as usize;
        // Large modules validate their function bodies after the sections
        // are read, on several threads (bodies are independent); small
        // ones (every spec module) one by one as they come.
        let parallel =
            wasm.len() >= PARALLEL_VALIDATION_BYTES && std::thread::available_parallelism().map_or(1, |n| n.get()) > 1;
        let mut deferred = Vec::new();
        // The parser must know the features too: e.g. without memory64 a
        // memory limit is a u32 LEB, and an overlong one is malformed.
        let mut parser = Parser::new(0);
        parser.set_features(features.0);
        let read = || -> Result<(), ModuleError> {
            for payload in parser.parse_all(wasm) {
                let payload = payload?;
                match validator.payload(&payload)? {
                    wasmparser::ValidPayload::Func(func, body) if parallel => deferred.push((func, body)),
                    wasmparser::ValidPayload::Func(func, body) => {
                        let mut v = func.into_validator(std::mem::take(&mut allocs));
                        v.validate(&body)?;
                        allocs = v.into_allocations();
                    }
                    wasmparser::ValidPayload::End(_) => {}
                    _ => {}
                }
                info.read_payload(payload, base)?;
            }
            Ok(())
        };
        let sections = read();
        // The first error in module order, as sequential validation finds
        // it: a function's error comes before any error after its body.
        let bodies = validate_bodies(deferred);
        match (sections, bodies) {
            (Ok(()), Ok(())) => {}
            (Err(s), Err(b)) => return Err(if b.offset < s.offset { b } else { s }),
            (Err(e), Ok(())) | (Ok(()), Err(e)) => return Err(e),
        }
        info.finish_decoded();
        Ok(info)
    }

    /// Rebuilds the private export-name lookup from `exports` (for a
    /// `ModuleInfo` assembled field by field, e.g. decoded from an `.aot`
    /// file); a repeated name maps to its last export, as in [`Self::parse`].
    pub fn finish_decoded(&mut self) {
        self.export_map = self.exports.iter().enumerate().map(|(i, e)| (e.name.clone(), i)).collect();
    }

    fn read_payload(&mut self, payload: Payload<'_>, base: usize) -> Result<(), ModuleError> {
        match payload {
            Payload::TypeSection(reader) => {
                for ty in reader.into_iter_err_on_gc_types() {
                    let ty = ty?;
                    let conv = |tys: &[wasmparser::ValType]| -> Result<Box<[WasmValType]>, ModuleError> {
                        tys.iter()
                            .map(|t| {
                                WasmValType::from_wasmparser(*t).ok_or_else(|| unsupported(0, "unsupported value type"))
                            })
                            .collect()
                    };
                    self.types.push(WasmFuncType { params: conv(ty.params())?, results: conv(ty.results())? });
                }
            }
            Payload::ImportSection(reader) => {
                for (offset, import) in reader
                    .into_imports_with_offsets()
                    .map(|r| r.map_err(ModuleError::from))
                    .collect::<Result<Vec<_>, _>>()?
                {
                    let index = match import.ty {
                        wasmparser::TypeRef::Func(t) | wasmparser::TypeRef::FuncExact(t) => {
                            self.num_imported_funcs += 1;
                            self.functions.push(TypeIndex(t));
                            EntityIndex::Function(FuncIndex(self.functions.len() as u32 - 1))
                        }
                        wasmparser::TypeRef::Table(t) => {
                            self.num_imported_tables += 1;
                            self.tables.push(convert_table(t, offset)?);
                            EntityIndex::Table(TableIndex(self.tables.len() as u32 - 1))
                        }
                        wasmparser::TypeRef::Memory(m) => {
                            self.num_imported_memories += 1;
                            self.memories.push(convert_memory(m));
                            EntityIndex::Memory(MemoryIndex(self.memories.len() as u32 - 1))
                        }
                        wasmparser::TypeRef::Global(g) => {
                            self.num_imported_globals += 1;
                            self.globals.push(convert_global(g, offset)?);
                            EntityIndex::Global(GlobalIndex(self.globals.len() as u32 - 1))
                        }
                        wasmparser::TypeRef::Tag(_) => {
                            return Err(unsupported(offset, "tag imports are not supported"));
                        }
                    };
                    self.imports.push(Import {
                        module: import.module.to_string(),
                        name: import.name.to_string(),
                        index,
                    });
                }
            }
            Payload::FunctionSection(reader) => {
                for t in reader {
                    self.functions.push(TypeIndex(t?));
                }
            }
            Payload::TableSection(reader) => {
                for table in reader {
                    let table = table?;
                    self.tables.push(convert_table(table.ty, 0)?);
                    self.table_inits.push(match table.init {
                        wasmparser::TableInit::RefNull => None,
                        wasmparser::TableInit::Expr(e) => Some(ConstExpr::parse(&e)?),
                    });
                }
            }
            Payload::MemorySection(reader) => {
                for m in reader {
                    self.memories.push(convert_memory(m?));
                }
            }
            Payload::GlobalSection(reader) => {
                for g in reader {
                    let g = g?;
                    let offset = g.init_expr.get_binary_reader().original_position();
                    self.globals.push(convert_global(g.ty, offset)?);
                    self.global_inits.push(ConstExpr::parse(&g.init_expr)?);
                }
            }
            Payload::ExportSection(reader) => {
                for e in reader {
                    let e = e?;
                    let index = match e.kind {
                        wasmparser::ExternalKind::Func | wasmparser::ExternalKind::FuncExact => {
                            EntityIndex::Function(FuncIndex(e.index))
                        }
                        wasmparser::ExternalKind::Table => EntityIndex::Table(TableIndex(e.index)),
                        wasmparser::ExternalKind::Memory => EntityIndex::Memory(MemoryIndex(e.index)),
                        wasmparser::ExternalKind::Global => EntityIndex::Global(GlobalIndex(e.index)),
                        wasmparser::ExternalKind::Tag => return Err(unsupported(0, "tag exports are not supported")),
                    };
                    self.exports.push(Export { name: e.name.to_string(), index });
                }
            }
            Payload::StartSection { func, .. } => self.start = Some(FuncIndex(func)),
            Payload::ElementSection(reader) => {
                for elem in reader {
                    let elem = elem?;
                    let kind = match elem.kind {
                        wasmparser::ElementKind::Passive => ElemSegmentKind::Passive,
                        wasmparser::ElementKind::Declared => ElemSegmentKind::Declared,
                        wasmparser::ElementKind::Active { table_index, offset_expr } => ElemSegmentKind::Active {
                            table: TableIndex(table_index.unwrap_or(0)),
                            offset: ConstExpr::parse(&offset_expr)?,
                        },
                    };
                    let (element, items) = match elem.items {
                        wasmparser::ElementItems::Functions(r) => {
                            let funcs = r.into_iter().map(|f| f.map(FuncIndex)).collect::<Result<Box<[_]>, _>>()?;
                            (WasmValType::FuncRef, ElemItems::Functions(funcs))
                        }
                        wasmparser::ElementItems::Expressions(ty, r) => {
                            let ty = WasmValType::from_ref_type(ty)
                                .ok_or_else(|| unsupported(elem.range.start, "unsupported element type"))?;
                            let exprs = r
                                .into_iter()
                                .map(|e| e.map_err(ModuleError::from).and_then(|e| ConstExpr::parse(&e)))
                                .collect::<Result<Box<[_]>, _>>()?;
                            (ty, ElemItems::Exprs(exprs))
                        }
                    };
                    self.elem_segments.push(ElemSegment { kind, element, items });
                }
            }
            Payload::DataSection(reader) => {
                for data in reader {
                    let data = data?;
                    let start = data.data.as_ptr() as usize - base;
                    let kind = match data.kind {
                        wasmparser::DataKind::Passive => DataSegmentKind::Passive,
                        wasmparser::DataKind::Active { memory_index, offset_expr } => DataSegmentKind::Active {
                            memory: MemoryIndex(memory_index),
                            offset: ConstExpr::parse(&offset_expr)?,
                        },
                    };
                    self.data_segments.push(DataSegment { kind, data: start..start + data.data.len() });
                }
            }
            Payload::CodeSectionEntry(body) => {
                let r = body.range();
                self.function_bodies.push(FunctionBody { range: r.start as usize..r.end as usize });
            }
            Payload::CustomSection(reader) => {
                if let wasmparser::KnownCustom::Name(names) = reader.as_known() {
                    // A malformed name section does not make the module
                    // invalid (spec §7.4 "Custom Sections"): keep what parsed.
                    for name in names.into_iter().flatten() {
                        match name {
                            wasmparser::Name::Module { name, .. } => self.name = Some(name.to_string()),
                            wasmparser::Name::Function(map) => {
                                for naming in map.into_iter().flatten() {
                                    self.func_names.insert(FuncIndex(naming.index), naming.name.to_string());
                                }
                            }
                            _ => {}
                        }
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Number of functions the module defines.
    pub fn num_defined_funcs(&self) -> u32 {
        self.functions.len() as u32 - self.num_imported_funcs
    }
    /// Number of tables the module defines.
    pub fn num_defined_tables(&self) -> u32 {
        self.tables.len() as u32 - self.num_imported_tables
    }
    /// Number of memories the module defines.
    pub fn num_defined_memories(&self) -> u32 {
        self.memories.len() as u32 - self.num_imported_memories
    }
    /// Number of globals the module defines.
    pub fn num_defined_globals(&self) -> u32 {
        self.globals.len() as u32 - self.num_imported_globals
    }

    /// The type of function `f`.
    pub fn func_type(&self, f: FuncIndex) -> &WasmFuncType {
        &self.types[self.functions[f.index()].index()]
    }

    /// `Some(defined index)` if `f` is defined by this module.
    pub fn defined_func_index(&self, f: FuncIndex) -> Option<DefinedFuncIndex> {
        f.0.checked_sub(self.num_imported_funcs).map(DefinedFuncIndex)
    }
    /// The function index of a defined function.
    pub fn func_index(&self, f: DefinedFuncIndex) -> FuncIndex {
        FuncIndex(f.0 + self.num_imported_funcs)
    }
    /// `Some(defined index)` if table `t` is defined by this module.
    pub fn defined_table_index(&self, t: TableIndex) -> Option<DefinedTableIndex> {
        t.0.checked_sub(self.num_imported_tables).map(DefinedTableIndex)
    }
    /// `Some(defined index)` if memory `m` is defined by this module.
    pub fn defined_memory_index(&self, m: MemoryIndex) -> Option<DefinedMemoryIndex> {
        m.0.checked_sub(self.num_imported_memories).map(DefinedMemoryIndex)
    }
    /// `Some(defined index)` if global `g` is defined by this module.
    pub fn defined_global_index(&self, g: GlobalIndex) -> Option<DefinedGlobalIndex> {
        g.0.checked_sub(self.num_imported_globals).map(DefinedGlobalIndex)
    }

    /// Looks up an export by name.
    pub fn export(&self, name: &str) -> Option<&Export> {
        self.export_map.get(name).map(|&i| &self.exports[i])
    }
}

fn convert_table(t: wasmparser::TableType, offset: u64) -> Result<TableType, ModuleError> {
    Ok(TableType {
        element: WasmValType::from_ref_type(t.element_type)
            .ok_or_else(|| unsupported(offset, "unsupported table element type"))?,
        limits: Limits { min: t.initial, max: t.maximum },
        table64: t.table64,
    })
}

fn convert_memory(m: wasmparser::MemoryType) -> MemoryType {
    MemoryType { limits: Limits { min: m.initial, max: m.maximum }, memory64: m.memory64, shared: m.shared }
}

fn convert_global(g: wasmparser::GlobalType, offset: u64) -> Result<GlobalType, ModuleError> {
    Ok(GlobalType {
        ty: WasmValType::from_wasmparser(g.content_type)
            .ok_or_else(|| unsupported(offset, "unsupported global type"))?,
        mutable: g.mutable,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_garbage_with_offset() {
        let err = ModuleInfo::parse(b"\0asm\x01\0\0\0\x01\x05", WasmFeatureSet::wasm2()).unwrap_err();
        assert!(err.offset >= 8, "{err}");
        assert!(ModuleInfo::parse(b"not wasm", WasmFeatureSet::wasm2()).is_err());
        assert!(ModuleInfo::parse(b"", WasmFeatureSet::wasm2()).is_err());
    }

    /// A module of `n` functions `() -> i32` whose bodies are `i32.const 7`
    /// padded with `nop`s to `pad` bytes, except that the bodies in `bad`
    /// end with `i64.const 7` (a type error at the body's end).
    fn big_module(n: u32, pad: usize, bad: &[u32]) -> (Vec<u8>, Vec<std::ops::Range<usize>>) {
        fn leb(mut v: u32, out: &mut Vec<u8>) {
            loop {
                let b = (v & 0x7f) as u8;
                v >>= 7;
                if v == 0 {
                    out.push(b);
                    return;
                }
                out.push(b | 0x80);
            }
        }
        fn section(id: u8, body: &[u8], out: &mut Vec<u8>) {
            out.push(id);
            leb(body.len() as u32, out);
            out.extend_from_slice(body);
        }
        let mut m = b"\0asm\x01\0\0\0".to_vec();
        section(1, &[1, 0x60, 0, 1, 0x7f], &mut m);
        let mut funcs = Vec::new();
        leb(n, &mut funcs);
        funcs.extend(std::iter::repeat_n(0u8, n as usize));
        section(3, &funcs, &mut m);
        let mut code = Vec::new();
        leb(n, &mut code);
        let mut ranges = Vec::new();
        let header = m.len() + 1 + 5; // id + a 5-byte size, written below
        for i in 0..n {
            let mut body = vec![0u8]; // no locals
            body.extend(std::iter::repeat_n(0x01u8, pad)); // nop
            body.extend_from_slice(if bad.contains(&i) { &[0x42, 7, 0x0b] } else { &[0x41, 7, 0x0b] });
            leb(body.len() as u32, &mut code);
            let start = header + code.len();
            code.extend_from_slice(&body);
            ranges.push(start..start + body.len());
        }
        m.push(10);
        let len = code.len() as u32;
        m.extend_from_slice(&[
            (len & 0x7f) as u8 | 0x80,
            ((len >> 7) & 0x7f) as u8 | 0x80,
            ((len >> 14) & 0x7f) as u8 | 0x80,
            ((len >> 21) & 0x7f) as u8 | 0x80,
            (len >> 28) as u8,
        ]);
        m.extend_from_slice(&code);
        (m, ranges)
    }

    /// Large modules validate bodies in parallel, yet report the first
    /// invalid body in module order, like sequential validation.
    #[test]
    fn parallel_validation_reports_the_first_invalid_body() {
        let (ok, _) = big_module(2000, 200, &[]);
        assert!(ok.len() >= PARALLEL_VALIDATION_BYTES);
        assert_eq!(ModuleInfo::parse(&ok, WasmFeatureSet::wasm2()).unwrap().function_bodies.len(), 2000);
        for bad in [vec![1999], vec![7, 1500], vec![1200, 1999]] {
            let (m, ranges) = big_module(2000, 200, &bad);
            let err = ModuleInfo::parse(&m, WasmFeatureSet::wasm2()).unwrap_err();
            let first = &ranges[bad[0] as usize];
            assert!(first.contains(&(err.offset as usize)), "{bad:?}: {err:?} not in {first:?}");
            assert!(err.message.contains("type mismatch"), "{err:?}");
        }
    }

    #[test]
    fn parses_minimal_module() {
        let info = ModuleInfo::parse(b"\0asm\x01\0\0\0", WasmFeatureSet::wasm2()).unwrap();
        assert!(info.functions.is_empty() && info.exports.is_empty());
    }
}
