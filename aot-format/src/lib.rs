//! kiln's ahead-of-time format: the compiled-module model and the `.aot`
//! file that serialises it, with no Cranelift dependency (the shared
//! vocabulary — types, traps, VMContext layout, module metadata — is
//! `kiln-environ`).
//!
//! * [`compiled`]: the compiled-module model (code, relocations, trap
//!   sites) that the compiler produces, the runtime links in memory and
//!   the file serialises.
//! * [`file`](mod@file): the `.aot` container (see `FORMAT.md` in this crate for the
//!   byte-by-byte layout): header, section table, compatibility record,
//!   code, function table, trap tables, relocations; written by
//!   [`file::write_aot`], read by [`file::AotFile::parse`].
//! * [`metadata`]: the module metadata
//!   ([`ModuleInfo`](kiln_environ::ModuleInfo)) encoded for the file, and
//!   its consistency checks on decoding.
//! * [`bytes`]: bounds-checked little-endian [`bytes::Reader`] and
//!   [`bytes::Writer`].
//!
//! Reading is safe code only: every offset and length is checked, and a
//! file that is truncated, corrupt or produced for something else is
//! refused with an [`AotError`] saying why.

pub mod bytes;
pub mod compiled;
pub mod file;
pub mod metadata;

/// Why an `.aot` file cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AotError {
    /// The file does not start with the `.aot` magic.
    #[error("not a kiln .aot file (it does not start with the magic bytes \"\\0kilnaot\")")]
    NotAot,
    /// The file is shorter than its header says, or than a header.
    #[error("truncated .aot file: {0}")]
    Truncated(String),
    /// The checksum over the file does not match.
    #[error("corrupt .aot file: {0}")]
    Corrupt(String),
    /// A well-formed file for another runtime, target or configuration:
    /// `what` names the mismatch ("format version", "target", "CPU
    /// features", "VMContext layout", "compiler settings", "wasm
    /// features", "kiln version").
    #[error("incompatible .aot file ({what}): {message}")]
    Incompatible {
        /// Which property differs.
        what: &'static str,
        /// The file's value and this runtime's.
        message: String,
    },
    /// A structure inside the file is out of bounds or inconsistent
    /// (possible only for a file not written by `aotc`, since the checksum
    /// matched).
    #[error("malformed .aot file: {0}")]
    Malformed(String),
}
