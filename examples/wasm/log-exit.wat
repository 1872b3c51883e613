;; log-exit: an example Signet exit module, written directly in WebAssembly text so it builds
;; with nothing but `wasm-tools` (see build.sh). It implements the `exit` world of
;; crates/signet-wasm/wit/signet.wit against the component model's canonical ABI.
;;
;; At start it asks for the Issued and Revoked events. For each it reads the certificate's
;; serial number and subject and the requester, and writes one line to the CA's log:
;;   "issued <serial> <subject> to <requester>"   or   "revoked <serial> <subject> ..."
;;
;; Memory: static strings below 1024, return areas at 1024..1199, a bump heap from 4096.
(module
  (import "signet:modules/exit-server@0.1.0" "get-request-property"
    (func $get_request (param i32 i32 i32)))
  (import "signet:modules/exit-server@0.1.0" "get-certificate-property"
    (func $get_certificate (param i32 i32 i32)))
  (import "signet:modules/exit-server@0.1.0" "log"
    (func $log (param i32 i32 i32)))

  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))
  ;; The line being built: start and end.
  (global $line (mut i32) (i32.const 0))
  (global $end (mut i32) (i32.const 0))

  (data (i32.const 16) "SerialNumber")   ;; 12
  (data (i32.const 32) "Subject")        ;; 7
  (data (i32.const 48) "RequesterName")  ;; 13
  (data (i32.const 64) "issued ")        ;; 7
  (data (i32.const 80) "revoked ")       ;; 8
  (data (i32.const 96) " to ")           ;; 4
  (data (i32.const 112) "anonymous")     ;; 9
  (data (i32.const 128) "?")             ;; 1
  (data (i32.const 144) " ")             ;; 1

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

  ;; Appends (ptr, len) to the line, at most 256 bytes of it.
  (func $push (param $ptr i32) (param $len i32)
    (if (i32.gt_u (local.get $len) (i32.const 256)) (then (local.set $len (i32.const 256))))
    (memory.copy (global.get $end) (local.get $ptr) (local.get $len))
    (global.set $end (i32.add (global.get $end) (local.get $len))))

  ;; Appends a text property read into the return area at 1040 (option<value>: discriminant
  ;; at 1040, the value's case at 1048, a text's pointer and length at 1056 and 1060), or
  ;; (fallback, fallback_len) when it is absent or not text.
  (func $push_text (param $fallback i32) (param $fallback_len i32)
    (if (i32.and (i32.eq (i32.load8_u (i32.const 1040)) (i32.const 1))
                 (i32.eq (i32.load8_u (i32.const 1048)) (i32.const 3)))
      (then (call $push (i32.load (i32.const 1056)) (i32.load (i32.const 1060))))
      (else (call $push (local.get $fallback) (local.get $fallback_len)))))

  ;; initialize(ca: ca-info) -> result<events, string>: Issued (bit 0) and Revoked (bit 3).
  (func (export "initialize") (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)
    (i32.store8 (i32.const 1088) (i32.const 0))
    (i32.store (i32.const 1092) (i32.const 9))
    (i32.const 1088))

  ;; notify(event: event) -> result<_, string>. The event record arrives flattened:
  ;; kind (flags), seq, at, details (pointer, length).
  (func (export "notify") (param $kind i32) (param $seq i64) (param $at i64)
      (param $details i32) (param $details_len i32) (result i32)
    (global.set $line (call $realloc (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 1024)))
    (global.set $end (global.get $line))
    (if (i32.and (local.get $kind) (i32.const 1))
      (then (call $push (i32.const 64) (i32.const 7)))
      (else (call $push (i32.const 80) (i32.const 8))))
    (call $get_certificate (i32.const 16) (i32.const 12) (i32.const 1040))
    (call $push_text (i32.const 128) (i32.const 1))
    (call $push (i32.const 144) (i32.const 1))
    (call $get_certificate (i32.const 32) (i32.const 7) (i32.const 1040))
    (call $push_text (i32.const 128) (i32.const 1))
    (call $push (i32.const 96) (i32.const 4))
    (call $get_request (i32.const 48) (i32.const 13) (i32.const 1040))
    (call $push_text (i32.const 112) (i32.const 9))
    (call $log (i32.const 1) (global.get $line) (i32.sub (global.get $end) (global.get $line)))
    (i32.store8 (i32.const 1088) (i32.const 0))
    (i32.const 1088))
)
