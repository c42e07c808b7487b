;; Regression (issue 12; wasm-smith seed 25970, reduced): a return emitted on
;; one path only — `br_if` to the function, or a `br_table` stub that
;; returns — must not turn the lazy operands below it (constants, locals)
;; into "already in their temp slots" for the code after it. The
;; interpreter's translator did, so the fall-through path (and the other
;; stubs of the same `br_table`) read temp slots nothing had written: `0.0`
;; where `f64.const 2` belonged.

(module
  (func $nans (result f64 f64) (f64.const nan) (f64.const nan))
  (func (export "br_if-return") (result f64 f64)
    (f64.const 1)
    (f64.const 2)
    (call $nans)
    (f64.gt)               ;; nan > nan: false, the branch is not taken
    (br_if 0)
    (i64.const 3)
    (block (result f32)
      (block (result f64 f64)
        (f32.const 1.5)
        (br 1))
      (drop) (drop)
      (f32.const 4))
    (drop) (drop))

  (func (export "br_if-return-taken") (param i32) (result i64 i64)
    (i64.const 10)
    (local.get 0)
    (i64.extend_i32_u)
    (br_if 0 (local.get 0))
    (drop) (drop)
    (i64.const 20)
    (i64.const 30))

  ;; The `br_table` stub for depth 1 (the function) is emitted before the
  ;; one for depth 0 (the block); both carry the two constants.
  (func (export "br_table-stubs") (param i32) (result i32 i32)
    (block (result i32 i32)
      (i32.const 7)
      (i32.const 8)
      (br_table 1 0 (local.get 0)))
    (i32.const 100)
    (i32.add))
)

(assert_return (invoke "br_if-return") (f64.const 1) (f64.const 2))
(assert_return (invoke "br_if-return-taken" (i32.const 0)) (i64.const 20) (i64.const 30))
(assert_return (invoke "br_if-return-taken" (i32.const 5)) (i64.const 10) (i64.const 5))
(assert_return (invoke "br_table-stubs" (i32.const 0)) (i32.const 7) (i32.const 8))
(assert_return (invoke "br_table-stubs" (i32.const 1)) (i32.const 7) (i32.const 108))
(assert_return (invoke "br_table-stubs" (i32.const 9)) (i32.const 7) (i32.const 108))
