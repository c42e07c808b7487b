;; Regression (issue 12; found in lol_html's `doctype_name_state`, which made
;; rust-html-rewriter rewrite nothing in the interpreter): the interpreter's
;; assembler rotates a back-edge `br` that lands on a loop-exit test into two
;; ops (`if !test goto body; goto exit`). A `br_table` indexes its entries as
;; consecutive ops, so a rotated entry shifted every later entry by one: an
;; index past it ran its neighbour's branch.

(module
  (memory 1)
  ;; bytes 0..: 0 0 2 0 1 0 0 2 9
  (data (i32.const 0) "\00\00\02\00\01\00\00\02\09")
  ;; Scans bytes from $p to $end: byte 0 or 1 continues the loop (entries
  ;; that are back-edges to the loop's exit test), 2 stops at "found",
  ;; anything else (the default) at "other". Returns the position after
  ;; the byte that stopped the scan times 10 plus 1 (found), 2 (other),
  ;; or 3 when $end is reached.
  (func (export "scan") (param $p i32) (param $end i32) (result i32)
    (block $at-end
      (block $other
        (block $found
          (loop $next
            (br_if $at-end (i32.eq (local.get $p) (local.get $end)))
            (local.set $p (i32.add (local.get $p) (i32.const 1)))
            (br_table $next $next $next $found $next $other
              (i32.add (i32.load8_u (i32.sub (local.get $p) (i32.const 1))) (i32.const 1))))
          (unreachable))
        (return (i32.add (i32.mul (local.get $p) (i32.const 10)) (i32.const 1))))
      (return (i32.add (i32.mul (local.get $p) (i32.const 10)) (i32.const 2))))
    (i32.add (i32.mul (local.get $p) (i32.const 10)) (i32.const 3)))
)

(assert_return (invoke "scan" (i32.const 0) (i32.const 9)) (i32.const 31))
(assert_return (invoke "scan" (i32.const 3) (i32.const 9)) (i32.const 81))
(assert_return (invoke "scan" (i32.const 8) (i32.const 9)) (i32.const 92))
(assert_return (invoke "scan" (i32.const 3) (i32.const 6)) (i32.const 63))
(assert_return (invoke "scan" (i32.const 5) (i32.const 5)) (i32.const 53))
