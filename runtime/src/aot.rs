//! Loading `.aot` files (`kiln_aot_format::file`): the host-side checks of
//! a file's compatibility record and the mapping and linking of its code.
//!
//! The file is mapped once, privately and read-only; its text section is
//! used in place when its offset is page aligned (`CodeMemory::in_file_map`:
//! pages no relocation touches stay shared with the page cache), or copied
//! (bytes in memory: `CodeMemory::from_text`); relocations left in the file (library calls,
//! absolute addresses of its own code) are applied while the mapping is
//! writable, then it becomes read+execute (never both) and its trap tables
//! are registered with the signal handler's code registry — the same path
//! as JIT code ([`NativeCode::link`]).

use crate::code_memory::CodeMemory;
use crate::error::{Error, Result};
use crate::native_code::NativeCode;
use kiln_aot_format::AotError;
use kiln_aot_format::file::{AotBounds, AotFile, Compat};
use kiln_environ::PtrSize;
use kiln_environ::vm::layout_fingerprint;

/// What the loading engine's configuration requires of the code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AotRequirements {
    /// How this engine lays out linear memories.
    pub bounds: AotBounds,
    /// Whether this engine needs epoch checks in compiled code.
    pub epoch_interruption: bool,
    /// wasmparser feature bits this engine accepts.
    pub wasm_features: u64,
}

/// The version of kiln this runtime is (files from another version are
/// refused: the builtins' and libcalls' contracts are versioned with it).
pub const KILN_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Whether this CPU has `feature` (a Rust feature-detection name, as
/// `.aot` files record them); `None` for a name this runtime does not know.
pub fn host_has_cpu_feature(feature: &str) -> Option<bool> {
    #[cfg(target_arch = "x86_64")]
    {
        use std::is_x86_feature_detected as has;
        return Some(match feature {
            "sse3" => has!("sse3"),
            "ssse3" => has!("ssse3"),
            "sse4.1" => has!("sse4.1"),
            "sse4.2" => has!("sse4.2"),
            "popcnt" => has!("popcnt"),
            "avx" => has!("avx"),
            "avx2" => has!("avx2"),
            "fma" => has!("fma"),
            "bmi1" => has!("bmi1"),
            "bmi2" => has!("bmi2"),
            "lzcnt" => has!("lzcnt"),
            "cmpxchg16b" => has!("cmpxchg16b"),
            "avx512f" => has!("avx512f"),
            "avx512dq" => has!("avx512dq"),
            "avx512vl" => has!("avx512vl"),
            "avx512vbmi" => has!("avx512vbmi"),
            "avx512bitalg" => has!("avx512bitalg"),
            "avx512vnni" => has!("avx512vnni"),
            "avxvnni" => has!("avxvnni"),
            _ => return None,
        });
    }
    #[cfg(target_arch = "aarch64")]
    {
        use std::arch::is_aarch64_feature_detected as has;
        return Some(match feature {
            "lse" => has!("lse"),
            "paca" => has!("paca"),
            "fp16" => has!("fp16"),
            "dotprod" => has!("dotprod"),
            "i8mm" => has!("i8mm"),
            _ => return None,
        });
    }
    #[allow(unreachable_code)]
    {
        let _ = feature;
        None
    }
}

/// Checks that code described by `compat` can run in this process under
/// an engine requiring `req`: same kiln version, architecture, operating
/// system and pointer size, every CPU feature present, the same VMContext
/// layout, a memory layout and epoch setting matching the engine's, and
/// wasm features the engine accepts.
///
/// # Errors
/// [`AotError::Incompatible`] naming the first mismatch, with the file's
/// value and this runtime's.
pub fn check_compat(compat: &Compat, req: &AotRequirements) -> std::result::Result<(), AotError> {
    let no = |what: &'static str, message: String| Err(AotError::Incompatible { what, message });
    if compat.kiln_version != KILN_VERSION {
        return no("kiln version", format!("written by kiln {}, this is kiln {KILN_VERSION}", compat.kiln_version));
    }
    let (arch, os) = (std::env::consts::ARCH, std::env::consts::OS);
    if compat.arch != arch || compat.os != os {
        return no(
            "target",
            format!("compiled for {} ({}-{}), this host is {arch}-{os}", compat.target_triple, compat.arch, compat.os),
        );
    }
    if compat.pointer_bytes != PtrSize::HOST.0 {
        return no("target", format!("{}-byte pointers, this host has {}", compat.pointer_bytes, PtrSize::HOST.0));
    }
    let missing: Vec<&str> =
        compat.cpu_features.iter().map(String::as_str).filter(|f| host_has_cpu_feature(f) != Some(true)).collect();
    if !missing.is_empty() {
        return no("CPU features", format!("the code uses {} which this CPU lacks", missing.join(", ")));
    }
    let fp = layout_fingerprint(PtrSize::HOST);
    if compat.layout_fingerprint != fp {
        return no(
            "VMContext layout",
            format!("fingerprint {:016x}, this runtime's is {fp:016x}", compat.layout_fingerprint),
        );
    }
    if compat.bounds != req.bounds {
        let show = |b: AotBounds| match b {
            AotBounds::Explicit => "explicit bounds checks".to_string(),
            AotBounds::Guard { reservation, guard } => {
                format!("{reservation}-byte reservations with {guard}-byte guard regions")
            }
        };
        return no(
            "compiler settings",
            format!("the code assumes {}, this engine uses {}", show(compat.bounds), show(req.bounds)),
        );
    }
    if compat.epoch_interruption != req.epoch_interruption {
        let on = |b: bool| if b { "on" } else { "off" };
        return no(
            "compiler settings",
            format!(
                "epoch interruption is {} in the code and {} in this engine",
                on(compat.epoch_interruption),
                on(req.epoch_interruption)
            ),
        );
    }
    if compat.wasm_features & !req.wasm_features != 0 {
        return no(
            "wasm features",
            format!(
                "validated with features {:#x}, this engine accepts {:#x}",
                compat.wasm_features, req.wasm_features
            ),
        );
    }
    Ok(())
}

/// Where the text section's bytes come from.
pub enum TextSource {
    /// The parsed bytes are this mapping of the whole file (private,
    /// read-only: `memmap2::MmapOptions::map_copy_read_only`): the code is
    /// used in place (`CodeMemory::in_file_map`).
    Mapped(std::sync::Arc<memmap2::Mmap>),
    /// Copy the text from the parsed bytes.
    Bytes,
}

/// An `.aot` file carries every trampoline its code refers to.
fn no_external(ty: u32) -> Result<usize> {
    Err(Error::aot(AotError::Malformed(format!("relocation to the trampoline of type {ty}, which the file lacks"))))
}

/// Maps and links the code of a checked `file` (see the module
/// documentation): its compiled-module model
/// ([`AotFile::compiled_module`]) linked with [`NativeCode::link`], the
/// text used in place when `source` is the file's own mapping.
///
/// # Errors
/// A mapping failure or a relocation that does not fit.
pub fn load_code(file: &AotFile<'_>, source: TextSource) -> Result<NativeCode> {
    let ranges: Vec<_> = file.code.iter().map(|e| e.text_range()).collect();
    let page = rustix::param::page_size();
    let mem = match source {
        TextSource::Mapped(map)
            if std::ptr::eq(map.as_ptr(), file.bytes.as_ptr())
                && file.text_offset.is_multiple_of(page)
                && !file.text.is_empty() =>
        {
            CodeMemory::in_file_map(map, file.text_offset, file.text.len(), ranges)
        }
        _ => CodeMemory::from_text(file.text, ranges),
    }
    .map_err(|e| Error::msg(format!("loading .aot code: {e}")))?;
    // `AotFile::parse` checked every site and target index; the distance
    // to a library call (in this runtime) or the addend's effect is known
    // only once the code is mapped, and is an `.aot` error.
    let module = file.compiled_module();
    NativeCode::link_reporting(mem, &module, &no_external, &|m| Error::aot(AotError::Malformed(m)))
}
