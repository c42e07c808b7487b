//! A reusable runner for `.wast` scripts, the format of the official
//! WebAssembly specification test suite.
//!
//! The script format is described in the reference interpreter's README
//! (`WebAssembly/spec`, `interpreter/README.md`, section "Scripts"); the text
//! is parsed and text modules are encoded with the [`wast`] crate. Every
//! directive of a script is one test: it passes, fails (with a [`Failure`]
//! naming its 1-based line) or is skipped. Only a file that needs a feature
//! kiln does not implement (today: SIMD, `v128`) may be skipped, and a
//! skipped file is named in the [`WastReport`] (`skip_reason`).
//!
//! What each directive checks:
//!
//! | directive | passes when |
//! | --- | --- |
//! | `module` (text, `binary`, `quote`), `module definition`, `module instance` | the module compiles (and instantiates, except for a definition) |
//! | `register "name" $id?` | the instance is known; its exports become importable as `"name"` |
//! | `invoke` | the call returns without error |
//! | `assert_return` | the call (or `get` of a global) returns exactly the expected values: integers exactly, floats bitwise, `nan:canonical` / `nan:arithmetic` patterns as in the spec's section 4.3.3 ("NaN propagation"), `ref.null`, `ref.extern N` (compared by payload), `ref.func` (any non-null), `either` (any alternative) |
//! | `assert_trap` | the call, or the instantiation of the given module, fails with a trap whose message contains the expected text (or is its prefix up to a space: the reference interpreter appends details, e.g. "uninitialized element 2") |
//! | `assert_exhaustion` | the call fails with a trap "call stack exhausted" (code `StackOverflow`) |
//! | `assert_invalid`, `assert_malformed` | the module does not encode (malformed only) or `Module::new` fails with [`ErrorKind::Compile`](crate::ErrorKind::Compile); the message is not compared, wasmparser's texts differ from the spec's |
//! | `assert_unlinkable` | the module compiles and instantiation fails with [`ErrorKind::Link`](crate::ErrorKind::Link) |
//!
//! `assert_uninstantiable` is spelled `assert_trap (module …) "msg"` in the
//! current test suite and in the `wast` crate, and is reported under the kind
//! `assert_uninstantiable`. Any other directive (threads, `wait`,
//! `assert_exception`, `assert_suspension`, custom-section assertions,
//! components) counts as failed with the reason "unsupported directive".
//!
//! Each directive runs inside [`std::panic::catch_unwind`]: a panic in a host
//! function or in the runtime is recorded as a failure of that directive and
//! the script goes on. One [`Store`](crate::Store) and one
//! [`Linker`](crate::Linker) serve a whole file, together with the
//! `spectest` host module (see [`spectest`]).

mod runner;
pub mod spectest;
mod values;

use std::fmt;
use std::io::{self, Write};
use std::path::Path;

use crate::{Config, WasmFeatureSet};

/// The WebAssembly feature selection a script is run under: it replaces the
/// feature set of the [`Config`] handed to [`run_wast_text`] (see
/// [`Config::wasm_features`]), so the validator accepts exactly these
/// proposals.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Features {
    /// Exactly WebAssembly 2.0 (the `wasm-v2` spec suite) without SIMD,
    /// which kiln does not execute yet: [`WasmFeatureSet::wasm2`]. The
    /// default.
    #[default]
    Wasm2,
    /// A custom set, e.g. Wasm 2.0 plus selected later proposals.
    Custom(WasmFeatureSet),
}

impl Features {
    /// The validator feature set this selection stands for.
    pub fn feature_set(self) -> WasmFeatureSet {
        match self {
            Features::Wasm2 => WasmFeatureSet::wasm2(),
            Features::Custom(set) => set,
        }
    }
}

/// Options for [`run_wast_text_with`].
#[derive(Clone, Debug, Default)]
pub struct WastOptions {
    /// The feature selection (default [`Features::Wasm2`]).
    pub features: Features,
    /// When true, the `spectest` print functions write their arguments to
    /// stdout like the reference interpreter (`42 : i32`); otherwise they
    /// are no-ops.
    pub verbose: bool,
}

/// One failed directive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The script's name as given to [`run_wast_text`].
    pub file: String,
    /// 1-based line of the directive in the script (0 when unknown).
    pub line: usize,
    /// The directive kind, e.g. `assert_return`, `module`, `parse`.
    pub kind: &'static str,
    /// What the directive expected, in wast-like syntax.
    pub expected: String,
    /// What happened instead.
    pub got: String,
}

impl fmt::Display for Failure {
    /// `FAIL file:line: kind: expected …, got …` (one line; newlines inside
    /// messages are replaced with ` | `).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "FAIL {}:{}: {}: expected {}, got {}",
            self.file,
            self.line,
            self.kind,
            one_line(&self.expected),
            one_line(&self.got)
        )
    }
}

fn one_line(s: &str) -> String {
    s.trim_end().replace('\n', " | ")
}

/// The outcome of running one script.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WastReport {
    /// The script's name as given to [`run_wast_text`].
    pub file: String,
    /// Directives that passed.
    pub passed: usize,
    /// Directives that failed (`failures.len()`); a script that does not
    /// parse counts as one failure.
    pub failed: usize,
    /// Directives skipped because the file needs an unimplemented feature.
    pub skipped: usize,
    /// When the file was skipped from some directive on: why.
    pub skip_reason: Option<String>,
    /// The failed directives, in script order.
    pub failures: Vec<Failure>,
}

impl WastReport {
    /// Writes one `FAIL …` line per failure and, for a skipped file, one
    /// `SKIP file: reason (N directives)` line.
    ///
    /// # Errors
    /// Returns the writer's I/O error.
    pub fn print_failures(&self, out: &mut dyn Write) -> io::Result<()> {
        for failure in &self.failures {
            writeln!(out, "{failure}")?;
        }
        if let Some(reason) = &self.skip_reason {
            writeln!(out, "SKIP {}: {} ({} directives)", self.file, reason, self.skipped)?;
        }
        Ok(())
    }

    /// This report's counts.
    pub fn totals(&self) -> Totals {
        Totals { passed: self.passed, failed: self.failed, skipped: self.skipped }
    }
}

/// Counts summed over any number of [`WastReport`]s.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Directives that passed.
    pub passed: usize,
    /// Directives that failed.
    pub failed: usize,
    /// Directives that were skipped.
    pub skipped: usize,
}

impl Totals {
    /// Adds a report's counts.
    pub fn add(&mut self, report: &WastReport) {
        self.passed += report.passed;
        self.failed += report.failed;
        self.skipped += report.skipped;
    }
}

impl fmt::Display for Totals {
    /// The closing line: `P passed, F failed, S skipped`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} passed, {} failed, {} skipped", self.passed, self.failed, self.skipped)
    }
}

/// Runs one script's text with an engine built from `config` (its tier is
/// the config's [`Strategy`](crate::Strategy)) whose feature set is
/// replaced by `features`, with quiet `spectest` print functions. `name` is
/// used in failure lines only.
///
/// Never panics and never returns early: every problem is a [`Failure`] in
/// the report (an engine that cannot be created for `config`, e.g. an
/// unavailable tier, is one failure of kind `engine`).
pub fn run_wast_text(name: &str, text: &str, config: &Config, features: Features) -> WastReport {
    run_wast_text_with(name, text, config, &WastOptions { features, verbose: false })
}

/// Like [`run_wast_text`], with [`WastOptions`].
pub fn run_wast_text_with(name: &str, text: &str, config: &Config, options: &WastOptions) -> WastReport {
    runner::run(name, text, config, options)
}

/// Reads `path` (UTF-8 text) and runs it like [`run_wast_text_with`], named
/// by the path as given. A file that cannot be read or is not UTF-8 counts as
/// one failure of kind `read`.
pub fn run_wast_file(path: &Path, config: &Config, options: &WastOptions) -> WastReport {
    let name = path.display().to_string();
    match std::fs::read(path) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(text) => run_wast_text_with(&name, &text, config, options),
            Err(e) => single_failure(&name, "read", "a UTF-8 text file", &e.to_string()),
        },
        Err(e) => single_failure(&name, "read", "a readable file", &e.to_string()),
    }
}

fn single_failure(name: &str, kind: &'static str, expected: &str, got: &str) -> WastReport {
    WastReport {
        file: name.to_string(),
        failed: 1,
        failures: vec![Failure {
            file: name.to_string(),
            line: 0,
            kind,
            expected: expected.to_string(),
            got: got.to_string(),
        }],
        ..WastReport::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str) -> WastReport {
        run_wast_text("t.wast", text, &Config::new(), Features::Wasm2)
    }

    #[test]
    fn every_directive_counts_and_failures_name_their_line() {
        let report = run(concat!(
            "(module (func (export \"f\") (param i32) (result i32) (local.get 0)))\n",
            "(assert_return (invoke \"f\" (i32.const 4)) (i32.const 4))\n",
            "(assert_return (invoke \"f\" (i32.const 4)) (i32.const 5))\n",
            "(assert_trap (invoke \"f\" (i32.const 4)) \"unreachable\")\n",
            "(invoke \"missing\")\n",
        ));
        assert_eq!((report.passed, report.failed, report.skipped), (2, 3, 0));
        let lines: Vec<(usize, &str)> = report.failures.iter().map(|f| (f.line, f.kind)).collect();
        assert_eq!(lines, [(3, "assert_return"), (4, "assert_trap"), (5, "invoke")]);
        assert_eq!(
            report.failures[0].to_string(),
            "FAIL t.wast:3: assert_return: expected [i32.const 5], got [i32.const 4]"
        );
        assert_eq!(report.totals().to_string(), "2 passed, 3 failed, 0 skipped");
    }

    #[test]
    fn a_module_that_loads_fails_assert_invalid_and_assert_malformed() {
        let report = run(concat!(
            "(assert_invalid (module (func (result i32) (i32.const 0))) \"type mismatch\")\n",
            "(assert_malformed (module binary \"\\00asm\\01\\00\\00\\00\") \"x\")\n",
            "(assert_malformed (module quote \"(func (i32.const 0) (i32.bogus))\") \"x\")\n",
            "(assert_malformed (module binary \"\\00asm\\01\") \"unexpected end\")\n",
        ));
        assert_eq!((report.passed, report.failed), (2, 2));
        assert_eq!(report.failures[0].got, "the module compiled");
        assert_eq!(report.failures[1].line, 2);
    }

    #[test]
    fn unsupported_directives_fail_with_a_reason() {
        let report = run("(module)\n(thread $t (module))\n(wait $t)\n");
        assert_eq!((report.passed, report.failed), (1, 2), "{:?}", report.failures);
        assert!(report.failures[0].got.contains("unsupported directive `thread`"));
        assert!(report.failures[1].got.contains("unsupported directive `wait`"));
    }

    #[test]
    fn an_unparsable_script_is_one_failure_at_its_line() {
        let report = run("(module)\n(assert_return (invoke \"f\"\n");
        assert_eq!((report.passed, report.failed, report.skipped), (0, 1, 0));
        assert_eq!(report.failures[0].kind, "parse");
        assert_eq!(report.failures[0].line, 3);
    }

    #[test]
    fn a_file_needing_simd_is_skipped_from_that_module_on() {
        let report = run(concat!(
            "(module (func (export \"f\") (result i32) (i32.const 1)))\n",
            "(assert_invalid (module (func (result v128) (i32.const 0))) \"type mismatch\")\n",
            "(module (func (export \"v\") (result v128) (v128.const i64x2 0 0)))\n",
            "(assert_return (invoke \"v\") (v128.const i64x2 0 0))\n",
            "(assert_return (invoke \"f\") (i32.const 1))\n",
        ));
        assert_eq!((report.passed, report.failed, report.skipped), (2, 0, 3));
        let reason = report.skip_reason.as_deref().unwrap_or_default();
        assert!(reason.starts_with("line 3:") && reason.contains("SIMD"), "{reason}");
        let mut out = Vec::new();
        report.print_failures(&mut out).expect("write to a Vec");
        assert_eq!(String::from_utf8_lossy(&out), format!("SKIP t.wast: {reason} (3 directives)\n"));
    }

    #[test]
    fn spectest_and_registered_modules_link() {
        let report = run(concat!(
            "(module $a (func (export \"seven\") (result i32) (i32.const 7))\n",
            "  (global (export \"g\") (mut i32) (i32.const 1)))\n",
            "(register \"a\" $a)\n",
            "(module\n",
            "  (import \"spectest\" \"print_i32\" (func $p (param i32)))\n",
            "  (import \"spectest\" \"global_i32\" (global $g i32))\n",
            "  (import \"spectest\" \"global_f64\" (global $h f64))\n",
            "  (import \"spectest\" \"table\" (table 10 20 funcref))\n",
            "  (import \"spectest\" \"memory\" (memory 1 2))\n",
            "  (import \"a\" \"seven\" (func $seven (result i32)))\n",
            "  (func (export \"sum\") (result i32)\n",
            "    (call $p (global.get $g)) (i32.add (global.get $g) (call $seven)))\n",
            "  (func (export \"h\") (result f64) (global.get $h)))\n",
            "(assert_return (invoke \"sum\") (i32.const 673))\n",
            "(assert_return (invoke \"h\") (f64.const 666.6))\n",
            "(assert_return (get $a \"g\") (i32.const 1))\n",
            "(assert_unlinkable (module (import \"spectest\" \"memory\" (memory 3))) \"incompatible import type\")\n",
            "(assert_unlinkable (module (import \"a\" \"nothing\" (func))) \"unknown import\")\n",
        ));
        assert_eq!((report.passed, report.failed), (8, 0), "{:?}", report.failures);
    }

    #[test]
    fn extern_refs_compare_by_payload() {
        let report = run(concat!(
            "(module (func (export \"id\") (param externref) (result externref) (local.get 0))\n",
            "  (func (export \"null\") (result funcref) (ref.null func)))\n",
            "(assert_return (invoke \"id\" (ref.extern 3)) (ref.extern 3))\n",
            "(assert_return (invoke \"id\" (ref.null extern)) (ref.null extern))\n",
            "(assert_return (invoke \"null\") (ref.null func))\n",
            "(assert_return (invoke \"id\" (ref.extern 3)) (ref.extern 4))\n",
        ));
        assert_eq!((report.passed, report.failed), (4, 1), "{:?}", report.failures);
        assert_eq!(report.failures[0].got, "[ref.extern 3]");
    }

    #[test]
    fn exhaustion_is_a_stack_overflow_trap() {
        let report = run(concat!(
            "(module (func $f (export \"f\") (call $f)))\n",
            "(assert_exhaustion (invoke \"f\") \"call stack exhausted\")\n",
        ));
        assert_eq!((report.passed, report.failed), (2, 0), "{:?}", report.failures);
    }
}
