#!/usr/bin/env bash
# Runs every configuration REPS times (SECS measured after 2 s warm-up), one RESULT line per
# run in results/SECTION.txt. Sections: plain group single noaudit (default: all).
# Needs the server described in REPORT.md (127.0.0.1:55432, user signet, trust auth).
set -euo pipefail
cd "$(dirname "$0")"
B=target/release/pgbench
REPS=${REPS:-3}
SECS=${SECS:-10}
mkdir -p results
run() { for r in $(seq "$REPS"); do RUST_BACKTRACE=0 $B "$@" --secs "$SECS" --warmup 2 | grep RESULT | tee -a "$out"; done; }
for section in ${@:-plain group single noaudit}; do
  out=results/$section.txt
  $B settings > "$out"
  case $section in
    plain) # 64 concurrent callers, one transaction each
      for p in 4 16; do
        run sqlx-plain --tasks 64 --pool $p
        run tp-plain   --tasks 64 --pool $p
        run tp-pipe    --tasks 64 --pool $p
      done
      run sqlx-plain --tasks 64 --pool 4 --ping ;;
    group) # 64 concurrent callers, group commit
      for c in 1 2; do
        run sqlx-group --tasks 64 --committers $c
        run tp-group   --tasks 64 --committers $c
      done ;;
    single) # one caller: latency
      for m in sqlx-plain tp-plain tp-pipe sqlx-group tp-group; do
        run $m --tasks 1 --pool 1
      done ;;
    noaudit) # what the audit chain's serialisation costs the plain modes
      run sqlx-plain --tasks 64 --pool 16 --no-audit
      run tp-pipe    --tasks 64 --pool 16 --no-audit ;;
  esac
done
