#!/usr/bin/env bash
# Signet with N certificates on record, measured from outside as an operator meets it
# (issue 21: "signet serve ready in < 2 s at 10 million; the console dashboard < 200 ms
# there"): `signet bench fill` adds N issued certificates to a stopped SQLite store, then
# this times `signet serve` from exec to its first /healthz 200, signs in to the console
# with the admin token (curl, the same form a browser posts) and times the dashboard, the
# pending queue and the certificates page five times each, and an issuance through the API.
# Usage, from the project root after a release build:
#   scripts/bench-scale.sh [N] [DATA_DIR]   (default 10000000; a temporary directory,
#                                           removed afterwards unless DATA_DIR is given; a
#                                           DATA_DIR already filled is reused as it is)
set -euo pipefail
N=${1:-10000000}
SIGNET_BIN=${SIGNET_BIN:-target/release/signet}
[ -x "$SIGNET_BIN" ] || { echo "no $SIGNET_BIN: cargo build --release first"; exit 1; }
t=$(mktemp -d)
if [ -n "${2:-}" ]; then data=$2; else data=$t/data; fi
cleanup() {
  [ -n "${SPID:-}" ] && kill "$SPID" 2>/dev/null && wait "$SPID" 2>/dev/null
  rm -rf "$t"
}
trap cleanup EXIT

if [ ! -f "$data/signet.db" ] || [ "$(sqlite3 "$data/signet.db" 'SELECT count(*) FROM requests')" -lt "$N" ]; then
  "$SIGNET_BIN" bench fill --certificates "$N" --data "$data" 2>/dev/null
fi
echo "== store: $(sqlite3 "$data/signet.db" "SELECT count(*) FROM requests") requests, $(sqlite3 "$data/signet.db" "SELECT count(*) FROM certificates") certificates, $(du -b "$data/signet.db" | cut -f1) bytes"

PORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
BASE=http://127.0.0.1:$PORT
start=$(date +%s.%N)
"$SIGNET_BIN" serve --data "$data" --listen "127.0.0.1:$PORT" >"$t/serve.log" 2>&1 &
SPID=$!
until curl -fsS -o /dev/null "$BASE/healthz" 2>/dev/null; do
  kill -0 "$SPID" 2>/dev/null || { cat "$t/serve.log"; exit 1; }
  sleep 0.01
done
echo "== signet serve ready (exec to first /healthz 200): $(python3 -c "print(f'{$(date +%s.%N) - $start:.2f}')") s"

# Sign in as the bootstrap administrator, as the console's form does.
curl -fsS -o /dev/null -c "$t/jar" -H "Origin: $BASE" \
  --data-urlencode "method=token" --data-urlencode "token=$(cat "$data/admin.token")" \
  --data-urlencode "next=/admin/demo" "$BASE/signin"
for page in /admin/demo /admin/demo/pending /admin/demo/certificates; do
  times=()
  for _ in 1 2 3 4 5; do
    out=$(curl -sS -b "$t/jar" -o "$t/page.html" -w '%{http_code} %{time_total}' "$BASE$page")
    [ "${out%% *}" = 200 ] || { echo "$page answered ${out%% *}"; exit 1; }
    times+=("$(python3 -c "print(f'{${out#* }*1000:.0f}')")")
  done
  echo "== $page: ${times[*]} ms"
done
grep -o 'Issued[^<]*<[^>]*>[^<]*' "$t/page.html" | head -1 || true
