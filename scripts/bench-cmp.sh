#!/usr/bin/env bash
# CMP enrollment benchmark, from outside, beside OpenSSL's own CMP mock server (issue 18,
# docs/PERFORMANCE.md "CMP enrollment beside the openssl cmp mock server").
#
# The same client does the same work against both servers: `openssl cmp -cmd ir` with MAC
# protection (PBM, 500 iterations) and implicit confirmation, N enrollments of pre-generated
# P-256 keys, C processes at a time. One message pair per enrollment.
#   1. Signet: `signet init --dev` (durable SQLite, P-256 CA), a shared-secret token, `signet
#      serve` on loopback; every ir goes through the `server` profile and is stored, audited
#      and delivered to the `log` exit like any issuance.
#   2. `openssl cmp -port` (the mock server of OpenSSL 3.0): it answers every ir with one fixed
#      certificate made beforehand (`-rsp_cert`), signing nothing and storing nothing — a
#      lower bound for the protocol work alone, not an issuing CA.
# The mock server checks the client's key against the certificate it returns, so each of its
# enrollments uses the one key that certificate was made for. The legs alternate their order.
#
# Reported per leg: enrollments/s (wall clock of the batch; dominated by openssl process
# starts), server CPU per enrollment (utime+stime from /proc/PID/stat before and after), and
# the ratio Signet/mock. The mock server listens on every interface, so the script runs in a
# private network namespace (`unshare -n`, root).
#
# Usage: scripts/bench-cmp.sh [-n N] [-c C] [--runs K]      (defaults 200, 4, 3)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
N=200 C=4 RUNS=3
while [ $# -gt 0 ]; do
  case "$1" in
    -n) N=$2; shift 2 ;;
    -c) C=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "bench-cmp.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
SIGNET_BIN=${SIGNET_BIN:-${CARGO_TARGET_DIR:-target}/release/signet}
case "$SIGNET_BIN" in /*) ;; *) SIGNET_BIN=$ROOT/$SIGNET_BIN ;; esac
[ -x "$SIGNET_BIN" ] || { echo "missing: $SIGNET_BIN (cargo build --release)" >&2; exit 1; }
if [ "${BENCH_CMP_NETNS:-}" != 1 ]; then
  [ "$(id -u)" = 0 ] || { echo "bench-cmp.sh: needs root (unshare -n)" >&2; exit 1; }
  export SIGNET_BIN
  BENCH_CMP_NETNS=1 exec unshare -n "$0" -n "$N" -c "$C" --runs "$RUNS"
fi
ip link set lo up

W=$(mktemp -d /tmp/bench-cmp.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true' EXIT
TICK=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
for i in $(seq 1 "$N"); do
  openssl ecparam -genkey -name prime256v1 -noout -out "$W/k$i.key"
done

# The mock server's fixed answer: a certificate for key k1, from a throwaway CA.
openssl req -x509 -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -keyout "$W/mca.key" \
  -subj "/CN=Mock CA" -days 2 -out "$W/mca.crt" 2>/dev/null
openssl req -new -key "$W/k1.key" -subj /CN=bench.test -out "$W/m.csr"
openssl x509 -req -in "$W/m.csr" -CA "$W/mca.crt" -CAkey "$W/mca.key" -days 2 \
  -out "$W/m.crt" 2>/dev/null

batch() { # name, port, path, ref, secret, key-of-index (signet: own key; mock: k1)
  local port=$2 path=$3 ref=$4 secret=$5 fixed=$6
  seq 1 "$N" | xargs -P "$C" -I{} sh -c '
    k='"$W"'/k{}.key; [ -n "'"$fixed"'" ] && k='"$W"'/k1.key
    openssl cmp -cmd ir -server 127.0.0.1:'"$port"' -path "'"$path"'" -ref '"$ref"' \
      -secret pass:'"$secret"' -newkey "$k" -subject /CN=bench{}.test -implicit_confirm \
      -certout '"$W"'/out-$$-{}.crt >/dev/null 2>&1 || { echo "enrollment {} failed" >&2; exit 255; }'
}

leg_signet() {
  rm -rf "$W/s"; "$SIGNET_BIN" init --dev --data "$W/s" --listen 127.0.0.1:18600 >/dev/null 2>&1
  (cd "$W/s" && exec "$SIGNET_BIN" serve --data . >"$W/s.log" 2>&1) & local pid=$!
  for _ in $(seq 100); do curl -sf http://127.0.0.1:18600/healthz >/dev/null && break; sleep 0.1; done
  local tok; tok=$(SIGNET_SERVER=http://127.0.0.1:18600 SIGNET_TOKEN=$(cat "$W/s/admin.token") \
    "$SIGNET_BIN" admin token create --name bench --role requester --shared-secret 2>/dev/null)
  local spid; spid=$(pgrep -P "$pid" -x signet || echo "$pid")
  local c0; c0=$(cpu "$spid"); local t0; t0=$(date +%s.%N)
  batch signet 18600 /cmp/demo bench "$tok" ""
  local t1; t1=$(date +%s.%N); local c1; c1=$(cpu "$spid")
  kill "$pid"; wait "$pid" 2>/dev/null || true
  report Signet "$t0" "$t1" "$c0" "$c1"
}

leg_mock() {
  openssl cmp -port 18601 -srv_ref 1234 -srv_secret pass:test -rsp_cert "$W/m.crt" \
    -grant_implicitconf >"$W/mock.log" 2>&1 & local pid=$!
  sleep 0.5
  local c0; c0=$(cpu "$pid"); local t0; t0=$(date +%s.%N)
  batch mock 18601 /pkix/ 1234 test fixed
  local t1; t1=$(date +%s.%N); local c1; c1=$(cpu "$pid")
  kill "$pid"; wait "$pid" 2>/dev/null || true
  report mock "$t0" "$t1" "$c0" "$c1"
}

report() {
  awk -v n="$N" -v name="$1" -v t0="$2" -v t1="$3" -v c0="$4" -v c1="$5" -v tick="$TICK" 'BEGIN {
    printf "%-7s %7.1f enrollments/s   server CPU %7.0f us/enrollment\n",
      name, n / (t1 - t0), (c1 - c0) / tick / n * 1e6 }' | tee -a "$W/report"
}

echo "scripts/bench-cmp.sh -n $N -c $C --runs $RUNS ($(nproc) cores)"
for r in $(seq 1 "$RUNS"); do
  if [ $((r % 2)) = 1 ]; then leg_signet; leg_mock; else leg_mock; leg_signet; fi
done
awk '/^Signet/ {s += $6; ns++} /^mock/ {m += $6; nm++} END {
  if (ns && nm) printf "mean server CPU per enrollment: Signet %.0f us, mock %.0f us, ratio %.2f\n",
    s / ns, m / nm, (s / ns) / (m / nm) }' "$W/report"
