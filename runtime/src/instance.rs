//! Instances and their VMContext (spec §4.5.4 "Instantiation").
//!
//! An [`Instance`] owns one VMContext allocation laid out by the module's
//! [`VMOffsets`](kiln_environ::VMOffsets); the context's header points back at the instance, so any
//! tier holding a vmctx (from a funcref) reaches the instance in one load.

use crate::error::{Error, Result, Trap};
use crate::interp::code::InterpFunc;
use crate::libcalls;
use crate::memory::LinearMemory;
use crate::module::RuntimeModule;
use crate::store::StoreOpaque;
use crate::table::Table;
use crate::tier::{FuncEntry, HotCounters};
use kiln_environ::vm::{
    VMCONTEXT_MAGIC, VMContext, VMContextHeader, VMFuncRef, VMGlobalDefinition, VMMemoryDefinition, VMTableDefinition,
    ValRaw,
};
use kiln_environ::{
    ConstExpr, ConstOp, DataSegmentKind, DefinedFuncIndex, ElemItems, ElemSegmentKind, EntityIndex, TrapCode,
    WasmFuncType,
};
use std::alloc::Layout;
use std::cell::Cell;
use std::sync::Arc;

/// What an instance imports, already matched against the module's import
/// types, in import order per kind.
#[derive(Default)]
pub struct Imports {
    /// Function references.
    pub funcs: Vec<*const VMFuncRef>,
    /// Store table indices.
    pub tables: Vec<usize>,
    /// Store memory indices.
    pub memories: Vec<usize>,
    /// Global definitions.
    pub globals: Vec<*mut VMGlobalDefinition>,
}

/// A module instance.
pub struct Instance {
    module: Arc<RuntimeModule>,
    store: *mut StoreOpaque,
    vmctx: *mut VMContext,
    layout: Layout,
    /// Store memory index of each memory.
    pub memories: Vec<usize>,
    /// Store table index of each table.
    pub tables: Vec<usize>,
    dropped_data: Vec<bool>,
    /// Evaluated items of each element segment; empty once dropped.
    elem_segments: Vec<Box<[usize]>>,
    memory0: *mut VMMemoryDefinition,
    /// Interpreter code of each defined function, once looked up (the
    /// interpreter's call fast path; `Instance::interp_func` in
    /// `crate::interp` fills it).
    pub(crate) interp_cache: Box<[Cell<*const InterpFunc>]>,
    /// Hotness budget of each defined function in this instance (private
    /// to the store's thread); what it uses is added to the module-wide
    /// counts of its [`crate::tier::FuncTier`] in chunks, so threads
    /// running the same module do not contend on one cache line.
    hotness: Box<[Cell<HotCounters>]>,
    pub(crate) num_imported_funcs: u32,
    func_ptrs: *mut *const VMFuncRef,
    global_ptrs: *mut *mut VMGlobalDefinition,
    table_ptrs: *mut *mut VMTableDefinition,
}

// SAFETY: all raw pointers point into the owning store or this instance's
// own VMContext; the instance moves between threads only with its store.
unsafe impl Send for Instance {}

impl Drop for Instance {
    fn drop(&mut self) {
        // Add the budget used in the last, partial chunks to the module's
        // counts (statistics).
        for (t, h) in self.module.tiers.iter().zip(self.hotness.iter()) {
            let h = h.get();
            let edges = (h.edge_chunk - h.edges).max(0) as u64;
            let entries = (h.entry_chunk - h.entries).max(0) as u64;
            if edges != 0 {
                t.back_edges.fetch_add(edges, std::sync::atomic::Ordering::Relaxed);
            }
            if entries != 0 {
                t.entries.fetch_add(entries, std::sync::atomic::Ordering::Relaxed);
            }
        }
        // SAFETY: allocated in `Instance::new` with this layout.
        unsafe { std::alloc::dealloc(self.vmctx.cast(), self.layout) };
    }
}

impl Instance {
    /// The instance a VMContext belongs to.
    ///
    /// # Safety
    /// `vmctx` is the live VMContext of an instance.
    #[inline(always)]
    pub unsafe fn from_vmctx(vmctx: *mut VMContext) -> *mut Instance {
        // SAFETY: every instance VMContext starts with its header.
        unsafe { (*(vmctx as *const VMContextHeader)).instance.cast() }
    }

    /// The module.
    pub fn module(&self) -> &Arc<RuntimeModule> {
        &self.module
    }
    /// The owning store.
    pub fn store(&self) -> *mut StoreOpaque {
        self.store
    }
    /// The VMContext.
    #[inline(always)]
    pub fn vmctx(&self) -> *mut VMContext {
        self.vmctx
    }
    /// Definition of memory 0 (null if the module has no memory).
    #[inline(always)]
    pub fn memory0(&self) -> *mut VMMemoryDefinition {
        self.memory0
    }

    /// The funcref of function `index` (validated index).
    #[inline(always)]
    pub fn func_ref(&self, index: u32) -> *const VMFuncRef {
        // SAFETY: `index < num_funcs` for validated code; the array was
        // filled at instantiation.
        unsafe { *self.func_ptrs.add(index as usize) }
    }

    /// The type of function `index`.
    #[inline]
    pub fn func_type(&self, index: u32) -> &WasmFuncType {
        self.module.info.func_type(index.into())
    }

    /// Entry `ty` of the module's type section.
    #[inline]
    pub fn module_type(&self, ty: u32) -> &WasmFuncType {
        &self.module.info.types[ty as usize]
    }

    /// Pointer to the value bits of global `index`.
    #[inline(always)]
    pub fn global_ptr(&self, index: u32) -> *mut u64 {
        // SAFETY: validated index; the pointers were set at instantiation.
        unsafe { (*self.global_ptrs.add(index as usize)).cast() }
    }

    /// Definition of table `index`.
    #[inline(always)]
    pub fn table_def(&self, index: u32) -> *mut VMTableDefinition {
        // SAFETY: validated index.
        unsafe { *self.table_ptrs.add(index as usize) }
    }

    /// Definition of memory `index`.
    pub fn memory_def(&self, index: u32) -> *mut VMMemoryDefinition {
        // SAFETY: validated index; the store's memories are boxed.
        unsafe { (&mut (*self.store).memories)[self.memories[index as usize]].definition() }
    }

    /// This instance's hotness budget of defined function `index` (null
    /// for an index that is not a defined function).
    #[inline(always)]
    pub fn hotness_ptr(&self, index: u32) -> *mut HotCounters {
        let def = index.wrapping_sub(self.num_imported_funcs) as usize;
        self.hotness.get(def).map_or(core::ptr::null_mut(), |c| c.as_ptr())
    }

    /// If defined function `index` has published native code, switches
    /// this instance's funcref to it (`array_call` = the native entry,
    /// `wasm_call` = the code) and returns true.
    ///
    /// Funcrefs are only read and written by the thread that owns the
    /// instance's store, so plain stores suffice; the code was published
    /// with `Release` and is read here with `Acquire`.
    #[cfg(unix)]
    pub fn promote(&self, index: u32) -> bool {
        let def = index.wrapping_sub(self.num_imported_funcs);
        let Some(tier) = self.module.tiers.get(def as usize) else { return false };
        let entry = tier.entry();
        if entry == FuncEntry::Interpreter {
            return false;
        }
        let (array_call, wasm_call) = entry.funcref_entries(&self.module.tier_entries);
        // SAFETY: `def` is a defined function, whose funcref lies inside
        // this instance's VMContext; only this thread accesses it.
        unsafe {
            let fref = (self.vmctx as *mut u8).add(self.module.offsets.func_ref(def) as usize) as *mut VMFuncRef;
            (*fref).wasm_call = wasm_call;
            (*fref).array_call = array_call;
        }
        true
    }

    /// The callee of `call_indirect` through `table` at `index` with
    /// expected type `ty` (spec §4.4.9): traps with "undefined element",
    /// "uninitialized element" or "indirect call type mismatch".
    #[inline(always)]
    pub fn indirect_callee(&self, table: u32, index: u32, ty: u32) -> std::result::Result<*const VMFuncRef, TrapCode> {
        // SAFETY: validated table and type indices; table definitions are
        // kept current by their tables.
        unsafe {
            let def = &*self.table_def(table);
            if index as usize >= def.current_elements {
                return Err(TrapCode::UndefinedElement);
            }
            let fref = *def.base.add(index as usize) as *const VMFuncRef;
            if fref.is_null() {
                return Err(TrapCode::UninitializedElement);
            }
            if (*fref).type_index != self.module.type_ids[ty as usize] {
                return Err(TrapCode::BadSignature);
            }
            Ok(fref)
        }
    }

    /// Whether data segment `index` was dropped.
    pub fn data_segment(&self, index: u32) -> &[u8] {
        if self.dropped_data[index as usize] { &[] } else { self.module.data_segment_bytes(index) }
    }

    /// Drops data segment `index`.
    pub fn drop_data(&mut self, index: u32) {
        self.dropped_data[index as usize] = true;
    }

    /// Items of element segment `index` (empty once dropped).
    pub fn elem_segment(&self, index: u32) -> &[usize] {
        &self.elem_segments[index as usize]
    }

    /// Drops element segment `index`.
    pub fn drop_elem(&mut self, index: u32) {
        self.elem_segments[index as usize] = Box::new([]);
    }

    /// Evaluates a constant expression (spec §4.5.1 "Evaluation of
    /// constant expressions"); the result's low 64 bits are a [`ValRaw`].
    fn eval_const(&self, expr: &ConstExpr) -> Result<u128> {
        let mut stack: Vec<u128> = Vec::with_capacity(2);
        let bad = || Error::msg("malformed constant expression");
        for op in expr.ops.iter() {
            let v = match *op {
                ConstOp::I32Const(v) => v as u32 as u128,
                ConstOp::I64Const(v) => v as u64 as u128,
                ConstOp::F32Const(b) => b as u128,
                ConstOp::F64Const(b) => b as u128,
                ConstOp::V128Const(b) => b,
                ConstOp::RefNull(_) => 0,
                ConstOp::RefFunc(f) => self.func_ref(f.0) as usize as u128,
                // SAFETY: validated global index; pointer set before use
                // (imports first, defined globals in order).
                ConstOp::GlobalGet(g) => unsafe { (*(*self.global_ptrs.add(g.index()))).bits },
                ConstOp::I32Add | ConstOp::I32Sub | ConstOp::I32Mul => {
                    let b = stack.pop().ok_or_else(bad)? as u32;
                    let a = stack.pop().ok_or_else(bad)? as u32;
                    (match op {
                        ConstOp::I32Add => a.wrapping_add(b),
                        ConstOp::I32Sub => a.wrapping_sub(b),
                        _ => a.wrapping_mul(b),
                    }) as u128
                }
                ConstOp::I64Add | ConstOp::I64Sub | ConstOp::I64Mul => {
                    let b = stack.pop().ok_or_else(bad)? as u64;
                    let a = stack.pop().ok_or_else(bad)? as u64;
                    (match op {
                        ConstOp::I64Add => a.wrapping_add(b),
                        ConstOp::I64Sub => a.wrapping_sub(b),
                        _ => a.wrapping_mul(b),
                    }) as u128
                }
            };
            stack.push(v);
        }
        stack.pop().ok_or_else(bad)
    }
}

impl StoreOpaque {
    /// Instantiates `module` with `imports` (spec §4.5.4): allocates the
    /// VMContext, creates memories, tables and globals, applies active
    /// element and data segments in order, then runs the start function.
    /// Returns the instance's index in the store. When a segment or the
    /// start function traps, the instance stays in the store (its effects
    /// on imported memories and tables persist, as the spec says) and the
    /// trap is returned.
    ///
    /// # Errors
    /// A trap, or an error when a memory or table cannot be allocated.
    pub fn instantiate(&mut self, module: &Arc<RuntimeModule>, imports: Imports) -> Result<usize> {
        let info = &module.info;
        let off = &module.offsets;
        let layout = Layout::from_size_align(off.size.max(16) as usize, 16).map_err(|e| Error::msg(e.to_string()))?;
        // SAFETY: the layout has a non-zero size.
        let vmctx = unsafe { std::alloc::alloc_zeroed(layout) } as *mut VMContext;
        if vmctx.is_null() {
            std::alloc::handle_alloc_error(layout);
        }
        let base = vmctx as *mut u8;
        // SAFETY: all offsets below come from `VMOffsets` for this module
        // and lie inside the allocation of `off.size` bytes.
        let at = |o: u32| unsafe { base.add(o as usize) };
        let store_ptr: *mut StoreOpaque = self;
        let mut inst = Box::new(Instance {
            module: module.clone(),
            store: store_ptr,
            vmctx,
            layout,
            memories: Vec::new(),
            tables: Vec::new(),
            dropped_data: vec![false; info.data_segments.len()],
            elem_segments: Vec::new(),
            memory0: core::ptr::null_mut(),
            interp_cache: (0..info.num_defined_funcs()).map(|_| Cell::new(core::ptr::null())).collect(),
            hotness: {
                let threshold = module.tier_threshold();
                module.tiers.iter().map(|t| Cell::new(HotCounters::new(threshold, t.hotness()))).collect()
            },
            num_imported_funcs: info.num_imported_funcs,
            func_ptrs: at(off.func_ptrs).cast(),
            global_ptrs: at(off.global_ptrs).cast(),
            table_ptrs: at(off.table_ptrs).cast(),
        });
        let inst_ptr: *mut Instance = &mut *inst;
        // SAFETY: writes inside the fresh, zeroed VMContext; pointers
        // stored there refer to store-owned boxes and this instance.
        unsafe {
            let header = vmctx as *mut VMContextHeader;
            (*header).magic = VMCONTEXT_MAGIC;
            (*header).store_context = &mut *self.vm_store_context;
            (*header).builtins = crate::builtins::BUILTINS_TABLE.as_ptr();
            (*header).type_ids = module.type_ids.as_ptr();
            (*header).instance = inst_ptr.cast();

            // Functions: imports, then this instance's funcrefs.
            let func_ptrs = inst.func_ptrs;
            for (i, f) in imports.funcs.iter().enumerate() {
                *func_ptrs.add(i) = *f;
            }
            for d in 0..info.num_defined_funcs() {
                let fi = info.func_index(DefinedFuncIndex(d));
                let fref = at(off.func_ref(d)) as *mut VMFuncRef;
                // The function's current entry (`crate::tier::FuncEntry`).
                let (array_call, wasm_call) = module.tiers[d as usize].entry().funcref_entries(&module.tier_entries);
                fref.write(VMFuncRef {
                    array_call,
                    wasm_call,
                    type_index: module.type_ids[info.functions[fi.index()].index()],
                    func_index: fi.0,
                    vmctx,
                });
                *func_ptrs.add(fi.index()) = fref;
            }

            // Memories.
            inst.memories.extend_from_slice(&imports.memories);
            for ty in &info.memories[info.num_imported_memories as usize..] {
                let m = LinearMemory::new(*ty, self.config.memory).map_err(Error::msg)?;
                let id = self.push_memory(m);
                inst.memories.push(id);
            }
            let memory_ptrs = at(off.memory_ptrs) as *mut *mut VMMemoryDefinition;
            for (i, &id) in inst.memories.iter().enumerate() {
                *memory_ptrs.add(i) = self.memories[id].definition();
            }
            if !inst.memories.is_empty() {
                inst.memory0 = *memory_ptrs;
            }

            // Globals: imports, then defined ones in order.
            for (i, g) in imports.globals.iter().enumerate() {
                *inst.global_ptrs.add(i) = *g;
            }
            for (d, init) in info.global_inits.iter().enumerate() {
                let gi = info.num_imported_globals as usize + d;
                let def = at(off.defined_global(d as u32)) as *mut VMGlobalDefinition;
                *inst.global_ptrs.add(gi) = def;
                (*def).bits = inst.eval_const(init)?;
            }

            // Tables.
            inst.tables.extend_from_slice(&imports.tables);
            for (d, ty) in info.tables[info.num_imported_tables as usize..].iter().enumerate() {
                let init = match &info.table_inits[d] {
                    Some(e) => inst.eval_const(e)? as usize,
                    None => 0,
                };
                let t = Table::new(*ty, init).map_err(Error::msg)?;
                let id = self.push_table(t);
                inst.tables.push(id);
            }
            for (i, &id) in inst.tables.iter().enumerate() {
                *inst.table_ptrs.add(i) = self.tables[id].definition();
            }

            // Element segments: evaluate every item now.
            let mut segs = Vec::with_capacity(info.elem_segments.len());
            for seg in &info.elem_segments {
                let items: Box<[usize]> = match &seg.items {
                    ElemItems::Functions(fs) => fs.iter().map(|f| inst.func_ref(f.0) as usize).collect(),
                    ElemItems::Exprs(es) => {
                        es.iter().map(|e| inst.eval_const(e).map(|v| v as usize)).collect::<Result<_>>()?
                    }
                };
                segs.push(items);
            }
            inst.elem_segments = segs;
        }
        self.instances.push(inst);
        let id = self.instances.len() - 1;

        // Active element segments, then active data segments (spec 2.0
        // order); each is dropped after use, declared ones at once.
        for (i, seg) in info.elem_segments.iter().enumerate() {
            match &seg.kind {
                ElemSegmentKind::Active { table, offset } => {
                    // SAFETY: the instance is alive in the store.
                    let dst = unsafe { (*inst_ptr).eval_const(offset)? } as u32;
                    let n = seg.items.len() as u32;
                    // SAFETY: as above; no other borrow of the store is live.
                    unsafe {
                        libcalls::table_init(inst_ptr, table.0, i as u32, dst, 0, n)
                            .map_err(|c| Error::trap(Trap::new(c)))?;
                        (*inst_ptr).drop_elem(i as u32);
                    }
                }
                ElemSegmentKind::Declared => {
                    // SAFETY: as above.
                    unsafe { (*inst_ptr).drop_elem(i as u32) }
                }
                ElemSegmentKind::Passive => {}
            }
        }
        for (i, seg) in info.data_segments.iter().enumerate() {
            if let DataSegmentKind::Active { memory, offset } = &seg.kind {
                // SAFETY: as above.
                unsafe {
                    let dst = (*inst_ptr).eval_const(offset)? as u32;
                    let n = seg.data.len() as u32;
                    libcalls::memory_init(inst_ptr, memory.0, i as u32, dst, 0, n)
                        .map_err(|c| Error::trap(Trap::new(c)))?;
                    (*inst_ptr).drop_data(i as u32);
                }
            }
        }
        if let Some(start) = info.start {
            // SAFETY: the instance is alive; the start function has type
            // [] -> [] (validated).
            unsafe {
                let fref = (*inst_ptr).func_ref(start.0);
                StoreOpaque::call_raw(self, fref, &mut [ValRaw::default()])?;
            }
        }
        Ok(id)
    }

    /// Resolves export `name` of instance `id` to its entity index.
    pub fn instance_export(&self, id: usize, name: &str) -> Option<EntityIndex> {
        self.instances[id].module.info.export(name).map(|e| e.index)
    }
}
