//! Helpers shared by the integration tests: running real programs through
//! the `kiln` binary (`tests/programs.rs`, `tests/bench_inputs.rs`), and
//! running embedding-API tests in every tier ([`tiers`]).

#![allow(dead_code)]

pub mod tiers;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use kiln::{Config, Engine, ErrorKind, Strategy};

/// A scratch directory unique to this process and `tag`, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("kiln-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

/// Compiles `wasm` with the `aotc` binary into `out_dir/<stem>.aot` and
/// returns that path (the `aot` tier of the CLI-level tests: aotc, then
/// `kiln run app.aot`).
#[allow(dead_code)]
pub fn aotc(wasm: &Path, out_dir: &Path) -> Result<PathBuf, String> {
    let stem = wasm.file_stem().map_or("module".into(), |s| s.to_string_lossy().into_owned());
    let out = out_dir.join(format!("{stem}.aot"));
    let aotc = aotc_bin().ok_or("no aotc binary: this build has no compiler and KILN_AOTC is not set")?;
    let run = std::process::Command::new(aotc)
        .arg(wasm)
        .arg("-o")
        .arg(&out)
        .output()
        .map_err(|e| format!("cannot start aotc: {e}"))?;
    if !run.status.success() {
        return Err(format!(
            "aotc {} failed ({}): {}",
            wasm.display(),
            run.status,
            String::from_utf8_lossy(&run.stderr)
        ));
    }
    Ok(out)
}

/// The `aotc` binary: `$KILN_AOTC` if set (the AOT-only CI job points it
/// at a full build's aotc), else this build's, if it has one (it needs the
/// `cranelift` feature).
#[allow(dead_code)]
pub fn aotc_bin() -> Option<PathBuf> {
    std::env::var_os("KILN_AOTC").map(PathBuf::from).or(option_env!("CARGO_BIN_EXE_aotc").map(PathBuf::from))
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The tiers this build can run. Prints one line per tier that is skipped
/// because `Engine::new` reports it unsupported; any other error from
/// `Engine::new` fails the test.
pub fn available_tiers(test: &str) -> Vec<Strategy> {
    let mut tiers = Vec::new();
    for tier in Strategy::ALL {
        let mut config = Config::new();
        config.strategy(tier);
        match Engine::new(&config) {
            Ok(_) => tiers.push(tier),
            Err(e) if e.kind() == ErrorKind::Unsupported => {
                println!("{test}: tier {tier} skipped: not available in this build ({e})");
            }
            Err(e) => panic!("Engine::new for tier {tier}: {e}"),
        }
    }
    assert!(!tiers.is_empty(), "no tier is available");
    tiers
}

/// What a finished (or killed) process did.
pub struct Run {
    pub status: Option<ExitStatus>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub elapsed: Duration,
    /// The process was killed after exceeding its time limit.
    pub timed_out: bool,
}

impl Run {
    pub fn code(&self) -> Option<i32> {
        self.status.and_then(|s| s.code())
    }

    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// Runs `cmd` with `stdin` as its standard input, capturing stdout and
/// stderr, and kills it once it has run for `limit`.
pub fn run_with_limit(mut cmd: Command, stdin: &[u8], limit: Duration) -> Run {
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = cmd.spawn().expect("spawn the kiln binary");
    let mut input = child.stdin.take().expect("stdin pipe");
    let stdin = stdin.to_vec();
    // Writing stdin and reading both outputs on their own threads: any of
    // the three pipes could otherwise fill up and deadlock.
    let writer = std::thread::spawn(move || {
        // The program may exit without reading its input (a broken pipe).
        let _ = input.write_all(&stdin);
    });
    let mut out = child.stdout.take().expect("stdout pipe");
    let mut err = child.stderr.take().expect("stderr pipe");
    let out_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = out.read_to_end(&mut buf);
        buf
    });
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = err.read_to_end(&mut buf);
        buf
    });
    let mut timed_out = false;
    let status = loop {
        match child.try_wait().expect("wait for the kiln binary") {
            Some(status) => break Some(status),
            None if start.elapsed() >= limit => {
                timed_out = true;
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            None => std::thread::sleep(Duration::from_millis(10)),
        }
    };
    let elapsed = start.elapsed();
    let _ = writer.join();
    Run {
        status,
        stdout: out_reader.join().unwrap_or_default(),
        stderr: err_reader.join().unwrap_or_default(),
        elapsed,
        timed_out,
    }
}

/// The first line where `actual` and `expected` differ, for failure
/// messages (the whole outputs can be long).
pub fn first_difference(actual: &[u8], expected: &[u8]) -> String {
    let actual = String::from_utf8_lossy(actual);
    let expected = String::from_utf8_lossy(expected);
    let mut a = actual.split_inclusive('\n');
    let mut e = expected.split_inclusive('\n');
    for line in 1.. {
        match (a.next(), e.next()) {
            (None, None) => return "no difference".into(),
            (x, y) if x == y => continue,
            (x, y) => {
                return format!(
                    "line {line}: got {:?}, expected {:?}",
                    x.unwrap_or("<end of output>"),
                    y.unwrap_or("<end of output>")
                );
            }
        }
    }
    unreachable!()
}
