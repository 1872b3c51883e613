#!/usr/bin/env bash
# SCEP enrollment benchmark, from outside, beside micromdm's scepserver (issue 17,
# docs/PERFORMANCE.md "SCEP enrollment beside micromdm scepserver").
#
# The same client does the same work against both servers: micromdm `scepclient` (Go, Debian
# package `scep`) enrolls N pre-generated RSA-2048 keys, C processes at a time, each in its own
# directory (scepclient reuses a csr.pem it finds beside the key, so every enrollment starts
# from a directory holding only key.pem). Each run starts, fresh:
#   1. Signet: `signet init --dev` (durable SQLite, EC P-256 CA, RSA SCEP RA), the static
#      challenge `bench` under [ca.scep], `signet serve` on loopback; scepclient gets
#      -ca-fingerprint of the RA certificate so it encrypts to the RA only;
#   2. scepserver: `scepserver ca -init` (RSA-2048 CA, file depot), `-challenge bench
#      -allowrenew 0` (its default refuses a second certificate for a DN).
# Servers are fresh in every run: Signet answers a PKCSReq for a key it already enrolled in the
# same transactionID (scepclient derives it from the key) with the earlier certificate, so
# reused keys against a warm server would measure a database lookup, not an enrollment.
# The two legs alternate their order from run to run. Key generation, server start and the
# checks are outside the timed part. Every enrollment must succeed: scepclient exit 0, a
# client.pem whose subject CN is the one asked for and that `openssl verify` accepts against
# the server's CA. Any failure ends the script with status 1.
#
# Reported per leg: enrollments/s (wall clock of the whole batch), server CPU per enrollment
# (utime+stime of the server process from /proc/PID/stat, before and after the batch) and the
# client CPU per enrollment (all scepclient processes, from this shell's cutime+cstime), and
# the ratios Signet/scepserver. The wall clock contains, for both servers alike, a scepclient
# process start and the client's RSA work (CSR and message signature, envelope decryption) per
# enrollment; server CPU per enrollment is the fairer comparison.
#
# scepserver has no bind-address flag (it listens on every interface), so the script runs
# everything in a private network namespace with only loopback up: it re-executes itself under
# `unshare -n` and therefore needs root.
#
# Needs: the release binary $SIGNET_BIN (default ${CARGO_TARGET_DIR:-target}/release/signet),
# scepserver and scepclient (apt-get install scep), openssl, curl, unshare, ip.
#
# Usage: scripts/bench-scep.sh [-n N] [-c C] [--runs K] [--out DIR]
# Defaults: 200 enrollments, 4 concurrent clients, 3 runs. Both servers keep their data (and
# logs) in --out (default: a new directory in /tmp), kept after the run. Signet commits every
# issuance durably (fsync), scepserver's file depot does not sync: on a slow disk Signet's
# wall clock follows the disk; --out /dev/shm/DIR takes the disk out of the comparison.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CMDLINE="scripts/bench-scep.sh $*"
ARGS=("$@")

N=200 C=4 RUNS=3 OUT=""
while [ $# -gt 0 ]; do
  case "$1" in
    -n) N=$2; shift 2 ;;
    -c) C=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    -h|--help) sed -n '2,40p' "$0"; exit 0 ;;
    *) echo "bench-scep.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
for v in "$N" "$C" "$RUNS"; do
  case "$v" in ''|*[!0-9]*|0) echo "bench-scep.sh: -n, -c and --runs take positive integers" >&2; exit 2 ;; esac
done

# ----------------------------------------------------------------- prerequisites
SIGNET_BIN=${SIGNET_BIN:-${CARGO_TARGET_DIR:-target}/release/signet}
case "$SIGNET_BIN" in /*) ;; *) SIGNET_BIN=$ROOT/$SIGNET_BIN ;; esac
missing=0
[ -x "$SIGNET_BIN" ] || { echo "missing: $SIGNET_BIN (cargo build --release, or set SIGNET_BIN)" >&2; missing=1; }
for tool in scepserver scepclient openssl curl unshare ip xargs; do
  command -v "$tool" >/dev/null 2>&1 || { echo "missing: $tool (apt-get install scep openssl curl)" >&2; missing=1; }
done
[ "$missing" = 0 ] || exit 1

# ----------------------------------------------------------------- private network namespace
if [ "${BENCH_SCEP_NETNS:-}" != 1 ]; then
  [ "$(id -u)" = 0 ] || { echo "bench-scep.sh: needs root (it runs in its own network namespace: unshare -n)" >&2; exit 1; }
  export SIGNET_BIN
  BENCH_SCEP_NETNS=1 BENCH_SCEP_CMDLINE="$CMDLINE" exec unshare -n "$0" "${ARGS[@]}"
fi
CMDLINE=${BENCH_SCEP_CMDLINE:-$CMDLINE}
ip link set lo up

OUT=${OUT:-$(mktemp -d /tmp/bench-scep.XXXXXX)}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
CHALLENGE=bench
SIGNET_PORT=18443 SCEPSERVER_PORT=18080
HZ=$(getconf CLK_TCK)

SPID="" MPID=""
stop_servers() {
  for p in $SPID $MPID; do kill "$p" 2>/dev/null || true; done
  for p in $SPID $MPID; do wait "$p" 2>/dev/null || true; done
  SPID="" MPID=""
}
trap stop_servers EXIT

die() { echo "bench-scep.sh: $*" >&2; exit 1; }
server_cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }   # utime + stime, clock ticks
child_cpu() { awk '{print $16 + $17}' "/proc/$1/stat"; }   # waited-for children of PID, clock ticks
now() { date +%s.%N; }
wait_http() { # URL: up to 10 s
  for _ in $(seq 1 100); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done
  return 1
}

# ----------------------------------------------------------------- client keys (untimed)
echo "== $CMDLINE"
echo "   N=$N enrollments per leg, C=$C concurrent scepclient, $RUNS runs, logs in $OUT"
echo "   signet: $SIGNET_BIN ($("$SIGNET_BIN" --version 2>/dev/null || echo '?'))"
echo "   scepserver: $(scepserver -version 2>&1 | head -1), $(nproc) CPUs"
mkdir -p "$OUT/keys"
seq 0 "$N" | xargs -P "$(nproc)" -I{} openssl genrsa -traditional -out "$OUT/keys/{}.pem" 2048 2>/dev/null
for i in $(seq 0 "$N"); do [ -s "$OUT/keys/$i.pem" ] || die "key generation failed for $i"; done

# ----------------------------------------------------------------- the servers
start_signet() { # DIR
  local d=$1
  "$SIGNET_BIN" init --dev --data "$d/ca" >"$d/init.log" 2>&1 || die "signet init failed, see $d/init.log"
  grep -q '^# challenge = "a-static-secret"' "$d/ca/signet.toml" || die "no challenge line to replace in $d/ca/signet.toml"
  sed -i "s/^# challenge = \"a-static-secret\"/challenge = \"$CHALLENGE\"/" "$d/ca/signet.toml"
  "$SIGNET_BIN" serve --data "$d/ca" --listen "127.0.0.1:$SIGNET_PORT" >"$d/serve.log" 2>&1 &
  SPID=$!
  wait_http "http://127.0.0.1:$SIGNET_PORT/scep/demo?operation=GetCACaps" || die "signet serve did not come up, see $d/serve.log"
  [ -s "$d/ca/scep/demo/ra-cert.pem" ] || die "no SCEP RA certificate in $d/ca/scep/demo"
}
start_scepserver() { # DIR
  local d=$1
  (cd "$d" && scepserver ca -init -depot depot -keySize 2048 -organization "Bench SCEP CA") >"$d/init.log" 2>&1 \
    || die "scepserver ca -init failed, see $d/init.log"
  (cd "$d" && exec scepserver -depot depot -port "$SCEPSERVER_PORT" -challenge "$CHALLENGE" -allowrenew 0) >"$d/serve.log" 2>&1 &
  MPID=$!
  wait_http "http://127.0.0.1:$SCEPSERVER_PORT/scep?operation=GetCACaps" || die "scepserver did not come up, see $d/serve.log"
}

# ----------------------------------------------------------------- one batch of enrollments
# enroll_one DIR I URL [extra scepclient args]: one scepclient run in DIR/I
enroll_one() {
  local d=$1 i=$2 url=$3; shift 3
  scepclient -private-key "$d/$i/key.pem" -server-url "$url" -challenge "$CHALLENGE" \
    -cn "dev$i.test" "$@" >"$d/$i/log" 2>&1
}
# run_leg NAME DIR URL CAFILE [extra scepclient args]
# prints "wall_s server_ticks client_ticks retried"
run_leg() {
  local name=$1 d=$2 url=$3 cafile=$4 pid me=$BASHPID; shift 4
  case "$name" in signet) pid=$SPID ;; *) pid=$MPID ;; esac
  mkdir -p "$d/enroll"
  for i in $(seq 0 "$N"); do mkdir -p "$d/enroll/$i"; cp "$OUT/keys/$i.pem" "$d/enroll/$i/key.pem"; done
  # warm-up: one enrollment (key 0), not counted
  enroll_one "$d/enroll" 0 "$url" "$@" || die "$name: warm-up enrollment failed, see $d/enroll/0/log"
  local c0 k0 t0 t1 k1 c1 rc=0 retried=0
  c0=$(server_cpu "$pid"); k0=$(child_cpu "$me"); t0=$(now)
  seq 1 "$N" | xargs -P "$C" -I{} sh -c 'd=$1; i=$2; shift 2; exec scepclient -private-key "$d/$i/key.pem" -cn "dev$i.test" "$@" >"$d/$i/log" 2>&1' \
    _ "$d/enroll" {} -server-url "$url" -challenge "$CHALLENGE" "$@" || rc=$?
  if [ "$name" = scepserver ] && [ "$rc" != 0 ]; then
    # scepserver 2.1.0's file depot reads and rewrites depot/serial without a lock, so concurrent
    # requests sometimes fail ("failed to sign CSR" err="open depot/serial: file exists" in its
    # log, badRequest to the client; also "could not convert  to serial number" and, on a retry,
    # "open depot/CN.SERIAL.pem: file exists"). Retry those one at a time, up to 5 times each,
    # inside the timed window.
    rc=0
    for i in $(seq 1 "$N"); do
      for _ in 1 2 3 4 5; do
        [ -s "$d/enroll/$i/client.pem" ] && break
        retried=$((retried + 1)); rm -f "$d/enroll/$i/csr.pem"
        enroll_one "$d/enroll" "$i" "$url" "$@" || true
      done
      [ -s "$d/enroll/$i/client.pem" ] || rc=1
    done
  fi
  t1=$(now); k1=$(child_cpu "$me"); c1=$(server_cpu "$pid")
  kill -0 "$pid" 2>/dev/null || die "$name: the server died during the run, see $d/serve.log"
  # checks (untimed): every enrollment issued, right subject, chains to the CA, distinct serials
  local bad=0
  for i in $(seq 1 "$N"); do
    local e=$d/enroll/$i
    if [ ! -s "$e/client.pem" ]; then
      echo "   $name: enrollment $i: no certificate ($(tail -1 "$e/log"))" >&2; bad=$((bad + 1)); continue
    fi
    openssl verify -CAfile "$cafile" "$e/client.pem" >/dev/null 2>&1 \
      || { echo "   $name: enrollment $i: openssl verify failed" >&2; bad=$((bad + 1)); continue; }
    openssl x509 -in "$e/client.pem" -noout -subject -nameopt RFC2253 | grep -q "CN=dev$i\.test" \
      || { echo "   $name: enrollment $i: wrong subject" >&2; bad=$((bad + 1)); continue; }
    openssl x509 -in "$e/client.pem" -noout -serial >>"$d/serials"
  done
  [ "$bad" = 0 ] && [ "$rc" = 0 ] || die "$name: $bad of $N enrollments failed (status $rc), logs in $d"
  local dups
  dups=$(sort "$d/serials" | uniq -d | wc -l)
  if [ "$dups" != 0 ]; then
    [ "$name" = signet ] && die "signet: $dups serial numbers issued twice, see $d/serials"
    echo "   $name: WARNING: $dups serial numbers issued twice (see $d/serials)" >&2
  fi
  echo "$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b-a}') $((c1 - c0)) $((k1 - k0)) $retried"
}

# ----------------------------------------------------------------- runs
RESULTS=$OUT/results.txt; : >"$RESULTS"
for r in $(seq 1 "$RUNS"); do
  sd=$OUT/run$r/signet md=$OUT/run$r/scepserver
  mkdir -p "$sd" "$md"
  start_signet "$sd"
  start_scepserver "$md"
  fp=$(openssl x509 -in "$sd/ca/scep/demo/ra-cert.pem" -outform DER | sha256sum | cut -d' ' -f1)
  if [ $((r % 2)) = 1 ]; then order="signet scepserver"; else order="scepserver signet"; fi
  for leg in $order; do
    if [ "$leg" = signet ]; then
      read -r w s k x < <(run_leg signet "$sd" "http://127.0.0.1:$SIGNET_PORT/scep/demo" "$sd/ca/ca/demo/cert.pem" -ca-fingerprint "$fp")
    else
      read -r w s k x < <(run_leg scepserver "$md" "http://127.0.0.1:$SCEPSERVER_PORT/scep" "$md/depot/ca.pem")
    fi
    [ -n "${w:-}" ] || die "$leg: run $r produced no figures"
    echo "$r $leg $w $s $k $x" >>"$RESULTS"
    awk -v r="$r" -v l="$leg" -v w="$w" -v s="$s" -v k="$k" -v x="$x" -v n="$N" -v hz="$HZ" 'BEGIN{
      printf "   run %d %-10s %7.1f enrollments/s  server CPU %6.2f ms/enrollment  client CPU %6.2f ms/enrollment  (%.2f s%s)\n",
        r, l, n / w, s * 1000 / hz / n, k * 1000 / hz / n, w, (x > 0 ? sprintf(", %d retried", x) : "") }'
  done
  warn=$(grep -cE ' (WARN|ERROR) ' "$sd/serve.log" || true)
  echo "   run $r signet log: $(wc -l <"$sd/serve.log") lines, $warn WARN/ERROR"
  stop_servers
done

# ----------------------------------------------------------------- summary
awk -v n="$N" -v hz="$HZ" '
  { w[$2] += $3; s[$2] += $4; k[$2] += $5; x[$2] += $6; cnt[$2]++
    rate = n / $3; if (!($2 in lo) || rate < lo[$2]) lo[$2] = rate; if (!($2 in hi) || rate > hi[$2]) hi[$2] = rate }
  END {
    for (v in cnt) { R[v] = n * cnt[v] / w[v]; S[v] = s[v] * 1000 / hz / (n * cnt[v]); K[v] = k[v] * 1000 / hz / (n * cnt[v]) }
    print ""
    printf "%-11s %22s %26s %26s %8s\n", "server", "enrollments/s (range)", "server CPU ms/enrollment", "client CPU ms/enrollment", "retried"
    for (v in cnt) printf "%-11s %8.1f (%5.1f-%5.1f) %26.2f %26.2f %8d\n", v, R[v], lo[v], hi[v], S[v], K[v], x[v]
    printf "ratio Signet/scepserver: enrollments/s %.2f, server CPU per enrollment %.2f\n",
      R["signet"] / R["scepserver"], S["signet"] / S["scepserver"]
  }' "$RESULTS"
echo "command: $CMDLINE"
