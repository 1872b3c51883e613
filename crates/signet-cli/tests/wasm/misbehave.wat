;; misbehave: a policy module for Signet's tests (crates/signet-cli/tests/wasm.rs). What it
;; does depends on the request attribute `mode`:
;;   (absent)  issue             loop      spin until fuel or the deadline runs out
;;   grow      ask for 64 MiB    trap      execute `unreachable`
;;   reserved  try to set the subjectKeyIdentifier (the CA refuses; the refusal is the deny)
;;   edit      set the certificate's subject to "CN=edited by wasm", then issue
;;   sans      deny, with the request's SubjectAltNames property as the message
;; initialize fails for a CA whose name starts with "refuse".
;; Built by examples/wasm/build.sh.
(module
  (import "signet:modules/policy-server@0.1.0" "get-request-attribute"
    (func $get_attribute (param i32 i32 i32)))
  (import "signet:modules/policy-server@0.1.0" "get-request-property"
    (func $get_request (param i32 i32 i32)))
  (import "signet:modules/policy-server@0.1.0" "set-certificate-property"
    (func $set_property (param i32 i32 i32 i64 i32 i32)))
  (import "signet:modules/policy-server@0.1.0" "set-certificate-extension"
    (func $set_extension (param i32 i32 i32 i32 i32 i32)))

  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))

  (data (i32.const 16) "mode")                 ;; 4
  (data (i32.const 32) "loop")                 ;; 4
  (data (i32.const 48) "grow")                 ;; 4
  (data (i32.const 64) "trap")                 ;; 4
  (data (i32.const 80) "reserved")             ;; 8
  (data (i32.const 96) "edit")                 ;; 4
  (data (i32.const 112) "sans")                ;; 4
  (data (i32.const 128) "2.5.29.14")           ;; 9
  (data (i32.const 144) "\04\01\00")           ;; 3: OCTET STRING of one byte
  (data (i32.const 160) "Subject")             ;; 7
  (data (i32.const 176) "CN=edited by wasm")   ;; 17
  (data (i32.const 208) "SubjectAltNames")     ;; 15
  (data (i32.const 224) "refuse")              ;; 6
  (data (i32.const 240) "misbehave refuses this CA") ;; 25
  (data (i32.const 272) "no such property")    ;; 16

  (func $realloc (export "cabi_realloc") (param $old i32) (param $old_size i32)
      (param $align i32) (param $size i32) (result i32)
    (local $ptr i32) (local $end i32)
    (local.set $ptr
      (i32.and
        (i32.add (global.get $heap) (i32.sub (local.get $align) (i32.const 1)))
        (i32.sub (i32.const 0) (local.get $align))))
    (local.set $end (i32.add (local.get $ptr) (local.get $size)))
    (if (i32.gt_u (local.get $end) (i32.mul (memory.size) (i32.const 65536)))
      (then
        (if (i32.eq
              (memory.grow
                (i32.shr_u
                  (i32.add
                    (i32.sub (local.get $end) (i32.mul (memory.size) (i32.const 65536)))
                    (i32.const 65535))
                  (i32.const 16)))
              (i32.const -1))
          (then unreachable))))
    (if (local.get $old)
      (then (memory.copy (local.get $ptr) (local.get $old)
              (select (local.get $old_size) (local.get $size)
                (i32.lt_u (local.get $old_size) (local.get $size))))))
    (global.set $heap (local.get $end))
    (local.get $ptr))

  (func $verdict (param $case i32) (param $ptr i32) (param $len i32) (result i32)
    (i32.store8 (i32.const 1024) (local.get $case))
    (i32.store (i32.const 1028) (local.get $ptr))
    (i32.store (i32.const 1032) (local.get $len))
    (i32.const 1024))

  ;; Whether (a, alen) starts with (b, blen).
  (func $starts_with (param $a i32) (param $alen i32) (param $b i32) (param $blen i32) (result i32)
    (local $i i32)
    (if (i32.lt_u (local.get $alen) (local.get $blen)) (then (return (i32.const 0))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $blen)))
        (if (i32.ne (i32.load8_u (i32.add (local.get $a) (local.get $i)))
                    (i32.load8_u (i32.add (local.get $b) (local.get $i))))
          (then (return (i32.const 0))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (i32.const 1))

  (func $is (param $a i32) (param $alen i32) (param $b i32) (param $blen i32) (result i32)
    (i32.and (i32.eq (local.get $alen) (local.get $blen))
             (call $starts_with (local.get $a) (local.get $alen) (local.get $b) (local.get $blen))))

  (func (export "initialize")
      (param $name i32) (param $name_len i32) (param i32 i32 i32 i32 i32 i32) (result i32)
    (if (call $starts_with (local.get $name) (local.get $name_len) (i32.const 224) (i32.const 6))
      (then
        (i32.store8 (i32.const 1088) (i32.const 1))
        (i32.store (i32.const 1092) (i32.const 240))
        (i32.store (i32.const 1096) (i32.const 25)))
      (else (i32.store8 (i32.const 1088) (i32.const 0))))
    (i32.const 1088))

  (func (export "verify-request") (param $new i32) (result i32)
    (local $mode i32) (local $len i32)
    (call $get_attribute (i32.const 16) (i32.const 4) (i32.const 1040))
    (if (i32.eqz (i32.load8_u (i32.const 1040)))
      (then (return (call $verdict (i32.const 0) (i32.const 0) (i32.const 0)))))
    (local.set $mode (i32.load (i32.const 1044)))
    (local.set $len (i32.load (i32.const 1048)))

    (if (call $is (local.get $mode) (local.get $len) (i32.const 32) (i32.const 4))
      (then (loop $forever (br $forever))))
    (if (call $is (local.get $mode) (local.get $len) (i32.const 48) (i32.const 4))
      (then
        (if (i32.eq (memory.grow (i32.const 1024)) (i32.const -1)) (then unreachable))
        (i32.store (i32.const 67000000) (i32.const 1))))
    (if (call $is (local.get $mode) (local.get $len) (i32.const 64) (i32.const 4))
      (then unreachable))
    (if (call $is (local.get $mode) (local.get $len) (i32.const 80) (i32.const 8))
      (then
        (call $set_extension (i32.const 128) (i32.const 9) (i32.const 0)
          (i32.const 144) (i32.const 3) (i32.const 1040))
        (if (i32.load8_u (i32.const 1040))
          (then (return (call $verdict (i32.const 2)
                          (i32.load (i32.const 1044)) (i32.load (i32.const 1048))))))
        (return (call $verdict (i32.const 0) (i32.const 0) (i32.const 0)))))
    (if (call $is (local.get $mode) (local.get $len) (i32.const 96) (i32.const 4))
      (then
        ;; value::text: case 3, the pointer in the joined i64 slot, the length.
        (call $set_property (i32.const 160) (i32.const 7)
          (i32.const 3) (i64.const 176) (i32.const 17) (i32.const 1040))
        (if (i32.load8_u (i32.const 1040))
          (then (return (call $verdict (i32.const 2)
                          (i32.load (i32.const 1044)) (i32.load (i32.const 1048))))))
        (return (call $verdict (i32.const 0) (i32.const 0) (i32.const 0)))))
    (if (call $is (local.get $mode) (local.get $len) (i32.const 112) (i32.const 4))
      (then
        ;; option<value> at 1040: discriminant, the value's case at 1048, text at 1056/1060.
        (call $get_request (i32.const 208) (i32.const 15) (i32.const 1040))
        (if (i32.and (i32.eq (i32.load8_u (i32.const 1040)) (i32.const 1))
                     (i32.eq (i32.load8_u (i32.const 1048)) (i32.const 3)))
          (then (return (call $verdict (i32.const 2)
                          (i32.load (i32.const 1056)) (i32.load (i32.const 1060))))))
        (return (call $verdict (i32.const 2) (i32.const 272) (i32.const 16)))))
    (call $verdict (i32.const 0) (i32.const 0) (i32.const 0)))
)
