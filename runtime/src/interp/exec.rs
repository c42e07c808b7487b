//! The interpreter's execution: handler-threaded code with two dispatch
//! backends chosen at build time (`build.rs`).
//!
//! Every [`Op`] names its handler. A handler does its work and continues
//! with `next!`:
//!
//! * **tail-call backend** (`kiln_tail_calls`, optimised builds on x86_64 and
//!   aarch64): `next!` tail-calls the next op's handler, so each handler ends
//!   in its own indirect jump (good branch prediction, as in wasm3 and wasmi
//!   2.0) and `pc`, `fp`, memory base and length stay in argument registers.
//!   Should LLVM ever not turn a call into a jump, host stack would grow; so
//!   every [`CHECK_INTERVAL`] back-edges or calls (the only way to run
//!   unboundedly) the threaded code returns to the dispatch loop, which
//!   unwinds it all. A missed tail call costs speed, never a crash.
//! * **loop backend**: `next!` saves the registers in [`State`] and returns
//!   to the dispatch loop in [`run`].
//!
//! Wasm→wasm calls between interpreted functions push a [`Frame`] record
//! instead of recursing on the host stack, so guest recursion depth is
//! bounded by kiln's own limits and ends in the "call stack exhausted" trap.
//! Calls to any other callee (host functions, later native code) go through
//! the callee's array-call entry.
//!
//! Safety rests on invariants the translator establishes for validated
//! code: every slot an op names is below its function's `frame_size`, every
//! branch target is inside the code, every frame fits the interpreter stack
//! (checked at each call), and `mb`/`ml` always describe memory 0 of the
//! current instance (reloaded after anything that can change it: calls,
//! returns, `memory.grow`).

use super::code::{InterpFunc, Op, OsrPoint, OsrValue};
use crate::error::{FrameInfo, Trap};
use crate::instance::Instance;
use crate::interp_stack::{Frame, InterpStack};
use crate::store::StoreOpaque;
use crate::tier::HotCounters;
use kiln_environ::DefinedFuncIndex;
use kiln_environ::TrapCode;
use kiln_environ::vm::VMStoreContext;
use kiln_environ::vm::{VMFuncRef, ValRaw};
use std::sync::atomic::{AtomicU64, Ordering};

/// A handler: executes the [`Op`] at `pc` on the frame at `fp`, with
/// memory 0's base `mb` and length `ml` in registers, then continues with
/// the next op.
///
/// # Safety
/// `pc` points into the code of the function whose frame is at `fp`, the
/// frame has the function's `frame_size` slots, `mb`/`ml` describe memory
/// 0 of `st`'s current instance, and `st` is the running activation.
pub(crate) type Handler = unsafe fn(*const Op, *mut u64, &mut State, *mut u8, usize) -> Exit;

impl Op {
    /// An op running `handler` with operand words `a`..`d`.
    #[inline(always)]
    pub(crate) fn new(handler: Handler, a: u32, b: u32, c: u32, d: u32) -> Op {
        Op { handler: handler as *const (), a, b, c, d }
    }

    /// The op's handler.
    #[inline(always)]
    pub(crate) fn handler(&self) -> Handler {
        // SAFETY: `handler` only ever holds a `Handler` (`Op::new` is the
        // only constructor), and a function pointer round-trips through
        // `*const ()` unchanged.
        unsafe { core::mem::transmute::<*const (), Handler>(self.handler) }
    }
}

/// How a handler left the threaded code.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub(crate) enum Exit {
    /// Resume at the registers saved in [`State`].
    Continue,
    /// The activation's function returned.
    Return,
    /// A trap; the code is in [`State::trap`].
    Trap,
    /// A callee failed; the error is the store's pending error.
    Pending,
}

/// Why execution stopped early.
pub(crate) enum Unwind {
    /// Guest code trapped.
    Trap(Trap),
    /// A callee failed; the error is in the store's pending error.
    Pending,
}

impl From<TrapCode> for Unwind {
    fn from(c: TrapCode) -> Self {
        Unwind::Trap(Trap::new(c))
    }
}

/// The state of one activation that does not live in registers.
pub(crate) struct State {
    pub stack: *mut InterpStack,
    pub inst: *mut Instance,
    pub func: *const InterpFunc,
    pub func_index: u32,
    pub frames_base: usize,
    pub max_frames: usize,
    pub stack_end: *mut u64,
    /// Registers saved when leaving the threaded code.
    pub pc: *const Op,
    pub fp: *mut u64,
    pub mb: *mut u8,
    pub ml: usize,
    pub trap: TrapCode,
    /// The engine's epoch counter and this store's deadline (refreshed
    /// after host calls, the only place it can change during a run).
    pub epoch: *const AtomicU64,
    pub deadline: u64,
    pub vmstore: *const VMStoreContext,
    /// Calls left before the next checkpoint ([`CHECK_INTERVAL`]); loop
    /// back-edges are paced by the hotness count instead.
    pub budget: u32,
    /// The current function's instance-local hotness budget.
    pub hot: *mut HotCounters,
    /// Host stack address below which a call returns to the dispatch loop
    /// (see `call_funcref`).
    pub sp_floor: usize,
    /// The current function's frame is already in the pending error's
    /// backtrace (it was handed over to native code by OSR).
    pub current_reported: bool,
}

/// Calls (or back-edges of one function) between two checkpoints, which
/// check the epoch deadline and return to the dispatch loop: an interrupted
/// guest stops within this many iterations or calls.
pub(crate) const CHECK_INTERVAL: u32 = crate::tier::EDGE_CHUNK;

impl State {
    #[inline(always)]
    pub(crate) fn save(&mut self, pc: *const Op, fp: *mut u64, mb: *mut u8, ml: usize) {
        self.pc = pc;
        self.fp = fp;
        self.mb = mb;
        self.ml = ml;
    }
}

/// Continues with the op at `pc`: a tail call in the tail-call backend, a
/// return to the dispatch loop otherwise.
macro_rules! next {
    ($pc:expr, $fp:expr, $st:expr, $mb:expr, $ml:expr) => {{
        let p: *const Op = $pc;
        #[cfg(kiln_tail_calls)]
        {
            return (*p).handler()(p, $fp, $st, $mb, $ml);
        }
        #[cfg(not(kiln_tail_calls))]
        {
            $st.save(p, $fp, $mb, $ml);
            return Exit::Continue;
        }
    }};
}
pub(crate) use next;

/// Whether the epoch deadline has passed (checked at back-edges and calls).
#[inline(always)]
pub(crate) fn interrupted(st: &State) -> bool {
    // SAFETY: the epoch counter outlives every store of its engine.
    unsafe { (*st.epoch).load(Ordering::Relaxed) >= st.deadline }
}

/// Charges a function entry against the instance's budget.
#[inline(always)]
pub(crate) fn charge(st: &mut State) {
    // SAFETY: `hot` points into the current instance's counters, which
    // live as long as the instance; only this thread uses them.
    unsafe {
        (*st.hot).entries -= 1;
        if (*st.hot).entries <= 0 {
            entries_spent(st);
        }
    }
}

/// Charges a loop back-edge to `pc`. When the instance's chunk of the
/// budget is spent (every [`CHECK_INTERVAL`] back-edges at most), the slow
/// path adds it to the module-wide count, may queue the function for
/// tier-up or hand the frame over to an OSR entry, and runs
/// [`checkpoint`]; so a loop carries a single counter update.
#[inline(always)]
pub(crate) fn back_edge(pc: *const Op, fp: *mut u64, st: &mut State, mb: *mut u8, ml: usize) -> Option<Exit> {
    // SAFETY: as in `charge`.
    unsafe {
        (*st.hot).edges -= 1;
        if (*st.hot).edges <= 0 {
            return Some(edges_spent(pc, fp, st, mb, ml));
        }
    }
    None
}

/// The current function's module and defined index.
///
/// # Safety
/// `st.inst` is live and `st.func_index` is one of its defined functions.
#[inline(always)]
unsafe fn current_def(st: &State) -> (&'static std::sync::Arc<crate::module::RuntimeModule>, DefinedFuncIndex) {
    // SAFETY: per the contract; the instance (and its module) outlive the
    // activation, which is all the returned reference is used for.
    unsafe {
        let module: &'static std::sync::Arc<crate::module::RuntimeModule> = (*st.inst).module();
        (module, DefinedFuncIndex(st.func_index - module.info.num_imported_funcs))
    }
}

#[cold]
#[inline(never)]
fn entries_spent(st: &mut State) {
    // SAFETY: the running function, its instance and counters are live.
    unsafe {
        let (module, def) = current_def(st);
        module.tier(def).entries_spent(module, def, &mut *st.hot);
    }
}

#[cold]
#[inline(never)]
fn edges_spent(to: *const Op, fp: *mut u64, st: &mut State, mb: *mut u8, ml: usize) -> Exit {
    // SAFETY: the running function, its instance and counters are live;
    // `to` is a loop header of the running function.
    unsafe {
        let (module, def) = current_def(st);
        let func = &*st.func;
        let at = to.offset_from(func.ops.as_ptr()) as u32;
        let osr = module.tier(def).back_edges_spent(module, def, &mut *st.hot, || func.osr_point(at));
        if let Some(((k, point), entry)) = osr
            && !interrupted(st)
            && let Some(exit) = osr_transfer(fp, st, k, point, entry)
        {
            return exit;
        }
        checkpoint(to, fp, st, mb, ml)
    }
}

/// Hands the frame at `fp`, stopped at the loop header of `point` (loop
/// `k` of the function's OSR entry), to the compiled OSR entry `entry`:
/// its locals and operand stack go into an array above the frame, the entry runs the rest of the function and
/// leaves the results there, and the frame returns them. `None` if the
/// interpreter stack has no room for the array (the frame goes on
/// interpreting).
///
/// # Safety
/// The handler contract; `entry` is a published [`crate::tier::OsrEntryFn`]
/// of the running function at `point`.
#[cold]
#[inline(never)]
unsafe fn osr_transfer(fp: *mut u64, st: &mut State, k: usize, point: &OsrPoint, entry: *mut u8) -> Option<Exit> {
    // SAFETY: per the contract; the array is bounds-checked against the
    // interpreter stack's end before it is written.
    unsafe {
        let func = &*st.func;
        let locals = func.locals as usize;
        let nresults = (*st.inst).func_type(st.func_index).results.len();
        let len = (locals + point.stack.len()).max(nresults).max(1);
        let buf = fp.add(func.frame_size as usize);
        if buf.add(len) > st.stack_end {
            return None;
        }
        core::ptr::copy_nonoverlapping(fp, buf, locals);
        for (i, v) in point.stack.iter().enumerate() {
            *buf.add(locals + i) = match *v {
                OsrValue::Slot(s) => *fp.add(s as usize),
                OsrValue::Const(bits) => bits,
            };
        }
        let (module, def) = current_def(st);
        module.tier(def).osr_entries.fetch_add(1, Ordering::Relaxed);
        let stack = &mut *st.stack;
        let saved_top = stack.top;
        stack.top = buf.add(len).offset_from(stack.base()) as usize;
        let fref = (*st.inst).func_ref(st.func_index);
        let entry: crate::tier::OsrEntryFn = core::mem::transmute::<*mut u8, crate::tier::OsrEntryFn>(entry);
        // The fourth argument of an OSR entry is the loop index.
        let ok = crate::native::enter_native(entry, fref, (*st.inst).vmctx(), buf as *mut ValRaw, k);
        (*st.stack).top = saved_top;
        st.deadline = (*st.vmstore).epoch_deadline;
        if !ok {
            // The native frames (this function's included) are in the
            // error's backtrace already: unwind as if this frame returned.
            if !pop_to_caller(st) {
                st.current_reported = true;
            }
            return Some(Exit::Pending);
        }
        core::ptr::copy_nonoverlapping(buf, fp, nresults);
        // Return to the dispatch loop, which continues in the caller.
        Some(if pop_to_caller(st) { Exit::Continue } else { Exit::Return })
    }
}

/// Pops the current function's frame, leaving the caller's registers in
/// `st` (as [`do_return`] does, without continuing); false if the current
/// function is this activation's first.
///
/// # Safety
/// The handler contract.
unsafe fn pop_to_caller(st: &mut State) -> bool {
    // SAFETY: per the contract.
    match unsafe { pop_frame(st) } {
        Some((pc, fp, mb, ml)) => {
            st.save(pc, fp, mb, ml);
            true
        }
        None => false,
    }
}

/// Memory 0 of `inst` as (base, length).
///
/// # Safety
/// `inst` is live.
#[inline(always)]
pub(crate) unsafe fn mem_regs(inst: *mut Instance) -> (*mut u8, usize) {
    // SAFETY: a live instance's memory 0 definition is live or null.
    unsafe {
        let def = (*inst).memory0();
        if def.is_null() { (core::ptr::null_mut(), 0) } else { ((*def).base, (*def).current_length) }
    }
}

/// Every [`CHECK_INTERVAL`] back-edges or calls, before continuing at
/// `pc`: traps with "interrupt" past the epoch deadline; returns to the
/// dispatch loop if the tail-call safety net finds the host stack too deep.
#[cold]
#[inline(never)]
pub(crate) fn checkpoint(pc: *const Op, fp: *mut u64, st: &mut State, mb: *mut u8, ml: usize) -> Exit {
    st.budget = CHECK_INTERVAL;
    if interrupted(st) {
        return trap(pc, fp, st, mb, ml, TrapCode::Interrupt);
    }
    // Continuing through the loop also resets the host stack.
    st.save(pc, fp, mb, ml);
    Exit::Continue
}

/// Leaves the threaded code with a trap.
#[cold]
#[inline(never)]
pub(crate) fn trap(pc: *const Op, fp: *mut u64, st: &mut State, mb: *mut u8, ml: usize, code: TrapCode) -> Exit {
    st.save(pc, fp, mb, ml);
    st.trap = code;
    Exit::Trap
}

/// Runs defined function `func_index` of `inst` (translated as `func`) with
/// its frame at `fp` (arguments already in place) until it returns; results
/// are left in `fp[0..]`.
///
/// # Safety
/// `store`, `stack` and `inst` are live and belong together; `fp` points
/// into the store's interpreter stack with room for the function's frame
/// and its parameters written; no Rust reference to the store is live
/// across this call.
pub(crate) unsafe fn run(
    store: *mut StoreOpaque,
    stack: *mut InterpStack,
    inst: *mut Instance,
    func: *const InterpFunc,
    func_index: u32,
    fp: *mut u64,
) -> Result<(), Unwind> {
    // SAFETY: per the contract; see the module docs for the handlers.
    unsafe {
        let (mb, ml) = mem_regs(inst);
        let mut st = State {
            stack,
            inst,
            func,
            func_index,
            frames_base: (*stack).frames.len(),
            max_frames: (*stack).max_frames,
            stack_end: (*stack).end(),
            pc: (*func).ops.as_ptr(),
            fp,
            mb,
            ml,
            trap: TrapCode::InternalError,
            epoch: (*store).vm_store_context.epoch_ptr,
            deadline: (*store).vm_store_context.epoch_deadline,
            vmstore: &*(*store).vm_store_context,
            budget: CHECK_INTERVAL,
            hot: (*inst).hotness_ptr(func_index),
            current_reported: false,
            sp_floor: crate::stack::current_sp().saturating_sub((64 << 10).min((*store).config.max_wasm_stack / 4)),
        };
        enter_frame(&*func, fp);
        charge(&mut st);
        loop {
            let (pc, fp, mb, ml) = (st.pc, st.fp, st.mb, st.ml);
            match (*pc).handler()(pc, fp, &mut st, mb, ml) {
                Exit::Continue => {}
                Exit::Return => return Ok(()),
                Exit::Trap => {
                    return Err(unwind_trap(stack, st.frames_base, Trap::new(st.trap), st.inst, st.func_index));
                }
                Exit::Pending => {
                    let current = (!st.current_reported).then_some((st.inst, st.func_index));
                    return Err(unwind_pending(store, stack, st.frames_base, current));
                }
            }
        }
    }
}

/// Initialises a new frame: zeroes declared locals, copies the constants.
///
/// # Safety
/// `fp` has `func.frame_size` slots.
#[inline(always)]
pub(crate) unsafe fn enter_frame(func: &InterpFunc, fp: *mut u64) {
    // SAFETY: `params <= locals`, and `locals + consts.len() <= frame_size`
    // slots are available at `fp` (checked by the caller).
    // Small counts are unrolled: a `memset`/`memcpy` call would cost more
    // than the copy on every wasm call.
    unsafe {
        let locals = fp.add(func.params as usize);
        match (func.locals - func.params) as usize {
            0 => {}
            1 => *locals = 0,
            2 => {
                *locals = 0;
                *locals.add(1) = 0;
            }
            3 => {
                *locals = 0;
                *locals.add(1) = 0;
                *locals.add(2) = 0;
            }
            n => core::ptr::write_bytes(locals, 0, n),
        }
        let (src, dst) = (func.consts.as_ptr(), fp.add(func.locals as usize));
        match func.consts.len() {
            0 => {}
            1 => *dst = *src,
            2 => {
                *dst = *src;
                *dst.add(1) = *src.add(1);
            }
            n => core::ptr::copy_nonoverlapping(src, dst, n),
        }
    }
}

/// If `fref` is an interpreted wasm function, its instance, translated
/// code (or the trap translation failed with) and function index.
///
/// # Safety
/// `fref` points to a live `VMFuncRef`.
#[inline(always)]
unsafe fn interpreted_callee(
    fref: *const VMFuncRef,
) -> Option<(*mut Instance, Result<*const InterpFunc, TrapCode>, u32)> {
    // SAFETY: per the contract; an interpreted funcref's vmctx is an
    // instance VMContext whose header points back at its live `Instance`.
    unsafe {
        if (*fref).array_call as *const () != super::interp_array_call as *const () {
            return None;
        }
        let inst = Instance::from_vmctx((*fref).vmctx);
        let index = (*fref).func_index;
        Some((inst, (*inst).interp_func(index), index))
    }
}

/// Calls `fref` with arguments at slot `args`; `array_len` gives the
/// array-call buffer length for non-interpreted callees.
///
/// # Safety
/// The handler contract (see [`Handler`]); `fref` is live.
#[inline(always)]
// The handler's five registers plus the callee and its two accessors: a
// struct would force them through memory on the interpreter's hottest path.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn call_funcref(
    pc: *const Op,
    fp: *mut u64,
    st: &mut State,
    mb: *mut u8,
    ml: usize,
    fref: *const VMFuncRef,
    args: u32,
    array_len: impl FnOnce(&Instance) -> usize,
) -> Exit {
    // SAFETY: per the contract; the callee frame is bounds-checked against
    // the stack end and the frame count before it is written.
    unsafe {
        let new_fp = fp.add(args as usize);
        let interp = match interpreted_callee(fref) {
            Some((callee_inst, Ok(f), callee_index)) => {
                if (*f).has_native_entry() {
                    // Tiered up since this instance last called it.
                    (*callee_inst).promote(callee_index);
                    None
                } else {
                    Some((callee_inst, f, callee_index))
                }
            }
            Some((_, Err(code), _)) => return trap(pc, fp, st, mb, ml, code),
            None => None,
        };
        if let Some((callee_inst, callee, callee_index)) = interp {
            let stack = &mut *st.stack;
            if stack.frames.len() >= st.max_frames || new_fp.add((*callee).frame_size as usize) > st.stack_end {
                return trap(pc, fp, st, mb, ml, TrapCode::StackOverflow);
            }
            stack.frames.push(Frame {
                func: st.func,
                inst: st.inst,
                pc: pc.add(1),
                fp,
                func_index: st.func_index,
                hot: st.hot,
            });
            st.func = callee;
            st.func_index = callee_index;
            st.hot = (*callee_inst).hotness_ptr(callee_index);
            let (mut mb, mut ml) = (mb, ml);
            if callee_inst != st.inst {
                st.inst = callee_inst;
                (mb, ml) = mem_regs(callee_inst);
            }
            enter_frame(&*callee, new_fp);
            charge(st);
            let target = (*callee).ops.as_ptr();
            st.budget -= 1;
            if st.budget == 0 {
                return checkpoint(target, new_fp, st, mb, ml);
            }
            // The tail-call safety net, by depth: should a call not have
            // become a jump (it happens in unoptimised builds), the host
            // stack is reset before it can grow into the native stack
            // limit that compiled code shares.
            #[cfg(kiln_tail_calls)]
            if crate::stack::current_sp() < st.sp_floor {
                return checkpoint(target, new_fp, st, mb, ml);
            }
            next!(target, new_fp, st, mb, ml)
        } else {
            let stack = &mut *st.stack;
            let saved_top = stack.top;
            stack.top = fp.offset_from(stack.base()) as usize + (*st.func).frame_size as usize;
            let len = array_len(&*st.inst);
            let ok = ((*fref).array_call)(fref, (*st.inst).vmctx(), new_fp as *mut ValRaw, len);
            (*st.stack).top = saved_top;
            st.deadline = (*st.vmstore).epoch_deadline;
            if !ok {
                st.save(pc, fp, mb, ml);
                return Exit::Pending;
            }
            let (mb, ml) = mem_regs(st.inst);
            #[cfg(kiln_tail_calls)]
            if crate::stack::current_sp() < st.sp_floor {
                st.save(pc.add(1), fp, mb, ml);
                return Exit::Continue;
            }
            next!(pc.add(1), fp, st, mb, ml)
        }
    }
}

/// Returns from the current function (results already in `fp[0..]`).
///
/// # Safety
/// The handler contract.
#[inline(always)]
pub(crate) unsafe fn do_return(st: &mut State) -> Exit {
    // SAFETY: per the contract.
    unsafe {
        match pop_frame(st) {
            None => Exit::Return,
            Some((pc, fp, mb, ml)) => next!(pc, fp, st, mb, ml),
        }
    }
}

/// Pops the current function's frame record and makes the caller current
/// in `st`; returns where the caller continues (`pc`, `fp` and its memory
/// registers), or `None` if the current function is this activation's
/// first.
///
/// # Safety
/// The handler contract.
#[inline(always)]
unsafe fn pop_frame(st: &mut State) -> Option<(*const Op, *mut u64, *mut u8, usize)> {
    // SAFETY: frames above `frames_base` were pushed by this activation
    // and refer to live functions, instances and frames.
    unsafe {
        let stack = &mut *st.stack;
        if stack.frames.len() == st.frames_base {
            return None;
        }
        let frame = stack.frames.pop().unwrap_unchecked();
        st.func = frame.func;
        st.func_index = frame.func_index;
        st.inst = frame.inst;
        st.hot = frame.hot;
        // The callee may have grown memory 0 (or switched instances).
        let (mb, ml) = mem_regs(frame.inst);
        Some((frame.pc, frame.fp, mb, ml))
    }
}

fn frame_info(inst: *mut Instance, func_index: u32) -> FrameInfo {
    // SAFETY: frames only record live instances.
    unsafe { (*inst).module().frame_info(func_index) }
}

/// Unwinds this activation's frames into `trap`'s backtrace.
#[cold]
#[inline(never)]
fn unwind_trap(
    stack: *mut InterpStack,
    frames_base: usize,
    mut trap: Trap,
    inst: *mut Instance,
    func_index: u32,
) -> Unwind {
    trap.push_frame(frame_info(inst, func_index));
    // SAFETY: `stack` is the live interpreter stack of this activation.
    let frames = unsafe { &mut (*stack).frames };
    for f in frames[frames_base..].iter().rev() {
        trap.push_frame(frame_info(f.inst, f.func_index));
    }
    frames.truncate(frames_base);
    Unwind::Trap(trap)
}

/// A callee failed: if its error is a trap, extend its backtrace with this
/// activation's frames.
#[cold]
#[inline(never)]
fn unwind_pending(
    store: *mut StoreOpaque,
    stack: *mut InterpStack,
    frames_base: usize,
    current: Option<(*mut Instance, u32)>,
) -> Unwind {
    // SAFETY: the store is live; no other reference to it is active while
    // the interpreter unwinds.
    let pending = unsafe { &mut (*store).pending_error };
    if let Some(trap) = pending.as_mut().and_then(|e| e.as_trap_mut()) {
        if let Some((inst, func_index)) = current {
            trap.push_frame(frame_info(inst, func_index));
        }
        // SAFETY: as in `unwind_trap`.
        let frames = unsafe { &(*stack).frames };
        for f in frames[frames_base..].iter().rev() {
            trap.push_frame(frame_info(f.inst, f.func_index));
        }
    }
    // SAFETY: as above.
    unsafe { (*stack).frames.truncate(frames_base) };
    Unwind::Pending
}
