//! Prints the interpreter code of every function of a module (`.wasm` or
//! `.wat`): `cargo run --example dump_interp -- FILE`.
use kiln_environ::{DefinedFuncIndex, ModuleInfo, WasmFeatureSet};
use kiln_runtime::interp::translate::translate_with_listing;

fn main() {
    let path = std::env::args().nth(1).expect("usage: dump_interp FILE");
    let bytes = std::fs::read(&path).expect("readable file");
    let bytes = if bytes.starts_with(b"\0asm") { bytes } else { kiln::wat_to_binary(&bytes).expect("valid text") };
    let info = ModuleInfo::parse(&bytes, WasmFeatureSet::wasm2()).expect("valid module");
    for d in 0..info.num_defined_funcs() {
        let (f, listing) = translate_with_listing(&info, &bytes, DefinedFuncIndex(d)).expect("translates");
        println!(
            "func {} (params {}, locals {}, consts {:?}, frame {}):",
            info.func_index(DefinedFuncIndex(d)),
            f.params,
            f.locals,
            f.consts,
            f.frame_size
        );
        for (i, ins) in listing.iter().enumerate() {
            println!("  {i:4}: {ins}");
        }
    }
}
