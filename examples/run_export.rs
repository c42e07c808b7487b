//! Runs `FILE`'s export `run(N)` in the interpreter and prints the result
//! and the time taken (a profiling aid): `cargo run --release --example
//! run_export -- FILE N`.
fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: run_export FILE N");
    let n: i32 = args.next().and_then(|s| s.parse().ok()).expect("N");
    let engine = kiln::Engine::default();
    let module = kiln::Module::from_file(&engine, &path).expect("module");
    let mut store = kiln::Store::new(&engine, ());
    let inst = kiln::Linker::new(&engine).instantiate(&mut store, &module).expect("instance");
    let run = inst.get_typed_func::<i32, i32>(&mut store, "run").expect("run export");
    let t = std::time::Instant::now();
    let r = run.call(&mut store, n).expect("no trap");
    println!("{r} in {:?}", t.elapsed());
}
