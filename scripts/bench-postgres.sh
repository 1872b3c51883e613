#!/usr/bin/env bash
# Issuance on PostgreSQL, one node and two nodes, beside SQLite on the same machine in the
# same minutes (issue 19, docs/PERFORMANCE.md "PostgreSQL: one node, two nodes, SQLite").
#
# Each leg is real processes on loopback, measured from outside:
#   sqlite  one `signet serve` on its embedded SQLite file (WAL, synchronous=FULL);
#   pg1     one `signet serve` on PostgreSQL 15 (Debian's package, a fresh cluster with its
#           default durability: fsync=on, synchronous_commit=on);
#   pg2     two `signet serve` nodes of one installation on that PostgreSQL (the second is a
#           copy of the first's data directory), the clients spread over both.
# The load is `signet bench --server URL [--server URL2]`: C clients POSTing distinct P-256
# CSRs for D seconds. Reported per leg: certificates/s, latency p50/p99, and CPU per
# certificate of the servers (all `signet serve` processes plus, on PostgreSQL, every
# postgres process: utime+stime from /proc before and after); the ratios are against sqlite.
# The legs rotate their order each round. PostgreSQL runs as the `postgres` user when root.
#
# Usage: scripts/bench-postgres.sh [-c C] [-d D] [--rounds K]      (defaults 64, 10, 2)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
C=64 D=10 ROUNDS=2
while [ $# -gt 0 ]; do
  case "$1" in
    -c) C=$2; shift 2 ;;
    -d) D=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "bench-postgres.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
SIGNET_BIN=${SIGNET_BIN:-${CARGO_TARGET_DIR:-target}/release/signet}
case "$SIGNET_BIN" in /*) ;; *) SIGNET_BIN=$ROOT/$SIGNET_BIN ;; esac
[ -x "$SIGNET_BIN" ] || { echo "missing: $SIGNET_BIN (cargo build --release)" >&2; exit 1; }
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
[ -x "$PGBIN/initdb" ] || { echo "PostgreSQL is not installed (apt-get install postgresql)" >&2; exit 1; }

W=$(mktemp -d /tmp/signet-bench-pg.XXXXXX)
chmod 755 "$W"
PIDS=()
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  as_pg "$PGBIN/pg_ctl" -D "$W/pg" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$W"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# PostgreSQL with its default settings (durable), listening on loopback only.
PGPORT=$(free_port)
mkdir -p "$W/pg" "$W/pglog"; [ "$(id -u)" = 0 ] && chown postgres: "$W/pg" "$W/pglog"
as_pg "$PGBIN/initdb" -D "$W/pg" -A trust -U signet -E UTF8 >/dev/null
as_pg "$PGBIN/pg_ctl" -D "$W/pg" -l "$W/pglog/pg.log" -w \
  -o "-c listen_addresses=127.0.0.1 -c port=$PGPORT -c unix_socket_directories=$W/pg" start >/dev/null
psql_pg() { psql -X -q -h 127.0.0.1 -p "$PGPORT" -U signet -d postgres -c "$1" >/dev/null; }

# CPU seconds (utime+stime) of the given pids and, with "pg", every postgres process.
cpu_of() {
  local total=0 pid
  local pids=("$@")
  if [ "${pids[0]}" = pg ]; then
    pids=("${pids[@]:1}")
    local pm; pm=$(head -1 "$W/pg/postmaster.pid")
    pids+=("$pm" $(pgrep -P "$pm" || true))
  fi
  for pid in "${pids[@]}"; do
    [ -r "/proc/$pid/stat" ] || continue
    # Clock ticks (USER_HZ = 100) to seconds.
    total=$(awk -v t="$total" '{ sub(/^.*\) /, ""); print t + ($12 + $13) / 100 }' "/proc/$pid/stat")
  done
  echo "$total"
}

serve() { # DATA PORT -> pid
  (exec "$SIGNET_BIN" serve --data "$1" --listen "127.0.0.1:$2" >"$1.log" 2>&1) &
  local pid=$!
  for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$2/healthz" >/dev/null 2>&1 && { echo "$pid"; return; }
    sleep 0.1
  done
  echo "signet serve on $1 did not start:" >&2; cat "$1.log" >&2; exit 1
}

leg() { # NAME
  local name=$1 data="$W/$1-$RANDOM" db="" pids=() urls=() ports=()
  local init=("$SIGNET_BIN" init --dev --data "$data" --domain bench.test)
  if [ "$name" != sqlite ]; then
    db="bench_${name}_$RANDOM"
    psql_pg "CREATE DATABASE $db"
    init+=(--database "postgres://signet@127.0.0.1:$PGPORT/$db")
  fi
  "${init[@]}" >/dev/null 2>&1
  local nodes=1; [ "$name" = pg2 ] && { nodes=2; cp -a "$data" "$data-b"; }
  local token=""
  for i in $(seq 1 "$nodes"); do
    local d=$data; [ "$i" = 2 ] && d=$data-b
    local port; port=$(free_port)
    pids+=("$(serve "$d" "$port")"); urls+=(--server "http://127.0.0.1:$port"); ports+=("$port")
    # The requester token exists before the second node starts, which then loads it.
    [ -n "$token" ] || token=$(SIGNET_TOKEN=$(cat "$data/admin.token") "$SIGNET_BIN" admin token \
      create --name bench --role requester --server "http://127.0.0.1:$port" 2>/dev/null)
  done
  PIDS+=("${pids[@]}")
  local cpu_args=("${pids[@]}"); [ "$name" != sqlite ] && cpu_args=(pg "${pids[@]}")
  local before after signet_before signet_after
  before=$(cpu_of "${cpu_args[@]}"); signet_before=$(cpu_of "${pids[@]}")
  "$SIGNET_BIN" bench "${urls[@]}" --token "$token" --concurrency "$C" --duration "$D" \
    --domain bench.test >"$W/$name.out" 2>/dev/null
  after=$(cpu_of "${cpu_args[@]}"); signet_after=$(cpu_of "${pids[@]}")
  for p in "${pids[@]}"; do kill "$p"; wait "$p" 2>/dev/null || true; done
  local issued rate p50 p99
  issued=$(awk '/issued:/ {print $2}' "$W/$name.out")
  rate=$(awk '/throughput:/ {print $2}' "$W/$name.out")
  p50=$(awk '/latency p50:/ {print $3}' "$W/$name.out")
  p99=$(awk '/latency p99:/ {print $3}' "$W/$name.out")
  local cpu_us signet_us
  cpu_us=$(awk -v a="$after" -v b="$before" -v n="$issued" 'BEGIN { printf "%.0f", (a - b) * 1e6 / (n > 0 ? n : 1) }')
  signet_us=$(awk -v a="$signet_after" -v b="$signet_before" -v n="$issued" 'BEGIN { printf "%.0f", (a - b) * 1e6 / (n > 0 ? n : 1) }')
  printf "%-7s %7s certificates/s   p50 %6s ms   p99 %6s ms   server CPU %5s us/cert (signet %s)\n" \
    "$name" "$rate" "$p50" "$p99" "$cpu_us" "$signet_us"
  echo "$name $rate $cpu_us" >>"$W/results"
}

echo "signet bench, $C clients, $D s per leg, $ROUNDS rounds; PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') on loopback"
legs=(${BENCH_LEGS:-sqlite pg1 pg2})
for r in $(seq 1 "$ROUNDS"); do
  echo "round $r"
  for i in "${!legs[@]}"; do leg "${legs[$(( (i + r - 1) % ${#legs[@]} ))]}"; done
done
awk '
  { rate[$1] += $2; cpu[$1] += $3; n[$1]++ }
  END {
    s = rate["sqlite"] / n["sqlite"]; sc = cpu["sqlite"] / n["sqlite"]
    for (k in n) printf "mean %-7s %7.0f certificates/s (%.2fx sqlite)   %5.0f us CPU/cert (%.2fx sqlite)\n",
      k, rate[k] / n[k], rate[k] / n[k] / s, cpu[k] / n[k], cpu[k] / n[k] / sc
  }' "$W/results" | sort
