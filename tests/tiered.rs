//! The `tiered` strategy: tier-up by hotness, mixed interpreted/native
//! frames, on-stack replacement, and many threads tiering up one module.
//!
//! * OSR carries every kind of value across the transfer: i32, i64, f32,
//!   f64 (NaN payloads and -0.0 included), externref and funcref locals,
//!   values on the operand stack below the loop, and loop parameters.
//! * A function entered once whose loop runs long moves to native code
//!   while it runs (background compilation; the test waits for it by
//!   iterations, not by time).
//! * Mixed frames: a trap in an interpreted function called by a native
//!   one called by an interpreted one has the same backtrace as in the
//!   single-tier modes; runaway recursion alternating native and
//!   interpreted frames ends in "call stack exhausted".
//! * A function tiered up in its module is called natively through the
//!   import of another instance.
//! * Stress: eight threads instantiate the same module and call functions
//!   while they tier up in the background; every result is checked.

mod support;

use kiln::{Config, Engine, ExternRef, Func, Linker, Module, Store, Strategy, TierState, TrapCode, Val};
use support::tiers::{expect_trap, frame_names, on_thread};

/// A `tiered` engine with `threshold`, compiling synchronously or not.
fn tiered(threshold: u64, sync: bool) -> Engine {
    let mut config = Config::new();
    config.strategy(Strategy::Tiered).tier_up_threshold(threshold).tier_up_sync(sync);
    Engine::new(&config).expect("the tiered strategy is available")
}

/// The stats entry of the function named `name`.
fn func_stats(module: &Module, name: &str) -> kiln::FuncTierStats {
    module
        .tier_stats()
        .functions
        .into_iter()
        .find(|f| f.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("no function {name}"))
}

/// Locals of every type live across the loop; a constant and a computed
/// value sit on the operand stack below the loop; the loop has a parameter.
const OSR: &str = r#"(module
  (type $t (func (param i32) (result i32)))
  (table 1 funcref)
  (func $triple (type $t) (i32.mul (local.get 0) (i32.const 3)))
  (elem declare func $triple)
  (func $run (export "run") (param $n i32) (param $x i64) (param $y f32) (param $z f64) (param $r externref)
        (result i64 f32 f64 externref i32 i32 f32)
    (local $i i32) (local $sum i32) (local $base i32) (local $f funcref) (local $nan f32)
    (local.set $f (ref.func $triple))
    (local.set $nan (f32.reinterpret_i32 (i32.const 0x7fc0_1234)))
    ;; below the loop: a constant and a computed value
    (i32.const 1000)
    (i32.add (local.get $n) (i32.const 5))
    (block $done (param i32 i32) (result i32 i32)
      ;; the loop carries an i32 parameter: a running sum
      (i32.const 0)
      (loop $l (param i32) (result i32)
        (local.set $x (i64.add (i64.mul (local.get $x) (i64.const 6364136223846793005)) (i64.const 1442695040888963407)))
        (local.set $y (f32.add (local.get $y) (f32.const 0.5)))
        (local.set $z (f64.mul (local.get $z) (f64.const 1.0000001)))
        (i32.add (i32.and (i32.wrap_i64 (local.get $x)) (i32.const 7)))
        (local.tee $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $l (i32.lt_u (local.get $n))))
      ;; stack: 1000, n+5, sum
      (local.set $sum)
      (i32.add)
      (local.get $sum))
    (local.set $sum)
    (local.set $base)
    (table.set (i32.const 0) (local.get $f))
    (local.get $x) (local.get $y) (local.get $z) (local.get $r)
    (i32.add (local.get $base) (call_indirect (type $t) (local.get $sum) (i32.const 0)))
    (local.get $i)
    (local.get $nan)))"#;

/// What [`OSR`]'s `run` computes, in Rust.
fn osr_expected(n: i32, x: i64, y: f32, z: f64) -> (i64, f32, f64, i32) {
    let (mut x, mut y, mut z, mut sum) = (x, y, z, 0i32);
    let mut i = 0i32;
    loop {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        y += 0.5;
        z *= 1.0000001;
        sum = sum.wrapping_add((x as i32) & 7);
        i += 1;
        if (i as u32) >= (n as u32) {
            break;
        }
    }
    (x, y, z, 1000 + n + 5 + sum * 3)
}

#[test]
fn osr_carries_locals_and_operands_of_every_type() {
    // Synchronous compilation at a threshold below the loop's length: the
    // one call must transfer to native code in its loop.
    for (threshold, sync) in [(300, true), (1, true)] {
        let engine = tiered(threshold, sync);
        let module = Module::new(&engine, OSR).unwrap();
        let mut store = Store::new(&engine, ());
        let inst = Linker::new(&engine).instantiate(&mut store, &module).unwrap();
        let run = inst.get_func(&mut store, "run").unwrap();
        let token = ExternRef::new(&mut store, 0xfeed_u64);
        let n = 100_000;
        let args = [
            Val::I32(n),
            Val::I64(-7),
            Val::F32(1.25f32.to_bits()),
            Val::F64(3.5f64.to_bits()),
            Val::ExternRef(Some(token)),
        ];
        let mut results = vec![Val::I32(0); 7];
        run.call(&mut store, &args, &mut results).unwrap();
        let (x, y, z, sum) = osr_expected(n, -7, 1.25, 3.5);
        assert_eq!(results[0].unwrap_i64(), x, "threshold {threshold}");
        assert_eq!(results[1].unwrap_f32(), y);
        assert_eq!(results[2].unwrap_f64(), z);
        let r = match &results[3] {
            Val::ExternRef(Some(r)) => *r,
            other => panic!("expected the externref back, got {other:?}"),
        };
        assert_eq!(r.data(&store).downcast_ref::<u64>(), Some(&0xfeed), "the same externref came back");
        assert_eq!(results[4].unwrap_i32(), sum);
        // `$i` after the loop is `n`.
        assert_eq!(results[5].unwrap_i32(), n);
        // A NaN's payload survives the transfer bit for bit.
        assert!(matches!(results[6], Val::F32(0x7fc0_1234)), "{:?}", results[6]);
        let stats = func_stats(&module, "run");
        if threshold > 1 {
            assert_eq!(stats.osr_entries, 1, "threshold {threshold}: the call moved to native code once: {stats:?}");
        }
        assert_eq!(stats.state, TierState::Ready);
    }
}

#[test]
fn osr_matches_the_interpreter_for_many_loop_lengths() {
    // Loop lengths around the transfer point: the transfer happens at the
    // first back-edge checkpoint after the function is hot.
    let engine = tiered(64, true);
    let interp = Engine::new(Config::new().strategy(Strategy::Interpreter)).unwrap();
    for n in [1, 2, 63, 64, 65, 255, 256, 257, 300, 1000, 5000] {
        let mut outs = Vec::new();
        for e in [&engine, &interp] {
            let module = Module::new(e, OSR).unwrap();
            let mut store = Store::new(e, ());
            let inst = Linker::new(e).instantiate(&mut store, &module).unwrap();
            let run = inst.get_func(&mut store, "run").unwrap();
            let args = [
                Val::I32(n),
                Val::I64(3),
                Val::F32(0.0f32.to_bits()),
                Val::F64((-2.0f64).to_bits()),
                Val::ExternRef(None),
            ];
            let mut results = vec![Val::I32(0); 7];
            run.call(&mut store, &args, &mut results).unwrap();
            outs.push(format!("{results:?}"));
        }
        assert_eq!(outs[0], outs[1], "n = {n}");
        let (x, _, _, sum) = osr_expected(n, 3, 0.0, -2.0);
        assert!(
            outs[0].contains(&format!("I64({x})")) && outs[0].contains(&format!("I32({sum})")),
            "n = {n}: {}",
            outs[0]
        );
    }
}

#[test]
fn a_long_loop_entered_once_moves_to_native_code_in_the_background() {
    // `main` is entered once and loops until the host says stop; the host
    // says stop once the module reports an OSR entry. Background
    // compilation must get there while the loop runs (bounded by
    // iterations: 2^31 interpreted iterations would take minutes).
    let engine = tiered(1000, false);
    let module = Module::new(
        &engine,
        r#"(module
          (import "host" "keep_going" (func $keep_going (param i64) (result i32)))
          (func $main (export "main") (result i64)
            (local $i i64) (local $acc i64)
            (loop $l
              (local.set $acc (i64.add (local.get $acc) (i64.mul (local.get $i) (local.get $i))))
              (local.set $i (i64.add (local.get $i) (i64.const 1)))
              (br_if $l (call $keep_going (local.get $i))))
            (local.get $acc)))"#,
    )
    .unwrap();
    let mut store = Store::new(&engine, ());
    let mut linker = Linker::new(&engine);
    let m = module.clone();
    let stopped_at = std::sync::Arc::new(std::sync::atomic::AtomicI64::new(0));
    let stop = stopped_at.clone();
    linker
        .func_wrap("host", "keep_going", move |i: i64| -> i32 {
            // Look only every 4096 iterations (the stats lock is not free).
            if i % 4096 != 0 {
                return 1;
            }
            assert!(i < 1 << 31, "no OSR transfer after {i} iterations");
            if m.tier_stats().osr_entries == 0 {
                return 1;
            }
            stop.store(i, std::sync::atomic::Ordering::Relaxed);
            0
        })
        .unwrap();
    let inst = linker.instantiate(&mut store, &module).unwrap();
    let main = inst.get_typed_func::<(), i64>(&mut store, "main").unwrap();
    let acc = main.call(&mut store, ()).unwrap();
    drop(store);
    let stats = func_stats(&module, "main");
    assert_eq!(stats.osr_entries, 1, "{stats:?}");
    assert_eq!(stats.entries, 1, "entered once: {stats:?}");
    // Back-edges are counted while interpreted only: the loop went on in
    // native code, and computed the same sum of squares.
    let n = stopped_at.load(std::sync::atomic::Ordering::Relaxed);
    assert!(n > stats.back_edges as i64, "{n} iterations, {stats:?}");
    let expected = (0..n).fold(0i64, |a, j| a.wrapping_add(j.wrapping_mul(j)));
    assert_eq!(acc, expected);
}

/// a → b → c; `c` traps when its argument is 1 (division by zero), and
/// calls itself through `b` alternately for recursion tests.
const CHAIN: &str = r#"(module $chain
  (func $a (export "a") (param i32) (result i32) (call $b (local.get 0)))
  (func $b (export "b") (param i32) (result i32)
    (if (result i32) (i32.eqz (local.get 0)) (then (i32.const 0)) (else (call $c (local.get 0)))))
  (func $c (export "c") (param i32) (result i32)
    (i32.div_u (i32.const 10) (i32.sub (local.get 0) (i32.const 1))))
  (func $ping (export "ping") (param i32) (result i32) (call $pong (i32.add (local.get 0) (i32.const 1))))
  (func $pong (export "pong") (param i32) (result i32) (call $ping (i32.add (local.get 0) (i32.const 1)))))"#;

#[test]
fn mixed_frames_trap_with_the_single_tier_backtrace() {
    // b is compiled (called 3 times with 0: threshold 3, synchronous); a
    // and c stay interpreted. a(1): interpreted a → native b → interpreted
    // c, which traps.
    let engine = tiered(3, true);
    let module = Module::new(&engine, CHAIN).unwrap();
    let mut store = Store::new(&engine, ());
    let inst = Linker::new(&engine).instantiate(&mut store, &module).unwrap();
    let b = inst.get_typed_func::<i32, i32>(&mut store, "b").unwrap();
    for _ in 0..4 {
        assert_eq!(b.call(&mut store, 0).unwrap(), 0);
    }
    assert_eq!(func_stats(&module, "b").state, TierState::Ready);
    assert_eq!(func_stats(&module, "c").state, TierState::Interpreted);
    let a = inst.get_typed_func::<i32, i32>(&mut store, "a").unwrap();
    assert_eq!(a.call(&mut store, 3).unwrap(), 5);
    let trap = expect_trap(a.call(&mut store, 1), TrapCode::IntegerDivisionByZero);
    assert_eq!(frame_names(&trap), ["c", "b", "a"]);
    // The same in the interpreter alone.
    let interp = Engine::new(Config::new().strategy(Strategy::Interpreter)).unwrap();
    let m2 = Module::new(&interp, CHAIN).unwrap();
    let mut s2 = Store::new(&interp, ());
    let i2 = Linker::new(&interp).instantiate(&mut s2, &m2).unwrap();
    let a2 = i2.get_typed_func::<i32, i32>(&mut s2, "a").unwrap();
    let trap2 = expect_trap(a2.call(&mut s2, 1), TrapCode::IntegerDivisionByZero);
    assert_eq!(trap.backtrace(), trap2.backtrace());
    // The store goes on working.
    assert_eq!(a.call(&mut store, 6).unwrap(), 2);
}

#[test]
fn runaway_recursion_through_mixed_frames_is_call_stack_exhausted() {
    // ping is compiled, pong stays interpreted: the recursion alternates
    // native and interpreted frames until the shared stack limit.
    for stack in [2 << 20, 8 << 20] {
        on_thread(stack, || {
            let engine = tiered(2, true);
            let module = Module::new(&engine, CHAIN).unwrap();
            let mut store = Store::new(&engine, ());
            let inst = Linker::new(&engine).instantiate(&mut store, &module).unwrap();
            let ping = inst.get_typed_func::<i32, i32>(&mut store, "ping").unwrap();
            let trap = expect_trap(ping.call(&mut store, 0), TrapCode::StackOverflow);
            assert!(!trap.backtrace().is_empty());
            let stats = module.tier_stats();
            assert!(stats.compiled >= 1, "{stats:?}");
            // The store goes on working.
            let b = inst.get_typed_func::<i32, i32>(&mut store, "b").unwrap();
            assert_eq!(b.call(&mut store, 0).unwrap(), 0);
        });
    }
}

#[test]
fn importers_call_the_tiered_up_code() {
    let engine = tiered(10, true);
    let lib = Module::new(
        &engine,
        r#"(module (func $sq (export "sq") (param i32) (result i32) (i32.mul (local.get 0) (local.get 0))))"#,
    )
    .unwrap();
    let app = Module::new(
        &engine,
        r#"(module (import "lib" "sq" (func $sq (param i32) (result i32)))
             (func (export "sum") (param $n i32) (result i32) (local $s i32)
               (block $d (loop $l
                 (br_if $d (i32.eqz (local.get $n)))
                 (local.set $s (i32.add (local.get $s) (call $sq (local.get $n))))
                 (local.set $n (i32.sub (local.get $n) (i32.const 1)))
                 (br $l)))
               (local.get $s)))"#,
    )
    .unwrap();
    let mut store = Store::new(&engine, ());
    let mut linker = Linker::new(&engine);
    let l = linker.instantiate(&mut store, &lib).unwrap();
    linker.instance(&mut store, "lib", l).unwrap();
    let a = linker.instantiate(&mut store, &app).unwrap();
    let sum = a.get_typed_func::<i32, i32>(&mut store, "sum").unwrap();
    for _ in 0..20 {
        assert_eq!(sum.call(&mut store, 100).unwrap(), 338_350);
    }
    drop(store);
    let sq = func_stats(&lib, "sq");
    assert_eq!(sq.state, TierState::Ready);
    // Only the calls before the tier-up were interpreted (and counted).
    assert_eq!(sq.entries, 10, "{sq:?}");
}

#[test]
fn threads_tier_up_one_module_and_every_result_is_right() {
    let mut config = Config::new();
    config.strategy(Strategy::Tiered).tier_up_threshold(50).compile_threads(2);
    let engine = Engine::new(&config).unwrap();
    let module = Module::new(
        &engine,
        r#"(module
          (import "host" "add" (func $add (param i32 i32) (result i32)))
          (type $bin (func (param i32 i32) (result i32)))
          (table 2 funcref)
          (elem (i32.const 0) $mul $sub)
          (func $mul (type $bin) (i32.mul (local.get 0) (local.get 1)))
          (func $sub (type $bin) (i32.sub (local.get 0) (local.get 1)))
          (func $fib (export "fib") (param i32) (result i32)
            (if (result i32) (i32.lt_u (local.get 0) (i32.const 2)) (then (local.get 0))
              (else (call $add (call $fib (i32.sub (local.get 0) (i32.const 1)))
                               (call $fib (i32.sub (local.get 0) (i32.const 2)))))))
          (func $mix (export "mix") (param $n i32) (result i32) (local $acc i32)
            (loop $l
              (local.set $acc (i32.add (local.get $acc)
                (call_indirect (type $bin) (local.get $n) (i32.const 3) (i32.and (local.get $n) (i32.const 1)))))
              (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))
            (local.get $acc)))"#,
    )
    .unwrap();
    let fib = |n: i32| -> i32 {
        let (mut a, mut b) = (0i32, 1i32);
        for _ in 0..n {
            (a, b) = (b, a.wrapping_add(b));
        }
        a
    };
    let mix = |n: i32| -> i32 { (1..=n).map(|k| if k & 1 == 1 { k - 3 } else { k * 3 }).sum() };
    std::thread::scope(|s| {
        for t in 0..8 {
            let engine = engine.clone();
            let module = module.clone();
            s.spawn(move || {
                for round in 0..6 {
                    let mut store = Store::new(&engine, ());
                    let mut linker = Linker::new(&engine);
                    linker.func_wrap("host", "add", |a: i32, b: i32| a.wrapping_add(b)).unwrap();
                    let inst = linker.instantiate(&mut store, &module).unwrap();
                    let f = inst.get_typed_func::<i32, i32>(&mut store, "fib").unwrap();
                    let m = inst.get_typed_func::<i32, i32>(&mut store, "mix").unwrap();
                    for k in 0..40 {
                        let n = (k + t + round) % 18;
                        assert_eq!(f.call(&mut store, n).unwrap(), fib(n), "thread {t} round {round} fib({n})");
                        let n = 1 + (k * 37 + t) % 500;
                        assert_eq!(m.call(&mut store, n).unwrap(), mix(n), "thread {t} round {round} mix({n})");
                    }
                }
            });
        }
    });
    // Everything hot was compiled (queued once each, whatever the number of
    // threads that found it hot); wait for the background workers.
    for name in ["fib", "mix", "mul", "sub"] {
        let mut waited = 0;
        while func_stats(&module, name).state != TierState::Ready {
            assert!(waited < 1000, "{name} not compiled: {:?}", func_stats(&module, name));
            std::thread::sleep(std::time::Duration::from_millis(10));
            waited += 1;
        }
    }
    // New instances start native, and still compute the right results.
    let mut store = Store::new(&engine, ());
    let mut linker = Linker::new(&engine);
    linker.func_wrap("host", "add", |a: i32, b: i32| a.wrapping_add(b)).unwrap();
    let inst = linker.instantiate(&mut store, &module).unwrap();
    let f: Func = inst.get_func(&mut store, "fib").unwrap();
    let mut out = [Val::I32(0)];
    f.call(&mut store, &[Val::I32(20)], &mut out).unwrap();
    assert_eq!(out[0].unwrap_i32(), 6765);
}
