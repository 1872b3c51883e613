#!/usr/bin/env bash
# For each minimal crate in min/: crate count (the brief's command, and distinct name+version),
# crates not already in Signet's Cargo.lock, and a clean release build time from an empty
# target dir (sources fetched beforehand, so this is compile time only). Run alone: 2 cores.
set -euo pipefail
cd "$(dirname "$0")"
SIGNET_LOCK=${SIGNET_LOCK:-/work/main/Cargo.lock}
awk '/^name = /{n=$3} /^version = /{v=$3; gsub(/"/,"",n); gsub(/"/,"",v); print n" v"v}' "$SIGNET_LOCK" | sort -u > results/signet-lock.txt
out=$PWD/results/deps.txt
[ $# -eq 0 ] && : > "$out"
for d in ${@:-sqlx sqlx-rustls tp-deadpool tp-deadpool-rustls tp-bb8}; do
  export CARGO_TARGET_DIR=/work/pgbench/target/min-$d
  rm -rf "$CARGO_TARGET_DIR"
  ( cd min/$d
    cargo fetch -q
    brief=$(cargo tree -e normal --prefix none | sort -u | wc -l)
    cargo tree -e normal --prefix none | sed 's/ (\*)$//; s/ (proc-macro)$//; s/ (\/.*)$//' | grep -v '^min-' | sort -u > ../../results/tree-$d.txt
    distinct=$(wc -l < ../../results/tree-$d.txt)
    new=$(comm -23 ../../results/tree-$d.txt ../../results/signet-lock.txt | wc -l)
    start=$(date +%s.%N)
    cargo build --release -q
    end=$(date +%s.%N)
    secs=$(echo "$end - $start" | bc)
    echo "DEPS option=$d brief_count=$brief distinct_deps=$distinct not_in_signet_lock=$new clean_release_build_s=$secs" | tee -a "$out"
  )
done
