//! End-to-end tests of the `kiln` binary: `kiln run` on small modules
//! (results, float formatting, multi-value, traps, exit statuses) and
//! `kiln wast` on small scripts (closing line, `FAIL file:line` lines).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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
    Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(args)
        .output()
        .expect("run kiln")
}

fn run_invoke(file: &Path, name: &str, args: &[&str]) -> Output {
    let file = file.to_str().expect("utf-8 temp path");
    let mut argv = vec!["run", file, "--invoke", name];
    argv.extend_from_slice(args);
    kiln(&argv)
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
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
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    assert_eq!(stdout(&out), "5\n");

    // Negative and hex arguments; i32 results print as signed decimal.
    let out = run_invoke(&file, "add", &["-7", "0x2"]);
    assert_eq!(stdout(&out), "-5\n", "stderr: {}", stderr(&out));
    let out = run_invoke(&file, "add", &["0x7fffffff", "1"]);
    assert_eq!(stdout(&out), "-2147483648\n", "stderr: {}", stderr(&out));
    let out = run_invoke(&file, "wide", &["-9223372036854775808"]);
    assert_eq!(
        stdout(&out),
        "-9223372036854775808\n",
        "stderr: {}",
        stderr(&out)
    );
}

#[test]
fn run_floats_round_trip() {
    let dir = TempDir::new("floats");
    let file = dir.write("m.wat", MODULE);
    for (arg, printed) in [
        ("0.1", "0.1"),
        ("-0.0", "-0.0"),
        ("1e300", "1e300"),
        ("-inf", "-inf"),
    ] {
        let out = run_invoke(&file, "id_f64", &[arg]);
        assert!(out.status.success(), "{arg}: stderr: {}", stderr(&out));
        assert_eq!(stdout(&out), format!("{printed}\n"));
    }
    let out = run_invoke(&file, "third", &[]);
    assert_eq!(
        stdout(&out),
        "0.3333333333333333\n",
        "stderr: {}",
        stderr(&out)
    );
    // A NaN prints its bits, payload included.
    let out = run_invoke(&file, "nan_f32", &[]);
    assert_eq!(stdout(&out), "nan:0x7fa00000\n", "stderr: {}", stderr(&out));
}

#[test]
fn run_multi_value_prints_one_result_per_line() {
    let dir = TempDir::new("multi");
    let file = dir.write("m.wat", MODULE);
    let out = run_invoke(&file, "multi", &["42"]);
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    assert_eq!(stdout(&out), "42\n-9000000000\n-0.0\n");
}

#[test]
fn run_accepts_a_binary_module() {
    let dir = TempDir::new("binary");
    let buf = wast::parser::ParseBuffer::new(MODULE).expect("lex");
    let mut wat = wast::parser::parse::<wast::Wat<'_>>(&buf).expect("parse");
    let file = dir.write("m.wasm", wat.encode().expect("encode"));
    let out = run_invoke(&file, "add", &["40", "2"]);
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    assert_eq!(stdout(&out), "42\n");
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
    assert!(
        stderr(&out).contains("no --invoke given and the module has no _start"),
        "stderr: {}",
        stderr(&out)
    );
    // Wrong number of arguments.
    let out = run_invoke(&file, "add", &["1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("takes 2 argument"),
        "stderr: {}",
        stderr(&out)
    );
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
    // A module with imports cannot be linked by `kiln run` yet.
    let imp = dir.write(
        "imp.wat",
        "(module (import \"env\" \"f\" (func)) (func (export \"g\")))",
    );
    let out = run_invoke(&imp, "g", &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("env::f"), "stderr: {}", stderr(&out));
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
    assert!(
        out.status.success(),
        "stdout: {text}\nstderr: {}",
        stderr(&out)
    );
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
        text.contains(&format!(
            "FAIL {path}:3: assert_return: expected [i32.const 2], got [i32.const 1]"
        )),
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
