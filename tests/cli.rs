//! End-to-end tests of the `kiln` binary: `kiln run --invoke` on small
//! modules (results, float formatting, multi-value, traps, exit statuses),
//! `kiln run` on WASI commands (argv, trailing arguments, `--env`, `--dir`
//! mappings and their sandbox, exit statuses, stdio, `--preload`),
//! `kiln wast` on small scripts (closing line, `FAIL file:line` lines), and
//! both commands with `--tier` and `--memory-reservation` in every
//! available tier (traps from native code, exit status 3).

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::tiers::{Setup, for_each_setup};

/// A scratch directory unique to this test process and test name, removed
/// on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(test: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("kiln-cli-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).expect("write temp file");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn kiln(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kiln")).args(args).output().expect("run kiln")
}

fn run_invoke(file: &Path, name: &str, args: &[&str]) -> Output {
    let file = file.to_str().expect("utf-8 temp path");
    let mut argv = vec!["run", "--invoke", name, file];
    argv.extend_from_slice(args);
    kiln(&argv)
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts that kiln succeeded and printed exactly `expected` on stdout.
fn assert_prints(out: &Output, expected: &str) {
    assert!(out.status.success(), "stdout: {}\nstderr: {}", stdout(out), stderr(out));
    assert_eq!(stdout(out), expected);
}

const MODULE: &str = r#"
(module
  (func (export "add") (param i32 i32) (result i32)
    local.get 0
    local.get 1
    i32.add)
  (func (export "id_f64") (param f64) (result f64) local.get 0)
  (func (export "third") (result f64)
    f64.const 1
    f64.const 3
    f64.div)
  (func (export "nan_f32") (result f32) f32.const nan:0x200000)
  (func (export "multi") (param i32) (result i32 i64 f32)
    local.get 0
    i64.const -9000000000
    f32.const -0.0)
  (func (export "boom") (param i32) (result i32)
    unreachable)
  (func (export "wide") (param i64) (result i64) local.get 0)
)
"#;

#[test]
fn run_add_prints_the_sum() {
    let dir = TempDir::new("add");
    let file = dir.write("m.wat", MODULE);
    let out = run_invoke(&file, "add", &["2", "3"]);
    assert_prints(&out, "5\n");

    // Negative and hex arguments; i32 results print as signed decimal.
    let out = run_invoke(&file, "add", &["-7", "0x2"]);
    assert_eq!(stdout(&out), "-5\n", "stderr: {}", stderr(&out));
    let out = run_invoke(&file, "add", &["0x7fffffff", "1"]);
    assert_eq!(stdout(&out), "-2147483648\n", "stderr: {}", stderr(&out));
    let out = run_invoke(&file, "wide", &["-9223372036854775808"]);
    assert_eq!(stdout(&out), "-9223372036854775808\n", "stderr: {}", stderr(&out));
}

#[test]
fn run_floats_round_trip() {
    let dir = TempDir::new("floats");
    let file = dir.write("m.wat", MODULE);
    for (arg, printed) in [("0.1", "0.1"), ("-0.0", "-0.0"), ("1e300", "1e300"), ("-inf", "-inf")] {
        let out = run_invoke(&file, "id_f64", &[arg]);
        assert!(out.status.success(), "{arg}: stderr: {}", stderr(&out));
        assert_eq!(stdout(&out), format!("{printed}\n"));
    }
    let out = run_invoke(&file, "third", &[]);
    assert_eq!(stdout(&out), "0.3333333333333333\n", "stderr: {}", stderr(&out));
    // A NaN prints its bits, payload included.
    let out = run_invoke(&file, "nan_f32", &[]);
    assert_eq!(stdout(&out), "nan:0x7fa00000\n", "stderr: {}", stderr(&out));
}

#[test]
fn run_multi_value_prints_one_result_per_line() {
    let dir = TempDir::new("multi");
    let file = dir.write("m.wat", MODULE);
    let out = run_invoke(&file, "multi", &["42"]);
    assert_prints(&out, "42\n-9000000000\n-0.0\n");
}

#[test]
fn run_accepts_a_binary_module() {
    let dir = TempDir::new("binary");
    let buf = wast::parser::ParseBuffer::new(MODULE).expect("lex");
    let mut wat = wast::parser::parse::<wast::Wat<'_>>(&buf).expect("parse");
    let file = dir.write("m.wasm", wat.encode().expect("encode"));
    let out = run_invoke(&file, "add", &["40", "2"]);
    assert_prints(&out, "42\n");
}

#[test]
fn run_trap_exits_3_with_message_and_backtrace() {
    let dir = TempDir::new("trap");
    let file = dir.write("m.wat", MODULE);
    let out = run_invoke(&file, "boom", &["1"]);
    assert_eq!(out.status.code(), Some(3), "stderr: {}", stderr(&out));
    let err = stderr(&out);
    assert!(err.starts_with("error: "), "stderr: {err}");
    assert!(err.contains("unreachable"), "stderr: {err}");
    assert!(err.contains("wasm backtrace"), "stderr: {err}");
    assert_eq!(stdout(&out), "");
}

#[test]
fn run_errors_exit_1() {
    let dir = TempDir::new("errors");
    let file = dir.write("m.wat", MODULE);
    // No --invoke and no _start.
    let out = kiln(&["run", file.to_str().expect("utf-8 path")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no --invoke given and the module has no _start"), "stderr: {}", stderr(&out));
    // `FILE --invoke NAME ARGS` (the foundation issue's form) works for a
    // module without `_start`.
    let out = kiln(&["run", file.to_str().expect("utf-8 path"), "--invoke", "add", "1", "2"]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "3\n");
    // Wrong number of arguments.
    let out = run_invoke(&file, "add", &["1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("takes 2 argument"), "stderr: {}", stderr(&out));
    // An argument that does not parse.
    let out = run_invoke(&file, "add", &["1", "x"]);
    assert_eq!(out.status.code(), Some(1));
    // Unknown export.
    let out = run_invoke(&file, "nope", &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("nope"), "stderr: {}", stderr(&out));
    // Malformed text names the file.
    let bad = dir.write("bad.wat", "(module (func (export \"f\") i32.bogus))");
    let out = run_invoke(&bad, "f", &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("bad.wat"), "stderr: {}", stderr(&out));
    // An import that neither WASI nor a --preload provides is a link error
    // naming it.
    let imp = dir.write("imp.wat", "(module (import \"env\" \"f\" (func)) (func (export \"g\")))");
    let out = run_invoke(&imp, "g", &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("env::f"), "stderr: {}", stderr(&out));
    // A missing module file.
    let out = kiln(&["run", "/nonexistent/kiln-test.wasm"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("/nonexistent/kiln-test.wasm"), "stderr: {}", stderr(&out));
}

#[test]
fn run_start_is_called_without_invoke() {
    let dir = TempDir::new("start");
    let file = dir.write("s.wat", "(module (func (export \"_start\") unreachable))");
    // `_start` runs (and traps here, which proves it was called).
    let out = kiln(&["run", file.to_str().expect("utf-8 path")]);
    assert_eq!(out.status.code(), Some(3), "stderr: {}", stderr(&out));
}

#[test]
fn usage_errors_exit_2() {
    let out = kiln(&["run"]);
    assert_eq!(out.status.code(), Some(2));
    let out = kiln(&["run", "--tier", "warp", "x.wasm"]);
    assert_eq!(out.status.code(), Some(2));
}

// ---------------------------------------------------------------------------
// WASI commands.

/// `kiln run ARGS` with `dir` as the working directory and `stdin` piped in.
fn kiln_in(dir: &Path, args: &[&str], stdin: &[u8]) -> Output {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run kiln");
    let mut input = child.stdin.take().expect("stdin");
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().expect("wait for kiln");
    let _ = writer.join();
    out
}

/// A C program of tests/programs (see build.sh there).
fn program(name: &str) -> String {
    format!("{}/tests/programs/{name}.wasm", env!("CARGO_MANIFEST_DIR"))
}

/// Prints each argv entry on its own line.
const ECHO_ARGS: &str = r#"
(module
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $sizes (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func $get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 32) "\n")
  (func $strlen (param $p i32) (result i32) (local $n i32)
    (block $done
      (loop $l
        (br_if $done (i32.eqz (i32.load8_u (i32.add (local.get $p) (local.get $n)))))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (br $l)))
    (local.get $n))
  (func (export "_start") (local $i i32) (local $p i32)
    (if (call $sizes (i32.const 0) (i32.const 4)) (then unreachable))
    (if (call $get (i32.const 1024) (i32.const 4096)) (then unreachable))
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $i) (i32.load (i32.const 0))))
        (local.set $p (i32.load (i32.add (i32.const 1024) (i32.shl (local.get $i) (i32.const 2)))))
        (i32.store (i32.const 8) (local.get $p))
        (i32.store (i32.const 12) (call $strlen (local.get $p)))
        (i32.store (i32.const 16) (i32.const 32))
        (i32.store (i32.const 20) (i32.const 1))
        (drop (call $write (i32.const 1) (i32.const 8) (i32.const 2) (i32.const 24)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l)))))
"#;

#[test]
fn wasi_argv_is_the_file_as_given_then_every_later_word() {
    let dir = TempDir::new("argv");
    let abs = dir.write("echo.wat", ECHO_ARGS);
    // Words after FILE go to the program, even ones that are kiln options.
    let out = kiln_in(&dir.0, &["run", "echo.wat", "a", "-e", "--tier", "jit", "b c", "", "--invoke", "x"], b"");
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    assert_eq!(stdout(&out), "echo.wat\na\n-e\n--tier\njit\nb c\n\n--invoke\nx\n");
    // Also when the first of them is one of kiln's options.
    let out = kiln_in(&dir.0, &["run", "echo.wat", "--tier", "warp", "--help"], b"");
    assert_prints(&out, "echo.wat\n--tier\nwarp\n--help\n");
    // argv[0] is the path exactly as given.
    let abs = abs.to_str().expect("utf-8 path");
    let out = kiln(&["run", "--tier", "interp", abs]);
    assert_prints(&out, &format!("{abs}\n"));
}

#[test]
fn wasi_env_holds_only_the_given_variables() {
    let out = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args([
            "run",
            "--env",
            "KILN_A=1",
            "--env",
            "KILN_B=x=y z",
            "--env",
            "KILN_FROM_HOST",
            "--env",
            "KILN_NOT_IN_HOST",
            &program("env"),
        ])
        .env("KILN_FROM_HOST", "inherited")
        .env("KILN_NOT_PASSED", "secret")
        .env_remove("KILN_NOT_IN_HOST")
        .output()
        .expect("run kiln");
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.starts_with("3 variables\n  [KILN_A=1]\n  [KILN_B=x=y z]\n  [KILN_FROM_HOST=inherited]\n"),
        "stdout: {text}"
    );
    assert!(!text.contains("secret"), "stdout: {text}");
}

#[test]
fn wasi_dir_maps_host_directories_and_confines_the_guest() {
    let dir = TempDir::new("dirs");
    std::fs::create_dir_all(dir.0.join("inner/sub")).expect("mkdir");
    dir.write("inner/in.txt", "hello from the host\n");
    dir.write("inner/sub/deep.txt", "deep\n");
    dir.write("secret.txt", "TOP SECRET\n");
    let inner = dir.0.join("inner");
    let inner = inner.to_str().expect("utf-8 path");
    let cat = program("cat");
    let data = format!("{inner}::/data");

    // HOST::GUEST with an absolute guest path.
    let out = kiln(&["run", "--dir", &data, &cat, "/data/in.txt", "/data/sub/deep.txt"]);
    assert_prints(&out, "hello from the host\ndeep\n");
    // A relative guest name.
    let out = kiln(&["run", "--dir", &format!("{inner}::data"), &cat, "data/in.txt"]);
    assert_prints(&out, "hello from the host\n");
    // HOST alone: the guest sees it under the same name.
    let out = kiln(&["run", "--dir", inner, &cat, &format!("{inner}/in.txt")]);
    assert_prints(&out, "hello from the host\n");
    // `--dir .`: the working directory, for relative paths.
    let out = kiln_in(Path::new(inner), &["run", "--dir", ".", &cat, "in.txt", "sub/deep.txt"], b"");
    assert_prints(&out, "hello from the host\ndeep\n");
    // Two preopens at once.
    let out = kiln(&[
        "run",
        "--dir",
        &data,
        "--dir",
        &format!("{inner}/sub::/other"),
        &cat,
        "/data/in.txt",
        "/other/deep.txt",
    ]);
    assert_prints(&out, "hello from the host\ndeep\n");

    // Without a preopen nothing is reachable.
    let out = kiln(&["run", &cat, "/data/in.txt"]);
    assert_eq!(out.status.code(), Some(1), "stdout: {}", stdout(&out));
    assert!(stdout(&out).starts_with("cat: /data/in.txt: "), "stdout: {}", stdout(&out));

    // Escapes: `..`, a symlink out of the preopen, an absolute symlink.
    let secret = dir.0.join("secret.txt");
    std::os::unix::fs::symlink("../secret.txt", dir.0.join("inner/up")).expect("symlink");
    std::os::unix::fs::symlink(&secret, dir.0.join("inner/abs")).expect("symlink");
    for path in ["/data/../secret.txt", "/data/sub/../../secret.txt", "/data/up", "/data/abs"] {
        let out = kiln(&["run", "--dir", &data, &cat, path]);
        let text = stdout(&out);
        assert_eq!(out.status.code(), Some(1), "{path}: stdout: {text}\nstderr: {}", stderr(&out));
        assert!(text.starts_with(&format!("cat: {path}: ")), "{path}: stdout: {text}");
        assert!(!text.contains("SECRET"), "{path} escaped the preopen: {text}");
    }

    // A --dir that does not exist is an error before anything runs.
    let out = kiln(&["run", "--dir", "/nonexistent/kiln-dir", &cat]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("/nonexistent/kiln-dir"), "stderr: {}", stderr(&out));
}

#[test]
fn wasi_stdio_is_the_process_stdio() {
    let dir = TempDir::new("stdio");
    let cat = program("cat");
    let out = kiln_in(&dir.0, &["run", &cat], b"line one\nline two\n");
    assert_prints(&out, "line one\nline two\n");
    let to_stderr = dir.write(
        "err.wat",
        r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 100) "to stderr\n")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 100))
    (i32.store (i32.const 4) (i32.const 10))
    (drop (call $write (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 8)))))"#,
    );
    let out = kiln(&["run", to_stderr.to_str().expect("utf-8 path")]);
    assert_prints(&out, "");
    assert_eq!(stderr(&out), "to stderr\n");
}

#[test]
fn wasi_exit_status_becomes_kiln_status() {
    let exitcode = program("exitcode");
    for (args, status, out_text) in [
        (&["exit", "7"][..], 7, "calling exit(7) with unflushed outputatexit handler ran\n"),
        (&["return", "42"][..], 42, "returning 42 from main\natexit handler ran\n"),
        (&[][..], 0, "no arguments: returning 0\natexit handler ran\n"),
    ] {
        let mut argv = vec!["run", exitcode.as_str()];
        argv.extend_from_slice(args);
        let out = kiln(&argv);
        assert_eq!(out.status.code(), Some(status), "{args:?}: stderr: {}", stderr(&out));
        assert_eq!(stdout(&out), out_text, "{args:?}");
        // An exit is not an error: kiln prints nothing of its own.
        assert_eq!(stderr(&out), "", "{args:?}");
    }

    let dir = TempDir::new("exit");
    // proc_exit's code reaches the shell as its low 8 bits, like a native
    // exit(300).
    let big = dir.write(
        "big.wat",
        r#"(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (func (export "_start") (call $exit (i32.const 300)) unreachable))"#,
    );
    let out = kiln(&["run", big.to_str().expect("utf-8 path")]);
    assert_eq!(out.status.code(), Some(300 % 256), "stderr: {}", stderr(&out));

    // A trap after output: the output is there, the status is 3, and stderr
    // has the message and the backtrace.
    let trap = dir.write(
        "trap.wat",
        r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 100) "before the trap\n")
  (func $crash (unreachable))
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 100))
    (i32.store (i32.const 4) (i32.const 16))
    (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
    (call $crash)))"#,
    );
    let out = kiln(&["run", trap.to_str().expect("utf-8 path")]);
    assert_eq!(out.status.code(), Some(3), "stderr: {}", stderr(&out));
    assert_eq!(stdout(&out), "before the trap\n");
    let err = stderr(&out);
    assert!(err.starts_with("error: "), "stderr: {err}");
    assert!(err.contains("unreachable"), "stderr: {err}");
    assert!(err.contains("wasm backtrace"), "stderr: {err}");
}

/// A module that itself uses WASI, to be preloaded.
const HELPER: &str = r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 100) "hello from the preload\n")
  (func (export "hello")
    (i32.store (i32.const 0) (i32.const 100))
    (i32.store (i32.const 4) (i32.const 23))
    (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func (export "double") (param i32) (result i32)
    (i32.mul (local.get 0) (i32.const 2))))"#;

const USES_HELPER: &str = r#"(module
  (import "helper" "hello" (func $hello))
  (import "helper" "double" (func $double (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (func (export "_start")
    (call $hello)
    (call $exit (call $double (i32.const 21)))))"#;

#[test]
fn preload_registers_a_module_for_imports() {
    let dir = TempDir::new("preload");
    let helper = dir.write("helper.wat", HELPER);
    let main = dir.write("main.wat", USES_HELPER);
    let helper = helper.to_str().expect("utf-8 path");
    let main = main.to_str().expect("utf-8 path");

    let out = kiln(&["run", "--preload", &format!("helper={helper}"), main]);
    assert_eq!(out.status.code(), Some(42), "stderr: {}", stderr(&out));
    assert_eq!(stdout(&out), "hello from the preload\n");

    // Relative to the working directory, as the bench-inputs use it.
    let out = kiln_in(&dir.0, &["run", "--preload", "helper=helper.wat", "main.wat"], b"");
    assert_eq!(out.status.code(), Some(42), "stderr: {}", stderr(&out));

    // Without the preload the import is unknown.
    let out = kiln(&["run", main]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("helper::hello"), "stderr: {}", stderr(&out));
    // Under another name it does not satisfy `helper`.
    let out = kiln(&["run", "--preload", &format!("other={helper}"), main]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("helper::"), "stderr: {}", stderr(&out));
    // Malformed and missing preloads.
    let out = kiln(&["run", "--preload", helper, main]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("NAME=FILE"), "stderr: {}", stderr(&out));
    let out = kiln(&["run", "--preload", "helper=/nonexistent/h.wasm", main]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("/nonexistent/h.wasm"), "stderr: {}", stderr(&out));

    // --invoke has WASI linked in too.
    let out = run_invoke(Path::new(helper), "hello", &[]);
    assert_prints(&out, "hello from the preload\n");
    let out = run_invoke(Path::new(helper), "double", &["-4"]);
    assert_eq!(stdout(&out), "-8\n", "stderr: {}", stderr(&out));
}

const PASSING_WAST: &str = r#"(module $m
  (func (export "add") (param i32 i32) (result i32)
    (i32.add (local.get 0) (local.get 1)))
  (func (export "div") (param i32 i32) (result i32)
    (i32.div_s (local.get 0) (local.get 1)))
  (func (export "nan") (result f32) (f32.div (f32.const 0) (f32.const 0)))
  (global (export "g") i32 (i32.const 7)))
(assert_return (invoke "add" (i32.const 2) (i32.const 3)) (i32.const 5))
(assert_return (invoke $m "nan") (f32.const nan:arithmetic))
(assert_return (get "g") (i32.const 7))
(assert_trap (invoke "div" (i32.const 1) (i32.const 0)) "integer divide by zero")
(register "M" $m)
(module (import "M" "add" (func $add (param i32 i32) (result i32)))
  (import "spectest" "print_i32" (func (param i32)))
  (func (export "twice") (param i32) (result i32)
    (call $add (local.get 0) (local.get 0))))
(assert_return (invoke "twice" (i32.const 21)) (i32.const 42))
(assert_invalid (module (func (result i32))) "type mismatch")
(assert_malformed (module quote "(func (i32.bogus))") "unknown operator")
(assert_unlinkable (module (import "M" "missing" (func))) "unknown import")
"#;

#[test]
fn wast_passing_script_exits_0() {
    let dir = TempDir::new("wast-pass");
    let file = dir.write("ok.wast", PASSING_WAST);
    let out = kiln(&["wast", file.to_str().expect("utf-8 path")]);
    let text = stdout(&out);
    assert!(out.status.success(), "stdout: {text}\nstderr: {}", stderr(&out));
    assert_eq!(text.lines().last(), Some("11 passed, 0 failed, 0 skipped"));
    assert!(!text.contains("FAIL"), "stdout: {text}");
}

#[test]
fn wast_failing_script_names_file_and_line() {
    let dir = TempDir::new("wast-fail");
    let script = "(module (func (export \"one\") (result i32) (i32.const 1)))\n\
                  (assert_return (invoke \"one\") (i32.const 1))\n\
                  (assert_return (invoke \"one\") (i32.const 2))\n";
    let file = dir.write("bad.wast", script);
    let path = file.to_str().expect("utf-8 path");
    let out = kiln(&["wast", path]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "stdout: {text}");
    assert!(
        text.contains(&format!("FAIL {path}:3: assert_return: expected [i32.const 2], got [i32.const 1]")),
        "stdout: {text}"
    );
    assert_eq!(text.lines().last(), Some("2 passed, 1 failed, 0 skipped"));
}

#[test]
fn wast_unparsable_script_is_one_failure() {
    let dir = TempDir::new("wast-parse");
    let file = dir.write("broken.wast", "(module\n(assert_return (invoke \"f\"\n");
    let path = file.to_str().expect("utf-8 path");
    let out = kiln(&["wast", path]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "stdout: {text}");
    assert!(text.contains(&format!("FAIL {path}:")), "stdout: {text}");
    assert_eq!(text.lines().last(), Some("0 passed, 1 failed, 0 skipped"));
}

// ---------------------------------------------------------------------------
// Tiers: `--tier` and `--memory-reservation` select what executes the guest.

/// `kiln ARGS…` with `setup`'s `--tier`/`--memory-reservation` options
/// inserted after the subcommand (`args[0]`).
fn kiln_with_setup(setup: Setup, args: &[&str]) -> Output {
    let options = setup.cli_args();
    let mut argv: Vec<&str> = vec![args[0]];
    argv.extend(options.iter().map(String::as_str));
    argv.extend_from_slice(&args[1..]);
    kiln(&argv)
}

const TRAPPING: &str = r#"(module $traps
  (memory 1)
  (func $oob (export "oob") (result i32) (i32.load (i32.const 65536)))
  (func $div (export "div") (param i32) (result i32) (i32.div_s (i32.const 1) (local.get 0)))
  (func $inf (export "inf") (param i64) (result i64) (i64.add (call $inf (local.get 0)) (i64.const 1)))
  (func $call (export "call") (result i32) (call $div (i32.const 0))))
"#;

#[test]
fn run_trap_in_every_tier_exits_3_with_message() {
    let dir = TempDir::new("tier-traps");
    let file = dir.write("traps.wat", TRAPPING);
    let file = file.to_str().expect("utf-8 path");
    for_each_setup("run_trap_in_every_tier_exits_3_with_message", |setup| {
        for (export, args, message, backtrace) in [
            ("oob", &[][..], "out of bounds memory access", &["traps!oob"][..]),
            ("div", &["0"][..], "integer divide by zero", &["traps!div"][..]),
            ("call", &[][..], "integer divide by zero", &["traps!div", "traps!call"][..]),
            ("inf", &["1"][..], "call stack exhausted", &["traps!inf", "traps!inf"][..]),
        ] {
            let mut argv = vec!["run", "--invoke", export, file];
            argv.extend_from_slice(args);
            let out = kiln_with_setup(setup, &argv);
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(3), "{export}: stderr: {err}");
            let mut lines = err.lines();
            assert_eq!(lines.next(), Some(format!("error: wasm trap: {message}").as_str()), "{export}");
            assert_eq!(lines.next(), Some("wasm backtrace:"), "{export}");
            for (n, frame) in backtrace.iter().enumerate() {
                assert_eq!(lines.next().map(str::trim), Some(format!("{n}: {frame}").as_str()), "{export}");
            }
            assert_eq!(stdout(&out), "", "{export}");
        }
        // A call that does not trap prints its result as usual.
        let out = kiln_with_setup(setup, &["run", "--invoke", "div", file, "-1"]);
        assert_eq!((out.status.code(), stdout(&out)), (Some(0), "-1\n".into()), "stderr: {}", stderr(&out));
    });
}

#[test]
fn wast_passing_script_passes_in_every_tier() {
    let dir = TempDir::new("tier-wast");
    let file = dir.write("ok.wast", PASSING_WAST);
    let file = file.to_str().expect("utf-8 path");
    for_each_setup("wast_passing_script_passes_in_every_tier", |setup| {
        let out = kiln_with_setup(setup, &["wast", file]);
        let text = stdout(&out);
        assert!(out.status.success(), "stdout: {text}\nstderr: {}", stderr(&out));
        assert_eq!(text.lines().last(), Some("11 passed, 0 failed, 0 skipped"), "stdout: {text}");
    });
}

#[test]
fn wast_trap_assertions_hold_in_every_tier() {
    // Each kind of trap through `assert_trap` and `assert_exhaustion`, with
    // a grown memory's new limit; one wrong expectation must fail.
    let script = r#"(module
  (memory 1 2)
  (table 2 funcref)
  (elem (i32.const 0) $f)
  (func $f (result i32) (i32.const 1))
  (func (export "load") (param i32) (result i32) (i32.load (local.get 0)))
  (func (export "grow") (result i32) (memory.grow (i32.const 1)))
  (func (export "fill") (param i32 i32) (memory.fill (local.get 0) (i32.const 0) (local.get 1)))
  (func (export "div") (param i32 i32) (result i32) (i32.div_s (local.get 0) (local.get 1)))
  (func (export "trunc") (param f32) (result i32) (i32.trunc_f32_u (local.get 0)))
  (func (export "ci") (param i32) (result i32) (call_indirect (result i32) (local.get 0)))
  (func (export "sig") (param i32) (call_indirect (param i32) (local.get 0) (i32.const 0)))
  (func $inf (export "inf") (call $inf)))
(assert_trap (invoke "load" (i32.const 65536)) "out of bounds memory access")
(assert_return (invoke "grow") (i32.const 1))
(assert_return (invoke "load" (i32.const 65536)) (i32.const 0))
(assert_trap (invoke "load" (i32.const 131069)) "out of bounds memory access")
(assert_trap (invoke "fill" (i32.const 131000) (i32.const 100)) "out of bounds memory access")
(assert_trap (invoke "div" (i32.const 1) (i32.const 0)) "integer divide by zero")
(assert_trap (invoke "div" (i32.const 0x80000000) (i32.const -1)) "integer overflow")
(assert_trap (invoke "trunc" (f32.const -1)) "integer overflow")
(assert_trap (invoke "trunc" (f32.const nan)) "invalid conversion to integer")
(assert_return (invoke "ci" (i32.const 0)) (i32.const 1))
(assert_trap (invoke "ci" (i32.const 1)) "uninitialized element")
(assert_trap (invoke "ci" (i32.const 2)) "undefined element")
(assert_trap (invoke "sig" (i32.const 0)) "indirect call type mismatch")
(assert_exhaustion (invoke "inf") "call stack exhausted")
(assert_trap (invoke "div" (i32.const 1) (i32.const 1)) "integer divide by zero")
"#;
    let dir = TempDir::new("tier-wast-traps");
    let file = dir.write("traps.wast", script);
    let path = file.to_str().expect("utf-8 path");
    for_each_setup("wast_trap_assertions_hold_in_every_tier", |setup| {
        let out = kiln_with_setup(setup, &["wast", path]);
        let text = stdout(&out);
        assert_eq!(out.status.code(), Some(1), "stdout: {text}\nstderr: {}", stderr(&out));
        let failures: Vec<&str> = text.lines().filter(|l| l.starts_with("FAIL")).collect();
        assert_eq!(failures.len(), 1, "stdout: {text}");
        assert!(failures[0].starts_with(&format!("FAIL {path}:28: assert_trap")), "stdout: {text}");
        assert_eq!(text.lines().last(), Some("15 passed, 1 failed, 0 skipped"), "stdout: {text}");
    });
}
