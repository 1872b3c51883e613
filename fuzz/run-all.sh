#!/bin/sh
# Fuzzes every target in turn, then minimises its corpus: the procedure behind README.md's
# figures. Needs nightly and cargo-fuzz (README.md, "Install").
# Usage: sh fuzz/run-all.sh CPU_SECONDS [TARGET...]   (default: every target, in `cargo fuzz
# list` order). Each target runs in rounds of at most 10 minutes until the fuzzer has had
# CPU_SECONDS of CPU time (user + system, measured with /usr/bin/time): on a shared machine a
# wall-clock limit would give a target less fuzzing than it says. Each round's log goes to
# logs/<target>.<round>.log; logs/<target>.time has a line per round.
# Two runs may go at once on different targets (the git steps take a lock).
set -eu
cd "$(dirname "$0")"
seconds=$1; shift
targets=${*:-$(cargo +nightly fuzz list)}
mkdir -p logs
# Build every target first, so the timings below are the fuzzing's alone.
cargo +nightly fuzz build -s none > "logs/build.$$.log" 2>&1

# cmin keeps inputs under their SHA-1 and drops the rest: the committed seeds come back
# under their own names, and their renamed copies go.
restore_seeds() {
    seeds=$(git ls-files "corpus/$1/seed-*")
    [ -n "$seeds" ] || return 0
    # shellcheck disable=SC2086
    flock logs/.git.lock git checkout -- $seeds
    for seed in $seeds; do
        rm -f "corpus/$1/$(sha1sum < "$seed" | cut -d' ' -f1)"
    done
}

for t in $targets; do
    cpu=0; execs=0; round=0
    : > "logs/$t.time"
    while [ "$cpu" -lt "$seconds" ]; do
        round=$((round + 1))
        left=$((seconds - cpu)); [ "$left" -gt 600 ] && left=600
        # -s none: no AddressSanitizer (the Rust under test forbids `unsafe`); debug
        # assertions and overflow checks stay on. -timeout: one input taking 10 s is a
        # finding (a DoS).
        /usr/bin/time -f '%e %U %S' -o "logs/$t.round" \
            cargo +nightly fuzz run -s none "$t" "corpus/$t" -- \
            -max_total_time="$left" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
            > "logs/$t.$round.log" 2>&1 || { echo "$t: libFuzzer stopped early (see logs/$t.$round.log)"; break; }
        read -r wall user sys < "logs/$t.round"
        used=$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%d", u + s }')
        cpu=$((cpu + used))
        n=$(grep -h 'stat::number_of_executed_units' "logs/$t.$round.log" | tail -1 | awk '{print $2}')
        execs=$((execs + ${n:-0}))
        echo "round $round: $wall s wall, $user s user, $sys s system CPU, ${n:-0} executions" >> "logs/$t.time"
    done
    # Minimise on code edges only (-use_counters=0: hit counts are not features), which keeps
    # the committed corpus small: every input kept reaches an edge no smaller input reaches.
    cargo +nightly fuzz cmin -s none "$t" "corpus/$t" -- -use_counters=0 \
        > "logs/$t.cmin.log" 2>&1 \
        || echo "$t: cmin failed (see logs/$t.cmin.log)"
    restore_seeds "$t"
    echo "$t: $cpu CPU seconds in $round rounds, $execs executions, corpus $(ls "corpus/$t" | wc -l) files"
done
