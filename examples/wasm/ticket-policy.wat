;; ticket-policy: an example Signet policy module, written directly in WebAssembly text so it
;; builds with nothing but `wasm-tools` (see build.sh). It implements the `policy` world of
;; crates/signet-wasm/wit/signet.wit against the component model's canonical ABI.
;;
;; What it does, for every request:
;;   1. The request must carry a `ticket` attribute (1 to 64 bytes), else it is denied.
;;   2. It logs the ticket, and records it in the certificate as a non-critical extension
;;      1.3.6.1.4.1.32473.7.1 holding a DER UTF8String.
;;   3. A new request whose ticket does not start with "CHG-" (a pre-approved change) is
;;      held for a certificate manager; on the manager's resubmission it issues.
;;
;; Memory: static strings below 1024, return areas at 1024..1199, a bump heap from 4096
;; (each call runs in a fresh instance, so the heap is never freed).
(module
  (import "signet:modules/policy-server@0.1.0" "get-request-attribute"
    (func $get_attribute (param i32 i32 i32)))
  (import "signet:modules/policy-server@0.1.0" "set-certificate-extension"
    (func $set_extension (param i32 i32 i32 i32 i32 i32)))
  (import "signet:modules/policy-server@0.1.0" "log"
    (func $log (param i32 i32 i32)))

  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))

  (data (i32.const 16) "ticket")                                                   ;; 6
  (data (i32.const 32) "CHG-")                                                     ;; 4
  (data (i32.const 48) "ticket ")                                                  ;; 7
  (data (i32.const 64) "1.3.6.1.4.1.32473.7.1") ;; 21: under RFC 5612 enterprise number for documentation
  (data (i32.const 128) "the request needs a `ticket` attribute of 1 to 64 bytes") ;; 55
  (data (i32.const 256) "ticket is not a pre-approved change (CHG-...): a certificate manager must approve") ;; 81
  (data (i32.const 384) "ticket-policy ready for CA ")                             ;; 27

  ;; cabi_realloc(old_ptr, old_size, align, new_size) -> ptr: a bump allocator.
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

  ;; Writes a verdict (0 issue, 1 pending, 2 deny) with its message at 1024; returns 1024.
  (func $verdict (param $case i32) (param $ptr i32) (param $len i32) (result i32)
    (i32.store8 (i32.const 1024) (local.get $case))
    (i32.store (i32.const 1028) (local.get $ptr))
    (i32.store (i32.const 1032) (local.get $len))
    (i32.const 1024))

  ;; The concatenation of two byte strings, in the heap.
  (func $concat (param $a i32) (param $alen i32) (param $b i32) (param $blen i32) (result i32)
    (local $out i32)
    (local.set $out
      (call $realloc (i32.const 0) (i32.const 0) (i32.const 1)
        (i32.add (local.get $alen) (local.get $blen))))
    (memory.copy (local.get $out) (local.get $a) (local.get $alen))
    (memory.copy (i32.add (local.get $out) (local.get $alen)) (local.get $b) (local.get $blen))
    (local.get $out))

  ;; Whether the string (ptr, len) starts with the string (pre, prelen).
  (func $starts_with (param $ptr i32) (param $len i32) (param $pre i32) (param $prelen i32)
      (result i32)
    (local $i i32)
    (if (i32.lt_u (local.get $len) (local.get $prelen)) (then (return (i32.const 0))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $prelen)))
        (if (i32.ne (i32.load8_u (i32.add (local.get $ptr) (local.get $i)))
                    (i32.load8_u (i32.add (local.get $pre) (local.get $i))))
          (then (return (i32.const 0))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (i32.const 1))

  ;; initialize(ca: ca-info) -> result<_, string>
  (func (export "initialize")
      (param $name i32) (param $name_len i32) (param i32 i32 i32 i32 i32 i32) (result i32)
    (call $log (i32.const 1)
      (call $concat (i32.const 384) (i32.const 27) (local.get $name) (local.get $name_len))
      (i32.add (i32.const 27) (local.get $name_len)))
    (i32.store8 (i32.const 1088) (i32.const 0))
    (i32.const 1088))

  ;; verify-request(new-request: bool) -> verdict
  (func (export "verify-request") (param $new i32) (result i32)
    (local $ticket i32) (local $len i32) (local $der i32)
    ;; option<string> at 1040: discriminant, pointer, length.
    (call $get_attribute (i32.const 16) (i32.const 6) (i32.const 1040))
    (if (i32.eqz (i32.load8_u (i32.const 1040)))
      (then (return (call $verdict (i32.const 2) (i32.const 128) (i32.const 55)))))
    (local.set $ticket (i32.load (i32.const 1044)))
    (local.set $len (i32.load (i32.const 1048)))
    (if (i32.or (i32.eqz (local.get $len)) (i32.gt_u (local.get $len) (i32.const 64)))
      (then (return (call $verdict (i32.const 2) (i32.const 128) (i32.const 55)))))

    (call $log (i32.const 1)
      (call $concat (i32.const 48) (i32.const 7) (local.get $ticket) (local.get $len))
      (i32.add (i32.const 7) (local.get $len)))

    ;; UTF8String: tag 0x0c, one length byte (the ticket is at most 64 bytes), the bytes.
    (local.set $der
      (call $realloc (i32.const 0) (i32.const 0) (i32.const 1) (i32.add (local.get $len) (i32.const 2))))
    (i32.store8 (local.get $der) (i32.const 0x0c))
    (i32.store8 (i32.add (local.get $der) (i32.const 1)) (local.get $len))
    (memory.copy (i32.add (local.get $der) (i32.const 2)) (local.get $ticket) (local.get $len))
    ;; result<_, string> at 1040; an error from the CA is passed on as the deny reason.
    (call $set_extension (i32.const 64) (i32.const 21) (i32.const 0)
      (local.get $der) (i32.add (local.get $len) (i32.const 2)) (i32.const 1040))
    (if (i32.load8_u (i32.const 1040))
      (then (return (call $verdict (i32.const 2)
                      (i32.load (i32.const 1044)) (i32.load (i32.const 1048))))))

    (if (i32.and (local.get $new)
          (i32.eqz (call $starts_with (local.get $ticket) (local.get $len) (i32.const 32) (i32.const 4))))
      (then (return (call $verdict (i32.const 1) (i32.const 256) (i32.const 81)))))
    (call $verdict (i32.const 0) (i32.const 0) (i32.const 0)))
)
