//! Bad input never crashes the host: mutated modules (flipped, inserted and
//! deleted bytes of real modules) are either rejected with a compile error
//! or load, instantiate and run without panicking, in every available tier
//! (the JIT compiles every accepted module). Deterministic (a fixed-seed
//! xorshift), so a failure reproduces.

mod support;

use kiln::{Engine, ErrorKind, Linker, Module, Store, Val};
use std::panic::{AssertUnwindSafe, catch_unwind};
use support::tiers::{engine, for_each_tier};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn mutate(rng: &mut Rng, wasm: &[u8]) -> Vec<u8> {
    let mut m = wasm.to_vec();
    for _ in 0..1 + rng.below(4) {
        // Keep the 8-byte header intact most of the time so mutations
        // reach the sections.
        let lo = if rng.below(10) == 0 { 0 } else { 8.min(m.len()) };
        if m.len() <= lo {
            m.push(rng.next() as u8);
            continue;
        }
        let at = lo + rng.below(m.len() - lo);
        match rng.below(4) {
            0 => m[at] ^= 1 << rng.below(8),
            1 => m[at] = rng.next() as u8,
            2 => m.insert(at, rng.next() as u8),
            _ => {
                m.remove(at);
            }
        }
    }
    m
}

/// Instantiates with no imports and calls every exported function that
/// takes only numeric parameters with zeros. Traps and errors are fine;
/// panics are not. A mutation can make a loop endless: the epoch deadline
/// (advanced by a watchdog thread) interrupts it.
fn exercise(engine: &Engine, module: &Module) {
    let mut store = Store::new(engine, ());
    store.set_epoch_deadline(2);
    let Ok(instance) = Linker::new(engine).instantiate(&mut store, module) else { return };
    for (_, ext) in instance.exports(&mut store) {
        let Some(func) = ext.into_func() else { continue };
        let ty = func.ty(&store);
        let params: Option<Vec<Val>> = ty.params().iter().map(|t| Val::default_for(*t)).collect();
        let Some(params) = params else { continue };
        let mut results: Vec<Val> = ty.results().iter().map(|t| Val::default_for(*t).unwrap_or(Val::I32(0))).collect();
        let _ = func.call(&mut store, &params, &mut results);
    }
}

const SEEDS: &[&str] = &[
    r#"(module
        (memory 1) (table 4 funcref) (global $g (mut i32) (i32.const 7))
        (type $t (func (param i32) (result i32)))
        (elem (i32.const 0) $f $loop)
        (data (i32.const 8) "kiln")
        (func $f (export "f") (param i32) (result i32)
            (local i64 f64)
            (block (result i32)
                (br_if 0 (i32.const 5) (local.get 0))
                (drop)
                (i32.load8_u offset=8 (local.get 0))))
        (func $loop (export "loop") (param i32) (result i32)
            (loop $l
                (global.set $g (i32.add (global.get $g) (i32.const 1)))
                (br_if $l (i32.lt_u (global.get $g) (i32.const 100))))
            (call_indirect (type $t) (local.get 0) (i32.const 0)))
        (func (export "mem") (result i32)
            (memory.fill (i32.const 0) (i32.const 1) (i32.const 16))
            (drop (memory.grow (i32.const 1)))
            (i32.div_s (memory.size) (i32.load (i32.const 4)))))"#,
    r#"(module
        (func $fib (export "fib") (param i64) (result i64)
            (if (result i64) (i64.lt_u (local.get 0) (i64.const 2))
                (then (local.get 0))
                (else (i64.add (call $fib (i64.sub (local.get 0) (i64.const 1)))
                               (call $fib (i64.sub (local.get 0) (i64.const 2)))))))
        (func (export "floats") (param f32 f64) (result f64)
            (f64.add (f64.promote_f32 (f32.sqrt (local.get 0)))
                     (f64.nearest (local.get 1))))
        (func (export "select") (param i32) (result i32)
            (select (i32.const 1) (i32.const 2) (local.get 0)))
        (func (export "table") (result i32)
            (table.size 0))
        (table 2 externref))"#,
];

#[test]
fn mutated_modules_never_panic() {
    let mut counts = Vec::new();
    for_each_tier("mutated_modules_never_panic", |tier| {
        let engine = engine(tier);
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let watchdog = {
            let (engine, done) = (engine.clone(), done.clone());
            std::thread::spawn(move || {
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                    engine.increment_epoch();
                }
            })
        };
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let (mut rejected, mut accepted) = (0, 0);
        for seed in SEEDS {
            let wasm = kiln::wat_to_binary(seed.as_bytes()).expect("seed modules are valid");
            for _ in 0..1500 {
                let bytes = mutate(&mut rng, &wasm);
                let outcome = catch_unwind(AssertUnwindSafe(|| match Module::new(&engine, &bytes) {
                    Ok(module) => {
                        exercise(&engine, &module);
                        true
                    }
                    Err(e) => {
                        assert_eq!(e.kind(), ErrorKind::Compile, "{e}");
                        false
                    }
                }));
                match outcome {
                    Ok(true) => accepted += 1,
                    Ok(false) => rejected += 1,
                    Err(_) => panic!("kiln panicked on mutated module {bytes:02x?}"),
                }
            }
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        watchdog.join().unwrap();
        // Both paths must actually be exercised for the test to mean anything.
        assert!(rejected > 100 && accepted > 100, "rejected {rejected}, accepted {accepted}");
        counts.push((tier, rejected, accepted));
    });
    // Validation does not depend on the tier: every tier accepts the same
    // modules (the JIT compiles everything it is given).
    assert!(counts.windows(2).all(|w| (w[0].1, w[0].2) == (w[1].1, w[1].2)), "{counts:?}");
}
