//! The runtime's builtins table (`kiln_runtime::builtins`), called directly
//! the way compiled code calls it: through `VMContextHeader::builtins` of
//! a real instance's VMContext, with the declared C signatures. Checks
//! results, trap statuses (out-of-bounds fill/copy/init, dropped segments),
//! `u32::MAX` for a failed grow, and that a trapping operation writes
//! nothing.

use kiln::{Engine, Instance, Linker, Module, Store};
use kiln_environ::builtins::{BUILTINS, BuiltinIndex};
use kiln_environ::vm::{VMContext, VMTableDefinition};
use kiln_environ::{ModuleInfo, PtrSize, TrapCode, VMOffsets, WasmFeatureSet};
use kiln_runtime::builtins::{BUILTINS_TABLE, BuiltinsTable};

const WAT: &str = r#"(module
  (memory (export "mem") 1 3)
  (table $t (export "t") 4 6 funcref)
  (func $a (result i32) i32.const 1)
  (func $b (result i32) i32.const 2)
  (func (export "call") (param i32) (result i32) local.get 0 call_indirect $t (result i32))
  (data $d "hello")
  (data (i32.const 100) "xy")
  (elem $e func $a $b)
  (elem declare func $a)
)"#;

const MEM_OOB: u32 = TrapCode::MemoryOutOfBounds as u32;
const TABLE_OOB: u32 = TrapCode::TableOutOfBounds as u32;

struct Fixture {
    store: Store<()>,
    instance: Instance,
    vmctx: *mut VMContext,
    offsets: VMOffsets,
}

impl Fixture {
    fn new() -> Fixture {
        let buf = wast::parser::ParseBuffer::new(WAT).unwrap();
        let wasm = wast::parser::parse::<wast::Wat>(&buf).unwrap().encode().unwrap();
        let info = ModuleInfo::parse(&wasm, WasmFeatureSet::wasm2()).unwrap();
        let engine = Engine::default();
        let module = Module::new(&engine, &wasm).unwrap();
        let mut store = Store::new(&engine, ());
        let instance = Linker::new(&engine).instantiate(&mut store, &module).unwrap();
        let vmctx = instance.vmctx_for_testing(&mut store);
        Fixture { store, instance, vmctx, offsets: VMOffsets::new(PtrSize::HOST, &info) }
    }

    /// The builtins table this instance's header points to.
    fn table(&self) -> &'static BuiltinsTable {
        // SAFETY: `header.builtins` is inside the live VMContext and was
        // set at instantiation to the static `BUILTINS_TABLE`.
        unsafe {
            &*self.vmctx.cast::<u8>().add(self.offsets.header.builtins as usize).cast::<*const BuiltinsTable>().read()
        }
    }

    fn mem(&mut self) -> Vec<u8> {
        let m = self.instance.get_memory(&mut self.store, "mem").unwrap();
        m.data(&self.store).to_vec()
    }

    fn call(&mut self, i: i32) -> kiln::Result<i32> {
        let f = self.instance.get_typed_func::<i32, i32>(&mut self.store, "call").unwrap();
        f.call(&mut self.store, i)
    }

    /// Raw element `i` of table 0.
    fn elem(&self, i: usize) -> usize {
        // SAFETY: `table_ptrs[0]` is inside the VMContext and points to
        // the table's live definition; `i` is checked against its length.
        unsafe {
            let def = self
                .vmctx
                .cast::<u8>()
                .add(self.offsets.table_ptr(0) as usize)
                .cast::<*const VMTableDefinition>()
                .read();
            assert!(i < (*def).current_elements);
            *(*def).base.add(i)
        }
    }
}

#[test]
fn header_points_at_the_table_in_index_order() {
    let f = Fixture::new();
    assert!(std::ptr::eq(f.table(), &BUILTINS_TABLE));
    // SAFETY: `BuiltinsTable` is `repr(C)` with one function pointer per
    // builtin, in index order.
    let words =
        unsafe { std::slice::from_raw_parts((f.table() as *const BuiltinsTable).cast::<usize>(), BUILTINS.len()) };
    assert_eq!(words[BuiltinIndex::memory_fill.0 as usize], BUILTINS_TABLE.memory_fill as *const () as usize);
    assert_eq!(words[BuiltinIndex::elem_drop.0 as usize], BUILTINS_TABLE.elem_drop as *const () as usize);
}

#[test]
fn memory_builtins() {
    let mut f = Fixture::new();
    let t = f.table();
    let v = f.vmctx;
    // SAFETY (every call below): `v` is the live VMContext of the
    // fixture's instance, no store borrow is active during the call, and
    // memory 0 / data 0 / data 1 exist.
    unsafe {
        assert_eq!((t.memory_fill)(v, 0, 10, 0x1ab, 3), 0);
        assert_eq!(&f.mem()[9..14], &[0, 0xab, 0xab, 0xab, 0]);
        assert_eq!((t.memory_fill)(v, 0, 65535, 7, 2), MEM_OOB);
        assert_eq!(f.mem()[65535], 0, "a trapping fill writes nothing");
        assert_eq!((t.memory_fill)(v, 0, 65536, 7, 0), 0);
        assert_eq!((t.memory_fill)(v, 0, 65537, 7, 0), MEM_OOB);
        assert_eq!((t.memory_fill)(v, 0, u32::MAX, 7, u32::MAX), MEM_OOB);

        // copy(dst_mem, src_mem, dst, src, len), overlapping
        assert_eq!((t.memory_copy)(v, 0, 0, 11, 10, 3), 0);
        assert_eq!(&f.mem()[10..15], &[0xab, 0xab, 0xab, 0xab, 0]);
        assert_eq!((t.memory_copy)(v, 0, 0, 0, 65535, 2), MEM_OOB);
        assert_eq!((t.memory_copy)(v, 0, 0, 65535, 0, 2), MEM_OOB);
        assert_eq!(f.mem()[65535], 0);

        // init(mem, data, dst, src, len)
        assert_eq!((t.memory_init)(v, 0, 0, 30, 1, 4), 0);
        assert_eq!(&f.mem()[30..34], b"ello");
        assert_eq!((t.memory_init)(v, 0, 0, 40, 2, 4), MEM_OOB);
        assert_eq!((t.memory_init)(v, 0, 0, 65534, 0, 3), MEM_OOB);
        assert_eq!(f.mem()[40], 0);
        (t.data_drop)(v, 0);
        assert_eq!((t.memory_init)(v, 0, 0, 40, 0, 0), 0);
        assert_eq!((t.memory_init)(v, 0, 0, 40, 0, 1), MEM_OOB, "dropped segment");
        assert_eq!(&f.mem()[100..102], b"xy", "active segment applied");
        assert_eq!((t.memory_init)(v, 0, 1, 40, 0, 1), MEM_OOB, "active segments are dropped");

        // grow(mem, delta) -> old pages or u32::MAX (max 3 pages)
        assert_eq!((t.memory_grow)(v, 0, 0), 1);
        assert_eq!((t.memory_grow)(v, 0, 1), 1);
        assert_eq!((t.memory_grow)(v, 0, 3), u32::MAX);
        assert_eq!((t.memory_grow)(v, 0, u32::MAX), u32::MAX);
        assert_eq!((t.memory_grow)(v, 0, 1), 2);
        assert_eq!((t.memory_grow)(v, 0, 1), u32::MAX);
    }
    assert_eq!(f.mem().len(), 3 * 65536);
    // SAFETY: as above; the grown memory is visible to the builtins.
    unsafe { assert_eq!((t.memory_fill)(v, 0, 3 * 65536 - 1, 9, 1), 0) };
    assert_eq!(f.mem()[3 * 65536 - 1], 9);
}

#[test]
fn table_builtins() {
    let mut f = Fixture::new();
    let t = f.table();
    let v = f.vmctx;
    assert!(f.call(0).is_err(), "table starts null");
    // SAFETY (every call below): as in `memory_builtins`; table 0 and
    // element segments 0 (passive) and 1 (declared) exist; references
    // passed are null or funcrefs of this instance.
    unsafe {
        // init(table, elem, dst, src, len)
        assert_eq!((t.table_init)(v, 0, 0, 1, 0, 2), 0);
        assert_eq!((t.table_init)(v, 0, 0, 3, 0, 2), TABLE_OOB);
        assert_eq!((t.table_init)(v, 0, 0, 0, 1, 2), TABLE_OOB);
        assert_eq!(f.elem(3), 0, "a trapping init writes nothing");
        assert_eq!(f.call(1).unwrap(), 1);
        assert_eq!(f.call(2).unwrap(), 2);
        (t.elem_drop)(v, 0);
        assert_eq!((t.table_init)(v, 0, 0, 0, 0, 0), 0);
        assert_eq!((t.table_init)(v, 0, 0, 0, 0, 1), TABLE_OOB, "dropped segment");
        assert_eq!((t.table_init)(v, 0, 1, 0, 0, 1), TABLE_OOB, "declared segments are dropped");

        // copy(dst_table, src_table, dst, src, len), overlapping
        assert_eq!((t.table_copy)(v, 0, 0, 0, 1, 2), 0);
        assert_eq!(f.call(0).unwrap(), 1);
        assert_eq!(f.call(1).unwrap(), 2);
        assert_eq!((t.table_copy)(v, 0, 0, 3, 0, 2), TABLE_OOB);
        assert_eq!((t.table_copy)(v, 0, 0, 0, 3, 2), TABLE_OOB);

        // fill(table, dst, val, len)
        let a = f.elem(0);
        assert_ne!(a, 0);
        assert_eq!((t.table_fill)(v, 0, 2, a, 2), 0);
        assert_eq!((f.call(2).unwrap(), f.call(3).unwrap()), (1, 1));
        assert_eq!((t.table_fill)(v, 0, 1, 0, 1), 0);
        assert!(f.call(1).is_err(), "filled with null");
        assert_eq!((t.table_fill)(v, 0, 3, 0, 2), TABLE_OOB);
        assert_eq!(f.call(3).unwrap(), 1, "a trapping fill writes nothing");

        // grow(table, delta, init) -> old size or u32::MAX (max 6)
        assert_eq!((t.table_grow)(v, 0, 1, a), 4);
        assert_eq!(f.call(4).unwrap(), 1);
        assert_eq!((t.table_grow)(v, 0, 2, 0), u32::MAX);
        assert_eq!((t.table_grow)(v, 0, 1, 0), 5);
        assert!(f.call(5).is_err(), "grown with null");
        assert_eq!((t.table_grow)(v, 0, 0, 0), 6);
        assert_eq!((t.table_fill)(v, 0, 5, a, 1), 0);
        assert_eq!(f.call(5).unwrap(), 1);
    }
    let table = f.instance.get_table(&mut f.store, "t").unwrap();
    assert_eq!(table.size(&f.store), 6);
}
