//! Module compilation in the `jit` strategy: every function is compiled
//! when the module is created, on `Config::compile_threads` workers, and
//! every function ends up with its own code whatever the thread count.

use kiln::{Config, Engine, Linker, Module, Store, Strategy};

/// A module of `n` functions `f{i}(x) = x * (i + 1) + i` (each with a loop
/// so that the code section exceeds the 16 KiB below which kiln compiles on
/// the calling thread), all exported, plus `sum(x)` calling every one
/// directly.
fn many_functions(n: u32) -> String {
    let mut wat = String::from("(module\n");
    for i in 0..n {
        wat.push_str(&format!(
            "(func $f{i} (export \"f{i}\") (param $x i32) (result i32) (local $k i32)
               (loop $l (local.set $k (i32.add (local.get $k) (i32.const 1)))
                        (br_if $l (i32.lt_u (local.get $k) (i32.const 3))))
               (i32.add (i32.mul (local.get $x) (i32.const {m})) (i32.const {i})))\n",
            m = i + 1
        ));
    }
    wat.push_str("(func (export \"sum\") (param $x i32) (result i32) (local $s i32)\n");
    for i in 0..n {
        wat.push_str(&format!("(local.set $s (i32.add (local.get $s) (call $f{i} (local.get $x))))\n"));
    }
    wat.push_str("(local.get $s)))");
    wat
}

#[test]
fn every_function_is_compiled_whatever_the_thread_count() {
    let n = 400;
    let wat = many_functions(n);
    let bytes = kiln::wat_to_binary(wat.as_bytes()).unwrap();
    assert!(bytes.len() > 16 * 1024, "the module must take the parallel path ({} bytes)", bytes.len());
    let expected_sum: i32 = (0..n as i32).map(|i| 5 * (i + 1) + i).sum();
    for threads in [1, 2, 4, 0] {
        let mut config = Config::new();
        config.strategy(Strategy::Jit).compile_threads(threads);
        let engine = Engine::new(&config).unwrap();
        let module = Module::new(&engine, &bytes).unwrap();
        let mut store = Store::new(&engine, ());
        let instance = Linker::new(&engine).instantiate(&mut store, &module).unwrap();
        for i in [0, 1, n / 2, n - 1] {
            let f = instance.get_typed_func::<i32, i32>(&mut store, &format!("f{i}")).unwrap();
            assert_eq!(f.call(&mut store, 7).unwrap(), 7 * (i as i32 + 1) + i as i32, "f{i}, {threads} threads");
        }
        let sum = instance.get_typed_func::<i32, i32>(&mut store, "sum").unwrap();
        assert_eq!(sum.call(&mut store, 5).unwrap(), expected_sum, "{threads} threads");
    }
}
