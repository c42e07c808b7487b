//! Prints the interpreter code of every function of a module (`.wasm` or
//! `.wat`): `cargo run --example dump_interp -- FILE`.
use kiln_environ::{DefinedFuncIndex, WasmFeatureSet};
use kiln_runtime::{RuntimeModule, TypeRegistry};
use std::sync::Arc;

fn main() {
    let path = std::env::args().nth(1).expect("usage: dump_interp FILE");
    let bytes = std::fs::read(&path).expect("readable file");
    let bytes = if bytes.starts_with(b"\0asm") { bytes } else { kiln::wat_to_binary(&bytes).expect("valid text") };
    let m =
        RuntimeModule::new(bytes, WasmFeatureSet::wasm2(), Arc::new(TypeRegistry::default())).expect("valid module");
    for d in 0..m.info.num_defined_funcs() {
        let f = m.interp_func(DefinedFuncIndex(d)).expect("translates");
        println!(
            "func {} (params {}, locals {}, consts {:?}, frame {}):",
            m.info.func_index(DefinedFuncIndex(d)),
            f.params,
            f.locals,
            f.consts,
            f.frame_size
        );
        for (i, ins) in f.code.iter().enumerate() {
            println!("  {i:4}: {ins:?}");
        }
    }
}
