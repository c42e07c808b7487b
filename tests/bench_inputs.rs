//! Runs the real third-party programs of `../shared/bench-inputs` (beside
//! the repository; not part of it) through `kiln run` in every available
//! tier, as that folder's README describes, and checks their output:
//!
//! * each Sightglass benchmark `DIR/NAME.wasm` runs with DIR as the working
//!   directory, preopened as `.`, `--preload bench=../bench.wasm` (no-op
//!   `bench.start`/`bench.end`), no arguments, no environment, no stdin; it
//!   must exit 0 and its stdout/stderr must equal `NAME.stdout.expected` /
//!   `NAME.stderr.expected` (or `default.*.expected`; where neither exists,
//!   exit 0 is the whole check);
//! * QuickJS (`quickjs/qjs-wasi.wasm -e SCRIPT`) must print the README's
//!   results, `42` for `console.log(6*7)`.
//!
//! When the folder is absent the test prints
//! `skipped: ../shared/bench-inputs not present` and checks nothing.
//!
//! Modules that need SIMD are reported as skipped (with the compile error)
//! while kiln cannot compile them; once it can, they run like the others.
//!
//! Time limits: in the interpreter a program still running after
//! `KILN_BENCH_INTERP_TIMEOUT` seconds (default 45) is killed and reported
//! as `too slow in interp (> N s)`, which is NOT a failure; wrong output, a
//! non-zero exit or a trap IS. In the compiling tiers the limit is
//! `KILN_BENCH_TIMEOUT` seconds (default 120) and exceeding it fails.
//!
//! See every program's status and time with:
//!
//! ```text
//! cargo test --ignore-rust-version --test bench_inputs -- --nocapture
//! ```
//!
//! `KILN_BENCH_BIN=path/to/kiln` runs another kiln binary (say a release
//! build, to measure) instead of the one cargo built for the test, and
//! `KILN_BENCH_JOBS` sets how many programs run at once (default 2).

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use kiln::{Config, Engine, Module, Strategy};
use support::{available_tiers, first_difference, run_with_limit};

fn bench_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/bench-inputs"))
}

/// Folders whose modules need SIMD (named in the README).
const SIMD: [&str; 3] = ["blake3-simd", "hex-simd", "intgemm-simd"];

fn env_secs(name: &str, default: u64) -> Duration {
    let secs = match std::env::var(name) {
        Ok(text) => text.parse().unwrap_or_else(|_| panic!("{name}={text}: expected whole seconds")),
        Err(_) => default,
    };
    Duration::from_secs(secs)
}

fn kiln_bin() -> PathBuf {
    std::env::var_os("KILN_BENCH_BIN").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_kiln")))
}

/// One program to run.
#[derive(Clone, Debug)]
struct Program {
    /// `folder/file` (and the script, for QuickJS): how the report names it.
    name: String,
    /// Its folder: the working directory.
    dir: PathBuf,
    /// The module's file name inside `dir`.
    file: String,
    /// `kiln run` options before the file.
    options: Vec<String>,
    /// The program's arguments.
    args: Vec<String>,
    expected_stdout: Option<Vec<u8>>,
    expected_stderr: Option<Vec<u8>>,
    /// The folder needs SIMD.
    simd: bool,
}

/// `DIR/STEM.KIND.expected`, else `DIR/default.KIND.expected`, else none.
fn expected(dir: &Path, stem: &str, kind: &str) -> Option<Vec<u8>> {
    [format!("{stem}.{kind}.expected"), format!("default.{kind}.expected")]
        .iter()
        .map(|name| dir.join(name))
        .find(|p| p.is_file())
        .map(|p| std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
}

fn programs(root: &Path) -> Vec<Program> {
    let mut programs = Vec::new();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)
        .expect("read bench-inputs")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    for dir in dirs {
        let folder = dir.file_name().unwrap().to_string_lossy().into_owned();
        if folder == "quickjs" {
            for (script, out) in
                [("console.log(6*7)", "42\n"), ("let s=0;for(let i=0;i<1e6;i++)s+=i%7;console.log(s)", "2999997\n")]
            {
                programs.push(Program {
                    name: format!("quickjs/qjs-wasi.wasm -e '{script}'"),
                    dir: dir.clone(),
                    file: "qjs-wasi.wasm".into(),
                    options: Vec::new(),
                    args: vec!["-e".into(), script.into()],
                    expected_stdout: Some(out.as_bytes().to_vec()),
                    expected_stderr: Some(Vec::new()),
                    simd: false,
                });
            }
            continue;
        }
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .expect("read a bench folder")
            .map(|e| e.expect("dir entry").file_name().to_string_lossy().into_owned())
            .filter(|f| f.ends_with(".wasm"))
            .collect();
        files.sort();
        for file in files {
            let stem = file.trim_end_matches(".wasm");
            programs.push(Program {
                name: format!("{folder}/{file}"),
                dir: dir.clone(),
                file: file.clone(),
                options: vec![
                    "--dir".into(),
                    format!("{}::.", dir.display()),
                    "--preload".into(),
                    "bench=../bench.wasm".into(),
                ],
                args: Vec::new(),
                expected_stdout: expected(&dir, stem, "stdout"),
                expected_stderr: expected(&dir, stem, "stderr"),
                simd: SIMD.contains(&folder.as_str()),
            });
        }
    }
    programs
}

enum Outcome {
    Passed(Duration),
    TooSlow(Duration),
    Skipped(String),
    Failed(String),
}

fn run_program(program: &Program, tier: Strategy, engine: &Engine) -> Outcome {
    if program.simd {
        // Skipped only while kiln cannot compile the module.
        match Module::from_file(engine, program.dir.join(&program.file)) {
            Ok(_) => {}
            Err(e) => {
                return Outcome::Skipped(format!("needs SIMD, which this build cannot compile ({e})"));
            }
        }
    }
    let interp = tier == Strategy::Interpreter;
    let limit = if interp { env_secs("KILN_BENCH_INTERP_TIMEOUT", 45) } else { env_secs("KILN_BENCH_TIMEOUT", 120) };
    // `aot`: compiled by `aotc` into a file, which `kiln run` maps.
    let aot_dir = support::TempDir::new("bench-aot");
    let file = if tier == Strategy::Aot {
        match support::aotc(&program.dir.join(&program.file), aot_dir.path()) {
            Ok(f) => f,
            Err(e) => return Outcome::Failed(e),
        }
    } else {
        PathBuf::from(&program.file)
    };
    let mut cmd = Command::new(kiln_bin());
    cmd.current_dir(&program.dir)
        .env_clear()
        .args(["run", "--tier", &tier.to_string()])
        .args(&program.options)
        .arg(&file)
        .args(&program.args);
    let run = run_with_limit(cmd, b"", limit);
    if run.timed_out {
        return if interp {
            Outcome::TooSlow(limit)
        } else {
            Outcome::Failed(format!("did not finish within {} s", limit.as_secs()))
        };
    }
    let mut problems = Vec::new();
    if run.code() != Some(0) {
        problems.push(format!(
            "exit status {}, expected 0",
            run.code().map_or_else(|| format!("{:?}", run.status), |c| c.to_string())
        ));
    }
    if let Some(want) = &program.expected_stdout
        && &run.stdout != want
    {
        problems.push(format!("stdout: {}", first_difference(&run.stdout, want)));
    }
    if let Some(want) = &program.expected_stderr
        && &run.stderr != want
    {
        problems.push(format!("stderr: {}", first_difference(&run.stderr, want)));
    }
    if problems.is_empty() {
        Outcome::Passed(run.elapsed)
    } else {
        let stderr = run.stderr_text();
        let tail: String = stderr.chars().rev().take(2000).collect::<Vec<_>>().into_iter().rev().collect();
        Outcome::Failed(format!("{}\n--- stderr (end) ---\n{tail}", problems.join("; ")))
    }
}

#[test]
fn bench_inputs_give_their_expected_output() {
    let root = bench_dir();
    if !root.join("README.md").is_file() {
        println!("skipped: ../shared/bench-inputs not present");
        return;
    }
    let programs = programs(&root);
    assert!(programs.len() >= 20, "only {} programs found in {}", programs.len(), root.display());
    assert!(root.join("bench.wasm").is_file(), "{}/bench.wasm is missing", root.display());
    let jobs: usize = std::env::var("KILN_BENCH_JOBS").ok().and_then(|j| j.parse().ok()).unwrap_or(2);
    for tier in available_tiers("bench-inputs") {
        let mut config = Config::new();
        config.strategy(tier);
        let engine = Engine::new(&config).expect("engine");
        let queue = Mutex::new(programs.iter());
        let results = Mutex::new(Vec::new());
        std::thread::scope(|s| {
            for _ in 0..jobs.max(1) {
                s.spawn(|| {
                    loop {
                        let Some(program) = queue.lock().unwrap().next() else {
                            break;
                        };
                        let outcome = run_program(program, tier, &engine);
                        let line = match &outcome {
                            Outcome::Passed(t) => format!("ok ({:.2} s)", t.as_secs_f64()),
                            Outcome::TooSlow(limit) => {
                                format!("too slow in interp (> {} s)", limit.as_secs())
                            }
                            Outcome::Skipped(why) => format!("skipped: {why}"),
                            Outcome::Failed(why) => format!("FAILED: {why}"),
                        };
                        println!("bench-inputs [{tier}] {}: {line}", program.name);
                        results.lock().unwrap().push((program.name.clone(), outcome));
                    }
                });
            }
        });
        let results = results.into_inner().unwrap();
        let count = |f: fn(&Outcome) -> bool| results.iter().filter(|(_, o)| f(o)).count();
        let passed = count(|o| matches!(o, Outcome::Passed(_)));
        let slow = count(|o| matches!(o, Outcome::TooSlow(_)));
        let skipped = count(|o| matches!(o, Outcome::Skipped(_)));
        let failures: Vec<String> = results
            .iter()
            .filter_map(|(name, o)| match o {
                Outcome::Failed(why) => Some(format!("{name}: {why}")),
                _ => None,
            })
            .collect();
        println!(
            "bench-inputs [{tier}]: {passed} correct, {} wrong or failed, {slow} too slow (not run to the end), {skipped} skipped",
            failures.len()
        );
        assert!(
            failures.is_empty(),
            "tier {tier}: {} bench-inputs program(s) failed:\n\n{}",
            failures.len(),
            failures.join("\n\n")
        );
        // QuickJS's 6*7 is the issue's headline check: it must really run,
        // not merely time out.
        let qjs = results.iter().find(|(name, _)| name.contains("console.log(6*7)")).expect("the quickjs 6*7 case");
        assert!(matches!(qjs.1, Outcome::Passed(_)), "tier {tier}: quickjs -e 'console.log(6*7)' did not finish");
    }
}
