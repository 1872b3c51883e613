#!/usr/bin/env bash
# Crash loop (issue 22, docs/RELIABILITY.md "Crash loop"): SIGKILLs `signet serve` at random
# moments under mixed load, RUNS times, and checks after every kill that nothing a client was
# told is lost.
#
# Setup, once: `signet init --dev` in DATA_DIR (a new directory in /tmp by default), a `webhook`
# exit module named `hook` asking for every event (`all` and `AuditCheckpoint`) posted to a
# receiver on loopback that this script runs (scripts/crash_load.py receiver: checks each
# signature, logs every delivery), tokens for a requester and a manager (the bootstrap
# admin.token publishes CRLs), and a pool of OpenSSL P-256 CSRs (allowed names, plus a few the
# profiles refuse).
#
# Each run:
#   1. C client threads (CONCURRENCY, default 8) run a mixed load: submissions to `server`
#      (issued at once), to `manual` (pending) and for a refused name (denied), approvals,
#      denials and revocations by the manager, CRL publications by the administrator, while the
#      webhook delivers every event. Every answer is written down (crash_load.py load).
#   2. After a random 0.2-3.0 s the server gets SIGKILL.
#   3. With the server down: `signet audit verify --data DATA_DIR` (offline) must pass and
#      `sqlite3 DATA_DIR/signet.db 'PRAGMA integrity_check'` must say ok.
#   4. Restart, wait for /healthz (the time is reported), then crash_load.py check: every
#      request touched in the run is read back and must be what its client was told (status,
#      and the same certificate PEM); the webhook must have received every outbox seq up to the
#      head, first deliveries in increasing order, and an event for every acknowledged change;
#      the CRL served must not be older than one a client was told of, and a CRL published now
#      must get a number above all seen.
# After the last run: a full check of every request on record, a graceful stop, audit verify and
# integrity check once more, and the summary. Exit status 1 if anything was lost or any check
# failed (the failures are printed with the run they happened in), 0 otherwise.
#
# Usage: scripts/crash-loop.sh [RUNS] [DATA_DIR]     (RUNS default 10)
# Environment: SIGNET_BIN (default ${CARGO_TARGET_DIR:-target}/release/signet),
#   CONCURRENCY (default 8), CSRS (pool size, default 300), SEED (default: random),
#   FULL_EVERY (default 25: every 25th run reads back every request on record, not only
#   those the run touched).
# DATA_DIR must not exist or be empty; it is kept (serve.log, the ledgers, hook.jsonl,
# figures.jsonl) for inspection.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

RUNS=${1:-10}
DATA=${2:-}
CONCURRENCY=${CONCURRENCY:-8}
CSRS=${CSRS:-300}
SEED=${SEED:-$RANDOM}
FULL_EVERY=${FULL_EVERY:-25}
case "$RUNS$CONCURRENCY$CSRS$FULL_EVERY" in ''|*[!0-9]*) echo "crash-loop.sh: RUNS, CONCURRENCY and CSRS are positive integers" >&2; exit 2 ;; esac

SIGNET_BIN=${SIGNET_BIN:-${CARGO_TARGET_DIR:-target}/release/signet}
case "$SIGNET_BIN" in /*) ;; *) SIGNET_BIN=$ROOT/$SIGNET_BIN ;; esac
[ -x "$SIGNET_BIN" ] || { echo "missing: $SIGNET_BIN (cargo build --release -p signet-cli, or set SIGNET_BIN)" >&2; exit 1; }
if ! command -v sqlite3 >/dev/null 2>&1 || ! command -v openssl >/dev/null 2>&1; then
  echo "crash-loop.sh: installing sqlite3 and openssl" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq sqlite3 openssl >/dev/null
fi
for tool in python3 curl; do
  command -v "$tool" >/dev/null 2>&1 || { echo "missing: $tool" >&2; exit 1; }
done
PY="python3 $ROOT/scripts/crash_load.py"

if [ -z "$DATA" ]; then DATA=$(mktemp -d /tmp/crash-loop.XXXXXX); fi
mkdir -p "$DATA"
[ -z "$(ls -A "$DATA")" ] || { echo "crash-loop.sh: $DATA is not empty" >&2; exit 2; }
DATA=$(cd "$DATA" && pwd)
CA_DIR=$DATA/ca WORK=$DATA/work
mkdir -p "$WORK"

SPID="" RPID="" LPID=""
cleanup() {
  for p in $LPID $SPID $RPID; do kill "$p" 2>/dev/null || true; done
  for p in $LPID $SPID $RPID; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
die() { echo "crash-loop.sh: $*" >&2; exit 1; }
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
now() { date +%s.%N; }

# ----------------------------------------------------------------- setup
echo "== scripts/crash-loop.sh $RUNS $DATA"
echo "   signet: $SIGNET_BIN ($("$SIGNET_BIN" --version 2>/dev/null || echo '?')), $(nproc) CPUs"
echo "   concurrency $CONCURRENCY, $CSRS CSRs, seed $SEED"
"$SIGNET_BIN" init --dev --data "$CA_DIR" --ca demo --domain example.com >"$DATA/init.log" 2>&1 \
  || die "signet init failed, see $DATA/init.log"
openssl rand -hex 32 >"$CA_DIR/webhook.secret"
chmod 600 "$CA_DIR/webhook.secret"

$PY receiver --work "$WORK" --secret-file "$CA_DIR/webhook.secret" >"$WORK/receiver.log" 2>&1 &
RPID=$!
for _ in $(seq 1 100); do [ -s "$WORK/receiver.port" ] && break; sleep 0.05; done
[ -s "$WORK/receiver.port" ] || die "the webhook receiver did not start, see $WORK/receiver.log"

# No limit on pending requests: calls that never got an answer leave pending requests behind
# that no client knows of, run after run.
grep -q '^pending_per_requester = 100$' "$CA_DIR/signet.toml" || die "no pending_per_requester line in signet.toml"
sed -i 's/^pending_per_requester = 100$/pending_per_requester = 0/' "$CA_DIR/signet.toml"
cat >>"$CA_DIR/signet.toml" <<EOF

# The crash loop's receiver (scripts/crash-loop.sh): every event, checkpoints included.
[[ca.exit]]
name = "hook"
module = "webhook"
url = "http://127.0.0.1:$(cat "$WORK/receiver.port")/hook"
secret_file = "webhook.secret"
events = ["all", "AuditCheckpoint"]
timeout = "5s"
backoff_initial = "200ms"
backoff_max = "2s"
EOF

PORT=$(free_port)
BASE=http://127.0.0.1:$PORT
start_server() {
  "$SIGNET_BIN" serve --data "$CA_DIR" --listen "127.0.0.1:$PORT" >>"$DATA/serve.log" 2>&1 &
  SPID=$!
  local t0; t0=$(now)
  for _ in $(seq 1 300); do
    curl -fsS -o /dev/null "$BASE/healthz" 2>/dev/null && { UP_MS=$(python3 -c "print(round(($(now)-$t0)*1000))"); return 0; }
    kill -0 "$SPID" 2>/dev/null || die "signet serve exited, see $DATA/serve.log"
    sleep 0.05
  done
  die "no /healthz within 15 s, see $DATA/serve.log"
}
offline_checks() { # LABEL: with the server down
  "$SIGNET_BIN" audit verify --data "$CA_DIR" >"$WORK/audit-verify.log" 2>&1 \
    || { cat "$WORK/audit-verify.log" >&2; FAILED=1; echo "FAIL $1: signet audit verify" >&2; }
  local ic; ic=$(sqlite3 "$CA_DIR/signet.db" 'PRAGMA integrity_check' 2>&1)
  [ "$ic" = ok ] || { FAILED=1; echo "FAIL $1: PRAGMA integrity_check: $ic" >&2; }
}

start_server
ADMIN=$(cat "$CA_DIR/admin.token")
token() { "$SIGNET_BIN" admin token create --server "$BASE" --token "$ADMIN" --role "$1" --name "$2" 2>/dev/null | tail -1; }
REQUESTER=$(token requester crash-requester)
MANAGER=$(token manager crash-manager)
[ -n "$REQUESTER" ] && [ -n "$MANAGER" ] || die "token creation failed"
printf '{"admin": "%s", "requester": "%s", "manager": "%s"}\n' "$ADMIN" "$REQUESTER" "$MANAGER" >"$WORK/tokens.json"

mkdir -p "$WORK/csr"
csr() { # I NAME
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null \
    -subj "/CN=$2" -addext "subjectAltName=DNS:$2" -out "$WORK/csr/$1.pem" 2>/dev/null
}
export -f csr; export WORK
seq 1 "$CSRS" | xargs -P 2 -I{} bash -c 'csr {} load{}.example.com'
for i in $(seq 1 10); do csr "evil$i" "www$i.evil.org"; done
python3 - "$WORK" <<'PY'
import glob, json, os, sys
w = sys.argv[1]
good = [open(p).read() for p in sorted(glob.glob(f"{w}/csr/[0-9]*.pem"))]
evil = [open(p).read() for p in sorted(glob.glob(f"{w}/csr/evil*.pem"))]
json.dump({"good": good, "evil": evil}, open(f"{w}/csrs.json", "w"))
PY

# ----------------------------------------------------------------- the runs
FAILED=0 KILLS=0
RESTART_MS=()
for run in $(seq 1 "$RUNS"); do
  rm -f "$WORK/stop"
  $PY load --work "$WORK" --base "$BASE" --run "$run" --concurrency "$CONCURRENCY" --seed "$((SEED * 1000 + run))" \
    >"$WORK/load-$run.log" 2>&1 &
  LPID=$!
  delay=$(python3 -c "import random; random.seed($SEED * 1000 + $run); print(f'{random.uniform(0.2, 3.0):.2f}')")
  sleep "$delay"
  kill -KILL "$SPID"
  wait "$SPID" 2>/dev/null || true
  SPID=""
  KILLS=$((KILLS + 1))
  touch "$WORK/stop"
  wait "$LPID" || { FAILED=1; echo "FAIL run $run: the load failed, see $WORK/load-$run.log" >&2; }
  LPID=""
  offline_checks "run $run"
  start_server
  RESTART_MS+=("$UP_MS")
  full=""
  [ $((run % FULL_EVERY)) = 0 ] && full=--full
  line=$($PY check --work "$WORK" --base "$BASE" --run "$run" $full) || FAILED=1
  printf 'run %3d: killed at %ss, up again in %s ms: %s\n' "$run" "$delay" "$UP_MS" "$line"
done

# ----------------------------------------------------------------- final checks
echo "== final: every request on record, graceful stop, audit verify, integrity check"
line=$($PY check --work "$WORK" --base "$BASE" --run final --full) || FAILED=1
echo "final: $line"
kill -TERM "$SPID"
wait "$SPID" 2>/dev/null || true
SPID=""
offline_checks final
echo "== summary ($RUNS runs, $KILLS SIGKILLs, restart to /healthz: $(printf '%s\n' "${RESTART_MS[@]}" | sort -n | awk '{a[NR]=$1} END {printf "min %d ms, median %d ms, max %d ms", a[1], a[int((NR+1)/2)], a[NR]}'))"
$PY summary --work "$WORK"
if [ "$FAILED" != 0 ]; then
  echo "crash-loop.sh: FAILED (see the FAIL lines above; data kept in $DATA)" >&2
  exit 1
fi
echo "crash-loop.sh: nothing lost, every check passed (data in $DATA)"
