//! Host functions called from guest code, and the native stack: in the JIT
//! a host call goes through a wasm→array trampoline, a failing host call
//! unwinds the native wasm frames through the `raise` builtin, and every
//! host→wasm entry checks the store's stack limit — so these are checked
//! in every tier, with the JIT's behaviour as the point.
//!
//! * values of every type cross the host boundary unchanged;
//! * a host error (of any kind) reaches the host caller intact, and a host
//!   panic becomes a `Host` error; the process does not abort and the store
//!   stays usable;
//! * wasm → host → wasm → host … alternation runs deep when the stack
//!   allows it, and unbounded alternation or unbounded wasm recursion ends
//!   in the "call stack exhausted" trap instead of crashing — on threads
//!   with small and large native stacks, with small and large
//!   `max_wasm_stack` settings (including one larger than the thread's
//!   stack).

mod support;

use kiln::{Caller, Engine, Error, ErrorKind, ExternRef, Func, Linker, Module, Store, TrapCode, Val};
use support::tiers::{engine, engine_with, expect_trap, for_each_tier, in_context, module, on_thread};

const MIB: usize = 1 << 20;

/// A host error type, to check that the error object itself comes back.
#[derive(Debug, PartialEq, Eq)]
struct Refusal(u32);

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "refusal #{}", self.0)
    }
}

impl std::error::Error for Refusal {}

/// `run(x)` calls the host function `env.host(x)` three wasm calls deep,
/// after storing `x` in memory and a global (state that must survive a
/// failed host call).
const CALLS_HOST: &str = r#"(module $calls_host
  (import "env" "host" (func $host (param i32) (result i32)))
  (memory (export "memory") 1)
  (global $last (export "last") (mut i32) (i32.const -1))
  (func $inner (param i32) (result i32)
    (i32.store (i32.const 64) (local.get 0))
    (global.set $last (local.get 0))
    (i32.add (call $host (local.get 0)) (i32.const 1)))
  (func $middle (param i32) (result i32) (i32.add (call $inner (local.get 0)) (i32.const 1)))
  (func $run (export "run") (param i32) (result i32) (i32.add (call $middle (local.get 0)) (i32.const 1))))"#;

/// [`CALLS_HOST`] instantiated with `host` as `env.host`.
fn calls_host(
    engine: &Engine,
    host: impl Fn(i32) -> kiln::Result<i32> + Send + Sync + 'static,
) -> (Store<()>, kiln::Instance, kiln::TypedFunc<i32, i32>) {
    let mut linker = Linker::new(engine);
    linker.func_wrap("env", "host", move |x: i32| host(x)).unwrap();
    let mut store = Store::new(engine, ());
    let inst = linker.instantiate(&mut store, &module(engine, CALLS_HOST)).unwrap();
    let run = inst.get_typed_func::<i32, i32>(&mut store, "run").unwrap();
    (store, inst, run)
}

#[test]
fn host_errors_reach_the_caller_intact() {
    for_each_tier("host_errors_reach_the_caller_intact", |tier| {
        let (mut store, inst, run) = calls_host(&engine(tier), |x| match x {
            0 => Err(Error::new(Refusal(7))),
            1 => Err(Error::host("refused")),
            2 => Err(Error::exit(42)),
            3 => Err(Error::msg("plain message")),
            x => Ok(x * 10),
        });
        assert_eq!(run.call(&mut store, 5).unwrap(), 53);

        let err = run.call(&mut store, 0).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Host, "{err}");
        assert_eq!(err.host_error().and_then(|e| e.downcast_ref::<Refusal>()), Some(&Refusal(7)));
        assert_eq!(err.to_string(), "host error: refusal #7");

        let err = run.call(&mut store, 1).unwrap_err();
        assert_eq!((err.kind(), err.to_string()), (ErrorKind::Host, "host error: refused".into()));

        let err = run.call(&mut store, 2).unwrap_err();
        assert_eq!((err.kind(), err.exit_code()), (ErrorKind::Exit, Some(42)));

        let err = run.call(&mut store, 3).unwrap_err();
        assert_eq!((err.kind(), err.to_string()), (ErrorKind::Other, "plain message".into()));

        // The guest's effects before the failed call stay; it runs again.
        let memory = inst.get_memory(&mut store, "memory").unwrap();
        assert_eq!(memory.data(&store)[64], 3);
        assert_eq!(inst.get_global(&mut store, "last").unwrap().get(&mut store), Val::I32(3));
        assert_eq!(run.call(&mut store, 6).unwrap(), 63);
    });
}

#[test]
fn host_panics_become_errors_and_the_store_stays_usable() {
    for_each_tier("host_panics_become_errors_and_the_store_stays_usable", |tier| {
        let engine = engine(tier);
        let (mut store, inst, run) = calls_host(&engine, |x| match x {
            0 => panic!("static panic message"),
            1 => panic!("formatted panic message {}", 40 + x),
            2 => std::panic::panic_any(17u8),
            x => Ok(x),
        });
        for (arg, message) in [
            (0, "host function panicked: static panic message"),
            (1, "host function panicked: formatted panic message 41"),
            (2, "host function panicked: non-string panic payload"),
        ] {
            let err = run.call(&mut store, arg).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Host, "{err}");
            assert_eq!(err.to_string(), format!("host error: {message}"));
            assert_eq!(run.call(&mut store, 4).unwrap(), 7, "after a panic");
        }
        assert_eq!(inst.get_global(&mut store, "last").unwrap().get(&mut store), Val::I32(4));
        // New instances in the same store and in a new one work too.
        let m = module(&engine, CALLS_HOST);
        let mut linker = Linker::new(&engine);
        linker.func_wrap("env", "host", |x: i32| x).unwrap();
        let again = linker.instantiate(&mut store, &m).unwrap();
        assert_eq!(again.get_typed_func::<i32, i32>(&mut store, "run").unwrap().call(&mut store, 1).unwrap(), 4);
        let mut fresh = Store::new(&engine, ());
        let other = linker.instantiate(&mut fresh, &m).unwrap();
        assert_eq!(other.get_typed_func::<i32, i32>(&mut fresh, "run").unwrap().call(&mut fresh, 2).unwrap(), 5);
    });
}

#[test]
fn host_functions_pass_every_value_type() {
    for_each_tier("host_functions_pass_every_value_type", |tier| {
        let engine = engine(tier);
        let m = module(
            &engine,
            r#"(module
              (import "env" "swap" (func $swap (param i32 i64 f32 f64 funcref externref)
                                               (result externref funcref f64 f32 i64 i32)))
              (func $me (export "me"))
              (elem declare func $me)
              (func (export "run") (param externref) (result externref funcref f64 f32 i64 i32)
                (call $swap (i32.const -5) (i64.const 0x1234_5678_9abc_def0)
                  (f32.const nan:0x200001) (f64.const -0x1.8p-1022) (ref.func $me) (local.get 0))))"#,
        );
        let mut linker = Linker::new(&engine);
        linker
            .func_wrap("env", "swap", |a: i32, b: i64, c: f32, d: f64, e: Option<Func>, f: Option<ExternRef>| {
                (f, e, d, c, b, a)
            })
            .unwrap();
        let mut store = Store::new(&engine, ());
        let inst = linker.instantiate(&mut store, &m).unwrap();
        let me = inst.get_func(&mut store, "me").unwrap();
        let token = ExternRef::new(&mut store, "token");
        let run = inst.get_func(&mut store, "run").unwrap();
        let mut out = [Val::I32(0); 6];
        run.call(&mut store, &[Val::ExternRef(Some(token))], &mut out).unwrap();
        assert_eq!(
            out,
            [
                Val::ExternRef(Some(token)),
                Val::FuncRef(Some(me)),
                Val::F64((-1.5f64 * f64::MIN_POSITIVE).to_bits()),
                Val::F32(0x7fa0_0001),
                Val::I64(0x1234_5678_9abc_def0),
                Val::I32(-5),
            ]
        );
    });
}

/// `f(n)`: `n == 0` → 100; else `reenter(n - 1) + 1`, where the host's
/// `reenter` calls `f` (the function in the store's data) again.
const REENTER: &str = r#"(module
  (import "env" "reenter" (func $reenter (param i32) (result i32)))
  (func (export "f") (param i32) (result i32)
    (if (result i32) (i32.eqz (local.get 0))
      (then (i32.const 100))
      (else (i32.add (call $reenter (i32.sub (local.get 0) (i32.const 1))) (i32.const 1))))))"#;

/// `f` of [`REENTER`] in a new store of `engine`, with `reenter` calling
/// it again.
fn reentrant(engine: &Engine) -> (Store<Option<Func>>, kiln::TypedFunc<i32, i32>) {
    let mut linker = Linker::new(engine);
    linker
        .func_wrap("env", "reenter", |mut caller: Caller<'_, Option<Func>>, x: i32| -> kiln::Result<i32> {
            let f = caller.data().expect("set before the first call");
            let mut out = [Val::I32(0)];
            f.call(&mut caller, &[Val::I32(x)], &mut out)?;
            Ok(out[0].unwrap_i32())
        })
        .unwrap();
    let mut store = Store::new(engine, None);
    let inst = linker.instantiate(&mut store, &module(engine, REENTER)).unwrap();
    let f = inst.get_func(&mut store, "f").unwrap();
    *store.data_mut() = Some(f);
    let typed = f.typed::<i32, i32>(&store).unwrap();
    (store, typed)
}

#[test]
fn host_and_wasm_alternate_10_000_deep() {
    // Host frames between wasm activations count against `max_wasm_stack`
    // in every tier (about 1.5 KiB per wasm→host→wasm level in a debug
    // build), so a large enough setting on a large enough thread allows
    // any depth.
    for_each_tier("host_and_wasm_alternate_10_000_deep", |tier| {
        on_thread(64 * MIB, || {
            let engine = engine_with(tier, |c| {
                c.max_wasm_stack(32 * MIB);
            });
            let (mut store, f) = reentrant(&engine);
            assert_eq!(f.call(&mut store, 10_000).unwrap(), 10_100);
            // And again: the stack limit was reset by the outermost entry.
            assert_eq!(f.call(&mut store, 10_000).unwrap(), 10_100);
        });
    });
}

/// The thread stacks and `max_wasm_stack` settings runaway guests are run
/// with: a small 256 KiB thread, the 2 MiB default of Rust threads and an
/// 8 MiB main-thread-like stack, each with the default setting (1 MiB), a small one, and one
/// larger than the thread's stack (native code must stop short of the
/// thread's guard page anyway). Not larger still: the interpreter keeps its
/// frames on the heap and really recurses that deep.
fn stack_setups() -> Vec<(usize, Option<usize>)> {
    let mut setups = Vec::new();
    for thread in [256 * 1024, 2 * MIB, 8 * MIB] {
        for max_wasm_stack in [None, Some(64 * 1024), Some(16 * MIB)] {
            setups.push((thread, max_wasm_stack));
        }
    }
    setups
}

/// Runs `test` with an engine of `tier` on a thread for each of
/// [`stack_setups`]; `test` gets the engine's `max_wasm_stack` setting and
/// the thread's stack size.
fn for_each_stack_setup(tier: kiln::Strategy, test: impl Fn(&Engine, Option<usize>, usize) + Sync) {
    for (thread, max_wasm_stack) in stack_setups() {
        let engine = engine_with(tier, |c| {
            if let Some(bytes) = max_wasm_stack {
                c.max_wasm_stack(bytes);
            }
        });
        let context = format!("a {} KiB thread with max_wasm_stack {max_wasm_stack:?}", thread / 1024);
        on_thread(thread, || in_context(&context, || test(&engine, max_wasm_stack, thread)));
    }
}

#[test]
fn unbounded_host_wasm_alternation_exhausts_the_stack() {
    for_each_tier("unbounded_host_wasm_alternation_exhausts_the_stack", |tier| {
        for_each_stack_setup(tier, |engine, _, _| {
            let (mut store, f) = reentrant(engine);
            let trap = expect_trap(f.call(&mut store, i32::MAX), TrapCode::StackOverflow);
            assert!(!trap.backtrace().is_empty());
            // The store and the stack limit recover.
            assert_eq!(f.call(&mut store, 20).unwrap(), 120);
            expect_trap(f.call(&mut store, i32::MAX), TrapCode::StackOverflow);
        });
    });
}

#[test]
fn unbounded_wasm_recursion_exhausts_the_stack() {
    const RECURSION: &str = r#"(module
      (func $inf (export "inf") (param i64) (result i64)
        (i64.add (call $inf (i64.add (local.get 0) (i64.const 1))) (i64.const 1)))
      (func $depth (export "depth") (param i32) (result i32)
        (if (result i32) (i32.eqz (local.get 0)) (then (i32.const 0))
          (else (i32.add (call $depth (i32.sub (local.get 0) (i32.const 1))) (i32.const 1))))))"#;
    for_each_tier("unbounded_wasm_recursion_exhausts_the_stack", |tier| {
        for_each_stack_setup(tier, |engine, max_wasm_stack, thread| {
            let mut store = Store::new(engine, ());
            let m: Module = module(engine, RECURSION);
            let inst = Linker::new(engine).instantiate(&mut store, &m).unwrap();
            let inf = inst.get_typed_func::<i64, i64>(&mut store, "inf").unwrap();
            let depth = inst.get_typed_func::<i32, i32>(&mut store, "depth").unwrap();
            expect_trap(inf.call(&mut store, 0), TrapCode::StackOverflow);
            assert_eq!(depth.call(&mut store, 100).unwrap(), 100);
            expect_trap(inf.call(&mut store, 0), TrapCode::StackOverflow);
            // 64 KiB is not enough for 10,000 frames; the default (1 MiB)
            // is, and so is what is left of a 2 MiB thread. A 256 KiB
            // thread may or may not be (the limit stops short of the end of
            // the thread's stack, and glibc may reuse a larger cached stack
            // for the thread): either the right answer or the trap.
            let deep = depth.call(&mut store, 10_000);
            if max_wasm_stack == Some(64 * 1024) {
                expect_trap(deep, TrapCode::StackOverflow);
            } else if thread < 2 * MIB {
                match deep {
                    Ok(v) => assert_eq!(v, 10_000),
                    Err(e) => {
                        expect_trap(Err::<i32, _>(e), TrapCode::StackOverflow);
                    }
                }
            } else {
                assert_eq!(deep.unwrap(), 10_000);
            }
        });
    });
}
