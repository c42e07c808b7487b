//! The `.aot` container (FORMAT.md): a fixed header, a section table, and
//! the sections. [`write_aot`] produces a file from compiled code;
//! [`AotFile::parse`] checks one (magic, version, length, checksum, every
//! offset and length, the consistency of code, trap tables, relocations
//! and metadata) without trusting any of its numbers.

use crate::AotError;
use crate::bytes::{Reader, Writer};
use crate::compiled::{
    CodeKind, CompiledCode, CompiledModule, DefinedEntry, RelocKind, RelocTarget, Relocation, TrapSite,
};
use crate::metadata::{decode_module_info, encode_module_info};
use kiln_environ::{DefinedFuncIndex, LibCall, ModuleInfo, TrapCode};
use std::borrow::Cow;
use std::ops::Range;

/// The first 8 bytes of every `.aot` file.
pub const MAGIC: [u8; 8] = *b"\0kilnaot";
/// The format version this crate reads and writes.
pub const FORMAT_VERSION: u32 = 1;
/// Size of the fixed header in bytes.
pub const HEADER_SIZE: usize = 48;
/// Size of one section-table entry in bytes.
pub const SECTION_ENTRY_SIZE: usize = 24;
/// Header flag: the file embeds the original wasm (section `WASM`).
pub const FLAG_HAS_WASM: u32 = 1;
/// Byte offset of the checksum field in the header.
pub const CHECKSUM_OFFSET: usize = 24;

/// Section ids (FORMAT.md, "Sections").
pub mod section {
    /// Compatibility record ([`super::Compat`]).
    pub const COMPAT: u32 = 1;
    /// Module metadata (`metadata.rs`).
    pub const METADATA: u32 = 2;
    /// Data segment bytes, referenced by the metadata's data ranges.
    pub const DATA: u32 = 3;
    /// Code entries, defined functions and per-type trampolines.
    pub const FUNCS: u32 = 4;
    /// Trap tables of all code entries.
    pub const TRAPS: u32 = 5;
    /// Relocations of all code entries.
    pub const RELOCS: u32 = 6;
    /// The original wasm binary (optional, [`super::FLAG_HAS_WASM`]).
    pub const WASM: u32 = 7;
    /// Machine code, at a page-aligned file offset.
    pub const TEXT: u32 = 8;

    /// The section's name for messages and `kiln inspect`.
    pub fn name(id: u32) -> &'static str {
        match id {
            COMPAT => "compat",
            METADATA => "metadata",
            DATA => "data",
            FUNCS => "funcs",
            TRAPS => "traps",
            RELOCS => "relocs",
            WASM => "wasm",
            TEXT => "text",
            _ => "unknown",
        }
    }
}

/// Cranelift optimisation level of the code (`aotc --opt-level`), recorded
/// in [`Compat`].
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum AotOptLevel {
    /// No optimisation (`none`): fastest compilation.
    None = 0,
    /// Optimise for speed (`speed`, the default; what the JIT uses).
    #[default]
    Speed = 1,
    /// Optimise for speed and size (`speed_and_size`).
    SpeedAndSize = 2,
}

impl std::str::FromStr for AotOptLevel {
    type Err = String;
    /// `none`, `speed` or `speed_and_size` (Cranelift's `opt_level` names).
    fn from_str(s: &str) -> Result<AotOptLevel, String> {
        Ok(match s {
            "none" => AotOptLevel::None,
            "speed" => AotOptLevel::Speed,
            "speed_and_size" => AotOptLevel::SpeedAndSize,
            _ => return Err(format!("unknown optimisation level `{s}` (expected none, speed or speed_and_size)")),
        })
    }
}

/// How the code bounds-checks linear memory (FORMAT.md, `compat`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum AotBounds {
    /// Every access compared with the current length.
    Explicit,
    /// Guard-region layout the code assumes: `reservation` bytes reserved
    /// per memory, then `guard` bytes of guard region.
    Guard { reservation: u64, guard: u64 },
}

/// The compatibility record: everything the code assumes about the
/// runtime that loads it (FORMAT.md, section `compat`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Compat {
    /// Version of kiln that wrote the file (`CARGO_PKG_VERSION`).
    pub kiln_version: String,
    /// The target triple the code was compiled for.
    pub target_triple: String,
    /// Architecture as Rust names it (`std::env::consts::ARCH`).
    pub arch: String,
    /// Operating system as Rust names it (`std::env::consts::OS`).
    pub os: String,
    /// Pointer size in bytes.
    pub pointer_bytes: u8,
    /// CPU features the code uses, by Rust's feature-detection names
    /// (`is_x86_feature_detected!`, `is_aarch64_feature_detected!`).
    pub cpu_features: Vec<String>,
    pub opt_level: AotOptLevel,
    pub bounds: AotBounds,
    /// Whether the code checks the store's epoch deadline.
    pub epoch_interruption: bool,
    /// wasmparser's `WasmFeatures` bits the module was validated with.
    pub wasm_features: u64,
    /// [`kiln_environ::vm::layout_fingerprint`] of the target.
    pub layout_fingerprint: u64,
    /// SHA-256 of the source wasm binary.
    pub wasm_sha256: [u8; 32],
    /// The code generator, e.g. `cranelift 0.135`.
    pub compiler: String,
}

impl Compat {
    fn encode(&self, w: &mut Writer) {
        w.str(&self.kiln_version);
        w.str(&self.target_triple);
        w.str(&self.arch);
        w.str(&self.os);
        w.u8(self.pointer_bytes);
        w.len32(self.cpu_features.len());
        for f in &self.cpu_features {
            w.str(f);
        }
        w.u8(self.opt_level as u8);
        match self.bounds {
            AotBounds::Explicit => {
                w.u8(0);
                w.u64(0);
                w.u64(0);
            }
            AotBounds::Guard { reservation, guard } => {
                w.u8(1);
                w.u64(reservation);
                w.u64(guard);
            }
        }
        w.u8(self.epoch_interruption as u8);
        w.u64(self.wasm_features);
        w.u64(self.layout_fingerprint);
        w.raw(&self.wasm_sha256);
        w.str(&self.compiler);
    }

    fn decode(r: &mut Reader<'_>) -> Result<Compat, AotError> {
        let kiln_version = r.str()?.to_string();
        let target_triple = r.str()?.to_string();
        let arch = r.str()?.to_string();
        let os = r.str()?.to_string();
        let pointer_bytes = r.u8()?;
        let n = r.count(4)?;
        let mut cpu_features = Vec::with_capacity(n);
        for _ in 0..n {
            cpu_features.push(r.str()?.to_string());
        }
        let opt_level = match r.u8()? {
            0 => AotOptLevel::None,
            1 => AotOptLevel::Speed,
            2 => AotOptLevel::SpeedAndSize,
            b => return Err(r.error(format!("optimisation level {b}"))),
        };
        let bounds = match (r.u8()?, r.u64()?, r.u64()?) {
            (0, _, _) => AotBounds::Explicit,
            (1, reservation, guard) => AotBounds::Guard { reservation, guard },
            (b, _, _) => return Err(r.error(format!("bounds-check kind {b}"))),
        };
        let epoch_interruption = r.bool()?;
        let wasm_features = r.u64()?;
        let layout_fingerprint = r.u64()?;
        let mut wasm_sha256 = [0u8; 32];
        wasm_sha256.copy_from_slice(r.take(32)?);
        let compiler = r.str()?.to_string();
        r.finish()?;
        Ok(Compat {
            kiln_version,
            target_triple,
            arch,
            os,
            pointer_bytes,
            cpu_features,
            opt_level,
            bounds,
            epoch_interruption,
            wasm_features,
            layout_fingerprint,
            wasm_sha256,
            compiler,
        })
    }
}

/// Everything [`write_aot`] puts in a file.
pub struct AotInput<'a> {
    pub compat: Compat,
    /// The module's metadata (ranges into `wasm`).
    pub info: &'a ModuleInfo,
    /// The source binary.
    pub wasm: &'a [u8],
    /// Whether to embed `wasm` (fallback recompilation; interpreter).
    pub embed_wasm: bool,
    /// The module's compiled code: every defined function in order in
    /// `defined`, and every trampoline its code refers to.
    pub module: &'a CompiledModule<'a>,
    /// File alignment of the text section: the largest page size of the
    /// target (4 KiB on x86-64, 64 KiB on AArch64).
    pub text_align: u32,
}

/// No trampoline for this type (the file's per-type trampoline table).
pub const NO_ENTRY: u32 = u32::MAX;

fn align_to(x: usize, a: usize) -> usize {
    x.next_multiple_of(a)
}

/// Writes an `.aot` file, the serialisation of `input.module`: lays out
/// the text, resolves PC-relative relocations between code entries, stores
/// the others as library-call or code-entry targets, encodes every section
/// and the checksum.
///
/// # Errors
/// [`AotError::Malformed`] if the input is inconsistent (an entry index or
/// relocation out of range, a PC-relative target out of reach, a
/// trampoline the module does not carry, an OSR entry, defined functions
/// out of order).
pub fn write_aot(input: &AotInput<'_>) -> Result<Vec<u8>, AotError> {
    let bad = |m: String| AotError::Malformed(m);
    let module = input.module;
    let n = module.code.len();
    // Text layout.
    let mut text: Vec<u8> = Vec::new();
    let mut starts = Vec::with_capacity(n);
    for (i, c) in module.code.iter().enumerate() {
        let align = c.alignment.max(1) as usize;
        if !align.is_power_of_two() || align > 4096 {
            return Err(bad(format!("code entry {i}: alignment {align}")));
        }
        if c.kind == CodeKind::OsrEntry {
            return Err(bad(format!("code entry {i}: an OSR entry (only tier-up makes them)")));
        }
        let start = align_to(text.len(), align);
        text.resize(start, 0);
        text.extend_from_slice(&c.code);
        starts.push(start);
    }
    if text.len() > u32::MAX as usize {
        return Err(bad("text larger than 4 GiB".into()));
    }
    // Relocations: PC-relative ones inside the text are resolved now.
    let mut traps = Writer::new();
    let mut relocs = Writer::new();
    let mut funcs = Writer::new();
    funcs.len32(n);
    let (mut ntraps, mut nrelocs) = (0u32, 0u32);
    for (i, c) in module.code.iter().enumerate() {
        let mut t = c.traps.to_vec();
        t.sort_by_key(|t| t.code_offset);
        let trap_start = ntraps;
        for t in &t {
            if t.code_offset as usize >= c.code.len() {
                return Err(bad(format!(
                    "code entry {i}: trap at {} outside its {} bytes",
                    t.code_offset,
                    c.code.len()
                )));
            }
            traps.u32(t.code_offset);
            traps.u8(t.code.to_u8());
            traps.raw(&[0; 3]);
            ntraps += 1;
        }
        let reloc_start = nrelocs;
        for r in c.relocs.iter() {
            if r.offset as u64 + r.kind.size() as u64 > c.code.len() as u64 {
                return Err(bad(format!("code entry {i}: relocation at {} outside the code", r.offset)));
            }
            let (tk, tv) = match (module.internal_target(r.target), r.target) {
                (Some(Ok(j)), _) if r.kind.is_pc_relative() => {
                    let target = starts[j as usize] as i64;
                    let site = (starts[i] + r.offset as usize) as i64;
                    patch_pc_relative(&mut text, site as usize, r.kind, target.wrapping_add(r.addend) - site)
                        .map_err(|e| bad(format!("code entry {i}: {e}")))?;
                    continue;
                }
                (Some(Ok(j)), _) => (1u8, j),
                (Some(Err(e)), _) => return Err(bad(format!("code entry {i}: {e}"))),
                (None, RelocTarget::LibCall(lc)) => (0u8, lc.to_u8() as u32),
                (None, other) => {
                    return Err(bad(format!(
                        "code entry {i}: relocation to {other:?}, which the module does not carry"
                    )));
                }
            };
            relocs.u32(r.offset);
            relocs.u8(r.kind as u8);
            relocs.u8(tk);
            relocs.u16(0);
            relocs.u32(tv);
            relocs.u32(0);
            relocs.i64(r.addend);
            nrelocs += 1;
        }
        funcs.u8(c.kind as u8);
        funcs.raw(&[0; 3]);
        funcs.u32(c.index);
        funcs.u32(starts[i] as u32);
        funcs.len32(c.code.len());
        funcs.u32(trap_start);
        funcs.u32(ntraps - trap_start);
        funcs.u32(reloc_start);
        funcs.u32(nrelocs - reloc_start);
    }
    funcs.len32(module.defined.len());
    for (d, e) in module.defined.iter().enumerate() {
        if e.func.index() != d {
            return Err(bad(format!("defined entry {d} is for defined function {}", e.func.0)));
        }
        funcs.u32(e.code);
        funcs.u32(e.array_to_wasm);
    }
    let ntypes = input.info.types.len();
    if module.type_trampolines.len() > ntypes {
        return Err(bad(format!("{} trampoline slots for {ntypes} types", module.type_trampolines.len())));
    }
    let type_trampolines = (0..ntypes).map(|t| module.type_trampolines.get(t).copied().flatten());
    funcs.len32(ntypes);
    for t in type_trampolines {
        funcs.u32(t.unwrap_or(NO_ENTRY));
    }

    // Metadata: data segments move to the DATA section; function bodies
    // point into the embedded wasm, or nowhere.
    let mut info = input.info.clone();
    let mut data = Vec::new();
    for seg in &mut info.data_segments {
        let bytes = input.wasm.get(seg.data.clone()).ok_or_else(|| bad("data segment outside the wasm".into()))?;
        let start = data.len();
        data.extend_from_slice(bytes);
        seg.data = start..data.len();
    }
    if !input.embed_wasm {
        for b in &mut info.function_bodies {
            b.range = 0..0;
        }
    }
    let mut meta = Writer::new();
    encode_module_info(&info, &mut meta);
    let mut compat = Writer::new();
    input.compat.encode(&mut compat);

    let mut sections: Vec<(u32, &[u8])> = vec![
        (section::COMPAT, &compat.buf),
        (section::METADATA, &meta.buf),
        (section::DATA, &data),
        (section::FUNCS, &funcs.buf),
        (section::TRAPS, &traps.buf),
        (section::RELOCS, &relocs.buf),
    ];
    if input.embed_wasm {
        sections.push((section::WASM, input.wasm));
    }
    sections.push((section::TEXT, &text));

    let text_align = (input.text_align.max(4096)) as usize;
    if !text_align.is_power_of_two() {
        return Err(bad(format!("text alignment {text_align}")));
    }
    let mut out = Writer::new();
    out.raw(&MAGIC);
    out.u32(FORMAT_VERSION);
    out.u32(if input.embed_wasm { FLAG_HAS_WASM } else { 0 });
    out.u64(0); // file length, patched below
    out.u32(0); // checksum, patched below
    out.len32(sections.len());
    out.u32(text_align as u32);
    out.u32(0);
    out.u64(0);
    debug_assert_eq!(out.len(), HEADER_SIZE);
    let table_at = out.len();
    out.raw(&vec![0u8; sections.len() * SECTION_ENTRY_SIZE]);
    let mut table = Vec::new();
    for (id, bytes) in &sections {
        if *id == section::TEXT {
            out.align(text_align);
        } else {
            out.align(8);
        }
        table.push((*id, out.len() as u64, bytes.len() as u64));
        out.raw(bytes);
    }
    let mut buf = out.buf;
    for (k, (id, off, len)) in table.into_iter().enumerate() {
        let at = table_at + k * SECTION_ENTRY_SIZE;
        buf[at..at + 4].copy_from_slice(&id.to_le_bytes());
        buf[at + 8..at + 16].copy_from_slice(&off.to_le_bytes());
        buf[at + 16..at + 24].copy_from_slice(&len.to_le_bytes());
    }
    let len = buf.len() as u64;
    buf[16..24].copy_from_slice(&len.to_le_bytes());
    let sum = checksum(&buf);
    buf[CHECKSUM_OFFSET..CHECKSUM_OFFSET + 4].copy_from_slice(&sum.to_le_bytes());
    Ok(buf)
}

/// Patches a PC-relative relocation with the displacement `delta`.
fn patch_pc_relative(text: &mut [u8], site: usize, kind: RelocKind, delta: i64) -> Result<(), String> {
    let word = text.get_mut(site..site + 4).ok_or("relocation outside the text")?;
    match kind {
        RelocKind::X86PCRel4 | RelocKind::X86CallPCRel4 => {
            let d = i32::try_from(delta).map_err(|_| format!("PC-relative displacement {delta} out of ±2 GiB"))?;
            word.copy_from_slice(&d.to_le_bytes());
        }
        RelocKind::Arm64Call => {
            if !kind.fits(delta) {
                return Err(format!("branch displacement {delta} out of ±128 MiB"));
            }
            let insn = u32::from_le_bytes(word.try_into().map_err(|_| "short word")?);
            let insn = (insn & !0x03ff_ffff) | (((delta >> 2) as u32) & 0x03ff_ffff);
            word.copy_from_slice(&insn.to_le_bytes());
        }
        RelocKind::Abs8 => return Err("absolute relocation is not PC-relative".into()),
    }
    Ok(())
}

/// The file checksum: CRC-32 (IEEE, `crc32fast`) of the whole file with
/// the 4 checksum bytes taken as zero. CRC-32 detects every error burst
/// of up to 32 bits, so any single corrupted byte.
pub fn checksum(file: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&file[..CHECKSUM_OFFSET.min(file.len())]);
    h.update(&[0; 4]);
    if file.len() > CHECKSUM_OFFSET + 4 {
        h.update(&file[CHECKSUM_OFFSET + 4..]);
    }
    h.finalize()
}

/// One code entry of a parsed file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CodeEntry {
    pub kind: CodeKind,
    /// Function index or module type index ([`CodeKind`]).
    pub index: u32,
    /// Byte range in the text section.
    pub text: (u32, u32),
    /// Range of its entries in [`AotFile::traps`].
    pub traps: (u32, u32),
    /// Range of its entries in [`AotFile::relocs`].
    pub relocs: (u32, u32),
}

impl CodeEntry {
    /// Byte range of the code in the text section.
    pub fn text_range(&self) -> Range<usize> {
        self.text.0 as usize..self.text.0 as usize + self.text.1 as usize
    }
    fn trap_range(&self) -> Range<usize> {
        self.traps.0 as usize..self.traps.0 as usize + self.traps.1 as usize
    }
    fn reloc_range(&self) -> Range<usize> {
        self.relocs.0 as usize..self.relocs.0 as usize + self.relocs.1 as usize
    }
}

/// A section as listed in the section table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SectionEntry {
    pub id: u32,
    /// Byte offset from the start of the file.
    pub offset: u64,
    pub len: u64,
}

/// A checked `.aot` file, borrowing its bytes.
#[derive(Debug)]
pub struct AotFile<'a> {
    /// Format version from the header.
    pub version: u32,
    /// Header flags ([`FLAG_HAS_WASM`]).
    pub flags: u32,
    /// File alignment of the text section.
    pub text_align: u32,
    pub sections: Vec<SectionEntry>,
    pub compat: Compat,
    /// Data segment bytes (the metadata's data ranges point here).
    pub data: &'a [u8],
    /// The embedded wasm, if any.
    pub wasm: Option<&'a [u8]>,
    /// The machine code.
    pub text: &'a [u8],
    /// Byte offset of the text in the file.
    pub text_offset: usize,
    pub code: Vec<CodeEntry>,
    /// For each defined function: (code entry, array→wasm trampoline entry).
    pub defined: Vec<(u32, u32)>,
    /// For each module type: its wasm→array trampoline entry, if any.
    pub type_trampolines: Vec<Option<u32>>,
    /// Trap tables of all entries; each entry's run is sorted.
    pub traps: Vec<TrapSite>,
    /// Relocations the loader applies.
    pub relocs: Vec<Relocation>,
    /// Bytes of the metadata section (decoded by [`AotFile::module_info`]).
    pub metadata: &'a [u8],
    /// The whole file.
    pub bytes: &'a [u8],
}

/// Reads just the header's format version and flags and checks the magic
/// (for messages about files that fail later checks).
pub fn peek_header(bytes: &[u8]) -> Result<(u32, u32), AotError> {
    if bytes.len() < MAGIC.len() || bytes[..MAGIC.len()] != MAGIC {
        return Err(AotError::NotAot);
    }
    if bytes.len() < HEADER_SIZE {
        return Err(AotError::Truncated(format!("{} bytes, shorter than the {HEADER_SIZE}-byte header", bytes.len())));
    }
    let mut r = Reader::new(&bytes[8..HEADER_SIZE], "header");
    Ok((r.u32()?, r.u32()?))
}

impl<'a> AotFile<'a> {
    /// Checks and indexes `bytes`: magic, format version, length,
    /// checksum, section table, compatibility record, code entries, trap
    /// tables and relocations (metadata is decoded by
    /// [`AotFile::module_info`]). Compatibility with the running host is
    /// not checked here ([`Compat`] is returned for the loader to check).
    ///
    /// # Errors
    /// [`AotError::NotAot`], [`AotError::Truncated`],
    /// [`AotError::Incompatible`] (format version), [`AotError::Corrupt`]
    /// (checksum), [`AotError::Malformed`] (anything out of bounds).
    pub fn parse(bytes: &'a [u8]) -> Result<AotFile<'a>, AotError> {
        let (version, flags) = peek_header(bytes)?;
        if version != FORMAT_VERSION {
            return Err(AotError::Incompatible {
                what: "format version",
                message: format!("the file has format version {version}, this runtime reads version {FORMAT_VERSION}"),
            });
        }
        let mut h = Reader::new(&bytes[16..HEADER_SIZE], "header");
        let file_len = h.u64()?;
        let sum = h.u32()?;
        let nsections = h.u32()? as usize;
        let text_align = h.u32()?;
        if file_len != bytes.len() as u64 {
            let e = format!("the header says {file_len} bytes, the file has {}", bytes.len());
            return Err(if (bytes.len() as u64) < file_len { AotError::Truncated(e) } else { AotError::Corrupt(e) });
        }
        let actual = checksum(bytes);
        if actual != sum {
            return Err(AotError::Corrupt(format!("checksum {actual:08x} does not match the header's {sum:08x}")));
        }
        if flags & !FLAG_HAS_WASM != 0 {
            return Err(AotError::Malformed(format!("unknown header flags {flags:#x}")));
        }
        if !text_align.is_power_of_two() || text_align < 4096 {
            return Err(AotError::Malformed(format!("text alignment {text_align}")));
        }
        let table = bytes
            .get(HEADER_SIZE..)
            .and_then(|t| t.get(..nsections.checked_mul(SECTION_ENTRY_SIZE)?))
            .ok_or_else(|| AotError::Malformed(format!("section table of {nsections} entries beyond the end")))?;
        let mut r = Reader::new(table, "section table");
        let mut sections = Vec::with_capacity(nsections);
        for _ in 0..nsections {
            let id = r.u32()?;
            let _reserved = r.u32()?;
            let offset = r.u64()?;
            let len = r.u64()?;
            if offset.checked_add(len).is_none_or(|end| end > file_len) {
                return Err(AotError::Malformed(format!(
                    "section {} at {offset} with {len} bytes extends beyond the {file_len}-byte file",
                    section::name(id)
                )));
            }
            if sections.iter().any(|s: &SectionEntry| s.id == id) {
                return Err(AotError::Malformed(format!("section {} appears twice", section::name(id))));
            }
            sections.push(SectionEntry { id, offset, len });
        }
        let get = |id: u32| -> Option<&'a [u8]> {
            let s = sections.iter().find(|s| s.id == id)?;
            bytes.get(s.offset as usize..(s.offset + s.len) as usize)
        };
        let need = |id: u32| get(id).ok_or_else(|| AotError::Malformed(format!("no {} section", section::name(id))));
        let compat = Compat::decode(&mut Reader::new(need(section::COMPAT)?, "compat section"))?;
        let data = need(section::DATA)?;
        let metadata = need(section::METADATA)?;
        let text = need(section::TEXT)?;
        let text_offset = sections.iter().find(|s| s.id == section::TEXT).map_or(0, |s| s.offset as usize);
        let wasm = get(section::WASM);
        if (flags & FLAG_HAS_WASM != 0) != wasm.is_some() {
            return Err(AotError::Malformed("the wasm flag and the wasm section disagree".into()));
        }

        // Trap tables.
        let mut r = Reader::new(need(section::TRAPS)?, "traps section");
        if !r.remaining().is_multiple_of(8) {
            return Err(r.error("length is not a multiple of 8"));
        }
        // The hot loop of loading (one entry per trap site): fixed-size
        // records read with `chunks_exact`, no per-field bounds checks.
        let mut traps = Vec::with_capacity(r.remaining() / 8);
        for (k, rec) in r.take(r.remaining())?.chunks_exact(8).enumerate() {
            let off = u32::from_le_bytes([rec[0], rec[1], rec[2], rec[3]]);
            let code = TrapCode::from_u8(rec[4])
                .ok_or_else(|| AotError::Malformed(format!("traps section entry {k}: trap code {}", rec[4])))?;
            traps.push(TrapSite { code_offset: off, code });
        }
        // Relocations.
        let mut r = Reader::new(need(section::RELOCS)?, "relocs section");
        if !r.remaining().is_multiple_of(24) {
            return Err(r.error("length is not a multiple of 24"));
        }
        let mut relocs = Vec::with_capacity(r.remaining() / 24);
        while !r.is_at_end() {
            let offset = r.u32()?;
            let kind = r.u8()?;
            let kind = RelocKind::from_u8(kind).ok_or_else(|| r.error(format!("relocation kind {kind}")))?;
            let tk = r.u8()?;
            r.u16()?;
            let tv = r.u32()?;
            r.u32()?;
            let addend = r.i64()?;
            let target = match tk {
                0 => RelocTarget::LibCall(
                    u8::try_from(tv)
                        .ok()
                        .and_then(LibCall::from_u8)
                        .ok_or_else(|| r.error(format!("library call {tv}")))?,
                ),
                1 => RelocTarget::Code(tv),
                _ => return Err(r.error(format!("relocation target kind {tk}"))),
            };
            relocs.push(Relocation { offset, kind, target, addend });
        }
        // Code entries.
        let mut r = Reader::new(need(section::FUNCS)?, "funcs section");
        let n = r.count(32)?;
        let mut code = Vec::with_capacity(n);
        for i in 0..n {
            let kind = r.u8()?;
            let kind = CodeKind::from_u8(kind)
                .filter(|k| *k != CodeKind::OsrEntry)
                .ok_or_else(|| r.error(format!("code entry {i}: kind {kind}")))?;
            r.take(3)?;
            let index = r.u32()?;
            let e = CodeEntry {
                kind,
                index,
                text: (r.u32()?, r.u32()?),
                traps: (r.u32()?, r.u32()?),
                relocs: (r.u32()?, r.u32()?),
            };
            let fail = |m: String| AotError::Malformed(format!("code entry {i}: {m}"));
            let end = e.text.0 as u64 + e.text.1 as u64;
            if end > text.len() as u64 {
                return Err(fail(format!("code {}..{end} outside the {}-byte text", e.text.0, text.len())));
            }
            // Its entry point would be the next entry's code, or past the
            // text (a page beyond the end of a mapped file).
            if e.text.1 == 0 {
                return Err(fail(format!("no code (0 bytes at {})", e.text.0)));
            }
            if e.traps.0 as u64 + e.traps.1 as u64 > traps.len() as u64 {
                return Err(fail(format!("trap entries {}+{} of {}", e.traps.0, e.traps.1, traps.len())));
            }
            if e.relocs.0 as u64 + e.relocs.1 as u64 > relocs.len() as u64 {
                return Err(fail(format!("relocations {}+{} of {}", e.relocs.0, e.relocs.1, relocs.len())));
            }
            // Sorted and in range: then the last offset bounds them all.
            let t = &traps[e.trap_range()];
            if !t.is_sorted_by_key(|t| t.code_offset) {
                return Err(fail("trap table not sorted".into()));
            }
            if let Some(off) = t.last().map(|t| t.code_offset).filter(|&off| off >= e.text.1) {
                return Err(fail(format!("trap site {off} outside its {} bytes", e.text.1)));
            }
            for rel in &relocs[e.reloc_range()] {
                if rel.offset as u64 + rel.kind.size() as u64 > e.text.1 as u64 {
                    return Err(fail(format!("relocation at {} outside its {} bytes", rel.offset, e.text.1)));
                }
                if let RelocTarget::Code(j) = rel.target
                    && j as usize >= n
                {
                    return Err(fail(format!("relocation to code entry {j} of {n}")));
                }
            }
            code.push(e);
        }
        // `what` names the referrer in the error (formatted only then).
        let entry_of = |r: &Reader<'_>, k: u32, want: CodeKind, what: &dyn Fn() -> String| -> Result<u32, AotError> {
            match code.get(k as usize) {
                Some(e) if e.kind == want => Ok(k),
                Some(e) => Err(r.error(format!("{}: entry {k} is a {:?}, not a {want:?}", what(), e.kind))),
                None => Err(r.error(format!("{}: entry {k} of {}", what(), code.len()))),
            }
        };
        let ndef = r.count(8)?;
        let mut defined = Vec::with_capacity(ndef);
        for d in 0..ndef {
            let f = r.u32()?;
            let t = r.u32()?;
            let f = entry_of(&r, f, CodeKind::Function, &|| format!("defined function {d}"))?;
            let t = entry_of(&r, t, CodeKind::ArrayToWasm, &|| format!("defined function {d}'s trampoline"))?;
            defined.push((f, t));
        }
        let ntypes = r.count(4)?;
        let mut type_trampolines = Vec::with_capacity(ntypes);
        for ty in 0..ntypes {
            let t = r.u32()?;
            type_trampolines.push(if t == NO_ENTRY {
                None
            } else {
                Some(entry_of(&r, t, CodeKind::WasmToArray, &|| format!("type {ty}'s trampoline"))?)
            });
        }
        r.finish()?;
        Ok(AotFile {
            version,
            flags,
            text_align,
            sections,
            compat,
            data,
            wasm,
            text,
            text_offset,
            code,
            defined,
            type_trampolines,
            traps,
            relocs,
            metadata,
            bytes,
        })
    }

    /// Decodes the module metadata and checks it against the code: one
    /// defined-function entry per defined function, whose code entry names
    /// that function; one trampoline slot per type; each array→wasm
    /// trampoline for the function's type.
    ///
    /// # Errors
    /// [`AotError::Malformed`].
    pub fn module_info(&self) -> Result<ModuleInfo, AotError> {
        let body_len = self.wasm.map_or(0, |w| w.len());
        let mut r = Reader::new(self.metadata, "metadata section");
        let info = decode_module_info(&mut r, self.data.len(), body_len)?;
        r.finish()?;
        let bad = |m: String| AotError::Malformed(m);
        if self.defined.len() != info.num_defined_funcs() as usize {
            return Err(bad(format!(
                "{} compiled functions for {} defined functions",
                self.defined.len(),
                info.num_defined_funcs()
            )));
        }
        if self.type_trampolines.len() != info.types.len() {
            return Err(bad(format!(
                "{} trampoline slots for {} types",
                self.type_trampolines.len(),
                info.types.len()
            )));
        }
        for (d, &(f, t)) in self.defined.iter().enumerate() {
            let fi = info.num_imported_funcs as usize + d;
            let ty = info.functions.get(fi).map(|t| t.0);
            let (fe, te) = (&self.code[f as usize], &self.code[t as usize]);
            // Trampolines are shared by structurally equal types.
            let same_type = ty.and_then(|ty| info.types.get(ty as usize)) == info.types.get(te.index as usize);
            if fe.index as usize != fi || ty.is_none() || !same_type {
                return Err(bad(format!(
                    "defined function {d}: code for function {} and trampoline for type {}",
                    fe.index, te.index
                )));
            }
        }
        for (ty, t) in self.type_trampolines.iter().enumerate() {
            if let Some(t) = t
                && info.types.get(self.code[*t as usize].index as usize) != info.types.get(ty)
            {
                return Err(bad(format!("type {ty}: trampoline for type {}", self.code[*t as usize].index)));
            }
        }
        Ok(info)
    }

    /// The trap table of code entry `i` (sorted by offset).
    pub fn entry_traps(&self, i: usize) -> &[TrapSite] {
        self.code.get(i).and_then(|e| self.traps.get(e.trap_range())).unwrap_or(&[])
    }

    /// The relocations of code entry `i`.
    pub fn entry_relocs(&self, i: usize) -> &[Relocation] {
        self.code.get(i).and_then(|e| self.relocs.get(e.reloc_range())).unwrap_or(&[])
    }

    /// The compiled-module model of the file's code, borrowing the code
    /// from the text and the trap sites and relocations from the file's
    /// decoded tables (nothing is copied): what the runtime's linker takes
    /// (`kiln_runtime::aot::load_code`). Relocation targets are library
    /// calls and code entries ([`RelocTarget::Code`]); the PC-relative
    /// ones between entries were resolved by [`write_aot`].
    pub fn compiled_module(&self) -> CompiledModule<'_> {
        let code = self
            .code
            .iter()
            .enumerate()
            .map(|(i, e)| CompiledCode {
                kind: e.kind,
                index: e.index,
                code: Cow::Borrowed(&self.text[e.text_range()]),
                // Already laid out in the text.
                alignment: 1,
                traps: Cow::Borrowed(self.entry_traps(i)),
                relocs: Cow::Borrowed(self.entry_relocs(i)),
            })
            .collect();
        let defined = self
            .defined
            .iter()
            .enumerate()
            .map(|(d, &(code, array_to_wasm))| DefinedEntry { func: DefinedFuncIndex(d as u32), code, array_to_wasm })
            .collect();
        CompiledModule { code, defined, type_trampolines: self.type_trampolines.clone() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_environ::WasmFeatureSet;

    /// `(module (func) (func (call 0)))`: two defined functions of type 0.
    const WASM: &[u8] = b"\0asm\x01\0\0\0\x01\x04\x01\x60\0\0\x03\x03\x02\0\0\x0a\x09\x02\x02\0\x0b\x04\0\x10\0\x0b";

    fn compat() -> Compat {
        Compat {
            kiln_version: "test".into(),
            target_triple: "x86_64-unknown-linux-gnu".into(),
            arch: "x86_64".into(),
            os: "linux".into(),
            pointer_bytes: 8,
            cpu_features: vec![],
            opt_level: AotOptLevel::Speed,
            bounds: AotBounds::Explicit,
            epoch_interruption: false,
            wasm_features: 0,
            layout_fingerprint: 0,
            wasm_sha256: [0; 32],
            compiler: "none".into(),
        }
    }

    fn entry(kind: CodeKind, index: u32, len: usize, relocs: Vec<Relocation>) -> CompiledCode<'static> {
        CompiledCode {
            kind,
            index,
            code: Cow::Owned((0..len as u8).collect()),
            alignment: 16,
            traps: vec![TrapSite { code_offset: 1, code: TrapCode::UnreachableCodeReached }].into(),
            relocs: relocs.into(),
        }
    }

    /// Function 1 calls function 0 (PC-relative, resolved by the writer),
    /// loads the address of the type's wasm→array trampoline (absolute,
    /// stored as a code entry) and calls a library call (stored).
    fn module() -> CompiledModule<'static> {
        let reloc = |offset, kind, target| Relocation { offset, kind, target, addend: -4 };
        let f1_relocs = vec![
            reloc(4, RelocKind::X86CallPCRel4, RelocTarget::Function(DefinedFuncIndex(0))),
            reloc(8, RelocKind::Abs8, RelocTarget::Trampoline(0)),
            reloc(16, RelocKind::X86CallPCRel4, RelocTarget::LibCall(LibCall::FloorF32)),
        ];
        CompiledModule {
            code: vec![
                entry(CodeKind::Function, 0, 8, vec![]),
                entry(CodeKind::Function, 1, 24, f1_relocs),
                entry(CodeKind::ArrayToWasm, 0, 8, vec![]),
                entry(CodeKind::WasmToArray, 0, 8, vec![]),
            ],
            defined: vec![
                DefinedEntry { func: DefinedFuncIndex(0), code: 0, array_to_wasm: 2 },
                DefinedEntry { func: DefinedFuncIndex(1), code: 1, array_to_wasm: 2 },
            ],
            type_trampolines: vec![Some(3)],
        }
    }

    fn write(module: &CompiledModule<'_>) -> Result<Vec<u8>, AotError> {
        let info = ModuleInfo::parse(WASM, WasmFeatureSet::wasm2()).unwrap();
        write_aot(&AotInput { compat: compat(), info: &info, wasm: WASM, embed_wasm: false, module, text_align: 4096 })
    }

    #[test]
    fn the_file_is_a_serialisation_of_the_compiled_module() {
        let m = module();
        let bytes = write(&m).unwrap();
        let file = AotFile::parse(&bytes).unwrap();
        file.module_info().unwrap();
        let back = file.compiled_module();
        assert_eq!(back.defined, m.defined);
        assert_eq!(back.type_trampolines, m.type_trampolines);
        assert_eq!(back.code.len(), m.code.len());
        for (i, (a, b)) in m.code.iter().zip(&back.code).enumerate() {
            assert_eq!((a.kind, a.index, &a.traps), (b.kind, b.index, &b.traps), "entry {i}");
            assert_eq!(b.code.len(), a.code.len(), "entry {i}");
            assert!(matches!(b.code, Cow::Borrowed(_)), "entry {i}: code borrowed from the text");
        }
        // The PC-relative call between entries is resolved in the text and
        // not stored; the others are stored, internal targets as entries.
        let f1 = &back.code[1];
        assert_eq!(
            f1.relocs,
            vec![
                Relocation { offset: 8, kind: RelocKind::Abs8, target: RelocTarget::Code(3), addend: -4 },
                Relocation {
                    offset: 16,
                    kind: RelocKind::X86CallPCRel4,
                    target: RelocTarget::LibCall(LibCall::FloorF32),
                    addend: -4
                },
            ]
        );
        let text_start = |i: usize| file.code[i].text.0 as i64;
        let delta = i32::from_le_bytes(f1.code[4..8].try_into().unwrap()) as i64;
        assert_eq!(delta, text_start(0) - 4 - (text_start(1) + 4), "call displacement to function 0");
        assert_eq!(&f1.code[..4], &m.code[1].code[..4], "bytes outside relocations are unchanged");
    }

    #[test]
    fn the_writer_refuses_what_a_file_cannot_hold() {
        let mut m = module();
        m.code[0].kind = CodeKind::OsrEntry;
        assert!(write(&m).unwrap_err().to_string().contains("OSR entry"));

        let mut m = module();
        m.type_trampolines = vec![None];
        let e = write(&m).unwrap_err().to_string();
        assert!(e.contains("Trampoline(0)") && e.contains("does not carry"), "{e}");

        let mut m = module();
        m.defined.swap(0, 1);
        assert!(write(&m).unwrap_err().to_string().contains("defined entry 0 is for defined function 1"));

        let mut m = module();
        m.code[1].relocs.to_mut()[0].target = RelocTarget::Function(DefinedFuncIndex(5));
        assert!(write(&m).unwrap_err().to_string().contains("defined function 5 outside the batch"));

        let mut m = module();
        m.type_trampolines = vec![Some(3), None];
        assert!(write(&m).unwrap_err().to_string().contains("2 trampoline slots for 1 types"));
    }
}
