//! The runtime's module layering (ARCHITECTURE.md, "Layers of the
//! runtime"), checked on its sources.
//!
//! Every module of `runtime/src` belongs to one layer, and a module refers
//! (by a `crate::` or `super::` path, in code or in a `use`) only to modules
//! of its own layer or of layers below it. So the runtime core (store,
//! instance, module, tables, …) never names an executing tier, and there is
//! no import cycle between the core and the tiers: a cycle would need an
//! edge from a lower layer to a higher one. Cycles inside one layer (a
//! store owns its instances and each instance points to its store) are
//! allowed. Comments and inline `mod tests` are not dependencies.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, lowest first. A name ending in `::*` stands for the module
/// and all its submodules.
const LAYERS: &[(&str, &[&str])] = &[
    (
        "leaves and code objects",
        &["error", "memory", "table", "stack", "code_memory", "traphandlers", "native_code", "interp::code"],
    ),
    ("core", &["tier", "module", "instance", "store", "host", "libcalls", "builtins", "interp_stack"]),
    (
        "tiers",
        &[
            "interp",
            "interp::exec",
            "interp::handlers",
            "interp::ops",
            "interp::assemble",
            "interp::translate",
            "native",
        ],
    ),
    ("loaders, host APIs and composition", &["aot", "wasi::*", "lib"]),
];

/// The layer of module `m`.
fn layer_of(m: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, mods)| {
        mods.iter().any(|p| match p.strip_suffix("::*") {
            Some(prefix) => m == prefix || m.starts_with(&format!("{prefix}::")),
            None => m == *p,
        })
    })
}

/// Every `.rs` file under `dir`, with its module path (`interp::exec`).
fn modules(src: &Path) -> Vec<(String, PathBuf)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(src, &mut files);
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let rel = p.strip_prefix(src).unwrap().with_extension("");
            let mut parts: Vec<String> = rel.iter().map(|c| c.to_string_lossy().into_owned()).collect();
            if parts.last().is_some_and(|l| l == "mod") {
                parts.pop();
            }
            (parts.join("::"), p)
        })
        .collect()
}

/// `text` without comments and string contents (so that neither a doc
/// link nor a message counts as a dependency).
fn code_only(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i..].starts_with(b"/*") {
            let end = text[i + 2..].find("*/").map_or(b.len(), |e| i + 2 + e + 2);
            i = end;
        } else if b[i] == b'"' && (i == 0 || b[i - 1] != b'\'') {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else {
            let c = text[i..].chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// `code` without its inline `mod tests { … }` blocks.
fn without_tests(code: &str) -> String {
    let mut out = code.to_string();
    while let Some(start) = out.find("mod tests {") {
        let body = start + "mod tests ".len();
        let mut depth = 0;
        let mut end = out.len();
        for (k, c) in out[body..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = body + k + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        out.replace_range(start..end, "");
    }
    out
}

/// The paths after each `prefix` (`crate::`, `super::`) in `code`, as
/// segments, expanded over `{a, b::c}` groups, with the offset of the
/// prefix.
fn paths(code: &str, prefix: &str) -> Vec<(usize, Vec<String>)> {
    fn ident_end(s: &str) -> usize {
        s.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(s.len())
    }
    // Parses `seg::seg::{…}` at `s`, pushing each full path.
    fn parse(s: &str, at: Vec<String>, out: &mut Vec<Vec<String>>) {
        let s = s.trim_start();
        if let Some(rest) = s.strip_prefix('{') {
            let mut depth = 0;
            let mut item = String::new();
            for c in rest.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        parse(&std::mem::take(&mut item), at.clone(), out);
                        continue;
                    }
                    _ => {}
                }
                item.push(c);
            }
            parse(&item, at, out);
            return;
        }
        let n = ident_end(s);
        if n == 0 {
            if !at.is_empty() {
                out.push(at);
            }
            return;
        }
        let mut at = at;
        at.push(s[..n].to_string());
        match s[n..].strip_prefix("::") {
            Some(rest) => parse(rest, at, out),
            None => out.push(at),
        }
    }
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(k) = code[from..].find(prefix) {
        let at = from + k;
        from = at + prefix.len();
        let before = code[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        let mut out = Vec::new();
        parse(&code[from..], Vec::new(), &mut out);
        found.extend(out.into_iter().map(|p| (at, p)));
    }
    found
}

/// Whether byte offset `at` of `code` is inside an inline `mod name { … }`.
fn in_inline_mod(code: &str, at: usize) -> bool {
    let mut stack: Vec<i32> = Vec::new();
    let mut depth = 0;
    let mut pending_mod = false;
    let mut word = String::new();
    for (k, c) in code.char_indices() {
        if k >= at {
            break;
        }
        if c.is_alphanumeric() || c == '_' {
            word.push(c);
            continue;
        }
        if word == "mod" {
            pending_mod = true;
        }
        word.clear();
        match c {
            ';' => pending_mod = false,
            '{' => {
                depth += 1;
                if pending_mod {
                    stack.push(depth);
                    pending_mod = false;
                }
            }
            '}' => {
                if stack.last() == Some(&depth) {
                    stack.pop();
                }
                depth -= 1;
            }
            _ => {}
        }
    }
    !stack.is_empty()
}

/// The longest module in `known` that `path` (segments from the crate
/// root) names.
fn resolve(path: &[String], known: &BTreeSet<String>) -> Option<String> {
    (1..=path.len()).rev().map(|n| path[..n].join("::")).find(|m| known.contains(m))
}

/// Module → the other modules of the crate it refers to.
fn dependencies() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mods = modules(&src);
    let known: BTreeSet<String> = mods.iter().map(|(m, _)| m.clone()).collect();
    let mut deps = BTreeMap::new();
    for (m, file) in &mods {
        let code = without_tests(&code_only(&std::fs::read_to_string(file).unwrap()));
        let mut to = BTreeSet::new();
        for (_, p) in paths(&code, "crate::") {
            to.extend(resolve(&p, &known));
        }
        let segs: Vec<String> = if m == "lib" { Vec::new() } else { m.split("::").map(String::from).collect() };
        for (at, p) in paths(&code, "super::") {
            // `super` of an inline module is this file's module; otherwise
            // the file module's parent (for `dir/mod.rs`, module `dir`, the
            // crate root).
            let mut base = segs.clone();
            if !in_inline_mod(&code, at) {
                base.pop();
            }
            let mut full = base;
            full.extend(p);
            to.extend(resolve(&full, &known));
        }
        to.remove(m);
        to.remove("lib");
        deps.insert(m.clone(), to);
    }
    deps
}

#[test]
fn every_runtime_module_has_a_layer() {
    let unplaced: Vec<String> = dependencies().into_keys().filter(|m| layer_of(m).is_none()).collect();
    assert!(unplaced.is_empty(), "modules without a layer (add them to LAYERS and ARCHITECTURE.md): {unplaced:?}");
}

#[test]
fn modules_refer_only_to_their_layer_or_below() {
    let mut upward = Vec::new();
    for (m, to) in dependencies() {
        let Some(l) = layer_of(&m) else { continue };
        for t in to {
            if let Some(lt) = layer_of(&t)
                && lt > l
            {
                upward.push(format!("{m} ({}) -> {t} ({})", LAYERS[l].0, LAYERS[lt].0));
            }
        }
    }
    assert!(upward.is_empty(), "references from a lower layer to a higher one:\n{}", upward.join("\n"));
}

#[test]
fn the_parser_sees_the_dependencies_it_must_see() {
    let deps = dependencies();
    // Known edges of each kind of path: a `use crate::a::B`, a group, a
    // `super::` path in a directory module's file, an expression path.
    assert!(deps["store"].contains("instance"), "{:?}", deps["store"]);
    assert!(deps["interp::exec"].contains("interp::code"), "{:?}", deps["interp::exec"]);
    assert!(deps["interp::exec"].contains("instance"), "{:?}", deps["interp::exec"]);
    assert!(deps["native"].contains("traphandlers"), "{:?}", deps["native"]);
    assert!(deps["instance"].contains("interp::code"), "{:?}", deps["instance"]);
    // And the checker would catch the edge it exists for.
    let code = code_only("use crate::interp::exec::State; // crate::native\n/// [`crate::tier`]\n");
    let known: BTreeSet<String> = ["interp", "interp::exec", "native", "tier"].map(String::from).into();
    let found: Vec<_> = paths(&code, "crate::").into_iter().filter_map(|(_, p)| resolve(&p, &known)).collect();
    assert_eq!(found, ["interp::exec"]);
    assert!(layer_of("interp::exec") > layer_of("instance"));
    let grouped = paths("use crate::{error::{Error, Result}, store::StoreOpaque};", "crate::");
    let grouped: Vec<String> = grouped.into_iter().map(|(_, p)| p.join("::")).collect();
    assert_eq!(grouped, ["error::Error", "error::Result", "store::StoreOpaque"]);
}
