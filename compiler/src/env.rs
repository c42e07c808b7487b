//! VMContext access for generated code.
//!
//! Every load of a function, memory, table or global pointer, of a builtin
//! and of the store context goes through here, with offsets from
//! [`VMOffsets`] computed for the **target** pointer size (not the host's),
//! so the same translator serves the JIT and cross-compiling `aotc`.
//!
//! Memory-flag conventions (Cranelift 0.135 `MemFlagsData`):
//! * VMContext fields and the `*_ptrs` arrays never change after
//!   instantiation: `trusted` (notrap + aligned) + `readonly` + `can_move`.
//! * Definitions that change at run time (a memory's base/length after
//!   `memory.grow`, a table's, mutable globals, a funcref's `wasm_call`
//!   after tier-up, the epoch): `trusted` only.

use crate::CompileError;
use cranelift_codegen::ir::{
    self, AbiParam, AliasRegion, AliasRegionData, ArgumentPurpose, InstBuilder, MemFlagsData, Signature, Value, types,
};
use cranelift_codegen::isa::CallConv;
use cranelift_frontend::FunctionBuilder;
use kiln_environ::builtins::{BuiltinIndex, BuiltinType};
use kiln_environ::vm::VMStoreContextLayout;
use kiln_environ::{ModuleInfo, VMOffsets, WasmFuncType, WasmValType};

/// The Cranelift type of a wasm value type on a target with pointer type
/// `ptr`: `I32/I64/F32/F64`, references as `ptr`.
///
/// # Errors
/// [`CompileError::Unsupported`] for `v128` (SIMD is not translated yet).
pub(crate) fn val_type(ptr: ir::Type, ty: WasmValType) -> Result<ir::Type, CompileError> {
    Ok(match ty {
        WasmValType::I32 => types::I32,
        WasmValType::I64 => types::I64,
        WasmValType::F32 => types::F32,
        WasmValType::F64 => types::F64,
        WasmValType::FuncRef | WasmValType::ExternRef => ptr,
        WasmValType::V128 => return Err(CompileError::Unsupported("v128 values (SIMD)".into())),
    })
}

/// kiln's wasm-call signature: `(callee: *const VMFuncRef, caller_vmctx,
/// params…) -> results` with [`CallConv::Tail`].
///
/// The first argument is the callee's own funcref, for every kind of
/// callee: a compiled wasm function derives its VMContext from it (its
/// funcref lives inside its instance's VMContext at
/// `VMOffsets::func_ref(def)`, a constant offset), and the wasm→array
/// trampoline that serves host functions and not-yet-compiled
/// (interpreted) functions passes it on to `array_call`. So one funcref
/// call site works for every tier, and a tier-up only swaps the funcref's
/// entries. It carries `ArgumentPurpose::VMContext` so that global values
/// (the stack limit) can be derived from it.
pub(crate) fn wasm_signature(ptr: ir::Type, ty: &WasmFuncType) -> Result<Signature, CompileError> {
    let mut sig = Signature::new(CallConv::Tail);
    sig.params.push(AbiParam::special(ptr, ArgumentPurpose::VMContext));
    sig.params.push(AbiParam::new(ptr));
    for p in ty.params.iter() {
        sig.params.push(AbiParam::new(val_type(ptr, *p)?));
    }
    for r in ty.results.iter() {
        sig.returns.push(AbiParam::new(val_type(ptr, *r)?));
    }
    Ok(sig)
}

/// Flags for immutable VMContext data: trusted, readonly, movable.
pub(crate) fn readonly() -> MemFlagsData {
    MemFlagsData::trusted().with_readonly().with_can_move()
}

/// Disjoint alias regions (Cranelift alias analysis): a wasm store never
/// invalidates a cached memory base, table definition or global, and a
/// `table.set` never invalidates a heap load. Calls clobber every region.
#[derive(Clone, Copy)]
pub(crate) struct Regions {
    /// Wasm linear memory.
    pub heap: AliasRegion,
    /// VMContext, VM definitions (memory/table/store context), funcrefs;
    /// written only by the runtime (inside calls).
    pub vm: AliasRegion,
    /// Table elements.
    pub table: AliasRegion,
    /// Global values.
    pub global: AliasRegion,
}

impl Regions {
    /// Declares the regions in `func`.
    pub fn declare(func: &mut ir::Function) -> Regions {
        let mut r = |user_id: u32, description: &'static str| {
            func.dfg.alias_regions.insert(AliasRegionData { user_id, description: description.into() })
        };
        Regions { heap: r(1, "wasm heap"), vm: r(2, "vm data"), table: r(3, "table elements"), global: r(4, "globals") }
    }
}

/// The module-level facts the translator needs, for one target.
pub(crate) struct Env<'m> {
    pub module: &'m ModuleInfo,
    pub offsets: VMOffsets,
    pub store: VMStoreContextLayout,
    /// The target's pointer type.
    pub ptr: ir::Type,
    /// The calling convention of builtins: the target's default C one.
    pub builtin_call_conv: CallConv,
    pub regions: Regions,
}

impl<'m> Env<'m> {
    pub fn new(isa: &dyn cranelift_codegen::isa::TargetIsa, module: &'m ModuleInfo, regions: Regions) -> Env<'m> {
        let ptr_size = kiln_environ::PtrSize(isa.pointer_bytes());
        Env {
            module,
            offsets: VMOffsets::new(ptr_size, module),
            store: VMStoreContextLayout::for_target(ptr_size),
            ptr: isa.pointer_type(),
            builtin_call_conv: isa.default_call_conv(),
            regions,
        }
    }

    /// Immutable VM data: trusted, readonly, movable, region `vm`.
    pub fn ro(&self) -> MemFlagsData {
        readonly().with_alias_region(Some(self.regions.vm))
    }

    /// Mutable VM data: trusted, region `vm`.
    pub fn vm(&self) -> MemFlagsData {
        MemFlagsData::trusted().with_alias_region(Some(self.regions.vm))
    }

    /// Table elements: trusted (bounds checked before), region `table`.
    pub fn table_flags(&self) -> MemFlagsData {
        MemFlagsData::trusted().with_alias_region(Some(self.regions.table))
    }

    /// A global's value: little-endian, trusted, region `global`;
    /// readonly and movable if the global is immutable.
    pub fn global_flags(&self, mutable: bool) -> MemFlagsData {
        let f = if mutable { MemFlagsData::trusted() } else { readonly() };
        f.with_endianness(ir::Endianness::Little).with_alias_region(Some(self.regions.global))
    }

    fn off(x: u32) -> Result<i32, CompileError> {
        i32::try_from(x).map_err(|_| CompileError::Unsupported("VMContext offset exceeds 2 GiB".into()))
    }

    /// Loads a pointer-sized immutable field at `offset` of `base`.
    pub fn load_ro(&self, b: &mut FunctionBuilder, base: Value, offset: u32) -> Result<Value, CompileError> {
        Ok(b.ins().load(self.ptr, self.ro(), base, Self::off(offset)?))
    }

    /// `func_ptrs[f]`: the function's `*const VMFuncRef`.
    pub fn func_ref(&self, b: &mut FunctionBuilder, vmctx: Value, f: u32) -> Result<Value, CompileError> {
        self.load_ro(b, vmctx, self.offsets.func_ptr(f))
    }

    /// `memory_ptrs[m]`: the memory's `*mut VMMemoryDefinition`.
    pub fn memory_def(&self, b: &mut FunctionBuilder, vmctx: Value, m: u32) -> Result<Value, CompileError> {
        self.load_ro(b, vmctx, self.offsets.memory_ptr(m))
    }

    /// The memory's current base address (reloaded at every use: a call
    /// may grow and move the memory; Cranelift's alias analysis removes
    /// redundant reloads between calls). `base_fixed`: the base never
    /// moves (a 4 GiB reservation), so its load is readonly and movable.
    pub fn memory_base(
        &self,
        b: &mut FunctionBuilder,
        vmctx: Value,
        m: u32,
        base_fixed: bool,
    ) -> Result<Value, CompileError> {
        let def = self.memory_def(b, vmctx, m)?;
        let flags = if base_fixed { self.ro() } else { self.vm() };
        Ok(b.ins().load(self.ptr, flags, def, Self::off(self.offsets.memory.base)?))
    }

    /// The memory's current length in bytes (pointer-sized).
    pub fn memory_len(&self, b: &mut FunctionBuilder, vmctx: Value, m: u32) -> Result<Value, CompileError> {
        let def = self.memory_def(b, vmctx, m)?;
        Ok(b.ins().load(self.ptr, self.vm(), def, Self::off(self.offsets.memory.current_length)?))
    }

    /// The table's current `(base, current_elements)`.
    pub fn table_base_len(
        &self,
        b: &mut FunctionBuilder,
        vmctx: Value,
        t: u32,
    ) -> Result<(Value, Value), CompileError> {
        let def = self.load_ro(b, vmctx, self.offsets.table_ptr(t))?;
        let l = self.offsets.table;
        let base = b.ins().load(self.ptr, self.vm(), def, Self::off(l.base)?);
        let len = b.ins().load(self.ptr, self.vm(), def, Self::off(l.current_elements)?);
        Ok((base, len))
    }

    /// The table's current number of elements.
    pub fn table_len(&self, b: &mut FunctionBuilder, vmctx: Value, t: u32) -> Result<Value, CompileError> {
        let def = self.load_ro(b, vmctx, self.offsets.table_ptr(t))?;
        Ok(b.ins().load(self.ptr, self.vm(), def, Self::off(self.offsets.table.current_elements)?))
    }

    /// The address of global `g`'s value (offset 0 of its
    /// `VMGlobalDefinition`): inside this VMContext for a defined global
    /// (no load), `global_ptrs[g]` for an imported one.
    pub fn global_addr(&self, b: &mut FunctionBuilder, vmctx: Value, g: u32) -> Result<Value, CompileError> {
        match g.checked_sub(self.module.num_imported_globals) {
            Some(def) => Ok(b.ins().iadd_imm_s(vmctx, i64::from(self.offsets.defined_global(def)))),
            None => self.load_ro(b, vmctx, self.offsets.global_ptr(g)),
        }
    }

    /// `header.store_context`.
    pub fn store_context(&self, b: &mut FunctionBuilder, vmctx: Value) -> Result<Value, CompileError> {
        self.load_ro(b, vmctx, self.offsets.header.store_context)
    }

    /// The canonical type id of the module's type `ty`:
    /// `header.type_ids[ty]` (a `u32`).
    pub fn type_id(&self, b: &mut FunctionBuilder, vmctx: Value, ty: u32) -> Result<Value, CompileError> {
        let ids = self.load_ro(b, vmctx, self.offsets.header.type_ids)?;
        let at = ty.checked_mul(4).ok_or_else(|| CompileError::Unsupported("type index too large".into()))?;
        Ok(b.ins().load(types::I32, self.ro(), ids, Self::off(at)?))
    }

    /// Calls builtin `index` with `args` (the caller's vmctx is prepended)
    /// through `header.builtins[index]`; returns its result, if any.
    pub fn call_builtin(
        &self,
        b: &mut FunctionBuilder,
        vmctx: Value,
        index: BuiltinIndex,
        args: &[Value],
    ) -> Result<Option<Value>, CompileError> {
        let builtin = index.builtin();
        let ty = |t: BuiltinType| match t {
            BuiltinType::VMContext | BuiltinType::Ptr => self.ptr,
            BuiltinType::U32 | BuiltinType::Status => types::I32,
        };
        let mut sig = Signature::new(self.builtin_call_conv);
        sig.params.extend(builtin.params.iter().map(|t| AbiParam::new(ty(*t))));
        sig.returns.extend(builtin.result.map(|t| AbiParam::new(ty(t))));
        if builtin.params.len() != args.len() + 1 {
            return Err(CompileError::Codegen(format!(
                "builtin {} called with {} arguments",
                builtin.name,
                args.len()
            )));
        }
        let sig = b.import_signature(sig);
        let table = self.load_ro(b, vmctx, self.offsets.header.builtins)?;
        let at = index.0 * self.ptr.bytes();
        let fptr = self.load_ro(b, table, at)?;
        let mut all = Vec::with_capacity(args.len() + 1);
        all.push(vmctx);
        all.extend_from_slice(args);
        let call = b.ins().call_indirect(sig, fptr, &all);
        Ok(b.inst_results(call).first().copied())
    }
}
