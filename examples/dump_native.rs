//! Prints the optimised Cranelift IR and the machine instructions kiln's
//! JIT generates for functions of a module (all, or those whose index or
//! name-section name is given):
//!
//! ```text
//! cargo run --ignore-rust-version --example dump_native -- [--no-epochs] [--osr] FILE.wasm|FILE.wat [FUNC...]
//! ```
//!
//! `--no-epochs` compiles as `Config::epoch_interruption(false)` does;
//! `--osr` prints the OSR entries (for every loop) instead, as tier-up
//! compiles them (funcref calls, no direct calls).

use kiln_compiler::{Compiler, CompilerOptions};
use kiln_environ::{DefinedFuncIndex, ModuleInfo, WasmFeatureSet};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1).peekable();
    let epochs = args.next_if(|a| a == "--no-epochs").is_none();
    let osr = args.next_if(|a| a == "--osr").is_some();
    let path = args.next().ok_or("usage: dump_native [--no-epochs] [--osr] FILE [FUNC...]")?;
    let wanted: Vec<String> = args.collect();
    let bytes = std::fs::read(&path)?;
    let wasm = if bytes.starts_with(b"\0asm") { bytes } else { kiln::wat_to_binary(&bytes)? };
    let info = ModuleInfo::parse(&wasm, WasmFeatureSet::wasm2())?;
    let compiler =
        Compiler::native(CompilerOptions { direct_calls: !osr, epoch_interruption: epochs, ..Default::default() })?;
    for d in 0..info.num_defined_funcs() {
        let fi = info.func_index(DefinedFuncIndex(d));
        let name = info.func_names.get(&fi).cloned().unwrap_or_default();
        if !wanted.is_empty() && !wanted.iter().any(|w| *w == fi.0.to_string() || *w == name) {
            continue;
        }
        println!(";; function {} {name}", fi.0);
        if osr {
            let loops = loop_offsets(&info, &wasm, d)?;
            println!("{}", compiler.disassemble_osr_entry(&info, &wasm, DefinedFuncIndex(d), &loops)?);
        } else {
            println!("{}", compiler.disassemble_function(&info, &wasm, DefinedFuncIndex(d))?);
        }
    }
    Ok(())
}

/// Byte offsets of the `loop` operators of defined function `def`.
fn loop_offsets(info: &ModuleInfo, wasm: &[u8], def: u32) -> Result<Vec<u32>, Box<dyn std::error::Error>> {
    let range = info.function_bodies[def as usize].range.clone();
    let body = wasmparser::FunctionBody::new(wasmparser::BinaryReader::new(&wasm[range.clone()], range.start as u64));
    let mut ops = body.get_operators_reader()?;
    let mut out = Vec::new();
    while !ops.eof() {
        let at = ops.original_position() as u32;
        if let wasmparser::Operator::Loop { .. } = ops.read()? {
            out.push(at);
        }
    }
    Ok(out)
}
