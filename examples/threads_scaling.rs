//! Runs the same hot function in 1 and then N threads (one store each, one
//! shared Module) and prints the per-call time: with perfect scaling the
//! times are equal. `cargo run --release --example threads_scaling -- FILE ARG N`.
fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: threads_scaling FILE ARG THREADS");
    let arg: i32 = args.next().and_then(|s| s.parse().ok()).expect("ARG");
    let threads: usize = args.next().and_then(|s| s.parse().ok()).expect("THREADS");
    let engine = kiln::Engine::default();
    let module = kiln::Module::from_file(&engine, &path).expect("module");
    for n in [1, threads] {
        let t = std::time::Instant::now();
        std::thread::scope(|s| {
            for _ in 0..n {
                let (engine, module) = (engine.clone(), module.clone());
                s.spawn(move || {
                    let mut store = kiln::Store::new(&engine, ());
                    let inst = kiln::Linker::new(&engine).instantiate(&mut store, &module).expect("instance");
                    let run = inst.get_typed_func::<i32, i32>(&mut store, "run").expect("run");
                    run.call(&mut store, arg).expect("no trap")
                });
            }
        });
        println!("{n} thread(s): {:?} wall", t.elapsed());
    }
}
