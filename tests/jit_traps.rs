//! Traps raised by guest code, checked in every tier and — for tiers with
//! native code, where it matters most — in both memory bounds modes
//! (guard-region faults and explicit checks, see `support::tiers::Bounds`):
//! the "Done when" criteria of the JIT issue.
//!
//! * every kind of trap a guest can cause (out-of-bounds loads and stores,
//!   division by zero and overflow, `unreachable`, each way a
//!   `call_indirect` can fail, float-to-int conversions, `table.get/set`,
//!   the `memory.fill/copy` builtins, accesses just past a grown memory,
//!   runaway recursion) is reported as that trap — error kind, trap code
//!   and spec message — and afterwards the same instance, a fresh instance
//!   in the same store and one in a new store all compute correct results;
//! * memories and tables grown by the guest itself, by another instance or
//!   by the host — between calls or in the middle of an activation — are
//!   seen by compiled code: new limits, and the new base of a memory that
//!   moved (explicit bounds);
//! * traps on several threads at once (native code: concurrent signals);
//! * wasm backtraces of the JIT equal the interpreter's: three calls deep,
//!   across instances, and through host→wasm→host→wasm nesting;
//! * epoch interruption stops runaway loops in compiled code.
//!
//! Running the same checks in the interpreter keeps both tiers agreeing;
//! the JIT's own machinery (signal handlers, trap tables, frame-pointer
//! walks, `raise`) is what most of these exercise.

mod support;

use kiln::{Caller, Engine, Error, Extern, FrameInfo, Instance, Linker, Module, Store, Strategy, Trap, TrapCode, Val};
use support::tiers::{
    engine, engine_with, expect_trap, for_each_setup, for_each_tier, frame_names, instantiate, module,
};

/// A module with one export per way to trap (and a few that must not);
/// each function is named like its export.
const TRAPS: &str = r#"(module $traps
  (type $i2i (func (param i32) (result i32)))
  (memory (export "memory") 1 4)
  ;; [0]: the right type, [1]: another type, [2]: null, [3..]: undefined.
  (table $t 3 funcref)
  (elem (i32.const 0) $id $nop)
  (func $id (param i32) (result i32) (local.get 0))
  (func $nop)

  (func $load (export "load") (param i32) (result i32) (i32.load (local.get 0)))
  (func $load8 (export "load8") (param i32) (result i32) (i32.load8_u (local.get 0)))
  ;; A static offset far beyond the guard region.
  (func $load_far (export "load_far") (param i32) (result i64) (i64.load offset=0xfffffff0 (local.get 0)))
  (func $store (export "store") (param i32 i64) (i64.store (local.get 0) (local.get 1)))
  (func $div_u (export "div_u") (param i32 i32) (result i32) (i32.div_u (local.get 0) (local.get 1)))
  (func $div_s (export "div_s") (param i32 i32) (result i32) (i32.div_s (local.get 0) (local.get 1)))
  (func $rem_s (export "rem_s") (param i32 i32) (result i32) (i32.rem_s (local.get 0) (local.get 1)))
  (func $i64_div_s (export "i64_div_s") (param i64 i64) (result i64) (i64.div_s (local.get 0) (local.get 1)))
  (func $i64_rem_u (export "i64_rem_u") (param i64 i64) (result i64) (i64.rem_u (local.get 0) (local.get 1)))
  (func $unreachable (export "unreachable") (unreachable))
  (func $call_indirect (export "call_indirect") (param i32 i32) (result i32)
    (call_indirect (type $i2i) (local.get 0) (local.get 1)))
  (func $i32_trunc_f32_s (export "i32_trunc_f32_s") (param f32) (result i32) (i32.trunc_f32_s (local.get 0)))
  (func $i32_trunc_f64_u (export "i32_trunc_f64_u") (param f64) (result i32) (i32.trunc_f64_u (local.get 0)))
  (func $i64_trunc_f64_s (export "i64_trunc_f64_s") (param f64) (result i64) (i64.trunc_f64_s (local.get 0)))
  (func $i32_trunc_sat_f32_s (export "i32_trunc_sat_f32_s") (param f32) (result i32) (i32.trunc_sat_f32_s (local.get 0)))
  (func $table_get (export "table_get") (param i32) (result i32) (ref.is_null (table.get $t (local.get 0))))
  (func $table_set (export "table_set") (param i32) (table.set $t (local.get 0) (ref.null func)))
  (func $fill (export "fill") (param i32 i32 i32) (memory.fill (local.get 0) (local.get 1) (local.get 2)))
  (func $copy (export "copy") (param i32 i32 i32) (memory.copy (local.get 0) (local.get 1) (local.get 2)))
  (func $grow (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
  (func $recurse (export "recurse") (param i64) (result i64)
    (i64.add (call $recurse (i64.add (local.get 0) (i64.const 1))) (i64.const 1)))
  ;; 1 + 2 + ... + n, through memory: the "does it still work" check.
  (func $sum (export "sum") (param $n i32) (result i32)
    (i32.store (i32.const 0) (i32.const 0))
    (block $done (loop $l
      (br_if $done (i32.eqz (local.get $n)))
      (i32.store (i32.const 0) (i32.add (i32.load (i32.const 0)) (local.get $n)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br $l)))
    (i32.load (i32.const 0))))"#;

const PAGE: i32 = 65536;

/// What a call should do.
#[derive(Clone, Copy, Debug)]
enum Expect {
    Trap(TrapCode),
    Returns(Val),
    Nothing,
}

/// One call of an export of [`TRAPS`].
#[derive(Clone, Debug)]
struct Case {
    export: &'static str,
    args: Vec<Val>,
    expect: Expect,
}

fn case(export: &'static str, args: &[Val], expect: Expect) -> Case {
    Case { export, args: args.to_vec(), expect }
}

fn f32(x: f32) -> Val {
    Val::from(x)
}

fn f64(x: f64) -> Val {
    Val::from(x)
}

/// Every trap of [`TRAPS`], each next to a call just inside the limit
/// (so a check that is too strict fails as well as one that is missing).
fn cases() -> Vec<Case> {
    use Expect::{Nothing, Returns, Trap};
    use TrapCode::*;
    let (i, l) = (Val::I32, Val::I64);
    vec![
        // Loads and stores: the last valid address, straddling the end,
        // one page past it, the top of the 32-bit space, a huge offset.
        case("load", &[i(PAGE - 4)], Returns(i(0))),
        case("load", &[i(PAGE - 3)], Trap(MemoryOutOfBounds)),
        case("load", &[i(PAGE)], Trap(MemoryOutOfBounds)),
        case("load", &[i(-1)], Trap(MemoryOutOfBounds)),
        case("load8", &[i(PAGE - 1)], Returns(i(0))),
        case("load8", &[i(PAGE)], Trap(MemoryOutOfBounds)),
        case("load8", &[i(2 * PAGE)], Trap(MemoryOutOfBounds)),
        case("load_far", &[i(0)], Trap(MemoryOutOfBounds)),
        case("store", &[i(PAGE - 8), l(7)], Nothing),
        case("store", &[i(PAGE - 7), l(7)], Trap(MemoryOutOfBounds)),
        case("store", &[i(i32::MIN), l(7)], Trap(MemoryOutOfBounds)),
        // Integer division.
        case("div_u", &[i(7), i(2)], Returns(i(3))),
        case("div_u", &[i(7), i(0)], Trap(IntegerDivisionByZero)),
        case("div_s", &[i(-7), i(0)], Trap(IntegerDivisionByZero)),
        case("div_s", &[i(i32::MIN), i(-1)], Trap(IntegerOverflow)),
        case("div_s", &[i(i32::MIN), i(1)], Returns(i(i32::MIN))),
        case("rem_s", &[i(i32::MIN), i(-1)], Returns(i(0))),
        case("rem_s", &[i(5), i(0)], Trap(IntegerDivisionByZero)),
        case("i64_div_s", &[l(i64::MIN), l(-1)], Trap(IntegerOverflow)),
        case("i64_div_s", &[l(1), l(0)], Trap(IntegerDivisionByZero)),
        case("i64_rem_u", &[l(1), l(0)], Trap(IntegerDivisionByZero)),
        case("unreachable", &[], Trap(UnreachableCodeReached)),
        // call_indirect: right type, wrong type, null, past the end.
        case("call_indirect", &[i(42), i(0)], Returns(i(42))),
        case("call_indirect", &[i(42), i(1)], Trap(BadSignature)),
        case("call_indirect", &[i(42), i(2)], Trap(UninitializedElement)),
        case("call_indirect", &[i(42), i(3)], Trap(UndefinedElement)),
        case("call_indirect", &[i(42), i(-1)], Trap(UndefinedElement)),
        // Float to int: in range, overflow on either side, NaN.
        case("i32_trunc_f32_s", &[f32(-2147483648.0)], Returns(i(i32::MIN))),
        case("i32_trunc_f32_s", &[f32(2147483648.0)], Trap(IntegerOverflow)),
        case("i32_trunc_f32_s", &[f32(-2147483904.0)], Trap(IntegerOverflow)),
        case("i32_trunc_f32_s", &[f32(f32::NAN)], Trap(BadConversionToInteger)),
        case("i32_trunc_f64_u", &[f64(-0.9)], Returns(i(0))),
        case("i32_trunc_f64_u", &[f64(-1.0)], Trap(IntegerOverflow)),
        case("i32_trunc_f64_u", &[f64(4294967296.0)], Trap(IntegerOverflow)),
        case("i64_trunc_f64_s", &[f64(f64::INFINITY)], Trap(IntegerOverflow)),
        case("i64_trunc_f64_s", &[f64(-f64::NAN)], Trap(BadConversionToInteger)),
        case("i32_trunc_sat_f32_s", &[f32(f32::NAN)], Returns(i(0))),
        case("i32_trunc_sat_f32_s", &[f32(1e10)], Returns(i(i32::MAX))),
        // Tables.
        case("table_get", &[i(2)], Returns(i(1))),
        case("table_get", &[i(3)], Trap(TableOutOfBounds)),
        case("table_get", &[i(-1)], Trap(TableOutOfBounds)),
        case("table_set", &[i(2)], Nothing),
        case("table_set", &[i(3)], Trap(TableOutOfBounds)),
        // Bulk memory (builtins returning a status): up to the end, past
        // it, empty ranges at and past the end, wrapping lengths.
        case("fill", &[i(PAGE - 16), i(0), i(16)], Nothing),
        case("fill", &[i(PAGE - 16), i(0), i(17)], Trap(MemoryOutOfBounds)),
        case("fill", &[i(PAGE), i(0), i(0)], Nothing),
        case("fill", &[i(PAGE + 1), i(0), i(0)], Trap(MemoryOutOfBounds)),
        case("fill", &[i(16), i(0), i(-1)], Trap(MemoryOutOfBounds)),
        case("copy", &[i(0), i(PAGE - 16), i(16)], Nothing),
        case("copy", &[i(0), i(PAGE - 16), i(17)], Trap(MemoryOutOfBounds)),
        case("copy", &[i(PAGE - 16), i(0), i(17)], Trap(MemoryOutOfBounds)),
        case("copy", &[i(PAGE), i(PAGE), i(0)], Nothing),
        case("copy", &[i(0), i(PAGE + 1), i(0)], Trap(MemoryOutOfBounds)),
        case("copy", &[i(-16), i(0), i(32)], Trap(MemoryOutOfBounds)),
        // Runaway recursion.
        case("recurse", &[l(0)], Trap(StackOverflow)),
    ]
}

/// Calls `case.export` of `inst` and checks the outcome.
#[track_caller]
fn check<T>(store: &mut Store<T>, inst: &Instance, case: &Case) {
    let func = inst.get_func(&mut *store, case.export).unwrap_or_else(|| panic!("no export {}", case.export));
    let ty = func.ty(&*store);
    let mut results: Vec<Val> = ty.results().iter().map(|t| Val::default_for(*t).unwrap()).collect();
    let outcome = func.call(&mut *store, &case.args, &mut results).map(|()| results.first().copied());
    match case.expect {
        Expect::Trap(code) => {
            // (The error text names the function: a failure says which.)
            let trap = expect_trap(outcome, code);
            assert!(trap.backtrace().iter().all(|f| f.module_name.as_deref() == Some("traps")), "{trap}");
            // The trap is in the export itself (`call_indirect` too: a
            // failed call traps in the caller), or for runaway recursion in
            // many frames of it.
            let names = frame_names(&trap);
            if case.export == "recurse" {
                assert!(names.len() > 100 && names.iter().all(|n| n == "recurse"), "{} frames: {trap}", names.len());
            } else {
                assert_eq!(names, [case.export], "{case:?}");
            }
        }
        Expect::Returns(v) => assert_eq!(outcome.unwrap_or_else(|e| panic!("{case:?}: {e}")), Some(v), "{case:?}"),
        Expect::Nothing => assert_eq!(outcome.unwrap_or_else(|e| panic!("{case:?}: {e}")), None, "{case:?}"),
    }
}

/// `sum(n)` of `inst` is right.
#[track_caller]
fn assert_sums<T>(store: &mut Store<T>, inst: &Instance) {
    let sum = inst.get_typed_func::<i32, i32>(&mut *store, "sum").unwrap();
    assert_eq!(sum.call(&mut *store, 100).unwrap(), 5050);
}

/// After a trap: the instance that trapped, a fresh instance of the module
/// in the same store, and one in a new store all still compute.
#[track_caller]
fn assert_still_runs(engine: &Engine, module: &Module, store: &mut Store<()>, inst: &Instance) {
    assert_sums(store, inst);
    let fresh = Linker::new(engine).instantiate(&mut *store, module).unwrap();
    assert_sums(store, &fresh);
    let mut new_store = Store::new(engine, ());
    let other = Linker::new(engine).instantiate(&mut new_store, module).unwrap();
    assert_sums(&mut new_store, &other);
}

#[test]
fn every_trap_kind_is_reported_and_execution_continues() {
    for_each_setup("every_trap_kind_is_reported_and_execution_continues", |setup| {
        let engine = setup.engine();
        let m = module(&engine, TRAPS);
        let mut store = Store::new(&engine, ());
        let inst = Linker::new(&engine).instantiate(&mut store, &m).unwrap();
        for case in cases() {
            check(&mut store, &inst, &case);
            if matches!(case.expect, Expect::Trap(_)) {
                assert_still_runs(&engine, &m, &mut store, &inst);
            }
        }
    });
}

#[test]
fn trapping_bulk_memory_operations_write_nothing() {
    for_each_setup("trapping_bulk_memory_operations_write_nothing", |setup| {
        let mut store = Store::new(&setup.engine(), ());
        let inst = instantiate(&mut store, TRAPS);
        let memory = inst.get_memory(&mut store, "memory").unwrap();
        let end = PAGE as usize;
        memory.data_mut(&mut store)[end - 32..].copy_from_slice(&[7; 32]);
        let fill = inst.get_typed_func::<(i32, i32, i32), ()>(&mut store, "fill").unwrap();
        let copy = inst.get_typed_func::<(i32, i32, i32), ()>(&mut store, "copy").unwrap();
        expect_trap(fill.call(&mut store, (PAGE - 16, 1, 17)), TrapCode::MemoryOutOfBounds);
        expect_trap(copy.call(&mut store, (PAGE - 16, 0, 17)), TrapCode::MemoryOutOfBounds);
        assert_eq!(&memory.data(&store)[end - 32..], &[7; 32], "no partial write");
        fill.call(&mut store, (PAGE - 16, 1, 16)).unwrap();
        copy.call(&mut store, (PAGE - 32, PAGE - 16, 8)).unwrap();
        assert_eq!(&memory.data(&store)[end - 32..end - 24], &[1; 8]);
        assert_eq!(&memory.data(&store)[end - 24..end - 16], &[7; 8]);
    });
}

#[test]
fn accesses_follow_a_grown_memory() {
    for_each_setup("accesses_follow_a_grown_memory", |setup| {
        let mut store = Store::new(&setup.engine(), ());
        let inst = instantiate(&mut store, TRAPS);
        let load = inst.get_typed_func::<i32, i32>(&mut store, "load").unwrap();
        let store_i64 = inst.get_typed_func::<(i32, i64), ()>(&mut store, "store").unwrap();
        let grow = inst.get_typed_func::<i32, i32>(&mut store, "grow").unwrap();
        store_i64.call(&mut store, (PAGE - 8, 0x0102_0304_0506_0708)).unwrap();
        expect_trap(load.call(&mut store, PAGE), TrapCode::MemoryOutOfBounds);
        assert_eq!(grow.call(&mut store, 1).unwrap(), 1);
        // The old limit is now inside; the contents survived (with
        // explicit bounds the memory may have moved).
        assert_eq!(load.call(&mut store, PAGE).unwrap(), 0);
        assert_eq!(load.call(&mut store, PAGE - 4).unwrap(), 0x0102_0304);
        assert_eq!(load.call(&mut store, 2 * PAGE - 4).unwrap(), 0);
        store_i64.call(&mut store, (2 * PAGE - 8, -1)).unwrap();
        // Just past the new limit traps.
        expect_trap(load.call(&mut store, 2 * PAGE - 3), TrapCode::MemoryOutOfBounds);
        expect_trap(load.call(&mut store, 2 * PAGE), TrapCode::MemoryOutOfBounds);
        expect_trap(store_i64.call(&mut store, (2 * PAGE - 7, 0)), TrapCode::MemoryOutOfBounds);
        // Up to the maximum (4 pages), then growing fails and the limit
        // stays.
        assert_eq!(grow.call(&mut store, 2).unwrap(), 2);
        assert_eq!(load.call(&mut store, 4 * PAGE - 4).unwrap(), 0);
        expect_trap(load.call(&mut store, 4 * PAGE), TrapCode::MemoryOutOfBounds);
        assert_eq!(grow.call(&mut store, 1).unwrap(), -1);
        expect_trap(load.call(&mut store, 4 * PAGE), TrapCode::MemoryOutOfBounds);
        assert_eq!(inst.get_memory(&mut store, "memory").unwrap().size(&store), 4);
    });
}

/// Exports its memory and a way to grow it.
const MEMORY_OWNER: &str = r#"(module
  (memory (export "memory") 1 6)
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0))))"#;

/// Imports [`MEMORY_OWNER`]'s memory and its `grow` (as `owner.*`), and a
/// host function `host.grow` that grows the same memory.
const MEMORY_USER: &str = r#"(module
  (import "owner" "memory" (memory 1 6))
  (import "owner" "grow" (func $owner_grow (param i32) (result i32)))
  (import "host" "grow" (func $host_grow (param i32)))
  (func (export "load") (param i32) (result i32) (i32.load (local.get 0)))
  (func (export "store") (param i32 i32) (i32.store (local.get 0) (local.get 1)))
  ;; Grows by one page through `how` (0: wasm of the other instance, 1: the
  ;; host), then loads from `at` in the same activation.
  (func (export "grow_then_load") (param $how i32) (param $at i32) (result i32)
    (if (i32.eqz (local.get $how))
      (then (drop (call $owner_grow (i32.const 1))))
      (else (call $host_grow (i32.const 1))))
    (i32.load (local.get $at))))"#;

#[test]
fn memory_grown_elsewhere_is_seen_by_compiled_code() {
    for_each_setup("memory_grown_elsewhere_is_seen_by_compiled_code", |setup| {
        let engine = setup.engine();
        let mut store = Store::new(&engine, ());
        let mut linker = Linker::new(&engine);
        let owner = linker.instantiate(&mut store, &module(&engine, MEMORY_OWNER)).unwrap();
        let memory = owner.get_memory(&mut store, "memory").unwrap();
        let owner_grow = owner.get_func(&mut store, "grow").unwrap();
        linker.define(&store, "owner", "memory", memory).unwrap();
        linker.define(&store, "owner", "grow", owner_grow).unwrap();
        linker
            .func_wrap("host", "grow", move |mut caller: Caller<'_, ()>, pages: i32| -> kiln::Result<()> {
                memory.grow(&mut caller, pages as u64).map(drop)
            })
            .unwrap();
        let user = linker.instantiate(&mut store, &module(&engine, MEMORY_USER)).unwrap();
        let load = user.get_typed_func::<i32, i32>(&mut store, "load").unwrap();
        let store_i32 = user.get_typed_func::<(i32, i32), ()>(&mut store, "store").unwrap();
        let grow_then_load = user.get_typed_func::<(i32, i32), i32>(&mut store, "grow_then_load").unwrap();
        let owner_grow = owner_grow.typed::<i32, i32>(&store).unwrap();
        store_i32.call(&mut store, (PAGE - 4, 0x1234)).unwrap();
        expect_trap(load.call(&mut store, PAGE), TrapCode::MemoryOutOfBounds);

        // Between two calls of the importing instance: grown by the
        // owner's code, then by the host.
        assert_eq!(owner_grow.call(&mut store, 1).unwrap(), 1);
        assert_eq!(load.call(&mut store, PAGE).unwrap(), 0);
        assert_eq!(load.call(&mut store, PAGE - 4).unwrap(), 0x1234);
        expect_trap(load.call(&mut store, 2 * PAGE), TrapCode::MemoryOutOfBounds);
        assert_eq!(memory.grow(&mut store, 1).unwrap(), 2);
        store_i32.call(&mut store, (3 * PAGE - 4, 0x5678)).unwrap();
        expect_trap(load.call(&mut store, 3 * PAGE), TrapCode::MemoryOutOfBounds);

        // In the middle of an activation, by an imported wasm function and
        // by a host function: the access after the call sees the new size
        // (and the new base, if the memory moved).
        assert_eq!(grow_then_load.call(&mut store, (0, 3 * PAGE)).unwrap(), 0);
        assert_eq!(grow_then_load.call(&mut store, (1, 4 * PAGE)).unwrap(), 0);
        assert_eq!(grow_then_load.call(&mut store, (1, 3 * PAGE - 4)).unwrap(), 0x5678);
        assert_eq!(load.call(&mut store, PAGE - 4).unwrap(), 0x1234);
        assert_eq!(memory.size(&store), 6);

        // At the maximum: growing fails and the limit stays.
        expect_trap(grow_then_load.call(&mut store, (0, 6 * PAGE)), TrapCode::MemoryOutOfBounds);
        let err = grow_then_load.call(&mut store, (1, 0)).unwrap_err();
        assert_ne!(err.kind(), kiln::ErrorKind::Trap, "{err}");
        assert_eq!(load.call(&mut store, 6 * PAGE - 4).unwrap(), 0);
        expect_trap(load.call(&mut store, 6 * PAGE - 3), TrapCode::MemoryOutOfBounds);
    });
}

#[test]
fn memory_grown_page_by_page_inside_a_loop_keeps_its_contents() {
    // With explicit bounds the memory moves as it grows: compiled code must
    // reload its base and length after every `memory.grow`.
    for_each_setup("memory_grown_page_by_page_inside_a_loop_keeps_its_contents", |setup| {
        let mut store = Store::new(&setup.engine(), ());
        let inst = instantiate(
            &mut store,
            r#"(module (memory (export "m") 1)
                (func (export "grow_and_check") (param $n i32) (result i32) (local $i i32)
                  (i32.store (i32.const 100) (i32.const 0x5a5a))
                  (loop $l
                    (drop (memory.grow (i32.const 1)))
                    ;; The last word of the new page holds the page count.
                    (i32.store (i32.sub (i32.mul (memory.size) (i32.const 65536)) (i32.const 4)) (memory.size))
                    (local.set $i (i32.add (local.get $i) (i32.const 1)))
                    (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
                  (i32.add (i32.load (i32.const 100)) (i32.load (i32.const 131068)))))"#,
        );
        let f = inst.get_typed_func::<i32, i32>(&mut store, "grow_and_check").unwrap();
        assert_eq!(f.call(&mut store, 63).unwrap(), 0x5a5a + 2);
        let memory = inst.get_memory(&mut store, "m").unwrap();
        assert_eq!(memory.size(&store), 64);
        let data = memory.data(&store);
        assert_eq!(&data[64 * 65536 - 4..], &64u32.to_le_bytes());
    });
}

#[test]
fn call_indirect_follows_a_grown_table() {
    for_each_setup("call_indirect_follows_a_grown_table", |setup| {
        let mut store = Store::new(&setup.engine(), ());
        let inst = instantiate(
            &mut store,
            r#"(module
              (table $t (export "table") 1 10 funcref)
              (elem (i32.const 0) $one)
              (func $one (result i32) (i32.const 1))
              (func $two (result i32) (i32.const 2))
              (elem declare func $two)
              (func (export "grow") (param i32) (result i32) (table.grow $t (ref.func $two) (local.get 0)))
              (func (export "grow_null") (param i32) (result i32) (table.grow $t (ref.null func) (local.get 0)))
              (func (export "call") (param i32) (result i32) (call_indirect $t (result i32) (local.get 0))))"#,
        );
        let call = inst.get_typed_func::<i32, i32>(&mut store, "call").unwrap();
        let grow = inst.get_typed_func::<i32, i32>(&mut store, "grow").unwrap();
        let grow_null = inst.get_typed_func::<i32, i32>(&mut store, "grow_null").unwrap();
        assert_eq!(call.call(&mut store, 0).unwrap(), 1);
        expect_trap(call.call(&mut store, 1), TrapCode::UndefinedElement);
        assert_eq!(grow.call(&mut store, 2).unwrap(), 1);
        assert_eq!(call.call(&mut store, 2).unwrap(), 2);
        expect_trap(call.call(&mut store, 3), TrapCode::UndefinedElement);
        assert_eq!(grow_null.call(&mut store, 1).unwrap(), 3);
        expect_trap(call.call(&mut store, 3), TrapCode::UninitializedElement);
        // Grown by the host.
        let table = inst.get_table(&mut store, "table").unwrap();
        table.grow(&mut store, 2, kiln::Ref::Func(None)).unwrap();
        expect_trap(call.call(&mut store, 5), TrapCode::UninitializedElement);
        expect_trap(call.call(&mut store, 6), TrapCode::UndefinedElement);
        let one = table.get(&mut store, 0).unwrap();
        table.set(&mut store, 5, one).unwrap();
        assert_eq!(call.call(&mut store, 5).unwrap(), 1);
    });
}

#[test]
fn traps_on_several_threads_at_once() {
    const THREADS: usize = 4;
    const TRAPS_PER_THREAD: usize = 200;
    for_each_setup("traps_on_several_threads_at_once", |setup| {
        let engine = setup.engine();
        let m = module(&engine, TRAPS);
        let traps: Vec<Case> = cases().into_iter().filter(|c| matches!(c.expect, Expect::Trap(_))).collect();
        let barrier = std::sync::Barrier::new(THREADS);
        std::thread::scope(|s| {
            for t in 0..THREADS {
                let (engine, m, traps, barrier) = (&engine, &m, &traps, &barrier);
                s.spawn(move || {
                    let mut store = Store::new(engine, ());
                    let inst = Linker::new(engine).instantiate(&mut store, m).unwrap();
                    barrier.wait();
                    // Each thread goes through the traps in its own order.
                    for n in 0..TRAPS_PER_THREAD {
                        check(&mut store, &inst, &traps[(n * 7 + t) % traps.len()]);
                        if n % 50 == 0 {
                            assert_sums(&mut store, &inst);
                        }
                    }
                    assert_still_runs(engine, m, &mut store, &inst);
                });
            }
        });
    });
}

// ---------------------------------------------------------------------------
// Backtraces: the JIT's (walked along frame pointers) must equal the
// interpreter's (its own frame records) for the same module and call.

/// Three calls deep (`top` → `middle` → `leaf`, which divides by zero for
/// 0), and a host function re-entering the module (`outer` → host →
/// `outer` … → host → `top`, or the host's own error).
const NESTED: &str = r#"(module $nest
  (import "host" "reenter" (func $reenter (param i32) (result i32)))
  (func $leaf (param i32) (result i32) (i32.div_u (i32.const 1) (local.get 0)))
  (func $middle (param i32) (result i32) (i32.add (call $leaf (local.get 0)) (i32.const 1)))
  (func $top (export "top") (param i32) (result i32) (i32.add (call $middle (local.get 0)) (i32.const 1)))
  (func $outer (export "outer") (param i32) (result i32) (i32.add (call $reenter (local.get 0)) (i32.const 1))))"#;

/// `reenter(n)`: `outer(n - 1)` for n > 0, `top(0)` (which traps) for 0,
/// a trap made by the host for -1, a host error for -2; for -3 it calls
/// `top(0)` and swallows the trap, returning 7.
fn reenter(mut caller: Caller<'_, ()>, n: i32) -> kiln::Result<i32> {
    let mut export = |name: &str| caller.get_export(name).and_then(Extern::into_func).expect("export");
    let (func, arg) = match n {
        1.. => (export("outer"), n - 1),
        0 | -3 => (export("top"), 0),
        -1 => return Err(Error::trap(Trap::new(TrapCode::UnreachableCodeReached))),
        _ => return Err(Error::host("host says no")),
    };
    let mut out = [Val::I32(0)];
    match func.call(&mut caller, &[Val::I32(arg)], &mut out) {
        Err(e) if n == -3 => {
            assert_eq!(e.as_trap().map(Trap::code), Some(TrapCode::IntegerDivisionByZero), "{e}");
            Ok(7)
        }
        r => r.map(|()| out[0].unwrap_i32()),
    }
}

/// What calling `export(arg)` of [`NESTED`] in `tier` returns.
fn call_nested(tier: Strategy, export: &str, arg: i32) -> kiln::Result<i32> {
    let engine = engine(tier);
    let mut linker = Linker::new(&engine);
    linker.func_wrap("host", "reenter", reenter).unwrap();
    let mut store = Store::new(&engine, ());
    let inst = linker.instantiate(&mut store, &module(&engine, NESTED)).unwrap();
    let func = inst.get_typed_func::<i32, i32>(&mut store, export).unwrap();
    let result = func.call(&mut store, arg);
    // Whatever happened, the store is still usable.
    assert_eq!(inst.get_typed_func::<i32, i32>(&mut store, "outer").unwrap().call(&mut store, -3).unwrap(), 8);
    result
}

/// The frames of `nest` named `names`, innermost first.
fn nest_frames(names: &[&str]) -> Vec<FrameInfo> {
    let index = |name: &str| ["reenter", "leaf", "middle", "top", "outer"].iter().position(|n| *n == name).unwrap();
    names
        .iter()
        .map(|name| FrameInfo {
            func_index: index(name) as u32,
            func_name: Some(name.to_string()),
            module_name: Some("nest".into()),
        })
        .collect()
}

/// Checks, in every tier, that `export(arg)` of [`NESTED`] traps with
/// `code` and the backtrace `expected`; reports every tier's backtrace if
/// they differ.
#[track_caller]
fn assert_same_backtrace_in_every_tier(test: &str, export: &str, arg: i32, code: TrapCode, expected: &[&str]) {
    let mut seen: Vec<(Strategy, Vec<FrameInfo>)> = Vec::new();
    for_each_tier(test, |tier| {
        let trap = expect_trap(call_nested(tier, export, arg), code);
        assert!(trap.to_string().contains("wasm backtrace:"), "{trap}");
        seen.push((tier, trap.backtrace().to_vec()));
    });
    let expected = nest_frames(expected);
    for (tier, frames) in &seen {
        assert_eq!(frames, &expected, "{export}({arg}) in tier {tier}; every tier: {seen:#?}");
    }
}

#[test]
fn backtrace_three_calls_deep_is_the_same_in_every_tier() {
    assert_same_backtrace_in_every_tier(
        "backtrace_three_calls_deep_is_the_same_in_every_tier",
        "top",
        0,
        TrapCode::IntegerDivisionByZero,
        &["leaf", "middle", "top"],
    );
}

#[test]
fn backtrace_through_host_calls_is_the_same_in_every_tier() {
    let test = "backtrace_through_host_calls_is_the_same_in_every_tier";
    // wasm → host → wasm (trap).
    assert_same_backtrace_in_every_tier(
        test,
        "outer",
        0,
        TrapCode::IntegerDivisionByZero,
        &["leaf", "middle", "top", "outer"],
    );
    // wasm → host → wasm → host → wasm → host → wasm (trap).
    assert_same_backtrace_in_every_tier(
        test,
        "outer",
        2,
        TrapCode::IntegerDivisionByZero,
        &["leaf", "middle", "top", "outer", "outer", "outer"],
    );
    // A trap made by the host gets the wasm frames of its callers.
    assert_same_backtrace_in_every_tier(
        test,
        "outer",
        1,
        TrapCode::IntegerDivisionByZero,
        &["leaf", "middle", "top", "outer", "outer"],
    );
    assert_same_backtrace_in_every_tier(test, "outer", -1, TrapCode::UnreachableCodeReached, &["outer"]);
}

#[test]
fn host_errors_and_swallowed_traps_in_nested_calls() {
    for_each_tier("host_errors_and_swallowed_traps_in_nested_calls", |tier| {
        // A host error (not a trap) passes through wasm frames unchanged.
        let err = call_nested(tier, "outer", -2).unwrap_err();
        assert_eq!(err.kind(), kiln::ErrorKind::Host, "{err}");
        assert_eq!(err.to_string(), "host error: host says no");
        // A host function may catch a trap of the wasm it called and
        // return normally: its wasm caller continues.
        assert_eq!(call_nested(tier, "outer", -3).unwrap(), 8);
    });
}

#[test]
fn backtrace_across_instances_is_the_same_in_every_tier() {
    const CALLEE: &str = r#"(module $callee
        (func $boom (export "boom") (param i32) unreachable)
        (func $via (export "via") (param i32) (call $boom (local.get 0))))"#;
    const CALLER: &str = r#"(module $caller
        (import "callee" "via" (func $via (param i32)))
        (import "callee" "boom" (func $boom (param i32)))
        (type $t (func (param i32)))
        (table funcref (elem $boom))
        (func $direct (export "direct") (call $via (i32.const 1)))
        (func $indirect (export "indirect") (call_indirect (type $t) (i32.const 2) (i32.const 0))))"#;
    let frame = |module: &str, func_index: u32, name: &str| FrameInfo {
        func_index,
        func_name: Some(name.into()),
        module_name: Some(module.into()),
    };
    let mut seen = Vec::new();
    for_each_tier("backtrace_across_instances_is_the_same_in_every_tier", |tier| {
        let engine = engine(tier);
        let mut store = Store::new(&engine, ());
        let mut linker = Linker::new(&engine);
        let callee = linker.instantiate(&mut store, &module(&engine, CALLEE)).unwrap();
        for name in ["via", "boom"] {
            let f = callee.get_func(&mut store, name).unwrap();
            linker.define(&store, "callee", name, f).unwrap();
        }
        let caller = linker.instantiate(&mut store, &module(&engine, CALLER)).unwrap();
        let mut run = |name: &str| {
            let f = caller.get_typed_func::<(), ()>(&mut store, name).unwrap();
            expect_trap(f.call(&mut store, ()), TrapCode::UnreachableCodeReached).backtrace().to_vec()
        };
        let (direct, indirect) = (run("direct"), run("indirect"));
        assert_eq!(direct, [frame("callee", 0, "boom"), frame("callee", 1, "via"), frame("caller", 2, "direct")]);
        assert_eq!(indirect, [frame("callee", 0, "boom"), frame("caller", 3, "indirect")]);
        seen.push((tier, direct, indirect));
    });
    assert!(seen.windows(2).all(|w| w[0].1 == w[1].1 && w[0].2 == w[1].2), "{seen:#?}");
}

#[test]
fn trap_in_a_start_function_has_its_backtrace() {
    for_each_tier("trap_in_a_start_function_has_its_backtrace", |tier| {
        let engine = engine(tier);
        let m = module(
            &engine,
            r#"(module $s (memory 1) (func $load (result i32) (i32.load (i32.const 65536)))
                (func $start (drop (call $load))) (start $start))"#,
        );
        let mut store = Store::new(&engine, ());
        let trap = expect_trap(Linker::new(&engine).instantiate(&mut store, &m), TrapCode::MemoryOutOfBounds);
        assert_eq!(frame_names(&trap), ["load", "start"]);
    });
}

// ---------------------------------------------------------------------------
// Epoch interruption.

const SPIN: &str = r#"(module $spin
  (type $v2i (func (result i32)))
  (import "host" "tick" (func $tick))
  (table funcref (elem $leaf))
  (func $leaf (result i32) (i32.const 1))
  (func $spin (export "spin") (loop $l (br $l)))
  ;; No recursion: a loop that only calls, directly and indirectly.
  (func $call_loop (export "call_loop")
    (loop $l (drop (call $leaf)) (drop (call_indirect (type $v2i) (i32.const 0))) (br $l)))
  (func $host_loop (export "host_loop") (loop $l (call $tick) (br $l)))
  (func (export "count") (param $n i32) (result i32) (local $i i32)
    (loop $l
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
    (local.get $i)))"#;

/// The number of `tick` calls, and the call at which `tick` advances the
/// epoch itself.
#[derive(Default)]
struct Ticks {
    calls: u32,
    increment_at: u32,
}

fn spin_instance(engine: &Engine) -> (Store<Ticks>, Instance) {
    let mut linker = Linker::new(engine);
    linker
        .func_wrap("host", "tick", |mut caller: Caller<'_, Ticks>| {
            let ticks = caller.data_mut();
            ticks.calls += 1;
            if ticks.calls == ticks.increment_at {
                caller.engine().increment_epoch();
            }
        })
        .unwrap();
    let mut store = Store::new(engine, Ticks::default());
    let inst = linker.instantiate(&mut store, &module(engine, SPIN)).unwrap();
    (store, inst)
}

/// Calls `export` of [`SPIN`] (which never returns by itself) while another
/// thread advances the epoch, and expects the interrupt.
fn interrupt_from_another_thread(engine: &Engine, store: &mut Store<Ticks>, inst: &Instance, export: &str) {
    let run = inst.get_typed_func::<(), ()>(&mut *store, export).unwrap();
    store.set_epoch_deadline(1);
    let trap = std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(std::time::Duration::from_millis(10));
            engine.increment_epoch();
        });
        expect_trap(run.call(&mut *store, ()), TrapCode::Interrupt)
    });
    assert_eq!(frame_names(&trap).last().map(String::as_str), Some(export), "{trap}");
}

#[test]
fn epoch_deadline_interrupts_loops_in_every_tier() {
    for_each_tier("epoch_deadline_interrupts_loops_in_every_tier", |tier| {
        let engine = engine(tier);
        let (mut store, inst) = spin_instance(&engine);
        for export in ["spin", "call_loop"] {
            interrupt_from_another_thread(&engine, &mut store, &inst, export);
        }
        // A new deadline: the same instance runs to completion.
        store.set_epoch_deadline(1);
        let count = inst.get_typed_func::<i32, i32>(&mut store, "count").unwrap();
        assert_eq!(count.call(&mut store, 100_000).unwrap(), 100_000);
    });
}

#[test]
fn epoch_advanced_inside_a_host_call_is_seen_after_it() {
    for_each_tier("epoch_advanced_inside_a_host_call_is_seen_after_it", |tier| {
        let engine = engine(tier);
        let (mut store, inst) = spin_instance(&engine);
        store.data_mut().increment_at = 1000;
        store.set_epoch_deadline(1);
        let host_loop = inst.get_typed_func::<(), ()>(&mut store, "host_loop").unwrap();
        expect_trap(host_loop.call(&mut store, ()), TrapCode::Interrupt);
        let calls = store.data().calls;
        // Native code checks at every loop header; the interpreter within
        // a few hundred back-edges.
        let slack = if tier == Strategy::Jit { 0 } else { 1000 };
        assert!((1000..=1000 + slack).contains(&calls), "interrupted after {calls} host calls");
    });
}

#[test]
fn epoch_deadlines_are_ignored_without_epoch_interruption() {
    for_each_tier("epoch_deadlines_are_ignored_without_epoch_interruption", |tier| {
        for enabled in [true, false] {
            let engine = engine_with(tier, |c| {
                c.epoch_interruption(enabled);
            });
            let (mut store, inst) = spin_instance(&engine);
            store.set_epoch_deadline(1);
            engine.increment_epoch();
            engine.increment_epoch();
            let count = inst.get_typed_func::<i32, i32>(&mut store, "count").unwrap();
            match enabled {
                true => drop(expect_trap(count.call(&mut store, 10_000), TrapCode::Interrupt)),
                false => assert_eq!(count.call(&mut store, 10_000).unwrap(), 10_000),
            }
        }
    });
}
