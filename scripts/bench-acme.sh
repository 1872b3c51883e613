#!/usr/bin/env bash
# ACME order benchmark, from outside, beside pebble (issue 16, docs/PERFORMANCE.md).
#
# Each run starts, on free loopback ports:
#   1. Signet: a fresh `signet init --dev` data directory (durable SQLite), [ca.acme] pointed at
#      its own pebble-challtestsrv (DNS: every name is 127.0.0.1; http-01 responder), loopback
#      allowed as a validation target, the order rate limits off; then `signet serve`;
#   2. pebble in normal validation mode (real http-01 through its own challtestsrv;
#      PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 PEBBLE_AUTHZREUSE=0; in memory),
# and drives each in turn with scripts/acme_load.py for the same time and the same load:
# one account, then per order newOrder, authz, challenge (response published in challtestsrv),
# authz polls, finalize (fresh P-256 key and CSR), order polls, certificate download.
# Server CPU is read from /proc/PID/stat over the measurement window.
#
# Builds nothing and installs nothing. Needs:
#   - the release binary: $SIGNET_BIN, default ${CARGO_TARGET_DIR:-target}/release/signet
#     (cargo build --release --workspace);
#   - pebble and pebble-challtestsrv (Debian: apt-get install pebble), openssl, curl;
#   - a Python venv with acme, josepy, cryptography, requests at $SIGNET_VENV (default .venv):
#       python3 -m venv .venv && .venv/bin/pip install acme josepy cryptography requests
#
# Usage: scripts/bench-acme.sh [--runs K] [--duration S] [--warmup S] [--procs P]
#                              [--threads T] [--only signet|pebble] [--out DIR]
# Defaults: 3 runs, 20 s window after 3 s warm-up, 2 processes x 4 threads, both servers.
# Per-run JSON, server logs and the summary land in --out (default: a new directory in /tmp).
# The exit status is 1 when any Signet run had errors, stalled or lost its server.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

RUNS=3 DURATION=20 WARMUP=3 PROCS=2 THREADS=4 ONLY="" OUT=""
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) RUNS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    --procs) PROCS=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --only) ONLY=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
    *) echo "bench-acme.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$ONLY" in ""|signet|pebble) ;; *) echo "bench-acme.sh: --only signet|pebble" >&2; exit 2 ;; esac

# ----------------------------------------------------------------- prerequisites
SIGNET_BIN=${SIGNET_BIN:-${CARGO_TARGET_DIR:-target}/release/signet}
VENV=${SIGNET_VENV:-.venv}
PY=$VENV/bin/python
missing=0
if [ "$ONLY" != pebble ] && [ ! -x "$SIGNET_BIN" ]; then
  echo "missing: $SIGNET_BIN (cargo build --release --workspace, or set SIGNET_BIN)" >&2; missing=1
fi
for tool in pebble-challtestsrv openssl curl; do
  command -v "$tool" >/dev/null 2>&1 || { echo "missing: $tool (apt-get install pebble openssl curl)" >&2; missing=1; }
done
if [ "$ONLY" != signet ] && ! command -v pebble >/dev/null 2>&1; then
  echo "missing: pebble (apt-get install pebble)" >&2; missing=1
fi
if ! "$PY" -c 'import acme, josepy, cryptography, requests' 2>/dev/null; then
  echo "missing: a Python venv with acme josepy cryptography requests at $VENV (set SIGNET_VENV):" >&2
  echo "  python3 -m venv $VENV && $VENV/bin/pip install acme josepy cryptography requests" >&2
  missing=1
fi
[ "$missing" = 0 ] || exit 2
SIGNET_BIN=$(realpath "$SIGNET_BIN" 2>/dev/null || echo "$SIGNET_BIN")

OUT=${OUT:-$(mktemp -d /tmp/bench-acme.XXXXXX)}
mkdir -p "$OUT"
OUT=$(realpath "$OUT")

# ----------------------------------------------------------------- processes we start
PIDS=()
stop_pid() { # stop_pid PID: TERM, then KILL after 5 s; only our own children
  local p=$1
  kill -0 "$p" 2>/dev/null || return 0
  kill "$p" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$p" 2>/dev/null && kill -9 "$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
}
stop_all() {
  local p
  for p in "${PIDS[@]}"; do stop_pid "$p"; done
  PIDS=()
}
trap stop_all EXIT
trap 'exit 130' INT TERM

free_ports() { # free_ports N: N distinct free loopback TCP+UDP ports
  python3 - "$1" <<'EOF'
import socket, sys
held, ports = [], []
while len(ports) < int(sys.argv[1]):
    t = socket.socket(); t.bind(("127.0.0.1", 0)); p = t.getsockname()[1]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.bind(("127.0.0.1", p))
    except OSError:
        t.close(); continue
    held += [t, u]; ports.append(p)
print(" ".join(map(str, ports)))
EOF
}

wait_url() { # wait_url URL [curl args]: up to 15 s
  local url=$1; shift
  for _ in $(seq 150); do
    curl -sf "$@" "$url" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "bench-acme.sh: $url did not answer" >&2
  return 1
}

start_challtestsrv() { # start_challtestsrv MGMT DNS HTTP01 LOG: DNS + http-01 responder
  pebble-challtestsrv -management "127.0.0.1:$1" -dns01 "127.0.0.1:$2" -http01 "127.0.0.1:$3" \
    -https01 "" -tlsalpn01 "" -defaultIPv4 127.0.0.1 -defaultIPv6 "" >"$4" 2>&1 </dev/null &
  PIDS+=($!)
  # the management API answers 404 to GET /: any HTTP answer means it is up
  for _ in $(seq 100); do
    curl -s -o /dev/null "http://127.0.0.1:$1/" && return 0
    sleep 0.1
  done
  echo "bench-acme.sh: challtestsrv did not start (see $4)" >&2
  return 1
}

LOADGEN=(--duration "$DURATION" --warmup "$WARMUP" --procs "$PROCS" --threads "$THREADS"
  --challenge http-01 --order-timeout 60)
GEN_TIMEOUT=$((WARMUP + ${DURATION%.*} + 150))

# ----------------------------------------------------------------- one Signet run
start_signet() { # start_signet DIR PORT MGMT DNS HTTP01 TLSALPN; the server's PID last in PIDS
  local dir=$1 port=$2 mgmt=$3 dns=$4 http01=$5 tlsalpn=$6
  start_challtestsrv "$mgmt" "$dns" "$http01" "$dir/challtestsrv.log" || return 1
  (cd "$dir" && "$SIGNET_BIN" init --dev --data data --listen "127.0.0.1:$port" >init.log 2>&1)
  local toml="$dir/data/signet.toml"
  # The ACME section: validation through this run's challtestsrv, loopback allowed, and no
  # order limits; [security]: no per-identity or anonymous request limit (0 = no limit).
  sed -i \
    -e "s/^http01_port = .*/http01_port = $http01/" \
    -e "s/^tlsalpn01_port = .*/tlsalpn01_port = $tlsalpn/" \
    -e "s/^dns_resolvers = .*/dns_resolvers = [\"127.0.0.1:$dns\"]/" \
    -e 's/^allowed_ranges = .*/allowed_ranges = ["127.0.0.0\/8"]/' \
    -e 's/^orders_per_account_per_hour = .*/orders_per_account_per_hour = 0/' \
    -e 's/^orders_per_domain_per_hour = .*/orders_per_domain_per_hour = 0/' \
    -e 's/^pending_authzs_per_account = .*/pending_authzs_per_account = 0/' \
    -e 's/^requests_per_minute = .*/requests_per_minute = 0/' \
    -e 's/^anonymous_requests_per_minute = .*/anonymous_requests_per_minute = 0/' \
    "$toml"
  local want
  for want in "http01_port = $http01" "dns_resolvers = [\"127.0.0.1:$dns\"]" \
      'allowed_ranges = ["127.0.0.0/8"]' 'orders_per_account_per_hour = 0' \
      'orders_per_domain_per_hour = 0' 'requests_per_minute = 0'; do
    grep -qxF "$want" "$toml" || { echo "bench-acme.sh: could not set '$want' in $toml" >&2; exit 2; }
  done
  (cd "$dir" && exec "$SIGNET_BIN" serve --data data) >"$dir/signet.log" 2>&1 </dev/null &
  PIDS+=($!)
  wait_url "http://127.0.0.1:$port/acme/demo/directory"
}

run_signet() { # run_signet N
  local n=$1 dir="$OUT/signet-$1" attempt spid port mgmt dns http01 tlsalpn
  # A port picked free can be taken before the server binds it (the machine is shared):
  # start again on other ports, up to 3 times.
  for attempt in 1 2 3; do
    rm -rf "$dir"
    mkdir -p "$dir"
    read -r port mgmt dns http01 tlsalpn < <(free_ports 5)
    if start_signet "$dir" "$port" "$mgmt" "$dns" "$http01" "$tlsalpn"; then
      spid=${PIDS[-1]}
      break
    fi
    stop_all
    [ "$attempt" -lt 3 ] || { echo "run $n: Signet did not start (see $dir)" >&2; return 1; }
  done
  echo "run $n: Signet pid $spid on 127.0.0.1:$port (challtestsrv DNS $dns, http-01 $http01)" >&2
  local rc=0
  timeout "$GEN_TIMEOUT" "$PY" "$ROOT/scripts/acme_load.py" "${LOADGEN[@]}" \
    --directory "http://127.0.0.1:$port/acme/demo/directory" \
    --challtestsrv "http://127.0.0.1:$mgmt" --server-pid "$spid" \
    --label "signet-$n" --json "$dir/result.json" >/dev/null 2>"$dir/loadgen.err" || rc=$?
  if ! kill -0 "$spid" 2>/dev/null; then
    echo "run $n: Signet EXITED during the run; log: $dir/signet.log" >&2
    tail -20 "$dir/signet.log" >&2
    echo '{"server_died": true}' >"$dir/died.json"
  fi
  [ "$rc" = 0 ] || echo "run $n: load generator exit $rc (124 = timed out: stall); see $dir/loadgen.err" >&2
  if [ -f "$dir/result.json" ]; then
    grep -c ' ERROR \| WARN ' "$dir/signet.log" >"$dir/log-warnings" || true
  fi
  stop_all
}

# ----------------------------------------------------------------- one pebble run
PEBBLE_CERTS=$OUT/certs-pebble
make_pebble_certs() { # a throwaway CA and a localhost cert for pebble's HTTPS API
  [ -f "$PEBBLE_CERTS/localhost.pem" ] && return 0
  mkdir -p "$PEBBLE_CERTS"
  (
    cd "$PEBBLE_CERTS"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
      -keyout ca.key -out ca.pem -subj "/CN=pebble API CA (bench-acme.sh)" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
      -keyout localhost.key -out localhost.csr -subj "/CN=localhost"
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\n' >leaf.ext
    openssl x509 -req -in localhost.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 \
      -out localhost.pem -extfile leaf.ext
  ) >"$OUT/certs-pebble.log" 2>&1
}

start_pebble() { # start_pebble DIR PORT PMGMT MGMT DNS HTTP01 TLSALPN; the PID last in PIDS
  local dir=$1 port=$2 pmgmt=$3 mgmt=$4 dns=$5 http01=$6 tlsalpn=$7
  start_challtestsrv "$mgmt" "$dns" "$http01" "$dir/challtestsrv.log" || return 1
  cat >"$dir/pebble-config.json" <<EOF
{
  "pebble": {
    "listenAddress": "127.0.0.1:$port",
    "managementListenAddress": "127.0.0.1:$pmgmt",
    "certificate": "$PEBBLE_CERTS/localhost.pem",
    "privateKey": "$PEBBLE_CERTS/localhost.key",
    "httpPort": $http01,
    "tlsPort": $tlsalpn,
    "ocspResponderURL": "",
    "externalAccountBindingRequired": false
  }
}
EOF
  PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 PEBBLE_AUTHZREUSE=0 \
    pebble -config "$dir/pebble-config.json" -dnsserver "127.0.0.1:$dns" -strict=false \
    >"$dir/pebble.log" 2>&1 </dev/null &
  PIDS+=($!)
  wait_url "https://127.0.0.1:$port/dir" --cacert "$PEBBLE_CERTS/ca.pem"
}

run_pebble() { # run_pebble N
  local n=$1 dir="$OUT/pebble-$1" attempt ppid port pmgmt mgmt dns http01 tlsalpn
  make_pebble_certs
  for attempt in 1 2 3; do
    rm -rf "$dir"
    mkdir -p "$dir"
    read -r port pmgmt mgmt dns http01 tlsalpn < <(free_ports 6)
    if start_pebble "$dir" "$port" "$pmgmt" "$mgmt" "$dns" "$http01" "$tlsalpn"; then
      ppid=${PIDS[-1]}
      break
    fi
    stop_all
    [ "$attempt" -lt 3 ] || { echo "run $n: pebble did not start (see $dir)" >&2; return 1; }
  done
  echo "run $n: pebble pid $ppid on 127.0.0.1:$port (challtestsrv DNS $dns, http-01 $http01)" >&2
  local rc=0
  timeout "$GEN_TIMEOUT" "$PY" "$ROOT/scripts/acme_load.py" "${LOADGEN[@]}" \
    --directory "https://127.0.0.1:$port/dir" --ca-bundle "$PEBBLE_CERTS/ca.pem" \
    --challtestsrv "http://127.0.0.1:$mgmt" --server-pid "$ppid" \
    --label "pebble-$n" --json "$dir/result.json" >/dev/null 2>"$dir/loadgen.err" || rc=$?
  [ "$rc" = 0 ] || echo "run $n: pebble load generator exit $rc (124 = timed out: stall)" >&2
  stop_all
}

# ----------------------------------------------------------------- the runs
{
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "signet: $SIGNET_BIN ($(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'))"
  echo "pebble: $(dpkg-query -W -f '${Version}' pebble 2>/dev/null || echo '?')"
  echo "load: $PROCS procs x $THREADS threads, ${DURATION} s window after ${WARMUP} s warm-up, $RUNS runs"
  echo "cpus: $(nproc)"
} | tee "$OUT/conditions.txt" >&2

for n in $(seq "$RUNS"); do
  # Alternate which server goes first, so a noisy minute hits both.
  if [ $((n % 2)) = 1 ]; then order="signet pebble"; else order="pebble signet"; fi
  for s in $order; do
    [ -z "$ONLY" ] || [ "$ONLY" = "$s" ] || continue
    "run_$s" "$n"
  done
done

# ----------------------------------------------------------------- the table
"$PY" - "$OUT" <<'EOF' | tee "$OUT/summary.txt"
import glob, json, os, statistics, sys
out = sys.argv[1]
rows = {"signet": [], "pebble": []}
bad = 0
print(f"{'run':<10} {'orders/s':>8} {'srv ms/ord':>10} {'cli ms/ord':>10} {'srv cores':>9} "
      f"{'steal':>6} {'other':>6} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6}  orders per 5 s")
for server in ("signet", "pebble"):
    dirs = [d for d in glob.glob(os.path.join(out, f"{server}-*"))
            if d.rsplit("-", 1)[1].isdigit() and os.path.isdir(d)]
    dirs.sort(key=lambda d: int(d.rsplit("-", 1)[1]))
    for d in dirs:
        name = os.path.basename(d)
        died = os.path.exists(os.path.join(d, "died.json"))
        try:
            r = json.load(open(os.path.join(d, "result.json")))
        except (OSError, ValueError):
            print(f"{name:<10} no result (load generator stalled or failed; see {d})")
            bad += server == "signet"
            continue
        rows[server].append(r)
        f = lambda v, p=1: "-" if v is None else f"{v:.{p}f}"
        flag = " STALLED" if r.get("stalled") else ""
        flag += " SERVER DIED" if died else ""
        print(f"{name:<10} {f(r['orders_per_s']):>8} {f(r['server_cpu_ms_per_order'], 2):>10} "
              f"{f(r['client_cpu_ms_per_order']):>10} {f(r['server_cpu_cores'], 2):>9} "
              f"{f(r['machine_steal_cores'], 2):>6} {f(r['other_cpu_cores'], 2):>6} "
              f"{f(r['lat_p50_ms'], 0):>7} {f(r['lat_p99_ms'], 0):>7} {r['errors']:>6}  "
              f"{r['orders_per_5s']}{flag}")
        if r["errors"]:
            for kind, count in r["error_kinds"].items():
                print(f"{'':<10} {count} x {kind}")
        if server == "signet" and (r["errors"] or r.get("stalled") or died):
            bad += 1

def med(server, key):
    v = [r[key] for r in rows[server] if r.get(key) is not None]
    return statistics.median(v) if v else None

print()
for server in ("signet", "pebble"):
    if rows[server]:
        print(f"{server} median over {len(rows[server])} runs: {med(server, 'orders_per_s'):.1f} orders/s, "
              f"server {med(server, 'server_cpu_ms_per_order'):.2f} ms CPU/order, "
              f"client {med(server, 'client_cpu_ms_per_order'):.1f} ms CPU/order, "
              f"steal {med(server, 'machine_steal_cores'):.2f} cores, "
              f"p50 {med(server, 'lat_p50_ms'):.0f} ms, p99 {med(server, 'lat_p99_ms'):.0f} ms")
if rows["signet"] and rows["pebble"]:
    s, p = med("signet", "server_cpu_ms_per_order"), med("pebble", "server_cpu_ms_per_order")
    print(f"ratio (medians): Signet orders/s / pebble = "
          f"{med('signet', 'orders_per_s') / med('pebble', 'orders_per_s'):.2f}; "
          f"pebble CPU per order / Signet's = {p / s:.2f}")
print(f"signet runs with errors, stalls or a lost server: {bad}")
sys.exit(1 if bad else 0)
EOF
