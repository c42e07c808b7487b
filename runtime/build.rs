//! Chooses the interpreter's dispatch backend (see `src/interp/mod.rs`).
//!
//! * `kiln_tail_calls`: every handler ends in a tail call to the next
//!   handler (threaded code, one indirect jump per handler). Chosen when the
//!   build optimises (opt-level 2, 3, s, z) on x86_64 or aarch64, where LLVM
//!   turns those calls into jumps.
//! * otherwise every handler returns to a dispatch loop.
//!
//! `KILN_INTERP_DISPATCH=loop` or `=tail` overrides the choice (CI tests
//! both).
//!
//! It also compiles `src/traphandlers/helpers.c` (the setjmp/longjmp helper
//! the JIT trap handler returns through) with the `cc` crate on unix.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(kiln_tail_calls)");
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=OPT_LEVEL");
    println!("cargo::rerun-if-env-changed=KILN_INTERP_DISPATCH");
    let opt = std::env::var("OPT_LEVEL").unwrap_or_default();
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let auto = matches!(opt.as_str(), "2" | "3" | "s" | "z") && matches!(arch.as_str(), "x86_64" | "aarch64");
    let tail = match std::env::var("KILN_INTERP_DISPATCH").as_deref() {
        Ok("loop") => false,
        Ok("tail") => true,
        _ => auto,
    };
    if tail {
        println!("cargo::rustc-cfg=kiln_tail_calls");
    }

    println!("cargo::rerun-if-changed=src/traphandlers/helpers.c");
    if std::env::var("CARGO_CFG_UNIX").is_ok() {
        cc::Build::new().file("src/traphandlers/helpers.c").warnings(true).compile("kiln_traphandlers");
    }
}
