//! The interpreter's stack of one store: value slots and frame records.
//!
//! The store owns it ([`crate::store::StoreOpaque::interp`]) and the
//! interpreter (`crate::interp::exec`) runs on it: each activation's frames
//! live in its slots (the layout is in [`crate::interp::code`]) and each
//! interpreted wasm→wasm call pushes a `Frame` record instead of
//! recursing on the host stack. It is data only, so the store holds it
//! without depending on the interpreter.

use crate::instance::Instance;
use crate::interp::code::{InterpFunc, Op};
use crate::tier::HotCounters;

/// A caller's state saved across a wasm→wasm call.
#[derive(Clone, Copy)]
pub(crate) struct Frame {
    pub func: *const InterpFunc,
    pub inst: *mut Instance,
    pub pc: *const Op,
    pub fp: *mut u64,
    pub func_index: u32,
    /// The caller's instance-local hotness budget.
    pub hot: *mut HotCounters,
}

/// The interpreter's stack of one store: value slots and frame records,
/// shared by nested activations (each starts above the previous one's top).
pub struct InterpStack {
    slots: Box<[u64]>,
    pub(crate) frames: Vec<Frame>,
    /// First free slot for a new activation.
    pub(crate) top: usize,
    pub(crate) max_frames: usize,
    max_slots: usize,
}

// SAFETY: the raw pointers in `frames` point into the owning store (its
// instances and this stack), which moves between threads as a whole.
unsafe impl Send for InterpStack {}

impl InterpStack {
    /// A stack allowing `max_wasm_stack` bytes of interpreter frames.
    pub fn new(max_wasm_stack: usize) -> InterpStack {
        InterpStack {
            slots: Box::new([]),
            frames: Vec::new(),
            top: 0,
            // A frame costs at least its 40-byte record and one slot.
            max_frames: (max_wasm_stack / 48).max(16),
            max_slots: (max_wasm_stack / 8).max(1024),
        }
    }

    pub(crate) fn base(&mut self) -> *mut u64 {
        self.slots.as_mut_ptr()
    }

    pub(crate) fn end(&mut self) -> *mut u64 {
        // SAFETY: one past the end of the slot array.
        unsafe { self.slots.as_mut_ptr().add(self.slots.len()) }
    }

    /// Slots in all (0 until the first activation allocates them).
    pub(crate) fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Allocates the slots at the first activation.
    pub(crate) fn ensure_allocated(&mut self) {
        if self.slots.is_empty() {
            // Zeroed allocation: pages are only touched when used.
            self.slots = vec![0u64; self.max_slots].into_boxed_slice();
        }
    }
}
