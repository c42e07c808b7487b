//! Real C programs compiled for wasm32-wasi (tests/programs/*.c, built by
//! tests/programs/build.sh with clang and Debian's wasi-libc; the .wasm files
//! are committed) run through `kiln run` in every available tier, each in a
//! fresh working directory preopened as `.`. Their stdout and exit status
//! must equal those of the NATIVE (gcc + glibc) build of the same source,
//! recorded in tests/programs/expected/ by build.sh.
//!
//! The cases (program, stdin, environment, arguments) are listed in
//! tests/programs/cases.txt, which build.sh reads too.
//!
//! A second test runs programs through the embedding API instead of the
//! CLI: `WasiCtxBuilder` with in-memory stdin and a `MemoryOutputPipe`.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use kiln::wasi::{MemoryOutputPipe, WasiCtx, WasiCtxBuilder};
use kiln::{Config, Engine, Linker, Module, Store, Strategy};
use support::{TempDir, available_tiers, first_difference, run_with_limit};

/// Generous: the slowest case takes a few seconds in a debug build of the
/// interpreter; this only stops a hung run from hanging the test.
const LIMIT: Duration = Duration::from_secs(300);

fn programs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/programs")
}

/// One line of cases.txt.
#[derive(Debug, Clone)]
struct Case {
    name: String,
    program: String,
    /// A file under tests/programs, or `None` for empty stdin.
    stdin: Option<String>,
    env: Vec<(String, String)>,
    args: Vec<String>,
}

impl Case {
    fn wasm(&self) -> PathBuf {
        programs_dir().join(format!("{}.wasm", self.program))
    }

    fn stdin_bytes(&self) -> Vec<u8> {
        match &self.stdin {
            None => Vec::new(),
            Some(file) => std::fs::read(programs_dir().join(file))
                .unwrap_or_else(|e| panic!("case {}: read stdin file {file}: {e}", self.name)),
        }
    }

    fn expected_stdout(&self) -> Vec<u8> {
        let path = programs_dir().join(format!("expected/{}.stdout", self.name));
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e} (run tests/programs/build.sh)", path.display()))
    }

    fn expected_status(&self) -> i32 {
        let path = programs_dir().join(format!("expected/{}.status", self.name));
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (run tests/programs/build.sh)", path.display()));
        text.trim().parse().unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }
}

/// Splits `text` into words at spaces; single quotes group a word with
/// spaces or an empty word (the only quoting cases.txt uses, which bash's
/// `eval` in build.sh reads the same way).
fn split_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quoted = false;
    for c in text.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                in_word = true;
            }
            c if c.is_whitespace() && !quoted => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                word.push(c);
                in_word = true;
            }
        }
    }
    assert!(!quoted, "unbalanced quote in cases.txt: {text}");
    if in_word {
        words.push(word);
    }
    words
}

fn cases() -> Vec<Case> {
    let path = programs_dir().join("cases.txt");
    let text = std::fs::read_to_string(&path).expect("read tests/programs/cases.txt");
    let mut cases = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.splitn(5, '|').map(str::trim).collect();
        assert_eq!(fields.len(), 5, "cases.txt: expected 5 fields in {line:?}");
        let env = if fields[3] == "-" {
            Vec::new()
        } else {
            split_words(fields[3])
                .into_iter()
                .map(|kv| {
                    let (k, v) = kv.split_once('=').expect("env entries are KEY=VALUE");
                    (k.to_string(), v.to_string())
                })
                .collect()
        };
        cases.push(Case {
            name: fields[0].to_string(),
            program: fields[1].to_string(),
            stdin: (fields[2] != "-").then(|| fields[2].to_string()),
            env,
            args: split_words(fields[4]),
        });
    }
    cases
}

#[test]
fn quoting_in_cases_txt() {
    assert_eq!(split_words("a 'b c' '' d=e 'x=y z'"), ["a", "b c", "", "d=e", "x=y z"]);
    assert!(split_words("   ").is_empty());
}

/// Every program has a case, every case a program, expected files and a
/// non-empty expected stdout, so the table cannot silently shrink.
#[test]
fn every_program_has_cases_and_expected_output() {
    let cases = cases();
    assert!(cases.len() >= 15, "only {} cases", cases.len());
    let mut sources = Vec::new();
    for entry in std::fs::read_dir(programs_dir()).expect("read tests/programs") {
        let path = entry.expect("dir entry").path();
        if path.extension().is_some_and(|e| e == "c") {
            sources.push(path.file_stem().unwrap().to_string_lossy().into_owned());
        }
    }
    assert!(sources.len() >= 10, "only {} programs", sources.len());
    for program in &sources {
        assert!(cases.iter().any(|c| &c.program == program), "{program}.c has no case in cases.txt");
        assert!(
            programs_dir().join(format!("{program}.wasm")).is_file(),
            "{program}.wasm is missing (run tests/programs/build.sh)"
        );
    }
    for case in &cases {
        assert!(sources.contains(&case.program), "case {}: no {}.c", case.name, case.program);
        assert!(!case.expected_stdout().is_empty(), "case {}: empty expected stdout", case.name);
        case.expected_status();
        case.stdin_bytes();
    }
}

/// Runs one case with `kiln run` in `tier`; `Err` describes a mismatch.
fn run_case(case: &Case, tier: Strategy) -> Result<Duration, String> {
    let work = TempDir::new(&format!("prog-{}", case.name));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kiln"));
    cmd.current_dir(work.path()).env_clear().arg("run");
    // An `.aot` file runs its native code under any `--tier`: the default
    // one is used, so the AOT-only build (no `aot` strategy) runs it too.
    if tier != Strategy::Aot {
        cmd.arg("--tier").arg(tier.to_string());
    }
    cmd.arg("--dir").arg(format!("{}::.", work.path().display()));
    for (k, v) in &case.env {
        cmd.arg("--env").arg(format!("{k}={v}"));
    }
    let what = format!("case {} ({}.wasm) in tier {tier}", case.name, case.program);
    // `aot`: compiled by `aotc` into a file (outside the guest's
    // preopened directory), which `kiln run` maps.
    let aot_dir = TempDir::new(&format!("prog-aot-{}", case.name));
    let file = if tier == Strategy::Aot {
        support::aotc(&case.wasm(), aot_dir.path()).map_err(|e| format!("{what}: {e}"))?
    } else {
        case.wasm()
    };
    cmd.arg(file).args(&case.args);
    let run = run_with_limit(cmd, &case.stdin_bytes(), LIMIT);
    if run.timed_out {
        return Err(format!("{what}: did not finish within {LIMIT:?}"));
    }
    let expected_stdout = case.expected_stdout();
    let expected_status = case.expected_status();
    let mut problems = Vec::new();
    if run.code() != Some(expected_status) {
        problems.push(format!(
            "exit status {}, expected {expected_status}",
            run.code().map_or_else(|| format!("{:?}", run.status), |c| c.to_string())
        ));
    }
    if run.stdout != expected_stdout {
        problems.push(format!(
            "stdout differs from the native build's: {}",
            first_difference(&run.stdout, &expected_stdout)
        ));
    }
    if problems.is_empty() {
        Ok(run.elapsed)
    } else {
        Err(format!("{what}: {}\n--- stderr ---\n{}", problems.join("; "), run.stderr_text()))
    }
}

#[test]
fn programs_match_native_output_in_every_tier() {
    let mut tiers = available_tiers("programs");
    // The AOT-only build (no compiler) runs `.aot` files made by a full
    // build's aotc (`KILN_AOTC`, set by CI); it must not silently skip them.
    if !tiers.contains(&Strategy::Aot) {
        assert!(
            support::aotc_bin().is_some(),
            "this build has no compiler: set KILN_AOTC to a full build's aotc so that the aot tier runs (see .ci/run)"
        );
        tiers.push(Strategy::Aot);
    }
    let cases = cases();
    let jobs: Vec<(Case, Strategy)> = tiers.iter().flat_map(|&t| cases.iter().map(move |c| (c.clone(), t))).collect();
    let queue = Mutex::new(jobs.into_iter());
    let failures = Mutex::new(Vec::new());
    let passed = Mutex::new(0usize);
    // Two workers: the cases are independent processes.
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                loop {
                    let Some((case, tier)) = queue.lock().unwrap().next() else {
                        break;
                    };
                    match run_case(&case, tier) {
                        Ok(time) => {
                            println!("ok: {} in {tier} ({:.2} s)", case.name, time.as_secs_f64());
                            *passed.lock().unwrap() += 1;
                        }
                        Err(msg) => {
                            println!("FAILED: {msg}");
                            failures.lock().unwrap().push(msg);
                        }
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    let passed = passed.into_inner().unwrap();
    println!("{passed} case runs matched the native output, {} did not", failures.len());
    assert!(
        failures.is_empty(),
        "{} of {} case runs differ from the native build:\n\n{}",
        failures.len(),
        passed + failures.len(),
        failures.join("\n\n")
    );
}

/// Instantiates `case`'s program through the embedding API with stdin and
/// stdout in memory and runs `_start`; returns (stdout, exit status).
fn run_embedded(case: &Case, tier: Strategy, work: &Path) -> (Vec<u8>, i32) {
    let mut config = Config::new();
    config.strategy(tier);
    let engine = Engine::new(&config).expect("engine");
    let module = Module::from_file(&engine, case.wasm()).expect("compile");
    let stdout = MemoryOutputPipe::new();
    let mut builder = WasiCtxBuilder::new();
    builder.arg(format!("{}.wasm", case.program)).stdin_bytes(case.stdin_bytes()).stdout(stdout.clone());
    for arg in &case.args {
        builder.arg(arg);
    }
    for (k, v) in &case.env {
        builder.env(k, v);
    }
    builder.preopened_dir(work, ".").expect("preopen the work dir");
    let mut store = Store::new(&engine, builder.build());
    let mut linker = Linker::<WasiCtx>::new(&engine);
    kiln::wasi::add_to_linker(&mut linker, |ctx| ctx).expect("add WASI to the linker");
    let instance = linker.instantiate(&mut store, &module).expect("instantiate");
    let start = instance.get_typed_func::<(), ()>(&mut store, "_start").expect("_start");
    let status = match start.call(&mut store, ()) {
        Ok(()) => 0,
        Err(e) => e.exit_code().unwrap_or_else(|| panic!("case {}: _start failed: {e}", case.name)),
    };
    (stdout.contents(), status)
}

/// The embedding API gives the same results as the native build, with
/// in-memory stdio: stdin transformed, arguments and environment from the
/// builder, a file-system program in a preopen, exit statuses from
/// `Error::exit_code`, and a `wasi_unstable` (preview0) program linked by
/// the same `kiln::wasi::add_to_linker`.
#[test]
fn programs_through_the_embedding_api() {
    let tiers = available_tiers("programs (embedding)");
    let cases = cases();
    for tier in tiers {
        for name in ["stdin", "stdin-empty", "args", "env", "files", "exit-7", "return-42", "preview0"] {
            let case = cases.iter().find(|c| c.name == name).unwrap_or_else(|| panic!("no case {name} in cases.txt"));
            let work = TempDir::new(&format!("embed-{name}"));
            let (stdout, status) = run_embedded(case, tier, work.path());
            let expected = case.expected_stdout();
            assert!(
                stdout == expected,
                "case {name} in tier {tier} through the API: {}",
                first_difference(&stdout, &expected)
            );
            assert_eq!(status, case.expected_status(), "case {name} in tier {tier}: exit status");
        }
    }
}
