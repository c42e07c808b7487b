//! Prints the optimised Cranelift IR and the machine instructions kiln's
//! JIT generates for functions of a module (all, or those whose index or
//! name-section name is given):
//!
//! ```text
//! cargo run --ignore-rust-version --example dump_native -- [--no-epochs] FILE.wasm|FILE.wat [FUNC...]
//! ```
//!
//! `--no-epochs` compiles as `Config::epoch_interruption(false)` does.

use kiln_aot_format::{DefinedFuncIndex, ModuleInfo, WasmFeatureSet};
use kiln_compiler::{Compiler, CompilerOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1).peekable();
    let epochs = args.next_if(|a| a == "--no-epochs").is_none();
    let path = args.next().ok_or("usage: dump_native [--no-epochs] FILE [FUNC...]")?;
    let wanted: Vec<String> = args.collect();
    let bytes = std::fs::read(&path)?;
    let wasm = if bytes.starts_with(b"\0asm") { bytes } else { kiln::wat_to_binary(&bytes)? };
    let info = ModuleInfo::parse(&wasm, WasmFeatureSet::wasm2())?;
    let compiler = Compiler::native(CompilerOptions { direct_calls: true, epoch_interruption: epochs, ..Default::default() })?;
    for d in 0..info.num_defined_funcs() {
        let fi = info.func_index(DefinedFuncIndex(d));
        let name = info.func_names.get(&fi).cloned().unwrap_or_default();
        if !wanted.is_empty() && !wanted.iter().any(|w| *w == fi.0.to_string() || *w == name) {
            continue;
        }
        println!(";; function {} {name}", fi.0);
        println!("{}", compiler.disassemble_function(&info, &wasm, DefinedFuncIndex(d))?);
    }
    Ok(())
}
