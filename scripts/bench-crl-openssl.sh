#!/usr/bin/env bash
# A CRL of N revoked certificates, Signet against `openssl ca -gencrl` in the same minutes
# (issue 21's CRL aim). Signet: `signet bench crl` (scan from the store, encode, sign with a
# P-256 CA key, durable commit). openssl: `openssl ca -gencrl` over an index.txt of the same
# number of revoked entries, P-256 CA key, nothing stored. Prints wall time and peak RSS of
# each.
# Usage, from the project root after a release build:
#   scripts/bench-crl-openssl.sh [ENTRIES]   (default 1000000)
set -euo pipefail
N=${1:-1000000}
SIGNET_BIN=${SIGNET_BIN:-target/release/signet}
[ -x "$SIGNET_BIN" ] || { echo "no $SIGNET_BIN: cargo build --release first"; exit 1; }
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT

echo "== signet bench crl --entries $N"
"$SIGNET_BIN" bench crl --entries "$N" 2>/dev/null | grep -E "signet bench crl|peak RSS"

echo "== openssl ca -gencrl over $N revoked entries"
mkdir -p "$t/ca/newcerts"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$t/ca/key.pem" \
  -out "$t/ca/cert.pem" -subj "/CN=openssl bench CA" -days 30 2>/dev/null
python3 - "$t/ca/index.txt" "$N" <<'PY'
import sys, os
path, n = sys.argv[1], int(sys.argv[2])
with open(path, "w") as f:
    for i in range(n):
        serial = (0x4000000000000000000000000000000000000000 + i * 7919).to_bytes(20, "big").hex().upper()
        f.write(f"R\t351231235959Z\t261201000000Z,keyCompromise\t{serial}\tunknown\t/CN=c{i}\n")
PY
echo "unique_subject = no" > "$t/ca/index.txt.attr"
echo 01 > "$t/ca/crlnumber"
cat > "$t/ca/openssl.cnf" <<EOF
[ ca ]
default_ca = bench
[ bench ]
dir = $t/ca
database = \$dir/index.txt
crlnumber = \$dir/crlnumber
certificate = \$dir/cert.pem
private_key = \$dir/key.pem
default_md = sha256
default_crl_days = 7
EOF
/usr/bin/time -f "openssl ca -gencrl: %e s wall, %M KB peak RSS" \
  openssl ca -config "$t/ca/openssl.cnf" -gencrl -out "$t/openssl.crl" 2>&1 | grep -E "gencrl:|rror"
ls -l "$t/openssl.crl" | awk '{printf "openssl CRL: %.1f MB\n", $5/1e6}'
