//! Executes compiled code: maps it RW, copies, switches to RX (never W+X)
//! and calls functions through a tiny Cranelift-generated System V shim
//! with a hand-built VMContext. Only non-trapping inputs: there is no
//! signal handler here (that is the runtime's job).

#![cfg(all(target_arch = "x86_64", target_os = "linux"))]

use cranelift_codegen::ir::{self, AbiParam, InstBuilder, UserFuncName, types};
use cranelift_codegen::isa::CallConv;
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use kiln_compiler::{BoundsChecks, Compiler, CompilerOptions};
use kiln_environ::vm::{
    VMContext, VMFuncRef, VMGlobalDefinition, VMMemoryDefinition, VMStoreContext, VMTableDefinition, ValRaw,
};
use kiln_environ::{DefinedFuncIndex, ModuleInfo, PtrSize, VMOffsets, VMSharedTypeIndex, WasmFeatureSet};
use std::sync::atomic::AtomicU64;

mod common;
use common::map_code;

const WAT: &str = r#"(module
  (type $bin (func (param i32 i32) (result i32)))
  (type $fbin (func (param f64 f64) (result f64)))
  (memory 1)
  (table 2 funcref)
  (global $g (mut i32) (i32.const 100))
  (func $add (type $bin) local.get 0 local.get 1 i32.add)
  (func $sub (type $bin) local.get 0 local.get 1 i32.sub)
  (func $rem (type $bin) local.get 0 local.get 1 i32.rem_s)
  (func $sum (type $bin) (local i32)
    block loop
      local.get 0 local.get 1 i32.ge_s br_if 1
      local.get 2 local.get 0 i32.add local.set 2
      local.get 0 i32.const 1 i32.add local.set 0
      br 0
    end end
    local.get 2)
  (func $mem (type $bin)
    local.get 0 local.get 1 i32.store offset=3
    local.get 0 i32.load8_s offset=3
    local.get 0 i32.load offset=3 i32.add)
  (func $ind (type $bin) local.get 1 i32.const 10 local.get 0 call_indirect (type $bin))
  (func $call (type $bin) local.get 0 local.get 1 call $add global.get $g i32.add
    global.get $g i32.const 1 i32.add global.set $g)
  (func $brt (type $bin)
    (block (block (block local.get 0 br_table 0 1 2)
      i32.const 10 local.get 1 i32.add return)
      i32.const 20 local.get 1 i32.add return)
    i32.const 30 local.get 1 i32.add)
  (func $many (result i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 f64 f64 f64 f64 f64 f64 f64 f64 f64 f64)
    i32.const 1 i32.const 2 i32.const 3 i32.const 4 i32.const 5 i32.const 6
    i32.const 7 i32.const 8 i32.const 9 i32.const 10 i32.const 11 i32.const 12
    f64.const 1 f64.const 2 f64.const 3 f64.const 4 f64.const 5
    f64.const 6 f64.const 7 f64.const 8 f64.const 9 f64.const 10)
  (func $summany (type $bin)
    call $many
    f64.add f64.add f64.add f64.add f64.add f64.add f64.add f64.add f64.add
    i32.trunc_f64_s
    i32.add i32.add i32.add i32.add i32.add i32.add i32.add i32.add i32.add i32.add i32.add i32.add
    local.get 0 i32.mul)
  (func $fmin (type $fbin) local.get 0 local.get 1 f64.min)
  (func $nearest (type $fbin) local.get 0 f64.nearest)
  (func $ifelse (type $bin)
    local.get 0 local.get 0 (if (param i32) (result i32) (then local.get 1 i32.add) (else local.get 1 i32.sub)))
  (func $grow (type $bin) memory.size)
)"#;

/// A System V function `(code, funcref, vmctx, params…) -> result` that
/// calls `code` with kiln's wasm-call ABI `(funcref, vmctx, params…) ->
/// result`.
fn shim(compiler: &Compiler, params: &[ir::Type], result: ir::Type) -> Vec<u8> {
    let ptr = compiler.isa().pointer_type();
    let mut sig = ir::Signature::new(CallConv::SystemV);
    sig.params.push(AbiParam::new(ptr));
    sig.params.push(AbiParam::new(ptr));
    sig.params.push(AbiParam::new(ptr));
    sig.params.extend(params.iter().map(|t| AbiParam::new(*t)));
    sig.returns.push(AbiParam::new(result));
    let mut callee = ir::Signature::new(CallConv::Tail);
    callee.params.push(AbiParam::special(ptr, ir::ArgumentPurpose::VMContext));
    callee.params.push(AbiParam::new(ptr));
    callee.params.extend(params.iter().map(|t| AbiParam::new(*t)));
    callee.returns.push(AbiParam::new(result));
    let mut func = ir::Function::with_name_signature(UserFuncName::user(1, 0), sig);
    let mut fctx = FunctionBuilderContext::new();
    let mut b = FunctionBuilder::new(&mut func, &mut fctx);
    let entry = b.create_block();
    b.append_block_params_for_function_params(entry);
    b.switch_to_block(entry);
    b.seal_block(entry);
    let p = b.block_params(entry).to_vec();
    let sig_ref = b.import_signature(callee);
    let mut args = vec![p[1], p[2]];
    args.extend_from_slice(&p[3..]);
    let call = b.ins().call_indirect(sig_ref, p[0], &args);
    let r = b.inst_results(call)[0];
    b.ins().return_(&[r]);
    b.finalize(compiler.isa().frontend_config());
    let mut ctx = cranelift_codegen::Context::for_function(func);
    ctx.compile(compiler.isa(), &mut Default::default()).unwrap().code_buffer().to_vec()
}

unsafe extern "C" fn no_array_call(_: *const VMFuncRef, _: *mut VMContext, _: *mut ValRaw, _: usize) -> bool {
    false
}

#[test]
fn compiled_code_runs_explicit_bounds() {
    check_runs(BoundsChecks::Explicit);
}

/// Guard mode on a plain 64 KiB buffer: fine as long as every access is in
/// bounds (no check is emitted; an out-of-bounds access would fault).
#[test]
fn compiled_code_runs_guard_bounds() {
    check_runs(BoundsChecks::Guard { reservation: 1 << 32, guard: 32 << 20 });
}

fn check_runs(bounds: BoundsChecks) {
    let buf = wast::parser::ParseBuffer::new(WAT).unwrap();
    let wasm = wast::parser::parse::<wast::Wat>(&buf).unwrap().encode().unwrap();
    let info = ModuleInfo::parse(&wasm, WasmFeatureSet::wasm2()).unwrap();
    let compiler = Compiler::native(CompilerOptions { bounds, verifier: true, ..Default::default() }).unwrap();
    let n = info.num_defined_funcs() as usize;
    let mut funcs: Vec<Vec<u8>> = (0..n)
        .map(|i| {
            let f = compiler.compile_function(&info, &wasm, DefinedFuncIndex(i as u32)).unwrap();
            // Only the fallback for callees without native code (unused
            // here: every funcref has its `wasm_call`).
            assert!(
                f.relocs.iter().all(|r| matches!(r.target, kiln_aot_format::compiled::RelocTarget::Trampoline(_))),
                "{:?}",
                f.relocs
            );
            f.code.into_owned()
        })
        .collect();
    funcs.push(shim(&compiler, &[types::I32, types::I32], types::I32));
    funcs.push(shim(&compiler, &[types::F64, types::F64], types::F64));
    let code = map_code(&funcs);
    let addr = |i: usize| code.map.as_ptr().wrapping_add(code.offsets[i]);

    // The VMContext and what it points to.
    let offsets = VMOffsets::new(PtrSize::HOST, &info);
    let mut vmctx = vec![0u128; offsets.size as usize / 16 + 1];
    let base = vmctx.as_mut_ptr().cast::<u8>();
    let epoch = AtomicU64::new(0);
    let store = VMStoreContext { stack_limit: 0, epoch_ptr: &epoch, epoch_deadline: u64::MAX };
    let type_ids: Vec<VMSharedTypeIndex> = (0..info.types.len() as u32).map(VMSharedTypeIndex).collect();
    let mut memory = vec![0u8; 65536];
    let mem_def = VMMemoryDefinition { base: memory.as_mut_ptr(), current_length: memory.len() };
    // The defined global and the funcrefs live inside the VMContext
    // (compiled code finds its VMContext from its funcref's address).
    let func_ref = |i: usize| base.wrapping_add(offsets.func_ref(i as u32) as usize).cast::<VMFuncRef>();
    for i in 0..n {
        assert!(offsets.func_ref(i as u32) as usize + std::mem::size_of::<VMFuncRef>() <= vmctx.len() * 16);
        // SAFETY: inside the `vmctx` allocation (checked above), aligned
        // by `VMOffsets`.
        unsafe {
            func_ref(i).write(VMFuncRef {
                array_call: no_array_call,
                wasm_call: addr(i),
                type_index: VMSharedTypeIndex(info.functions[i].0),
                func_index: i as u32,
                vmctx: base.cast(),
            })
        };
    }
    // table[0] = $add, table[1] = $sub
    let mut table_elems: Vec<usize> = vec![func_ref(0) as usize, func_ref(1) as usize];
    let table_def = VMTableDefinition { base: table_elems.as_mut_ptr(), current_elements: 2 };
    let put = |off: u32, v: usize| {
        assert!(off as usize + 8 <= vmctx.len() * 16);
        // SAFETY: `off` is inside the `vmctx` allocation (checked above)
        // and 8-byte aligned (VMOffsets aligns pointer fields).
        unsafe { base.add(off as usize).cast::<usize>().write(v) }
    };
    put(offsets.header.store_context, &store as *const _ as usize);
    put(offsets.header.type_ids, type_ids.as_ptr() as usize);
    for i in 0..n {
        put(offsets.func_ptr(i as u32), func_ref(i) as usize);
    }
    put(offsets.memory_ptr(0), &mem_def as *const _ as usize);
    put(offsets.table_ptr(0), &table_def as *const _ as usize);
    let global = base.wrapping_add(offsets.defined_global(0) as usize).cast::<VMGlobalDefinition>();
    assert!(offsets.defined_global(0) as usize + 16 <= vmctx.len() * 16);
    // SAFETY: inside the `vmctx` allocation (checked above), 16-byte aligned.
    unsafe { global.write(VMGlobalDefinition { bits: 100 }) };
    put(offsets.global_ptr(0), global as usize);

    type I32Shim = unsafe extern "C" fn(*const u8, *mut VMFuncRef, *mut u8, i32, i32) -> i32;
    type F64Shim = unsafe extern "C" fn(*const u8, *mut VMFuncRef, *mut u8, f64, f64) -> f64;
    // SAFETY: the shim was compiled with exactly this System V signature
    // and lives in an executable mapping that outlives the calls.
    let call_i32: I32Shim = unsafe { std::mem::transmute::<*const u8, I32Shim>(addr(n)) };
    // SAFETY: as above, for the f64 shim.
    let call_f64: F64Shim = unsafe { std::mem::transmute::<*const u8, F64Shim>(addr(n + 1)) };
    // SAFETY: every function of the module is called with its own type
    // and a VMContext whose every field it reads is initialised above;
    // the inputs are chosen so that nothing traps.
    let run = |f: usize, a: i32, b: i32| unsafe { call_i32(addr(f), func_ref(f), base, a, b) };
    // SAFETY: as above.
    let runf = |f: usize, a: f64, b: f64| unsafe { call_f64(addr(f), func_ref(f), base, a, b) };

    assert_eq!(run(0, 2, 3), 5);
    assert_eq!(run(0, i32::MAX, 1), i32::MIN);
    assert_eq!(run(1, 2, 3), -1);
    assert_eq!(run(2, i32::MIN, -1), 0, "srem INT_MIN % -1 is 0");
    assert_eq!(run(2, -7, 2), -1);
    assert_eq!(run(3, 1, 101), 5050);
    assert_eq!(run(4, 8, 0x1234_5680), 0x1234_5680 - 128);
    assert_eq!(u32::from_le_bytes(memory[11..15].try_into().unwrap()), 0x1234_5680);
    assert_eq!(run(5, 0, 5), 15, "call_indirect table[0] = add");
    assert_eq!(run(5, 1, 5), -5, "call_indirect table[1] = sub");
    assert_eq!(run(6, 1, 2), 103);
    assert_eq!(run(6, 1, 2), 104, "global.set is visible");
    // SAFETY: `global` points into the live VMContext; no call is running.
    assert_eq!(unsafe { (*global).bits }, 102);
    assert_eq!(run(7, 0, 1), 11);
    assert_eq!(run(7, 1, 1), 21);
    assert_eq!(run(7, 2, 1), 31);
    assert_eq!(run(7, 99, 1), 31);
    assert_eq!(run(9, 2, 0), 2 * (78 + 55), "22 results through the return area");
    assert_eq!(runf(10, -0.0, 0.0).to_bits(), (-0.0f64).to_bits());
    assert!(runf(10, f64::NAN, 1.0).is_nan());
    assert_eq!(runf(11, 2.5, 0.0), 2.0);
    assert_eq!(runf(11, -3.5, 0.0), -4.0);
    assert_eq!(run(12, 1, 5), 6);
    assert_eq!(run(12, 0, 5), -5);
    assert_eq!(run(13, 0, 0), 1, "memory.size in pages");
    drop(table_elems);
    drop(memory);
}
