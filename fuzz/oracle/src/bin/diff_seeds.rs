//! Runs the differential oracle over a range of deterministic seeds (or
//! over given `.wasm` files) and reports every divergence.
//!
//! ```text
//! diff-seeds [--start N] [--count M | --seconds S] [--out DIR] [--no-wasmi] [FILE.wasm...]
//! ```
//!
//! Seed `n` is turned into fuzz input by `seed_bytes(n)` and into a module
//! by `generate`; the same seed gives the same module on every machine, so
//! a CI range is a fixed corpus. `--seconds S` keeps going from `--start`
//! until S seconds have passed (long runs). Each divergent module is
//! written to `DIR/seed-N.wasm` (default `fuzz/divergences/`). Prints a
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
        if let Err(d) = oracle.check(&wasm, &mut stats) {
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
}

fn parse(s: &str) -> u64 {
    s.parse().unwrap_or_else(|_| die(&format!("{s}: expected a whole number")))
}

fn die(msg: &str) -> ! {
    eprintln!("diff-seeds: {msg}");
    std::process::exit(2)
}
