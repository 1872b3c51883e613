;; flaky-exit: an exit module for Signet's tests (crates/signet-cli/tests/wasm.rs). It asks
;; for Issued events; what notify does depends on the request attribute `exit`:
;;   (absent)  log "flaky-exit delivered" and acknowledge
;;   fail      return an error (not delivered: retried)
;;   trap      execute `unreachable`
;;   loop      spin until fuel or the deadline runs out
;; Built by examples/wasm/build.sh.
(module
  (import "signet:modules/exit-server@0.1.0" "get-request-attribute"
    (func $get_attribute (param i32 i32 i32)))
  (import "signet:modules/exit-server@0.1.0" "log"
    (func $log (param i32 i32 i32)))

  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))

  (data (i32.const 16) "exit")                   ;; 4
  (data (i32.const 32) "fail")                   ;; 4
  (data (i32.const 48) "trap")                   ;; 4
  (data (i32.const 64) "loop")                   ;; 4
  (data (i32.const 80) "flaky-exit delivered")   ;; 20
  (data (i32.const 112) "refused by flaky-exit") ;; 21

  (func $realloc (export "cabi_realloc") (param $old i32) (param $old_size i32)
      (param $align i32) (param $size i32) (result i32)
    (local $ptr i32)
    (local.set $ptr
      (i32.and
        (i32.add (global.get $heap) (i32.sub (local.get $align) (i32.const 1)))
        (i32.sub (i32.const 0) (local.get $align))))
    (if (i32.gt_u (i32.add (local.get $ptr) (local.get $size)) (i32.const 65536))
      (then unreachable))
    (if (local.get $old)
      (then (memory.copy (local.get $ptr) (local.get $old)
              (select (local.get $old_size) (local.get $size)
                (i32.lt_u (local.get $old_size) (local.get $size))))))
    (global.set $heap (i32.add (local.get $ptr) (local.get $size)))
    (local.get $ptr))

  (func $is (param $a i32) (param $alen i32) (param $b i32) (param $blen i32) (result i32)
    (local $i i32)
    (if (i32.ne (local.get $alen) (local.get $blen)) (then (return (i32.const 0))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $blen)))
        (if (i32.ne (i32.load8_u (i32.add (local.get $a) (local.get $i)))
                    (i32.load8_u (i32.add (local.get $b) (local.get $i))))
          (then (return (i32.const 0))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (i32.const 1))

  (func (export "initialize") (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)
    (i32.store8 (i32.const 1088) (i32.const 0))
    (i32.store (i32.const 1092) (i32.const 1))
    (i32.const 1088))

  (func (export "notify") (param i32 i64 i64 i32 i32) (result i32)
    (local $mode i32) (local $len i32)
    (call $get_attribute (i32.const 16) (i32.const 4) (i32.const 1040))
    (if (i32.load8_u (i32.const 1040))
      (then
        (local.set $mode (i32.load (i32.const 1044)))
        (local.set $len (i32.load (i32.const 1048)))
        (if (call $is (local.get $mode) (local.get $len) (i32.const 32) (i32.const 4))
          (then
            (i32.store8 (i32.const 1088) (i32.const 1))
            (i32.store (i32.const 1092) (i32.const 112))
            (i32.store (i32.const 1096) (i32.const 21))
            (return (i32.const 1088))))
        (if (call $is (local.get $mode) (local.get $len) (i32.const 48) (i32.const 4))
          (then unreachable))
        (if (call $is (local.get $mode) (local.get $len) (i32.const 64) (i32.const 4))
          (then (loop $forever (br $forever))))))
    (call $log (i32.const 1) (i32.const 80) (i32.const 20))
    (i32.store8 (i32.const 1088) (i32.const 0))
    (i32.const 1088))
)
