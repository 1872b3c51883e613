#!/bin/sh
# Fuzzes every target in turn, then minimises its corpus: the procedure behind README.md's
# figures. One libFuzzer process at a time (the corpora stay consistent and a small machine
# stays usable). Needs nightly and cargo-fuzz (README.md, "Install").
# Usage: sh fuzz/run-all.sh SECONDS [TARGET...]   (default: every target, in `cargo fuzz list`
# order). Each run's log goes to logs/<target>.log; its last lines are the figures.
set -eu
cd "$(dirname "$0")"
seconds=$1; shift
targets=${*:-$(cargo +nightly fuzz list)}
mkdir -p logs
# Build every target first, so the timings below are the fuzzing's alone.
cargo +nightly fuzz build -s none > logs/build.log 2>&1

# cmin keeps inputs under their SHA-1 and drops the rest: the committed seeds come back
# under their own names, and their renamed copies go.
restore_seeds() {
    seeds=$(git ls-files "corpus/$1/seed-*")
    [ -n "$seeds" ] || return 0
    # shellcheck disable=SC2086
    git checkout -- $seeds
    for seed in $seeds; do
        rm -f "corpus/$1/$(sha1sum < "$seed" | cut -d' ' -f1)"
    done
}

for t in $targets; do
    # -s none: no AddressSanitizer (the Rust under test forbids `unsafe`); debug assertions
    # and overflow checks stay on. -timeout: one input taking 10 s is a finding (a DoS).
    # /usr/bin/time: wall and CPU seconds, since on a shared machine they can differ.
    /usr/bin/time -f '%e s wall, %U s user CPU, %S s system CPU' -o "logs/$t.time" \
    cargo +nightly fuzz run -s none "$t" "corpus/$t" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        > "logs/$t.log" 2>&1 || echo "$t: libFuzzer stopped early (see logs/$t.log)"
    # Minimise on code edges only (-use_counters=0: hit counts are not features), which keeps
    # the committed corpus small: every input kept reaches an edge no smaller input reaches.
    cargo +nightly fuzz cmin -s none "$t" "corpus/$t" -- -use_counters=0 \
        > "logs/$t.cmin.log" 2>&1 \
        || echo "$t: cmin failed (see logs/$t.cmin.log)"
    restore_seeds "$t"
    echo "$t: $(grep -h 'stat::number_of_executed_units' "logs/$t.log" | tail -1)" \
        "corpus $(ls "corpus/$t" | wc -l) files; $(cat "logs/$t.time")"
done
