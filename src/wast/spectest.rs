//! The `spectest` host module that the spec test suite imports from.
//!
//! Its contents follow the reference interpreter's `spectest` module
//! (`WebAssembly/spec`, `interpreter/host/spectest.ml`):
//!
//! | name | kind |
//! | --- | --- |
//! | `print`, `print_i32`, `print_i64`, `print_f32`, `print_f64`, `print_i32_f32`, `print_f64_f64` | functions returning nothing |
//! | `global_i32`, `global_i64` | immutable globals, value 666 |
//! | `global_f32`, `global_f64` | immutable globals, value 666.6 |
//! | `table` | funcref table, 10 elements minimum, 20 maximum |
//! | `memory` | memory of 1 page (64 KiB) minimum, 2 pages maximum |

use crate::Ref;
use crate::{
    Global, GlobalType, Linker, Memory, MemoryType, Mutability, RefType, Result, Store, Table, TableType, Val, ValType,
};

/// The module name the spec suite imports these items from.
pub const MODULE: &str = "spectest";

/// Defines every `spectest` item in `linker`, creating the globals, the
/// table and the memory in `store`.
///
/// When `verbose` is true the print functions write their arguments to
/// stdout like the reference interpreter (`42 : i32`, one line per value);
/// otherwise they do nothing.
///
/// # Errors
/// Returns the error of [`Linker::func_wrap`], [`Linker::define`] or of
/// creating a global, table or memory in `store` (none is expected with a
/// freshly created linker).
pub fn define(linker: &mut Linker<()>, store: &mut Store<()>, verbose: bool) -> Result<()> {
    linker.func_wrap(MODULE, "print", move || {
        if verbose {
            println!();
        }
    })?;
    linker.func_wrap(MODULE, "print_i32", move |v: i32| {
        if verbose {
            println!("{v} : i32");
        }
    })?;
    linker.func_wrap(MODULE, "print_i64", move |v: i64| {
        if verbose {
            println!("{v} : i64");
        }
    })?;
    linker.func_wrap(MODULE, "print_f32", move |v: f32| {
        if verbose {
            println!("{v:?} : f32");
        }
    })?;
    linker.func_wrap(MODULE, "print_f64", move |v: f64| {
        if verbose {
            println!("{v:?} : f64");
        }
    })?;
    linker.func_wrap(MODULE, "print_i32_f32", move |a: i32, b: f32| {
        if verbose {
            println!("{a} : i32");
            println!("{b:?} : f32");
        }
    })?;
    linker.func_wrap(MODULE, "print_f64_f64", move |a: f64, b: f64| {
        if verbose {
            println!("{a:?} : f64");
            println!("{b:?} : f64");
        }
    })?;

    let globals = [
        ("global_i32", ValType::I32, Val::I32(666)),
        ("global_i64", ValType::I64, Val::I64(666)),
        ("global_f32", ValType::F32, Val::F32(666.6f32.to_bits())),
        ("global_f64", ValType::F64, Val::F64(666.6f64.to_bits())),
    ];
    for (name, ty, value) in globals {
        let global = Global::new(&mut *store, GlobalType::new(ty, Mutability::Const), value)?;
        linker.define(&*store, MODULE, name, global)?;
    }

    let table = Table::new(&mut *store, TableType::new(RefType::FuncRef, 10, Some(20)), Ref::Func(None))?;
    linker.define(&*store, MODULE, "table", table)?;

    let memory = Memory::new(&mut *store, MemoryType::new(1, Some(2)))?;
    linker.define(&*store, MODULE, "memory", memory)?;
    Ok(())
}
