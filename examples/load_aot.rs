//! Loads an `.aot` file N times (default 200) and prints the median time
//! of `Module::from_aot_file` (plus instantiation with WASI imports), for
//! profiling the loader: `cargo run --release --example load_aot -- app.aot [N]`.

use kiln::wasi::WasiCtxBuilder;
use kiln::{Engine, Linker, Module, Store};
use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let path = args.get(1).ok_or_else(|| anyhow::anyhow!("usage: load_aot FILE.aot [N]"))?;
    let n: usize = args.get(2).map_or(Ok(200), |s| s.parse())?;
    let engine = Engine::default();
    let mut linker = Linker::new(&engine);
    kiln::wasi::add_to_linker(&mut linker, |c: &mut kiln::wasi::WasiCtx| c)?;
    let (mut load, mut inst) = (Vec::new(), Vec::new());
    for _ in 0..n {
        let t = Instant::now();
        let module = Module::from_aot_file(&engine, path)?;
        load.push(t.elapsed());
        let mut store = Store::new(&engine, WasiCtxBuilder::new().build());
        let t = Instant::now();
        let _i = linker.instantiate(&mut store, &module)?;
        inst.push(t.elapsed());
    }
    load.sort();
    inst.sort();
    println!("load {:?}  instantiate {:?}  (median of {n})", load[n / 2], inst[n / 2]);
    Ok(())
}
