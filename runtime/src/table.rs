//! Tables (spec §4.2.7 "Table Instances"): pointer-sized elements, null
//! for `ref.null`. A funcref element is a `*const VMFuncRef`, an externref
//! element a pointer to the store's externref record.

use kiln_environ::TableType;
use kiln_environ::vm::VMTableDefinition;

/// Hard cap on table size, so a guest cannot make the host allocate
/// without bound: `table.grow` beyond it fails with -1.
pub const MAX_TABLE_ELEMENTS: u64 = 10_000_000;

/// A table. Its [`VMTableDefinition`] sits at a stable address (the table
/// is boxed by the store) and is updated whenever the elements move.
pub struct Table {
    def: VMTableDefinition,
    elements: Vec<usize>,
    ty: TableType,
}

// SAFETY: the definition points into `elements`, owned by this table;
// mutation needs `&mut` through the owning store.
unsafe impl Send for Table {}
// SAFETY: as above.
unsafe impl Sync for Table {}

impl Table {
    /// Creates a table of `ty` with its minimum size, filled with `init`.
    ///
    /// # Errors
    /// When the minimum size is beyond [`MAX_TABLE_ELEMENTS`].
    pub fn new(ty: TableType, init: usize) -> Result<Box<Table>, String> {
        if ty.limits.min > MAX_TABLE_ELEMENTS {
            return Err(format!(
                "table minimum of {} elements exceeds kiln's limit of {MAX_TABLE_ELEMENTS}",
                ty.limits.min
            ));
        }
        let mut t = Box::new(Table {
            def: VMTableDefinition { base: core::ptr::null_mut(), current_elements: 0 },
            elements: vec![init; ty.limits.min as usize],
            ty,
        });
        t.sync();
        Ok(t)
    }

    fn sync(&mut self) {
        self.def.base = self.elements.as_mut_ptr();
        self.def.current_elements = self.elements.len();
    }

    /// The table's declared type.
    pub fn ty(&self) -> TableType {
        self.ty
    }
    /// Pointer to the definition VMContexts refer to.
    pub fn definition(&mut self) -> *mut VMTableDefinition {
        &mut self.def
    }
    /// Current number of elements.
    pub fn len(&self) -> u64 {
        self.elements.len() as u64
    }
    /// Whether the table has no elements.
    pub fn is_empty(&self) -> bool {
        self.elements.is_empty()
    }
    /// The elements.
    pub fn elements(&self) -> &[usize] {
        &self.elements
    }
    /// The elements, mutably (the length cannot change through this).
    pub fn elements_mut(&mut self) -> &mut [usize] {
        &mut self.elements
    }

    /// Grows by `delta` elements set to `init` (spec §4.4.6 `table.grow`).
    /// Returns the old size, or `None` (the guest sees -1) when the new size
    /// exceeds the table's maximum or [`MAX_TABLE_ELEMENTS`], or the
    /// allocation fails; the table is then unchanged.
    pub fn grow(&mut self, delta: u64, init: usize) -> Option<u64> {
        let old = self.len();
        let new = old.checked_add(delta)?;
        if new > self.ty.max_elements() || new > MAX_TABLE_ELEMENTS {
            return None;
        }
        self.elements.try_reserve(delta as usize).ok()?;
        self.elements.resize(new as usize, init);
        self.sync();
        Some(old)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_environ::{Limits, WasmValType};

    #[test]
    fn grow_respects_max_and_updates_definition() {
        let ty = TableType { element: WasmValType::FuncRef, limits: Limits { min: 2, max: Some(5) }, table64: false };
        let mut t = Table::new(ty, 0).unwrap();
        assert_eq!(t.grow(3, 9), Some(2));
        let def = t.definition();
        // SAFETY: `def` points into the live table.
        let (base, n) = unsafe { ((*def).base, (*def).current_elements) };
        assert_eq!(n, 5);
        assert_eq!(base as *const usize, t.elements().as_ptr());
        assert_eq!(t.elements(), &[0, 0, 9, 9, 9]);
        assert_eq!(t.grow(1, 0), None);
        assert_eq!(t.grow(u64::MAX, 0), None);
    }
}
