#!/usr/bin/env bash
# Issuance with the CA key on a PKCS#11 token (SoftHSM2) against the same CA key type in
# software, in the same minutes (issue 20, docs/PERFORMANCE.md "CA key on a token").
#
# Each round runs `signet bench` (an in-process server on its SQLite store, C clients
# POSTing distinct P-256 CSRs over HTTP for D seconds) twice: once with a software CA key
# (`--ca-key`), once with a CA key made on a fresh SoftHSM2 token by OpenSC's pkcs11-tool
# (`--ca-key-uri`); the order alternates. Reported: certificates/s, latency, CPU per
# certificate, and the ratio token/software.
#
# Usage: scripts/bench-pkcs11.sh [-c C] [-d D] [--rounds K] [--key p256|p384|ed25519|rsa2048]
set -euo pipefail
cd "$(dirname "$0")/.."
C=64 D=10 ROUNDS=2 KEY=p256
while [ $# -gt 0 ]; do
  case "$1" in
    -c) C=$2; shift 2 ;;
    -d) D=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --key) KEY=$2; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "bench-pkcs11.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
SIGNET_BIN=${SIGNET_BIN:-${CARGO_TARGET_DIR:-target}/release/signet}
[ -x "$SIGNET_BIN" ] || { echo "missing: $SIGNET_BIN (cargo build --release)" >&2; exit 1; }
MODULE=/usr/lib/softhsm/libsofthsm2.so
[ -e "$MODULE" ] && command -v pkcs11-tool >/dev/null || {
  echo "needs SoftHSM2 and OpenSC: apt-get install softhsm2 opensc" >&2; exit 1; }
case "$KEY" in
  p256) KEYTYPE=EC:prime256v1 ;; p384) KEYTYPE=EC:secp384r1 ;;
  ed25519) KEYTYPE=EC:edwards25519 ;; rsa2048) KEYTYPE=rsa:2048 ;;
  *) echo "--key p256, p384, ed25519 or rsa2048" >&2; exit 2 ;;
esac
W=$(mktemp -d /tmp/signet-bench-pkcs11.XXXXXX)
trap 'rm -rf "$W"' EXIT
mkdir "$W/tokens"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' "$W/tokens" > "$W/softhsm2.conf"
export SOFTHSM2_CONF=$W/softhsm2.conf
echo 87654321 > "$W/pin"
softhsm2-util --init-token --free --label bench --so-pin 12345678 --pin 87654321 >/dev/null
pkcs11-tool --module "$MODULE" --token-label bench --login --pin 87654321 \
  --keypairgen --key-type "$KEYTYPE" --label ca --id 01 --sensitive --usage-sign >/dev/null
URI="pkcs11:token=bench;object=ca?module-path=$MODULE&pin-source=file:$W/pin"

run() { # leg
  local args=(bench --concurrency "$C" --duration "$D" --data "$W/data-$1-$RANDOM")
  if [ "$1" = token ]; then args+=(--ca-key-uri "$URI"); else args+=(--ca-key "$KEY"); fi
  local out; out=$("$SIGNET_BIN" "${args[@]}" 2>&1)
  local rate cpu p50 p99
  rate=$(awk '/throughput:/ {print $2}' <<<"$out")
  p50=$(awk '/latency p50:/ {print $3}' <<<"$out")
  p99=$(awk '/latency p99:/ {print $3}' <<<"$out")
  cpu=$(awk '/CPU per cert:/ {print $4}' <<<"$out")
  printf '%-9s %6s certificates/s   p50 %7s ms   p99 %7s ms   CPU %4s us/cert\n' "$1" "$rate" "$p50" "$p99" "$cpu"
  echo "$1 $rate $cpu" >> "$W/results"
}
echo "signet bench, $C clients, $D s per leg, $ROUNDS rounds; CA key $KEY; SoftHSM $(dpkg-query -W -f '${Version}' softhsm2 2>/dev/null)"
for r in $(seq 1 "$ROUNDS"); do
  echo "round $r"
  if [ $((r % 2)) = 1 ]; then run software; run token; else run token; run software; fi
done
awk '{n[$1]++; rate[$1]+=$2; cpu[$1]+=$3}
  END { s = rate["software"]/n["software"]; t = rate["token"]/n["token"];
        printf "mean software %6.0f certificates/s, %4.0f us CPU/cert\n", s, cpu["software"]/n["software"];
        printf "mean token    %6.0f certificates/s, %4.0f us CPU/cert (%.2fx software)\n", t, cpu["token"]/n["token"], t/s }' "$W/results"
