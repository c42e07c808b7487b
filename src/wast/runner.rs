//! The directive interpreter behind [`run_wast_text_with`](super::run_wast_text_with).

use std::any::Any;
use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};

use wast::lexer::Lexer;
use wast::parser::{self, ParseBuffer};
use wast::token::Id;
use wast::{QuoteWat, Wast, WastDirective, WastExecute, WastInvoke, Wat};

use super::values::{self, ExternRefs, Unsupported};
use super::{Failure, WastOptions, WastReport, single_failure, spectest};
use crate::{Config, Engine, Error, ErrorKind, Instance, Linker, Module, Store, TrapCode, Val};

/// Runs a whole script; see [`super::run_wast_text_with`].
pub(super) fn run(name: &str, text: &str, config: &Config, options: &WastOptions) -> WastReport {
    let parse_failure = |err: wast::Error| {
        let line = err.span().linecol_in(text).0 + 1;
        let mut report = single_failure(name, "parse", "a well-formed .wast script", &err.message());
        if let Some(failure) = report.failures.first_mut() {
            failure.line = line;
        }
        report
    };
    let mut lexer = Lexer::new(text);
    // The spec suite's `names.wast` uses bidirectional-override characters
    // inside strings on purpose.
    lexer.allow_confusing_unicode(true);
    let buf = match ParseBuffer::new_with_lexer(lexer) {
        Ok(buf) => buf,
        Err(err) => return parse_failure(err),
    };
    let wast = match parser::parse::<Wast<'_>>(&buf) {
        Ok(wast) => wast,
        Err(err) => return parse_failure(err),
    };

    let mut config = config.clone();
    config.wasm_features(options.features.feature_set());
    let engine = match Engine::new(&config) {
        Ok(engine) => engine,
        Err(err) => {
            return single_failure(name, "engine", "an engine for this config", &err.to_string());
        }
    };
    let mut runner = match Runner::new(&engine, options) {
        Ok(runner) => runner,
        Err(err) => {
            return single_failure(name, "spectest", "the spectest host module", &err.to_string());
        }
    };

    let mut report = WastReport { file: name.to_string(), ..WastReport::default() };
    let total = wast.directives.len();
    for (index, directive) in wast.directives.into_iter().enumerate() {
        let line = directive.span().linecol_in(text).0 + 1;
        let kind = kind_of(&directive);
        let outcome = guarded(|| runner.run_directive(directive));
        match outcome {
            Outcome::Pass => report.passed += 1,
            Outcome::Fail { expected, got } => {
                report.failed += 1;
                report.failures.push(Failure { file: name.to_string(), line, kind, expected, got });
            }
            Outcome::SkipFile(reason) => {
                report.skipped = total - index;
                report.skip_reason = Some(format!("line {line}: {reason}"));
                break;
            }
        }
    }
    report
}

/// Runs one directive, turning a panic (in a host function or the runtime)
/// into a failure carrying the panic's message.
fn guarded(directive: impl FnOnce() -> Outcome) -> Outcome {
    catch_unwind(AssertUnwindSafe(directive)).unwrap_or_else(|payload| Outcome::Fail {
        expected: "no panic".into(),
        got: format!("panic: {}", panic_message(payload.as_ref())),
    })
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string panic payload>".to_string()
    }
}

/// The directive kind as written in the script (`assert_trap` on a module is
/// the suite's spelling of `assert_uninstantiable`).
fn kind_of(directive: &WastDirective<'_>) -> &'static str {
    match directive {
        WastDirective::Module(_) => "module",
        WastDirective::ModuleDefinition(_) => "module definition",
        WastDirective::ModuleInstance { .. } => "module instance",
        WastDirective::AssertMalformed { .. } => "assert_malformed",
        WastDirective::AssertInvalid { .. } => "assert_invalid",
        WastDirective::AssertInvalidCustom { .. } => "assert_invalid_custom",
        WastDirective::AssertMalformedCustom { .. } => "assert_malformed_custom",
        WastDirective::Register { .. } => "register",
        WastDirective::Invoke(_) => "invoke",
        WastDirective::AssertTrap { exec: WastExecute::Wat(_), .. } => "assert_uninstantiable",
        WastDirective::AssertTrap { .. } => "assert_trap",
        WastDirective::AssertReturn { .. } => "assert_return",
        WastDirective::AssertExhaustion { .. } => "assert_exhaustion",
        WastDirective::AssertUnlinkable { .. } => "assert_unlinkable",
        WastDirective::AssertException { .. } => "assert_exception",
        WastDirective::AssertSuspension { .. } => "assert_suspension",
        WastDirective::Thread(_) => "thread",
        WastDirective::Wait { .. } => "wait",
    }
}

/// What one directive came to.
enum Outcome {
    Pass,
    Fail {
        expected: String,
        got: String,
    },
    /// The file needs SIMD: this and every later directive is skipped.
    SkipFile(String),
}

fn fail(expected: impl Into<String>, got: impl Into<String>) -> Outcome {
    Outcome::Fail { expected: expected.into(), got: got.into() }
}

/// A problem of the script itself rather than of the engine's behaviour.
enum Harness {
    Msg(String),
    Simd(String),
}

impl Harness {
    fn into_outcome(self, expected: impl Into<String>) -> Outcome {
        match self {
            Harness::Msg(msg) => fail(expected, msg),
            Harness::Simd(reason) => Outcome::SkipFile(reason),
        }
    }
}

const SIMD_REASON: &str = "needs SIMD (v128), which kiln does not implement";

/// An instance slot: a module that failed to compile or instantiate stays
/// recorded so later directives on it fail instead of silently running
/// against an older module.
#[derive(Clone)]
enum Slot {
    Ready(Instance),
    Broken(String),
}

struct Runner {
    store: Store<()>,
    linker: Linker<()>,
    current: Option<Slot>,
    named: HashMap<String, Slot>,
    definitions: HashMap<String, Module>,
    last_definition: Option<Module>,
    externs: ExternRefs,
}

impl Runner {
    fn new(engine: &Engine, options: &WastOptions) -> Result<Self, Error> {
        let mut store = Store::new(engine, ());
        let mut linker = Linker::new(engine);
        // Scripts may `register` several instances under one name; the
        // latest wins, as in the reference interpreter.
        linker.allow_shadowing(true);
        spectest::define(&mut linker, &mut store, options.verbose)?;
        Ok(Runner {
            store,
            linker,
            current: None,
            named: HashMap::new(),
            definitions: HashMap::new(),
            last_definition: None,
            externs: ExternRefs::default(),
        })
    }

    fn run_directive(&mut self, directive: WastDirective<'_>) -> Outcome {
        match directive {
            WastDirective::Module(mut module) => {
                let name = module.name().map(|id| id.name().to_string());
                let outcome = self.compile_quote(&mut module).and_then(|module| {
                    self.linker
                        .instantiate(&mut self.store, &module)
                        .map_err(|e| fail("the module to instantiate", describe_error(&e)))
                });
                match outcome {
                    Ok(instance) => {
                        self.set_current(name, Slot::Ready(instance));
                        Outcome::Pass
                    }
                    Err(outcome) => {
                        self.set_current(name, Slot::Broken(broken_reason(&outcome)));
                        outcome
                    }
                }
            }
            WastDirective::ModuleDefinition(mut module) => {
                let name = module.name().map(|id| id.name().to_string());
                match self.compile_quote(&mut module) {
                    Ok(module) => {
                        if let Some(name) = name {
                            self.definitions.insert(name, module.clone());
                        }
                        self.last_definition = Some(module);
                        Outcome::Pass
                    }
                    Err(outcome) => outcome,
                }
            }
            WastDirective::ModuleInstance { instance, module, .. } => {
                let definition = match module {
                    Some(id) => self.definitions.get(id.name()).cloned(),
                    None => self.last_definition.clone(),
                };
                let Some(definition) = definition else {
                    return fail("a module definition", "no such module definition");
                };
                let name = instance.map(|id| id.name().to_string());
                match self.linker.instantiate(&mut self.store, &definition) {
                    Ok(inst) => {
                        self.set_current(name, Slot::Ready(inst));
                        Outcome::Pass
                    }
                    Err(e) => {
                        let got = describe_error(&e);
                        self.set_current(name, Slot::Broken(got.clone()));
                        fail("the module to instantiate", got)
                    }
                }
            }
            WastDirective::Register { name, module, .. } => {
                let instance = match self.instance(module) {
                    Ok(instance) => instance,
                    Err(h) => {
                        return h.into_outcome(format!("an instance to register as \"{name}\""));
                    }
                };
                match self.linker.instance(&mut self.store, name, instance) {
                    Ok(_) => Outcome::Pass,
                    Err(e) => fail(format!("registration as \"{name}\""), describe_error(&e)),
                }
            }
            WastDirective::Invoke(invoke) => match self.invoke(&invoke) {
                Ok(Ok(_)) => Outcome::Pass,
                Ok(Err(e)) => fail("a successful call", describe_error(&e)),
                Err(h) => h.into_outcome("a successful call"),
            },
            WastDirective::AssertReturn { exec, results, .. } => {
                if results.iter().any(values::ret_needs_simd) {
                    return Outcome::SkipFile(SIMD_REASON.into());
                }
                let expected = values::describe_rets(&results);
                match self.execute(exec) {
                    Ok(Ok(got)) => {
                        let ok = got.len() == results.len()
                            && results.iter().zip(&got).all(|(want, have)| values::matches(want, have, &self.store));
                        if ok { Outcome::Pass } else { fail(expected, values::describe_vals(&got, &self.store)) }
                    }
                    Ok(Err(e)) => fail(expected, describe_error(&e)),
                    Err(h) => h.into_outcome(expected),
                }
            }
            WastDirective::AssertTrap { exec, message, .. } => {
                let expected = format!("trap \"{message}\"");
                match self.execute(exec) {
                    Ok(Ok(got)) => fail(expected, values::describe_vals(&got, &self.store)),
                    Ok(Err(e)) => match e.as_trap() {
                        Some(trap) if trap_message_matches(trap.message(), message) => Outcome::Pass,
                        _ => fail(expected, describe_error(&e)),
                    },
                    Err(h) => h.into_outcome(expected),
                }
            }
            WastDirective::AssertExhaustion { call, message, .. } => {
                let expected = format!("trap \"{message}\"");
                match self.invoke(&call) {
                    Ok(Ok(got)) => fail(expected, values::describe_vals(&got, &self.store)),
                    Ok(Err(e)) => match e.as_trap() {
                        Some(trap)
                            if matches!(trap.code(), TrapCode::StackOverflow) || trap.message().contains(message) =>
                        {
                            Outcome::Pass
                        }
                        _ => fail(expected, describe_error(&e)),
                    },
                    Err(h) => h.into_outcome(expected),
                }
            }
            WastDirective::AssertInvalid { mut module, message, .. } => {
                let expected = format!("a validation error (\"{message}\")");
                match encode(&mut module) {
                    Ok(bytes) => self.expect_compile_error(&bytes, expected),
                    Err(e) => fail(expected, format!("the module did not encode: {e}")),
                }
            }
            WastDirective::AssertMalformed { mut module, message, .. } => {
                let expected = format!("a decoding error (\"{message}\")");
                match encode(&mut module) {
                    Ok(bytes) => self.expect_compile_error(&bytes, expected),
                    // The text itself is malformed: the expected failure.
                    Err(_) => Outcome::Pass,
                }
            }
            WastDirective::AssertUnlinkable { mut module, message, .. } => {
                let expected = format!("a link error (\"{message}\")");
                let module = match encode_wat(&mut module).and_then(|b| self.compile(&b)) {
                    Ok(module) => module,
                    Err(h) => return h.into_outcome(expected),
                };
                match self.linker.instantiate(&mut self.store, &module) {
                    Ok(_) => fail(expected, "the module instantiated"),
                    Err(e) if matches!(e.kind(), ErrorKind::Link) => Outcome::Pass,
                    Err(e) => fail(expected, describe_error(&e)),
                }
            }
            other => fail("a directive this runner supports", format!("unsupported directive `{}`", kind_of(&other))),
        }
    }

    /// Records a (possibly broken) instance as the current one and, when the
    /// module has an `$id`, under that name.
    fn set_current(&mut self, name: Option<String>, slot: Slot) {
        if let Some(name) = name {
            self.named.insert(name, slot.clone());
        }
        self.current = Some(slot);
    }

    /// The instance named `id`, or the most recent one.
    fn instance(&self, id: Option<Id<'_>>) -> Result<Instance, Harness> {
        let slot = match id {
            Some(id) => {
                self.named.get(id.name()).ok_or_else(|| Harness::Msg(format!("no module named ${}", id.name())))?
            }
            None => self.current.as_ref().ok_or_else(|| Harness::Msg("no module defined yet".into()))?,
        };
        match slot {
            Slot::Ready(instance) => Ok(*instance),
            Slot::Broken(reason) => Err(Harness::Msg(format!("the module failed earlier ({reason})"))),
        }
    }

    fn compile(&self, bytes: &[u8]) -> Result<Module, Harness> {
        Module::new(self.store.engine(), bytes).map_err(|e| {
            if is_simd_error(&e) { Harness::Simd(SIMD_REASON.into()) } else { Harness::Msg(describe_error(&e)) }
        })
    }

    fn compile_quote(&self, module: &mut QuoteWat<'_>) -> Result<Module, Outcome> {
        let bytes = encode(module).map_err(|e| fail("the module to encode", e))?;
        self.compile(&bytes).map_err(|h| h.into_outcome("the module to compile"))
    }

    /// `assert_invalid` / `assert_malformed`: any compile error passes.
    fn expect_compile_error(&self, bytes: &[u8], expected: String) -> Outcome {
        match Module::new(self.store.engine(), bytes) {
            Ok(_) => fail(expected, "the module compiled"),
            Err(e) if matches!(e.kind(), ErrorKind::Compile) => Outcome::Pass,
            Err(e) => fail(expected, describe_error(&e)),
        }
    }

    /// Runs an `assert_return` / `assert_trap` action. The outer `Err` is a
    /// problem of the script (unknown export, SIMD, …), the inner one the
    /// engine's error.
    fn execute(&mut self, exec: WastExecute<'_>) -> Result<Result<Vec<Val>, Error>, Harness> {
        match exec {
            WastExecute::Invoke(invoke) => self.invoke(&invoke),
            WastExecute::Get { module, global, .. } => {
                let instance = self.instance(module)?;
                let global = instance
                    .get_global(&mut self.store, global)
                    .ok_or_else(|| Harness::Msg(format!("no exported global \"{global}\"")))?;
                Ok(Ok(vec![global.get(&mut self.store)]))
            }
            WastExecute::Wat(mut wat) => {
                let bytes = encode_wat(&mut wat)?;
                let module = match Module::new(self.store.engine(), &bytes) {
                    Ok(module) => module,
                    Err(e) if is_simd_error(&e) => return Err(Harness::Simd(SIMD_REASON.into())),
                    Err(e) => return Ok(Err(e)),
                };
                Ok(self.linker.instantiate(&mut self.store, &module).map(|_| Vec::new()))
            }
        }
    }

    fn invoke(&mut self, invoke: &WastInvoke<'_>) -> Result<Result<Vec<Val>, Error>, Harness> {
        let instance = self.instance(invoke.module)?;
        let func = instance
            .get_func(&mut self.store, invoke.name)
            .ok_or_else(|| Harness::Msg(format!("no exported function \"{}\"", invoke.name)))?;
        let mut args = Vec::with_capacity(invoke.args.len());
        for arg in &invoke.args {
            match values::arg_to_val(arg, &mut self.store, &mut self.externs) {
                Ok(val) => args.push(val),
                Err(Unsupported::Simd) => return Err(Harness::Simd(SIMD_REASON.into())),
                Err(Unsupported::Other(what)) => {
                    return Err(Harness::Msg(format!("unsupported argument {what}")));
                }
            }
        }
        let result_count = func.ty(&self.store).results().len();
        let mut results = vec![Val::I32(0); result_count];
        Ok(func.call(&mut self.store, &args, &mut results).map(|()| results))
    }
}

/// Whether a trap message satisfies an `assert_trap` text: it contains the
/// text, or the text is the message followed by details that only the
/// reference interpreter prints (`bulk.wast` expects "uninitialized element
/// 2" where the spec's message is "uninitialized element").
fn trap_message_matches(actual: &str, expected: &str) -> bool {
    actual.contains(expected)
        || (!actual.is_empty() && expected.strip_prefix(actual).is_some_and(|rest| rest.starts_with(' ')))
}

/// The first line of a failure, to remember why a module is unusable.
fn broken_reason(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Fail { got, .. } => got.lines().next().unwrap_or_default().to_string(),
        Outcome::SkipFile(reason) => reason.clone(),
        Outcome::Pass => String::new(),
    }
}

fn describe_error(e: &Error) -> String {
    match e.as_trap() {
        Some(trap) => format!("trap \"{}\"", trap.message()),
        None => format!("{:?} error: {e}", e.kind()),
    }
}

/// A compile failure caused by SIMD being unavailable (wasmparser says
/// "SIMD support is not enabled"; an engine that validates SIMD but cannot
/// run it reports [`ErrorKind::Unsupported`]).
fn is_simd_error(e: &Error) -> bool {
    let text = e.to_string().to_ascii_lowercase();
    matches!(e.kind(), ErrorKind::Compile | ErrorKind::Unsupported) && (text.contains("simd") || text.contains("v128"))
}

/// Encodes a module directive's text; components are not supported.
fn encode(module: &mut QuoteWat<'_>) -> Result<Vec<u8>, String> {
    match module {
        QuoteWat::Wat(Wat::Component(_)) | QuoteWat::QuoteComponent(..) => Err("components are not supported".into()),
        _ => module.encode().map_err(|e| e.message()),
    }
}

fn encode_wat(wat: &mut Wat<'_>) -> Result<Vec<u8>, Harness> {
    match wat {
        Wat::Module(_) => wat.encode().map_err(|e| Harness::Msg(format!("the module did not encode: {}", e.message()))),
        Wat::Component(_) => Err(Harness::Msg("components are not supported".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::{Outcome, guarded, trap_message_matches};

    #[test]
    fn a_panicking_directive_is_a_failure_with_its_message() {
        let outcome = guarded(|| panic!("boom {}", 7));
        assert!(
            matches!(&outcome, Outcome::Fail { got, .. } if got == "panic: boom 7"),
            "a panic must become a failure"
        );
        assert!(matches!(guarded(|| Outcome::Pass), Outcome::Pass));
    }

    #[test]
    fn trap_messages_match_by_containment_or_detail_suffix() {
        assert!(trap_message_matches("integer overflow", "integer overflow"));
        assert!(trap_message_matches("uninitialized element", "uninitialized element 2"));
        assert!(!trap_message_matches("uninitialized element", "uninitialized elements"));
        assert!(!trap_message_matches("undefined element", "uninitialized element"));
        assert!(!trap_message_matches("", "unreachable"));
    }
}
