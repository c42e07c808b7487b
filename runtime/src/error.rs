//! kiln's public error and trap types (re-exported by the `kiln` crate).

use kiln_environ::{ModuleError, TrapCode};
use std::fmt;

/// What kind of failure an [`Error`] is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The module is malformed or invalid; the message names the offset.
    Compile,
    /// Instantiation could not satisfy an import (unknown import or
    /// incompatible import type, spec §4.5.4 "Instantiation").
    Link,
    /// Guest code trapped; [`Error::as_trap`] gives the details.
    Trap,
    /// A host function returned an error or panicked.
    Host,
    /// The guest asked to exit (WASI `proc_exit`) with a status.
    Exit,
    /// The request needs something kiln does not provide (yet).
    Unsupported,
    /// An `.aot` file could not be used: not an `.aot` file, truncated,
    /// corrupt, malformed, or compiled for another target or configuration;
    /// [`Error::as_aot`] gives the details.
    Aot,
    /// Anything else (bad arguments to an API call, resource exhaustion).
    Other,
}

enum Repr {
    Compile(ModuleError),
    Link(String),
    Trap(Trap),
    Host(Box<dyn std::error::Error + Send + Sync>),
    Exit(i32),
    Unsupported(String),
    Aot(kiln_aot_format::AotError),
    Other(String),
}

/// A kiln error: small (one pointer), `Send + Sync`, with a [`kind`](Error::kind).
pub struct Error(Box<Repr>);

/// `Result` with kiln's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error with a message (kind [`ErrorKind::Other`]).
    pub fn msg(message: impl fmt::Display) -> Error {
        Error(Box::new(Repr::Other(message.to_string())))
    }
    /// Wraps any error as a host error (kind [`ErrorKind::Host`]).
    pub fn new(error: impl std::error::Error + Send + Sync + 'static) -> Error {
        Error(Box::new(Repr::Host(Box::new(error))))
    }
    /// A host error carrying only a message.
    pub fn host(message: impl fmt::Display) -> Error {
        Error(Box::new(Repr::Host(message.to_string().into())))
    }
    /// A module decoding/validation error.
    pub fn compile(e: ModuleError) -> Error {
        Error(Box::new(Repr::Compile(e)))
    }
    /// A link error.
    pub fn link(message: impl fmt::Display) -> Error {
        Error(Box::new(Repr::Link(message.to_string())))
    }
    /// A trap.
    pub fn trap(trap: Trap) -> Error {
        Error(Box::new(Repr::Trap(trap)))
    }
    /// A guest exit request with `status` (WASI `proc_exit`).
    pub fn exit(status: i32) -> Error {
        Error(Box::new(Repr::Exit(status)))
    }
    /// Something kiln does not support.
    pub fn unsupported(message: impl fmt::Display) -> Error {
        Error(Box::new(Repr::Unsupported(message.to_string())))
    }

    /// An `.aot` loading error.
    pub fn aot(e: kiln_aot_format::AotError) -> Error {
        Error(Box::new(Repr::Aot(e)))
    }

    /// The kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match &*self.0 {
            Repr::Compile(_) => ErrorKind::Compile,
            Repr::Link(_) => ErrorKind::Link,
            Repr::Trap(_) => ErrorKind::Trap,
            Repr::Host(_) => ErrorKind::Host,
            Repr::Exit(_) => ErrorKind::Exit,
            Repr::Unsupported(_) => ErrorKind::Unsupported,
            Repr::Aot(_) => ErrorKind::Aot,
            Repr::Other(_) => ErrorKind::Other,
        }
    }
    /// The trap, if this error is one.
    pub fn as_trap(&self) -> Option<&Trap> {
        match &*self.0 {
            Repr::Trap(t) => Some(t),
            _ => None,
        }
    }
    /// Mutable access to the trap, to extend its backtrace while unwinding.
    pub fn as_trap_mut(&mut self) -> Option<&mut Trap> {
        match &mut *self.0 {
            Repr::Trap(t) => Some(t),
            _ => None,
        }
    }
    /// The exit status, if the guest exited.
    pub fn exit_code(&self) -> Option<i32> {
        match &*self.0 {
            Repr::Exit(c) => Some(*c),
            _ => None,
        }
    }
    /// The module error, if this is a compile error.
    pub fn as_module_error(&self) -> Option<&ModuleError> {
        match &*self.0 {
            Repr::Compile(e) => Some(e),
            _ => None,
        }
    }
    /// The `.aot` error, if this is one.
    pub fn as_aot(&self) -> Option<&kiln_aot_format::AotError> {
        match &*self.0 {
            Repr::Aot(e) => Some(e),
            _ => None,
        }
    }
    /// The host error, if this is one, for downcasting.
    pub fn host_error(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        match &*self.0 {
            Repr::Host(e) => Some(&**e),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &*self.0 {
            Repr::Compile(e) => write!(f, "invalid module: {e}"),
            Repr::Link(m) => write!(f, "link error: {m}"),
            Repr::Trap(t) => write!(f, "{t}"),
            Repr::Host(e) => write!(f, "host error: {e}"),
            Repr::Exit(c) => write!(f, "guest exited with status {c}"),
            Repr::Unsupported(m) => write!(f, "unsupported: {m}"),
            Repr::Aot(e) => write!(f, "{e}"),
            Repr::Other(m) => f.write_str(m),
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Error({:?}: {self})", self.kind())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &*self.0 {
            Repr::Host(e) => Some(&**e),
            Repr::Compile(e) => Some(e),
            _ => None,
        }
    }
}

impl From<ModuleError> for Error {
    fn from(e: ModuleError) -> Self {
        Error::compile(e)
    }
}

impl From<Trap> for Error {
    fn from(t: Trap) -> Self {
        Error::trap(t)
    }
}

/// One frame of a wasm backtrace, innermost first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameInfo {
    /// Index in the module's function space.
    pub func_index: u32,
    /// Name from the name section, if any.
    pub func_name: Option<String>,
    /// Module name from the name section, if any.
    pub module_name: Option<String>,
}

impl fmt::Display for FrameInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(m) = &self.module_name {
            write!(f, "{m}!")?;
        }
        match &self.func_name {
            Some(n) => write!(f, "{n}"),
            None => write!(f, "<wasm function {}>", self.func_index),
        }
    }
}

/// A trap: the kind (with the spec's message) and a wasm backtrace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trap {
    code: TrapCode,
    backtrace: Vec<FrameInfo>,
}

impl Trap {
    /// A trap of kind `code` without a backtrace yet.
    pub fn new(code: TrapCode) -> Trap {
        Trap { code, backtrace: Vec::new() }
    }
    /// The kind of trap.
    pub fn code(&self) -> TrapCode {
        self.code
    }
    /// The spec's message for this trap.
    pub fn message(&self) -> &'static str {
        self.code.message()
    }
    /// Wasm frames, innermost first.
    pub fn backtrace(&self) -> &[FrameInfo] {
        &self.backtrace
    }
    /// Appends an outer frame.
    pub fn push_frame(&mut self, frame: FrameInfo) {
        self.backtrace.push(frame);
    }
}

impl fmt::Display for Trap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "wasm trap: {}", self.code.message())?;
        if !self.backtrace.is_empty() {
            write!(f, "\nwasm backtrace:")?;
            for (i, frame) in self.backtrace.iter().enumerate() {
                write!(f, "\n  {i:>3}: {frame}")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for Trap {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_is_one_pointer() {
        assert_eq!(std::mem::size_of::<Error>(), std::mem::size_of::<usize>());
    }

    #[test]
    fn trap_display_has_message_and_backtrace() {
        let mut t = Trap::new(TrapCode::UnreachableCodeReached);
        t.push_frame(FrameInfo { func_index: 3, func_name: Some("f".into()), module_name: None });
        t.push_frame(FrameInfo { func_index: 7, func_name: None, module_name: Some("m".into()) });
        let s = Error::trap(t).to_string();
        assert!(s.contains("unreachable"), "{s}");
        assert!(s.contains("wasm backtrace:\n    0: f\n    1: m!<wasm function 7>"), "{s}");
    }
}
