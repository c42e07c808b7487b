//! Trampolines between the array-call and wasm-call ABIs: compiled with the
//! verifier for many signatures (host and cross target), and executed on
//! x86-64 Linux with a hand-built VMContext: host → array→wasm trampoline
//! → compiled wasm → wasm→array trampoline → a Rust array-call function.

use kiln_compiler::{Compiler, CompilerOptions};
use kiln_environ::WasmFuncType;
use kiln_environ::WasmValType::{self, *};

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod common;

fn signatures() -> Vec<WasmFuncType> {
    let mixed = [I32, I64, F32, F64, ExternRef, FuncRef];
    let twenty: Vec<WasmValType> = (0..20).map(|i| mixed[i % mixed.len()]).collect();
    vec![
        WasmFuncType::new([], []),
        WasmFuncType::new([I32], [I32]),
        WasmFuncType::new([I32, I64, F32, F64, ExternRef], [F64, I32]),
        WasmFuncType::new([], [I32, I64, F32, F64, ExternRef, I32, I64, F32, F64, FuncRef]),
        WasmFuncType::new(twenty.clone(), [I64]),
        WasmFuncType::new(twenty.clone(), twenty),
        WasmFuncType::new([F32, F32], []),
    ]
}

fn check_compiles(compiler: &Compiler) {
    for ty in signatures() {
        let a = compiler.compile_array_to_wasm_trampoline(&ty, 0).unwrap_or_else(|e| panic!("array→wasm {ty}: {e}"));
        assert!(!a.code.is_empty() && a.relocs.is_empty(), "{ty}");
        let w = compiler.compile_wasm_to_array_trampoline(&ty, 0).unwrap_or_else(|e| panic!("wasm→array {ty}: {e}"));
        assert!(!w.code.is_empty() && w.relocs.is_empty(), "{ty}");
        // The only trap site: the guard after `raise`.
        assert_eq!(w.traps.len(), 1, "{ty}");
        assert_eq!(w.traps[0].code, kiln_environ::TrapCode::InternalError);
    }
}

#[test]
fn trampolines_compile_with_verifier() {
    let opts = CompilerOptions { verifier: true, ..Default::default() };
    check_compiles(&Compiler::native(opts).unwrap());
    check_compiles(&Compiler::for_target("aarch64-unknown-linux-gnu", opts).unwrap());
    check_compiles(&Compiler::for_target("x86_64-unknown-linux-gnu", opts).unwrap());
}

#[test]
fn v128_is_unsupported() {
    let c = Compiler::native(CompilerOptions::default()).unwrap();
    let ty = WasmFuncType::new([V128], []);
    assert!(c.compile_array_to_wasm_trampoline(&ty, 0).is_err());
    assert!(c.compile_wasm_to_array_trampoline(&ty, 0).is_err());
}

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod exec {
    use super::*;
    use kiln_environ::builtins::BUILTINS;
    use kiln_environ::vm::{VMContext, VMFuncRef, VMStoreContext, ValRaw};
    use kiln_environ::{DefinedFuncIndex, ModuleInfo, PtrSize, VMOffsets, VMSharedTypeIndex, WasmFeatureSet};
    use std::sync::atomic::AtomicU64;

    use super::common;

    const WAT: &str = r#"(module
      (import "host" "f" (func $h (param i32 i64 f32 f64) (result f64 i32)))
      (import "host" "twenty" (func $h20 (param i32 i64 f32 f64 i32 i64 f32 f64 i32 i64 f32 f64
                                                 i32 i64 f32 f64 i32 i64 f32 f64) (result i64)))
      (import "host" "three" (func $h3 (result i32 f64 i64)))
      (func $f (param i32 i64 f32 f64) (result f64 i32)
        local.get 3 local.get 2 f64.promote_f32 f64.add local.get 1 f64.convert_i64_s f64.add
        local.get 0 i32.const 1 i32.sub)
      (func $ten (param i32) (result i32 i64 f32 f64 i32 i64 f32 f64 i32 i32)
        local.get 0 i64.const -2 f32.const 3.5 f64.const -4.25 i32.const 5
        i64.const 0x7fffffffffffffff f32.const -0.0 f64.const 1e300 i32.const -9 local.get 0 i32.const 1 i32.add)
      (func $callhost (param i32 i64 f32 f64) (result f64 i32)
        local.get 0 local.get 1 local.get 2 local.get 3 call $h
        i32.const 1000 i32.add)
      (func $ref (param externref i32) (result i32 externref) local.get 1 local.get 0)
      (func $call20 (param i32 i64 f32 f64 i32 i64 f32 f64 i32 i64 f32 f64
                           i32 i64 f32 f64 i32 i64 f32 f64) (result i64)
        local.get 0 local.get 1 local.get 2 local.get 3 local.get 4 local.get 5 local.get 6
        local.get 7 local.get 8 local.get 9 local.get 10 local.get 11 local.get 12 local.get 13
        local.get 14 local.get 15 local.get 16 local.get 17 local.get 18 local.get 19
        call $h20)
      (func $call3 (result i32 f64 i64 i32) call $h3 i32.const 77)
    )"#;

    /// The host function `$h`: `(a, b, c, d) -> (a + b + c + d as f64, a * 2)`,
    /// or `false` when `a == -1`.
    unsafe extern "C" fn host_h(
        callee: *const VMFuncRef,
        caller: *mut VMContext,
        args: *mut ValRaw,
        len: usize,
    ) -> bool {
        assert!(len >= 4);
        // SAFETY: the trampoline passes 4 slots.
        let s = unsafe { std::slice::from_raw_parts_mut(args, len) };
        // SAFETY: `callee` is the test's host funcref.
        assert_eq!(unsafe { (*callee).func_index }, u32::MAX, "the host funcref is passed on");
        assert!(!caller.is_null());
        let a = s[0].get_i32();
        if a == -1 {
            return false;
        }
        let sum =
            a as f64 + s[1].get_i64() as f64 + f32::from_bits(s[2].get_f32()) as f64 + f64::from_bits(s[3].get_f64());
        s[0] = ValRaw::f64(sum.to_bits());
        s[1] = ValRaw::i32(a.wrapping_mul(2));
        true
    }

    /// `$h20`: `sum((i + 1) * arg_i)` with floats truncated.
    unsafe extern "C" fn host_20(_: *const VMFuncRef, _: *mut VMContext, args: *mut ValRaw, len: usize) -> bool {
        assert_eq!(len, 20);
        // SAFETY: the trampoline passes 20 slots.
        let s = unsafe { std::slice::from_raw_parts_mut(args, len) };
        let mut sum = 0i64;
        for (i, v) in s.iter().enumerate() {
            let x = match i % 4 {
                0 => v.get_i32() as i64,
                1 => v.get_i64(),
                2 => f32::from_bits(v.get_f32()) as i64,
                _ => f64::from_bits(v.get_f64()) as i64,
            };
            sum += (i as i64 + 1) * x;
        }
        s[0] = ValRaw::i64(sum);
        true
    }

    /// `$h3`: no parameters, three results (the slot buffer is sized by
    /// the results).
    unsafe extern "C" fn host_3(_: *const VMFuncRef, _: *mut VMContext, args: *mut ValRaw, len: usize) -> bool {
        assert_eq!(len, 3);
        // SAFETY: the trampoline passes 3 slots.
        let s = unsafe { std::slice::from_raw_parts_mut(args, len) };
        s[0] = ValRaw::i32(-3);
        s[1] = ValRaw::f64(2.5f64.to_bits());
        s[2] = ValRaw::i64(i64::MIN);
        true
    }

    unsafe extern "C" fn no_array_call(_: *const VMFuncRef, _: *mut VMContext, _: *mut ValRaw, _: usize) -> bool {
        false
    }

    /// Test `raise`: exits the (child) process with a recognisable status,
    /// standing in for the runtime's unwinding.
    unsafe extern "C" fn test_raise(_vmctx: *mut VMContext, _fp: usize) {
        std::process::exit(42);
    }

    unsafe extern "C" fn test_builtin_unused() {
        std::process::abort();
    }

    /// Number of imported (host) functions.
    const NI: u32 = 3;

    type ArrayFn = unsafe extern "C" fn(*const VMFuncRef, *mut VMContext, *mut ValRaw, usize) -> bool;

    struct Setup {
        _code: common::Code,
        _vmctx: Vec<u128>,
        _store: Box<VMStoreContext>,
        _epoch: Box<AtomicU64>,
        _builtins: Vec<usize>,
        /// Boxed: each funcref points at itself before it is collected.
        #[allow(clippy::vec_box)]
        _hosts: Vec<Box<VMFuncRef>>,
        base: *mut VMContext,
        /// Defined functions' funcrefs (inside `_vmctx`).
        func_refs: Vec<*const VMFuncRef>,
        /// Array→wasm trampoline of each defined function.
        entries: Vec<ArrayFn>,
    }

    fn setup() -> Setup {
        let buf = wast::parser::ParseBuffer::new(WAT).unwrap();
        let wasm = wast::parser::parse::<wast::Wat>(&buf).unwrap().encode().unwrap();
        let info = ModuleInfo::parse(&wasm, WasmFeatureSet::wasm2()).unwrap();
        let compiler = Compiler::native(CompilerOptions { verifier: true, ..Default::default() }).unwrap();
        let n = info.num_defined_funcs() as usize;
        let mut funcs = Vec::new();
        for i in 0..n {
            funcs.push(compiler.compile_function(&info, &wasm, DefinedFuncIndex(i as u32)).unwrap().code.into_owned());
        }
        for i in 0..n {
            let ty = info.func_type((i as u32 + NI).into());
            funcs.push(compiler.compile_array_to_wasm_trampoline(ty, 0).unwrap().code.into_owned());
        }
        for h in 0..NI {
            let host_ty = info.func_type(h.into()).clone();
            funcs.push(compiler.compile_wasm_to_array_trampoline(&host_ty, 0).unwrap().code.into_owned());
        }
        let code = common::map_code(&funcs);
        let addr = |i: usize| code.map.as_ptr().wrapping_add(code.offsets[i]);

        let offsets = VMOffsets::new(PtrSize::HOST, &info);
        let mut vmctx = vec![0u128; offsets.size as usize / 16 + 1];
        let base = vmctx.as_mut_ptr().cast::<u8>();
        let epoch = Box::new(AtomicU64::new(0));
        let store = Box::new(VMStoreContext { stack_limit: 0, epoch_ptr: &*epoch, epoch_deadline: u64::MAX });
        let mut builtins = vec![test_builtin_unused as *const () as usize; BUILTINS.len()];
        builtins[kiln_environ::builtins::BuiltinIndex::raise.0 as usize] = test_raise as *const () as usize;
        // Array-only host functions: funcrefs whose vmctx is themselves, as in the runtime.
        let host_fns: [ArrayFn; NI as usize] = [host_h, host_20, host_3];
        let hosts: Vec<Box<VMFuncRef>> = host_fns
            .iter()
            .enumerate()
            .map(|(h, f)| {
                let mut host = Box::new(VMFuncRef {
                    array_call: *f,
                    wasm_call: addr(2 * n + h),
                    type_index: VMSharedTypeIndex(info.functions[h].0),
                    func_index: u32::MAX,
                    vmctx: std::ptr::null_mut(),
                });
                host.vmctx = (&*host as *const VMFuncRef).cast_mut().cast();
                host
            })
            .collect();
        // Defined functions' funcrefs live inside the VMContext (compiled
        // code finds its VMContext from its funcref's address).
        let func_refs: Vec<*const VMFuncRef> = (0..n)
            .map(|i| {
                let at = offsets.func_ref(i as u32) as usize;
                assert!(at + std::mem::size_of::<VMFuncRef>() <= vmctx.len() * 16);
                let fref = base.wrapping_add(at).cast::<VMFuncRef>();
                // SAFETY: inside the `vmctx` allocation (checked above),
                // aligned by `VMOffsets`.
                unsafe {
                    fref.write(VMFuncRef {
                        array_call: no_array_call,
                        wasm_call: addr(i),
                        type_index: VMSharedTypeIndex(info.functions[i + NI as usize].0),
                        func_index: i as u32 + NI,
                        vmctx: base.cast(),
                    })
                };
                fref.cast_const()
            })
            .collect();
        let put = |off: u32, v: usize| {
            assert!(off as usize + 8 <= vmctx.len() * 16);
            // SAFETY: inside the `vmctx` allocation (checked), 8-byte aligned.
            unsafe { base.add(off as usize).cast::<usize>().write(v) }
        };
        put(offsets.header.store_context, &*store as *const _ as usize);
        put(offsets.header.builtins, builtins.as_ptr() as usize);
        for (h, host) in hosts.iter().enumerate() {
            put(offsets.func_ptr(h as u32), &**host as *const _ as usize);
        }
        for (i, f) in func_refs.iter().enumerate() {
            put(offsets.func_ptr(i as u32 + NI), *f as usize);
        }
        let entries = (0..n)
            .map(|i| {
                // SAFETY: an array→wasm trampoline has exactly the
                // `VMArrayCallFn` signature and lives in the RX mapping.
                unsafe { std::mem::transmute::<*const u8, ArrayFn>(addr(n + i)) }
            })
            .collect();
        Setup {
            _code: code,
            _vmctx: vmctx,
            _store: store,
            _epoch: epoch,
            _builtins: builtins,
            _hosts: hosts,
            base: base.cast(),
            func_refs,
            entries,
        }
    }

    impl Setup {
        /// Calls defined function `i` through its array→wasm trampoline.
        fn call(&self, i: usize, args: &mut [ValRaw]) -> bool {
            // SAFETY: the funcref and VMContext are fully initialised for
            // every field the compiled code reads; `args` is large enough
            // for the function's params and results.
            unsafe { (self.entries[i])(self.func_refs[i], self.base, args.as_mut_ptr(), args.len()) }
        }
    }

    #[test]
    fn array_to_wasm_mixed_params_and_results() {
        let s = setup();
        let mut args =
            [ValRaw::i32(-5), ValRaw::i64(1 << 40), ValRaw::f32(1.5f32.to_bits()), ValRaw::f64(0.25f64.to_bits())];
        assert!(s.call(0, &mut args));
        assert_eq!(f64::from_bits(args[0].get_f64()), 0.25 + 1.5 + (1u64 << 40) as f64);
        assert_eq!(args[1], ValRaw(0xffff_fffa), "i32 -6, zero-extended");
    }

    #[test]
    fn array_to_wasm_ten_results() {
        let s = setup();
        let mut args = [ValRaw(0xdead_beef_dead_beef); 10];
        args[0] = ValRaw::i32(7);
        assert!(s.call(1, &mut args));
        assert_eq!(args[0], ValRaw(7));
        assert_eq!(args[1].get_i64(), -2);
        assert_eq!(args[2], ValRaw(3.5f32.to_bits() as u64), "f32 zero-extended");
        assert_eq!(f64::from_bits(args[3].get_f64()), -4.25);
        assert_eq!(args[4], ValRaw(5));
        assert_eq!(args[5].get_i64(), i64::MAX);
        assert_eq!(args[6], ValRaw((-0.0f32).to_bits() as u64));
        assert_eq!(f64::from_bits(args[7].get_f64()), 1e300);
        assert_eq!(args[8], ValRaw(0xffff_fff7), "i32 -9, zero-extended");
        assert_eq!(args[9], ValRaw(8));
    }

    #[test]
    fn wasm_to_array_calls_host() {
        let s = setup();
        let mut args =
            [ValRaw::i32(3), ValRaw::i64(-10), ValRaw::f32(0.5f32.to_bits()), ValRaw::f64(100.0f64.to_bits())];
        assert!(s.call(2, &mut args));
        assert_eq!(f64::from_bits(args[0].get_f64()), 93.5);
        assert_eq!(args[1], ValRaw(1006));
    }

    #[test]
    fn references_pass_through() {
        let s = setup();
        let mut args = [ValRaw(0x1234_5678_9abc), ValRaw::i32(-1)];
        assert!(s.call(3, &mut args));
        assert_eq!(args, [ValRaw(0xffff_ffff), ValRaw(0x1234_5678_9abc)]);
    }

    #[test]
    fn twenty_params_through_both_trampolines() {
        let s = setup();
        let mut args: Vec<ValRaw> = (0..20)
            .map(|i| match i % 4 {
                0 => ValRaw::i32(-i),
                1 => ValRaw::i64(i as i64 * 1000),
                2 => ValRaw::f32((i as f32 + 0.5).to_bits()),
                _ => ValRaw::f64((i as f64 * -3.0).to_bits()),
            })
            .collect();
        let expected: i64 = (0..20i64)
            .map(|i| {
                (i + 1)
                    * match i % 4 {
                        0 => -i,
                        1 => i * 1000,
                        2 => i,
                        _ => i * -3,
                    }
            })
            .sum();
        assert!(s.call(4, &mut args));
        assert_eq!(args[0].get_i64(), expected);
    }

    #[test]
    fn more_results_than_params() {
        let s = setup();
        let mut args = [ValRaw(u64::MAX); 4];
        assert!(s.call(5, &mut args));
        assert_eq!(args, [ValRaw(0xffff_fffd), ValRaw(2.5f64.to_bits()), ValRaw::i64(i64::MIN), ValRaw(77)]);
    }

    /// A failing array call makes the trampoline call `raise` (here: exit
    /// with status 42). Runs in a child process.
    #[test]
    fn wasm_to_array_failure_calls_raise() {
        if std::env::var_os("KILN_TRAMPOLINE_RAISE_CHILD").is_some() {
            let s = setup();
            let mut args = [ValRaw::i32(-1), ValRaw::i64(0), ValRaw::f32(0), ValRaw::f64(0)];
            s.call(2, &mut args);
            std::process::exit(1);
        }
        let exe = std::env::current_exe().unwrap();
        let status = std::process::Command::new(exe)
            .args(["--exact", "exec::wasm_to_array_failure_calls_raise", "--nocapture", "--test-threads=1"])
            .env("KILN_TRAMPOLINE_RAISE_CHILD", "1")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert_eq!(status.code(), Some(42), "raise was not called: {status:?}");
    }
}
