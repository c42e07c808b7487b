//! Behaviour of the embedding API and the runtime around guest execution:
//! host functions, traps and their backtraces, stack exhaustion, host
//! errors and panics, imports and exports of every kind, and sharing a
//! module across threads. Every test runs in every available tier
//! (`for_each_tier`): the API must behave the same whatever executes the
//! guest.

mod support;

use kiln::{
    Caller, ErrorKind, Extern, Func, FuncType, Global, GlobalType, Instance, Linker, Memory, MemoryType, Module,
    Mutability, Ref, RefType, Store, Table, TableType, TrapCode, Val, ValType,
};
use support::tiers::{engine, engine_with, for_each_tier, module};

#[test]
fn typed_and_untyped_calls() {
    for_each_tier("typed_and_untyped_calls", |tier| {
        let engine = engine(tier);
        let m = module(
            &engine,
            r#"(module
                (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add)
                (func (export "swap") (param i64 f64) (result f64 i64) local.get 1 local.get 0))"#,
        );
        let mut store = Store::new(&engine, ());
        let inst = Linker::new(&engine).instantiate(&mut store, &m).unwrap();
        let add = inst.get_typed_func::<(i32, i32), i32>(&mut store, "add").unwrap();
        assert_eq!(add.call(&mut store, (40, 2)).unwrap(), 42);
        assert_eq!(add.call(&mut store, (i32::MAX, 1)).unwrap(), i32::MIN);
        let swap = inst.get_func(&mut store, "swap").unwrap();
        let mut out = [Val::I32(0), Val::I32(0)];
        swap.call(&mut store, &[Val::I64(-7), Val::from(2.5f64)], &mut out).unwrap();
        assert_eq!(out, [Val::from(2.5f64), Val::I64(-7)]);
        // Wrong argument types are an error, not a crash.
        let err = swap.call(&mut store, &[Val::I32(1), Val::I32(2)], &mut out).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Other);
        assert!(inst.get_typed_func::<i32, i32>(&mut store, "add").is_err());
    });
}

#[test]
fn host_functions_see_caller_and_data() {
    for_each_tier("host_functions_see_caller_and_data", |tier| {
        let engine = engine(tier);
        let m = module(
            &engine,
            r#"(module
                (import "env" "log" (func $log (param i32 i32)))
                (import "env" "bump" (func $bump (param i64) (result i64)))
                (memory (export "memory") 1)
                (data (i32.const 16) "hello")
                (func (export "run") (result i64)
                    (call $log (i32.const 16) (i32.const 5))
                    (call $bump (i64.const 41))))"#,
        );
        let mut store = Store::new(&engine, Vec::<String>::new());
        let mut linker = Linker::new(&engine);
        linker
            .func_wrap("env", "log", |mut caller: Caller<'_, Vec<String>>, ptr: i32, len: i32| {
                let mem = caller.get_export("memory").and_then(Extern::into_memory).expect("memory export");
                let bytes = mem.data(&caller)[ptr as usize..(ptr + len) as usize].to_vec();
                caller.data_mut().push(String::from_utf8(bytes).unwrap());
            })
            .unwrap()
            .func_wrap("env", "bump", |x: i64| x + 1)
            .unwrap();
        let inst = linker.instantiate(&mut store, &m).unwrap();
        let run = inst.get_typed_func::<(), i64>(&mut store, "run").unwrap();
        assert_eq!(run.call(&mut store, ()).unwrap(), 42);
        assert_eq!(store.data(), &["hello".to_string()]);
    });
}

#[test]
fn traps_carry_code_message_and_backtrace() {
    for_each_tier("traps_carry_code_message_and_backtrace", |tier| {
        let engine = engine(tier);
        let m = module(
            &engine,
            r#"(module $m
                (func $inner (param i32) (result i32) local.get 0 i32.const 0 i32.div_u)
                (func $outer (export "div") (param i32) (result i32) local.get 0 call $inner)
                (func (export "oob") (result i32) i32.const 65536 i32.load)
                (func (export "unreachable") unreachable)
                (memory 1))"#,
        );
        let mut store = Store::new(&engine, ());
        let inst = Linker::new(&engine).instantiate(&mut store, &m).unwrap();
        let div = inst.get_typed_func::<i32, i32>(&mut store, "div").unwrap();
        let err = div.call(&mut store, 7).unwrap_err();
        let trap = err.as_trap().expect("a trap");
        assert_eq!(trap.code(), TrapCode::IntegerDivisionByZero);
        let names: Vec<_> = trap.backtrace().iter().map(|f| f.func_name.clone().unwrap_or_default()).collect();
        assert_eq!(names, ["inner", "outer"]);
        assert!(err.to_string().contains("integer divide by zero"), "{err}");
        assert!(err.to_string().contains("wasm backtrace"), "{err}");

        let oob = inst.get_typed_func::<(), i32>(&mut store, "oob").unwrap();
        assert_eq!(oob.call(&mut store, ()).unwrap_err().as_trap().unwrap().code(), TrapCode::MemoryOutOfBounds);
        let unr = inst.get_typed_func::<(), ()>(&mut store, "unreachable").unwrap();
        assert_eq!(unr.call(&mut store, ()).unwrap_err().as_trap().unwrap().code(), TrapCode::UnreachableCodeReached);
        // The store stays usable after traps.
        assert_eq!(div.call(&mut store, 0).unwrap_err().as_trap().unwrap().code(), TrapCode::IntegerDivisionByZero);
    });
}

#[test]
fn runaway_recursion_traps_and_finite_recursion_runs() {
    for_each_tier("runaway_recursion_traps_and_finite_recursion_runs", |tier| {
        let engine = engine(tier);
        const DEPTH: &str = r#"
                (func $depth (export "depth") (param i32) (result i32)
                    local.get 0 i32.eqz if (result i32) i32.const 0 else
                    local.get 0 i32.const 1 i32.sub call $depth i32.const 1 i32.add end)"#;
        let m = module(
            &engine,
            &format!(
                r#"(module (func $inf (export "inf") (param i64) (result i64) local.get 0 i64.const 1 i64.add call $inf) {DEPTH})"#
            ),
        );
        let mut store = Store::new(&engine, ());
        let inst = Linker::new(&engine).instantiate(&mut store, &m).unwrap();
        let inf = inst.get_typed_func::<i64, i64>(&mut store, "inf").unwrap();
        let err = inf.call(&mut store, 0).unwrap_err();
        assert_eq!(err.as_trap().unwrap().code(), TrapCode::StackOverflow);
        assert!(err.to_string().contains("call stack exhausted"));
        let depth = inst.get_typed_func::<i32, i32>(&mut store, "depth").unwrap();
        assert_eq!(depth.call(&mut store, 10_000).unwrap(), 10_000);
        // A smaller configured stack exhausts sooner.
        let small = engine_with(tier, |config| {
            config.max_wasm_stack(64 * 1024);
        });
        let m2 = Module::new(&small, format!("(module {DEPTH})")).unwrap();
        let mut store2 = Store::new(&small, ());
        let inst2 = Linker::new(&small).instantiate(&mut store2, &m2).unwrap();
        let depth2 = inst2.get_typed_func::<i32, i32>(&mut store2, "depth").unwrap();
        assert_eq!(depth2.call(&mut store2, 10_000).unwrap_err().as_trap().unwrap().code(), TrapCode::StackOverflow);
        assert_eq!(depth2.call(&mut store2, 100).unwrap(), 100);
    });
}

#[test]
fn host_errors_and_panics_become_errors_not_crashes() {
    for_each_tier("host_errors_and_panics_become_errors_not_crashes", |tier| {
        let engine = engine(tier);
        let m = module(
            &engine,
            r#"(module
                (import "env" "fail" (func $fail (param i32)))
                (func (export "call") (param i32) local.get 0 call $fail))"#,
        );
        let mut store = Store::new(&engine, ());
        let mut linker = Linker::new(&engine);
        linker
            .func_wrap("env", "fail", |x: i32| -> kiln::Result<()> {
                match x {
                    0 => Ok(()),
                    1 => Err(kiln::Error::host("refused")),
                    _ => panic!("host function panicked on purpose"),
                }
            })
            .unwrap();
        let inst = linker.instantiate(&mut store, &m).unwrap();
        let call = inst.get_typed_func::<i32, ()>(&mut store, "call").unwrap();
        call.call(&mut store, 0).unwrap();
        let err = call.call(&mut store, 1).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Host);
        assert!(err.to_string().contains("refused"));
        let err = call.call(&mut store, 2).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Host);
        assert!(err.to_string().contains("panicked on purpose"), "{err}");
        call.call(&mut store, 0).unwrap();
    });
}

#[test]
fn reentrant_host_calls_and_nested_traps() {
    for_each_tier("reentrant_host_calls_and_nested_traps", |tier| {
        let engine = engine(tier);
        let m = module(
            &engine,
            r#"(module
                (import "env" "reenter" (func $reenter (param i32) (result i32)))
                (func $f (export "f") (param i32) (result i32)
                    local.get 0 i32.eqz if (result i32) i32.const 100 else
                    local.get 0 i32.const 1 i32.sub call $reenter i32.const 1 i32.add end)
                (func (export "boom") (param i32) (result i32) unreachable))"#,
        );
        let mut store = Store::new(&engine, None::<Func>);
        let mut linker = Linker::new(&engine);
        linker
            .func_wrap("env", "reenter", |mut caller: Caller<'_, Option<Func>>, x: i32| -> kiln::Result<i32> {
                let f = caller.data().expect("set before the call");
                let mut out = [Val::I32(0)];
                f.call(&mut caller, &[Val::I32(x)], &mut out)?;
                Ok(out[0].unwrap_i32())
            })
            .unwrap();
        let inst = linker.instantiate(&mut store, &m).unwrap();
        let f = inst.get_func(&mut store, "f").unwrap();
        *store.data_mut() = Some(f);
        let typed = f.typed::<i32, i32>(&store).unwrap();
        assert_eq!(typed.call(&mut store, 50).unwrap(), 150);
        // Deep host/wasm alternation ends in a trap, not a host stack overflow.
        let err = typed.call(&mut store, 1_000_000).unwrap_err();
        assert_eq!(err.as_trap().map(|t| t.code()), Some(TrapCode::StackOverflow), "{err}");
        // A trap inside a nested activation propagates with its kind.
        *store.data_mut() = Some(inst.get_func(&mut store, "boom").unwrap());
        let err = typed.call(&mut store, 3).unwrap_err();
        assert_eq!(err.as_trap().map(|t| t.code()), Some(TrapCode::UnreachableCodeReached));
        assert!(err.as_trap().unwrap().backtrace().len() >= 2, "{err}");
    });
}

#[test]
fn imports_of_every_kind_are_shared_not_copied() {
    for_each_tier("imports_of_every_kind_are_shared_not_copied", |tier| {
        let engine = engine(tier);
        let mut store = Store::new(&engine, ());
        let memory = Memory::new(&mut store, MemoryType::new(1, Some(4))).unwrap();
        let global = Global::new(&mut store, GlobalType::new(ValType::I32, Mutability::Var), Val::I32(5)).unwrap();
        let table = Table::new(&mut store, TableType::new(RefType::FuncRef, 2, None), Ref::Func(None)).unwrap();
        let host = Func::new(&mut store, FuncType::new([], [ValType::I32]), |_c, _p, r| {
            r[0] = Val::I32(7);
            Ok(())
        });
        let m = module(
            &engine,
            r#"(module
                (import "h" "mem" (memory 1))
                (import "h" "g" (global $g (mut i32)))
                (import "h" "t" (table 2 funcref))
                (import "h" "f" (func $f (result i32)))
                (type $t (func (result i32)))
                (elem (i32.const 1) func $f)
                (func (export "go") (result i32)
                    (i32.store (i32.const 8) (i32.const 0x01020304))
                    (global.set $g (i32.add (global.get $g) (i32.const 1)))
                    (drop (memory.grow (i32.const 1)))
                    (call_indirect (type $t) (i32.const 1))))"#,
        );
        let imports = [Extern::from(memory), global.into(), table.into(), host.into()];
        let inst = Instance::new(&mut store, &m, &imports).unwrap();
        let go = inst.get_typed_func::<(), i32>(&mut store, "go").unwrap();
        assert_eq!(go.call(&mut store, ()).unwrap(), 7);
        assert_eq!(&memory.data(&store)[8..12], &[4, 3, 2, 1]);
        assert_eq!(memory.size(&store), 2);
        assert_eq!(global.get(&mut store), Val::I32(6));
        assert!(matches!(table.get(&mut store, 1), Some(Ref::Func(Some(_)))));
        // Import type mismatches are link errors.
        let bad = module(&engine, r#"(module (import "h" "g" (global i64)))"#);
        let err = Instance::new(&mut store, &bad, &[global.into()]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Link);
        let missing = Linker::<()>::new(&engine).instantiate(&mut store, &bad).unwrap_err();
        assert_eq!(missing.kind(), ErrorKind::Link);
        assert!(missing.to_string().contains("h::g"), "{missing}");
    });
}

#[test]
fn instantiation_traps_and_malformed_input() {
    for_each_tier("instantiation_traps_and_malformed_input", |tier| {
        let engine = engine(tier);
        let err = Module::new(&engine, b"\0asm\x01\0\0\0\x01\xff").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Compile);
        assert!(err.to_string().contains("offset"), "{err}");
        assert_eq!(Module::new(&engine, b"\0asm").unwrap_err().kind(), ErrorKind::Compile);
        let m = module(&engine, r#"(module (memory 1) (data (i32.const 65535) "ab"))"#);
        let mut store = Store::new(&engine, ());
        let err = Linker::new(&engine).instantiate(&mut store, &m).unwrap_err();
        assert_eq!(err.as_trap().map(|t| t.code()), Some(TrapCode::MemoryOutOfBounds));
        let start = module(&engine, r#"(module (func $s unreachable) (start $s))"#);
        let err = Linker::new(&engine).instantiate(&mut store, &start).unwrap_err();
        assert_eq!(err.as_trap().map(|t| t.code()), Some(TrapCode::UnreachableCodeReached));
    });
}

#[test]
fn module_is_shared_across_threads() {
    for_each_tier("module_is_shared_across_threads", |tier| {
        let engine = engine(tier);
        let m = module(
            &engine,
            r#"(module
                (global $n (mut i64) (i64.const 0))
                (func (export "fib") (param i64) (result i64)
                    (local $a i64) (local $b i64) (local $t i64)
                    (local.set $b (i64.const 1))
                    (block $done (loop $l
                        (br_if $done (i64.eqz (local.get 0)))
                        (local.set $t (i64.add (local.get $a) (local.get $b)))
                        (local.set $a (local.get $b))
                        (local.set $b (local.get $t))
                        (local.set 0 (i64.sub (local.get 0) (i64.const 1)))
                        (br $l)))
                    (global.set $n (i64.add (global.get $n) (i64.const 1)))
                    (local.get $a)))"#,
        );
        std::thread::scope(|scope| {
            for t in 0..4 {
                let (engine, m) = (engine.clone(), m.clone());
                scope.spawn(move || {
                    for _ in 0..25 {
                        let mut store = Store::new(&engine, ());
                        let inst = Linker::new(&engine).instantiate(&mut store, &m).unwrap();
                        let fib = inst.get_typed_func::<i64, i64>(&mut store, "fib").unwrap();
                        assert_eq!(
                            fib.call(&mut store, 50 + t).unwrap(),
                            [12586269025, 20365011074, 32951280099, 53316291173][t as usize]
                        );
                    }
                });
            }
        });
    });
}

#[test]
fn memory_and_data_borrowed_together() {
    for_each_tier("memory_and_data_borrowed_together", |tier| {
        let engine = engine(tier);
        let m = module(
            &engine,
            r#"(module (import "env" "fill" (func $fill (param i32)))
                (memory (export "memory") 1)
                (func (export "go") (i32.const 3) call $fill))"#,
        );
        let mut store = Store::new(&engine, 0u32);
        let mut linker = Linker::new(&engine);
        linker
            .func_wrap("env", "fill", |mut caller: Caller<'_, u32>, n: i32| {
                let mem = caller.get_export("memory").and_then(Extern::into_memory).unwrap();
                let (bytes, calls) = mem.data_and_store_mut(&mut caller);
                bytes[..n as usize].fill(0xab);
                *calls += 1;
            })
            .unwrap();
        let inst = linker.instantiate(&mut store, &m).unwrap();
        inst.get_typed_func::<(), ()>(&mut store, "go").unwrap().call(&mut store, ()).unwrap();
        let mem = inst.get_memory(&mut store, "memory").unwrap();
        assert_eq!(&mem.data(&store)[..4], &[0xab, 0xab, 0xab, 0]);
        assert_eq!(*store.data(), 1);
    });
}

#[test]
fn epoch_deadline_interrupts_runaway_guests() {
    for_each_tier("epoch_deadline_interrupts_runaway_guests", |tier| {
        let engine = engine(tier);
        let m = module(
            &engine,
            r#"(module
                (func (export "spin") (loop $l (br $l)))
                (func (export "ok") (result i32) (i32.const 1)))"#,
        );
        let mut store = Store::new(&engine, ());
        let inst = Linker::new(&engine).instantiate(&mut store, &m).unwrap();
        let spin = inst.get_typed_func::<(), ()>(&mut store, "spin").unwrap();
        store.set_epoch_deadline(1);
        let ticker = {
            let engine = engine.clone();
            std::thread::spawn(move || {
                std::thread::sleep(std::time::Duration::from_millis(20));
                engine.increment_epoch();
            })
        };
        let err = spin.call(&mut store, ()).unwrap_err();
        ticker.join().unwrap();
        assert_eq!(err.as_trap().map(|t| t.code()), Some(TrapCode::Interrupt), "{err}");
        // The deadline has passed: every further call is interrupted at its
        // first call or back-edge, until a new deadline is set.
        assert_eq!(spin.call(&mut store, ()).unwrap_err().as_trap().unwrap().code(), TrapCode::Interrupt);
        store.set_epoch_deadline(1);
        let ok = inst.get_typed_func::<(), i32>(&mut store, "ok").unwrap();
        assert_eq!(ok.call(&mut store, ()).unwrap(), 1);
    });
}
