//! Differential fuzzing of kiln's tiers: each input becomes a wasm-smith
//! module (`kiln_fuzz_oracle::generate`: Wasm 2.0 without SIMD, no
//! imports, fuel so every call ends) that runs in the interpreter, the JIT
//! (guard region and explicit bounds checks), tiered execution (threshold 1
//! sync, threshold 2 background with OSR), AOT and wasmi; any disagreement
//! in results, traps, exported globals or memories is a finding (a panic
//! naming the engine and the first difference).

#![no_main]

use kiln_fuzz_oracle::{Oracle, Stats, Tier, generate};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn oracle() -> &'static Oracle {
    static ORACLE: OnceLock<Oracle> = OnceLock::new();
    ORACLE.get_or_init(|| Oracle::new(&Tier::ALL).expect("every tier is available in a Cranelift build"))
}

fuzz_target!(|data: &[u8]| {
    let Ok(wasm) = generate(data) else { return };
    if let Err(d) = oracle().check(&wasm, &mut Stats::default()) {
        // See diff-seeds: wasmi alone differing is triaged by hand, not a
        // crash (wasmi 2.0.0 has wrong answers of its own).
        if d.engine == "wasmi" {
            eprintln!("wasmi-only difference (triage against Wasmtime): {d}");
        } else {
            panic!("{d}");
        }
    }
});
