//! Runs the differential oracle over a range of deterministic seeds (or
//! over given `.wasm` files) and reports every divergence.
//!
//! ```text
//! diff-seeds [--start N] [--count M | --seconds S] [--out DIR] [--no-wasmi] [--save-all] [--show] [--strict-wasmi] [--wasmtime PATH] [FILE.wasm...]
//! ```
//!
//! Seed `n` is turned into fuzz input by `seed_bytes(n)` and into a module
//! by `generate`; the same seed gives the same module on every machine, so
//! a CI range is a fixed corpus. `--seconds S` keeps going from `--start`
//! until S seconds have passed (long runs). Each divergent module is
//! written to `DIR/seed-N.wasm` (default `fuzz/divergences/`); with
//! `--save-all` every module is, as `DIR/module-N.wasm`. `--show` prints
//! every engine's observation of each given file.
//!
//! A difference between kiln's own tiers always fails. A module on which
//! all six kiln tiers agree and only wasmi differs is counted, saved as
//! `DIR/wasmi-only-N.wasm` and reported, but fails only with
//! `--strict-wasmi`: wasmi 2.0.0 has wrong answers of its own (triaged
//! against Wasmtime 49: spurious "integer divide by zero" traps on guarded
//! divisions, a wrong global after a fuel-exhausted loop). Each one is
//! triaged by hand against Wasmtime (`wasmtime wast`), since a bug in code
//! that all kiln tiers share (instantiation, the runtime's helpers) would
//! show up only here. Prints a
//! stats line every 10 s and at the end; exits 1 if any module diverged.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use kiln_fuzz_oracle::{Oracle, Stats, Tier, generate, seed_bytes};

fn main() {
    let mut start = 0u64;
    let mut count: Option<u64> = None;
    let mut seconds: Option<u64> = None;
    let mut out = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../divergences"));
    let mut use_wasmi = true;
    let mut save_all = false;
    let mut show = false;
    let mut strict_wasmi = false;
    let mut wasmtime: Option<PathBuf> = None;
    let mut files: Vec<PathBuf> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().unwrap_or_else(|| die(&format!("{name} needs a value")));
        match a.as_str() {
            "--start" => start = parse(&value("--start")),
            "--count" => count = Some(parse(&value("--count"))),
            "--seconds" => seconds = Some(parse(&value("--seconds"))),
            "--out" => out = PathBuf::from(value("--out")),
            "--no-wasmi" => use_wasmi = false,
            "--save-all" => save_all = true,
            "--show" => show = true,
            "--strict-wasmi" => strict_wasmi = true,
            "--wasmtime" => wasmtime = Some(PathBuf::from(value("--wasmtime"))),
            _ if a.starts_with("--") => die(&format!("unknown option {a}")),
            _ => files.push(PathBuf::from(a)),
        }
    }
    let mut oracle = Oracle::new(&Tier::ALL).unwrap_or_else(|e| die(&e));
    oracle.use_wasmi = use_wasmi;
    let mut stats = Stats::default();
    let mut divergences = 0u64;

    if !files.is_empty() {
        for f in &files {
            let wasm = std::fs::read(f).unwrap_or_else(|e| die(&format!("{}: {e}", f.display())));
            if show {
                for (engine, obs) in oracle.observe(&wasm) {
                    println!("{engine}: {obs:?}");
                }
            }
            match oracle.check(&wasm, &mut stats) {
                Ok(obs) => println!("{}: agree ({} calls)", f.display(), obs.calls.len()),
                Err(d) => {
                    divergences += 1;
                    println!("{}: DIVERGENCE: {d}", f.display());
                }
            }
        }
        std::process::exit(i32::from(divergences > 0));
    }

    let mut wasmi_only = 0u64;
    let mut wasmi_wrong = 0u64;
    let began = Instant::now();
    let mut last_report = Instant::now();
    let mut skipped = 0u64;
    let mut seed = start;
    loop {
        match (count, seconds) {
            (Some(c), _) if seed >= start + c => break,
            (None, Some(s)) if began.elapsed() >= Duration::from_secs(s) => break,
            (None, None) if seed >= start + 1000 => break,
            _ => {}
        }
        let Ok(wasm) = generate(&seed_bytes(seed)) else {
            skipped += 1;
            seed += 1;
            continue;
        };
        if save_all {
            let _ = std::fs::create_dir_all(&out);
            let _ = std::fs::write(out.join(format!("module-{seed}.wasm")), &wasm);
        }
        if let Err(d) = oracle.check(&wasm, &mut stats) {
            let _ = std::fs::create_dir_all(&out);
            if d.engine == "wasmi" && !strict_wasmi {
                // Every kiln tier agrees; only the outside oracle differs.
                let path = out.join(format!("wasmi-only-{seed}.wasm"));
                let _ = std::fs::write(&path, &wasm);
                match wasmtime.as_deref().map(|w| wasmtime_agrees(&oracle, w, &wasm, &out, seed)) {
                    Some(Ok(())) => {
                        wasmi_wrong += 1;
                        println!("wasmi-only difference, seed {seed}: {d}; Wasmtime agrees with kiln");
                        seed += 1;
                        continue;
                    }
                    Some(Err(why)) => {
                        divergences += 1;
                        println!("DIVERGENCE seed {seed}: {d}; Wasmtime disagrees with kiln too: {why}");
                        seed += 1;
                        continue;
                    }
                    None => {
                        wasmi_only += 1;
                        println!("wasmi-only difference, seed {seed}: {d}; module: {}", path.display());
                        seed += 1;
                        continue;
                    }
                }
            }
            divergences += 1;
            let _ = std::fs::create_dir_all(&out);
            let path = out.join(format!("seed-{seed}.wasm"));
            let saved = std::fs::write(&path, &wasm)
                .map(|_| path.display().to_string())
                .unwrap_or_else(|e| format!("(not saved: {e})"));
            println!("DIVERGENCE seed {seed}: {d}; module: {saved}");
        }
        seed += 1;
        if last_report.elapsed() >= Duration::from_secs(10) {
            last_report = Instant::now();
            report(start, seed, skipped, divergences, &stats, began.elapsed());
        }
    }
    report(start, seed, skipped, divergences, &stats, began.elapsed());
    if wasmi_wrong > 0 {
        println!("  {wasmi_wrong} modules on which only wasmi differs and Wasmtime agrees with kiln (wasmi is wrong)");
    }
    if wasmi_only > 0 {
        println!(
            "  {wasmi_only} modules on which all kiln tiers agree and only wasmi differs (saved as wasmi-only-N.wasm for triage; --strict-wasmi makes them failures)"
        );
    }
    std::process::exit(i32::from(divergences > 0));
}

fn report(start: u64, end: u64, skipped: u64, divergences: u64, s: &Stats, t: Duration) {
    println!(
        "seeds {start}..{end}: {} modules compared ({skipped} inputs too short), {} calls ({} returned, {} trapped), {} stopped at stack exhaustion, {} start traps, {divergences} divergences, {:.0} s",
        s.modules,
        s.calls,
        s.returned,
        s.trapped,
        s.exhausted,
        s.instantiate_traps,
        t.as_secs_f64()
    );
    let kinds: Vec<String> = s.traps.iter().map(|(k, n)| format!("{k} {n}")).collect();
    println!("  traps by kind: {}", kinds.join(", "));
}

fn parse(s: &str) -> u64 {
    s.parse().unwrap_or_else(|_| die(&format!("{s}: expected a whole number")))
}

fn die(msg: &str) -> ! {
    eprintln!("diff-seeds: {msg}");
    std::process::exit(2)
}

/// Replays kiln's reference observation of `wasm` in Wasmtime's CLI.
fn wasmtime_agrees(
    oracle: &kiln_fuzz_oracle::Oracle,
    wasmtime: &std::path::Path,
    wasm: &[u8],
    out: &std::path::Path,
    seed: u64,
) -> Result<(), String> {
    let engine = oracle.reference_engine();
    let obs = kiln_fuzz_oracle::run_kiln(engine, wasm);
    let wast = kiln_fuzz_oracle::wast_replay(engine, wasm, &obs).ok_or("the observation has no .wast form")?;
    let path = out.join(format!("wasmi-only-{seed}.wast"));
    std::fs::write(&path, wast).map_err(|e| format!("{}: {e}", path.display()))?;
    let run = std::process::Command::new(wasmtime)
        .arg("wast")
        .arg(&path)
        .output()
        .map_err(|e| format!("{}: {e}", wasmtime.display()))?;
    if run.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{} ({})",
            String::from_utf8_lossy(&run.stderr).lines().take(3).collect::<Vec<_>>().join(" | "),
            path.display()
        ))
    }
}
